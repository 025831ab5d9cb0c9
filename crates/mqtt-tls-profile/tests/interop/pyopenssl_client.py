#!/usr/bin/env python3
"""Independent RFC 9431 client on pyOpenSSL + `cryptography` (test code, not product code).

It connects to the broker under test over TLS (1.3, or 1.2 with/without Extended Master
Secret), computes the TLS exporter itself with
``export_keying_material(b"EXPORTER-ACE-MQTT-Sign-Challenge", 32, b"")`` (empty context, not
``None``), builds raw MQTT v5 / v3.1.1 packets by hand and reports what the broker answered,
one JSON object per case on stdout. The Rust test (tests/interop_pyopenssl.rs) asserts the
values; this script only observes and reports, and fails (exit 1) on I/O or protocol errors.

Usage: pyopenssl_client.py HOST PORT DIR CASE...
DIR holds ca.pem, hmac.token, hmac.key (raw 32 bytes), ed.token, ed.seed (raw 32 bytes).
"""

import hashlib
import hmac
import json
import os
import signal
import socket
import struct
import sys

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from OpenSSL import SSL

LABEL = b"EXPORTER-ACE-MQTT-Sign-Challenge"
STEP_TIMEOUT = 5  # seconds per read
SSL_OP_NO_EXTENDED_MASTER_SECRET = 0x1  # OpenSSL's SSL_OP_NO_EXTENDED_MASTER_SECRET


# ---------------------------------------------------------------------------- MQTT encoding
def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def binary(b):
    return struct.pack(">H", len(b)) + b


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect_v5(client_id, method=None, data=None, keep_alive=30):
    props = b""
    if method is not None:
        props += b"\x15" + utf8(method)
    if data is not None:
        props += b"\x16" + binary(data)
    var = utf8("MQTT") + bytes([5, 0x02]) + struct.pack(">H", keep_alive) + varint(len(props)) + props
    return packet(0x10, var + utf8(client_id))


def connect_v311(client_id, username, password, keep_alive=30):
    var = utf8("MQTT") + bytes([4, 0x02 | 0x80 | 0x40]) + struct.pack(">H", keep_alive)
    return packet(0x10, var + utf8(client_id) + utf8(username) + binary(password))


def subscribe(pid, topic_filter, version=5, qos=1):
    body = struct.pack(">H", pid) + (b"\x00" if version == 5 else b"")
    return packet(0x82, body + utf8(topic_filter) + bytes([qos]))


def publish(topic, payload, qos, pid=None, version=5):
    body = utf8(topic) + (struct.pack(">H", pid) if qos else b"") + (b"\x00" if version == 5 else b"")
    return packet(0x30 | (qos << 1), body + payload)


def puback(pid):
    return packet(0x40, struct.pack(">H", pid))


DISCONNECT = packet(0xE0, b"\x00")


# ---------------------------------------------------------------------------- TLS + framing
class Closed(Exception):
    pass


class Conn:
    def __init__(self, host, port, cafile, tls, ems=True):
        ctx = SSL.Context(SSL.TLS_METHOD)
        version = SSL.TLS1_3_VERSION if tls == "1.3" else SSL.TLS1_2_VERSION
        ctx.set_min_proto_version(version)
        ctx.set_max_proto_version(version)
        if not ems:
            ctx.set_options(SSL_OP_NO_EXTENDED_MASTER_SECRET)
        ctx.load_verify_locations(cafile)
        ctx.set_verify(SSL.VERIFY_PEER, lambda _c, _x, _e, _d, ok: bool(ok))
        sock = socket.create_connection((host, port), timeout=STEP_TIMEOUT)
        sock.settimeout(None)
        # Blocking socket with a kernel receive timeout: pyOpenSSL then blocks, bounded.
        tv = struct.pack("ll", STEP_TIMEOUT, 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
        self.ssl = SSL.Connection(ctx, sock)
        self.ssl.set_tlsext_host_name(b"localhost")
        self.ssl.set_connect_state()
        self.ssl.do_handshake()
        cert = self.ssl.get_peer_certificate(as_cryptography=True)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        if "localhost" not in names.get_values_for_type(x509.DNSName):
            raise RuntimeError("server certificate is not for localhost")
        self.version = self.ssl.get_protocol_version_name()
        # RFC 9431 §2.2.4.2.1: 32 bytes, label EXPORTER-ACE-MQTT-Sign-Challenge, empty context.
        self.exporter = self.ssl.export_keying_material(LABEL, 32, b"")
        self.buf = b""

    def send(self, data):
        try:
            self.ssl.sendall(data)
        except SSL.Error:
            pass  # the broker closed; the next recv() reports it

    def _fill(self):
        try:
            chunk = self.ssl.recv(4096)
        except (SSL.ZeroReturnError, SSL.SysCallError):
            chunk = b""
        if not chunk:
            raise Closed()
        self.buf += chunk

    def recv(self):
        """Next packet as (type, flags, body), or None when the broker closed."""
        try:
            while True:
                if len(self.buf) >= 2:
                    n, mult, i = 0, 1, 1
                    while i < len(self.buf):
                        b = self.buf[i]
                        n += (b & 0x7F) * mult
                        mult *= 128
                        i += 1
                        if not b & 0x80:
                            if len(self.buf) >= i + n:
                                first, body = self.buf[0], self.buf[i:i + n]
                                self.buf = self.buf[i + n:]
                                return first >> 4, first & 0x0F, body
                            break
                self._fill()
        except Closed:
            return None

    def close(self):
        try:
            self.ssl.shutdown()
        except SSL.Error:
            pass
        self.ssl.close()


def describe(pkt, version=5):
    """A JSON-friendly summary of a received packet."""
    if pkt is None:
        return {"type": "closed"}
    kind, flags, body = pkt
    if kind == 2:  # CONNACK
        return {"type": "connack", "code": body[1]}
    if kind == 4:  # PUBACK
        return {"type": "puback", "pid": struct.unpack(">H", body[:2])[0],
                "code": body[2] if len(body) > 2 else 0}
    if kind == 9:  # SUBACK
        pid = struct.unpack(">H", body[:2])[0]
        rest = body[2:]
        if version == 5:
            plen, i, mult = 0, 0, 1
            while True:
                b = rest[i]
                plen += (b & 0x7F) * mult
                mult *= 128
                i += 1
                if not b & 0x80:
                    break
            rest = rest[i + plen:]
        return {"type": "suback", "pid": pid, "codes": list(rest)}
    if kind == 3:  # PUBLISH
        qos = (flags >> 1) & 3
        tlen = struct.unpack(">H", body[:2])[0]
        topic = body[2:2 + tlen].decode()
        i = 2 + tlen
        pid = None
        if qos:
            pid = struct.unpack(">H", body[i:i + 2])[0]
            i += 2
        if version == 5:
            plen, mult = 0, 1
            while True:
                b = body[i]
                plen += (b & 0x7F) * mult
                mult *= 128
                i += 1
                if not b & 0x80:
                    break
            i += plen
        return {"type": "publish", "topic": topic, "qos": qos, "pid": pid,
                "payload": body[i:].decode(errors="replace")}
    if kind == 14:  # DISCONNECT
        return {"type": "disconnect", "code": body[0] if body else 0}
    if kind == 15:
        return {"type": "auth", "code": body[0] if body else 0}
    return {"type": "other", "kind": kind}


# ---------------------------------------------------------------------------- PoP
def read(directory, name):
    with open(os.path.join(directory, name), "rb") as f:
        return f.read()


def prove(directory, key, data):
    if key == "hmac":
        return hmac.new(read(directory, "hmac.key"), data, hashlib.sha256).digest()
    seed = read(directory, "ed.seed")
    return Ed25519PrivateKey.from_private_bytes(seed).sign(data)


def auth_data(token, proof):
    """RFC 9431 Figure 4: token length (2 bytes) ‖ token ‖ PoP."""
    return struct.pack(">H", len(token)) + token + proof


# ---------------------------------------------------------------------------- cases
def pubsub_session(c, report, version=5):
    """Scope = RFC 9431 Figure 10: topic1 pub+sub, topic2/# pub, +/topic3 sub."""
    c.send(subscribe(1, "topic1", version))
    report["sub_topic1"] = describe(c.recv(), version)
    c.send(subscribe(2, "topic2/#", version))
    report["sub_topic2"] = describe(c.recv(), version)
    c.send(subscribe(3, "authz-info", version))
    report["sub_authz_info"] = describe(c.recv(), version)
    c.send(publish("topic1", b"hello", 1, 10, version))
    # PUBACK and our own delivery (we subscribed to topic1) may come in either order.
    got = [describe(c.recv(), version), describe(c.recv(), version)]
    report["pub_topic1_puback"] = next((g for g in got if g["type"] == "puback"), None)
    delivered = next((g for g in got if g["type"] == "publish"), None)
    report["delivered"] = delivered
    if delivered and delivered["pid"] is not None:
        c.send(puback(delivered["pid"]))
    c.send(publish("topic2/a", b"ok", 1, 12, version))
    report["pub_topic2_a"] = describe(c.recv(), version)
    c.send(publish("x/topic3", b"refused", 1, 11, version))
    report["pub_x_topic3"] = describe(c.recv(), version)
    if version != 5:
        # v3.1.1 has no PUBACK reason code: the broker closes the connection (RFC 9431 §6.2).
        return
    # QoS 0 outside the scope: v5 → DISCONNECT 0x87 and close; v3.1.1 → close.
    c.send(publish("nope", b"refused", 0, None, version))
    report["pub_qos0_refused"] = describe(c.recv(), version)
    report["after"] = describe(c.recv(), version)


def run_case(host, port, directory, case):
    cafile = os.path.join(directory, "ca.pem")
    report = {"case": case}
    if case == "tls12-no-ems":
        try:
            c = Conn(host, port, cafile, "1.2", ems=False)
            report["handshake"] = "ok"
            c.close()
        except SSL.Error as e:
            report["handshake"] = "failed"
            report["error"] = str(e)
        return report
    name, tls, key = case.split("-")[0], case.split("-")[1], case.split("-")[2]
    c = Conn(host, port, cafile, tls)
    report["tls"] = c.version
    report["exporter"] = c.exporter.hex()
    token = read(directory, key + ".token")
    if name == "v5":
        data = auth_data(token, prove(directory, key, c.exporter))
        c.send(connect_v5("py-" + case, "ace", data))
        report["connack"] = describe(c.recv())
        if report["connack"].get("code") == 0:
            pubsub_session(c, report)
    elif name == "badpop":
        # A proof over a different value than this session's exporter.
        wrong = bytes(b ^ 0xFF for b in c.exporter)
        data = auth_data(token, prove(directory, key, wrong))
        c.send(connect_v5("py-" + case, "ace", data))
        report["connack"] = describe(c.recv())
        report["after"] = describe(c.recv())
    elif name == "v311":
        import base64
        username = "ace" + base64.urlsafe_b64encode(token).decode().rstrip("=")
        c.send(connect_v311("py-" + case, username, prove(directory, key, c.exporter)))
        report["connack"] = describe(c.recv(), 4)
        if report["connack"].get("code") == 0:
            pubsub_session(c, report, 4)
    else:
        raise SystemExit("unknown case " + case)
    c.close()
    return report


def main():
    signal.alarm(60)  # whole-run bound, in addition to the per-read timeouts
    host, port, directory = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    for case in sys.argv[4:]:
        print(json.dumps(run_case(host, port, directory, case)), flush=True)


if __name__ == "__main__":
    main()
