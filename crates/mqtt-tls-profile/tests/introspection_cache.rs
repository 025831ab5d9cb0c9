//! The broker's introspection cache (`TokenStore::put_introspected`, MQ-073 / MQ-085) under
//! the audit's questions, without a network: an inactive (e.g. revoked) answer is cached as
//! inactive and refused, never as active; an entry ends at `now + max_age` even when the
//! token lives longer; a flood of distinct tokens cannot grow the cache past its bound.
#![cfg(feature = "broker")]

use ace_token::{AceProfile, Claims, ClaimsBuilder, UnixTime};
use mqtt_tls_profile::{Error, TokenStore};

const NOW: UnixTime = UnixTime(1_800_000_000);
const AUDIENCE: &str = "broker1";

fn active(exp: u64) -> Claims {
    ClaimsBuilder::new()
        .issuer("as")
        .audience(AUDIENCE)
        .expiration(UnixTime(exp))
        .ace_profile(AceProfile::MQTT_TLS)
        .build()
}

fn config() -> mqtt_tls_profile::AuthConfig {
    let v = ace_token::Validator::new(ace_token::Policy::new(AUDIENCE));
    mqtt_tls_profile::AuthConfig::new(v, std::sync::Arc::new(ace_token::KeySet::new()))
}

/// The broker caches `until = now + max_age`, capped at `exp` (broker.rs `introspect_if_needed`).
fn until(max_age_secs: u64) -> UnixTime {
    NOW.saturating_add(max_age_secs)
}

#[test]
fn inactive_answer_is_never_cached_as_active() {
    let mut st = TokenStore::new(16);
    // Active first, then the AS says inactive (revoked): the newer answer wins.
    st.put_introspected(b"ref".to_vec(), Some(active(NOW.0 + 3600)), until(60), NOW);
    st.put_introspected(b"ref".to_vec(), None, until(60), NOW);
    let cached = st.introspected(b"ref", NOW).unwrap();
    assert!(cached.claims.is_none());
    assert!(matches!(
        config().check_token_in(&st, b"ref", NOW),
        Err(Error::TokenInactive)
    ));
    // And for the whole cache lifetime.
    assert!(matches!(
        config().check_token_in(&st, b"ref", NOW.saturating_add(59)),
        Err(Error::TokenInactive)
    ));
}

#[test]
fn max_age_bounds_an_active_entry_of_a_long_lived_token() {
    let mut st = TokenStore::new(16);
    st.put_introspected(
        b"ref".to_vec(),
        Some(active(NOW.0 + 86_400)),
        until(30),
        NOW,
    );
    assert!(st.introspected(b"ref", NOW.saturating_add(29)).is_some());
    assert!(
        st.introspected(b"ref", NOW.saturating_add(30)).is_none(),
        "max_age, not exp"
    );
    // Past max_age the cached claims are not used: the reference token is checked locally
    // again, which fails (so the broker introspects afresh).
    assert!(
        config()
            .check_token_in(&st, b"ref", NOW.saturating_add(30))
            .is_err()
    );
    // max_age 0: nothing is cached at all.
    st.put_introspected(b"zero".to_vec(), Some(active(NOW.0 + 60)), until(0), NOW);
    assert!(st.introspected(b"zero", NOW).is_none());
}

#[test]
fn a_flood_of_tokens_keeps_the_cache_bounded() {
    let mut st = TokenStore::new(64);
    for i in 0..5_000u32 {
        st.put_introspected(i.to_be_bytes().to_vec(), None, until(300), NOW);
        assert!(st.introspected_len() <= 64);
    }
    assert_eq!(st.introspected_len(), 64);
}
