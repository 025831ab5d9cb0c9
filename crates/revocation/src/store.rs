//! The TRL store seam and its in-memory default.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::engine::{PeerId, Role, SeriesItem, TokenRecord, TrlEffect, TrlSnapshot};
use crate::error::Result;
use crate::hash::TokenHash;

/// Durable TRL state: token records, revocations, registrations and update collections.
/// The shell applies every [`TrlEffect`] before sending the response or notifications.
pub trait TrlStore {
    /// Applies durable effects, in order, atomically when the backend can
    /// ([`TrlEffect::Notify`] is ignored).
    ///
    /// # Errors
    /// [`crate::Error::Store`].
    fn apply(&mut self, effects: &[TrlEffect]) -> Result<()>;
    /// The persisted state to restart from ([`crate::TrlEngine::restore`]).
    ///
    /// # Errors
    /// [`crate::Error::Store`].
    fn load(&self) -> Result<TrlSnapshot>;
}

impl<T: TrlStore + ?Sized> TrlStore for alloc::boxed::Box<T> {
    fn apply(&mut self, effects: &[TrlEffect]) -> Result<()> {
        (**self).apply(effects)
    }

    fn load(&self) -> Result<TrlSnapshot> {
        (**self).load()
    }
}

/// In-memory [`TrlStore`] (tests, single-process deployments without persistence).
#[derive(Debug, Clone, Default)]
pub struct MemoryTrlStore {
    tokens: BTreeMap<TokenHash, (TokenRecord, bool)>,
    requesters: BTreeMap<PeerId, Role>,
    items: BTreeMap<PeerId, BTreeMap<u64, SeriesItem>>,
    next_seq: BTreeMap<PeerId, u64>,
    /// Revocation log: (hash, time, reason).
    pub log: Vec<(TokenHash, ace_token::UnixTime, alloc::string::String)>,
}

impl MemoryTrlStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl TrlStore for MemoryTrlStore {
    fn apply(&mut self, effects: &[TrlEffect]) -> Result<()> {
        for e in effects {
            match e {
                TrlEffect::TokenRecorded(r) => {
                    self.tokens.insert(r.hash.clone(), (r.clone(), false));
                }
                TrlEffect::Revoked { hash, at, reason } => {
                    if let Some(t) = self.tokens.get_mut(hash) {
                        t.1 = true;
                    }
                    self.log.push((hash.clone(), *at, reason.clone()));
                }
                TrlEffect::Expired { hashes } | TrlEffect::Forgotten { hashes } => {
                    for h in hashes {
                        self.tokens.remove(h);
                    }
                }
                TrlEffect::Registered { peer, role } => {
                    self.requesters.insert(peer.clone(), role.clone());
                    self.items.remove(peer);
                    self.next_seq.remove(peer);
                }
                TrlEffect::SeriesItemAdded {
                    peer,
                    item,
                    keep_from,
                } => {
                    let items = self.items.entry(peer.clone()).or_default();
                    items.insert(item.seq, item.clone());
                    items.retain(|s, _| *s >= *keep_from);
                    self.next_seq
                        .insert(peer.clone(), item.seq.saturating_add(1));
                }
                TrlEffect::Notify { .. } => {}
            }
        }
        Ok(())
    }

    fn load(&self) -> Result<TrlSnapshot> {
        Ok(TrlSnapshot {
            tokens: self.tokens.values().cloned().collect(),
            requesters: self
                .requesters
                .iter()
                .map(|(p, r)| (p.clone(), r.clone()))
                .collect(),
            items: self
                .items
                .iter()
                .flat_map(|(p, m)| m.values().map(|i| (p.clone(), i.clone())))
                .collect(),
            next_seq: self.next_seq.iter().map(|(p, s)| (p.clone(), *s)).collect(),
        })
    }
}
