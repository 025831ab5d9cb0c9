//! AIF-MQTT (RFC 9431 §2.3): `AIF-Generic<mqtt-topic-filter, mqtt-permissions>`, where a
//! Toid is an MQTT v5 Topic Filter and a Tperm a non-empty array of `"pub"` / `"sub"`.
//!
//! Authorization (RFC 9431 §2.3, §3.1, §3.3; checklist MQ-074, MQ-100): a PUBLISH Topic Name
//! or a SUBSCRIBE Topic Filter is allowed when it is equal to, or a subset of, a scope filter
//! that carries `pub` or `sub` respectively. Matching follows MQTT v5 §4.7:
//!
//! * `#` is a whole last level and also matches the parent level (`a/#` matches `a`);
//! * `+` is a whole level and matches exactly one level, an empty one included;
//! * a leading wildcard does not match topics that start with `$` (MQTT v5 §4.7.2), so
//!   `#` never grants `$SYS/...` (MQ-T12);
//! * `$share/{ShareName}/` is stripped from a subscription before matching (MQ-T12).
//!
//! Resolving a Topic Alias and refusing the reserved `authz-info` topic are the broker's
//! job (`mqtt-tls-profile`); these functions see the resolved topic.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::consts::mqtt::{
    LEVEL_SEPARATOR, MAX_TOPIC_LEN, MULTI_LEVEL_WILDCARD, PERM_PUB, PERM_SUB, SHARED_PREFIX,
    SINGLE_LEVEL_WILDCARD, SYSTEM_TOPIC_PREFIX,
};
use crate::error::{ElementError, TopicError};
use crate::item::{AifElement, Item};
use crate::model::{Aif, ObjectId, PermissionSet};

/// AIF-MQTT: `AIF-Generic<mqtt-topic-filter, mqtt-permissions>` (RFC 9431 §2.3).
pub type MqttAif = Aif<TopicFilter, MqttPermissions>;

/// Checks an MQTT Topic Name (MQTT v5 §4.7): non-empty, at most 65 535 bytes, no U+0000,
/// no wildcard.
///
/// # Errors
/// The [`TopicError`] of the first failed check.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    check_common(name)?;
    if name.contains(['+', '#']) {
        return Err(TopicError::WildcardInTopicName);
    }
    Ok(())
}

/// Checks an MQTT Topic Filter (MQTT v5 §4.7): non-empty, at most 65 535 bytes, no U+0000,
/// `+` and `#` only as whole levels, `#` only as the last level.
///
/// # Errors
/// The [`TopicError`] of the first failed check.
pub fn validate_topic_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter)?;
    let mut levels = filter.split(LEVEL_SEPARATOR).peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != MULTI_LEVEL_WILDCARD || levels.peek().is_some()) {
            return Err(TopicError::MisplacedMultiLevelWildcard);
        }
        if level.contains('+') && level != SINGLE_LEVEL_WILDCARD {
            return Err(TopicError::MisplacedSingleLevelWildcard);
        }
    }
    Ok(())
}

fn check_common(topic: &str) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    if topic.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong);
    }
    if topic.contains('\0') {
        return Err(TopicError::NullCharacter);
    }
    Ok(())
}

/// Removes a shared-subscription prefix `$share/{ShareName}/` (MQTT v5 §4.8.2) and returns
/// the Topic Filter after it; other filters are returned unchanged.
///
/// # Errors
/// [`TopicError::InvalidSharedSubscription`] if the ShareName is empty or holds a wildcard,
/// or nothing follows it.
pub fn strip_shared_subscription(filter: &str) -> Result<&str, TopicError> {
    let Some(rest) = filter.strip_prefix(SHARED_PREFIX) else {
        return Ok(filter);
    };
    match rest.split_once(LEVEL_SEPARATOR) {
        Some((share_name, inner))
            if !share_name.is_empty() && !share_name.contains(['+', '#']) && !inner.is_empty() =>
        {
            Ok(inner)
        }
        _ => Err(TopicError::InvalidSharedSubscription),
    }
}

fn first_level(topic: &str) -> &str {
    topic.split(LEVEL_SEPARATOR).next().unwrap_or(topic)
}

fn is_wildcard(level: &str) -> bool {
    level == SINGLE_LEVEL_WILDCARD || level == MULTI_LEVEL_WILDCARD
}

/// Whether the Topic Filter `filter` matches the Topic Name `name` (MQTT v5 §4.7). Both are
/// assumed valid ([`validate_topic_filter`], [`validate_topic_name`]).
#[must_use]
pub fn topic_matches(filter: &str, name: &str) -> bool {
    if name.starts_with(SYSTEM_TOPIC_PREFIX) && is_wildcard(first_level(filter)) {
        return false;
    }
    let mut f = filter.split(LEVEL_SEPARATOR);
    let mut n = name.split(LEVEL_SEPARATOR);
    loop {
        match (f.next(), n.next()) {
            (Some(MULTI_LEVEL_WILDCARD), _) => return true,
            (None, None) => return true,
            (Some(SINGLE_LEVEL_WILDCARD), Some(_)) => {}
            (Some(fl), Some(nl)) if fl == nl => {}
            _ => return false,
        }
    }
}

/// Whether every Topic Name that `requested` matches is also matched by `granted`, level by
/// level (checklist MQ-T13): `#` covers any suffix including the parent level; `+` covers
/// exactly one level; a literal covers only the same literal; a requested `+` is covered
/// only by `+` or `#`, a requested `#` only by `#` at the same or a shallower position; a
/// requested topic starting with `$` is not covered by a leading wildcard. A Topic Name is
/// a filter without wildcards, so this also decides PUBLISH. Both are assumed valid.
///
/// One case goes beyond the level rule so that the answer is exact: a requested `#` is also
/// covered by `+/#` at the same position when its parent level would be the empty string,
/// which is not a topic name (`#` ⊆ `+/#`, `/#` ⊆ `/+/#`): both sides then match the same
/// names.
#[must_use]
pub fn filter_is_subset(requested: &str, granted: &str) -> bool {
    if requested.starts_with(SYSTEM_TOPIC_PREFIX) && is_wildcard(first_level(granted)) {
        return false;
    }
    let mut g = granted.split(LEVEL_SEPARATOR);
    for (i, rl) in requested.split(LEVEL_SEPARATOR).enumerate() {
        let Some(gl) = g.next() else {
            // The request is longer than a grant without `#`.
            return false;
        };
        match (gl, rl) {
            (MULTI_LEVEL_WILDCARD, _) => return true,
            (_, MULTI_LEVEL_WILDCARD) => {
                let parent_is_empty = i == 0 || (i == 1 && requested.starts_with(LEVEL_SEPARATOR));
                return gl == SINGLE_LEVEL_WILDCARD
                    && g.next() == Some(MULTI_LEVEL_WILDCARD)
                    && parent_is_empty;
            }
            (SINGLE_LEVEL_WILDCARD, _) => {}
            (_, SINGLE_LEVEL_WILDCARD) => return false,
            _ if gl == rl => {}
            _ => return false,
        }
    }
    // The request ended: covered if the grant ends too, or continues with `#`, which also
    // matches its parent level.
    matches!(g.next(), None | Some(MULTI_LEVEL_WILDCARD))
}

/// A valid MQTT Topic Filter (MQTT v5 §4.7), the Toid of AIF-MQTT.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter(String);

impl TopicFilter {
    /// Checks and wraps a topic filter.
    ///
    /// # Errors
    /// The [`TopicError`] from [`validate_topic_filter`].
    pub fn new(filter: impl Into<String>) -> Result<TopicFilter, TopicError> {
        let filter = filter.into();
        validate_topic_filter(&filter)?;
        Ok(TopicFilter(filter))
    }

    /// The filter as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The filter as an owned string.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }

    /// Whether this filter matches the Topic Name `name` ([`topic_matches`]).
    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        topic_matches(&self.0, name)
    }
}

impl AsRef<str> for TopicFilter {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl TryFrom<&str> for TopicFilter {
    type Error = TopicError;
    fn try_from(s: &str) -> Result<Self, TopicError> {
        TopicFilter::new(s)
    }
}

impl ObjectId for TopicFilter {
    /// Topic-filter subset ([`filter_is_subset`]), RFC 9431 §2.3.
    fn is_covered_by(&self, granted: &Self) -> bool {
        filter_is_subset(&self.0, &granted.0)
    }
}

impl AifElement for TopicFilter {
    fn from_item(item: Item) -> Result<Self, ElementError> {
        match item {
            Item::Text(s) => TopicFilter::new(s).map_err(ElementError::Topic),
            _ => Err(ElementError::WrongType),
        }
    }
    fn to_item(&self) -> Result<Item, ElementError> {
        Ok(Item::Text(self.0.clone()))
    }
}

/// `mqtt-permissions` (RFC 9431 §2.3): a set of `pub` and `sub`. On the wire a non-empty
/// array of distinct `"pub"` / `"sub"`, written in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MqttPermissions(u8);

impl MqttPermissions {
    /// Neither permission (has no encoding; RFC 9431 requires at least one).
    pub const EMPTY: MqttPermissions = MqttPermissions(0);
    /// PUBLISH.
    pub const PUB: MqttPermissions = MqttPermissions(1);
    /// SUBSCRIBE.
    pub const SUB: MqttPermissions = MqttPermissions(2);
    /// PUBLISH and SUBSCRIBE.
    pub const PUB_SUB: MqttPermissions = MqttPermissions(3);

    /// Whether PUBLISH is allowed.
    #[must_use]
    pub const fn can_publish(self) -> bool {
        self.0 & Self::PUB.0 != 0
    }

    /// Whether SUBSCRIBE is allowed.
    #[must_use]
    pub const fn can_subscribe(self) -> bool {
        self.0 & Self::SUB.0 != 0
    }
}

impl core::ops::BitOr for MqttPermissions {
    type Output = MqttPermissions;
    fn bitor(self, rhs: MqttPermissions) -> MqttPermissions {
        MqttPermissions(self.0 | rhs.0)
    }
}

impl PermissionSet for MqttPermissions {
    fn empty() -> Self {
        Self::EMPTY
    }
    fn is_empty(&self) -> bool {
        self.0 == 0
    }
    fn union(&self, other: &Self) -> Self {
        MqttPermissions(self.0 | other.0)
    }
    fn intersection(&self, other: &Self) -> Self {
        MqttPermissions(self.0 & other.0)
    }
    fn is_subset(&self, other: &Self) -> bool {
        self.0 & !other.0 == 0
    }
}

impl AifElement for MqttPermissions {
    fn from_item(item: Item) -> Result<Self, ElementError> {
        let Item::Array(items) = item else {
            return Err(ElementError::WrongType);
        };
        if items.is_empty() {
            return Err(ElementError::EmptyPermissions);
        }
        let mut set = MqttPermissions::EMPTY;
        for item in items {
            let bit = match item {
                Item::Text(s) if s == PERM_PUB => MqttPermissions::PUB,
                Item::Text(s) if s == PERM_SUB => MqttPermissions::SUB,
                Item::Text(_) => return Err(ElementError::UnknownPermission),
                _ => return Err(ElementError::WrongType),
            };
            if set.0 & bit.0 != 0 {
                return Err(ElementError::DuplicatePermission);
            }
            set = set | bit;
        }
        Ok(set)
    }

    fn to_item(&self) -> Result<Item, ElementError> {
        let mut items = Vec::with_capacity(2);
        if self.can_publish() {
            items.push(Item::Text(String::from(PERM_PUB)));
        }
        if self.can_subscribe() {
            items.push(Item::Text(String::from(PERM_SUB)));
        }
        if items.is_empty() {
            return Err(ElementError::EmptyPermissions);
        }
        Ok(Item::Array(items))
    }
}

impl MqttAif {
    /// Whether a PUBLISH (or a Will) to the Topic Name `name` is allowed: some entry with
    /// `pub` has a filter matching it (RFC 9431 §3.1, checklist MQ-074). An empty scope
    /// allows nothing (MQ-072).
    ///
    /// # Errors
    /// A [`TopicError`] if `name` is not a valid Topic Name (the broker answers that with a
    /// protocol error, not "not authorized").
    pub fn allows_publish(&self, name: &str) -> Result<bool, TopicError> {
        validate_topic_name(name)?;
        Ok(self
            .entries
            .iter()
            .any(|e| e.tperm.can_publish() && topic_matches(e.toid.as_str(), name)))
    }

    /// Whether a SUBSCRIBE to the Topic Filter `filter` is allowed: after stripping
    /// `$share/{ShareName}/`, the filter is equal to or a subset of some entry's filter with
    /// `sub` (RFC 9431 §3.3, checklist MQ-100, MQ-T12, MQ-T13).
    ///
    /// # Errors
    /// A [`TopicError`] if `filter` is not a valid Topic Filter or shared subscription.
    pub fn allows_subscribe(&self, filter: &str) -> Result<bool, TopicError> {
        let filter = strip_shared_subscription(filter)?;
        validate_topic_filter(filter)?;
        Ok(self
            .entries
            .iter()
            .any(|e| e.tperm.can_subscribe() && filter_is_subset(filter, e.toid.as_str())))
    }
}
