#!/usr/bin/env python3
"""Live Group OSCORE interop with aiocoap 0.4.17 over loopback (driven by
../interop_aiocoap_live.rs; `cargo xtask interop`).

Usage::

    aiocoap_group.py server PARAMS_JSON
    aiocoap_group.py client PARAMS_JSON

PARAMS_JSON (written by the Rust test) holds the group: Gid, Master Secret/Salt and for
each member its Sender ID, Ed25519 private key (seed) and CCS credential, plus:
``me`` (this member's Sender ID), ``name``, and for the client ``server_port``
(our server's unicast port), ``group`` ("224.0.1.187:PORT", our server joined there),
``server_id`` (our server's Sender ID).

The group: AES-CCM-16-64-128 as AEAD and Group Encryption Algorithm, EdDSA (Ed25519)
signatures, "ECDH-SS + HKDF-256" pairwise key agreement on the Ed25519 keys (mapped to
X25519, draft §2.5.2.1), HKDF-SHA-256, no Group Manager credential (h'').

server: an aiocoap server with an ``OscoreSiteWrapper`` around ``/who`` (answers
``aiocoap <name> <mode> for <requester kid hex>``, where mode is the mode the request came in,
taken from the security context aspect aiocoap picked). It binds ``[::]:PORT`` (dual stack,
PORT chosen free beforehand) and joins 224.0.1.187 on ``lo``, so it gets both unicast requests
(127.0.0.1:PORT) and multicast ones (224.0.1.187:PORT). Prints one JSON line
``{"ready": true, "port": PORT}`` and serves until killed (or 30 s).

client: an aiocoap client with one ``SimpleGroupContext``:
  1. group mode, to the multicast address ``group`` (aiocoap's socket gets
     IP_MULTICAST_IF=127.0.0.1; its OSCORE transport takes the first response);
  2. group mode, by unicast to 127.0.0.1:server_port;
  3. pairwise mode (``pairwise_for(server_id)``), by unicast.
Prints one JSON line per request: ``{"step": ..., "code": "2.05", "payload": ...,
"mode": "group"|"pairwise", "kid": hex}`` (the mode and kid of the *response* as aiocoap
verified it), or ``{"step": ..., "error": ...}``. Exit status 0 when every step got 2.05.
"""

import asyncio
import json
import socket
import sys

from aiocoap import Context, Message, oscore, resource
from aiocoap.numbers.codes import Code
from aiocoap.oscore_sitewrapper import OscoreSiteWrapper
from aiocoap.transports import udp6

GROUP_ADDR = "224.0.1.187"


def h(s):
    return bytes.fromhex(s)


def group_context(p):
    me = p["me"]
    members = {m["sender_id"]: m for m in p["members"]}
    mine = members[me]
    return oscore.SimpleGroupContext(
        alg_aead=oscore.algorithms["AES-CCM-16-64-128"],
        hashfun=oscore.hashfunctions["sha256"],
        alg_signature=oscore.algorithms_countersign["EdDSA on Ed25519"],
        alg_group_enc=oscore.algorithms["AES-CCM-16-64-128"],
        alg_pairwise_key_agreement=oscore.algorithms_staticstatic["ECDH-SS + HKDF-256"],
        group_id=h(p["gid"]),
        master_secret=h(p["master_secret"]),
        master_salt=h(p["master_salt"]),
        sender_id=h(me),
        private_key=h(mine["private_key"]),
        sender_auth_cred=h(mine["credential"]),
        peers={h(k): h(m["credential"]) for k, m in members.items() if k != me},
        group_manager_cred=b"",
    )


def aspect_mode(ctx):
    name = type(ctx).__name__
    if "Group" in name:
        return "group"
    if "Pairwise" in name:
        return "pairwise"
    return name


def emit(obj):
    print(json.dumps(obj), flush=True)


class Who(resource.Resource):
    def __init__(self, name):
        super().__init__()
        self.name = name

    async def render_get(self, request):
        sc = request.remote.security_context
        text = "aiocoap %s %s for %s" % (
            self.name,
            aspect_mode(sc),
            sc.recipient_id.hex(),
        )
        return Message(code=Code.CONTENT, payload=text.encode())


def free_port():
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def server(p):
    gctx = group_context(p)
    site = resource.Site()
    site.add_resource(["who"], Who(p["name"]))
    creds = {":group": gctx}
    from aiocoap.credentials import CredentialsMap

    cm = CredentialsMap()
    cm.update(creds)
    port = free_port()
    ctx = await Context.create_server_context(
        OscoreSiteWrapper(site, cm),
        bind=("::", port),
        multicast=[(GROUP_ADDR, "lo")],
        transports=["udp6"],
    )
    emit({"ready": True, "port": port})
    try:
        await asyncio.sleep(30)
    finally:
        await ctx.shutdown()


def multicast_via_lo():
    """Make aiocoap's client sockets send IPv4 multicast out of lo (IP_MULTICAST_IF)."""
    orig = udp6.MessageInterfaceUDP6._create_transport_endpoint.__func__

    async def patched(cls, sock, *args, **kwargs):
        sock.setsockopt(
            socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1")
        )
        return await orig(cls, sock, *args, **kwargs)

    udp6.MessageInterfaceUDP6._create_transport_endpoint = classmethod(patched)


async def client(p):
    multicast_via_lo()
    gctx = group_context(p)
    ctx = await Context.create_client_context(transports=["oscore", "udp6"])
    unicast = "coap://127.0.0.1:%d" % p["server_port"]
    group = "coap://%s" % p["group"]
    steps = [
        ("group-multicast", group, gctx),
        ("group-unicast", unicast, gctx),
        ("pairwise", unicast, gctx.pairwise_for(h(p["server_id"]))),
    ]
    ok = True
    for step, base, sc in steps:
        ctx.client_credentials.clear()
        ctx.client_credentials[base + "/*"] = sc
        try:
            req = Message(code=Code.GET, uri=base + "/who")
            resp = await asyncio.wait_for(ctx.request(req).response, 10)
            rsc = resp.remote.security_context
            emit(
                {
                    "step": step,
                    "code": str(resp.code.dotted),
                    "payload": resp.payload.decode(errors="replace"),
                    "mode": aspect_mode(rsc),
                    "kid": rsc.recipient_id.hex(),
                }
            )
            ok = ok and resp.code == Code.CONTENT
        except Exception as e:  # noqa: BLE001 -- reported to the Rust side
            emit({"step": step, "error": "%s: %s" % (type(e).__name__, e)})
            ok = False
    await ctx.shutdown()
    return ok


def main():
    role, params = sys.argv[1], json.loads(sys.argv[2])
    if role == "server":
        asyncio.run(server(params))
        return 0
    if role == "client":
        return 0 if asyncio.run(client(params)) else 1
    raise SystemExit("usage: aiocoap_group.py server|client PARAMS_JSON")


if __name__ == "__main__":
    sys.exit(main())
