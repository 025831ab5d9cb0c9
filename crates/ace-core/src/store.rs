//! Store seams and their in-memory defaults.
//!
//! * [`TokenStore`] (AS): every token the AS issued, with a revoked flag; answers `cti`
//!   uniqueness checks and introspection.
//! * [`AcceptedTokenStore`] (RS): the tokens the RS accepted at authz-info, one per
//!   [`PopBinding`] (RFC 9200 §5.10.1: one token per PoP key, the newer supersedes the older).
//!
//! The engines use the store as their working view and also return an effect for every
//! change ([`crate::AsEffect`], [`crate::RsEffect`]); a shell with a durable store writes the
//! effects before it sends the response (an `ace-store` implementation may write in `insert`
//! itself and treat the effects as a log).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use ace_token::{AceProfile, Confirmation, PopKey, Scope, UnixTime};
use aif::RestAif;

use crate::profile::PopBinding;

/// A token the AS issued.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuedToken {
    /// `cti`.
    pub cti: Vec<u8>,
    /// The token as sent (the introspection key).
    pub token: Vec<u8>,
    /// The client it was issued to.
    pub client_id: String,
    /// `aud`.
    pub audience: String,
    /// The granted scope.
    pub scope: Scope,
    /// `iat`.
    pub issued_at: UnixTime,
    /// `exp`, if the token has one.
    pub expires_at: Option<UnixTime>,
    /// `exi`, if the token has one.
    pub exi: Option<u64>,
    /// The `cnf` claim (the AS's own record; contains the symmetric PoP key if any).
    pub cnf: Confirmation,
    /// The profile.
    pub ace_profile: AceProfile,
    /// `cnonce` copied into the token.
    pub cnonce: Option<Vec<u8>>,
    /// Revoked by the AS.
    pub revoked: bool,
}

impl IssuedToken {
    /// Whether the token is active at `now` (not revoked, not past `exp`; an `exi` token is
    /// taken as expiring `exi` seconds after issue, the latest an RS can have received it
    /// is unknown to the AS).
    #[must_use]
    pub fn is_active(&self, now: UnixTime) -> bool {
        if self.revoked {
            return false;
        }
        let end = self
            .expires_at
            .or_else(|| self.exi.map(|e| self.issued_at.saturating_add(e)));
        end.is_none_or(|e| now < e)
    }
}

/// The AS's store of issued tokens.
pub trait TokenStore: Send + Sync {
    /// Whether a token with this `cti` was issued.
    fn contains_cti(&self, cti: &[u8]) -> bool;
    /// Records an issued token.
    ///
    /// # Errors
    /// [`crate::Error::Store`] when the store cannot take it.
    fn insert(&mut self, token: IssuedToken) -> crate::Result<()>;
    /// The token with exactly these bytes.
    fn find_by_token(&self, token: &[u8]) -> Option<IssuedToken>;
    /// Marks a token revoked; `false` if unknown.
    fn revoke(&mut self, cti: &[u8]) -> bool;
    /// Drops tokens that ended before `now`; returns their `cti`s.
    fn remove_expired(&mut self, now: UnixTime) -> Vec<Vec<u8>>;
}

/// In-memory [`TokenStore`].
#[derive(Debug, Clone, Default)]
pub struct MemoryTokenStore {
    by_cti: BTreeMap<Vec<u8>, IssuedToken>,
    by_token: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemoryTokenStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of tokens held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_cti.len()
    }

    /// Whether the store is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_cti.is_empty()
    }
}

impl TokenStore for MemoryTokenStore {
    fn contains_cti(&self, cti: &[u8]) -> bool {
        self.by_cti.contains_key(cti)
    }

    fn insert(&mut self, token: IssuedToken) -> crate::Result<()> {
        if self.by_cti.contains_key(&token.cti) {
            return Err(crate::Error::Store("duplicate cti"));
        }
        self.by_token.insert(token.token.clone(), token.cti.clone());
        self.by_cti.insert(token.cti.clone(), token);
        Ok(())
    }

    fn find_by_token(&self, token: &[u8]) -> Option<IssuedToken> {
        let cti = self.by_token.get(token)?;
        self.by_cti.get(cti).cloned()
    }

    fn revoke(&mut self, cti: &[u8]) -> bool {
        match self.by_cti.get_mut(cti) {
            Some(t) => {
                t.revoked = true;
                true
            }
            None => false,
        }
    }

    fn remove_expired(&mut self, now: UnixTime) -> Vec<Vec<u8>> {
        let gone: Vec<Vec<u8>> = self
            .by_cti
            .values()
            .filter(|t| !t.revoked && !t.is_active(now))
            .map(|t| t.cti.clone())
            .collect();
        for cti in &gone {
            if let Some(t) = self.by_cti.remove(cti) {
                self.by_token.remove(&t.token);
            }
        }
        gone
    }
}

/// A token the RS accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedToken {
    /// What selects it (the PoP key).
    pub binding: PopBinding,
    /// Whose it is: `sub` when the token has one, else derived from the binding; the
    /// per-client limit counts tokens with the same subject.
    pub subject: Vec<u8>,
    /// `cti`, if any.
    pub cti: Option<Vec<u8>>,
    /// The scope as received.
    pub scope: Scope,
    /// The permissions the scope maps to.
    pub permissions: RestAif,
    /// The PoP key (for symmetric keys: the DTLS PSK), when the token carried one or a
    /// superseded token did.
    pub pop_key: Option<PopKey>,
    /// When access ends at this RS (`exp`, or first reception + `exi`).
    pub expires_at: Option<UnixTime>,
    /// The `exi` sequence number, if the token used `exi`.
    pub exi_seq: Option<u64>,
    /// The profile.
    pub ace_profile: Option<AceProfile>,
    /// When the RS accepted it.
    pub received_at: UnixTime,
    /// Acceptance order (for deterministic eviction).
    pub serial: u64,
}

/// The RS's store of accepted tokens, keyed by binding.
pub trait AcceptedTokenStore: Send + Sync {
    /// The token for this binding.
    fn get(&self, binding: &PopBinding) -> Option<&AcceptedToken>;
    /// Stores `token`, returning the one it replaced (same binding).
    fn insert(&mut self, token: AcceptedToken) -> Option<AcceptedToken>;
    /// Removes the token of this binding.
    fn remove(&mut self, binding: &PopBinding) -> Option<AcceptedToken>;
    /// Every stored token.
    fn tokens(&self) -> Vec<&AcceptedToken>;
    /// Number of stored tokens.
    fn len(&self) -> usize;
    /// Whether no token is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// In-memory [`AcceptedTokenStore`].
#[derive(Debug, Clone, Default)]
pub struct MemoryAcceptedTokens {
    tokens: BTreeMap<PopBinding, AcceptedToken>,
}

impl MemoryAcceptedTokens {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl AcceptedTokenStore for MemoryAcceptedTokens {
    fn get(&self, binding: &PopBinding) -> Option<&AcceptedToken> {
        self.tokens.get(binding)
    }

    fn insert(&mut self, token: AcceptedToken) -> Option<AcceptedToken> {
        self.tokens.insert(token.binding.clone(), token)
    }

    fn remove(&mut self, binding: &PopBinding) -> Option<AcceptedToken> {
        self.tokens.remove(binding)
    }

    fn tokens(&self) -> Vec<&AcceptedToken> {
        self.tokens.values().collect()
    }

    fn len(&self) -> usize {
        self.tokens.len()
    }
}
