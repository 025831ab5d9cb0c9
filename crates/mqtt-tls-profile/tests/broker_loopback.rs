//! The tokio + rustls broker on 127.0.0.1, driven by a raw-packet MQTT client over TLS that
//! computes its own exporter value. Every wait is bounded.
#![cfg(feature = "broker")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use mqtt_tls_profile::broker::{Broker, BrokerConfig, ShutdownHandle};
use mqtt_tls_profile::consts::{EXPORTER_CONTEXT, EXPORTER_LABEL};
use mqtt_tls_profile::pop::ClientKey;
use mqtt_tls_profile::{client, wire};
use mqtt5_protocol::packet::publish::PublishPacket;
use mqtt5_protocol::packet::subscribe::SubscribePacket;
use mqtt5_protocol::{Packet, QoS};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const T: Duration = Duration::from_secs(5);

struct Setup {
    addr: std::net::SocketAddr,
    connector: TlsConnector,
    stop: ShutdownHandle,
    clock: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

async fn start() -> Setup {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert: CertificateDer<'static> = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let clock = Arc::new(AtomicU64::new(NOW.0));
    let c2 = clock.clone();
    let mut cfg = BrokerConfig::new(config(), Arc::new(server));
    cfg.clock = Arc::new(move || ace_token::UnixTime(c2.load(Ordering::SeqCst)));
    cfg.connect_timeout = Duration::from_secs(2);
    let broker = Broker::bind("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .unwrap();
    let addr = broker.local_addr().unwrap();
    let stop = broker.shutdown_handle();
    let task = tokio::spawn(broker.serve());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Setup {
        addr,
        connector: TlsConnector::from(Arc::new(client)),
        stop,
        clock,
        task,
    }
}

struct Raw {
    tls: TlsStream<TcpStream>,
    buf: Vec<u8>,
    version: u8,
    exporter: [u8; 32],
}

impl Raw {
    async fn connect(s: &Setup) -> Raw {
        let tcp = timeout(T, TcpStream::connect(s.addr))
            .await
            .unwrap()
            .unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let tls = timeout(T, s.connector.connect(name, tcp))
            .await
            .unwrap()
            .unwrap();
        let mut exporter = [0u8; 32];
        tls.get_ref()
            .1
            .export_keying_material(&mut exporter, EXPORTER_LABEL, Some(EXPORTER_CONTEXT))
            .unwrap();
        Raw {
            tls,
            buf: Vec::new(),
            version: 5,
            exporter,
        }
    }
    async fn send(&mut self, p: &Packet) {
        let b = wire::encode_to_vec(p).unwrap();
        timeout(T, self.tls.write_all(&b)).await.unwrap().unwrap();
    }
    /// Next packet, or `None` when the broker closed the connection.
    async fn recv(&mut self) -> Option<Packet> {
        loop {
            if let Some((p, n)) = wire::decode_packet(&self.buf, self.version, 1 << 20).unwrap() {
                self.buf.drain(..n);
                return Some(p);
            }
            let mut chunk = [0u8; 4096];
            let n = timeout(T, self.tls.read(&mut chunk))
                .await
                .expect("read timed out")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
    /// Next packet within `d`; `Err(())` if nothing arrived (the connection stays usable only
    /// if no partial packet was pending, which holds for these tests).
    async fn recv_within(&mut self, d: Duration) -> Result<Option<Packet>, ()> {
        timeout(d, self.recv()).await.map_err(|_| ())
    }
    async fn expect_connack(&mut self) -> u8 {
        match self.recv().await {
            Some(Packet::ConnAck(c)) => u8::from(c.reason_code),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }
    async fn login(s: &Setup, client_id: &str, token: &[u8], key: &ClientKey) -> Raw {
        let mut r = Raw::connect(s).await;
        let c = client::connect_with_exporter_pop(client_id, 30, token, key, &r.exporter).unwrap();
        r.send(&Packet::Connect(Box::new(c))).await;
        assert_eq!(r.expect_connack().await, 0x00);
        r
    }
    async fn subscribe(&mut self, filter: &str) -> u8 {
        self.subscribe_qos(filter, QoS::AtLeastOnce).await
    }
    async fn subscribe_qos(&mut self, filter: &str, qos: QoS) -> u8 {
        let s = SubscribePacket::new(1).add_filter(filter, qos);
        self.send(&Packet::Subscribe(s)).await;
        match self.recv().await {
            Some(Packet::SubAck(a)) => a.reason_codes[0] as u8,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }
}

fn publish(topic: &str, payload: &[u8], qos: QoS, pid: u16) -> Packet {
    let mut p = PublishPacket::new(topic, payload.to_vec(), qos);
    if qos != QoS::AtMostOnce {
        p.packet_id = Some(pid);
    }
    Packet::Publish(p)
}

fn exp() -> ace_token::UnixTime {
    NOW.saturating_add(3600)
}

async fn finish(s: Setup) {
    s.stop.shutdown();
    timeout(Duration::from_secs(8), s.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn exporter_pop_publish_subscribe_allowed_and_refused() {
    let s = start().await;
    let tok = cwt_ed25519(FIG10, exp());
    let mut sub = Raw::login(&s, "sub", &tok, &ed_client()).await;
    assert_eq!(sub.subscribe("+/topic3").await, 1);
    assert_eq!(sub.subscribe("topic2/#").await, 0x87); // pub only (A.3.5)
    assert_eq!(sub.subscribe("authz-info").await, 0x87); // MQ-020
    let mut pubr = Raw::login(
        &s,
        "pub",
        &cwt_symmetric(r#"[["x/topic3",["pub"]],["topic2/#",["pub"]]]"#, exp()),
        &sym_client(),
    )
    .await;
    pubr.send(&publish("x/topic3", b"hello", QoS::AtLeastOnce, 7))
        .await;
    match pubr.recv().await {
        Some(Packet::PubAck(a)) => assert_eq!((a.packet_id, u8::from(a.reason_code)), (7, 0)),
        other => panic!("{other:?}"),
    }
    match sub.recv().await {
        Some(Packet::Publish(p)) => {
            assert_eq!(
                (p.topic_name.as_str(), &p.payload[..]),
                ("x/topic3", &b"hello"[..])
            );
            sub.send(&Packet::PubAck(
                mqtt5_protocol::packet::puback::PubAckPacket::new(p.packet_id.unwrap()),
            ))
            .await;
        }
        other => panic!("{other:?}"),
    }
    // Scope violation, QoS 1 → PUBACK 0x87 (MQ-091).
    pubr.send(&publish("a/topic3", b"no", QoS::AtLeastOnce, 8))
        .await;
    match pubr.recv().await {
        Some(Packet::PubAck(a)) => assert_eq!(u8::from(a.reason_code), 0x87),
        other => panic!("{other:?}"),
    }
    // Scope violation, QoS 0 → DISCONNECT 0x87 and close.
    pubr.send(&publish("nope", b"no", QoS::AtMostOnce, 0)).await;
    match pubr.recv().await {
        Some(Packet::Disconnect(d)) => assert_eq!(u8::from(d.reason_code), 0x87),
        other => panic!("{other:?}"),
    }
    assert!(pubr.recv().await.is_none());
    finish(s).await;
}

#[tokio::test]
async fn challenge_response_over_tls() {
    let s = start().await;
    let tok = cwt_ed25519(FIG10, exp());
    let mut r = Raw::connect(&s).await;
    r.send(&Packet::Connect(Box::new(
        client::connect_for_challenge("c", 30, Some(&tok)).unwrap(),
    )))
    .await;
    let ch = r.recv().await.unwrap();
    r.send(&client::answer_challenge(&ch, &[5; 8], &ed_client()).unwrap())
        .await;
    assert_eq!(r.expect_connack().await, 0);
    r.send(&Packet::PingReq).await;
    assert!(matches!(r.recv().await, Some(Packet::PingResp)));
    finish(s).await;
}

#[tokio::test]
async fn bad_pop_expired_and_replay_on_another_session() {
    let s = start().await;
    let tok = cwt_ed25519(FIG10, exp());
    // Bad PoP: a proof over a made-up exporter.
    let mut r = Raw::connect(&s).await;
    r.send(&Packet::Connect(Box::new(
        client::connect_with_exporter_pop("c", 30, &tok, &ed_client(), &[0; 32]).unwrap(),
    )))
    .await;
    assert_eq!(r.expect_connack().await, 0x87);
    assert!(r.recv().await.is_none());
    // Expired token.
    let old = cwt_ed25519(FIG10, NOW.saturating_sub(10));
    let mut r = Raw::connect(&s).await;
    let c = client::connect_with_exporter_pop("c", 30, &old, &ed_client(), &r.exporter).unwrap();
    r.send(&Packet::Connect(Box::new(c))).await;
    assert_eq!(r.expect_connack().await, 0x87);
    // A valid CONNECT of session A replayed on session B.
    let a = Raw::connect(&s).await;
    let captured =
        client::connect_with_exporter_pop("c", 30, &tok, &ed_client(), &a.exporter).unwrap();
    let mut b = Raw::connect(&s).await;
    assert_ne!(a.exporter, b.exporter);
    b.send(&Packet::Connect(Box::new(captured))).await;
    assert_eq!(b.expect_connack().await, 0x87);
    finish(s).await;
}

#[tokio::test]
async fn retained_authz_info_expiry_and_will() {
    let s = start().await;
    let scope = r#"[["t/#",["pub","sub"]],["will/#",["sub"]],["w",["pub"]]]"#;
    let mut p = Raw::login(&s, "p", &cwt_ed25519(scope, exp()), &ed_client()).await;
    // Retained message, then a late subscriber receives it.
    let mut m = PublishPacket::new("t/r", b"kept".to_vec(), QoS::AtLeastOnce).with_retain(true);
    m.packet_id = Some(1);
    p.send(&Packet::Publish(m)).await;
    assert!(matches!(p.recv().await, Some(Packet::PubAck(_))));
    // Token upload on authz-info: garbage → PUBACK 0x99, valid → 0x00; never delivered.
    p.send(&publish("authz-info", b"not a token", QoS::AtLeastOnce, 2))
        .await;
    let Some(Packet::PubAck(a)) = p.recv().await else {
        panic!()
    };
    assert_eq!(u8::from(a.reason_code), 0x99);
    p.send(&publish(
        "authz-info",
        &cwt_symmetric(FIG10, exp()),
        QoS::AtLeastOnce,
        3,
    ))
    .await;
    let Some(Packet::PubAck(a)) = p.recv().await else {
        panic!()
    };
    assert_eq!(u8::from(a.reason_code), 0);

    // Subscriber whose token expires in 60 s, with a Will on "w".
    let short = cwt_ed25519(scope, NOW.saturating_add(60));
    let mut sub = Raw::connect(&s).await;
    let c = client::with_will(
        client::connect_with_exporter_pop("s", 0, &short, &ed_client(), &sub.exporter).unwrap(),
        mqtt5_protocol::WillMessage::new("w", b"gone".to_vec()),
    );
    sub.send(&Packet::Connect(Box::new(c))).await;
    assert_eq!(sub.expect_connack().await, 0);
    assert_eq!(sub.subscribe("t/#").await, 1);
    match sub.recv().await {
        Some(Packet::Publish(r)) => assert!(r.retain && &r.payload[..] == b"kept"),
        other => panic!("{other:?}"),
    }
    let mut watcher = Raw::login(&s, "w", &cwt_ed25519(scope, exp()), &ed_client()).await;
    assert_eq!(watcher.subscribe("#").await, 0x87);
    assert_eq!(watcher.subscribe("w").await, 0x87);
    assert_eq!(watcher.subscribe("will/#").await, 1);
    // Advance the broker clock past the subscriber's expiry; the next delivery disconnects it
    // with 0x87 (MQ-110, R9) and its Will is published (MQ-122) — here to nobody allowed.
    s.clock.store(NOW.0 + 61, Ordering::SeqCst);
    p.send(&publish("t/x", b"late", QoS::AtMostOnce, 0)).await;
    match sub.recv().await {
        Some(Packet::Disconnect(d)) => assert_eq!(u8::from(d.reason_code), 0x87),
        other => panic!("{other:?}"),
    }
    assert!(sub.recv().await.is_none());
    finish(s).await;
}

#[tokio::test]
async fn takeover_and_shutdown() {
    let s = start().await;
    let tok = cwt_ed25519(FIG10, exp());
    let mut first = Raw::login(&s, "same", &tok, &ed_client()).await;
    let mut second = Raw::login(&s, "same", &tok, &ed_client()).await;
    match first.recv().await {
        Some(Packet::Disconnect(d)) => assert_eq!(u8::from(d.reason_code), 0x8E),
        other => panic!("{other:?}"),
    }
    s.stop.shutdown();
    match second.recv().await {
        Some(Packet::Disconnect(d)) => assert_eq!(u8::from(d.reason_code), 0x8B),
        other => panic!("{other:?}"),
    }
    timeout(Duration::from_secs(8), s.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

fn ack_of(p: Option<Packet>) -> (&'static str, u16, u8) {
    match p {
        Some(Packet::PubAck(a)) => ("PUBACK", a.packet_id, u8::from(a.reason_code)),
        Some(Packet::PubRec(a)) => ("PUBREC", a.packet_id, u8::from(a.reason_code)),
        Some(Packet::PubRel(a)) => ("PUBREL", a.packet_id, u8::from(a.reason_code)),
        Some(Packet::PubComp(a)) => ("PUBCOMP", a.packet_id, u8::from(a.reason_code)),
        other => panic!("expected an acknowledgement, got {other:?}"),
    }
}

fn pubrel(pid: u16) -> Packet {
    Packet::PubRel(mqtt5_protocol::packet::pubrel::PubRelPacket::new(pid))
}

#[tokio::test]
async fn qos2_both_directions_duplicates_and_refusals() {
    let s = start().await;
    let tok = cwt_ed25519(FIG10, exp());
    // QoS 2 is supported: CONNACK carries no Maximum QoS (MQTT v5 §3.2.2.3.4).
    let mut sub = Raw::connect(&s).await;
    let c =
        client::connect_with_exporter_pop("sub2", 30, &tok, &ed_client(), &sub.exporter).unwrap();
    sub.send(&Packet::Connect(Box::new(c))).await;
    match sub.recv().await {
        Some(Packet::ConnAck(a)) => {
            assert_eq!(u8::from(a.reason_code), 0);
            assert_eq!(a.properties.get_maximum_qos(), None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sub.subscribe_qos("topic1", QoS::ExactlyOnce).await, 2);
    let mut p = Raw::login(&s, "pub2", &tok, &ed_client()).await;

    // Inbound QoS 2: PUBLISH → PUBREC 0x00, delivered once at QoS 2.
    p.send(&publish("topic1", b"once", QoS::ExactlyOnce, 5))
        .await;
    assert_eq!(ack_of(p.recv().await), ("PUBREC", 5, 0));
    // The same packet id again (DUP retransmission before PUBREL): PUBREC again, not routed.
    let Packet::Publish(mut dup) = publish("topic1", b"once", QoS::ExactlyOnce, 5) else {
        unreachable!()
    };
    dup.dup = true;
    p.send(&Packet::Publish(dup)).await;
    assert_eq!(ack_of(p.recv().await), ("PUBREC", 5, 0));
    p.send(&pubrel(5)).await;
    assert_eq!(ack_of(p.recv().await), ("PUBCOMP", 5, 0));
    // PUBREL for a released id → PUBCOMP 0x92 (Packet Identifier not found).
    p.send(&pubrel(5)).await;
    assert_eq!(ack_of(p.recv().await), ("PUBCOMP", 5, 0x92));
    // After release the id may be reused for a new message.
    p.send(&publish("topic1", b"second", QoS::ExactlyOnce, 5))
        .await;
    assert_eq!(ack_of(p.recv().await), ("PUBREC", 5, 0));
    p.send(&pubrel(5)).await;
    assert_eq!(ack_of(p.recv().await), ("PUBCOMP", 5, 0));

    // Outbound QoS 2 to the subscriber: exactly "once" then "second" (the DUP was not routed).
    let mut pids = Vec::new();
    for want in [&b"once"[..], b"second"] {
        let Some(Packet::Publish(m)) = sub.recv().await else {
            panic!("expected PUBLISH")
        };
        assert_eq!((&m.payload[..], m.qos), (want, QoS::ExactlyOnce));
        pids.push(m.packet_id.unwrap());
    }
    for pid in pids {
        sub.send(&Packet::PubRec(
            mqtt5_protocol::packet::pubrec::PubRecPacket::new(pid),
        ))
        .await;
        assert_eq!(ack_of(sub.recv().await), ("PUBREL", pid, 0));
        sub.send(&Packet::PubComp(
            mqtt5_protocol::packet::pubcomp::PubCompPacket::new(pid),
        ))
        .await;
    }
    assert!(sub.recv_within(Duration::from_millis(300)).await.is_err());

    // Refused QoS 2 PUBLISH → PUBREC 0x87 (RFC 9431 §5) and the id is not kept.
    p.send(&publish("x/topic3", b"no", QoS::ExactlyOnce, 6))
        .await;
    assert_eq!(ack_of(p.recv().await), ("PUBREC", 6, 0x87));
    p.send(&pubrel(6)).await;
    assert_eq!(ack_of(p.recv().await), ("PUBCOMP", 6, 0x92));
    // authz-info at QoS 2: not a token → PUBREC 0x99; a valid token → PUBREC 0x00 (§2.2.2).
    p.send(&publish("authz-info", b"junk", QoS::ExactlyOnce, 7))
        .await;
    assert_eq!(ack_of(p.recv().await), ("PUBREC", 7, 0x99));
    p.send(&publish(
        "authz-info",
        &cwt_symmetric(FIG10, exp()),
        QoS::ExactlyOnce,
        8,
    ))
    .await;
    assert_eq!(ack_of(p.recv().await), ("PUBREC", 8, 0));
    p.send(&pubrel(8)).await;
    assert_eq!(ack_of(p.recv().await), ("PUBCOMP", 8, 0));
    finish(s).await;
}

#[tokio::test]
async fn receive_maximum_both_directions() {
    let s = start().await;
    let tok = cwt_ed25519(FIG10, exp());
    // The subscriber announces Receive Maximum 1: one unacknowledged delivery at a time.
    let mut sub = Raw::connect(&s).await;
    let mut c =
        client::connect_with_exporter_pop("rm-sub", 30, &tok, &ed_client(), &sub.exporter).unwrap();
    c.properties
        .add(
            mqtt5_protocol::PropertyId::ReceiveMaximum,
            mqtt5_protocol::PropertyValue::TwoByteInteger(1),
        )
        .unwrap();
    sub.send(&Packet::Connect(Box::new(c))).await;
    assert_eq!(sub.expect_connack().await, 0);
    assert_eq!(sub.subscribe_qos("topic1", QoS::ExactlyOnce).await, 2);
    let mut p = Raw::login(&s, "rm-pub", &tok, &ed_client()).await;
    for (i, body) in [&b"m1"[..], b"m2"].into_iter().enumerate() {
        p.send(&publish("topic1", body, QoS::AtLeastOnce, 20 + i as u16))
            .await;
        assert_eq!(ack_of(p.recv().await).2, 0);
    }
    let Some(Packet::Publish(m1)) = sub.recv().await else {
        panic!()
    };
    assert_eq!(&m1.payload[..], b"m1");
    // Window full: m2 waits for the PUBACK of m1.
    assert!(sub.recv_within(Duration::from_millis(300)).await.is_err());
    sub.send(&Packet::PubAck(
        mqtt5_protocol::packet::puback::PubAckPacket::new(m1.packet_id.unwrap()),
    ))
    .await;
    let Some(Packet::Publish(m2)) = sub.recv().await else {
        panic!()
    };
    assert_eq!(&m2.payload[..], b"m2");

    // Inbound: our Receive Maximum (32 by default) unreleased QoS 2 PUBLISHes are accepted;
    // one more → DISCONNECT 0x93 (MQTT v5 §3.3.4).
    for pid in 1..=32u16 {
        p.send(&publish("topic2/x", b"q", QoS::ExactlyOnce, pid))
            .await;
        assert_eq!(ack_of(p.recv().await), ("PUBREC", pid, 0));
    }
    p.send(&publish("topic2/x", b"q", QoS::ExactlyOnce, 33))
        .await;
    match p.recv().await {
        Some(Packet::Disconnect(d)) => assert_eq!(u8::from(d.reason_code), 0x93),
        other => panic!("{other:?}"),
    }
    assert!(p.recv().await.is_none());
    finish(s).await;
}

/// Outbound topic aliases (MQTT v5 §3.3.2.3.4): a subscriber that announces Topic Alias
/// Maximum 2 gets the first two topics as topic + alias, then those topics as alias + empty
/// Topic Name, and a third topic in full without an alias; a subscriber without the property
/// always gets full topics and no alias.
#[tokio::test]
async fn outbound_topic_aliases_up_to_the_clients_maximum() {
    let s = start().await;
    let scope = r#"[["a/#",["pub","sub"]]]"#;
    let tok = cwt_ed25519(scope, exp());
    let mut aliased = Raw::connect(&s).await;
    let mut c =
        client::connect_with_exporter_pop("aliased", 30, &tok, &ed_client(), &aliased.exporter)
            .unwrap();
    c.properties.set_topic_alias_maximum(2);
    aliased.send(&Packet::Connect(Box::new(c))).await;
    assert_eq!(aliased.expect_connack().await, 0x00);
    assert_eq!(aliased.subscribe_qos("a/#", QoS::AtMostOnce).await, 0);
    let mut plain = Raw::login(&s, "plain", &tok, &ed_client()).await;
    assert_eq!(plain.subscribe_qos("a/#", QoS::AtMostOnce).await, 0);
    let mut pubr = Raw::login(&s, "pub", &tok, &ed_client()).await;
    let sent = ["a/1", "a/2", "a/1", "a/3", "a/2"];
    for (i, t) in sent.iter().enumerate() {
        pubr.send(&publish(t, format!("m{i}").as_bytes(), QoS::AtMostOnce, 0))
            .await;
    }
    // (Topic Name on the wire, alias) per delivery.
    let expected = [
        ("a/1", Some(1)),
        ("a/2", Some(2)),
        ("", Some(1)),
        ("a/3", None),
        ("", Some(2)),
    ];
    for (i, (topic, alias)) in expected.iter().enumerate() {
        match aliased.recv().await {
            Some(Packet::Publish(p)) => {
                assert_eq!(p.payload.to_vec(), format!("m{i}").into_bytes());
                assert_eq!(
                    (p.topic_name.as_str(), p.properties.get_topic_alias()),
                    (*topic, *alias),
                    "delivery {i}"
                );
            }
            other => panic!("expected PUBLISH, got {other:?}"),
        }
        match plain.recv().await {
            Some(Packet::Publish(p)) => {
                assert_eq!(p.topic_name, sent[i]);
                assert_eq!(p.properties.get_topic_alias(), None);
            }
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
    finish(s).await;
}
