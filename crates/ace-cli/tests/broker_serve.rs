//! `ace broker serve` as a child process on 127.0.0.1 (port 0, the bound address read from
//! stdout): the AS key comes from `ace keys generate`, the TLS certificate from PEM files; a
//! client with an ES256 CWT (Ed25519 `cnf`) connects with the TLS-exporter PoP built by
//! `mqtt_tls_profile::client`, subscribes, publishes and receives; a token signed by another
//! key is refused (CONNACK 0x87); SIGINT stops the broker gracefully (DISCONNECT 0x8B, exit 0).
//! Every wait is bounded.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ace_token::crypto::{CryptoBackend, KeyType, PrivateKey};
use ace_token::{
    AceProfile, Algorithm, ClaimsBuilder, Confirmation, Issuer, PopKey, RustCrypto, Scope, UnixTime,
};
use base64::Engine as _;
use coset::CborSerializable as _;
use mqtt_tls_profile::consts::{EXPORTER_CONTEXT, EXPORTER_LABEL};
use mqtt_tls_profile::mqtt5_protocol::packet::publish::PublishPacket;
use mqtt_tls_profile::mqtt5_protocol::packet::subscribe::SubscribePacket;
use mqtt_tls_profile::mqtt5_protocol::{Packet, QoS};
use mqtt_tls_profile::pop::ClientKey;
use mqtt_tls_profile::token_source::Credentials;
use mqtt_tls_profile::{client, wire};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::time::timeout;
use tokio_rustls::rustls;

const ACE: &str = env!("CARGO_BIN_EXE_ace");
const T: Duration = Duration::from_secs(10);

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ace-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The `d` of a P-256 private COSE_Key file written by `ace keys generate`.
fn read_private(path: &Path) -> PrivateKey {
    let key = coset::CoseKey::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let d = key
        .params
        .iter()
        .find(|(l, _)| *l == coset::Label::Int(-4))
        .and_then(|(_, v)| v.as_bytes())
        .unwrap();
    PrivateKey::from_bytes(KeyType::P256, d).unwrap()
}

fn token(as_key: &PrivateKey, client: &PrivateKey, aud: &str) -> Vec<u8> {
    let scope = aif::MqttAif::from_json(br#"[["t/#",["pub","sub"]]]"#).unwrap();
    let claims = ClaimsBuilder::new()
        .issuer("as")
        .audience(aud)
        .expiration(UnixTime::now().saturating_add(600))
        .cti(*b"cli-1")
        .cnf(Confirmation::cose_key(PopKey::public(
            RustCrypto.public_key(client).unwrap(),
        )))
        .scope(Scope::Binary(scope.to_cbor().unwrap()))
        .ace_profile(AceProfile::MQTT_TLS)
        .build();
    Issuer::new(&RustCrypto)
        .sign1(&claims, Algorithm::ES256, as_key, Some(b"as-key"))
        .unwrap()
}

struct Conn {
    tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr, cert_der: &[u8]) -> (Self, [u8; 32]) {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(cert_der.to_vec()))
            .unwrap();
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = timeout(T, tokio::net::TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = timeout(
            T,
            tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp),
        )
        .await
        .unwrap()
        .unwrap();
        let mut exporter = [0u8; 32];
        tls.get_ref()
            .1
            .export_keying_material(&mut exporter, EXPORTER_LABEL, Some(EXPORTER_CONTEXT))
            .unwrap();
        (
            Self {
                tls,
                buf: Vec::new(),
            },
            exporter,
        )
    }

    async fn send(&mut self, p: &Packet) {
        let b = wire::encode_to_vec(p).unwrap();
        timeout(T, self.tls.write_all(&b)).await.unwrap().unwrap();
    }

    async fn recv(&mut self) -> Option<Packet> {
        loop {
            if let Some((p, n)) = wire::decode_packet(&self.buf, 5, 1 << 20).unwrap() {
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

    async fn login(
        addr: SocketAddr,
        cert_der: &[u8],
        id: &str,
        token: &[u8],
        key: &PrivateKey,
    ) -> (Self, u8) {
        let (mut c, exporter) = Self::open(addr, cert_der).await;
        let key = ClientKey::Private(key.clone());
        let connect = client::connect_with_exporter_pop(id, 30, token, &key, &exporter).unwrap();
        c.send(&Packet::Connect(Box::new(connect))).await;
        match c.recv().await {
            Some(Packet::ConnAck(a)) => {
                let code = u8::from(a.reason_code);
                (c, code)
            }
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }
}

/// Kills the child on drop (a failing test leaves no broker behind).
struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `ace broker serve -c cfg`; the bound address from its first stdout line; the rest of
/// stdout as a channel.
fn spawn_broker(cfg: &Path) -> (Broker, SocketAddr, std::sync::mpsc::Receiver<String>) {
    let mut child = Broker(
        Command::new(ACE)
            .args(["broker", "serve", "-c"])
            .arg(cfg)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(T).expect("no listening line");
    let addr: SocketAddr = first
        .rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{first}");
    (child, addr, rx)
}

/// The AS key pair, made with `ace keys generate` as `as.cose` (and `as.pub.cose`, which the
/// broker reads) in `d`.
fn generate_as_key(d: &Path) -> PrivateKey {
    let o = Command::new(ACE)
        .args([
            "keys", "generate", "--kind", "p256", "--kid", "as-key", "-o",
        ])
        .arg(d.join("as.cose"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    read_private(&d.join("as.cose"))
}

/// A symmetric key made with `ace keys generate` as `name` in `d`.
fn generate_secret(d: &Path, name: &str) -> Vec<u8> {
    let o = Command::new(ACE)
        .args(["keys", "generate", "--kind", "symmetric", "-o"])
        .arg(d.join(name))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    read_symmetric(&d.join(name))
}

/// A self-signed `localhost` certificate for the broker, written with its key as
/// `broker.crt.pem` and `broker.key.pem` in `d`; returns the certificate (DER).
fn write_broker_cert(d: &Path) -> Vec<u8> {
    let (cert, key) = ace_server::http::self_signed(&["localhost"]).unwrap();
    std::fs::write(d.join("broker.crt.pem"), pem("CERTIFICATE", &cert)).unwrap();
    std::fs::write(d.join("broker.key.pem"), pem("PRIVATE KEY", &key)).unwrap();
    cert
}

/// The head of the `[broker]` table every served configuration starts with.
const BROKER_TOML: &str = "[broker]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"broker.crt.pem\"\n\
                           tls_key = \"broker.key.pem\"\naudience = \"broker1\"\n\
                           issuers = [\"as\"]\n";
/// The AS key (`ace keys generate`'s public half) as the broker's token key.
const AS_KEYS: &str = "\n[[broker.as_keys]]\nfile = \"as.pub.cose\"\n";

/// Writes `broker.toml` in `d`: [`BROKER_TOML`] followed by `rest`.
fn write_config(d: &Path, rest: &str) -> PathBuf {
    let cfg = d.join("broker.toml");
    std::fs::write(&cfg, format!("{BROKER_TOML}{rest}")).unwrap();
    cfg
}

/// Credentials with a fresh Ed25519 PoP key and a token for `broker1` signed by `as_key`.
fn signed_creds(as_key: &PrivateKey) -> Credentials {
    let pop = PrivateKey::generate(KeyType::Ed25519, &mut ace_token::crypto::os_rng());
    Credentials {
        token: token(as_key, &pop, "broker1"),
        key: ClientKey::Private(pop),
        expires_at: None,
    }
}

/// A token source that always hands out `c`.
fn fixed(
    c: Credentials,
) -> impl FnMut() -> std::future::Ready<Result<Credentials, mqtt_tls_profile::Error>> + Send {
    move || std::future::ready(Ok(c.clone()))
}

fn sigint(child: &Child) {
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ace broker serve did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGINT, then exit 0 within [`T`].
fn stop_gracefully(child: &mut Child) {
    sigint(child);
    let status = wait_exit(child, T);
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn broker_serve_pub_sub_refusal_and_graceful_stop() {
    let d = tempdir("broker");
    // The AS key pair, with the `ace keys` command (the broker reads the public half).
    let as_key = generate_as_key(&d);
    let cert = write_broker_cert(&d);
    let cfg = write_config(&d, &format!("max_connections = 8\n{AS_KEYS}"));

    let (mut child, addr, rx) = spawn_broker(&cfg);

    let alice = PrivateKey::generate(KeyType::Ed25519, &mut ace_token::crypto::os_rng());
    let good = token(&as_key, &alice, "broker1");
    let (mut sub, code) = Conn::login(addr, &cert, "sub", &good, &alice).await;
    assert_eq!(code, 0x00, "valid token refused");
    let s = SubscribePacket::new(1).add_filter("t/1".to_owned(), QoS::AtLeastOnce);
    sub.send(&Packet::Subscribe(s)).await;
    match sub.recv().await {
        Some(Packet::SubAck(a)) => {
            assert_eq!(a.reason_codes.len(), 1);
            assert_eq!(a.reason_codes[0] as u8, 1, "granted QoS 1");
        }
        other => panic!("expected SUBACK, got {other:?}"),
    }
    let (mut publ, code) = Conn::login(addr, &cert, "pub", &good, &alice).await;
    assert_eq!(code, 0x00);
    let mut p = PublishPacket::new("t/1".to_owned(), b"hello".to_vec(), QoS::AtLeastOnce);
    p.packet_id = Some(7);
    publ.send(&Packet::Publish(p)).await;
    match publ.recv().await {
        Some(Packet::PubAck(a)) => assert_eq!(u8::from(a.reason_code), 0),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    match sub.recv().await {
        Some(Packet::Publish(m)) => {
            assert_eq!(m.topic_name, "t/1");
            assert_eq!(&m.payload[..], b"hello");
        }
        other => panic!("expected the delivery, got {other:?}"),
    }

    // A token signed by another key, and one for another audience: CONNACK 0x87.
    let rogue = PrivateKey::generate(KeyType::P256, &mut ace_token::crypto::os_rng());
    let (_, code) = Conn::login(
        addr,
        &cert,
        "bad",
        &token(&rogue, &alice, "broker1"),
        &alice,
    )
    .await;
    assert_eq!(code, 0x87, "token by another key");
    let (_, code) = Conn::login(
        addr,
        &cert,
        "bad2",
        &token(&as_key, &alice, "other"),
        &alice,
    )
    .await;
    assert_eq!(code, 0x87, "token for another audience");

    // SIGINT: DISCONNECT 0x8B to the connected clients, exit 0.
    sigint(&child.0);
    match sub.recv().await {
        Some(Packet::Disconnect(d)) => assert_eq!(u8::from(d.reason_code), 0x8B),
        other => panic!("expected DISCONNECT 0x8B, got {other:?}"),
    }
    let status = wait_exit(&mut child.0, T);
    assert!(status.success(), "exit status {status}");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("stopped")),
        "stdout after SIGINT: {rest:?}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn broker_config_errors_have_exit_codes() {
    let d = tempdir("broker-cfg");
    // Unknown field: 2, with file:line.
    let cfg = d.join("b.toml");
    std::fs::write(
        &cfg,
        "[broker]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"c\"\ntls_key = \"k\"\n\
         audience = \"b\"\ncolour = 1\n",
    )
    .unwrap();
    let o = Command::new(ACE)
        .args(["broker", "serve", "-c"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("b.toml:6"), "{err}");
    // Missing AS key file: 4.
    std::fs::write(
        &cfg,
        "[broker]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"c\"\ntls_key = \"k\"\n\
         audience = \"b\"\n[[broker.as_keys]]\nfile = \"missing.cose\"\n",
    )
    .unwrap();
    let o = Command::new(ACE)
        .args(["broker", "serve", "-c"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stderr).trim().lines().count(), 1);
    let _ = std::fs::remove_dir_all(&d);
}

/// `k` of a symmetric COSE_Key file written by `ace keys generate --kind symmetric`.
fn read_symmetric(path: &Path) -> Vec<u8> {
    let key = coset::CoseKey::from_slice(&std::fs::read(path).unwrap()).unwrap();
    key.params
        .iter()
        .find(|(l, _)| *l == coset::Label::Int(-1))
        .and_then(|(_, v)| v.as_bytes())
        .unwrap()
        .clone()
}

/// `[broker.introspection]` and `max_session_expiry`: an in-process AS (HTTPS, this test's
/// process) issues 16-byte reference tokens; `ace broker serve` introspects them with the
/// broker's secret from an `ace keys` file; the client (the crate's driver, token from the AS
/// over HTTPS) publishes and receives; a reference the AS never issued gets CONNACK 0x87; a
/// reconnection with Clean Start 0 and no token in CONNECT resumes the session.
#[tokio::test]
async fn broker_serve_introspects_reference_tokens_and_resumes_sessions() {
    use ace_core::{
        AsConfig, AsEngine, ClientCredential, ClientInfo, MemoryRegistry, ResourceServerInfo,
        StaticPolicy, TokenFormat,
    };
    use ace_token::crypto::SecretBytes;
    use mqtt_tls_profile::driver::{ClientOptions, MqttClient};
    use mqtt_tls_profile::https::HttpsEndpoint;
    use mqtt_tls_profile::token_source::HttpsTokenSource;

    let d = tempdir("broker-introspect");
    let broker_secret = generate_secret(&d, "broker.secret");

    // The AS: client1 may get `room/+/temp`; broker1 may introspect.
    let scope = aif::MqttAif::from_json(br#"[["room/+/temp",["pub","sub"]]]"#).unwrap();
    let scope_text = mqtt_tls_profile::token_source::scope_text(&scope).unwrap();
    let mut rs = ResourceServerInfo::new(
        "broker1",
        AceProfile::MQTT_TLS,
        TokenFormat::Reference { len: 16 },
    );
    rs.lifetime = 600;
    let registry = MemoryRegistry::new()
        .with_client(
            ClientInfo::new("client1")
                .with_credential(ClientCredential::Secret(SecretBytes::from_slice(
                    b"c1-secret",
                )))
                .with_profile(AceProfile::MQTT_TLS)
                .with_default_audience("broker1"),
        )
        .with_client(
            ClientInfo::new("broker1")
                .with_grant_types(&[])
                .with_credential(ClientCredential::Secret(SecretBytes::from_slice(
                    &broker_secret,
                )))
                .with_introspection(&["broker1"]),
        )
        .with_resource_server(rs);
    let engine = AsEngine::new(
        AsConfig::new("as"),
        Box::new(registry),
        Box::new(StaticPolicy::new().allow("client1", "broker1", Scope::Text(scope_text))),
        Box::new(ace_core::MemoryTokenStore::new()),
        Arc::new(RustCrypto),
    )
    .with_profiles(vec![Arc::new(mqtt_tls_profile::as_profile::MqttTls)]);
    let (as_cert, as_key) = ace_server::http::self_signed(&["localhost"]).unwrap();
    std::fs::write(d.join("as.crt.pem"), pem("CERTIFICATE", &as_cert)).unwrap();
    let listener = ace_server::http::TlsListener::bind(
        "127.0.0.1:0".parse().unwrap(),
        ace_server::http::server_config(as_cert.clone(), as_key).unwrap(),
    )
    .await
    .unwrap();
    let as_addr = axum::serve::Listener::local_addr(&listener).unwrap();
    let clients = ace_server::http::HttpClients::new()
        .with("client1", b"c1-secret")
        .with("broker1", &broker_secret);
    let router = ace_server::http::router(ace_server::AsService::new(engine), clients);
    tokio::spawn(ace_server::http::serve(
        listener,
        router,
        std::future::pending(),
    ));

    let cert = write_broker_cert(&d);
    let cfg = write_config(
        &d,
        &format!(
            "max_session_expiry = 60\n\n[broker.introspection]\nhttps = \"{as_addr}\"\n\
             ca_cert = \"as.crt.pem\"\nsecret_file = \"broker.secret\"\nmax_age = 60\n"
        ),
    );
    let (mut child, addr, _rx) = spawn_broker(&cfg);

    let endpoint = HttpsEndpoint {
        addr: as_addr,
        server_name: "localhost".into(),
        tls: mqtt_tls_profile::https::client_tls(&[as_cert]).unwrap(),
        basic: Some(("client1".into(), SecretBytes::from_slice(b"c1-secret"))),
        timeout: T,
    };
    let client_key = PrivateKey::generate(KeyType::Ed25519, &mut ace_token::crypto::os_rng());
    let creds = HttpsTokenSource::new(endpoint, "broker1", scope, Some(client_key))
        .request()
        .await
        .unwrap();
    assert_eq!(creds.token.len(), 16, "a reference token");
    let tls = mqtt_tls_profile::https::client_tls(&[cert]).unwrap();
    let mut opts = ClientOptions::new("c1", "localhost", tls.clone());
    opts.session_expiry = 60;
    let mut c = MqttClient::connect(addr, opts.clone(), fixed(creds.clone()))
        .await
        .unwrap();
    assert_eq!(
        c.subscribe("room/+/temp", QoS::AtLeastOnce).await.unwrap(),
        1
    );
    c.publish("room/1/temp", b"20", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(c.recv(Some(T)).await.unwrap().payload, b"20");
    c.disconnect().await.unwrap();

    // Clean Start 0 without the token in CONNECT: the session (and its subscription) resumes.
    opts.clean_start = false;
    opts.send_token = false;
    let mut c = MqttClient::connect(addr, opts.clone(), fixed(creds.clone()))
        .await
        .unwrap();
    assert!(c.session_present());
    c.publish("room/2/temp", b"21", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(c.recv(Some(T)).await.unwrap().payload, b"21");

    // A reference the AS never issued.
    let mut bogus = creds.clone();
    bogus.token = vec![0x5A; 16];
    let r = MqttClient::connect(
        addr,
        ClientOptions::new("c2", "localhost", tls),
        fixed(bogus),
    )
    .await;
    assert!(
        matches!(r, Err(mqtt_tls_profile::Error::Refused(0x87))),
        "{r:?}"
    );

    stop_gracefully(&mut child.0);
    let _ = std::fs::remove_dir_all(&d);
}

/// `persistence`: sessions with a Session Expiry Interval > 0 and retained messages survive
/// `kill -9` of `ace broker serve` (MQTT v5 §4.1, RFC 9431 §2.2.4.1 / §5; MQ-036). Before the
/// kill: `keep` (Session Expiry 60) subscribes to `t/q` at QoS 1 and disconnects, `gone`
/// (Session Expiry 0) subscribes too; a publisher sends two QoS 1 messages to `t/q`, one QoS 0
/// (not queued) and a retained `t/r`. After SIGKILL and a restart on the same file: `keep`
/// resumes with Session Present 1 (its token presented again: tokens are not persisted) and
/// gets the two queued messages without subscribing again, then a live one; `gone` has no
/// session, nor `short` (Session Expiry 1 s, ended while the broker was down); a new
/// subscriber to `t/r` gets the retained message. Every wait is bounded.
#[tokio::test]
async fn broker_serve_persists_sessions_and_retained_messages_across_kill_9() {
    use mqtt_tls_profile::driver::{ClientOptions, MqttClient};

    let d = tempdir("broker-persist");
    let as_key = generate_as_key(&d);
    let cert = write_broker_cert(&d);
    let cfg = write_config(
        &d,
        &format!("max_session_expiry = 60\npersistence = \"state.sqlite\"\n{AS_KEYS}"),
    );
    let tls = mqtt_tls_profile::https::client_tls(&[cert]).unwrap();
    let creds = signed_creds(&as_key);
    let opts = |id: &str, clean: bool, expiry: u32| {
        let mut o = ClientOptions::new(id, "localhost", tls.clone());
        o.clean_start = clean;
        o.session_expiry = expiry;
        o
    };

    let (mut child, addr, _rx) = spawn_broker(&cfg);
    let mut keep = MqttClient::connect(addr, opts("keep", true, 60), fixed(creds.clone()))
        .await
        .unwrap();
    assert_eq!(keep.subscribe("t/q", QoS::AtLeastOnce).await.unwrap(), 1);
    keep.disconnect().await.unwrap();
    let mut gone = MqttClient::connect(addr, opts("gone", true, 0), fixed(creds.clone()))
        .await
        .unwrap();
    assert_eq!(gone.subscribe("t/q", QoS::AtLeastOnce).await.unwrap(), 1);
    gone.disconnect().await.unwrap();
    // Session Expiry 1 s: persisted, but ended before the restart below.
    let mut short = MqttClient::connect(addr, opts("short", true, 1), fixed(creds.clone()))
        .await
        .unwrap();
    assert_eq!(short.subscribe("t/q", QoS::AtLeastOnce).await.unwrap(), 1);
    short.disconnect().await.unwrap();
    let mut p = MqttClient::connect(addr, opts("pub", true, 0), fixed(creds.clone()))
        .await
        .unwrap();
    p.publish("t/q", b"q1", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    p.publish("t/q", b"q0", QoS::AtMostOnce, false)
        .await
        .unwrap();
    p.publish("t/q", b"q2", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    p.publish("t/r", b"kept", QoS::AtLeastOnce, true)
        .await
        .unwrap();

    // SIGKILL: no graceful shutdown, nothing written at exit.
    child.0.kill().unwrap();
    let status = wait_exit(&mut child.0, T);
    assert!(!status.success(), "killed: {status}");
    drop(p);
    // Past the end of `short`'s session (1 s after its DISCONNECT).
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (mut child, addr, _rx) = spawn_broker(&cfg);
    let mut keep = MqttClient::connect(addr, opts("keep", false, 60), fixed(creds.clone()))
        .await
        .unwrap();
    assert!(keep.session_present(), "the session survived the restart");
    let m = keep.recv(Some(T)).await.unwrap();
    assert_eq!(
        (m.topic.as_str(), &m.payload[..], m.qos),
        ("t/q", &b"q1"[..], 1)
    );
    let m = keep.recv(Some(T)).await.unwrap();
    assert_eq!(
        (m.topic.as_str(), &m.payload[..], m.qos),
        ("t/q", &b"q2"[..], 1)
    );
    // The subscription is in force; QoS 0 was not queued.
    keep.publish("t/q", b"live", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let m = keep.recv(Some(T)).await.unwrap();
    assert_eq!(&m.payload[..], b"live");

    let gone = MqttClient::connect(addr, opts("gone", false, 0), fixed(creds.clone()))
        .await
        .unwrap();
    assert!(!gone.session_present(), "Session Expiry 0: not kept");
    let short = MqttClient::connect(addr, opts("short", false, 60), fixed(creds.clone()))
        .await
        .unwrap();
    assert!(
        !short.session_present(),
        "Session Expiry 1 s: ended while the broker was down"
    );

    let mut r = MqttClient::connect(addr, opts("reader", true, 0), fixed(creds.clone()))
        .await
        .unwrap();
    assert_eq!(r.subscribe("t/r", QoS::AtLeastOnce).await.unwrap(), 1);
    let m = r.recv(Some(T)).await.unwrap();
    assert_eq!(
        (m.topic.as_str(), &m.payload[..], m.retain),
        ("t/r", &b"kept"[..], true)
    );

    stop_gracefully(&mut child.0);
    let _ = std::fs::remove_dir_all(&d);
}

/// `[broker.introspection] coap` and `client_raw_public_keys`: an in-process AS (this test's
/// process) serves `/token` and `/introspect` over CoAP + OSCORE (contexts for the client,
/// Sender ID `c1`, and the broker, `b1`) and issues 16-byte reference tokens; `ace broker
/// serve` requires a client raw public key (RFC 7250) from a PEM file and introspects over
/// OSCORE with the Master Secret from an `ace keys` file. The client gets its token with
/// `CoapTokenSource`, connects with its raw public key, publishes and receives; without a
/// raw public key the handshake fails. After `kill -9` and a restart the broker's OSCORE
/// context continues after its persisted Sender Sequence Number (`oscore_state`), so the AS
/// (still running, with its replay window) answers the next introspection.
#[tokio::test]
async fn broker_serve_introspects_over_coap_and_requires_raw_public_keys() {
    use ace_core::{
        AsConfig, AsEngine, ClientCredential, ClientInfo, MemoryRegistry, ResourceServerInfo,
        StaticPolicy, TokenFormat,
    };
    use ace_oscore::coap::OscoreLayer;
    use ace_oscore::{ContextParams, ContextSet, MemorySequenceStore, SecurityContext};
    use mqtt_tls_profile::coap_as::CoapEndpoint;
    use mqtt_tls_profile::driver::{ClientOptions, MqttClient};
    use mqtt_tls_profile::token_source::CoapTokenSource;

    let d = tempdir("broker-coap-introspect");
    let broker_secret = generate_secret(&d, "broker.oscore");
    let client_secret = b"client1-oscore-master-secret";

    // The AS over CoAP + OSCORE.
    let scope = aif::MqttAif::from_json(br#"[["room/+/temp",["pub","sub"]]]"#).unwrap();
    let scope_text = mqtt_tls_profile::token_source::scope_text(&scope).unwrap();
    let mut rs = ResourceServerInfo::new(
        "broker1",
        AceProfile::MQTT_TLS,
        TokenFormat::Reference { len: 16 },
    );
    rs.lifetime = 600;
    let registry = MemoryRegistry::new()
        .with_client(
            ClientInfo::new("client1")
                .with_credential(ClientCredential::PskIdentity(b"c1".to_vec()))
                .with_profile(AceProfile::MQTT_TLS)
                .with_default_audience("broker1"),
        )
        .with_client(
            ClientInfo::new("broker1")
                .with_grant_types(&[])
                .with_credential(ClientCredential::PskIdentity(b"b1".to_vec()))
                .with_introspection(&["broker1"]),
        )
        .with_resource_server(rs);
    let engine = AsEngine::new(
        AsConfig::new("as"),
        Box::new(registry),
        Box::new(StaticPolicy::new().allow("client1", "broker1", Scope::Text(scope_text))),
        Box::new(ace_core::MemoryTokenStore::new()),
        Arc::new(RustCrypto),
    )
    .with_profiles(vec![Arc::new(mqtt_tls_profile::as_profile::MqttTls)]);
    let ctx = |secret: &[u8], sender: &[u8], recipient: &[u8]| {
        SecurityContext::new(
            RustCrypto,
            ContextParams::new(secret, b"", sender, recipient),
        )
        .unwrap()
    };
    let mut set = ContextSet::new();
    set.insert(ctx(client_secret, b"as", b"c1"));
    set.insert(ctx(&broker_secret, b"as", b"b1"));
    let server = ace_server::bind_coap(
        "127.0.0.1:0".parse().unwrap(),
        ace_coap::Config::default(),
        ace_server::AsService::new(engine).router(),
        OscoreLayer::new(set, MemorySequenceStore::default()),
    )
    .await
    .unwrap();
    let as_addr = server.local_addr().unwrap();
    let as_handle = server.handle();
    tokio::spawn(server.serve());

    // The broker: TLS certificate, the client's raw public key, CoAP introspection.
    let cert = write_broker_cert(&d);
    let (_, client_tls_key) = ace_server::http::self_signed(&["client1"]).unwrap();
    let spki = mqtt_tls_profile::tls::raw_public_key(&client_tls_key).unwrap();
    std::fs::write(d.join("client.pub.pem"), pem("PUBLIC KEY", &spki)).unwrap();
    let cfg = write_config(
        &d,
        &format!(
            "client_raw_public_keys = [\"client.pub.pem\"]\n\n\
             [broker.introspection]\ncoap = \"{as_addr}\"\noscore_sender_id = \"b1\"\n\
             oscore_secret_file = \"broker.oscore\"\noscore_state = \"oscore.sqlite\"\n"
        ),
    );
    let (mut child, addr, _rx) = spawn_broker(&cfg);

    let ctx = ace_oscore::SecurityContext::new(
        ace_token::RustCrypto,
        ace_oscore::ContextParams::new(client_secret, b"", b"c1", b"as"),
    )
    .unwrap();
    let mut as_ep = CoapEndpoint::oscore(as_addr, ctx, ace_oscore::MemorySequenceStore::default())
        .await
        .unwrap();
    as_ep.timeout = T;
    let client_key = PrivateKey::generate(KeyType::Ed25519, &mut ace_token::crypto::os_rng());
    let source = CoapTokenSource::new(as_ep, "client1", "broker1", scope, Some(client_key));
    let rpk_tls = mqtt_tls_profile::tls::client_tls_with_raw_key(
        std::slice::from_ref(&cert),
        &client_tls_key,
    )
    .unwrap();
    let creds = source.request().await.unwrap();
    assert_eq!(creds.token.len(), 16, "a reference token");
    let mut c = MqttClient::connect(
        addr,
        ClientOptions::new("c1", "localhost", rpk_tls.clone()),
        fixed(creds.clone()),
    )
    .await
    .unwrap();
    assert_eq!(
        c.subscribe("room/+/temp", QoS::AtLeastOnce).await.unwrap(),
        1
    );
    c.publish("room/1/temp", b"20", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(c.recv(Some(T)).await.unwrap().payload, b"20");
    c.disconnect().await.unwrap();

    // No raw public key: the TLS handshake fails (no CONNACK at all).
    let plain_tls = mqtt_tls_profile::https::client_tls(std::slice::from_ref(&cert)).unwrap();
    let r = MqttClient::connect(
        addr,
        ClientOptions::new("c2", "localhost", plain_tls),
        fixed(creds.clone()),
    )
    .await;
    assert!(
        r.is_err() && !matches!(r, Err(mqtt_tls_profile::Error::Refused(_))),
        "{:?}",
        r.err()
    );

    // kill -9, restart: a new reference token is introspected over the restored context.
    child.0.kill().unwrap();
    let _ = wait_exit(&mut child.0, T);
    let (mut child, addr, _rx) = spawn_broker(&cfg);
    let creds = source.request().await.unwrap();
    let mut c = MqttClient::connect(
        addr,
        ClientOptions::new("c1", "localhost", rpk_tls),
        fixed(creds),
    )
    .await
    .unwrap();
    assert_eq!(
        c.subscribe("room/+/temp", QoS::AtLeastOnce).await.unwrap(),
        1
    );
    c.disconnect().await.unwrap();

    stop_gracefully(&mut child.0);
    as_handle.shutdown().await;
    let _ = std::fs::remove_dir_all(&d);
}

/// `client_ca` + `require_client_cert` (RFC 9431 §2.2.1 `TLS:Known-Cert`, MQ-010): a client
/// whose certificate chains to the configured CA (here a self-signed client certificate that
/// is its own CA) connects, and its token decides (SUBACK 0x87 outside the scope); without a
/// certificate, or with another one, the handshake fails. Contradictory client-auth settings
/// are configuration errors (exit 2).
#[tokio::test]
async fn broker_serve_requires_client_certificates() {
    use mqtt_tls_profile::driver::{ClientOptions, MqttClient};

    let d = tempdir("broker-client-cert");
    let as_key = generate_as_key(&d);
    let cert = write_broker_cert(&d);
    let (client_cert, client_key) = ace_server::http::self_signed(&["client1"]).unwrap();
    std::fs::write(d.join("client-ca.pem"), pem("CERTIFICATE", &client_cert)).unwrap();

    // Configuration errors first.
    for bad in [
        "require_client_cert = true\n",
        "client_ca = \"client-ca.pem\"\nclient_raw_public_keys = [\"k.pem\"]\n",
    ] {
        let cfg = write_config(&d, &format!("{bad}{AS_KEYS}"));
        let o = Command::new(ACE)
            .args(["broker", "serve", "-c"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(2),
            "{bad}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    let cfg = write_config(
        &d,
        &format!("client_ca = \"client-ca.pem\"\nrequire_client_cert = true\n{AS_KEYS}"),
    );
    let (mut child, addr, _rx) = spawn_broker(&cfg);
    let creds = signed_creds(&as_key);
    let with_cert = mqtt_tls_profile::tls::client_tls_with_cert(
        std::slice::from_ref(&cert),
        std::slice::from_ref(&client_cert),
        &client_key,
    )
    .unwrap();
    let mut c = MqttClient::connect(
        addr,
        ClientOptions::new("c1", "localhost", with_cert),
        fixed(creds.clone()),
    )
    .await
    .unwrap();
    assert_eq!(c.subscribe("t/1", QoS::AtLeastOnce).await.unwrap(), 1);
    let r = c.subscribe("other", QoS::AtLeastOnce).await;
    assert!(
        matches!(r, Err(mqtt_tls_profile::Error::Refused(0x87))),
        "{r:?}"
    );
    c.disconnect().await.unwrap();

    let (other_cert, other_key) = ace_server::http::self_signed(&["client1"]).unwrap();
    let other = mqtt_tls_profile::tls::client_tls_with_cert(
        std::slice::from_ref(&cert),
        std::slice::from_ref(&other_cert),
        &other_key,
    )
    .unwrap();
    let none = mqtt_tls_profile::https::client_tls(std::slice::from_ref(&cert)).unwrap();
    for (what, tls) in [("another certificate", other), ("no certificate", none)] {
        let r = MqttClient::connect(
            addr,
            ClientOptions::new("c2", "localhost", tls),
            fixed(creds.clone()),
        )
        .await;
        assert!(
            r.is_err() && !matches!(r, Err(mqtt_tls_profile::Error::Refused(_))),
            "{what}: {:?}",
            r.err()
        );
    }

    stop_gracefully(&mut child.0);
    let _ = std::fs::remove_dir_all(&d);
}
