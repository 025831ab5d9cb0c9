//! Session continuation (RFC 9431 §2.2.4.1 and §5; MQ-035, MQ-036, MQ-083, R15) with our
//! broker on 127.0.0.1 (`max_session_expiry` = 60 s) and the client driver: a client that
//! reconnects with Clean Start 0 gets Session Present 1, its subscriptions, and the QoS 1/2
//! messages published while it was away — presenting no token in CONNECT (the broker's stored
//! token for the Client Identifier, proved by the challenge, MQ-051) — and a new token's
//! narrower scope prunes the resumed state. Every test is bounded in time.
#![cfg(all(feature = "broker", feature = "client"))]

mod support;

use std::time::Duration;

use mqtt_tls_profile::Error;
use mqtt_tls_profile::driver::{ClientOptions, MqttClient};
use mqtt_tls_profile::mqtt5_protocol::QoS;
use mqtt_tls_profile::token_source::Credentials;
use support::*;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);
const WIDE: &str = r#"[["room/+/temp",["pub","sub"]],["news/#",["pub","sub"]]]"#;
const NARROW: &str = r#"[["room/+/temp",["pub","sub"]]]"#;
const QUIET: Duration = Duration::from_millis(400);

fn opts(b: &TestBroker, id: &str, clean: bool, expiry: u32, send_token: bool) -> ClientOptions {
    let mut o = ClientOptions::new(id, "localhost", b.client_tls());
    o.clean_start = clean;
    o.session_expiry = expiry;
    o.send_token = send_token;
    o
}

/// The AS (tokens for `WIDE`) and a broker that keeps sessions up to 60 s.
async fn as_and_broker() -> (TestAs, TestBroker) {
    let a = start_as(WIDE, 600, false).await;
    let b = start_broker(a.auth_config(), |c| c.max_session_expiry = 60).await;
    (a, b)
}

async fn publisher(
    a: &TestAs,
    b: &TestBroker,
) -> MqttClient<impl mqtt_tls_profile::token_source::TokenSource> {
    MqttClient::connect(
        b.addr,
        opts(b, "publisher", true, 0, true),
        fixed(local_token(a, &ed(), WIDE, 600)),
    )
    .await
    .unwrap()
}

/// MQ-036 / MQ-083 / MQ-051: resume with Clean Start 0 and no token in CONNECT.
#[tokio::test]
async fn resumes_subscriptions_and_queued_messages_without_resending_the_token() {
    timeout(LIMIT, async {
        let (a, b) = as_and_broker().await;
        let creds = local_token(&a, &ed(), WIDE, 600);

        let mut s =
            MqttClient::connect(b.addr, opts(&b, "s1", true, 60, true), fixed(creds.clone()))
                .await
                .unwrap();
        assert!(!s.session_present(), "Clean Start 1: new session");
        assert_eq!(
            s.subscribe("room/+/temp", QoS::ExactlyOnce).await.unwrap(),
            2
        );
        s.disconnect().await.unwrap();

        let mut p = publisher(&a, &b).await;
        publish_all(
            &mut p,
            &[
                ("room/1/temp", b"a", QoS::AtLeastOnce),
                ("room/2/temp", b"b", QoS::ExactlyOnce),
                ("room/3/temp", b"c", QoS::AtMostOnce),
            ],
        )
        .await;

        // Clean Start 0, method `ace` without Authentication Data: the broker challenges
        // with the token it keeps for "s1"; PoP still required (RFC 9431 §2.2.4.1).
        let mut s = MqttClient::connect(
            b.addr,
            opts(&b, "s1", false, 60, false),
            fixed(creds.clone()),
        )
        .await
        .unwrap();
        assert!(s.session_present(), "Session Present 1");
        let m1 = s.recv(Some(Duration::from_secs(5))).await.unwrap();
        let m2 = s.recv(Some(Duration::from_secs(5))).await.unwrap();
        assert_eq!((m1.payload.as_slice(), m1.qos), (&b"a"[..], 1));
        assert_eq!((m2.payload.as_slice(), m2.qos), (&b"b"[..], 2));
        // QoS 0 is not queued for a disconnected session.
        assert!(matches!(s.recv(Some(QUIET)).await, Err(Error::Timeout(_))));
        // The subscription is in force without SUBSCRIBE.
        p.publish("room/4/temp", b"live", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(
            s.recv(Some(Duration::from_secs(5))).await.unwrap().payload,
            b"live"
        );
        s.disconnect().await.unwrap();

        // The wrong key cannot resume the session (PoP on every connection).
        let mut thief = creds.clone();
        thief.key = mqtt_tls_profile::pop::ClientKey::Private(ed());
        let r = MqttClient::connect(b.addr, opts(&b, "s1", false, 60, false), fixed(thief)).await;
        assert!(matches!(r, Err(Error::Refused(0x87))), "{r:?}");

        // Clean Start 1 discards the session: Session Present 0, no subscription.
        let mut s = MqttClient::connect(b.addr, opts(&b, "s1", true, 60, true), fixed(creds))
            .await
            .unwrap();
        assert!(!s.session_present());
        p.publish("room/5/temp", b"gone", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert!(matches!(s.recv(Some(QUIET)).await, Err(Error::Timeout(_))));
        s.disconnect().await.unwrap();
        p.disconnect().await.unwrap();
        b.finish().await;
    })
    .await
    .unwrap();
}

/// MQ-036 / R15: the resumed state is re-authorized with the new token — a subscription and
/// a queued message outside its scope are dropped, the rest is delivered.
#[tokio::test]
async fn resumed_state_is_reauthorized_with_the_new_token() {
    timeout(LIMIT, async {
        let (a, b) = as_and_broker().await;
        let mut s = MqttClient::connect(
            b.addr,
            opts(&b, "s2", true, 60, true),
            fixed(local_token(&a, &ed(), WIDE, 600)),
        )
        .await
        .unwrap();
        s.subscribe("room/+/temp", QoS::AtLeastOnce).await.unwrap();
        s.subscribe("news/#", QoS::AtLeastOnce).await.unwrap();
        s.disconnect().await.unwrap();
        let mut p = publisher(&a, &b).await;
        publish_all(
            &mut p,
            &[
                ("news/x", b"secret", QoS::AtLeastOnce),
                ("room/1/temp", b"ok", QoS::AtLeastOnce),
            ],
        )
        .await;

        // A new token (new key, exporter PoP) with the narrower scope.
        let mut s = MqttClient::connect(
            b.addr,
            opts(&b, "s2", false, 60, true),
            fixed(local_token(&a, &ed(), NARROW, 600)),
        )
        .await
        .unwrap();
        assert!(s.session_present());
        assert_eq!(
            s.recv(Some(Duration::from_secs(5))).await.unwrap().payload,
            b"ok"
        );
        assert!(matches!(s.recv(Some(QUIET)).await, Err(Error::Timeout(_))));
        // The news/# subscription was dropped: nothing arrives, and no DISCONNECT 0x87.
        p.publish("news/y", b"later", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert!(matches!(s.recv(Some(QUIET)).await, Err(Error::Timeout(_))));
        p.publish("room/2/temp", b"still", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(
            s.recv(Some(Duration::from_secs(5))).await.unwrap().payload,
            b"still"
        );
        s.disconnect().await.unwrap();
        p.disconnect().await.unwrap();
        b.finish().await;
    })
    .await
    .unwrap();
}

/// The session ends after its Session Expiry Interval; a broker without continuation
/// (`max_session_expiry` = 0, the default) never resumes (MQ-T7).
#[tokio::test]
async fn sessions_expire_and_continuation_is_off_by_default() {
    timeout(LIMIT, async {
        let (a, b) = as_and_broker().await;
        let creds = local_token(&a, &ed(), WIDE, 600);
        let mut s =
            MqttClient::connect(b.addr, opts(&b, "s3", true, 1, true), fixed(creds.clone()))
                .await
                .unwrap();
        s.subscribe("room/+/temp", QoS::AtLeastOnce).await.unwrap();
        s.disconnect().await.unwrap();
        tokio::time::sleep(Duration::from_millis(1300)).await;
        let s = MqttClient::connect(b.addr, opts(&b, "s3", false, 1, true), fixed(creds.clone()))
            .await
            .unwrap();
        assert!(!s.session_present(), "session ended after 1 s");
        s.disconnect().await.unwrap();
        b.finish().await;

        let b = start_broker(a.auth_config(), |_| {}).await;
        let mut s =
            MqttClient::connect(b.addr, opts(&b, "s4", true, 60, true), fixed(creds.clone()))
                .await
                .unwrap();
        s.subscribe("room/+/temp", QoS::AtLeastOnce).await.unwrap();
        s.disconnect().await.unwrap();
        let s = MqttClient::connect(b.addr, opts(&b, "s4", false, 60, true), fixed(creds))
            .await
            .unwrap();
        assert!(!s.session_present(), "no continuation by default");
        s.disconnect().await.unwrap();
        b.finish().await;
    })
    .await
    .unwrap();
}

/// A raw MQTT v5 connection over TLS (to see packet ids and DUP flags).
struct Raw {
    tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    buf: Vec<u8>,
}

impl Raw {
    async fn login(b: &TestBroker, id: &str, creds: &Credentials, clean: bool) -> (Raw, bool) {
        use mqtt_tls_profile::consts::{EXPORTER_CONTEXT, EXPORTER_LABEL};
        use mqtt_tls_profile::mqtt5_protocol::{Packet, PropertyId, PropertyValue};
        let tcp = tokio::net::TcpStream::connect(b.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tokio_rustls::TlsConnector::from(b.client_tls())
            .connect(name, tcp)
            .await
            .unwrap();
        let mut exporter = [0u8; 32];
        tls.get_ref()
            .1
            .export_keying_material(&mut exporter, EXPORTER_LABEL, Some(EXPORTER_CONTEXT))
            .unwrap();
        let mut c = mqtt_tls_profile::client::connect_with_exporter_pop(
            id,
            30,
            &creds.token,
            &creds.key,
            &exporter,
        )
        .unwrap();
        c.clean_start = clean;
        c.properties
            .add(
                PropertyId::SessionExpiryInterval,
                PropertyValue::FourByteInteger(60),
            )
            .unwrap();
        let mut raw = Raw {
            tls,
            buf: Vec::new(),
        };
        raw.send(&Packet::Connect(Box::new(c))).await;
        match raw.recv().await {
            Packet::ConnAck(a) => {
                assert_eq!(u8::from(a.reason_code), 0);
                assert_eq!(a.properties.get_session_expiry_interval(), Some(60));
                (raw, a.session_present)
            }
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    async fn send(&mut self, p: &mqtt_tls_profile::mqtt5_protocol::Packet) {
        use tokio::io::AsyncWriteExt as _;
        let b = mqtt_tls_profile::wire::encode_to_vec(p).unwrap();
        self.tls.write_all(&b).await.unwrap();
    }

    async fn recv(&mut self) -> mqtt_tls_profile::mqtt5_protocol::Packet {
        use tokio::io::AsyncReadExt as _;
        loop {
            if let Some((p, n)) =
                mqtt_tls_profile::wire::decode_packet(&self.buf, 5, 1 << 20).unwrap()
            {
                self.buf.drain(..n);
                return p;
            }
            let mut chunk = [0u8; 4096];
            let n = timeout(Duration::from_secs(5), self.tls.read(&mut chunk))
                .await
                .expect("read timed out")
                .unwrap();
            assert!(n > 0, "closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// MQTT v5 §4.4 with RFC 9431 §5's session state: a QoS 1 delivery that was not acknowledged
/// when the connection dropped is retransmitted on resume with DUP = 1 and the same packet
/// id (after re-authorization), and CONNACK carries the granted Session Expiry Interval.
#[tokio::test]
async fn unacknowledged_delivery_is_retransmitted_with_dup_on_resume() {
    use mqtt_tls_profile::mqtt5_protocol::Packet;
    use mqtt_tls_profile::mqtt5_protocol::packet::puback::PubAckPacket;
    use mqtt_tls_profile::mqtt5_protocol::packet::subscribe::SubscribePacket;
    timeout(LIMIT, async {
        let (a, b) = as_and_broker().await;
        let creds = local_token(&a, &ed(), WIDE, 600);
        let (mut r, present) = Raw::login(&b, "raw", &creds, true).await;
        assert!(!present);
        r.send(&Packet::Subscribe(
            SubscribePacket::new(1).add_filter("room/+/temp", QoS::AtLeastOnce),
        ))
        .await;
        assert!(matches!(r.recv().await, Packet::SubAck(_)));
        let mut p = publisher(&a, &b).await;
        p.publish("room/9/temp", b"once", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        let first = match r.recv().await {
            Packet::Publish(m) => {
                assert!(!m.dup);
                m.packet_id.unwrap()
            }
            other => panic!("expected PUBLISH, got {other:?}"),
        };
        // Drop the connection without PUBACK (no DISCONNECT).
        drop(r);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (mut r, present) = Raw::login(&b, "raw", &creds, false).await;
        assert!(present, "Session Present 1");
        match r.recv().await {
            Packet::Publish(m) => {
                assert!(m.dup, "retransmission has DUP = 1");
                assert_eq!(m.packet_id, Some(first), "same packet id");
                assert_eq!(&m.payload[..], b"once");
                r.send(&Packet::PubAck(PubAckPacket::new(first))).await;
            }
            other => panic!("expected the retransmission, got {other:?}"),
        }
        p.disconnect().await.unwrap();
        b.finish().await;
    })
    .await
    .unwrap();
}
