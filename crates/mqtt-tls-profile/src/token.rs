//! Token validation for the broker (RFC 9431 §2.2.5; MQ-060…MQ-064, MQ-007, MQ-070) and the
//! token store (`authz-info` uploads, MQ-021; tokens kept per Client Identifier, MQ-T8).
//!
//! A token is accepted only if `ace-token` validates it (signature/MAC, `iss`, `aud`, `exp`,
//! `nbf`), it is not for another ACE profile, its scope is AIF-MQTT (CBOR for CWT, base64url
//! JSON text for JWT), and it binds a PoP key the broker can check. A symmetric PoP key must
//! have travelled encrypted (an `Encrypted_COSE_Key`, or a COSE_Encrypt0 token); a JWT with a
//! symmetric key would need JWE, which is not implemented, so it is refused (R17).

use std::collections::HashMap;
use std::sync::Arc;

use ace_token::{
    AceProfile, Claims, CnfKey, KeyResolver, PopKey, PopKeyMaterial, ProtectionKind, RustCrypto,
    Scope, UnixTime, Validator,
};
use aif::MqttAif;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Result};
use crate::hint::AsHint;
use crate::pop::{self, PopAlgorithm};

/// How the client proved possession of the token's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PopMethod {
    /// MAC or signature over the TLS exporter value (RFC 9431 §2.2.4.2.1).
    Exporter,
    /// Broker challenge / client response with AUTH packets (RFC 9431 §2.2.4.2.2).
    Challenge,
    /// No token: `TLS:Anon,MQTT:None` (public topics and `authz-info` only; MQ-010).
    None,
}

/// What a connection may do: the token's scope and expiry.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The AIF-MQTT scope.
    pub scope: MqttAif,
    /// When the grant ends (token `exp` / `exi`, plus the policy's clock skew); `None` never.
    pub expires_at: Option<UnixTime>,
    /// How possession was proved.
    pub pop: PopMethod,
    /// The PoP algorithm (`None` for anonymous grants).
    pub algorithm: Option<PopAlgorithm>,
    /// A loggable token identifier: hex of `cti`, never the token.
    pub token_id: Option<String>,
}

impl Grant {
    /// A grant without a token (`TLS:Anon,MQTT:None`) for the configured public scope.
    #[must_use]
    pub fn anonymous(scope: MqttAif) -> Self {
        Self {
            scope,
            expires_at: None,
            pop: PopMethod::None,
            algorithm: None,
            token_id: None,
        }
    }

    /// Whether the grant has ended at `now` (MQ-110).
    #[must_use]
    pub fn is_expired(&self, now: UnixTime) -> bool {
        self.expires_at.is_some_and(|e| now >= e)
    }
}

/// A token that passed validation (locally, or by introspection at the AS), with its PoP
/// key and parsed scope.
#[derive(Debug, Clone)]
pub struct CheckedToken {
    /// The token's claims (for a reference token: the introspection result's).
    pub claims: Claims,
    /// The PoP key.
    pub key: PopKey,
    /// The AIF-MQTT scope.
    pub scope: MqttAif,
    /// End of validity (with clock skew).
    pub expires_at: Option<UnixTime>,
}

impl CheckedToken {
    /// The grant after a successful proof with `alg` by `method`.
    #[must_use]
    pub fn grant(&self, method: PopMethod, alg: PopAlgorithm) -> Grant {
        Grant {
            scope: self.scope.clone(),
            expires_at: self.expires_at,
            pop: method,
            algorithm: Some(alg),
            token_id: self.claims.cti.as_deref().map(hex_lower),
        }
    }

    /// The key under which an `authz-info` upload is stored: the PoP key's `kid`, the `cnf`
    /// `kid`, or the public key's encoding.
    fn store_key(&self) -> Option<Vec<u8>> {
        if let Some(kid) = &self.key.kid {
            return Some(kid.clone());
        }
        if let Some(kid) = self.claims.cnf.as_ref().and_then(|c| c.kid.clone()) {
            return Some(kid);
        }
        match &self.key.material {
            PopKeyMaterial::Public(pk) => pk
                .okp_x()
                .map(|x| x.to_vec())
                .or_else(|| pk.to_sec1_uncompressed().map(|b| b.to_vec())),
            _ => None,
        }
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Broker-wide authentication configuration (shared by every connection).
#[derive(Clone)]
pub struct AuthConfig {
    /// Token validation policy (audience = this broker, issuers, algorithms, skew).
    pub validator: Validator,
    /// Keys of the AS(s) that may issue tokens for this broker.
    pub keys: Arc<dyn KeyResolver + Send + Sync>,
    /// Accept ES256 PoP for P-256 `cnf` keys (MQ-T2: "other algorithms only by configuration").
    pub allow_es256_pop: bool,
    /// Accept v5 CONNECT without Authentication Method (`TLS:Anon,MQTT:None`, MQ-010).
    pub allow_anonymous: bool,
    /// What anonymous connections may do (public topics); `authz-info` is always allowed.
    pub anonymous_scope: MqttAif,
    /// Accept MQTT v3.1.1 clients with the reduced flow (RFC 9431 §6).
    pub accept_v311: bool,
    /// `ace_as_hint` for failing v5 CONNACKs (MQ-082); `None` sends none.
    pub as_hint: Option<AsHint>,
}

impl core::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("validator", &self.validator)
            .field("allow_es256_pop", &self.allow_es256_pop)
            .field("allow_anonymous", &self.allow_anonymous)
            .field("accept_v311", &self.accept_v311)
            .field("as_hint", &self.as_hint)
            .finish_non_exhaustive()
    }
}

impl AuthConfig {
    /// A configuration with the given validator and AS keys: ES256 PoP off, anonymous
    /// connections on with an empty public scope, v3.1.1 on, no AS hint.
    #[must_use]
    pub fn new(validator: Validator, keys: Arc<dyn KeyResolver + Send + Sync>) -> Self {
        Self {
            validator,
            keys,
            allow_es256_pop: false,
            allow_anonymous: true,
            anonymous_scope: MqttAif::default(),
            accept_v311: true,
            as_hint: None,
        }
    }

    /// Validates `token` at `now` (CWT or JWT, told apart by MQ-T14's `eyJ` rule).
    ///
    /// # Errors
    /// [`Error::Token`] for any `ace-token` check, then [`Error::WrongProfile`],
    /// [`Error::MissingScope`], [`Error::BadScope`], [`Error::ScopeNotBase64`],
    /// [`Error::UnsupportedPopKey`], [`Error::SymmetricKeyNotEncrypted`].
    pub fn check_token(&self, token: &[u8], now: UnixTime) -> Result<CheckedToken> {
        let keys: &(dyn KeyResolver + Send + Sync) = self.keys.as_ref();
        let vt = if ace_token::jwt::looks_like_jwt(token) {
            self.validator.validate_jwt(token, now, keys, &RustCrypto)?
        } else {
            self.validator.validate(token, now, keys, &RustCrypto)?
        };
        let key = vt.pop_key().cloned();
        let encrypted_token = matches!(
            vt.protection(),
            ProtectionKind::Encrypt0 | ProtectionKind::Encrypt0Sign1 | ProtectionKind::Encrypt0Mac0
        );
        let expires_at = vt.expires_at(now);
        self.finish(vt.into_claims(), key, encrypted_token, expires_at)
    }

    /// As [`AuthConfig::check_token`], but a token the store holds an introspection result
    /// for (RFC 9200 §5.9; MQ-085, cached until the token's `exp`) is checked with those
    /// claims instead of being validated locally.
    ///
    /// # Errors
    /// As [`AuthConfig::check_token`]; for an introspected token also the claim checks
    /// (`aud`, `iss`, `exp`, `nbf`) of the validator's policy.
    pub fn check_token_in(
        &self,
        store: &TokenStore,
        token: &[u8],
        now: UnixTime,
    ) -> Result<CheckedToken> {
        match store.introspected(token, now) {
            Some(Introspected {
                claims: Some(c),
                first_seen,
                ..
            }) => self.check_introspected(c.clone(), *first_seen, now),
            Some(_) => Err(Error::TokenInactive),
            None => self.check_token(token, now),
        }
    }

    /// Checks the claims an AS returned by introspection: the policy's claim checks, then as
    /// for a local token. A symmetric `cnf` key came over the authenticated, confidential
    /// channel to the AS, so it counts as protected (MQ-007).
    fn check_introspected(
        &self,
        claims: Claims,
        first_seen: UnixTime,
        now: UnixTime,
    ) -> Result<CheckedToken> {
        self.validator.policy().check_claims(&claims, now)?;
        let key = match claims.cnf.as_ref().and_then(|c| c.key.as_ref()) {
            Some(CnfKey::CoseKey(k)) => Some(k.clone()),
            _ => None,
        };
        let exp = claims
            .exp
            .map(|e| UnixTime(u64::try_from(e.ceil_secs().max(0)).unwrap_or(u64::MAX)));
        let exi = claims.exi.map(|s| first_seen.saturating_add(s));
        let expires_at = match (exp, exi) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if expires_at.is_some_and(|e| now >= e) {
            return Err(Error::Token(ace_token::Error::Expired));
        }
        self.finish(claims, key, true, expires_at)
    }

    /// The checks after the signature/MAC (or introspection): profile, scope, PoP key.
    fn finish(
        &self,
        claims: Claims,
        key: Option<PopKey>,
        encrypted_token: bool,
        expires_at: Option<UnixTime>,
    ) -> Result<CheckedToken> {
        if let Some(p) = claims.ace_profile
            && p != AceProfile::MQTT_TLS
        {
            return Err(Error::WrongProfile);
        }
        let scope = match &claims.scope {
            None => return Err(Error::MissingScope),
            Some(Scope::Binary(b)) => MqttAif::from_cbor(b)?,
            Some(Scope::Text(t)) => {
                let json = URL_SAFE_NO_PAD
                    .decode(t.as_bytes())
                    .map_err(|_| Error::ScopeNotBase64)?;
                MqttAif::from_json(&json)?
            }
        };
        let key = key.ok_or(Error::UnsupportedPopKey)?;
        if matches!(key.material, PopKeyMaterial::Symmetric(_)) {
            let encrypted_cnf = matches!(
                claims.cnf.as_ref().and_then(|c| c.key.as_ref()),
                Some(CnfKey::Encrypted(_))
            );
            if !encrypted_token && !encrypted_cnf {
                return Err(Error::SymmetricKeyNotEncrypted);
            }
        }
        pop::algorithm_for(&key, self.allow_es256_pop)?;
        let skew = self.validator.policy().clock_skew;
        Ok(CheckedToken {
            claims,
            key,
            scope,
            expires_at: expires_at.map(|e| e.saturating_add(skew)),
        })
    }

    /// Handles a PUBLISH payload on `authz-info` (RFC 9431 §2.2.2; MQ-021…MQ-024): validates
    /// the token and stores it under its PoP key identifier. Nothing is ever forwarded.
    ///
    /// # Errors
    /// [`Error::PayloadNotToken`] (0x99) if the payload does not parse to a token; otherwise
    /// the validation error (0x87); [`Error::StoreFull`] over quota.
    pub fn upload(&self, store: &mut TokenStore, payload: &[u8], now: UnixTime) -> Result<()> {
        let checked = match self.check_token_in(store, payload, now) {
            Ok(c) => c,
            Err(Error::Token(ace_token::Error::Malformed(_) | ace_token::Error::TrailingBytes)) => {
                return Err(Error::PayloadNotToken);
            }
            Err(e) => return Err(e),
        };
        let key = checked.store_key().ok_or(Error::UnsupportedPopKey)?;
        store.put_uploaded(key, payload.to_vec(), checked.expires_at, now)
    }
}

#[derive(Debug, Clone)]
struct Stored {
    token: Vec<u8>,
    expires_at: Option<UnixTime>,
}

impl Stored {
    fn live(&self, now: UnixTime) -> bool {
        self.expires_at.is_none_or(|e| now < e)
    }
}

/// Tokens the broker keeps between connections: uploads to `authz-info` by PoP key (MQ-021,
/// one per key, newest wins) and PoP-verified tokens by Client Identifier (MQ-084, MQ-T8).
/// Entries are dropped at expiry; both maps are bounded (MQ-024).
#[derive(Debug, Clone)]
pub struct TokenStore {
    by_key: HashMap<Vec<u8>, Stored>,
    by_client: HashMap<String, Stored>,
    introspected: HashMap<Vec<u8>, Introspected>,
    max_entries: usize,
}

/// An introspection result, cached for its token (MQ-073, MQ-085).
#[derive(Debug, Clone)]
pub struct Introspected {
    /// The claims the AS returned, `None` if it said the token is not active.
    pub claims: Option<Claims>,
    /// When the broker first saw the token (the base of `exi`).
    pub first_seen: UnixTime,
    /// End of the cache entry: the token's `exp` at the latest.
    pub until: UnixTime,
}

impl Default for TokenStore {
    fn default() -> Self {
        Self::new(10_000)
    }
}

impl TokenStore {
    /// A store holding at most `max_entries` tokens in each map.
    #[must_use]
    pub fn new(max_entries: usize) -> Self {
        Self {
            by_key: HashMap::new(),
            by_client: HashMap::new(),
            introspected: HashMap::new(),
            max_entries,
        }
    }

    /// Drops expired entries.
    pub fn purge(&mut self, now: UnixTime) {
        self.by_key.retain(|_, s| s.live(now));
        self.by_client.retain(|_, s| s.live(now));
        self.introspected.retain(|_, i| now < i.until);
    }

    fn put(map_len: usize, max: usize, exists: bool) -> Result<()> {
        if !exists && map_len >= max {
            return Err(Error::StoreFull);
        }
        Ok(())
    }

    /// Stores an uploaded token under its PoP key identifier.
    ///
    /// # Errors
    /// [`Error::StoreFull`] when the quota is reached (after purging expired entries).
    pub fn put_uploaded(
        &mut self,
        key: Vec<u8>,
        token: Vec<u8>,
        expires_at: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<()> {
        self.purge(now);
        Self::put(
            self.by_key.len(),
            self.max_entries,
            self.by_key.contains_key(&key),
        )?;
        self.by_key.insert(key, Stored { token, expires_at });
        Ok(())
    }

    /// The uploaded token for a PoP key identifier, if still valid.
    #[must_use]
    pub fn uploaded(&self, key: &[u8], now: UnixTime) -> Option<&[u8]> {
        self.by_key
            .get(key)
            .filter(|s| s.live(now))
            .map(|s| s.token.as_slice())
    }

    /// Number of stored uploads (for tests and metrics).
    #[must_use]
    pub fn uploaded_len(&self) -> usize {
        self.by_key.len()
    }

    /// Remembers a token that passed PoP on a connection with `client_id` (MQ-084, MQ-T8).
    /// Over quota the token is simply not remembered.
    pub fn remember_for_client(
        &mut self,
        client_id: &str,
        token: Vec<u8>,
        expires_at: Option<UnixTime>,
        now: UnixTime,
    ) {
        self.purge(now);
        if Self::put(
            self.by_client.len(),
            self.max_entries,
            self.by_client.contains_key(client_id),
        )
        .is_ok()
        {
            self.by_client
                .insert(client_id.to_owned(), Stored { token, expires_at });
        }
    }

    /// Caches an introspection result for `token` (`None`: not active) until `until`, capped
    /// at the token's `exp` (a result is never used after the token expired, MQ-085). Over
    /// quota the entry that ends first is dropped.
    pub fn put_introspected(
        &mut self,
        token: Vec<u8>,
        claims: Option<Claims>,
        until: UnixTime,
        now: UnixTime,
    ) {
        self.purge(now);
        let exp = claims
            .as_ref()
            .and_then(|c| c.exp)
            .map(|e| UnixTime(u64::try_from(e.ceil_secs().max(0)).unwrap_or(u64::MAX)));
        let until = exp.map_or(until, |e| e.min(until));
        if now >= until {
            return;
        }
        if !self.introspected.contains_key(&token) && self.introspected.len() >= self.max_entries {
            let first = self
                .introspected
                .iter()
                .min_by_key(|(_, i)| i.until)
                .map(|(k, _)| k.clone());
            if let Some(k) = first {
                self.introspected.remove(&k);
            }
        }
        let first_seen = self.introspected.get(&token).map_or(now, |i| i.first_seen);
        self.introspected.insert(
            token,
            Introspected {
                claims,
                first_seen,
                until,
            },
        );
    }

    /// The cached introspection result for `token`, if still valid at `now`.
    #[must_use]
    pub fn introspected(&self, token: &[u8], now: UnixTime) -> Option<&Introspected> {
        self.introspected.get(token).filter(|i| now < i.until)
    }

    /// Number of cached introspection results.
    #[must_use]
    pub fn introspected_len(&self) -> usize {
        self.introspected.len()
    }

    /// The token remembered for `client_id` (never an `authz-info` upload), if still valid.
    #[must_use]
    pub fn for_client(&self, client_id: &str, now: UnixTime) -> Option<&[u8]> {
        self.by_client
            .get(client_id)
            .filter(|s| s.live(now))
            .map(|s| s.token.as_slice())
    }
}
