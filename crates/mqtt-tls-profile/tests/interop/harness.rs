//! Shared harness for the interop tests: our broker on 127.0.0.1:0 behind an rcgen CA, the
//! token/key/CA files in a private temp dir, our Rust client's login. Finding and running the
//! peers (bounded child processes) is `ace-interop-peers`'. Test code only.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mqtt_tls_profile::AuthConfig;
use mqtt_tls_profile::broker::{Broker, BrokerConfig, ShutdownHandle};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::time::timeout;

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let p = std::env::temp_dir().join(format!(
            "mqtt-tls-interop-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA certificate (PEM and DER) and a server certificate for `localhost` and `127.0.0.1`
/// signed by it, with the server's PKCS#8 key.
pub struct Pki {
    pub ca_pem: String,
    pub ca_der: CertificateDer<'static>,
    pub server_chain: Vec<CertificateDer<'static>>,
    pub server_key: Vec<u8>,
}

pub fn pki() -> Pki {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "ace-rs interop CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let mut leaf_params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
    Pki {
        ca_pem: ca.pem(),
        ca_der: ca.der().clone(),
        server_chain: vec![leaf.der().clone()],
        server_key: leaf_key.serialize_der(),
    }
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn server_tls(pki: &Pki) -> Arc<rustls::ServerConfig> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone()));
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(pki.server_chain.clone(), key)
            .unwrap(),
    )
}

/// Our broker on 127.0.0.1:0, clock fixed at `now`.
pub struct Running {
    pub addr: SocketAddr,
    pub pki: Pki,
    pub stop: ShutdownHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub async fn start(auth: AuthConfig, now: ace_token::UnixTime) -> Running {
    let pki = pki();
    let mut cfg = BrokerConfig::new(auth, server_tls(&pki));
    cfg.clock = Arc::new(move || now);
    cfg.connect_timeout = Duration::from_secs(5);
    let broker = Broker::bind("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .unwrap();
    let addr = broker.local_addr().unwrap();
    let stop = broker.shutdown_handle();
    let task = tokio::spawn(broker.serve());
    Running {
        addr,
        pki,
        stop,
        task,
    }
}

impl Running {
    pub async fn finish(self) {
        self.stop.shutdown();
        timeout(Duration::from_secs(8), self.task)
            .await
            .expect("broker did not stop")
            .unwrap()
            .unwrap();
    }
}

/// A TLS connection of our own Rust client to the broker, trusting only the test CA.
pub async fn rust_tls(
    addr: SocketAddr,
    ca: &CertificateDer<'static>,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    timeout(
        Duration::from_secs(5),
        tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp),
    )
    .await
    .unwrap()
    .unwrap()
}

/// Our Rust client's exporter-PoP login; returns the connection and the CONNACK reason code.
pub async fn rust_login(
    addr: SocketAddr,
    ca: &CertificateDer<'static>,
    client_id: &str,
    token: &[u8],
    key: &mqtt_tls_profile::pop::ClientKey,
) -> (tokio_rustls::client::TlsStream<tokio::net::TcpStream>, u8) {
    use mqtt_tls_profile::consts::{EXPORTER_CONTEXT, EXPORTER_LABEL};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut tls = rust_tls(addr, ca).await;
    let mut exporter = [0u8; 32];
    tls.get_ref()
        .1
        .export_keying_material(&mut exporter, EXPORTER_LABEL, Some(EXPORTER_CONTEXT))
        .unwrap();
    let c =
        mqtt_tls_profile::client::connect_with_exporter_pop(client_id, 30, token, key, &exporter)
            .unwrap();
    let bytes =
        mqtt_tls_profile::wire::encode_to_vec(&mqtt5_protocol::Packet::Connect(Box::new(c)))
            .unwrap();
    tls.write_all(&bytes).await.unwrap();
    let mut buf = Vec::new();
    loop {
        if let Some((p, _)) = mqtt_tls_profile::wire::decode_packet(&buf, 5, 1 << 20).unwrap() {
            let mqtt5_protocol::Packet::ConnAck(a) = p else {
                panic!("expected CONNACK, got {p:?}")
            };
            return (tls, u8::from(a.reason_code));
        }
        let mut chunk = [0u8; 1024];
        let n = timeout(Duration::from_secs(5), tls.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed before CONNACK");
        buf.extend_from_slice(&chunk[..n]);
    }
}
