"""CBOR helpers (cbor2) for crates/server/tests/interop_peers.rs, run with the interop venv's
python (ACE_INTEROP_PYTHON). The request is built here, independently of our Rust encoder.

    python token_request.py request OUT CLIENT_ID SECRET AUDIENCE SCOPE X_HEX Y_HEX
        writes the RFC 9200 token request (application/ace+cbor) to OUT:
        {24: client_id, 25: client_secret (bstr), 5: audience, 9: scope,
         4: {1: COSE_Key}} with the client's P-256 public key (RFC 9201 req_cnf);
        prints its hex.
    python token_request.py token RESPONSE OUT
        decodes the AS's token response in RESPONSE, requires an access_token (1, bstr),
        writes the token bytes (the CWT, for /authz-info with content format 61) to OUT and
        prints `token <len> expires_in <n> profile <n> keys <sorted keys>`.
Any failure exits non-zero.
"""

import sys

import cbor2


def request(out, client_id, secret, audience, scope, x_hex, y_hex):
    cose_key = {1: 2, -1: 1, -2: bytes.fromhex(x_hex), -3: bytes.fromhex(y_hex)}
    body = {
        24: client_id,
        25: secret.encode(),
        5: audience,
        9: scope,
        4: {1: cose_key},
    }
    data = cbor2.dumps(body)
    with open(out, "wb") as f:
        f.write(data)
    print(data.hex())


def token(response, out):
    with open(response, "rb") as f:
        decoded = cbor2.loads(f.read())
    if not isinstance(decoded, dict):
        raise SystemExit(f"token response is not a map: {decoded!r}")
    access_token = decoded.get(1)
    if not isinstance(access_token, bytes) or not access_token:
        raise SystemExit(f"no access_token in {sorted(decoded)}")
    with open(out, "wb") as f:
        f.write(access_token)
    print(
        "token",
        len(access_token),
        "expires_in",
        decoded.get(2),
        "profile",
        decoded.get(38),
        "keys",
        ",".join(str(k) for k in sorted(decoded)),
    )


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    {"request": request, "token": token}[mode](*args)


if __name__ == "__main__":
    main()
