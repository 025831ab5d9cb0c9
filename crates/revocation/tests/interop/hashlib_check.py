#!/usr/bin/env python3
"""Recompute RFC 9770 token hashes with hashlib/base64 and compare with the Rust vectors.

HASH_INPUT (RFC 9770 "Token Hash"):
  cbor case: UTF-8 of base64url-without-padding(BYTES), BYTES = access_token byte string value
  json case: UTF-8 of the access_token text string
Token hash = RFC 6920 section 6 binary format: suite-ID byte || digest.
"""
import base64
import hashlib
import json
import sys

SUITES = {"sha-256": (1, "sha256"), "sha-384": (7, "sha384"), "sha-512": (8, "sha512")}


def main(path):
    data = json.load(open(path, encoding="utf-8"))
    n = 0
    for v in data["vectors"]:
        if v["case"] == "cbor":
            raw = bytes.fromhex(v["access_token_hex"])
            text = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
        elif v["case"] == "json":
            text = v["access_token_text"]
        else:
            raise SystemExit("unknown case " + v["case"])
        if text != v["hash_input_text"]:
            raise SystemExit(f"{v['name']}: HASH_INPUT_TEXT differs")
        suite_id, name = SUITES[v["alg"]]
        if suite_id != v["alg_id"]:
            raise SystemExit(f"{v['name']}: suite id differs")
        digest = hashlib.new(name, text.encode("utf-8")).digest()
        expected = (bytes([suite_id]) + digest).hex()
        if expected != v["token_hash_hex"]:
            raise SystemExit(f"{v['name']}: python {expected} != rust {v['token_hash_hex']}")
        n += 1
    print(f"checked {n} vectors")


if __name__ == "__main__":
    main(sys.argv[1])
