//! Truth table A.3.5 of the digest (scope = RFC 9431 Figure 10) as parametrized tests of
//! `authz::check_publish` / `check_subscribe`, plus the reason codes per version and QoS
//! (MQ-091, MQ-101, RFC 9431 §6.2) and expiry (MQ-110).

mod common;

use common::*;
use mqtt_tls_profile::authz::{self, Denial, PublishCheck};
use mqtt_tls_profile::{Error, Grant, PopMethod};

fn grant(json: &str) -> Grant {
    Grant {
        scope: scope(json),
        expires_at: Some(NOW.saturating_add(100)),
        pop: PopMethod::Exporter,
        algorithm: None,
        token_id: None,
    }
}

#[test]
fn table_a35() {
    let g = grant(FIG10);
    // (request, is_publish, allowed)
    let rows: &[(&str, bool, bool)] = &[
        ("topic1", true, true),
        ("topic1", false, true),
        ("topic2/a", true, true),
        ("topic2", true, true),
        ("topic2/a/b", true, true),
        ("topic2/#", false, false),
        ("+/topic3", false, true),
        ("x/topic3", false, true),
        ("/topic3", false, true),
        ("#", false, false),
        ("+/+", false, false),
        ("a/topic3", true, false),
        ("$share/g/topic1", false, true),
        ("authz-info", false, false),
    ];
    for &(req, publish, allowed) in rows {
        let got = if publish {
            authz::check_publish(&g, req, 1, 5, NOW) == PublishCheck::Allow
        } else {
            authz::check_subscribe(&g, req, NOW).is_ok()
        };
        assert_eq!(got, allowed, "{} {req}", if publish { "P" } else { "S" });
    }
    // `$SYS/x` with scope [["#",["pub"]]]: denied (MQTT v5 §4.7.2).
    let all = grant(r##"[["#",["pub","sub"]]]"##);
    assert_ne!(
        authz::check_publish(&all, "$SYS/x", 1, 5, NOW),
        PublishCheck::Allow
    );
    // `authz-info` is denied for subscription under any scope, also shared.
    assert!(authz::check_subscribe(&all, "authz-info", NOW).is_err());
    assert!(authz::check_subscribe(&all, "$share/g/authz-info", NOW).is_err());
    // and a publish to it is a token upload whatever the scope (even an empty one).
    assert_eq!(
        authz::check_publish(&grant("[]"), "authz-info", 0, 5, NOW),
        PublishCheck::TokenUpload
    );
}

#[test]
fn denial_codes_per_version_and_qos() {
    let g = grant(FIG10);
    assert_eq!(
        authz::check_publish(&g, "a/topic3", 0, 5, NOW),
        PublishCheck::Deny(Denial::Disconnect(0x87))
    );
    assert_eq!(
        authz::check_publish(&g, "a/topic3", 1, 5, NOW),
        PublishCheck::Deny(Denial::Ack(0x87))
    );
    assert_eq!(
        authz::check_publish(&g, "a/topic3", 2, 5, NOW),
        PublishCheck::Deny(Denial::Ack(0x87))
    );
    assert_eq!(
        authz::check_publish(&g, "a/topic3", 1, 4, NOW),
        PublishCheck::Deny(Denial::Close)
    );
    let e = authz::check_subscribe(&g, "#", NOW).unwrap_err();
    assert_eq!(authz::suback_failure(&e, 5), 0x87);
    assert_eq!(authz::suback_failure(&e, 4), 0x80);
    let e = authz::check_subscribe(&g, "a/#/b", NOW).unwrap_err();
    assert_eq!(authz::suback_failure(&e, 5), 0x8F);
}

#[test]
fn expiry_is_checked_on_publish_subscribe_and_delivery() {
    let g = grant(FIG10);
    let later = NOW.saturating_add(100);
    assert_eq!(
        authz::check_publish(&g, "topic1", 1, 5, later),
        PublishCheck::Deny(Denial::Ack(0x87))
    );
    assert!(matches!(
        authz::check_subscribe(&g, "topic1", later),
        Err(Error::SessionExpired)
    ));
    assert!(authz::check_delivery(&g, "topic1", NOW).is_ok());
    assert!(matches!(
        authz::check_delivery(&g, "topic1", later),
        Err(Error::SessionExpired)
    ));
    // Delivery needs `sub` on the topic (after re-authentication the scope may be narrower).
    assert!(matches!(
        authz::check_delivery(&g, "topic2/a", NOW),
        Err(Error::NotAuthorized)
    ));
    assert!(matches!(
        authz::check_delivery(&g, "authz-info", NOW),
        Err(Error::NotAuthorized)
    ));
}
