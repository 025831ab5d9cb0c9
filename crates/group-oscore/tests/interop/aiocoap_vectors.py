#!/usr/bin/env python3
"""Verify the Group OSCORE vectors in ../vectors/*.json with aiocoap (a second implementation).

aiocoap 0.4.17 implements draft-ietf-core-oscore-groupcomm-23; our files follow the newest
draft. For each file this script:

1. builds aiocoap ``SimpleGroupContext``s for client and server from the recorded parameters
   and checks the derived Sender/Recipient Keys, Common IV and Signature Encryption Key;
2. has the aiocoap server unprotect our recorded request and compares the plaintext;
3. has the aiocoap client protect the same request (sequence number 0) and compares the
   OSCORE option and ciphertext byte for byte, and the whole payload where the signature is
   deterministic (EdDSA; pairwise mode has none; aiocoap's ECDSA is randomized);
4. has the aiocoap client unprotect our recorded response to its request and compares the
   plaintext;
5. for pairwise responses, has the aiocoap server protect the response and compares it
   byte for byte (aiocoap cannot protect group-mode responses: it answers group requests
   in pairwise mode).

Files with an ``ecdh`` section (Ed25519 pairwise mode, keys mapped to X25519 as in draft
§2.5.2.1) are first checked against aiocoap's Ed25519 -> X25519 conversions (a port of
libsodium's ``crypto_sign_ed25519_pk_to_curve25519`` / ``_sk_to_curve25519``) and its
"ECDH-SS + HKDF-256" static-static secret; steps 1-5 then run with aiocoap's own
Ed25519 pairwise contexts.

Compatibility option used: aiocoap's P-256 object reports the *signature* algorithm (-7)
as 'alg_pairwise_key_agreement'; the newest draft (and our files) use ECDH-SS + HKDF-256
(-27). We pass a P-256 object whose ``value`` is -27 (see README, `aiocoap_p256_pairwise_alg`).
aiocoap also sends the kid in every response; for step 5 its response context is configured
like the file (README, `aiocoap_kid_in_every_response`).

Exit status 0 only if every check of every file passed. Usage: aiocoap_vectors.py [files...]
"""

import json
import pathlib
import sys

from aiocoap import Message, oscore
from aiocoap.message import Direction
from aiocoap.numbers.codes import Code
from aiocoap.util import cryptography_additions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

VECTORS = pathlib.Path(__file__).resolve().parent.parent / "vectors"


class EcdhSsP256(oscore.ECDSA_SHA256_P256):
    """aiocoap's P-256 static-static object, announced as ECDH-SS + HKDF-256 (-27)."""

    value = -27


AEAD = {10: oscore.algorithms["AES-CCM-16-64-128"]}
SIGNATURE = {
    -8: oscore.algorithms_countersign["EdDSA on Ed25519"],
    -7: oscore.algorithms_countersign["ECDSA w/ SHA-256 on P-256"],
}


def ed25519_public(seed):
    """The raw Ed25519 public key of a seed (what aiocoap's static-static object takes)."""
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def h(s):
    return bytes.fromhex(s) if s is not None else None


def private_key(sig_alg, d):
    if sig_alg == -8:
        return d
    return ec.derive_private_key(int.from_bytes(d, "big"), ec.SECP256R1())


def context(v, me, peer):
    c = v["common"]
    sig = c["signature"]
    ka = c["pairwise_key_agreement"]
    if ka is None:
        pairwise = None
    elif ka == -27 and sig == -7:
        pairwise = EcdhSsP256()
    elif ka == -27:
        pairwise = oscore.algorithms_staticstatic["ECDH-SS + HKDF-256"]
    else:
        raise ValueError("unsupported key agreement %r" % ka)
    return oscore.SimpleGroupContext(
        alg_aead=AEAD[c["aead"]] if c["aead"] is not None else None,
        hashfun=oscore.hashfunctions["sha256"],
        alg_signature=SIGNATURE[sig],
        alg_group_enc=AEAD[c["group_enc"]],
        alg_pairwise_key_agreement=pairwise,
        group_id=h(c["gid"]),
        master_secret=h(c["master_secret"]),
        master_salt=h(c["master_salt"]),
        sender_id=h(v[me]["sender_id"]),
        private_key=private_key(sig, h(v[me]["private_key"])),
        sender_auth_cred=h(v[me]["credential"]),
        peers={h(v[peer]["sender_id"]): h(v[peer]["credential"])},
        group_manager_cred=h(c["gm_credential"]),
    )


def incoming(rec):
    """The recorded protected message as an incoming aiocoap message."""
    m = rec["protected"]
    msg = Message(code=Code(m["code"]), payload=h(m["payload"]))
    for number, value in m["options"]:
        if number == 9:
            msg.opt.oscore = h(value)
        elif number == 3:
            msg.opt.uri_host = h(value).decode()
        else:
            raise ValueError("unexpected outer option %d" % number)
    msg.direction = Direction.INCOMING
    return msg


def plain_bytes(msg):
    out = bytes([msg.code]) + msg.opt.encode()
    if msg.payload:
        out += b"\xff" + msg.payload
    return out


class Checker:
    def __init__(self, name):
        self.name = name
        self.failures = 0
        self.checks = 0

    def eq(self, what, ours, theirs):
        self.checks += 1
        if ours != theirs:
            self.failures += 1
            print(f"FAIL {self.name}: {what}\n  ours:    {ours!r}\n  aiocoap: {theirs!r}")


def check_file(path):
    v = json.loads(path.read_text())
    ck = Checker(path.name)
    c = v["common"]
    client_id = h(v["client"]["sender_id"])
    server_id = h(v["server"]["sender_id"])
    client = context(v, "client", "server")
    server = context(v, "server", "client")

    # 0. Ed25519 -> X25519 mapping (draft §2.5.2.1), where the file records it: aiocoap's
    #    conversions (its port of libsodium's crypto_sign_ed25519_{pk,sk}_to_curve25519) and its
    #    static-static ECDH on the Ed25519 keys
    if "ecdh" in v:
        e = v["ecdh"]
        for who in ("client", "server"):
            sk = ed25519.Ed25519PrivateKey.from_private_bytes(h(v[who]["private_key"]))
            xsk = cryptography_additions.sk_to_curve25519(sk)
            ck.eq(f"{who} X25519 private key", h(e[f"{who}_x25519_private_key"]),
                  xsk.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption()))
            xpk = cryptography_additions.pk_to_curve25519(sk.public_key())
            ck.eq(f"{who} X25519 public key (mapped Ed25519 public key)",
                  h(e[f"{who}_x25519_public_key"]),
                  xpk.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
        ss = oscore.algorithms_staticstatic["ECDH-SS + HKDF-256"]
        client_pub = ed25519_public(h(v["client"]["private_key"]))
        server_pub = ed25519_public(h(v["server"]["private_key"]))
        ck.eq("shared secret (client side)", h(e["shared_secret"]),
              ss.staticstatic(h(v["client"]["private_key"]), server_pub))
        ck.eq("shared secret (server side)", h(e["shared_secret"]),
              ss.staticstatic(h(v["server"]["private_key"]), client_pub))

    # 1. derivation
    ck.eq("client Sender Key", h(v["client"]["sender_key"]), client._sender_key)
    ck.eq("server Sender Key", h(v["server"]["sender_key"]), server._sender_key)
    ck.eq("server's Recipient Key for the client", h(v["client"]["sender_key"]), server.recipient_keys[client_id])
    ck.eq("Common IV", h(c["common_iv"]), client.common_iv)
    ck.eq("Signature Encryption Key", h(c["signature_encryption_key"]), client.signature_encryption_key)

    req = v["request"]
    resp = v["response"]
    group_request = req["mode"] == "group"

    # 2. aiocoap server verifies our request
    msg = incoming(req)
    rctx = server.get_oscore_context_for(oscore.verify_start(msg))
    if rctx is None:
        ck.eq("server finds a context for the request", True, False)
        return ck
    plain, request_id = rctx.unprotect(msg)
    ck.eq("request plaintext", h(req["plaintext"]), plain_bytes(plain))
    if v["pairwise"] is not None and not group_request:
        ck.eq("pairwise: server's recipient key = client's pairwise sender key",
              h(v["pairwise"]["client_sender_key"]), rctx.recipient_key)
        ck.eq("pairwise: server's sender key = client's pairwise recipient key",
              h(v["pairwise"]["client_recipient_key"]), rctx.sender_key)

    # 3. aiocoap client protects the same request (sequence number 0, like ours)
    u = req["unprotected"]
    outgoing = Message(code=Code(u["code"]), payload=h(u["payload"]))
    for number, value in u["options"]:
        if number == 3:
            outgoing.opt.uri_host = h(value).decode()
        elif number == 11:
            outgoing.opt.uri_path = list(outgoing.opt.uri_path) + [h(value).decode()]
        else:
            raise ValueError("unexpected option %d" % number)
    outgoing.direction = Direction.OUTGOING
    sender = client if group_request else client.pairwise_for(server_id)
    protected, client_request_id = sender.protect(outgoing)
    ck.eq("request OSCORE option", h(req["oscore_option"]), protected.opt.oscore)
    ck.eq("request ciphertext", h(req["ciphertext"]), protected.payload[: len(h(req["ciphertext"]))])
    if not group_request or c["signature"] == -8:
        ck.eq("request payload (deterministic)", h(req["protected"]["payload"]), protected.payload)
    else:
        ck.eq("request payload length", len(h(req["protected"]["payload"])), len(protected.payload))

    # 4. aiocoap client verifies our response
    rmsg = incoming(resp)
    bag = oscore.verify_start(rmsg)
    resp_ctx = sender.context_from_response(bag)
    rplain, _ = resp_ctx.unprotect(rmsg, client_request_id)
    ck.eq("response plaintext", h(resp["plaintext"]), plain_bytes(rplain))

    # 5. pairwise responses: aiocoap protects the same response
    if resp["mode"] == "pairwise":
        ru = resp["unprotected"]
        out = Message(code=Code(ru["code"]), payload=h(ru["payload"]))
        for number, value in ru["options"]:
            if number == 12:
                out.opt.content_format = int.from_bytes(h(value), "big")
            else:
                raise ValueError("unexpected option %d" % number)
        out.direction = Direction.OUTGOING
        respctx = rctx.context_for_response()
        # aiocoap sends the kid in every group-context response; the newest draft (and our
        # file, compat `aiocoap_kid_in_every_response` off) omits it in pairwise responses
        # to pairwise requests. Configure the aiocoap instance like the file.
        respctx.responses_send_kid = v["compat"]["aiocoap_kid_in_every_response"]
        pr, _ = respctx.protect(out, request_id)
        ck.eq("response OSCORE option", h(resp["oscore_option"]), pr.opt.oscore)
        ck.eq("response payload", h(resp["protected"]["payload"]), pr.payload)
    return ck


def main(argv):
    files = [pathlib.Path(a) for a in argv[1:]] or sorted(VECTORS.glob("*.json"))
    if not files:
        print("FAIL: no vector files")
        return 1
    total_fail = 0
    for f in files:
        try:
            ck = check_file(f)
        except Exception as e:  # a crash in aiocoap is a failed check, not a skip
            print(f"FAIL {f.name}: {type(e).__name__}: {e}")
            total_fail += 1
            continue
        status = "ok" if ck.failures == 0 else "FAILED"
        print(f"{f.name}: {ck.checks} checks, {ck.failures} failed: {status}")
        total_fail += ck.failures
    return 1 if total_fail else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
