//! The generic information model (RFC 9237 §2): a list of `(Toid, Tperm)` pairs, and the
//! set operations written once for every instance.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt::Debug;

/// An object identifier (`Toid`, RFC 9237 §2).
///
/// `Ord` gives the order of [`Aif::canonical`] and lets decoders find duplicates.
pub trait ObjectId: Clone + Ord + Debug {
    /// Whether every object that `self` names is also named by `granted`.
    ///
    /// The default is equality, which is what RFC 9237 §2.2 asks of the REST instance (no
    /// prefix matching, no templates). AIF-MQTT overrides it with the topic-filter subset
    /// relation (RFC 9431 §2.3).
    fn is_covered_by(&self, granted: &Self) -> bool {
        self == granted
    }
}

/// A permission set (`Tperm`, RFC 9237 §2) with the usual set operations.
pub trait PermissionSet: Clone + PartialEq + Debug {
    /// The set that grants nothing.
    fn empty() -> Self;
    /// Whether the set grants nothing.
    fn is_empty(&self) -> bool;
    /// Permissions in `self` or `other`.
    #[must_use]
    fn union(&self, other: &Self) -> Self;
    /// Permissions in both `self` and `other`.
    #[must_use]
    fn intersection(&self, other: &Self) -> Self;
    /// Whether every permission of `self` is in `other`.
    fn is_subset(&self, other: &Self) -> bool {
        self.intersection(other) == *self
    }
}

/// One entry `[Toid, Tperm]` of an AIF value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Entry<T, P> {
    /// The object identifier.
    pub toid: T,
    /// The permissions on that object.
    pub tperm: P,
}

impl<T, P> Entry<T, P> {
    /// Builds an entry.
    pub const fn new(toid: T, tperm: P) -> Self {
        Entry { toid, tperm }
    }
}

/// An AIF value: `AIF-Generic<Toid, Tperm> = [* [Toid, Tperm]]` (RFC 9237 §2, Figure 1).
///
/// The semantics are an allow-list (RFC 9237 §2): what no entry grants is denied, and the
/// empty value grants nothing.
///
/// Values built in code may list a Toid more than once; [`Aif::merged`] and
/// [`Aif::canonical`] combine such entries, and the encoders always merge (RFC 9237 §3).
/// Decoders refuse duplicates ([`crate::Error::DuplicateToid`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Aif<T, P> {
    /// The entries, in order.
    pub entries: Vec<Entry<T, P>>,
}

impl<T, P> Default for Aif<T, P> {
    fn default() -> Self {
        Aif {
            entries: Vec::new(),
        }
    }
}

impl<T, P> Aif<T, P> {
    /// The empty AIF value, which grants nothing.
    #[must_use]
    pub const fn new() -> Self {
        Aif {
            entries: Vec::new(),
        }
    }

    /// Wraps a list of entries as they are (no merging).
    #[must_use]
    pub const fn from_entries(entries: Vec<Entry<T, P>>) -> Self {
        Aif { entries }
    }

    /// Appends an entry (no merging).
    pub fn push(&mut self, toid: T, tperm: P) {
        self.entries.push(Entry { toid, tperm });
    }

    /// Appends an entry and returns `self`, for building values in one expression.
    #[must_use]
    pub fn with(mut self, toid: T, tperm: P) -> Self {
        self.push(toid, tperm);
        self
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Iterates over the entries in order.
    pub fn iter(&self) -> core::slice::Iter<'_, Entry<T, P>> {
        self.entries.iter()
    }
}

impl<T, P> FromIterator<(T, P)> for Aif<T, P> {
    fn from_iter<I: IntoIterator<Item = (T, P)>>(iter: I) -> Self {
        Aif {
            entries: iter
                .into_iter()
                .map(|(toid, tperm)| Entry { toid, tperm })
                .collect(),
        }
    }
}

impl<T, P> FromIterator<Entry<T, P>> for Aif<T, P> {
    fn from_iter<I: IntoIterator<Item = Entry<T, P>>>(iter: I) -> Self {
        Aif {
            entries: iter.into_iter().collect(),
        }
    }
}

impl<T, P> IntoIterator for Aif<T, P> {
    type Item = Entry<T, P>;
    type IntoIter = alloc::vec::IntoIter<Entry<T, P>>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a, T, P> IntoIterator for &'a Aif<T, P> {
    type Item = &'a Entry<T, P>;
    type IntoIter = core::slice::Iter<'a, Entry<T, P>>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl<T: ObjectId, P: PermissionSet> Aif<T, P> {
    /// Union of the permissions of every entry whose Toid equals `toid` exactly
    /// (empty if there is none).
    #[must_use]
    pub fn permissions_for(&self, toid: &T) -> P {
        self.entries
            .iter()
            .filter(|e| e.toid == *toid)
            .fold(P::empty(), |acc, e| acc.union(&e.tperm))
    }

    /// Union of the permissions of every entry whose Toid covers `toid`
    /// ([`ObjectId::is_covered_by`]); for REST that is the same as
    /// [`Aif::permissions_for`], for MQTT it includes wildcard filters.
    #[must_use]
    pub fn granted_for(&self, toid: &T) -> P {
        self.entries
            .iter()
            .filter(|e| toid.is_covered_by(&e.toid))
            .fold(P::empty(), |acc, e| acc.union(&e.tperm))
    }

    /// The first pair of entries `(first, later)` that share a Toid, if any.
    #[must_use]
    pub fn first_duplicate(&self) -> Option<(usize, usize)> {
        let mut seen: BTreeMap<&T, usize> = BTreeMap::new();
        for (index, entry) in self.entries.iter().enumerate() {
            if let Some(first) = seen.insert(&entry.toid, index) {
                return Some((first, index));
            }
        }
        None
    }

    /// Entries with the same Toid merged into one entry carrying the union of their
    /// permissions (RFC 9237 §3, first step), in order of first occurrence. Entries with
    /// empty permissions are kept. This is what the encoders write.
    #[must_use]
    pub fn merged(&self) -> Self {
        let mut position: BTreeMap<&T, usize> = BTreeMap::new();
        let mut out: Vec<Entry<T, P>> = Vec::with_capacity(self.entries.len());
        for entry in &self.entries {
            match position.get(&entry.toid).and_then(|&i| out.get_mut(i)) {
                Some(existing) => existing.tperm = existing.tperm.union(&entry.tperm),
                None => {
                    position.insert(&entry.toid, out.len());
                    out.push(entry.clone());
                }
            }
        }
        Aif { entries: out }
    }

    /// The canonical form: duplicates merged, entries without permissions dropped, entries
    /// sorted by Toid. Two values grant the same permissions through the same Toids exactly
    /// when their canonical forms are equal.
    #[must_use]
    pub fn canonical(&self) -> Self {
        let mut merged = self.merged();
        merged.entries.retain(|e| !e.tperm.is_empty());
        merged.entries.sort_by(|a, b| a.toid.cmp(&b.toid));
        merged
    }

    /// Whether `self` is already in canonical form.
    #[must_use]
    pub fn is_canonical(&self) -> bool {
        self.entries.iter().all(|e| !e.tperm.is_empty())
            && self.entries.windows(2).all(|w| match w {
                [a, b] => a.toid < b.toid,
                _ => true,
            })
    }

    /// Everything `self` or `other` grants: the entries of both, with equal Toids merged
    /// (entries of `self` first). Used e.g. to combine the scopes of several tokens of one
    /// subject (checklist AIF-21).
    #[must_use]
    pub fn union(&self, other: &Self) -> Self {
        let mut all = self.clone();
        all.entries.extend(other.entries.iter().cloned());
        all.merged()
    }

    /// Downscoping: the part of the requested value `self` that `allowed` grants.
    ///
    /// Each requested entry is kept with the requested permissions that `allowed` grants for
    /// its Toid ([`Aif::granted_for`]): for REST an exact Toid match and a bitwise AND; for
    /// MQTT, a requested filter is kept where it is a subset of allowed filters, with their
    /// permissions. A requested Toid is never replaced by a narrower allowed one. Entries
    /// left without permissions are dropped; duplicates are merged.
    #[must_use]
    pub fn intersection(&self, allowed: &Self) -> Self {
        let entries = self
            .merged()
            .entries
            .into_iter()
            .filter_map(|e| {
                let tperm = e.tperm.intersection(&allowed.granted_for(&e.toid));
                (!tperm.is_empty()).then_some(Entry {
                    toid: e.toid,
                    tperm,
                })
            })
            .collect();
        Aif { entries }
    }

    /// Whether `other` grants everything `self` grants (checked per entry with
    /// [`Aif::granted_for`]).
    #[must_use]
    pub fn is_subset(&self, other: &Self) -> bool {
        self.entries
            .iter()
            .all(|e| e.tperm.is_subset(&other.granted_for(&e.toid)))
    }
}

#[cfg(test)]
mod tests {
    use crate::rest::{LocalPart, RestAif, RestMethods};
    use alloc::vec::Vec;

    fn lp(s: &str) -> LocalPart {
        LocalPart::new(s).unwrap()
    }

    #[test]
    fn canonical_form_is_sorted_merged_and_non_empty() {
        let aif = RestAif::new()
            .with(lp("/b"), RestMethods::GET)
            .with(lp("/a"), RestMethods::PUT);
        assert!(!aif.is_canonical());
        let canonical = aif.canonical();
        assert!(canonical.is_canonical());
        assert_eq!(
            canonical
                .iter()
                .map(|e| e.toid.as_str())
                .collect::<Vec<_>>(),
            ["/a", "/b"]
        );
        assert!(RestAif::new().is_canonical());
        let dup = RestAif::new()
            .with(lp("/a"), RestMethods::GET)
            .with(lp("/a"), RestMethods::PUT);
        assert!(!dup.is_canonical());
    }

    #[test]
    fn iteration_and_collection() {
        let aif: RestAif = [(lp("/a"), RestMethods::GET), (lp("/b"), RestMethods::PUT)]
            .into_iter()
            .collect();
        assert_eq!(aif.len(), 2);
        assert_eq!((&aif).into_iter().count(), 2);
        let again: RestAif = aif.clone().into_iter().collect();
        assert_eq!(again, aif);
        assert_eq!(RestAif::default(), RestAif::new());
        assert_eq!(aif.permissions_for(&lp("/c")), RestMethods::EMPTY);
    }
}
