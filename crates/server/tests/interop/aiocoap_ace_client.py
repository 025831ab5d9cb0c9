"""A whole ACE exchange with the aiocoap 0.4.17 library against our AS and RS, for
crates/server/tests/interop_peers.rs (run with the interop venv's python,
ACE_INTEROP_PYTHON).

    python aiocoap_ace_client.py AS_URI RS_URI REQUEST_FILE OSCORE_DIR COUNT

1. POST REQUEST_FILE (a cbor2-built token request, application/ace+cbor = 19) to
   AS_URI/token over plain CoAP (the AS runs in its explicit insecure loopback mode);
   requires 2.01 and an access_token; prints `token <len> expires_in <n>`.
2. POST the token to RS_URI/authz-info (application/cwt = 61, unprotected as RFC 9200
   section 5.10.1 allows); requires 2.01; prints `authz-info 2.01`.
3. GET RS_URI/temp without OSCORE; requires 4.01 with creation hints; prints
   `unprotected 4.01 as=<AS URI> aud=<audience>`.
4. Over OSCORE with the context in OSCORE_DIR (an aiocoap FilesystemSecurityContext,
   provisioned for the client whose key the token binds):
   GET /temp -> `temp <payload>`; GET /big (4000 bytes, block-wise inside OSCORE) ->
   `big <len> <FNV-1a 64 hex>`; observe /counter -> `observe response <v>` then COUNT times
   `observe notification <v>`, then the observation is cancelled.
Prints `done` and exits 0; any failure exits non-zero. Bounded by an overall 15 s timeout.
"""

import asyncio
import sys

import cbor2
from aiocoap import GET, POST, Context, Message
from aiocoap.numbers.codes import Code


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def require(response, code, what):
    if response.code != code:
        raise SystemExit(f"{what}: expected {code}, got {response.code} {response.payload!r}")


async def run(as_uri, rs_uri, request_file, oscore_dir, count):
    with open(request_file, "rb") as f:
        token_request = f.read()
    plain = await Context.create_client_context()
    secure = await Context.create_client_context()
    try:
        secure.client_credentials.load_from_dict(
            {f"{rs_uri}/*": {"oscore": {"contextfile": oscore_dir}}}
        )

        r = await plain.request(
            Message(code=POST, uri=f"{as_uri}/token", payload=token_request, content_format=19)
        ).response
        require(r, Code.CREATED, "token")
        body = cbor2.loads(r.payload)
        token = body[1]
        print("token", len(token), "expires_in", body.get(2), flush=True)

        r = await plain.request(
            Message(code=POST, uri=f"{rs_uri}/authz-info", payload=token, content_format=61)
        ).response
        require(r, Code.CREATED, "authz-info")
        print("authz-info 2.01", flush=True)

        r = await plain.request(Message(code=GET, uri=f"{rs_uri}/temp")).response
        require(r, Code.UNAUTHORIZED, "unprotected GET /temp")
        hints = cbor2.loads(r.payload)
        print(f"unprotected 4.01 as={hints.get(1)} aud={hints.get(5)}", flush=True)

        r = await secure.request(Message(code=GET, uri=f"{rs_uri}/temp")).response
        require(r, Code.CONTENT, "OSCORE GET /temp")
        print("temp", r.payload.decode(), flush=True)

        r = await secure.request(Message(code=GET, uri=f"{rs_uri}/big")).response
        require(r, Code.CONTENT, "OSCORE GET /big")
        print("big", len(r.payload), f"{fnv1a64(r.payload):016x}", flush=True)

        request = secure.request(Message(code=GET, uri=f"{rs_uri}/counter", observe=0))
        first = await request.response
        require(first, Code.CONTENT, "OSCORE observe /counter")
        if first.opt.observe is None:
            raise SystemExit("observe registration response carries no Observe option")
        print("observe response", first.payload.decode(), flush=True)
        seen = 0
        async for n in request.observation:
            require(n, Code.CONTENT, "notification")
            print("observe notification", n.payload.decode(), flush=True)
            seen += 1
            if seen >= count:
                break
        if seen < count:
            raise SystemExit(f"observation ended after {seen} notifications")
        if not request.observation.cancelled:
            request.observation.cancel()
        print("done", flush=True)
    finally:
        await plain.shutdown()
        await secure.shutdown()


def main():
    as_uri, rs_uri, request_file, oscore_dir, count = sys.argv[1:6]
    asyncio.run(
        asyncio.wait_for(run(as_uri, rs_uri, request_file, oscore_dir, int(count)), timeout=15)
    )


if __name__ == "__main__":
    main()
