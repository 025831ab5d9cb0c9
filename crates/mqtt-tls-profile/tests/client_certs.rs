//! TLS client authentication (RFC 9431 §2.2.1, `TLS:Known-Cert` + `MQTT:ace`) with
//! `tls::broker_tls` on 127.0.0.1: the broker asks for a client certificate chaining to a
//! configured CA (rcgen). A certificate only authenticates the TLS peer — the token still
//! decides: with the CA's certificate and a valid token the scope of the token applies
//! (SUBACK 1 inside, 0x87 outside), with an expired token CONNACK 0x87. Without a certificate
//! (when required) or with a certificate of another CA the handshake fails; an optional
//! certificate lets certificate-less clients in. Raw public keys (RFC 7250, TLS 1.3,
//! `TLS:Known-RPK` + `MQTT:ace`): a listed key with a valid token is served with the token's
//! scope, with an expired token CONNACK 0x87; an unlisted key, an X.509 client certificate and
//! no client key fail the handshake. Every wait is bounded.
#![cfg(all(feature = "broker", feature = "client"))]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use mqtt_tls_profile::broker::{Broker, BrokerConfig, ShutdownHandle};
use mqtt_tls_profile::driver::{ClientOptions, MqttClient};
use mqtt_tls_profile::mqtt5_protocol::QoS;
use mqtt_tls_profile::tls::{
    ClientCerts, broker_tls, client_tls_with_cert, client_tls_with_raw_key, raw_public_key,
};
use mqtt_tls_profile::token_source::Credentials;
use mqtt_tls_profile::{Error, Result};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

struct Ca {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let issuer =
            rcgen::CertifiedIssuer::self_signed(p, rcgen::KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }
    fn der(&self) -> Vec<u8> {
        self.issuer.der().to_vec()
    }
    /// (leaf DER, PKCS#8 key) for `name`, server or client usage.
    fn leaf(&self, name: &str, server: bool) -> (Vec<u8>, Vec<u8>) {
        let mut p = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        p.extended_key_usages = vec![if server {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        }];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (cert.der().to_vec(), key.serialize_der())
    }
}

struct Running {
    addr: std::net::SocketAddr,
    stop: ShutdownHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(server_ca: &Ca, client: ClientCerts) -> Running {
    let (cert, key) = server_ca.leaf("localhost", true);
    let tls = broker_tls(&[cert], &key, &client).unwrap();
    let mut cfg = BrokerConfig::new(config(), tls);
    cfg.clock = Arc::new(|| NOW);
    cfg.connect_timeout = Duration::from_secs(3);
    let b = Broker::bind("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .unwrap();
    Running {
        addr: b.local_addr().unwrap(),
        stop: b.shutdown_handle(),
        task: tokio::spawn(b.serve()),
    }
}

impl Running {
    async fn finish(self) {
        self.stop.shutdown();
        timeout(Duration::from_secs(8), self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

fn creds(exp: ace_token::UnixTime) -> Credentials {
    Credentials {
        token: cwt_ed25519(FIG10, exp),
        key: ed_client(),
        expires_at: None,
    }
}

async fn connect(
    r: &Running,
    tls: Arc<rustls::ClientConfig>,
    c: Credentials,
) -> Result<MqttClient<impl mqtt_tls_profile::token_source::TokenSource + use<>>> {
    let mut o = ClientOptions::new("c1", "localhost", tls);
    o.timeout = Duration::from_secs(3);
    MqttClient::connect(r.addr, o, move || std::future::ready(Ok(c.clone()))).await
}

/// A client TLS configuration trusting `server_ca` and presenting a `client1` certificate
/// issued by `client_ca`.
fn client_cert_tls(server_ca: &Ca, client_ca: &Ca) -> Arc<rustls::ClientConfig> {
    let (cert, key) = client_ca.leaf("client1", false);
    client_tls_with_cert(&[server_ca.der()], &[cert], &key).unwrap()
}

/// With a valid token, the connection fails before any CONNACK: the TLS handshake fails.
async fn assert_handshake_fails(r: &Running, tls: Arc<rustls::ClientConfig>, what: &str) {
    let e = connect(r, tls, creds(NOW.saturating_add(3600))).await.err();
    assert!(
        e.is_some() && !matches!(e, Some(Error::Refused(_))),
        "{what}: {e:?}"
    );
}

/// MQ-010 / §2.2.1 (`TLS:Known-Cert` + `MQTT:ace`): required client certificates.
#[tokio::test]
async fn client_certificate_required_and_token_still_decides() {
    timeout(LIMIT, async {
        let ca = Ca::new("clients CA");
        let rogue = Ca::new("rogue CA");
        let r = start(&ca, ClientCerts::Required(vec![ca.der()])).await;
        let with_cert = client_cert_tls(&ca, &ca);

        // Certificate + valid token: the token's scope (Figure 10) applies.
        let mut c = connect(&r, with_cert.clone(), creds(NOW.saturating_add(3600)))
            .await
            .unwrap();
        assert_eq!(c.subscribe("topic1", QoS::AtLeastOnce).await.unwrap(), 1);
        let e = c.subscribe("topic2/#", QoS::AtLeastOnce).await;
        assert!(
            matches!(e, Err(Error::Refused(0x87))),
            "outside the token's scope: {e:?}"
        );
        c.disconnect().await.unwrap();

        // Certificate + expired token: refused by the token check.
        let e = connect(&r, with_cert, creds(ace_token::UnixTime(NOW.0 - 60)))
            .await
            .err();
        assert!(matches!(e, Some(Error::Refused(0x87))), "{e:?}");

        // No certificate; a certificate of another CA: the handshake fails.
        let no_cert = mqtt_tls_profile::https::client_tls(&[ca.der()]).unwrap();
        assert_handshake_fails(&r, no_cert, "no certificate").await;
        let rogue_cert = client_cert_tls(&ca, &rogue);
        assert_handshake_fails(&r, rogue_cert, "certificate of another CA").await;
        r.finish().await;
    })
    .await
    .unwrap();
}

/// Optional client certificates: without one the client is served (token PoP as usual); a
/// certificate of another CA still fails the handshake.
#[tokio::test]
async fn client_certificate_optional() {
    timeout(LIMIT, async {
        let ca = Ca::new("clients CA");
        let rogue = Ca::new("rogue CA");
        let r = start(&ca, ClientCerts::Optional(vec![ca.der()])).await;
        let no_cert = mqtt_tls_profile::https::client_tls(&[ca.der()]).unwrap();
        let mut c = connect(&r, no_cert, creds(NOW.saturating_add(3600)))
            .await
            .unwrap();
        assert_eq!(c.subscribe("topic1", QoS::AtMostOnce).await.unwrap(), 0);
        c.disconnect().await.unwrap();
        let with_cert = client_cert_tls(&ca, &ca);
        let c = connect(&r, with_cert, creds(NOW.saturating_add(3600))).await;
        assert!(c.is_ok(), "certificate of the CA accepted");
        let rogue_cert = client_cert_tls(&ca, &rogue);
        assert_handshake_fails(&r, rogue_cert, "certificate of another CA").await;
        r.finish().await;
    })
    .await
    .unwrap();
}

/// RFC 9431 §2.2.1 `TLS:Known-RPK` + `MQTT:ace` (MQ-010): client raw public keys.
#[tokio::test]
async fn client_raw_public_keys() {
    timeout(LIMIT, async {
        let ca = Ca::new("server CA");
        let known = rcgen::KeyPair::generate().unwrap().serialize_der();
        let unknown = rcgen::KeyPair::generate().unwrap().serialize_der();
        let r = start(
            &ca,
            ClientCerts::RawPublicKeys(vec![raw_public_key(&known).unwrap()]),
        )
        .await;
        let tls = client_tls_with_raw_key(&[ca.der()], &known).unwrap();
        let mut c = connect(&r, tls.clone(), creds(NOW.saturating_add(3600)))
            .await
            .unwrap();
        assert_eq!(c.subscribe("topic1", QoS::AtLeastOnce).await.unwrap(), 1);
        let e = c.subscribe("topic2/#", QoS::AtLeastOnce).await;
        assert!(matches!(e, Err(Error::Refused(0x87))), "{e:?}");
        c.disconnect().await.unwrap();
        let e = connect(&r, tls, creds(ace_token::UnixTime(NOW.0 - 60)))
            .await
            .err();
        assert!(matches!(e, Some(Error::Refused(0x87))), "{e:?}");

        let other = client_tls_with_raw_key(&[ca.der()], &unknown).unwrap();
        let x509 = client_cert_tls(&ca, &ca);
        let none = mqtt_tls_profile::https::client_tls(&[ca.der()]).unwrap();
        for (what, tls) in [("unknown key", other), ("X.509", x509), ("none", none)] {
            assert_handshake_fails(&r, tls, what).await;
        }
        r.finish().await;
    })
    .await
    .unwrap();
}
