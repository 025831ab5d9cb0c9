//! An in-process AS over HTTPS (`ace-server`'s axum router on 127.0.0.1:0, self-signed
//! certificate for `localhost`) issuing RFC 9431 tokens for the audience `broker1`, and our
//! broker on 127.0.0.1:0 with the system clock. Test code only.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ace_core::{
    AsConfig, AsEngine, ClientCredential, ClientInfo, MemoryRegistry, ResourceServerInfo, Scope,
    StaticPolicy, TokenFormat,
};
use ace_crypto::{CryptoBackend as _, KeyType, PrivateKey, PublicKey, SecretBytes};
use ace_server::AsService;
use ace_server::http::{self, HttpClients, TlsListener};
use ace_token::{
    AceProfile, Algorithm, ClaimsBuilder, Confirmation, Issuer, KeySet, Policy, PopKey, RustCrypto,
    TokenKey, UnixTime, Validator,
};
use aif::MqttAif;
use mqtt_tls_profile::AuthConfig;
use mqtt_tls_profile::broker::{Broker, BrokerConfig, ShutdownHandle};
use mqtt_tls_profile::driver::MqttClient;
use mqtt_tls_profile::https::HttpsEndpoint;
use mqtt_tls_profile::mqtt5_protocol::QoS;
use mqtt_tls_profile::pop::ClientKey;
use mqtt_tls_profile::token_source::{Credentials, TokenSource};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub const AUDIENCE: &str = "broker1";
pub const CLIENT_ID: &str = "client1";
pub const CLIENT_SECRET: &[u8] = b"client1-secret-0123456789";
pub const BROKER_SECRET: &[u8] = b"broker1-secret-0123456789";
pub const AS_KID: &[u8] = b"as-key";

pub fn aif(json: &str) -> MqttAif {
    MqttAif::from_json(json.as_bytes()).unwrap()
}

pub struct TestAs {
    pub addr: SocketAddr,
    pub cert_der: Vec<u8>,
    pub signing_key: PrivateKey,
    pub service: AsService,
}

impl TestAs {
    pub fn public_key(&self) -> PublicKey {
        RustCrypto.public_key(&self.signing_key).unwrap()
    }
    pub fn endpoint(&self, id: &str, secret: &[u8]) -> HttpsEndpoint {
        HttpsEndpoint {
            addr: self.addr,
            server_name: "localhost".into(),
            tls: mqtt_tls_profile::driver::tls_config(std::slice::from_ref(&self.cert_der))
                .unwrap(),
            basic: Some((id.to_owned(), SecretBytes::from_slice(secret))),
            timeout: Duration::from_secs(5),
        }
    }
    /// The broker's key set: the AS's public key under `as-key`.
    pub fn auth_config(&self) -> AuthConfig {
        let keys =
            KeySet::new().with(TokenKey::public(self.public_key()).with_kid(AS_KID.to_vec()));
        let v = Validator::new(Policy::new(AUDIENCE).with_issuer("as").with_clock_skew(0));
        AuthConfig::new(v, Arc::new(keys))
    }
}

/// The AS: `client1` may get `allowed` (AIF-MQTT JSON, as the base64url scope string) for
/// `broker1`; `broker1` may introspect tokens for itself. Tokens are `format` (a COSE_Sign1
/// by the AS key when `None`), lifetime `lifetime` seconds.
pub async fn start_as(allowed: &str, lifetime: u64, reference: bool) -> TestAs {
    let signing_key = PrivateKey::generate(KeyType::P256, &mut ace_crypto::os_rng());
    let format = if reference {
        TokenFormat::Reference { len: 16 }
    } else {
        TokenFormat::Sign1 {
            alg: Algorithm::ES256,
            key: signing_key.clone(),
            kid: Some(AS_KID.to_vec()),
        }
    };
    let mut rs = ResourceServerInfo::new(AUDIENCE, AceProfile::MQTT_TLS, format);
    rs.lifetime = lifetime;
    let registry = MemoryRegistry::new()
        .with_client(
            ClientInfo::new(CLIENT_ID)
                .with_credential(ClientCredential::Secret(SecretBytes::from_slice(
                    CLIENT_SECRET,
                )))
                .with_profile(AceProfile::MQTT_TLS)
                .with_default_audience(AUDIENCE),
        )
        .with_client(
            ClientInfo::new(AUDIENCE)
                .with_grant_types(&[])
                .with_credential(ClientCredential::Secret(SecretBytes::from_slice(
                    BROKER_SECRET,
                )))
                .with_introspection(&[AUDIENCE]),
        )
        .with_resource_server(rs);
    let scope = mqtt_tls_profile::token_source::scope_text(&aif(allowed)).unwrap();
    let policy = StaticPolicy::new().allow(CLIENT_ID, AUDIENCE, Scope::Text(scope));
    let engine = AsEngine::new(
        AsConfig::new("as"),
        Box::new(registry),
        Box::new(policy),
        Box::new(ace_core::MemoryTokenStore::new()),
        Arc::new(RustCrypto),
    )
    .with_profiles(vec![Arc::new(mqtt_tls_profile::as_profile::MqttTls)]);
    let service = AsService::new(engine);
    let (cert, key) = http::self_signed(&["localhost"]).unwrap();
    let tls = http::server_config(cert.clone(), key).unwrap();
    let listener = TlsListener::bind("127.0.0.1:0".parse().unwrap(), tls)
        .await
        .unwrap();
    let addr = axum::serve::Listener::local_addr(&listener).unwrap();
    let clients = HttpClients::new()
        .with(CLIENT_ID, CLIENT_SECRET)
        .with(AUDIENCE, BROKER_SECRET);
    let router = http::router(service.clone(), clients);
    tokio::spawn(http::serve(listener, router, std::future::pending()));
    TestAs {
        addr,
        cert_der: cert,
        signing_key,
        service,
    }
}

pub struct TestBroker {
    pub addr: SocketAddr,
    pub cert_der: Vec<u8>,
    pub stop: ShutdownHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestBroker {
    pub fn client_tls(&self) -> Arc<rustls::ClientConfig> {
        mqtt_tls_profile::driver::tls_config(std::slice::from_ref(&self.cert_der)).unwrap()
    }
    pub async fn finish(self) {
        self.stop.shutdown();
        tokio::time::timeout(Duration::from_secs(8), self.task)
            .await
            .expect("broker did not stop")
            .unwrap()
            .unwrap();
    }
}

/// Our broker with the system clock; `edit` adjusts the configuration.
pub async fn start_broker(auth: AuthConfig, edit: impl FnOnce(&mut BrokerConfig)) -> TestBroker {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert: CertificateDer<'static> = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.clone()], key)
    .unwrap();
    let mut cfg = BrokerConfig::new(auth, Arc::new(server));
    cfg.connect_timeout = Duration::from_secs(5);
    edit(&mut cfg);
    let broker = Broker::bind("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .unwrap();
    let addr = broker.local_addr().unwrap();
    let stop = broker.shutdown_handle();
    let task = tokio::spawn(broker.serve());
    TestBroker {
        addr,
        cert_der: cert.to_vec(),
        stop,
        task,
    }
}

/// A COSE_Sign1 token by the AS key for `key`, valid `secs` seconds.
pub fn local_token(a: &TestAs, key: &PrivateKey, scope: &str, secs: u64) -> Credentials {
    let exp = UnixTime::now().saturating_add(secs);
    let claims = ClaimsBuilder::new()
        .issuer("as")
        .audience(AUDIENCE)
        .expiration(exp)
        .cti(*b"drv-1")
        .cnf(Confirmation::cose_key(PopKey::public(
            RustCrypto.public_key(key).unwrap(),
        )))
        .scope(Scope::Binary(aif(scope).to_cbor().unwrap()))
        .ace_profile(AceProfile::MQTT_TLS)
        .build();
    let token = Issuer::new(&RustCrypto)
        .sign1(
            &claims,
            ace_crypto::Algorithm::ES256,
            &a.signing_key,
            Some(AS_KID),
        )
        .unwrap();
    Credentials {
        token,
        key: ClientKey::Private(key.clone()),
        expires_at: Some(exp),
    }
}

/// A fresh Ed25519 PoP key.
pub fn ed() -> PrivateKey {
    PrivateKey::generate(KeyType::Ed25519, &mut ace_crypto::os_rng())
}

/// A token source that always hands out `c`.
pub fn fixed(
    c: Credentials,
) -> impl FnMut() -> std::future::Ready<mqtt_tls_profile::Result<Credentials>> + Send {
    move || std::future::ready(Ok(c.clone()))
}

/// Publishes each `(topic, payload, QoS)` of `msgs` with `p`, not retained, in order.
pub async fn publish_all<S: TokenSource>(p: &mut MqttClient<S>, msgs: &[(&str, &[u8], QoS)]) {
    for &(topic, payload, qos) in msgs {
        p.publish(topic, payload, qos, false).await.unwrap();
    }
}
