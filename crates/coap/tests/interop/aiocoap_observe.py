"""Observe a CoAP resource with the aiocoap library and print every notification.

Used by crates/coap/tests/interop_peers.rs (run with the interop venv's python,
ACE_INTEROP_PYTHON). `aiocoap-client --observe` (0.4.17) cancels the observation
right after the first response (the `finally:` around `await requester.response`
in aiocoap/cli/client.py), so it cannot show notifications; the library API can.

    python aiocoap_observe.py URI COUNT LINGER_SECONDS

Prints `response <payload>` for the registration response, then
`notification <payload>` for each of the next COUNT notifications, then stops
observing and stays alive LINGER_SECONDS more. aiocoap deregisters lazily: it
ignores NON notifications for a forgotten token and answers the next CON one with
a Reset (RFC 7641 section 3.6), so the server must send a CON within the linger.
Prints `done` and exits 0; any failure exits non-zero. Everything is bounded by
an overall 15 s timeout.
"""

import asyncio
import sys

from aiocoap import GET, Context, Message


async def observe(uri: str, count: int, linger: float) -> None:
    ctx = await Context.create_client_context()
    try:
        request = ctx.request(Message(code=GET, uri=uri, observe=0))
        first = await request.response
        if not first.code.is_successful():
            raise SystemExit(f"registration failed: {first.code}")
        if first.opt.observe is None:
            raise SystemExit("registration response carries no Observe option")
        print("response", first.payload.decode(), flush=True)
        seen = 0
        async for notification in request.observation:
            if not notification.code.is_successful():
                raise SystemExit(f"error notification: {notification.code}")
            print("notification", notification.payload.decode(), flush=True)
            seen += 1
            if seen >= count:
                break
        if seen < count:
            raise SystemExit(f"observation ended after {seen} notifications")
        if not request.observation.cancelled:
            request.observation.cancel()
        await asyncio.sleep(linger)
        print("done", flush=True)
    finally:
        await ctx.shutdown()


def main() -> None:
    uri, count, linger = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    asyncio.run(asyncio.wait_for(observe(uri, count, linger), timeout=15))


if __name__ == "__main__":
    main()
