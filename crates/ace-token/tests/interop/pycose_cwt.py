#!/usr/bin/env python3
"""pycose peer for the ace-token cross-implementation test (tests/interop_pycose.rs).

The Rust test owns keys, claims and expectations; this script only does what pycose does:

  pycose_cwt.py make    stdin: [{"name", "kind", "alg", "key", "payload"}]   (hex strings)
                        stdout: [{"name", "token"}]   CWT = 61(COSE_x-tagged) made by pycose
  pycose_cwt.py verify  stdin: [{"name", "kind", "key", "token"}]
                        stdout: [{"name", "ok", "payload", "error"}]   pycose verifies/decrypts

kind is "sign1", "mac0" or "encrypt0"; alg a COSE algorithm number; key a COSE_Key (CBOR, hex).
make items of kind "encrypt0" also carry "iv" (hex), put in the unprotected header.
verify reads the IV from either header bucket (ace-token issues it protected).
"""
import json
import sys

import cbor2
from pycose.algorithms import CoseAlgorithm
from pycose.headers import Algorithm, IV
from pycose.keys import CoseKey
from pycose.messages import CoseMessage, Enc0Message, Mac0Message, Sign1Message

CWT_TAG = 61


def make(item):
    key = CoseKey.decode(bytes.fromhex(item["key"]))
    alg = CoseAlgorithm.from_id(item["alg"])
    payload = bytes.fromhex(item["payload"])
    kind = item["kind"]
    if kind == "sign1":
        msg = Sign1Message(phdr={Algorithm: alg}, payload=payload)
    elif kind == "mac0":
        msg = Mac0Message(phdr={Algorithm: alg}, payload=payload)
    elif kind == "encrypt0":
        msg = Enc0Message(phdr={Algorithm: alg}, uhdr={IV: bytes.fromhex(item["iv"])}, payload=payload)
    else:
        raise ValueError(f"unknown kind {kind}")
    msg.key = key
    inner = msg.encode(tag=True)
    return cbor2.dumps(cbor2.CBORTag(CWT_TAG, cbor2.loads(inner)))


def verify(item):
    key = CoseKey.decode(bytes.fromhex(item["key"]))
    data = cbor2.loads(bytes.fromhex(item["token"]))
    if isinstance(data, cbor2.CBORTag) and data.tag == CWT_TAG:
        data = data.value
    msg = CoseMessage.decode(cbor2.dumps(data))
    msg.key = key
    kind = item["kind"]
    if kind == "sign1":
        if not isinstance(msg, Sign1Message) or not msg.verify_signature():
            raise ValueError("signature does not verify")
        return msg.payload
    if kind == "mac0":
        if not isinstance(msg, Mac0Message) or not msg.verify_tag():
            raise ValueError("tag does not verify")
        return msg.payload
    if kind == "encrypt0":
        if not isinstance(msg, Enc0Message):
            raise ValueError("not a COSE_Encrypt0")
        return msg.decrypt()
    raise ValueError(f"unknown kind {kind}")


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    items = json.load(sys.stdin)
    out = []
    if cmd == "make":
        for item in items:
            out.append({"name": item["name"], "token": make(item).hex()})
    elif cmd == "verify":
        for item in items:
            try:
                payload = verify(item)
                out.append({"name": item["name"], "ok": True, "payload": payload.hex(), "error": None})
            except Exception as e:  # reported to the Rust side, which fails the test
                out.append({"name": item["name"], "ok": False, "payload": None, "error": repr(e)})
    else:
        print(__doc__, file=sys.stderr)
        return 2
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
