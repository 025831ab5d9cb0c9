//! Interop: the independent Rust MQTT v5 client `mqtt5` 0.49.0 (LabOverWire mqtt-lib) against
//! our broker over TLS on 127.0.0.1, driving the RFC 9431 AUTH challenge/response
//! (§2.2.4.2.2) through its `AuthHandler` (`initial_response` = `len ‖ token`,
//! `handle_challenge` = `client nonce ‖ PoP(RS nonce ‖ client nonce)`), pub/sub allowed and
//! refused by scope at QoS 1 and 2, and re-authentication (AUTH 0x19, §4).
//!
//! `mqtt5`'s handler never sees the TLS session, so the exporter PoP (§2.2.4.2.1) is not
//! reachable with it (that one is covered by `interop_pyopenssl`).
#![cfg(feature = "broker")]

mod common;
#[path = "interop/harness.rs"]
mod harness;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use mqtt_tls_profile::consts::{AUTH_METHOD, RS_NONCE_LEN};
use mqtt_tls_profile::pop::{self, ClientKey};
use mqtt5::transport::tls::TlsConfig;
use mqtt5::{
    AuthHandler, AuthResponse, ConnectOptions, MqttClient, MqttError, QoS, SubscribeOptions,
};
use tokio::time::timeout;

const T: Duration = Duration::from_secs(10);

/// `mqtt5::client::auth_handler::AuthFuture` (its module is private).
type AuthFuture<'a, R> =
    std::pin::Pin<Box<dyn std::future::Future<Output = mqtt5::Result<R>> + Send + 'a>>;

/// The client side of RFC 9431 Figures 5-7 as an `mqtt5` `AuthHandler`.
struct AceChallenge {
    token: Mutex<Vec<u8>>,
    key: ClientKey,
    challenges: AtomicUsize,
    bad_nonces: AtomicUsize,
}

impl AceChallenge {
    fn new(token: Vec<u8>, key: ClientKey) -> Self {
        Self {
            token: Mutex::new(token),
            key,
            challenges: AtomicUsize::new(0),
            bad_nonces: AtomicUsize::new(0),
        }
    }
}

impl AuthHandler for AceChallenge {
    fn initial_response<'a>(&'a self, method: &'a str) -> AuthFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            assert_eq!(method, AUTH_METHOD);
            let token = self.token.lock().unwrap().clone();
            // Figure 5: token length ‖ token, no PoP: asks for the Broker's challenge.
            Ok(Some(
                pop::join_token(&token, &[]).map_err(|_| MqttError::AuthenticationFailed)?,
            ))
        })
    }

    fn handle_challenge<'a>(
        &'a self,
        method: &'a str,
        data: Option<&'a [u8]>,
    ) -> AuthFuture<'a, AuthResponse> {
        Box::pin(async move {
            self.challenges.fetch_add(1, Ordering::SeqCst);
            let Some(rs_nonce) = data.filter(|d| d.len() == RS_NONCE_LEN && method == "ace") else {
                self.bad_nonces.fetch_add(1, Ordering::SeqCst);
                return Ok(AuthResponse::Abort("not an ace challenge".into()));
            };
            // Figure 7: client nonce ‖ PoP over (RS nonce ‖ client nonce).
            let client_nonce: [u8; 8] = rand::random();
            let mut input = rs_nonce.to_vec();
            input.extend_from_slice(&client_nonce);
            let proof = self
                .key
                .prove(&input)
                .map_err(|_| MqttError::AuthenticationFailed)?;
            let mut out = client_nonce.to_vec();
            out.extend_from_slice(&proof);
            Ok(AuthResponse::Continue(out))
        })
    }
}

fn tls(broker: &harness::Running) -> TlsConfig {
    TlsConfig::new(broker.addr, "localhost")
        .with_root_certs(vec![broker.pki.ca_der.clone()])
        .with_system_roots(false)
        .with_connect_timeout(Duration::from_secs(5))
}

fn options(id: &str) -> ConnectOptions {
    ConnectOptions::new(id)
        .with_authentication_method(AUTH_METHOD)
        .with_automatic_reconnect(false)
        .with_keep_alive(Duration::from_secs(30))
}

async fn connect(
    broker: &harness::Running,
    id: &str,
    handler: AceChallenge,
) -> (MqttClient, Result<mqtt5::ConnectResult, MqttError>) {
    let client = new_client(id);
    client.set_auth_handler(handler).await;
    let r = timeout(
        T,
        client.connect_with_tls_and_options(tls(broker), options(id)),
    )
    .await
    .expect("connect timed out");
    (client, r)
}

/// `mqtt5` 0.49.0 takes the Authentication Method for its AUTH handling from the options
/// given at construction; `connect_with_tls_and_options` does not update it (a CONNECT with
/// method `ace` followed by the Broker's AUTH then fails with "AUTH received but CONNECT
/// carried no Authentication Method"). So the client is built with the same options.
fn new_client(id: &str) -> MqttClient {
    MqttClient::with_options(options(id))
}

fn exp() -> ace_token::UnixTime {
    NOW.saturating_add(3600)
}

#[tokio::test]
async fn mqtt5_challenge_response_and_scope() {
    let broker = harness::start(config(), NOW).await;
    let handler = AceChallenge::new(cwt_ed25519(FIG10, exp()), ed_client());
    let client = new_client("m5");
    let shared = std::sync::Arc::new(handler);
    client.set_auth_handler(ArcHandler(shared.clone())).await;
    timeout(
        T,
        client.connect_with_tls_and_options(tls(&broker), options("m5")),
    )
    .await
    .unwrap()
    .expect("challenge/response CONNECT refused");
    assert_eq!(shared.challenges.load(Ordering::SeqCst), 1);
    assert_eq!(shared.bad_nonces.load(Ordering::SeqCst), 0);

    // topic1 is pub+sub (Figure 10): subscribe at QoS 2, publish at QoS 2 and 1, receive both.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sub_opts = SubscribeOptions {
        qos: QoS::ExactlyOnce,
        ..SubscribeOptions::default()
    };
    let (_, granted) = timeout(
        T,
        client.subscribe_with_options("topic1", sub_opts, move |m| {
            let _ = tx.send((m.topic.clone(), m.payload.clone(), m.qos as u8));
        }),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(granted, QoS::ExactlyOnce);
    timeout(T, client.publish_qos2("topic1", b"two".to_vec()))
        .await
        .unwrap()
        .unwrap();
    timeout(T, client.publish_qos1("topic1", b"one".to_vec()))
        .await
        .unwrap()
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(timeout(T, rx.recv()).await.unwrap().unwrap());
    }
    got.sort();
    assert_eq!(
        got,
        [
            ("topic1".to_owned(), b"one".to_vec(), 1),
            ("topic1".to_owned(), b"two".to_vec(), 2),
        ]
    );
    // topic2/# is publish-only: SUBACK 0x87. +/topic3 is subscribe-only: PUBACK/PUBREC 0x87.
    let e = timeout(T, client.subscribe("topic2/#", |_| {}))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(e, MqttError::SubscriptionDenied(c) if c as u8 == 0x87),
        "{e:?}"
    );
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let e = timeout(T, client.publish_qos("x/topic3", b"no".to_vec(), qos))
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(e, MqttError::PublishFailed(c) if u8::from(c) == 0x87),
            "{qos:?}: {e:?}"
        );
    }
    timeout(T, client.disconnect()).await.unwrap().unwrap();
    broker.finish().await;
}

/// `mqtt5` takes the handler by value; this lets the test keep counters.
struct ArcHandler(std::sync::Arc<AceChallenge>);

impl AuthHandler for ArcHandler {
    fn initial_response<'a>(&'a self, method: &'a str) -> AuthFuture<'a, Option<Vec<u8>>> {
        self.0.initial_response(method)
    }
    fn handle_challenge<'a>(
        &'a self,
        method: &'a str,
        data: Option<&'a [u8]>,
    ) -> AuthFuture<'a, AuthResponse> {
        self.0.handle_challenge(method, data)
    }
}

#[tokio::test]
async fn mqtt5_wrong_key_and_bad_token_refused() {
    let broker = harness::start(config(), NOW).await;
    // The token binds the Ed25519 key; the client proves with a different (symmetric) key.
    let (_c, r) = connect(
        &broker,
        "wrong-key",
        AceChallenge::new(cwt_ed25519(FIG10, exp()), sym_client()),
    )
    .await;
    let e = r.unwrap_err();
    assert!(
        matches!(e, MqttError::ConnectionRefused(c) if u8::from(c) == 0x87),
        "{e:?}"
    );
    // An expired token is refused before any challenge (CONNACK 0x87).
    let h = std::sync::Arc::new(AceChallenge::new(
        cwt_ed25519(FIG10, NOW.saturating_sub(1)),
        ed_client(),
    ));
    let client = new_client("expired");
    client.set_auth_handler(ArcHandler(h.clone())).await;
    let e = timeout(
        T,
        client.connect_with_tls_and_options(tls(&broker), options("expired")),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(
        matches!(e, MqttError::ConnectionRefused(c) if u8::from(c) == 0x87),
        "{e:?}"
    );
    assert_eq!(h.challenges.load(Ordering::SeqCst), 0);
    broker.finish().await;
}

#[tokio::test]
async fn mqtt5_reauthentication_widens_scope() {
    let broker = harness::start(config(), NOW).await;
    let h = std::sync::Arc::new(AceChallenge::new(
        cwt_ed25519(r#"[["a",["pub","sub"]]]"#, exp()),
        ed_client(),
    ));
    let client = new_client("reauth");
    client.set_auth_handler(ArcHandler(h.clone())).await;
    timeout(
        T,
        client.connect_with_tls_and_options(tls(&broker), options("reauth")),
    )
    .await
    .unwrap()
    .unwrap();
    let e = timeout(T, client.subscribe("b", |_| {}))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(e, MqttError::SubscriptionDenied(c) if c as u8 == 0x87),
        "{e:?}"
    );
    // AUTH 0x19 with a token that also grants "b"; the Broker challenges again (RFC 9431 §4).
    *h.token.lock().unwrap() = cwt_ed25519(r#"[["a",["pub","sub"]],["b",["sub"]]]"#, exp());
    timeout(T, client.reauthenticate()).await.unwrap().unwrap();
    // The client's answer to the new challenge is written by its reader task; retry the
    // SUBSCRIBE until the new grant is in force (bounded).
    let deadline = tokio::time::Instant::now() + T;
    loop {
        match timeout(T, client.subscribe("b", |_| {})).await.unwrap() {
            Ok((_, q)) => {
                assert_eq!(q, QoS::AtMostOnce);
                break;
            }
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "still refused: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert_eq!(h.challenges.load(Ordering::SeqCst), 2);
    assert!(client.is_connected().await);
    timeout(T, client.disconnect()).await.unwrap().unwrap();
    broker.finish().await;
}
