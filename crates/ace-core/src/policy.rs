//! Scopes: what the AS grants ([`Policy`], default [`StaticPolicy`]: a table and the
//! intersection with the request) and what a granted scope means at the RS ([`ScopeMap`]:
//! AIF-REST permissions, text scopes through a mapping).
//!
//! Text scopes are space-separated scope-tokens (RFC 6749 §3.3); the intersection keeps the
//! requested tokens the table allows, in the requested order. Binary scopes are AIF-REST
//! (RFC 9237, `aif` crate); the intersection is [`aif::Aif::intersection`] (exact Toid match,
//! method bits AND). A text request against a binary allowance (or the reverse) grants nothing.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use ace_token::Scope;
use aif::RestAif;

use crate::registry::ClientInfo;

/// What the policy decided for a token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Grant this scope (a subset of the request; the AS returns it when it differs).
    Granted(Scope),
    /// The client may not get tokens for this audience at all (`unauthorized_client`).
    AudienceNotAllowed,
    /// Nothing of the requested scope can be granted, or it is malformed (`invalid_scope`).
    InvalidScope,
}

/// The AS's authorization policy.
pub trait Policy: Send + Sync {
    /// The scope `client` gets at `audience` when it asks for `requested`.
    fn grant(&self, client: &ClientInfo, audience: &str, requested: &Scope) -> Grant;
}

/// A static table (client, audience) → allowed scope; grants the intersection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticPolicy {
    table: BTreeMap<(String, String), Scope>,
}

impl StaticPolicy {
    /// An empty table (grants nothing).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows `scope` for `client` at `audience`.
    #[must_use]
    pub fn allow(mut self, client: &str, audience: &str, scope: Scope) -> Self {
        self.table
            .insert((String::from(client), String::from(audience)), scope);
        self
    }
}

impl Policy for StaticPolicy {
    fn grant(&self, client: &ClientInfo, audience: &str, requested: &Scope) -> Grant {
        let Some(allowed) = self.table.get(&(client.id.clone(), String::from(audience))) else {
            return Grant::AudienceNotAllowed;
        };
        match intersect(requested, allowed) {
            Some(s) => Grant::Granted(s),
            None => Grant::InvalidScope,
        }
    }
}

/// The part of `requested` that `allowed` covers; `None` when empty or malformed.
#[must_use]
pub fn intersect(requested: &Scope, allowed: &Scope) -> Option<Scope> {
    match (requested, allowed) {
        (Scope::Text(_), Scope::Text(_)) => {
            let allowed: Vec<&str> = allowed.text_tokens().collect();
            let mut out: Vec<&str> = Vec::new();
            for t in requested.text_tokens() {
                if allowed.contains(&t) && !out.contains(&t) {
                    out.push(t);
                }
            }
            if out.is_empty() {
                None
            } else {
                Some(Scope::Text(out.join(" ")))
            }
        }
        (Scope::Binary(r), Scope::Binary(a)) => {
            let r = RestAif::from_scope_bytes(r).ok()?;
            let a = RestAif::from_scope_bytes(a).ok()?;
            let i = r.intersection(&a);
            if i.is_empty() {
                return None;
            }
            // Keep the request's bytes when nothing was cut, so "differs" is exact.
            if i.canonical() == r.canonical() {
                return Some(requested.clone());
            }
            i.to_scope_bytes().ok().map(Scope::Binary)
        }
        _ => None,
    }
}

/// RS side: what a token's scope permits, as AIF-REST. Binary scopes are decoded as AIF;
/// text scope-tokens are looked up in a table (RFC 9200 §5.10.2: matching scopes to requests
/// is application specific).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeMap {
    text: BTreeMap<String, RestAif>,
    accept_aif: bool,
}

impl ScopeMap {
    /// A map that knows no text scope and accepts binary AIF scopes.
    #[must_use]
    pub fn new() -> Self {
        Self {
            text: BTreeMap::new(),
            accept_aif: true,
        }
    }

    /// Maps a text scope-token to permissions.
    #[must_use]
    pub fn with_text(mut self, token: &str, permissions: RestAif) -> Self {
        self.text.insert(String::from(token), permissions);
        self
    }

    /// Refuses binary (AIF) scopes.
    #[must_use]
    pub fn text_only(mut self) -> Self {
        self.accept_aif = false;
        self
    }

    /// The permissions of `scope`; `None` when a scope-token is unknown or the AIF is
    /// malformed (the RS answers 4.00, RFC 9200 §5.10.1.1 "scope").
    #[must_use]
    pub fn resolve(&self, scope: &Scope) -> Option<RestAif> {
        match scope {
            Scope::Text(_) => {
                let mut out = RestAif::new();
                let mut any = false;
                for t in scope.text_tokens() {
                    out = out.union(self.text.get(t)?);
                    any = true;
                }
                any.then_some(out)
            }
            Scope::Binary(b) if self.accept_aif => RestAif::from_scope_bytes(b).ok(),
            _ => None,
        }
    }
}
