//! Property tests: codec round trips for every instance and both encodings, set-operation
//! laws, and "never panics" on arbitrary input.

use std::collections::BTreeMap;

use aif::rest::local_part_from_options;
use aif::{
    GroupAif, GroupName, LocalPart, Method, MqttAif, MqttPermissions, RestAif, RestMethods,
    RoleSet, TopicFilter, consts,
};
use proptest::prelude::*;

fn rest_methods() -> impl Strategy<Value = RestMethods> {
    any::<u64>().prop_map(|b| RestMethods::from_bits(b & consts::rest_bits::KNOWN).unwrap())
}

fn local_part() -> impl Strategy<Value = LocalPart> {
    "/[a-z0-9/?=&%._~-]{0,12}".prop_map(|s| LocalPart::new(s).unwrap())
}

/// REST values with distinct Toids (as a decoder produces).
fn rest_aif() -> impl Strategy<Value = RestAif> {
    proptest::collection::vec((local_part(), rest_methods()), 0..12).prop_map(|pairs| {
        let unique: BTreeMap<_, _> = pairs.iter().cloned().collect();
        // Keep the generated order of first occurrences, not the map order.
        let mut seen = std::collections::BTreeSet::new();
        pairs
            .into_iter()
            .filter(|(t, _)| seen.insert(t.clone()))
            .map(|(t, _)| {
                let p = unique[&t];
                (t, p)
            })
            .collect()
    })
}

/// REST values that may repeat Toids (as code may build them).
fn rest_aif_with_duplicates() -> impl Strategy<Value = RestAif> {
    proptest::collection::vec(
        (
            proptest::sample::select(vec!["/", "/a", "/a/", "/b", "/a/b"]),
            rest_methods(),
        ),
        0..8,
    )
    .prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(t, p)| (LocalPart::new(t).unwrap(), p))
            .collect()
    })
}

fn topic_filter() -> impl Strategy<Value = TopicFilter> {
    let level = prop_oneof![
        4 => "[a-z$]{0,3}",
        1 => Just("+".to_owned()),
    ];
    (proptest::collection::vec(level, 1..4), any::<bool>()).prop_filter_map(
        "valid filter",
        |(mut levels, hash)| {
            if hash {
                levels.push("#".to_owned());
            }
            TopicFilter::new(levels.join("/")).ok()
        },
    )
}

fn mqtt_permissions() -> impl Strategy<Value = MqttPermissions> {
    proptest::sample::select(vec![
        MqttPermissions::PUB,
        MqttPermissions::SUB,
        MqttPermissions::PUB_SUB,
    ])
}

fn mqtt_aif() -> impl Strategy<Value = MqttAif> {
    proptest::collection::btree_map(topic_filter(), mqtt_permissions(), 0..8)
        .prop_map(|m| m.into_iter().collect())
}

fn group_aif(max: u64) -> impl Strategy<Value = GroupAif> {
    proptest::collection::btree_map("[a-zA-Z0-9 ]{0,8}", 0..=max, 0..6).prop_map(|m| {
        m.into_iter()
            .map(|(g, r)| (GroupName::new(g), RoleSet::from_bits(r)))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// AIF-12: REST CBOR round trip, exact.
    #[test]
    fn rest_cbor_round_trip(aif in rest_aif()) {
        let bytes = aif.to_cbor().unwrap();
        prop_assert_eq!(RestAif::from_cbor(&bytes).unwrap(), aif.clone());
        prop_assert_eq!(RestAif::from_scope_bytes(&aif.to_scope_bytes().unwrap()).unwrap(), aif);
    }

    /// AIF-12, AIF-13: REST JSON round trip (every REST value fits under 2^53).
    #[test]
    fn rest_json_round_trip(aif in rest_aif()) {
        let text = aif.to_json().unwrap();
        prop_assert_eq!(RestAif::from_json(&text).unwrap(), aif);
    }

    /// MQ-070: MQTT CBOR and JSON round trips.
    #[test]
    fn mqtt_round_trips(aif in mqtt_aif()) {
        prop_assert_eq!(MqttAif::from_cbor(&aif.to_cbor().unwrap()).unwrap(), aif.clone());
        prop_assert_eq!(MqttAif::from_json(&aif.to_json().unwrap()).unwrap(), aif);
    }

    /// Group roles: CBOR carries 64 bits, JSON up to 2^53 - 1.
    #[test]
    fn group_round_trips(cbor in group_aif(u64::MAX), json in group_aif(consts::json::MAX_SAFE_INTEGER)) {
        prop_assert_eq!(GroupAif::from_cbor(&cbor.to_cbor().unwrap()).unwrap(), cbor);
        prop_assert_eq!(GroupAif::from_json(&json.to_json().unwrap()).unwrap(), json);
    }

    /// Encoding merges duplicates, so everything encodes to something the strict decoder
    /// accepts, and decisions are the same before and after; canonical() keeps decisions
    /// and is idempotent.
    #[test]
    fn merge_and_canonical_keep_decisions(aif in rest_aif_with_duplicates()) {
        let decoded = RestAif::from_cbor(&aif.to_cbor().unwrap()).unwrap();
        let canonical = aif.canonical();
        prop_assert_eq!(canonical.canonical(), canonical.clone());
        prop_assert!(canonical.is_canonical());
        for path in ["/", "/a", "/a/", "/b", "/a/b", "/c"] {
            for m in Method::ALL {
                let d = aif.check(path, m);
                prop_assert_eq!(decoded.check(path, m), d);
                prop_assert_eq!(canonical.check(path, m), d);
                prop_assert_eq!(decoded.allows_dynamic(path, m), aif.allows_dynamic(path, m));
            }
        }
    }

    /// Set laws: a ∩ b ⊆ a, a ∩ b ⊆ b, a ⊆ a ∪ b, and ∩ grants exactly the AND per Toid.
    #[test]
    fn rest_set_laws(a in rest_aif_with_duplicates(), b in rest_aif_with_duplicates()) {
        let i = a.intersection(&b);
        let u = a.union(&b);
        prop_assert!(i.is_subset(&a));
        prop_assert!(i.is_subset(&b));
        prop_assert!(a.is_subset(&u) && b.is_subset(&u));
        prop_assert!(a.is_subset(&a));
        for path in ["/", "/a", "/a/", "/b", "/a/b"] {
            let t = LocalPart::new(path).unwrap();
            prop_assert_eq!(
                i.permissions_for(&t),
                a.permissions_for(&t) & b.permissions_for(&t)
            );
            prop_assert_eq!(
                u.permissions_for(&t),
                a.permissions_for(&t) | b.permissions_for(&t)
            );
        }
    }

    /// MQTT downscoping never grants more than the policy or the request.
    #[test]
    fn mqtt_intersection_is_subset(req in mqtt_aif(), policy in mqtt_aif(), name in "[a-z$]{0,3}(/[a-z]{0,2}){0,2}") {
        let granted = req.intersection(&policy);
        prop_assert!(granted.is_subset(&policy));
        prop_assert!(granted.is_subset(&req));
        if let Ok(true) = granted.allows_publish(&name) {
            prop_assert_eq!(policy.allows_publish(&name), Ok(true));
            prop_assert_eq!(req.allows_publish(&name), Ok(true));
        }
    }

    /// Decoding arbitrary bytes never panics (the fuzz targets do the same, longer).
    #[test]
    fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = RestAif::from_cbor(&bytes);
        let _ = MqttAif::from_cbor(&bytes);
        let _ = GroupAif::from_cbor(&bytes);
        let _ = RestAif::from_json(&bytes);
        let _ = MqttAif::from_json(&bytes);
    }

    /// Decoding CBOR-shaped input: arrays of pairs with random small items. Whatever
    /// decodes re-encodes to something that decodes to the same value.
    #[test]
    fn decode_reencode_is_stable(bytes in proptest::collection::vec(
        prop_oneof![Just(0x82u8), Just(0x81), Just(0x61), Just(0x2f), Just(0x01), Just(0x63),
                    Just(b'p'), Just(b'u'), Just(b'b'), Just(0x18), Just(0x40)], 0..24)) {
        let mut input = vec![0x81];
        input.extend_from_slice(&bytes);
        if let Ok(aif) = RestAif::from_cbor(&input) {
            prop_assert_eq!(RestAif::from_cbor(&aif.to_cbor().unwrap()).unwrap(), aif);
        }
        if let Ok(aif) = MqttAif::from_cbor(&input) {
            prop_assert_eq!(MqttAif::from_cbor(&aif.to_cbor().unwrap()).unwrap(), aif);
        }
    }

    /// The local part is ASCII, starts with "/", and percent-decoding each segment gives the
    /// option value back (nothing lost, `/` inside a segment stays encoded).
    #[test]
    fn local_part_round_trip(segments in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..6), 0..4)) {
        let none: [&[u8]; 0] = [];
        let lp = local_part_from_options(&segments, none);
        prop_assert!(lp.is_ascii());
        prop_assert!(lp.starts_with('/'));
        prop_assert!(!lp.contains('?'));
        if !segments.is_empty() {
            let parts: Vec<&str> = lp.split('/').skip(1).collect();
            prop_assert_eq!(parts.len(), segments.len());
            for (part, seg) in parts.iter().zip(&segments) {
                prop_assert_eq!(&percent_decode(part), seg);
            }
        }
    }
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            assert_eq!(hex, hex.to_uppercase(), "upper-case hex");
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}
