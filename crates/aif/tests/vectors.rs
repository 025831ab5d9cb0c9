//! Spec vectors, byte-exact in both directions. Sources:
//! * RFC 9237 §3 (final RFC figures) and draft-bormann-core-ace-aif-09 §3 (the seed),
//!   as copied in `shared/specs/digests/spec-core-aif-revocation.md` B.3, B.3.1, B.3.2;
//! * RFC 9431 §2.3 Figure 10 ("Example scope") and the derived MQV-13 vector in
//!   `shared/specs/digests/spec-profiles.md` A.3.4.
//!
//! Each test names its checklist ID.

use aif::{
    GroupAif, GroupName, LocalPart, Method, MqttAif, MqttPermissions, RestAif, RestMethods,
    RoleSet, TopicFilter, consts,
};

fn h(s: &str) -> Vec<u8> {
    let compact: String = s.split_whitespace().collect();
    hex::decode(compact).expect("test hex")
}

fn lp(s: &str) -> LocalPart {
    LocalPart::new(s).expect("test local part")
}

fn tf(s: &str) -> TopicFilter {
    TopicFilter::new(s).expect("test topic filter")
}

/// RFC 9237 Table "An authorization instance in the AIF Information Model".
fn rfc9237_example() -> RestAif {
    RestAif::new()
        .with(lp("/s/temp"), RestMethods::GET)
        .with(lp("/a/led"), RestMethods::PUT | RestMethods::GET)
        .with(lp("/dtls"), RestMethods::POST)
}

/// RFC 9237 §3, "An authorization instance encoded in CBOR (28 bytes)".
const RFC9237_CBOR: &str = "
    83                        # array(3)
       82                     # array(2)
          67 2f732f74656d70   # text(7) \"/s/temp\"
          01                  # unsigned(1)
       82                     # array(2)
          66 2f612f6c6564     # text(6) \"/a/led\"
          05                  # unsigned(5)
       82                     # array(2)
          65 2f64746c73       # text(5) \"/dtls\"
          02                  # unsigned(2)
";

fn strip_comments(annotated: &str) -> String {
    annotated
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn aif_12_rfc9237_cbor_28_bytes() {
    let bytes = h(&strip_comments(RFC9237_CBOR));
    assert_eq!(bytes.len(), 28);
    assert_eq!(
        bytes,
        h("8382672f732f74656d700182662f612f6c65640582652f64746c7302")
    );
    assert_eq!(RestAif::from_cbor(&bytes).unwrap(), rfc9237_example());
    assert_eq!(rfc9237_example().to_cbor().unwrap(), bytes);
}

#[test]
fn aif_12_rfc9237_json_40_bytes() {
    let json = br#"[["/s/temp",1],["/a/led",5],["/dtls",2]]"#;
    assert_eq!(json.len(), 40);
    assert_eq!(RestAif::from_json(json).unwrap(), rfc9237_example());
    assert_eq!(rfc9237_example().to_json().unwrap(), json.to_vec());
}

/// Seed (draft-bormann-core-ace-aif-09) §3 Figure 5: the `/s/light` variant, 29 bytes.
#[test]
fn aif_12_seed_cbor_29_bytes() {
    let bytes = h(&strip_comments(
        "
        83                              # array(3)
           82 68 2f732f6c69676874 01    # [\"/s/light\", 1]
           82 66 2f612f6c6564 05        # [\"/a/led\", 5]
           82 65 2f64746c73 02          # [\"/dtls\", 2]
    ",
    ));
    assert_eq!(bytes.len(), 29);
    let expected = RestAif::new()
        .with(lp("/s/light"), RestMethods::GET)
        .with(lp("/a/led"), RestMethods::GET | RestMethods::PUT)
        .with(lp("/dtls"), RestMethods::POST);
    assert_eq!(RestAif::from_cbor(&bytes).unwrap(), expected);
    assert_eq!(expected.to_cbor().unwrap(), bytes);
}

/// Seed §3 Figure 3 as printed (46 bytes, spaces after commas) decodes; the encoder writes
/// the compact 41-byte form.
#[test]
fn aif_12_seed_json_46_and_41_bytes() {
    let printed = br#"[["/s/light", 1], ["/a/led", 5], ["/dtls", 2]]"#;
    assert_eq!(printed.len(), 46);
    let aif = RestAif::from_json(printed).unwrap();
    let compact = br#"[["/s/light",1],["/a/led",5],["/dtls",2]]"#;
    assert_eq!(compact.len(), 41);
    assert_eq!(aif.to_json().unwrap(), compact.to_vec());
    assert_eq!(RestAif::from_json(compact).unwrap(), aif);
}

/// B.3.1: Table 2 (extended model) → 2^1 + 2^32 + 2^35 = 38654705666.
#[test]
fn aif_10_aif_11_dynamic_value_38654705666() {
    let perms = RestMethods::POST
        .with_dynamic(Method::Get)
        .with_dynamic(Method::Delete);
    assert_eq!(perms.bits(), 38_654_705_666);
    assert_eq!(perms.bits(), 0x0000_0009_0000_0002);
    assert_eq!(Method::Delete.dynamic_bit(), 35);
}

/// B.3.1: Table 2 as CBOR, 26 bytes, with a 64-bit integer head (1b).
#[test]
fn aif_12_dynamic_cbor_26_bytes() {
    let bytes = h(&strip_comments(
        "
        81                                  # array(1)
           82                               # array(2)
              6e 2f612f6d616b652d636f66666565  # text(14) \"/a/make-coffee\"
              1b 0000000900000002           # unsigned(38654705666)
    ",
    ));
    assert_eq!(bytes.len(), 26);
    let aif = RestAif::new().with(
        lp("/a/make-coffee"),
        RestMethods::from_bits(38_654_705_666).unwrap(),
    );
    assert_eq!(RestAif::from_cbor(&bytes).unwrap(), aif);
    assert_eq!(aif.to_cbor().unwrap(), bytes);
}

/// B.3.1: Table 2 as JSON (38654705666 < 2^53, so it fits; AIF-13).
#[test]
fn aif_13_dynamic_json_fits() {
    let json = br#"[["/a/make-coffee",38654705666]]"#;
    let aif = RestAif::from_json(json).unwrap();
    assert_eq!(
        aif.permissions_for(&lp("/a/make-coffee")).bits(),
        38_654_705_666
    );
    assert_eq!(aif.to_json().unwrap(), json.to_vec());
}

/// B.3.1: the empty AIF is `80` / `[]` and grants nothing (AIF-19).
#[test]
fn aif_19_empty() {
    let aif = RestAif::from_cbor(&h("80")).unwrap();
    assert!(aif.is_empty());
    assert_eq!(aif.to_cbor().unwrap(), h("80"));
    assert_eq!(RestAif::from_json(b"[]").unwrap(), aif);
    assert_eq!(aif.to_json().unwrap(), b"[]".to_vec());
    for m in Method::ALL {
        assert!(!aif.check("/", m).is_allowed());
    }
}

/// B.3.1 merge rule (AIF-10 (a)): `[("/x",GET),("/x",PUT)]` is written as `["/x",5]`.
#[test]
fn aif_10_encoder_merges_duplicates() {
    let aif = RestAif::new()
        .with(lp("/x"), RestMethods::GET)
        .with(lp("/x"), RestMethods::PUT);
    // 81 82 62 2f78 05: [["/x", 5]]
    assert_eq!(aif.to_cbor().unwrap(), h("81 82 62 2f78 05"));
    assert_eq!(aif.to_json().unwrap(), br#"[["/x",5]]"#.to_vec());
}

/// B.3.1: all static methods = 127 (`18 7f`), all dynamic = 0x7F00000000 (AIF-11).
#[test]
fn aif_11_all_static_and_all_dynamic() {
    let all: RestMethods = Method::ALL.into_iter().collect();
    assert_eq!(all, RestMethods::ALL_STATIC);
    assert_eq!(all.bits(), 127);
    let aif = RestAif::new().with(lp("/"), all);
    // 81 82 61 2f 18 7f: [["/", 127]]
    assert_eq!(aif.to_cbor().unwrap(), h("81 82 61 2f 18 7f"));
    let dynamic = Method::ALL
        .into_iter()
        .fold(RestMethods::EMPTY, RestMethods::with_dynamic);
    assert_eq!(dynamic, RestMethods::ALL_DYNAMIC);
    assert_eq!(dynamic.bits(), 545_460_846_592);
}

/// AIF-11: bit = CoAP method code − 1; FETCH (0.05) → 16, iPATCH (0.07) → 64; the
/// Dynamic-X bit adds 32 (`consts::DYNAMIC_OFFSET`).
#[test]
fn aif_11_method_bits() {
    let expected = [
        (1u8, Method::Get, 1u64),
        (2, Method::Post, 2),
        (3, Method::Put, 4),
        (4, Method::Delete, 8),
        (5, Method::Fetch, 16),
        (6, Method::Patch, 32),
        (7, Method::IPatch, 64),
    ];
    for (code, method, value) in expected {
        assert_eq!(Method::from_code(code), Some(method));
        assert_eq!(method.code(), code);
        assert_eq!(RestMethods::of(method).bits(), value);
        assert_eq!(
            RestMethods::dynamic(method).bits(),
            value << consts::DYNAMIC_OFFSET
        );
    }
    assert_eq!(Method::from_code(0), None);
    assert_eq!(Method::from_code(8), None);
}

/// RFC 9431 §2.3 Figure 10 ("Example scope") as JSON text (MQ-070).
const FIGURE_10_JSON: &str =
    r#"[["topic1",["pub","sub"]],["topic2/#",["pub"]],["+/topic3",["sub"]]]"#;

fn figure_10() -> MqttAif {
    MqttAif::new()
        .with(tf("topic1"), MqttPermissions::PUB_SUB)
        .with(tf("topic2/#"), MqttPermissions::PUB)
        .with(tf("+/topic3"), MqttPermissions::SUB)
}

/// MQV-13: Figure 10 as CBOR (the CWT `scope` content), MQ-070.
#[test]
fn mq_070_figure_10_cbor_mqv_13() {
    let bytes = h(&strip_comments(
        "
        83                                   # array(3)
           82 66 746f70696331                # [\"topic1\",
              82 63 707562 63 737562         #   [\"pub\", \"sub\"]]
           82 68 746f706963322f23            # [\"topic2/#\",
              81 63 707562                   #   [\"pub\"]]
           82 68 2b2f746f70696333            # [\"+/topic3\",
              81 63 737562                   #   [\"sub\"]]
        ",
    ));
    assert_eq!(
        bytes,
        h(
            "838266746f706963318263707562637375628268746f706963322f23816370756282682b2f746f706963338163737562"
        )
    );
    assert_eq!(MqttAif::from_cbor(&bytes).unwrap(), figure_10());
    assert_eq!(figure_10().to_cbor().unwrap(), bytes);
    assert_eq!(MqttAif::from_scope_bytes(&bytes).unwrap(), figure_10());
}

/// Figure 10 as JSON, byte-exact both ways (MQ-070; MQV-14 is the base64url of this text).
#[test]
fn mq_070_figure_10_json() {
    assert_eq!(
        MqttAif::from_json(FIGURE_10_JSON.as_bytes()).unwrap(),
        figure_10()
    );
    assert_eq!(figure_10().to_json_string().unwrap(), FIGURE_10_JSON);
}

/// Group roles [derived from RFC 9594 §3.1 and draft-ietf-ace-key-groupcomm-oscore §3]:
/// Requester (1) + Responder (2) = 2^1 + 2^2 = 6; `[["g1", 6]]`.
#[test]
fn group_roles_requester_responder_is_6() {
    use consts::group_oscore_role::{MONITOR, REQUESTER, RESPONDER, VERIFIER};
    let roles = RoleSet::EMPTY.with(REQUESTER).with(RESPONDER);
    assert_eq!(roles.bits(), 6);
    assert_eq!(RoleSet::EMPTY.with(MONITOR).bits(), 8);
    assert_eq!(RoleSet::EMPTY.with(VERIFIER).bits(), 16);
    let aif = GroupAif::new().with(GroupName::new("g1"), roles);
    // 81 82 62 6731 06: [["g1", 6]]
    let bytes = h("81 82 62 6731 06");
    assert_eq!(aif.to_cbor().unwrap(), bytes);
    assert_eq!(GroupAif::from_cbor(&bytes).unwrap(), aif);
    assert_eq!(aif.to_json().unwrap(), br#"[["g1",6]]"#.to_vec());
    assert!(aif.allows_roles("g1", RoleSet::EMPTY.with(REQUESTER)));
    assert!(!aif.allows_roles("g1", RoleSet::EMPTY.with(MONITOR)));
    assert!(!aif.allows_roles("g2", RoleSet::EMPTY.with(REQUESTER)));
}

/// AIF-23: the `scope` byte string holds the CBOR AIF array; wrapped as a CBOR bstr it is
/// `58 1c` + the 28 RFC 9237 bytes.
#[test]
fn aif_23_scope_bytes() {
    let scope = rfc9237_example().to_scope_bytes().unwrap();
    assert_eq!(scope, rfc9237_example().to_cbor().unwrap());
    let mut wrapped = Vec::new();
    ciborium_wrap(&scope, &mut wrapped);
    assert_eq!(wrapped.get(..2), Some(&[0x58, 0x1c][..]));
    assert_eq!(
        RestAif::from_scope_bytes(&scope).unwrap(),
        rfc9237_example()
    );
}

/// A CBOR byte-string head for 24..=255 bytes, enough for this test.
fn ciborium_wrap(content: &[u8], out: &mut Vec<u8>) {
    assert!((24..=255).contains(&content.len()));
    out.push(0x58);
    out.push(u8::try_from(content.len()).unwrap());
    out.extend_from_slice(content);
}

/// Constants (AIF-14, AIF-17 [final RFC], MQ-070).
#[test]
fn aif_14_aif_17_constants() {
    assert_eq!(consts::content_format::AIF_CBOR, 290);
    assert_eq!(consts::content_format::AIF_JSON, 291);
    assert_eq!(consts::media_type::TOID_URI_LOCAL_PART, "URI-local-part");
    assert_eq!(consts::media_type::TPERM_REST_METHOD_SET, "REST-method-set");
    assert_eq!(
        consts::media_type::TOID_MQTT_TOPIC_FILTER,
        "mqtt-topic-filter"
    );
    assert_eq!(
        consts::media_type::TPERM_MQTT_PERMISSIONS,
        "mqtt-permissions"
    );
    assert_eq!(consts::DYNAMIC_OFFSET, 32);
    assert_eq!(consts::coap_code::FORBIDDEN, 0x83);
    assert_eq!(consts::coap_code::METHOD_NOT_ALLOWED, 0x85);
    assert_eq!(consts::json::MAX_SAFE_INTEGER, 9_007_199_254_740_991);
}
