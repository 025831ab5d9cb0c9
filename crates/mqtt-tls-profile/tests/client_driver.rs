//! The client connection (`driver`) and token sources against our broker and the in-process
//! AS over HTTPS, all on 127.0.0.1 with the system clock. Every test is bounded in time.
#![cfg(all(feature = "broker", feature = "client"))]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ace_crypto::{KeyType, PrivateKey};
use mqtt_tls_profile::Error;
use mqtt_tls_profile::driver::{ClientOptions, MqttClient, PopChoice};
use mqtt_tls_profile::mqtt5_protocol::QoS;
use mqtt_tls_profile::pop::ClientKey;
use mqtt_tls_profile::token_source::HttpsTokenSource;
use support::*;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);
const SCOPE: &str = r#"[["room/+/temp",["pub","sub"]],["alerts/#",["sub"]]]"#;

fn ed() -> PrivateKey {
    PrivateKey::generate(KeyType::Ed25519, &mut ace_crypto::os_rng())
}

/// Token from the AS over HTTPS (JSON), exporter PoP and challenge PoP, pub/sub at QoS 0, 1
/// and 2, refusals inside the scope's limits.
#[tokio::test]
async fn https_token_then_pub_sub_with_both_pop_methods() {
    timeout(LIMIT, async {
        let a = start_as(SCOPE, 600, false).await;
        let b = start_broker(a.auth_config(), |_| {}).await;
        let source = |key| {
            HttpsTokenSource::new(
                a.endpoint(CLIENT_ID, CLIENT_SECRET),
                AUDIENCE,
                aif(SCOPE),
                Some(key),
            )
        };
        let direct = source(ed()).request().await.unwrap();
        assert!(direct.expires_at.is_some(), "expires_in from the AS");
        assert!(!direct.token.is_empty());

        let mut sub = MqttClient::connect(
            b.addr,
            ClientOptions::new("sub", "localhost", b.client_tls()),
            source(ed()),
        )
        .await
        .unwrap();
        assert!(!sub.session_present());
        assert_eq!(
            sub.subscribe("room/+/temp", QoS::ExactlyOnce)
                .await
                .unwrap(),
            2
        );
        // Outside the scope: SUBACK 0x87.
        assert!(matches!(
            sub.subscribe("secret/#", QoS::AtMostOnce).await,
            Err(Error::Refused(0x87))
        ));

        let mut opts = ClientOptions::new("pub", "localhost", b.client_tls());
        opts.pop = PopChoice::Challenge;
        let mut publ = MqttClient::connect(b.addr, opts, source(ed()))
            .await
            .unwrap();
        for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
            .into_iter()
            .enumerate()
        {
            let body = format!("{i}");
            publ.publish("room/1/temp", body.as_bytes(), qos, false)
                .await
                .unwrap();
            let m = sub.recv(Some(Duration::from_secs(5))).await.unwrap();
            assert_eq!(m.topic, "room/1/temp");
            assert_eq!(m.payload, body.as_bytes());
            assert_eq!(m.qos, qos as u8);
        }
        // `alerts/#` is subscribe-only: PUBACK 0x87 at QoS 1.
        assert!(matches!(
            publ.publish("alerts/x", b"no", QoS::AtLeastOnce, false)
                .await,
            Err(Error::Refused(0x87))
        ));
        publ.disconnect().await.unwrap();
        sub.disconnect().await.unwrap();
        b.finish().await;
    })
    .await
    .unwrap();
}

/// The AS refuses a scope the policy does not allow: `invalid_scope`; a wrong client secret:
/// 401 `invalid_client`; a token for another key: CONNACK 0x87.
#[tokio::test]
async fn refusals_by_the_as_and_the_broker() {
    timeout(LIMIT, async {
        let a = start_as(SCOPE, 600, false).await;
        let b = start_broker(a.auth_config(), |_| {}).await;
        let wide = HttpsTokenSource::new(
            a.endpoint(CLIENT_ID, CLIENT_SECRET),
            AUDIENCE,
            aif(r##"[["#",["pub","sub"]]]"##),
            Some(ed()),
        );
        match wide.request().await {
            Err(Error::AsRefused { status: 400, error }) => assert_eq!(error, "invalid_scope"),
            other => panic!("expected invalid_scope, got {other:?}"),
        }
        let bad_secret = HttpsTokenSource::new(
            a.endpoint(CLIENT_ID, b"wrong"),
            AUDIENCE,
            aif(SCOPE),
            Some(ed()),
        );
        match bad_secret.request().await {
            Err(Error::AsRefused { status: 401, error }) => assert_eq!(error, "invalid_client"),
            other => panic!("expected invalid_client, got {other:?}"),
        }
        // Token for key A, proof with key B.
        let mut creds = local_token(&a, &ed(), SCOPE, 600);
        creds.key = ClientKey::Private(ed());
        let once = move || {
            let c = creds.clone();
            async move { Ok::<_, Error>(c) }
        };
        let r = MqttClient::connect(
            b.addr,
            ClientOptions::new("x", "localhost", b.client_tls()),
            once,
        )
        .await;
        assert!(matches!(r, Err(Error::Refused(0x87))), "{r:?}");
        b.finish().await;
    })
    .await
    .unwrap();
}

/// Tokens of 3–4 s from a callback: the client re-authenticates (AUTH 0x19 → challenge →
/// AUTH 0x00) before each expires, so the broker never disconnects it for expiry, and the
/// second token's wider scope is in force on the live connection.
#[tokio::test]
async fn reauthenticates_before_expiry_with_tokens_from_a_callback() {
    timeout(LIMIT, async {
        let a = Arc::new(start_as(SCOPE, 600, false).await);
        let b = start_broker(a.auth_config(), |_| {}).await;
        let calls = Arc::new(AtomicU32::new(0));
        let (a2, c2) = (a.clone(), calls.clone());
        let callback = move || {
            let n = c2.fetch_add(1, Ordering::SeqCst);
            // The first token (4 s) allows room/+/temp only; later ones (3 s) also news/#.
            let (scope, secs) = if n == 0 {
                (r#"[["room/+/temp",["pub","sub"]]]"#, 4)
            } else {
                (
                    r#"[["room/+/temp",["pub","sub"]],["news/#",["pub","sub"]]]"#,
                    3,
                )
            };
            let c = local_token(&a2, &ed(), scope, secs);
            async move { Ok::<_, Error>(c) }
        };
        let mut opts = ClientOptions::new("short", "localhost", b.client_tls());
        opts.reauth_margin = Duration::from_secs(2);
        let mut c = MqttClient::connect(b.addr, opts, callback).await.unwrap();
        assert!(matches!(
            c.subscribe("news/#", QoS::AtLeastOnce).await,
            Err(Error::Refused(0x87))
        ));
        // 4.5 s: longer than the first token's life; re-authentication happens while waiting.
        let r = c.recv(Some(Duration::from_millis(4500))).await;
        assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
        assert!(c.reauthentications() >= 1, "no re-authentication");
        assert!(calls.load(Ordering::SeqCst) >= 2);
        // Still connected, with the new scope.
        assert_eq!(c.subscribe("news/#", QoS::AtLeastOnce).await.unwrap(), 1);
        c.publish("news/a", b"fresh", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        let m = c.recv(Some(Duration::from_secs(5))).await.unwrap();
        assert_eq!(m.payload, b"fresh");
        c.disconnect().await.unwrap();
        b.finish().await;
    })
    .await
    .unwrap();
}

/// `max_connections`: a connection over the limit is closed at accept (the TLS handshake
/// fails); the permit comes back when a connection ends.
#[tokio::test]
async fn connections_over_the_limit_are_closed_at_accept() {
    timeout(LIMIT, async {
        let a = start_as(SCOPE, 600, false).await;
        let b = start_broker(a.auth_config(), |c| c.max_connections = 1).await;
        let creds = local_token(&a, &ed(), SCOPE, 600);
        let fixed = |c: mqtt_tls_profile::token_source::Credentials| {
            move || std::future::ready(Ok::<_, Error>(c.clone()))
        };
        let opts = |id: &str| ClientOptions::new(id, "localhost", b.client_tls());
        let first = MqttClient::connect(b.addr, opts("one"), fixed(creds.clone()))
            .await
            .unwrap();
        let r = MqttClient::connect(b.addr, opts("two"), fixed(creds.clone())).await;
        assert!(matches!(r, Err(Error::Transport(_))), "{r:?}");
        first.disconnect().await.unwrap();
        let mut admitted = false;
        for _ in 0..50 {
            if let Ok(c) = MqttClient::connect(b.addr, opts("three"), fixed(creds.clone())).await {
                c.disconnect().await.unwrap();
                admitted = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(admitted, "the permit was not released");
        b.finish().await;
    })
    .await
    .unwrap();
}
