//! The AS over CoAP (feature `coap`): an in-process `ace-server` AS (`AsService::router` on
//! 127.0.0.1:0) served twice — OSCORE (contexts for the client, Sender ID `c1`, and the
//! broker, `b1`) and plain CoAP — issuing RFC 9431 tokens for `broker1`.
//!
//! * `CoapTokenSource` (RFC 9431 §2.1 over CoAP, `application/ace+cbor`): token over OSCORE
//!   and over plain CoAP (`client_secret`), used by the client driver against our broker
//!   (pub/sub inside the scope, SUBACK 0x87 outside); refusals: `invalid_scope` (4.00),
//!   `invalid_client` (4.01, wrong secret), a wrong OSCORE secret (no answer the client can
//!   verify).
//! * Introspection over CoAP + OSCORE (RFC 9200 §5.9, MQ-073): 16-byte reference tokens
//!   introspected by the broker (scope applied, a reference the AS never issued 0x87), an
//!   AS that does not answer / a broker without introspection rights → 0x88.
//!
//! Every wait is bounded.
#![cfg(all(feature = "broker", feature = "client", feature = "coap"))]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ace_core::{
    AsConfig, AsEngine, ClientCredential, ClientInfo, MemoryRegistry, ResourceServerInfo, Scope,
    StaticPolicy, TokenFormat,
};
use ace_crypto::{KeyType, PrivateKey, SecretBytes};
use ace_oscore::coap::OscoreLayer;
use ace_oscore::{ContextParams, ContextSet, MemorySequenceStore, SecurityContext};
use ace_token::{AceProfile, Algorithm, KeySet, Policy, RustCrypto, TokenKey, Validator};
use mqtt_tls_profile::coap_as::CoapEndpoint;
use mqtt_tls_profile::driver::{ClientOptions, MqttClient};
use mqtt_tls_profile::introspect::IntrospectionConfig;
use mqtt_tls_profile::mqtt5_protocol::QoS;
use mqtt_tls_profile::token_source::CoapTokenSource;
use mqtt_tls_profile::{AuthConfig, Error};
use support::{AUDIENCE, TestBroker, aif, start_broker};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(40);
const SCOPE: &str = r#"[["room/+/temp",["pub","sub"]]]"#;
const CLIENT_SECRET: &[u8] = b"client1-coap-secret";
const C_OSCORE: &[u8] = b"client1-oscore-master-secret";
const B_OSCORE: &[u8] = b"broker1-oscore-master-secret";

struct CoapAs {
    oscore: SocketAddr,
    plain: SocketAddr,
    public: ace_crypto::PublicKey,
    handles: Vec<ace_coap::ServerHandle>,
}

impl CoapAs {
    fn auth_config(&self) -> AuthConfig {
        let keys = KeySet::new().with(TokenKey::public(self.public.clone()).with_kid(*b"as-key"));
        let v = Validator::new(Policy::new(AUDIENCE).with_issuer("as").with_clock_skew(0));
        AuthConfig::new(v, Arc::new(keys))
    }
    async fn finish(self) {
        for h in &self.handles {
            h.shutdown().await;
        }
    }
}

fn ctx(secret: &[u8], sender: &[u8], recipient: &[u8]) -> SecurityContext<RustCrypto> {
    SecurityContext::new(
        RustCrypto,
        ContextParams::new(secret, b"", sender, recipient),
    )
    .unwrap()
}

/// The AS: `client1` (OSCORE `c1` or `client_secret`) may get `SCOPE` for `broker1`;
/// `broker1` (OSCORE `b1`) may introspect when `broker_introspects`. COSE_Sign1 tokens, or
/// 16-byte reference tokens with `reference`.
async fn start_coap_as(reference: bool, broker_introspects: bool) -> CoapAs {
    let signing = PrivateKey::generate(KeyType::P256, &mut ace_crypto::os_rng());
    let format = if reference {
        TokenFormat::Reference { len: 16 }
    } else {
        TokenFormat::Sign1 {
            alg: Algorithm::ES256,
            key: signing.clone(),
            kid: Some(b"as-key".to_vec()),
        }
    };
    let mut rs = ResourceServerInfo::new(AUDIENCE, AceProfile::MQTT_TLS, format);
    rs.lifetime = 600;
    let broker = ClientInfo::new(AUDIENCE)
        .with_grant_types(&[])
        .with_credential(ClientCredential::PskIdentity(b"b1".to_vec()));
    let broker = if broker_introspects {
        broker.with_introspection(&[AUDIENCE])
    } else {
        broker
    };
    let registry = MemoryRegistry::new()
        .with_client(
            ClientInfo::new("client1")
                .with_credential(ClientCredential::PskIdentity(b"c1".to_vec()))
                .with_credential(ClientCredential::Secret(SecretBytes::from_slice(
                    CLIENT_SECRET,
                )))
                .with_profile(AceProfile::MQTT_TLS)
                .with_default_audience(AUDIENCE),
        )
        .with_client(broker)
        .with_resource_server(rs);
    let scope = mqtt_tls_profile::token_source::scope_text(&aif(SCOPE)).unwrap();
    let engine = AsEngine::new(
        AsConfig::new("as"),
        Box::new(registry),
        Box::new(StaticPolicy::new().allow("client1", AUDIENCE, Scope::Text(scope))),
        Box::new(ace_core::MemoryTokenStore::new()),
        Arc::new(RustCrypto),
    )
    .with_profiles(vec![Arc::new(mqtt_tls_profile::as_profile::MqttTls)]);
    let service = ace_server::AsService::new(engine);
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut set = ContextSet::new();
    set.insert(ctx(C_OSCORE, b"as", b"c1"));
    set.insert(ctx(B_OSCORE, b"as", b"b1"));
    let layer = OscoreLayer::new(set, MemorySequenceStore::default());
    let s1 = ace_server::bind_coap(
        loopback,
        ace_coap::Config::default(),
        service.router(),
        layer,
    )
    .await
    .unwrap();
    let s2 = ace_server::bind_coap(
        loopback,
        ace_coap::Config::default(),
        service.router(),
        ace_coap::PlainCoap,
    )
    .await
    .unwrap();
    let (oscore, plain) = (s1.local_addr().unwrap(), s2.local_addr().unwrap());
    let handles = vec![s1.handle(), s2.handle()];
    tokio::spawn(s1.serve());
    tokio::spawn(s2.serve());
    CoapAs {
        oscore,
        plain,
        public: ace_token::crypto::CryptoBackend::public_key(&RustCrypto, &signing).unwrap(),
        handles,
    }
}

fn ed() -> PrivateKey {
    PrivateKey::generate(KeyType::Ed25519, &mut ace_crypto::os_rng())
}

/// An OSCORE endpoint to the AS with an in-memory sequence store (one process per test).
async fn oscore_endpoint(addr: SocketAddr, secret: &[u8], sender: &[u8]) -> CoapEndpoint {
    CoapEndpoint::oscore(
        addr,
        ctx(secret, sender, b"as"),
        MemorySequenceStore::default(),
    )
    .await
    .unwrap()
}

async fn client_endpoint(a: &CoapAs, secret: &[u8]) -> CoapEndpoint {
    let mut e = oscore_endpoint(a.oscore, secret, b"c1").await;
    e.timeout = Duration::from_secs(5);
    e
}

fn opts(b: &TestBroker, id: &str) -> ClientOptions {
    ClientOptions::new(id, "localhost", b.client_tls())
}

/// MQ-004…MQ-006 over CoAP: `CoapTokenSource` over OSCORE (Ed25519 `req_cnf`) and over
/// plain CoAP (`client_secret`); the tokens work at the broker; AS refusals.
#[tokio::test]
async fn coap_token_source_over_oscore_and_plain_coap() {
    timeout(LIMIT, async {
        let a = start_coap_as(false, true).await;
        let b = start_broker(a.auth_config(), |_| {}).await;

        // OSCORE: the token source drives the client's CONNECT. One endpoint (one context,
        // one sequence number space) for every OSCORE request of `c1`: a second context
        // from the same secret would start at sequence number 0 and be refused as a replay.
        let ep = client_endpoint(&a, C_OSCORE).await;
        let src = CoapTokenSource::new(
            ep.clone(),
            "client1",
            AUDIENCE,
            aif(SCOPE),
            Some(ed()),
        );
        let mut c = MqttClient::connect(b.addr, opts(&b, "c-oscore"), src).await.unwrap();
        assert_eq!(c.subscribe("room/+/temp", QoS::AtLeastOnce).await.unwrap(), 1);
        c.publish("room/1/temp", b"21", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(c.recv(Some(Duration::from_secs(5))).await.unwrap().payload, b"21");
        let e = c.subscribe("other", QoS::AtLeastOnce).await;
        assert!(matches!(e, Err(Error::Refused(0x87))), "{e:?}");
        c.disconnect().await.unwrap();

        // Plain CoAP with client_secret.
        let plain = CoapEndpoint::plain(a.plain, CLIENT_SECRET).await.unwrap();
        let src = CoapTokenSource::new(plain, "client1", AUDIENCE, aif(SCOPE), Some(ed()));
        let creds = src.request().await.unwrap();
        assert!(creds.expires_at.is_some());
        let mut c = MqttClient::connect(b.addr, opts(&b, "c-plain"), src).await.unwrap();
        assert_eq!(c.subscribe("room/2/temp", QoS::AtMostOnce).await.unwrap(), 0);
        c.disconnect().await.unwrap();

        // Refusals: a scope the policy does not allow (4.00 invalid_scope), a wrong
        // client_secret (4.01 invalid_client), a wrong OSCORE secret (nothing verifiable).
        let src = CoapTokenSource::new(
            ep.clone(),
            "client1",
            AUDIENCE,
            aif(r#"[["secret/#",["sub"]]]"#),
            Some(ed()),
        );
        let e = src.request().await.err();
        assert!(
            matches!(&e, Some(Error::AsRefused { status: 400, error }) if error == "invalid_scope"),
            "{e:?}"
        );
        let wrong = CoapEndpoint::plain(a.plain, b"wrong").await.unwrap();
        let e = CoapTokenSource::new(wrong, "client1", AUDIENCE, aif(SCOPE), Some(ed()))
            .request()
            .await
            .err();
        assert!(
            matches!(&e, Some(Error::AsRefused { status: 401, error }) if error == "invalid_client"),
            "{e:?}"
        );
        let e = CoapTokenSource::new(
            client_endpoint(&a, b"not the shared secret").await,
            "client1",
            AUDIENCE,
            aif(SCOPE),
            Some(ed()),
        )
        .request()
        .await
        .err();
        assert!(
            matches!(e, Some(Error::Transport(_) | Error::Timeout(_))),
            "{e:?}"
        );
        b.finish().await;
        a.finish().await;
    })
    .await
    .unwrap();
}

/// MQ-073 / MQ-085 over CoAP: the broker introspects reference tokens at the AS over
/// CoAP + OSCORE (its own context, Sender ID `b1`).
#[tokio::test]
async fn introspection_over_coap_oscore() {
    timeout(LIMIT, async {
        let a = start_coap_as(true, true).await;
        let mut be = oscore_endpoint(a.oscore, B_OSCORE, b"b1").await;
        be.timeout = Duration::from_secs(3);
        let mut ic = IntrospectionConfig::new(be);
        ic.max_age = Duration::from_secs(60);
        let b = start_broker(a.auth_config(), |c| c.introspection = Some(ic)).await;

        let src = CoapTokenSource::new(
            client_endpoint(&a, C_OSCORE).await,
            "client1",
            AUDIENCE,
            aif(SCOPE),
            Some(ed()),
        );
        let creds = src.request().await.unwrap();
        assert_eq!(creds.token.len(), 16, "a reference token");
        let fixed = |c: mqtt_tls_profile::token_source::Credentials| {
            move || std::future::ready(Ok::<_, Error>(c.clone()))
        };
        let mut c = MqttClient::connect(b.addr, opts(&b, "c1"), fixed(creds.clone()))
            .await
            .unwrap();
        assert_eq!(
            c.subscribe("room/+/temp", QoS::AtLeastOnce).await.unwrap(),
            1
        );
        c.publish("room/1/temp", b"19", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(
            c.recv(Some(Duration::from_secs(5))).await.unwrap().payload,
            b"19"
        );
        let e = c.subscribe("other", QoS::AtLeastOnce).await;
        assert!(
            matches!(e, Err(Error::Refused(0x87))),
            "outside the scope: {e:?}"
        );
        c.disconnect().await.unwrap();

        // A reference the AS never issued: inactive → 0x87.
        let mut bogus = creds.clone();
        bogus.token = vec![0x5A; 16];
        let r = MqttClient::connect(b.addr, opts(&b, "c2"), fixed(bogus)).await;
        assert!(matches!(r, Err(Error::Refused(0x87))), "{r:?}");
        b.finish().await;

        // A broker without introspection rights (4.03 at the AS) → 0x88.
        let a2 = start_coap_as(true, false).await;
        let mut be = oscore_endpoint(a2.oscore, B_OSCORE, b"b1").await;
        be.timeout = Duration::from_secs(3);
        let b2 = start_broker(a2.auth_config(), |c| {
            c.introspection = Some(IntrospectionConfig::new(be));
        })
        .await;
        let creds = CoapTokenSource::new(
            client_endpoint(&a2, C_OSCORE).await,
            "client1",
            AUDIENCE,
            aif(SCOPE),
            Some(ed()),
        )
        .request()
        .await
        .unwrap();
        let r = MqttClient::connect(b2.addr, opts(&b2, "c3"), fixed(creds.clone())).await;
        assert!(matches!(r, Err(Error::Refused(0x88))), "no rights: {r:?}");
        b2.finish().await;

        // An AS that does not answer (its CoAP servers stopped) → 0x88.
        a2.finish().await;
        let mut be = oscore_endpoint(a.oscore, B_OSCORE, b"b1").await;
        be.addr = "127.0.0.1:9".parse().unwrap();
        be.timeout = Duration::from_millis(500);
        let b3 = start_broker(a.auth_config(), |c| {
            c.introspection = Some(IntrospectionConfig::new(be));
        })
        .await;
        let r = MqttClient::connect(b3.addr, opts(&b3, "c4"), fixed(creds)).await;
        assert!(matches!(r, Err(Error::Refused(0x88))), "no AS: {r:?}");
        b3.finish().await;
        a.finish().await;
    })
    .await
    .unwrap();
}
