//! AIF-REST access decisions and set operations (checklist AIF-07..AIF-10, AIF-19..AIF-21;
//! digest B.3.1 "Authorization check" rows, B.4 items 6-9).

use aif::rest::local_part_from_options;
use aif::{
    Decision, GroupAif, GroupName, LocalPart, Method, MqttAif, MqttPermissions, RestAif,
    RestMethods, RoleSet, TopicFilter, consts,
};

fn lp(s: &str) -> LocalPart {
    LocalPart::new(s).unwrap()
}

fn tf(s: &str) -> TopicFilter {
    TopicFilter::new(s).unwrap()
}

/// RFC 9237 / seed Table 1 (with the seed's `/s/light`).
fn table_1() -> RestAif {
    RestAif::from_json(br#"[["/s/light",1],["/a/led",5],["/dtls",2]]"#).unwrap()
}

/// B.3.1 "Authorization check" rows (AIF-20).
#[test]
fn aif_20_table_1_decisions() {
    let aif = table_1();
    assert_eq!(aif.check("/a/led", Method::Put), Decision::Allow);
    assert_eq!(aif.check("/a/led", Method::Get), Decision::Allow);
    assert_eq!(
        aif.check("/a/led", Method::Post),
        Decision::MethodNotAllowed
    );
    assert_eq!(
        aif.check("/a/led", Method::Post).coap_code(),
        Some(consts::coap_code::METHOD_NOT_ALLOWED)
    );
    assert_eq!(aif.check("/s/light/", Method::Get), Decision::NoEntry);
    assert_eq!(
        aif.check("/s/light/", Method::Get).coap_code(),
        Some(consts::coap_code::FORBIDDEN)
    );
    assert_eq!(aif.check("/s/light", Method::Get).coap_code(), None);
    assert_eq!(aif.check("/dtls", Method::Post), Decision::Allow);
}

/// B.4 item 6 (strict query matching): `/s/light` does not cover `/s/light?x=1`.
#[test]
fn aif_20_query_is_part_of_the_local_part() {
    let aif = table_1();
    let request = local_part_from_options(["s", "light"], ["x=1"]);
    assert_eq!(request, "/s/light?x=1");
    assert_eq!(aif.check(&request, Method::Get), Decision::NoEntry);
    let with_query = RestAif::new().with(lp("/s/light?x=1"), RestMethods::GET);
    assert_eq!(with_query.check(&request, Method::Get), Decision::Allow);
    assert_eq!(
        with_query.check("/s/light?x=2", Method::Get),
        Decision::NoEntry
    );
}

/// AIF-07: no prefix matching, no trailing-slash folding, no case folding, no wildcards, no
/// percent-decoding.
#[test]
fn aif_07_exact_matching_only() {
    let aif = RestAif::new()
        .with(lp("/a"), RestMethods::ALL_STATIC)
        .with(lp("/s/*"), RestMethods::GET)
        .with(lp("/x%20y"), RestMethods::GET);
    assert_eq!(aif.check("/a", Method::Get), Decision::Allow);
    assert_eq!(aif.check("/a/b", Method::Get), Decision::NoEntry);
    assert_eq!(aif.check("/a/", Method::Get), Decision::NoEntry);
    assert_eq!(aif.check("/A", Method::Get), Decision::NoEntry);
    assert_eq!(aif.check("/ab", Method::Get), Decision::NoEntry);
    assert_eq!(aif.check("/", Method::Get), Decision::NoEntry);
    assert_eq!(aif.check("/s/temp", Method::Get), Decision::NoEntry);
    assert_eq!(aif.check("/s/*", Method::Get), Decision::Allow);
    // The request is percent-encoded from its options; the Toid is never decoded.
    assert_eq!(
        aif.check(&local_part_from_options(["x y"], [""; 0]), Method::Get),
        Decision::Allow
    );
    assert_eq!(aif.check("/x y", Method::Get), Decision::NoEntry);
    assert_eq!(aif.check("/x%20Y", Method::Get), Decision::NoEntry);
    assert_eq!(aif.check("/x%2520y", Method::Get), Decision::NoEntry);
}

/// AIF-08 / AIF-20 (b): Dynamic-X on the parent (RFC 9237 §2.3, Table 2).
#[test]
fn aif_08_dynamic_permissions() {
    let aif = RestAif::from_json(br#"[["/a/make-coffee",38654705666]]"#).unwrap();
    assert_eq!(aif.check("/a/make-coffee", Method::Post), Decision::Allow);
    assert_eq!(
        aif.check("/a/make-coffee", Method::Get),
        Decision::MethodNotAllowed
    );
    assert!(aif.allows_dynamic("/a/make-coffee", Method::Get));
    assert!(aif.allows_dynamic("/a/make-coffee", Method::Delete));
    assert!(!aif.allows_dynamic("/a/make-coffee", Method::Put));
    assert!(!aif.allows_dynamic("/a/make-coffee", Method::Post));
    assert!(!aif.allows_dynamic("/a/make-coffee/", Method::Get));
    assert!(!aif.allows_dynamic("/a", Method::Get));
    // The created resource itself has no static entry.
    assert_eq!(
        aif.check("/a/make-coffee/17", Method::Get),
        Decision::NoEntry
    );
}

/// AIF-09: the extended model is on as soon as a Dynamic-X bit is present.
#[test]
fn aif_09_dynamic_model_detection() {
    assert!(!table_1().uses_dynamic_model());
    let dynamic = RestAif::new().with(lp("/p"), RestMethods::dynamic(Method::IPatch));
    assert!(dynamic.uses_dynamic_model());
    assert_eq!(
        RestMethods::from_bits(38_654_705_666)
            .unwrap()
            .dynamic_methods()
            .collect::<Vec<_>>(),
        vec![Method::Get, Method::Delete]
    );
    assert_eq!(
        RestMethods::from_bits(38_654_705_666)
            .unwrap()
            .methods()
            .collect::<Vec<_>>(),
        vec![Method::Post]
    );
}

/// B.4 item 9: an entry with Tperm 0 is accepted and never matches (it counts as no entry,
/// so the decision is the same before and after `canonical()`).
#[test]
fn aif_19_empty_permission_entry_grants_nothing() {
    let aif = RestAif::from_json(br#"[["/a",0]]"#).unwrap();
    for m in Method::ALL {
        assert_eq!(aif.check("/a", m), Decision::NoEntry);
        assert_eq!(aif.canonical().check("/a", m), Decision::NoEntry);
    }
    assert!(aif.canonical().is_empty());
}

/// B.4 item 7: local part from Uri-Path / Uri-Query as RFC 7252 §6.5, upper-case hex.
#[test]
fn b4_7_local_part_from_options() {
    let none: [&str; 0] = [];
    assert_eq!(local_part_from_options(none, none), "/");
    assert_eq!(local_part_from_options([""], none), "/");
    assert_eq!(local_part_from_options(["s", "temp"], none), "/s/temp");
    assert_eq!(local_part_from_options(["s", "temp", ""], none), "/s/temp/");
    assert_eq!(local_part_from_options(["", "a"], none), "//a");
    assert_eq!(local_part_from_options(["a/b"], none), "/a%2Fb");
    assert_eq!(local_part_from_options(["a?b"], none), "/a%3Fb");
    assert_eq!(local_part_from_options(["a%b"], none), "/a%25b");
    assert_eq!(
        local_part_from_options(["-._~!$&'()*+,;=:@"], none),
        "/-._~!$&'()*+,;=:@"
    );
    assert_eq!(local_part_from_options(["ä"], none), "/%C3%A4");
    assert_eq!(local_part_from_options([[0xffu8, 0x00]], none), "/%FF%00");
    assert_eq!(local_part_from_options(none, ["x=1"]), "/?x=1");
    assert_eq!(
        local_part_from_options(["p"], ["a=1", "b=2/3?", "c&d", "e f#"]),
        "/p?a=1&b=2/3?&c%26d&e%20f%23"
    );
    assert_eq!(local_part_from_options(["p"], [""]), "/p?");
}

/// AIF-10 (a): merging equal Toids into the union, in order of first occurrence.
#[test]
fn aif_10_merge_and_canonical() {
    let aif = RestAif::new()
        .with(lp("/z"), RestMethods::GET)
        .with(lp("/a"), RestMethods::EMPTY)
        .with(lp("/z"), RestMethods::PUT)
        .with(lp("/m"), RestMethods::POST);
    assert_eq!(aif.first_duplicate(), Some((0, 2)));
    let merged = aif.merged();
    assert_eq!(
        merged,
        RestAif::new()
            .with(lp("/z"), RestMethods::GET | RestMethods::PUT)
            .with(lp("/a"), RestMethods::EMPTY)
            .with(lp("/m"), RestMethods::POST)
    );
    let canonical = aif.canonical();
    assert_eq!(
        canonical,
        RestAif::new()
            .with(lp("/m"), RestMethods::POST)
            .with(lp("/z"), RestMethods::GET | RestMethods::PUT)
    );
    assert!(canonical.is_canonical());
    assert!(!aif.is_canonical());
    assert!(!merged.is_canonical());
    // Decisions do not change.
    for path in ["/z", "/a", "/m", "/q"] {
        for m in Method::ALL {
            assert_eq!(aif.check(path, m), canonical.check(path, m), "{path} {m}");
        }
    }
    // The encoder writes the merged form, which the strict decoder accepts.
    let decoded = RestAif::from_cbor(&aif.to_cbor().unwrap()).unwrap();
    assert_eq!(decoded, merged);
}

/// Downscoping (AS): exact Toid match and bitwise AND (REST).
#[test]
fn intersection_rest() {
    let requested = RestAif::new()
        .with(lp("/a/led"), RestMethods::ALL_STATIC)
        .with(lp("/s/light"), RestMethods::GET | RestMethods::PUT)
        .with(lp("/a"), RestMethods::GET)
        .with(lp("/dtls"), RestMethods::GET);
    let granted = requested.intersection(&table_1());
    assert_eq!(
        granted,
        RestAif::new()
            .with(lp("/a/led"), RestMethods::GET | RestMethods::PUT)
            .with(lp("/s/light"), RestMethods::GET)
    );
    assert!(granted.is_subset(&requested));
    assert!(granted.is_subset(&table_1()));
    assert!(!requested.is_subset(&table_1()));
    assert!(table_1().is_subset(&table_1()));
    assert!(RestAif::new().is_subset(&RestAif::new()));
    assert!(RestAif::new().intersection(&table_1()).is_empty());
}

/// Downscoping (AS) for MQTT: a requested filter is kept where it is a subset of allowed
/// filters, with their permissions (RFC 9431 §2.3).
#[test]
fn intersection_mqtt() {
    let policy = MqttAif::from_json(
        br#"[["topic1",["pub","sub"]],["topic2/#",["pub"]],["+/topic3",["sub"]]]"#,
    )
    .unwrap();
    let requested = MqttAif::new()
        .with(tf("topic2/a/#"), MqttPermissions::PUB_SUB)
        .with(tf("x/topic3"), MqttPermissions::PUB_SUB)
        .with(tf("#"), MqttPermissions::SUB)
        .with(tf("topic1"), MqttPermissions::SUB);
    let granted = requested.intersection(&policy);
    assert_eq!(
        granted,
        MqttAif::new()
            .with(tf("topic2/a/#"), MqttPermissions::PUB)
            .with(tf("x/topic3"), MqttPermissions::SUB)
            .with(tf("topic1"), MqttPermissions::SUB)
    );
    assert!(granted.is_subset(&policy));
    assert!(granted.is_subset(&requested));
    assert!(!requested.is_subset(&policy));
    // Permissions combine over several covering filters.
    let split = MqttAif::new()
        .with(tf("a/#"), MqttPermissions::PUB)
        .with(tf("a/+"), MqttPermissions::SUB);
    let want = MqttAif::new().with(tf("a/b"), MqttPermissions::PUB_SUB);
    assert_eq!(want.intersection(&split), want);
    assert!(want.is_subset(&split));
}

/// Downscoping group roles (RFC 9594 §3.1).
#[test]
fn intersection_group_roles() {
    let policy = GroupAif::new().with(GroupName::new("g1"), RoleSet::from_bits(0b0110));
    let requested = GroupAif::new()
        .with(GroupName::new("g1"), RoleSet::from_bits(0b1010))
        .with(GroupName::new("g2"), RoleSet::from_bits(0b0010));
    assert_eq!(
        requested.intersection(&policy),
        GroupAif::new().with(GroupName::new("g1"), RoleSet::from_bits(0b0010))
    );
    assert_eq!(
        RoleSet::from_bits(0b10110).roles().collect::<Vec<_>>(),
        vec![1, 2, 4]
    );
}

/// AIF-21: scopes of several tokens of one subject combine by union per Toid.
#[test]
fn aif_21_union() {
    let t1 = RestAif::new()
        .with(lp("/a"), RestMethods::GET)
        .with(lp("/b"), RestMethods::POST);
    let t2 = RestAif::new()
        .with(lp("/a"), RestMethods::PUT)
        .with(lp("/c"), RestMethods::DELETE);
    let both = t1.union(&t2);
    assert_eq!(
        both,
        RestAif::new()
            .with(lp("/a"), RestMethods::GET | RestMethods::PUT)
            .with(lp("/b"), RestMethods::POST)
            .with(lp("/c"), RestMethods::DELETE)
    );
    assert!(t1.is_subset(&both) && t2.is_subset(&both));
    assert_eq!(both.check("/a", Method::Put), Decision::Allow);
}

/// `LocalPart` refuses non-absolute text (AIF-05) and `RestMethods` unknown bits (AIF-22)
/// also when built in code.
#[test]
fn aif_05_aif_22_constructors_check() {
    assert!(LocalPart::new("s/temp").is_err());
    assert!(LocalPart::try_from("").is_err());
    assert_eq!(lp("/s/temp").as_str(), "/s/temp");
    assert_eq!(
        RestMethods::from_bits(1 << 7),
        Err(aif::ElementError::UnknownBits(1 << 7))
    );
    assert!(RestMethods::from_bits(consts::rest_bits::KNOWN).is_ok());
}
