//! RFC 9431 on loopback: our broker on 127.0.0.1 (self-signed certificate) and the client
//! driver with a token the "AS" (a P-256 key in this process) issues for an Ed25519 client
//! key. The client connects with the TLS-exporter PoP, subscribes, publishes at QoS 1,
//! receives its message, and re-authenticates with a second token.
//!
//! `cargo run -p mqtt-tls-profile --example loopback_client`

use std::sync::Arc;
use std::time::Duration;

use ace_crypto::{Algorithm, CryptoBackend as _, KeyType, PrivateKey};
use ace_token::{
    AceProfile, ClaimsBuilder, Confirmation, Issuer, KeySet, Policy, PopKey, RustCrypto, Scope,
    TokenKey, UnixTime, Validator,
};
use mqtt_tls_profile::AuthConfig;
use mqtt_tls_profile::broker::{Broker, BrokerConfig};
use mqtt_tls_profile::driver::{ClientOptions, MqttClient};
use mqtt_tls_profile::mqtt5_protocol::QoS;
use mqtt_tls_profile::pop::ClientKey;
use mqtt_tls_profile::token_source::Credentials;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

type Error = Box<dyn std::error::Error>;

fn token(as_key: &PrivateKey, client: &PrivateKey) -> Result<Credentials, Error> {
    let scope = aif::MqttAif::from_json(br#"[["sensors/#",["pub","sub"]]]"#)?;
    let exp = UnixTime::now().saturating_add(600);
    let claims = ClaimsBuilder::new()
        .issuer("as")
        .audience("broker1")
        .expiration(exp)
        .cnf(Confirmation::cose_key(PopKey::public(
            RustCrypto.public_key(client)?,
        )))
        .scope(Scope::Binary(scope.to_cbor()?))
        .ace_profile(AceProfile::MQTT_TLS)
        .build();
    let token = Issuer::new(&RustCrypto).sign1(&claims, Algorithm::ES256, as_key, Some(b"as"))?;
    Ok(Credentials {
        token,
        key: ClientKey::Private(client.clone()),
        expires_at: Some(exp),
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut rng = ace_crypto::os_rng();
    let as_key = PrivateKey::generate(KeyType::P256, &mut rng);
    let client_key = PrivateKey::generate(KeyType::Ed25519, &mut rng);

    // The broker: trusts the AS key, audience `broker1`.
    let keys =
        KeySet::new().with(TokenKey::public(RustCrypto.public_key(&as_key)?).with_kid(*b"as"));
    let auth = AuthConfig::new(
        Validator::new(Policy::new("broker1").with_issuer("as")),
        Arc::new(keys),
    );
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let cert: CertificateDer<'static> = ck.cert.der().clone();
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der())),
    )?;
    let broker = Broker::bind(
        "127.0.0.1:0".parse()?,
        BrokerConfig::new(auth, Arc::new(tls)),
    )
    .await?;
    let addr = broker.local_addr()?;
    let stop = broker.shutdown_handle();
    let served = tokio::spawn(broker.serve());
    println!("broker on {addr}");

    // The client: each fetch is a new token (a callback standing in for the AS).
    let source = {
        let (as_key, client_key) = (as_key.clone(), client_key.clone());
        move || {
            std::future::ready(
                token(&as_key, &client_key)
                    .map_err(|e| mqtt_tls_profile::Error::Transport(e.to_string())),
            )
        }
    };
    let opts = ClientOptions::new(
        "example",
        "localhost",
        mqtt_tls_profile::driver::tls_config(&[cert.to_vec()])?,
    );
    let mut client = MqttClient::connect(addr, opts, source).await?;
    println!("connected (exporter PoP)");
    let granted = client.subscribe("sensors/+", QoS::AtLeastOnce).await?;
    println!("SUBACK: QoS {granted}");
    client
        .publish("sensors/t1", b"21.5", QoS::AtLeastOnce, false)
        .await?;
    let m = client.recv(Some(Duration::from_secs(5))).await?;
    println!(
        "received {} = {}",
        m.topic,
        String::from_utf8_lossy(&m.payload)
    );
    client.reauthenticate().await?;
    println!("re-authenticated (AUTH 0x19 → challenge → AUTH 0x00)");
    match client.subscribe("other/#", QoS::AtMostOnce).await {
        Err(e) => println!("outside the scope: {e}"),
        Ok(q) => println!("unexpected: granted {q}"),
    }
    client.disconnect().await?;
    stop.shutdown();
    served.await??;
    Ok(())
}
