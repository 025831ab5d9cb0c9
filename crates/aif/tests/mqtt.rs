//! AIF-MQTT authorization (RFC 9431 §2.3, §3.1, §3.3): the truth table of
//! `spec-profiles.md` A.3.5, one test per row, and property tests of the topic-filter
//! subset relation against a brute-force matcher (checklist MQ-T13).

use aif::mqtt::{
    filter_is_subset, strip_shared_subscription, topic_matches, validate_topic_filter,
    validate_topic_name,
};
use aif::{MqttAif, MqttPermissions, TopicError, TopicFilter};
use proptest::prelude::*;

/// RFC 9431 Figure 10: `[["topic1",["pub","sub"]],["topic2/#",["pub"]],["+/topic3",["sub"]]]`.
fn figure_10() -> MqttAif {
    MqttAif::from_json(br#"[["topic1",["pub","sub"]],["topic2/#",["pub"]],["+/topic3",["sub"]]]"#)
        .unwrap()
}

fn scope(json: &str) -> MqttAif {
    MqttAif::from_json(json.as_bytes()).unwrap()
}

enum Op {
    /// PUBLISH Topic Name.
    P,
    /// SUBSCRIBE Topic Filter.
    S,
}

fn decide(scope: &MqttAif, op: Op, topic: &str) -> Result<bool, TopicError> {
    match op {
        Op::P => scope.allows_publish(topic),
        Op::S => scope.allows_subscribe(topic),
    }
}

/// One `#[test]` per row of A.3.5: `name: scope, op, topic => expected`.
macro_rules! truth_table {
    ($($name:ident: $scope:expr, $op:ident $topic:literal => $expected:expr;)*) => {
        $(
            #[test]
            fn $name() {
                assert_eq!(decide(&$scope, Op::$op, $topic), Ok($expected));
            }
        )*
    };
}

truth_table! {
    // MQ-074, MQ-090: exact, pub.
    a35_01_publish_topic1_exact: figure_10(), P "topic1" => true;
    // MQ-100: exact, sub.
    a35_02_subscribe_topic1_exact: figure_10(), S "topic1" => true;
    // RFC 9431 §3.1 example.
    a35_03_publish_topic2_a: figure_10(), P "topic2/a" => true;
    // `topic2/#` also matches the parent level (MQTT v5 §4.7.1.2).
    a35_04_publish_topic2_parent_level: figure_10(), P "topic2" => true;
    // Multi-level.
    a35_05_publish_topic2_a_b: figure_10(), P "topic2/a/b" => true;
    // `topic2/#` only has pub.
    a35_06_subscribe_topic2_hash_denied: figure_10(), S "topic2/#" => false;
    // Equal filter.
    a35_07_subscribe_plus_topic3_equal: figure_10(), S "+/topic3" => true;
    // Subset of `+/topic3`.
    a35_08_subscribe_x_topic3_subset: figure_10(), S "x/topic3" => true;
    // An empty first level is a level.
    a35_09_subscribe_empty_first_level: figure_10(), S "/topic3" => true;
    // Not a subset of any sub filter.
    a35_10_subscribe_hash_denied: figure_10(), S "#" => false;
    // Broader than `+/topic3`.
    a35_11_subscribe_plus_plus_denied: figure_10(), S "+/+" => false;
    // `+/topic3` only has sub.
    a35_12_publish_a_topic3_denied: figure_10(), P "a/topic3" => false;
    // MQ-T12: a leading wildcard does not match `$`-topics (MQTT v5 §4.7.2).
    a35_13_publish_sys_not_matched_by_hash: scope(r##"[["#",["pub"]]]"##), P "$SYS/x" => false;
    // MQ-T12: `$share/{ShareName}/` is stripped before matching.
    a35_14_subscribe_shared_topic1: figure_10(), S "$share/g/topic1" => true;
    // Publish-only `authz-info` topic (MQ-020): Figure 10 grants no sub on it. Refusing it
    // under any scope is the broker's rule (mqtt-tls-profile), not AIF's.
    a35_16_subscribe_authz_info_denied: figure_10(), S "authz-info" => false;
}

/// A.3.5 row 15: a PUBLISH with an empty Topic Name and a Topic Alias is authorized after the
/// broker resolves the alias (MQTT v5 §3.3.2.3.4); the unresolved empty name is invalid.
#[test]
fn a35_15_topic_alias_is_resolved_first() {
    let scope = figure_10();
    assert_eq!(scope.allows_publish(""), Err(TopicError::Empty));
    let alias_table = [(1u16, "topic2/a")];
    let resolved = alias_table
        .iter()
        .find(|(alias, _)| *alias == 1)
        .map(|(_, name)| *name)
        .unwrap();
    assert_eq!(scope.allows_publish(resolved), Ok(true));
}

/// MQ-T12: `$SYS/#` is never granted by a leading wildcard, for SUBSCRIBE either; a scope
/// that names `$SYS` explicitly does grant it.
#[test]
fn mq_t12_sys_topics() {
    let all = scope(r##"[["#",["pub","sub"]],["+/x",["sub"]]]"##);
    assert_eq!(all.allows_subscribe("$SYS/#"), Ok(false));
    assert_eq!(all.allows_subscribe("$SYS/x"), Ok(false));
    assert_eq!(all.allows_publish("$SYS/x"), Ok(false));
    assert_eq!(all.allows_publish("a/$SYS"), Ok(true));
    let sys = scope(r##"[["$SYS/#",["sub"]]]"##);
    assert_eq!(sys.allows_subscribe("$SYS/broker/load"), Ok(true));
    assert_eq!(sys.allows_subscribe("$SYS/#"), Ok(true));
    assert!(!topic_matches("+/x", "$SYS/x"));
    assert!(topic_matches("$SYS/+", "$SYS/x"));
}

/// MQ-T12: shared subscriptions.
#[test]
fn mq_t12_shared_subscriptions() {
    assert_eq!(strip_shared_subscription("$share/g/a/b"), Ok("a/b"));
    assert_eq!(strip_shared_subscription("$share/g/#"), Ok("#"));
    assert_eq!(strip_shared_subscription("a/b"), Ok("a/b"));
    assert_eq!(strip_shared_subscription("$sharex/g/a"), Ok("$sharex/g/a"));
    for bad in [
        "$share/",
        "$share//a",
        "$share/g",
        "$share/g/",
        "$share/+/a",
        "$share/#/a",
    ] {
        assert_eq!(
            strip_shared_subscription(bad),
            Err(TopicError::InvalidSharedSubscription),
            "{bad}"
        );
    }
    let s = figure_10();
    assert_eq!(s.allows_subscribe("$share/g/x/topic3"), Ok(true));
    assert_eq!(s.allows_subscribe("$share/g/#"), Ok(false));
    assert_eq!(
        s.allows_subscribe("$share/g/a/#/b"),
        Err(TopicError::MisplacedMultiLevelWildcard)
    );
}

/// MQ-072: an empty scope grants nothing.
#[test]
fn mq_072_empty_scope() {
    let empty = scope("[]");
    assert_eq!(empty.allows_publish("a"), Ok(false));
    assert_eq!(empty.allows_subscribe("a"), Ok(false));
}

/// MQ-071: topic name and filter syntax (MQTT v5 §4.7).
#[test]
fn mq_071_topic_syntax() {
    for ok in ["#", "+", "a/+/b", "a/#", "/", "+/+", "/#", "a//b", "$SYS/#"] {
        assert_eq!(validate_topic_filter(ok), Ok(()), "{ok}");
    }
    let bad_filters = [
        ("", TopicError::Empty),
        ("a/#/b", TopicError::MisplacedMultiLevelWildcard),
        ("#/", TopicError::MisplacedMultiLevelWildcard),
        ("a#", TopicError::MisplacedMultiLevelWildcard),
        ("a+", TopicError::MisplacedSingleLevelWildcard),
        ("+a/b", TopicError::MisplacedSingleLevelWildcard),
        ("a\0", TopicError::NullCharacter),
    ];
    for (bad, err) in bad_filters {
        assert_eq!(validate_topic_filter(bad), Err(err), "{bad:?}");
    }
    assert_eq!(validate_topic_name("a/b"), Ok(()));
    assert_eq!(validate_topic_name("/"), Ok(()));
    assert_eq!(
        validate_topic_name("a/+"),
        Err(TopicError::WildcardInTopicName)
    );
    assert_eq!(
        validate_topic_name("a#"),
        Err(TopicError::WildcardInTopicName)
    );
    assert_eq!(validate_topic_name(""), Err(TopicError::Empty));
    assert_eq!(
        validate_topic_name(&"a".repeat(65_536)),
        Err(TopicError::TooLong)
    );
    assert_eq!(validate_topic_name(&"a".repeat(65_535)), Ok(()));
    let scope = figure_10();
    assert_eq!(
        scope.allows_publish("topic2/+"),
        Err(TopicError::WildcardInTopicName)
    );
    assert_eq!(
        scope.allows_subscribe("topic1#"),
        Err(TopicError::MisplacedMultiLevelWildcard)
    );
    assert_eq!(
        TopicFilter::new("a/#/b"),
        Err(TopicError::MisplacedMultiLevelWildcard)
    );
}

/// MQ-074, MQ-100: permissions combine across entries; `sub` on one filter and `pub` on
/// another do not mix.
#[test]
fn mq_074_permissions_per_entry() {
    let s = scope(r#"[["a/+",["pub"]],["a/b",["sub"]]]"#);
    assert_eq!(s.allows_publish("a/b"), Ok(true));
    assert_eq!(s.allows_subscribe("a/b"), Ok(true));
    assert_eq!(s.allows_subscribe("a/c"), Ok(false));
    assert_eq!(s.allows_subscribe("a/+"), Ok(false));
    assert_eq!(
        s.granted_for(&TopicFilter::new("a/b").unwrap()),
        MqttPermissions::PUB_SUB
    );
}

/// MQ-T13 examples of the level rule.
#[test]
fn mq_t13_examples() {
    let cases = [
        ("a/b", "a/#", true),
        ("a", "a/#", true),
        ("a/#", "a/#", true),
        ("a/#", "#", true),
        ("#", "a/#", false),
        ("a/#", "a/+", false),
        ("a/+", "a/#", true),
        ("a/+", "a/+", true),
        ("a/+", "a/b", false),
        ("a/b", "a/+", true),
        ("a", "a/+", false),
        ("a/", "a/+", true),
        ("+", "#", true),
        ("+/+", "+/#", true),
        ("a/+/#", "a/#", true),
        ("a/#", "a/+/#", false),
        ("#", "+/#", true),
        ("#", "+", false),
        ("/#", "/+/#", true),
        ("/#", "+/+/#", true),
        ("a/#", "a/+/#", false),
        ("+/#", "+/+/#", false),
        ("$SYS/a", "#", false),
        ("$SYS/a", "+/a", false),
        ("$SYS/a", "$SYS/#", true),
        ("/a", "+/a", true),
    ];
    for (req, granted, expected) in cases {
        assert_eq!(
            filter_is_subset(req, granted),
            expected,
            "{req} ⊆ {granted}"
        );
    }
}

// ---- property tests against a brute-force matcher (MQ-T13) ----

/// Levels a generated filter may use; names additionally use "c" (a literal that no filter
/// names), so that "some other level" is represented.
const FILTER_LEVELS: [&str; 4] = ["a", "b", "$s", ""];
const NAME_LEVELS: [&str; 5] = ["a", "b", "$s", "", "c"];

/// Independent matcher, written from MQTT v5 §4.7 as a recursion over level slices.
fn brute_match(filter: &[&str], name: &[&str]) -> bool {
    if let (Some(f0), Some(n0)) = (filter.first(), name.first())
        && (*f0 == "+" || *f0 == "#")
        && n0.starts_with('$')
    {
        return false;
    }
    fn go(filter: &[&str], name: &[&str]) -> bool {
        match (filter.split_first(), name.split_first()) {
            (None, None) => true,
            (Some((&"#", _)), _) => true,
            (Some((&"+", f_rest)), Some((_, n_rest))) => go(f_rest, n_rest),
            (Some((f, f_rest)), Some((n, n_rest))) => f == n && go(f_rest, n_rest),
            _ => false,
        }
    }
    go(filter, name)
}

/// Every valid topic name of 1..=max_levels levels over `NAME_LEVELS`.
fn all_names(max_levels: usize) -> Vec<Vec<&'static str>> {
    let mut out: Vec<Vec<&'static str>> = Vec::new();
    let mut layer: Vec<Vec<&'static str>> = vec![Vec::new()];
    for _ in 0..max_levels {
        layer = layer
            .iter()
            .flat_map(|prefix| {
                NAME_LEVELS.iter().map(move |l| {
                    let mut n = prefix.clone();
                    n.push(*l);
                    n
                })
            })
            .collect();
        out.extend(layer.iter().cloned());
    }
    // A topic name is at least one character long: a single empty level is not a name.
    out.retain(|n| !n.join("/").is_empty());
    out
}

fn brute_subset(req: &[&str], granted: &[&str], names: &[Vec<&str>]) -> bool {
    names
        .iter()
        .filter(|n| brute_match(req, n))
        .all(|n| brute_match(granted, n))
}

/// Valid filters of 1..=3 levels: literals from `FILTER_LEVELS`, `+` anywhere, `#` last.
fn filter_strategy() -> impl Strategy<Value = Vec<&'static str>> {
    let level = prop_oneof![
        3 => proptest::sample::select(FILTER_LEVELS.to_vec()),
        1 => Just("+"),
    ];
    (proptest::collection::vec(level, 1..=3), any::<bool>()).prop_map(|(mut levels, hash)| {
        if hash && let Some(last) = levels.last_mut() {
            *last = "#";
        }
        levels
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// MQ-T13: `filter_is_subset` agrees with "every name matched by the request is matched
    /// by the grant", checked over every name of up to 4 levels.
    #[test]
    fn mq_t13_subset_matches_brute_force(req in filter_strategy(), granted in filter_strategy()) {
        let names = all_names(4);
        let (r, g) = (req.join("/"), granted.join("/"));
        prop_assume!(validate_topic_filter(&r).is_ok() && validate_topic_filter(&g).is_ok());
        prop_assert_eq!(filter_is_subset(&r, &g), brute_subset(&req, &granted, &names), "{} ⊆ {}", r, g);
    }

    /// `topic_matches` agrees with the brute-force matcher, and a Topic Name is a subset of
    /// a filter exactly when the filter matches it.
    #[test]
    fn mq_071_matches_brute_force(
        filter in filter_strategy(),
        name in proptest::collection::vec(proptest::sample::select(NAME_LEVELS.to_vec()), 1..=4),
    ) {
        let (f, n) = (filter.join("/"), name.join("/"));
        prop_assume!(validate_topic_filter(&f).is_ok() && validate_topic_name(&n).is_ok());
        prop_assert_eq!(topic_matches(&f, &n), brute_match(&filter, &name));
        prop_assert_eq!(filter_is_subset(&n, &f), topic_matches(&f, &n));
    }
}
