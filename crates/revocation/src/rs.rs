//! RS glue (feature `std`): purge revoked tokens from an `ace-core` [`RsEngine`]'s store and
//! refuse their re-upload (RFC 9770 §"Handling of Revoked Access Tokens and Token Hashes").
//!
//! `ace-core`'s `RsEngine` has no call to drop a stored token, so the purge goes through a
//! token store wrapper: build the engine with [`PurgingTokenStore`], keep its
//! [`PurgeHandle`], and let [`RevokedTokenGuard`] mark bindings purged. A purged binding is
//! invisible to the engine (`get` → `None`, so `authorize` answers 4.01) and is dropped on
//! the store's next write.
//!
//! [`RsEngine`]: ace_core::RsEngine

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::vec::Vec;

use ace_core::{AcceptedToken, AcceptedTokenStore, MemoryAcceptedTokens, PopBinding, RsEffect};

use crate::client::TrlUpdate;
use crate::hash::{HashAlg, TokenHash, rs_cwt_hash};

/// Shared set of purged bindings.
#[derive(Debug, Clone, Default)]
pub struct PurgeHandle(Arc<Mutex<BTreeSet<PopBinding>>>);

impl PurgeHandle {
    /// Marks `binding` purged.
    pub fn purge(&self, binding: PopBinding) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(binding);
    }

    fn is_purged(&self, binding: &PopBinding) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(binding)
    }

    /// The bindings purged but not yet removed from the wrapped store (what a shell
    /// persists, to purge them again after a restart).
    #[must_use]
    pub fn pending(&self) -> Vec<PopBinding> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    fn take(&self) -> BTreeSet<PopBinding> {
        core::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn unmark(&self, binding: &PopBinding) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(binding);
    }
}

/// An [`AcceptedTokenStore`] whose tokens can be purged from outside the engine, over an
/// in-memory store by default or any other (e.g. `ace-store`'s SQLite one). A purged
/// binding is hidden at once and removed from `S` at the store's next write.
#[derive(Debug, Default)]
pub struct PurgingTokenStore<S = MemoryAcceptedTokens> {
    inner: S,
    purged: PurgeHandle,
}

impl PurgingTokenStore {
    /// An empty in-memory store and the handle that purges from it.
    #[must_use]
    pub fn new() -> (Self, PurgeHandle) {
        Self::wrap(MemoryAcceptedTokens::new())
    }
}

impl<S: AcceptedTokenStore> PurgingTokenStore<S> {
    /// Wraps `inner`; returns the store and the handle that purges from it.
    #[must_use]
    pub fn wrap(inner: S) -> (Self, PurgeHandle) {
        let purged = PurgeHandle::default();
        (
            Self {
                inner,
                purged: purged.clone(),
            },
            purged,
        )
    }

    fn sweep(&mut self) {
        for b in self.purged.take() {
            self.inner.remove(&b);
        }
    }
}

impl<S: AcceptedTokenStore> AcceptedTokenStore for PurgingTokenStore<S> {
    fn get(&self, binding: &PopBinding) -> Option<&AcceptedToken> {
        if self.purged.is_purged(binding) {
            return None;
        }
        self.inner.get(binding)
    }

    fn insert(&mut self, token: AcceptedToken) -> Option<AcceptedToken> {
        self.sweep();
        let b = token.binding.clone();
        self.purged.unmark(&b);
        self.inner.insert(token)
    }

    fn remove(&mut self, binding: &PopBinding) -> Option<AcceptedToken> {
        self.sweep();
        self.inner.remove(binding)
    }

    fn tokens(&self) -> Vec<&AcceptedToken> {
        self.inner
            .tokens()
            .into_iter()
            .filter(|t| !self.purged.is_purged(&t.binding))
            .collect()
    }

    fn len(&self) -> usize {
        self.tokens().len()
    }
}

/// Why the guard refused a token before it reached the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardRefusal {
    /// Its hash is a stored revoked hash (RFC 9770: MUST NOT accept) → answer 4.01.
    Revoked,
}

/// RS-side bookkeeping: token hash ↔ binding, retained revoked hashes, purging.
#[derive(Debug)]
pub struct RevokedTokenGuard {
    alg: HashAlg,
    handle: PurgeHandle,
    bindings: BTreeMap<TokenHash, PopBinding>,
    revoked: BTreeSet<TokenHash>,
}

impl RevokedTokenGuard {
    /// A guard purging through `handle`, hashing with the registered `alg`.
    #[must_use]
    pub fn new(alg: HashAlg, handle: PurgeHandle) -> Self {
        Self {
            alg,
            handle,
            bindings: BTreeMap::new(),
            revoked: BTreeSet::new(),
        }
    }

    /// A guard restored from persisted state (see [`RevokedTokenGuard::bindings`] and
    /// [`RevokedTokenGuard::revoked`]).
    #[must_use]
    pub fn restore(
        alg: HashAlg,
        handle: PurgeHandle,
        bindings: impl IntoIterator<Item = (TokenHash, PopBinding)>,
        revoked: impl IntoIterator<Item = TokenHash>,
    ) -> Self {
        Self {
            alg,
            handle,
            bindings: bindings.into_iter().collect(),
            revoked: revoked.into_iter().collect(),
        }
    }

    /// The hash → binding associations of stored tokens.
    pub fn bindings(&self) -> impl Iterator<Item = (&TokenHash, &PopBinding)> {
        self.bindings.iter()
    }

    /// The retained revoked hashes.
    pub fn revoked(&self) -> impl Iterator<Item = &TokenHash> {
        self.revoked.iter()
    }

    /// The purge handle.
    #[must_use]
    pub fn handle(&self) -> &PurgeHandle {
        &self.handle
    }

    /// Hashes `token_info` (an authz-info payload carrying the tagged CWT) and refuses it if
    /// the hash is a retained revoked hash. Call before `RsEngine::handle_authz_info`.
    ///
    /// # Errors
    /// [`GuardRefusal::Revoked`].
    pub fn check_upload(&self, token_info: &[u8]) -> Result<TokenHash, GuardRefusal> {
        let h = rs_cwt_hash(self.alg, token_info, true)
            .unwrap_or_else(|| TokenHash::compute(self.alg, token_info));
        if self.revoked.contains(&h) {
            return Err(GuardRefusal::Revoked);
        }
        Ok(h)
    }

    /// Associates `hash` with the binding the engine stored the token under.
    pub fn record_effects(&mut self, hash: &TokenHash, effects: &[RsEffect]) {
        for e in effects {
            if let RsEffect::TokenStored { binding, .. } = e {
                self.bindings.insert(hash.clone(), binding.clone());
            }
        }
    }

    /// Applies a TRL update: purges every stored token whose hash is mentioned, and keeps
    /// revoked hashes (an RS MUST NOT delete them after expunging). Returns the purged
    /// bindings.
    pub fn apply(&mut self, update: &TrlUpdate) -> Vec<PopBinding> {
        let mut purged = Vec::new();
        for h in &update.revoked {
            self.revoked.insert(h.clone());
        }
        for h in &update.mentioned {
            if let Some(b) = self.bindings.remove(h) {
                self.handle.purge(b.clone());
                purged.push(b);
            }
        }
        for h in &update.expired {
            // Removed from the TRL: the token expired, the hash may go (RFC 9770 conditions:
            // seen + known expired; a hash never seen here is not retained).
            self.revoked.remove(h);
        }
        purged
    }

    /// Whether `h` is a retained revoked hash.
    #[must_use]
    pub fn is_revoked(&self, h: &TokenHash) -> bool {
        self.revoked.contains(h)
    }
}
