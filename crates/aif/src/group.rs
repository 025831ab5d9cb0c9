//! Group roles (RFC 9594 §3.1, draft-ietf-ace-key-groupcomm-oscore §3): Toid is a group
//! name (text string), Tperm a bit set of role numbers (unsigned integer): role `X` is bit
//! `X`, and a set is the OR of `2^X` over its roles.
//!
//! Which roles exist, and which combinations a join may ask for, is the application
//! profile's business (RFC 9594 REQ2); [`RoleSet`] carries any bits. The Group OSCORE role
//! numbers are in [`crate::consts::group_oscore_role`].

use alloc::string::String;
use core::fmt;
use core::ops::{BitAnd, BitOr};

use crate::error::ElementError;
use crate::item::{AifElement, Item};
use crate::model::{Aif, ObjectId, PermissionSet};

/// Group-role AIF: `AIF-Generic<gname, permissions>` with `gname = tstr` and
/// `permissions = uint .bits roles` (RFC 9594 §3.1, "Example of scope using the AIF format").
pub type GroupAif = Aif<GroupName, RoleSet>;

/// A group name (RFC 9594 §3.1: a text string). Matched exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupName(String);

impl GroupName {
    /// Wraps a group name.
    #[must_use]
    pub fn new(name: impl Into<String>) -> GroupName {
        GroupName(name.into())
    }

    /// The name as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for GroupName {
    fn from(s: &str) -> Self {
        GroupName::new(s)
    }
}

impl From<String> for GroupName {
    fn from(s: String) -> Self {
        GroupName(s)
    }
}

impl AsRef<str> for GroupName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl ObjectId for GroupName {}

impl AifElement for GroupName {
    fn from_item(item: Item) -> Result<Self, ElementError> {
        match item {
            Item::Text(s) => Ok(GroupName(s)),
            _ => Err(ElementError::WrongType),
        }
    }
    fn to_item(&self) -> Result<Item, ElementError> {
        Ok(Item::Text(self.0.clone()))
    }
}

/// A set of roles as a bit set: role number `X` is bit `X` (`uint .bits roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RoleSet(u64);

impl RoleSet {
    /// No role.
    pub const EMPTY: RoleSet = RoleSet(0);

    /// The set with these bits.
    #[must_use]
    pub const fn from_bits(bits: u64) -> RoleSet {
        RoleSet(bits)
    }

    /// The set holding only role number `role`, or `None` if `role` > 63.
    #[must_use]
    pub const fn of(role: u32) -> Option<RoleSet> {
        if role < 64 {
            Some(RoleSet(1 << role))
        } else {
            None
        }
    }

    /// The wire value.
    #[must_use]
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// This set plus role `role`; unchanged if `role` > 63.
    #[must_use]
    pub const fn with(self, role: u32) -> RoleSet {
        match RoleSet::of(role) {
            Some(r) => RoleSet(self.0 | r.0),
            None => self,
        }
    }

    /// Whether role `role` is in the set.
    #[must_use]
    pub const fn contains(self, role: u32) -> bool {
        match RoleSet::of(role) {
            Some(r) => self.0 & r.0 != 0,
            None => false,
        }
    }

    /// The role numbers in the set, ascending.
    pub fn roles(self) -> impl Iterator<Item = u32> {
        (0..64u32).filter(move |&r| self.contains(r))
    }
}

impl BitOr for RoleSet {
    type Output = RoleSet;
    fn bitor(self, rhs: RoleSet) -> RoleSet {
        RoleSet(self.0 | rhs.0)
    }
}

impl BitAnd for RoleSet {
    type Output = RoleSet;
    fn bitand(self, rhs: RoleSet) -> RoleSet {
        RoleSet(self.0 & rhs.0)
    }
}

impl PermissionSet for RoleSet {
    fn empty() -> Self {
        RoleSet::EMPTY
    }
    fn is_empty(&self) -> bool {
        self.0 == 0
    }
    fn union(&self, other: &Self) -> Self {
        *self | *other
    }
    fn intersection(&self, other: &Self) -> Self {
        *self & *other
    }
    fn is_subset(&self, other: &Self) -> bool {
        self.0 & !other.0 == 0
    }
}

impl AifElement for RoleSet {
    fn from_item(item: Item) -> Result<Self, ElementError> {
        match item {
            Item::Uint(bits) => Ok(RoleSet(bits)),
            _ => Err(ElementError::WrongType),
        }
    }
    fn to_item(&self) -> Result<Item, ElementError> {
        Ok(Item::Uint(self.0))
    }
}

impl GroupAif {
    /// The roles granted in group `group` (union over entries naming it exactly).
    #[must_use]
    pub fn roles_in(&self, group: &str) -> RoleSet {
        self.entries
            .iter()
            .filter(|e| e.toid.as_str() == group)
            .fold(RoleSet::EMPTY, |acc, e| acc | e.tperm)
    }

    /// Whether every role in `requested` is granted in `group` (RFC 9594 §4.3.1 join check:
    /// "requested ⊆ granted").
    #[must_use]
    pub fn allows_roles(&self, group: &str, requested: RoleSet) -> bool {
        !requested.is_empty() && requested.is_subset(&self.roles_in(group))
    }
}
