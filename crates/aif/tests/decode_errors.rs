//! Negative tests: every decoder check has its own `Error` variant, and each one is
//! triggered here (checklist AIF-03, AIF-04, AIF-05, AIF-13, AIF-22; MQ-070).

use aif::{
    AifElement, DecodeLimits, ElementError, Error, GroupAif, GroupName, Item, MqttAif, ObjectId,
    PermissionSet, RestAif, RoleSet, TopicError,
};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).expect("test hex")
}

fn rest_cbor(hex: &str) -> Result<RestAif, Error> {
    RestAif::from_cbor(&h(hex))
}

fn rest_json(json: &str) -> Result<RestAif, Error> {
    RestAif::from_json(json.as_bytes())
}

fn mqtt_json(json: &str) -> Result<MqttAif, Error> {
    MqttAif::from_json(json.as_bytes())
}

#[test]
fn input_too_large() {
    let limits = DecodeLimits {
        max_bytes: 10,
        ..DecodeLimits::DEFAULT
    };
    let bytes = h("8382672f732f74656d700182662f612f6c65640582652f64746c7302");
    assert_eq!(
        RestAif::from_cbor_with(&bytes, &limits),
        Err(Error::InputTooLarge { len: 28, max: 10 })
    );
    let json = br#"[["/s/temp",1],["/a/led",5],["/dtls",2]]"#;
    assert_eq!(
        RestAif::from_json_with(json, &limits),
        Err(Error::InputTooLarge { len: 40, max: 10 })
    );
    // Default limit: 64 KiB. A longer input is refused before parsing, even if valid.
    let big = vec![b' '; 64 * 1024 + 1];
    assert_eq!(
        RestAif::from_json(&big),
        Err(Error::InputTooLarge {
            len: 64 * 1024 + 1,
            max: 64 * 1024
        })
    );
    // Exactly at the limit is fine.
    let mut at_limit = b"[]".to_vec();
    at_limit.resize(64 * 1024, b' ');
    assert!(RestAif::from_json(&at_limit).unwrap().is_empty());
}

#[test]
fn too_many_entries() {
    let limits = DecodeLimits {
        max_entries: 2,
        ..DecodeLimits::DEFAULT
    };
    let three = h("8382672f732f74656d700182662f612f6c65640582652f64746c7302");
    assert_eq!(
        RestAif::from_cbor_with(&three, &limits),
        Err(Error::TooManyEntries { max: 2 })
    );
    // The announced count is enough: a header claiming 2^32 entries is refused at once.
    assert_eq!(
        rest_cbor("9b 0000000100000000"),
        Err(Error::TooManyEntries { max: 1024 })
    );
    // Indefinite length: counted after parsing.
    let indefinite = h("9f 82612f01 82622f6101 82622f6201 ff");
    assert_eq!(
        RestAif::from_cbor_with(&indefinite, &limits),
        Err(Error::TooManyEntries { max: 2 })
    );
    assert_eq!(
        RestAif::from_json_with(br#"[["/",1],["/a",1],["/b",1]]"#, &limits),
        Err(Error::TooManyEntries { max: 2 })
    );
    // At the limit: accepted.
    assert_eq!(
        RestAif::from_json_with(br#"[["/",1],["/a",1]]"#, &limits)
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn nesting_too_deep() {
    // Depth counts the top-level array as 1; AIF-MQTT needs 3.
    let figure_10 = br#"[["topic1",["pub","sub"]]]"#;
    let depth = |d| DecodeLimits {
        max_depth: d,
        ..DecodeLimits::DEFAULT
    };
    assert!(MqttAif::from_json_with(figure_10, &depth(3)).is_ok());
    assert_eq!(
        MqttAif::from_json_with(figure_10, &depth(2)),
        Err(Error::NestingTooDeep { max: 2 })
    );
    let cbor = h("81 82 66746f70696331 82 63707562 63737562");
    assert!(MqttAif::from_cbor_with(&cbor, &depth(3)).is_ok());
    assert_eq!(
        MqttAif::from_cbor_with(&cbor, &depth(2)),
        Err(Error::NestingTooDeep { max: 2 })
    );

    // 200 nested arrays, well within the size limit: refused by the default depth 8.
    let deep_cbor = vec![0x81u8; 200];
    assert_eq!(
        RestAif::from_cbor(&deep_cbor),
        Err(Error::NestingTooDeep { max: 8 })
    );
    let deep_json = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert_eq!(rest_json(&deep_json), Err(Error::NestingTooDeep { max: 8 }));
    // Brackets inside strings do not count.
    assert_eq!(
        rest_json(r#"[["/[[[[[[[[[[[[[[[[[[\"[[[[[[[[[",1]]"#)
            .unwrap()
            .entries
            .first()
            .map(|e| e.toid.as_str().to_owned()),
        Some(r#"/[[[[[[[[[[[[[[[[[["[[[[[[[[["#.to_owned())
    );
    // Maps and tags count as levels too.
    assert_eq!(
        RestAif::from_cbor_with(&h("81 a1 01 a1 01 a1 01 80"), &depth(3)),
        Err(Error::NestingTooDeep { max: 3 })
    );
    // The ceiling: a configured depth above 100 acts as 100.
    let deep_101 = format!("{}{}", "[".repeat(101), "]".repeat(101));
    assert_eq!(
        RestAif::from_json_with(deep_101.as_bytes(), &depth(1000)),
        Err(Error::NestingTooDeep { max: 100 })
    );
    assert_eq!(
        RestAif::from_cbor_with(&[0x81u8; 101], &depth(1000)),
        Err(Error::NestingTooDeep { max: 100 })
    );
}

#[test]
fn truncated() {
    assert_eq!(rest_cbor(""), Err(Error::Truncated));
    assert_eq!(rest_cbor("83 82"), Err(Error::Truncated));
    assert_eq!(rest_cbor("81 82 67 2f73"), Err(Error::Truncated));
    assert_eq!(rest_cbor("81 82 61 2f 1b 00"), Err(Error::Truncated));
    assert_eq!(rest_json(""), Err(Error::Truncated));
    assert_eq!(rest_json(r#"[["/a",1]"#), Err(Error::Truncated));
}

#[test]
fn malformed_cbor() {
    // A break code outside an indefinite-length item.
    assert!(matches!(rest_cbor("ff"), Err(Error::MalformedCbor { .. })));
    // Reserved additional information 28.
    assert!(matches!(rest_cbor("1c"), Err(Error::MalformedCbor { .. })));
    // Invalid UTF-8 in a text string.
    assert!(matches!(
        rest_cbor("81 82 62 fffe 01"),
        Err(Error::MalformedCbor { .. })
    ));
}

#[test]
fn malformed_json() {
    assert!(matches!(
        rest_json(r#"[["/a",1],]"#),
        Err(Error::MalformedJson { line: 1, .. })
    ));
    assert!(matches!(
        rest_json("[['/a',1]]"),
        Err(Error::MalformedJson { .. })
    ));
    assert!(matches!(
        rest_json("[[\"/a\",01]]"),
        Err(Error::MalformedJson { .. })
    ));
}

#[test]
fn trailing_bytes() {
    // AIF-03: nothing may follow the array.
    assert_eq!(
        rest_cbor("80 00"),
        Err(Error::TrailingBytes {
            offset: 1,
            count: 1
        })
    );
    assert_eq!(
        rest_cbor("81 82 61 2f 01 80 80"),
        Err(Error::TrailingBytes {
            offset: 5,
            count: 2
        })
    );
    assert_eq!(
        rest_json("[] x"),
        Err(Error::TrailingBytes {
            offset: 2,
            count: 2
        })
    );
    assert_eq!(
        rest_json(r#"[["/a",1]][]"#),
        Err(Error::TrailingBytes {
            offset: 10,
            count: 2
        })
    );
    // Trailing white space is part of JSON text, not trailing data.
    assert!(rest_json("[]  \n").is_ok());
}

#[test]
fn not_an_array() {
    // AIF-03.
    for hex in ["a0", "01", "612f", "f6", "d818 80", "40"] {
        assert_eq!(rest_cbor(hex), Err(Error::NotAnArray), "{hex}");
    }
    for json in ["{}", "1", r#""/a""#, "null", "true"] {
        assert_eq!(rest_json(json), Err(Error::NotAnArray), "{json}");
    }
}

#[test]
fn entry_not_pair() {
    // AIF-03: each entry is an array of exactly two elements.
    assert_eq!(rest_cbor("81 01"), Err(Error::EntryNotPair { index: 0 }));
    assert_eq!(
        rest_cbor("81 81 61 2f"),
        Err(Error::EntryNotPair { index: 0 })
    );
    assert_eq!(
        rest_cbor("82 82 61 2f 01 83 61 2f 01 01"),
        Err(Error::EntryNotPair { index: 1 })
    );
    assert_eq!(rest_cbor("81 80"), Err(Error::EntryNotPair { index: 0 }));
    assert_eq!(
        rest_json(r#"[["/a",1],{"/b":1}]"#),
        Err(Error::EntryNotPair { index: 1 })
    );
    assert_eq!(
        rest_json(r#"[["/a"]]"#),
        Err(Error::EntryNotPair { index: 0 })
    );
}

#[test]
fn toid_type() {
    // AIF-04: the REST Toid is a text string, nothing else.
    for hex in [
        "81 82 01 01",         // unsigned
        "81 82 41 2f 01",      // byte string "/"
        "81 82 d820 61 2f 01", // tag 32 (URI) around "/"
        "81 82 81 61 2f 01",   // array
        "81 82 f6 01",         // null
    ] {
        assert_eq!(rest_cbor(hex), Err(Error::ToidType { index: 0 }), "{hex}");
    }
    assert_eq!(rest_json("[[1,1]]"), Err(Error::ToidType { index: 0 }));
    assert_eq!(
        mqtt_json(r#"[[["a"],["pub"]]]"#),
        Err(Error::ToidType { index: 0 })
    );
}

#[test]
fn tperm_type() {
    // AIF-04: a negative, float, byte string, tagged or bignum Tperm is refused.
    for hex in [
        "81 82 61 2f 20",                  // -1
        "81 82 61 2f f9 3c00",             // 1.0 (half float)
        "81 82 61 2f 41 01",               // h'01'
        "81 82 61 2f c2 41 01",            // tag 2 bignum 1: not a CDDL uint
        "81 82 61 2f c3 41 01",            // tag 3 bignum
        "81 82 61 2f d8 20 01",            // tag 32 around 1
        "81 82 61 2f 61 31",               // "1"
        "81 82 61 2f f5",                  // true
        "81 82 61 2f 3b 8000000000000000", // -2^63-1, below i64
    ] {
        assert_eq!(rest_cbor(hex), Err(Error::TpermType { index: 0 }), "{hex}");
    }
    for json in [
        r#"[["/",1.0]]"#,
        r#"[["/",-1]]"#,
        r#"[["/","1"]]"#,
        r#"[["/",true]]"#,
        r#"[["/",null]]"#,
        r#"[["/",1e2]]"#,
    ] {
        assert_eq!(
            rest_json(json),
            Err(Error::TpermType { index: 0 }),
            "{json}"
        );
    }
    // MQTT: Tperm is an array of text.
    assert_eq!(
        mqtt_json(r#"[["a","pub"]]"#),
        Err(Error::TpermType { index: 0 })
    );
    assert_eq!(
        mqtt_json(r#"[["a",[1]]]"#),
        Err(Error::TpermType { index: 0 })
    );
}

#[test]
fn toid_not_absolute() {
    // AIF-05: the URI-local-part starts with "/".
    assert_eq!(
        rest_json(r#"[["/a",1],["s/temp",1]]"#),
        Err(Error::ToidNotAbsolute { index: 1 })
    );
    assert_eq!(
        rest_json(r#"[["",1]]"#),
        Err(Error::ToidNotAbsolute { index: 0 })
    );
    assert_eq!(
        rest_json(r#"[["coap://h/a",1]]"#),
        Err(Error::ToidNotAbsolute { index: 0 })
    );
}

#[test]
fn invalid_topic_filter() {
    let cases = [
        ("a/#/b", TopicError::MisplacedMultiLevelWildcard),
        ("a#", TopicError::MisplacedMultiLevelWildcard),
        ("a/b+", TopicError::MisplacedSingleLevelWildcard),
        ("", TopicError::Empty),
        ("a\u{0}b", TopicError::NullCharacter),
    ];
    for (filter, reason) in cases {
        let json = serde_json_text(filter);
        assert_eq!(
            mqtt_json(&json),
            Err(Error::InvalidTopicFilter { index: 0, reason }),
            "{filter:?}"
        );
    }
    let long = "a".repeat(65_536);
    assert_eq!(
        MqttAif::from_json_with(
            serde_json_text(&long).as_bytes(),
            &DecodeLimits {
                max_bytes: 100_000,
                ..DecodeLimits::DEFAULT
            }
        ),
        Err(Error::InvalidTopicFilter {
            index: 0,
            reason: TopicError::TooLong
        })
    );
}

/// `[[filter, ["pub"]]]` as JSON text, with the filter escaped.
fn serde_json_text(filter: &str) -> String {
    let mut escaped = String::new();
    for c in filter.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            c if u32::from(c) < 0x20 => escaped.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => escaped.push(c),
        }
    }
    format!(r#"[["{escaped}",["pub"]]]"#)
}

#[test]
fn unknown_method_bits() {
    // AIF-22 / RFC 9237 §6: bits 7..=31 and 39..=63 are never read as grants.
    let cases: [(u64, u64); 5] = [
        (1 << 7, 1 << 7),
        (1 << 31 | 1, 1 << 31),
        (1 << 39 | 1 << 32, 1 << 39),
        (1 << 63, 1 << 63),
        (u64::MAX, !(0x7f | 0x7f << 32)),
    ];
    for (value, unknown) in cases {
        let mut bytes = h("81 82 61 2f 1b");
        bytes.extend_from_slice(&value.to_be_bytes());
        assert_eq!(
            RestAif::from_cbor(&bytes),
            Err(Error::UnknownMethodBits {
                index: 0,
                bits: unknown
            }),
            "{value:#x}"
        );
    }
    assert_eq!(
        rest_json(r#"[["/",128]]"#),
        Err(Error::UnknownMethodBits {
            index: 0,
            bits: 128
        })
    );
    // The highest known bit is accepted.
    assert!(rest_json(r#"[["/",274877906944]]"#).is_ok()); // 2^38, Dynamic-iPATCH
}

#[test]
fn empty_permissions() {
    // RFC 9431 §2.3: mqtt-permissions = [+permission].
    assert_eq!(
        mqtt_json(r#"[["a",[]]]"#),
        Err(Error::EmptyPermissions { index: 0 })
    );
    assert_eq!(
        MqttAif::from_cbor(&h("81 82 61 61 80")),
        Err(Error::EmptyPermissions { index: 0 })
    );
}

#[test]
fn unknown_permission() {
    for perm in ["publish", "PUB", "", "pubsub"] {
        assert_eq!(
            mqtt_json(&format!(r#"[["a",["{perm}"]]]"#)),
            Err(Error::UnknownPermission { index: 0 }),
            "{perm}"
        );
    }
}

#[test]
fn duplicate_permission() {
    assert_eq!(
        mqtt_json(r#"[["a",["sub","pub","sub"]]]"#),
        Err(Error::DuplicatePermission { index: 0 })
    );
}

#[test]
fn duplicate_toid() {
    // A received AIF lists each Toid once (see README: this overrides the digest's
    // "union" pick for decoding).
    assert_eq!(
        rest_json(r#"[["/a",1],["/b",1],["/a",4]]"#),
        Err(Error::DuplicateToid { index: 2, first: 0 })
    );
    assert_eq!(
        rest_cbor("82 82 62 2f61 01 82 62 2f61 04"),
        Err(Error::DuplicateToid { index: 1, first: 0 })
    );
    assert_eq!(
        mqtt_json(r#"[["a/#",["pub"]],["a/#",["sub"]]]"#),
        Err(Error::DuplicateToid { index: 1, first: 0 })
    );
    // Different strings are different Toids, even if one covers the other.
    assert!(mqtt_json(r#"[["a/#",["pub"]],["a/b",["sub"]]]"#).is_ok());
    assert!(rest_json(r#"[["/a",1],["/a/",1]]"#).is_ok());
}

#[test]
fn json_integer_too_large() {
    // AIF-13: I-JSON carries integers up to 2^53 - 1 exactly.
    assert_eq!(
        rest_json(r#"[["/",9007199254740992]]"#),
        Err(Error::JsonIntegerTooLarge { index: 0 })
    );
    assert_eq!(
        GroupAif::from_json(br#"[["g",6],["h",18446744073709551615]]"#),
        Err(Error::JsonIntegerTooLarge { index: 1 })
    );
    // 2^53 - 1 passes the JSON check (and is then refused by REST for its bits).
    assert_eq!(
        GroupAif::from_json(br#"[["g",9007199254740991]]"#)
            .unwrap()
            .roles_in("g")
            .bits(),
        9_007_199_254_740_991
    );
    // Encoding refuses too; CBOR carries the full 64 bits.
    let big = GroupAif::new()
        .with(GroupName::new("g"), RoleSet::from_bits(6))
        .with(GroupName::new("h"), RoleSet::from_bits(1 << 60));
    assert_eq!(big.to_json(), Err(Error::JsonIntegerTooLarge { index: 1 }));
    let cbor = big.to_cbor().unwrap();
    assert_eq!(GroupAif::from_cbor(&cbor).unwrap(), big);
}

/// A Toid type defined outside the crate, to show `InvalidToid` / `InvalidTperm`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Even(u64);

impl ObjectId for Even {}

impl PermissionSet for Even {
    fn empty() -> Self {
        Even(0)
    }
    fn is_empty(&self) -> bool {
        self.0 == 0
    }
    fn union(&self, other: &Self) -> Self {
        Even(self.0 | other.0)
    }
    fn intersection(&self, other: &Self) -> Self {
        Even(self.0 & other.0)
    }
}

impl AifElement for Even {
    fn from_item(item: Item) -> Result<Self, ElementError> {
        match item.as_uint() {
            Some(v) if v % 2 == 0 => Ok(Even(v)),
            Some(_) => Err(ElementError::Invalid("odd")),
            None => Err(ElementError::WrongType),
        }
    }
    fn to_item(&self) -> Result<Item, ElementError> {
        Ok(Item::Uint(self.0))
    }
}

#[test]
fn invalid_toid_and_tperm_of_other_instances() {
    type EvenAif = aif::Aif<Even, Even>;
    assert_eq!(
        EvenAif::from_json(b"[[2,4],[3,4]]"),
        Err(Error::InvalidToid {
            index: 1,
            reason: "odd"
        })
    );
    assert_eq!(
        EvenAif::from_json(b"[[2,5]]"),
        Err(Error::InvalidTperm {
            index: 0,
            reason: "odd"
        })
    );
    assert_eq!(
        EvenAif::from_json(b"[[2,4]]").unwrap().to_json().unwrap(),
        b"[[2,4]]".to_vec()
    );
}

#[test]
fn errors_are_core_errors_with_messages() {
    fn is_error<E: core::error::Error>(_: &E) {}
    let e = rest_json("[1]").unwrap_err();
    is_error(&e);
    assert_eq!(e.to_string(), "entry 0 is not a [Toid, Tperm] pair");
    let t = TopicError::WildcardInTopicName;
    is_error(&t);
    is_error(&ElementError::WrongType);
}
