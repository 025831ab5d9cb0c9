"""aiocoap 0.4.17 as an OSCORE client that uses *outer* block-wise only (RFC 8613
section 4.1.3.4.2), for crates/oscore/tests/interop_aiocoap.rs (run with the interop
venv's python, ACE_INTEROP_PYTHON).

    python aiocoap_outer_client.py CREDENTIALS_JSON METHOD URI PAYLOAD_LEN OUT_FILE

The request payload is PAYLOAD_LEN bytes, byte i = (i % 251) ^ 0x5A. The request is
sent with `handle_blockwise=False`, so aiocoap does not cut the *inner* message; its
OSCORE transport protects the whole message and hands it to its wire request, which
does block-wise on the protected message (aiocoap/transports/oscore.py:
`self._wire.request(protected)`): outer Block1 for the request, outer Block2
reassembly for the response before it is unprotected. Prints `CODE <c.dd>` and writes
the (unprotected) response payload to OUT_FILE. Gives up after 15 s.
"""

import asyncio
import json
import sys

import aiocoap


async def main():
    credentials, method, uri, length, out = sys.argv[1:6]
    ctx = await aiocoap.Context.create_client_context()
    with open(credentials, "rb") as f:
        ctx.client_credentials.load_from_dict(json.load(f))
    payload = bytes((i % 251) ^ 0x5A for i in range(int(length)))
    request = aiocoap.Message(code=getattr(aiocoap, method), uri=uri, payload=payload)
    try:
        response = await asyncio.wait_for(
            ctx.request(request, handle_blockwise=False).response, 15
        )
        with open(out, "wb") as f:
            f.write(response.payload)
        print("CODE", response.code.dotted)
    finally:
        await ctx.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
