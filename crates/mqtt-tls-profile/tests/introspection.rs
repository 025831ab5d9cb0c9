//! Token validation by introspection (RFC 9200 §5.9; RFC 9431 §2.2.5, MQ-073, MQ-085) against
//! the in-process AS over HTTPS on 127.0.0.1: the AS issues 16-byte reference tokens for
//! `broker1`; the broker introspects them (as client `broker1`), caches the result until
//! `min(exp, max_age)`, and the PoP is checked against the introspected `cnf`.
#![cfg(all(feature = "broker", feature = "client"))]

mod support;

use std::time::Duration;

use ace_crypto::{KeyType, PrivateKey};
use ace_token::{AceProfile, ClaimsBuilder, UnixTime};
use mqtt_tls_profile::Error;
use mqtt_tls_profile::TokenStore;
use mqtt_tls_profile::driver::{ClientOptions, MqttClient, PopChoice};
use mqtt_tls_profile::introspect::IntrospectionConfig;
use mqtt_tls_profile::mqtt5_protocol::QoS;
use mqtt_tls_profile::pop::ClientKey;
use mqtt_tls_profile::token_source::{Credentials, HttpsTokenSource};
use support::*;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);
const SCOPE: &str = r#"[["room/+/temp",["pub","sub"]]]"#;

fn ed() -> PrivateKey {
    PrivateKey::generate(KeyType::Ed25519, &mut ace_crypto::os_rng())
}

fn fixed(
    c: Credentials,
) -> impl FnMut() -> std::future::Ready<mqtt_tls_profile::Result<Credentials>> + Send {
    move || std::future::ready(Ok(c.clone()))
}

/// MQ-085: a reference token is accepted after introspection (both PoP methods), its scope
/// applies, the cached result is used while the AS has revoked it (cache bound `max_age` =
/// 3 s), and after the bound the broker asks again and refuses it; a random reference is
/// refused with 0x87; an AS that refuses the broker's credentials or does not answer gives
/// CONNACK 0x88.
#[tokio::test]
async fn reference_tokens_are_introspected_and_cached_within_bounds() {
    timeout(LIMIT, async {
        let a = start_as(SCOPE, 600, true).await;
        let mut ic = IntrospectionConfig::new(a.endpoint(AUDIENCE, BROKER_SECRET));
        ic.max_age = Duration::from_secs(3);
        let b = start_broker(a.auth_config(), |c| c.introspection = Some(ic)).await;
        let key = ed();
        let creds = HttpsTokenSource::new(
            a.endpoint(CLIENT_ID, CLIENT_SECRET),
            AUDIENCE,
            aif(SCOPE),
            Some(key.clone()),
        )
        .request()
        .await
        .unwrap();
        assert_eq!(creds.token.len(), 16, "a reference token");

        let mut c = MqttClient::connect(
            b.addr,
            ClientOptions::new("ref", "localhost", b.client_tls()),
            fixed(creds.clone()),
        )
        .await
        .unwrap();
        assert_eq!(
            c.subscribe("room/1/temp", QoS::AtLeastOnce).await.unwrap(),
            1
        );
        assert!(matches!(
            c.subscribe("other", QoS::AtLeastOnce).await,
            Err(Error::Refused(0x87))
        ));
        c.publish("room/1/temp", b"21", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(
            c.recv(Some(Duration::from_secs(5))).await.unwrap().payload,
            b"21"
        );
        c.disconnect().await.unwrap();

        // Challenge PoP with the same token: served from the cache.
        let mut opts = ClientOptions::new("ref2", "localhost", b.client_tls());
        opts.pop = PopChoice::Challenge;
        MqttClient::connect(b.addr, opts.clone(), fixed(creds.clone()))
            .await
            .unwrap()
            .disconnect()
            .await
            .unwrap();

        // Wrong PoP key for the introspected cnf: 0x87.
        let mut wrong = creds.clone();
        wrong.key = ClientKey::Private(ed());
        let r = MqttClient::connect(
            b.addr,
            ClientOptions::new("ref3", "localhost", b.client_tls()),
            fixed(wrong),
        )
        .await;
        assert!(matches!(r, Err(Error::Refused(0x87))), "{r:?}");

        // Revoked at the AS: still accepted from the cache within max_age ...
        let cti = a
            .service
            .introspect(
                &ace_core::ChannelIdentity::ClientId(AUDIENCE.into()),
                &ace_core::IntrospectionRequest::new(creds.token.clone()),
            )
            .map(|r| match r {
                ace_core::AsResponse::Introspection(i) => i.cti.unwrap(),
                other => panic!("{other:?}"),
            })
            .unwrap();
        assert!(a.service.with_engine(|e| e.revoke(&cti)).unwrap().is_some());
        MqttClient::connect(b.addr, opts.clone(), fixed(creds.clone()))
            .await
            .expect("cached introspection result")
            .disconnect()
            .await
            .unwrap();
        // ... and refused once the cache entry ended (the AS now says inactive).
        tokio::time::sleep(Duration::from_millis(3100)).await;
        let r = MqttClient::connect(b.addr, opts.clone(), fixed(creds.clone())).await;
        assert!(matches!(r, Err(Error::Refused(0x87))), "{r:?}");

        // A reference the AS never issued.
        let mut random = creds.clone();
        random.token = vec![0x42; 16];
        let r = MqttClient::connect(b.addr, opts, fixed(random)).await;
        assert!(matches!(r, Err(Error::Refused(0x87))), "{r:?}");
        b.finish().await;

        // A broker whose AS credentials are wrong cannot introspect: 0x88 Server unavailable.
        let fresh = HttpsTokenSource::new(
            a.endpoint(CLIENT_ID, CLIENT_SECRET),
            AUDIENCE,
            aif(SCOPE),
            Some(key),
        )
        .request()
        .await
        .unwrap();
        let ic = IntrospectionConfig::new(a.endpoint(AUDIENCE, b"wrong secret"));
        let b = start_broker(a.auth_config(), |c| c.introspection = Some(ic)).await;
        let r = MqttClient::connect(
            b.addr,
            ClientOptions::new("ref4", "localhost", b.client_tls()),
            fixed(fresh.clone()),
        )
        .await;
        assert!(matches!(r, Err(Error::Refused(0x88))), "{r:?}");
        b.finish().await;

        // An AS that does not answer at all (nothing listens there): 0x88 as well.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut endpoint = a.endpoint(AUDIENCE, BROKER_SECRET);
        endpoint.addr = closed.local_addr().unwrap();
        drop(closed);
        let b = start_broker(a.auth_config(), |c| {
            c.introspection = Some(IntrospectionConfig::new(endpoint))
        })
        .await;
        let r = MqttClient::connect(
            b.addr,
            ClientOptions::new("ref5", "localhost", b.client_tls()),
            fixed(fresh),
        )
        .await;
        assert!(matches!(r, Err(Error::Refused(0x88))), "{r:?}");
        b.finish().await;
    })
    .await
    .unwrap();
}

/// The cache (sans-IO): an entry ends at the token's `exp` even if `until` is later, an
/// inactive answer is `TokenInactive`, the map is bounded.
#[test]
fn introspection_cache_is_bounded_by_exp_and_size() {
    let now = UnixTime(1_800_000_000);
    let claims = |exp: u64| {
        ClaimsBuilder::new()
            .issuer("as")
            .audience(AUDIENCE)
            .expiration(UnixTime(exp))
            .ace_profile(AceProfile::MQTT_TLS)
            .build()
    };
    let mut st = TokenStore::new(2);
    st.put_introspected(
        b"t1".to_vec(),
        Some(claims(now.0 + 10)),
        now.saturating_add(300),
        now,
    );
    assert!(st.introspected(b"t1", now.saturating_add(9)).is_some());
    assert!(
        st.introspected(b"t1", now.saturating_add(10)).is_none(),
        "ends at exp, not at until"
    );
    // Inactive: cached, and refused as such.
    st.put_introspected(b"t2".to_vec(), None, now.saturating_add(5), now);
    let cfg = a_config();
    assert!(matches!(
        cfg.check_token_in(&st, b"t2", now),
        Err(Error::TokenInactive)
    ));
    // A third entry evicts the one that ends first (t2 at +5).
    st.put_introspected(
        b"t3".to_vec(),
        Some(claims(now.0 + 60)),
        now.saturating_add(60),
        now,
    );
    assert_eq!(st.introspected_len(), 2);
    assert!(st.introspected(b"t2", now).is_none());
    assert!(st.introspected(b"t1", now).is_some());
    // Already expired: not cached.
    st.put_introspected(
        b"t4".to_vec(),
        Some(claims(now.0)),
        now.saturating_add(60),
        now,
    );
    assert!(st.introspected(b"t4", now).is_none());
}

fn a_config() -> mqtt_tls_profile::AuthConfig {
    let v = ace_token::Validator::new(ace_token::Policy::new(AUDIENCE));
    mqtt_tls_profile::AuthConfig::new(v, std::sync::Arc::new(ace_token::KeySet::new()))
}
