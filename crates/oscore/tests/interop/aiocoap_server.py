"""An aiocoap 0.4.17 OSCORE server for crates/oscore/tests/interop_aiocoap.rs and
crates/oscore/examples/oscore_rate.rs (run with the interop venv's python,
ACE_INTEROP_PYTHON).

    python aiocoap_server.py CREDENTIALS_JSON LIFETIME_SECONDS

CREDENTIALS_JSON is an aiocoap server credentials file, e.g.
`{":b": {"oscore": {"contextfile": "/abs/b/"}}}` (one entry per context). The server
binds UDP on 127.0.0.1 with an ephemeral port, wraps its site in aiocoap's
OscoreSiteWrapper and prints `READY <port>` on stdout once it is listening. It exits
when stdin reaches EOF (the test's handle is dropped) or after LIFETIME_SECONDS,
whichever comes first, so it can never outlive its test for long.

Resources (the same as our server's in the Rust test):
  GET  /hello  -> 2.05 "Hello World!"
  GET  /big    -> 2.05, BIG_LEN bytes: byte i = i % 251 (aiocoap does Block2 on the
                  inner, protected message: RFC 8613 section 4.1.3.4.1)
  POST /echo   -> 2.04, "echo:" + request payload
"""

import asyncio
import json
import sys
import threading

import aiocoap
import aiocoap.resource as resource
from aiocoap.credentials import CredentialsMap
from aiocoap.oscore_sitewrapper import OscoreSiteWrapper

BIG_LEN = 5000


class Hello(resource.Resource):
    async def render_get(self, request):
        return aiocoap.Message(code=aiocoap.CONTENT, payload=b"Hello World!")


class Big(resource.Resource):
    BODY = bytes(i % 251 for i in range(BIG_LEN))

    async def render_get(self, request):
        return aiocoap.Message(code=aiocoap.CONTENT, payload=self.BODY)


class Echo(resource.Resource):
    async def render_post(self, request):
        return aiocoap.Message(code=aiocoap.CHANGED, payload=b"echo:" + request.payload)


def stdin_closed() -> asyncio.Future:
    """A future that completes when stdin reaches EOF (read in a daemon thread, so
    that a still-open stdin never delays the exit)."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def reader():
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None))

    threading.Thread(target=reader, daemon=True).start()
    return done


async def serve(credentials_path: str, lifetime: float) -> None:
    site = resource.Site()
    site.add_resource(["hello"], Hello())
    site.add_resource(["big"], Big())
    site.add_resource(["echo"], Echo())
    credentials = CredentialsMap()
    with open(credentials_path) as f:
        credentials.load_from_dict(json.load(f))
    ctx = await aiocoap.Context.create_server_context(
        OscoreSiteWrapper(site, credentials),
        bind=("127.0.0.1", 0),
        transports=["udp6"],
        server_credentials=credentials,
    )
    try:
        transport = ctx.request_interfaces[0].token_interface.message_interface.transport
        port = transport.get_extra_info("socket").getsockname()[1]
        print(f"READY {port}", flush=True)
        waiter = stdin_closed()
        try:
            await asyncio.wait_for(waiter, timeout=lifetime)
        except asyncio.TimeoutError:
            print("lifetime over", file=sys.stderr, flush=True)
    finally:
        await ctx.shutdown()


def main() -> None:
    credentials_path, lifetime = sys.argv[1], float(sys.argv[2])
    asyncio.run(serve(credentials_path, lifetime))


if __name__ == "__main__":
    main()
