//! The Resource Server engine: `/authz-info` (RFC 9200 §5.10.1), the access decision for a
//! request (§5.10.2), `exi` (§5.10.3), introspection of reference tokens (§5.9, client side).
//!
//! ```text
//!  POST /authz-info ─► RsEngine::handle_authz_info(now, peer, content_format, payload)
//!      decode (4.00) ─► ace-token Validator: protection, iss, exp (4.01)
//!      ─► aud (4.03) ─► scope → AIF via ScopeMap (4.00) ─► profile, PoP binding (4.00)
//!      ─► cnonce (4.01) ─► replayed cti / exi sequence (4.01) ─► capacity (5.03)
//!      ─► store: supersede the token of the same PoP key, evict beyond N per client
//!      ◄─ Outcome { RsResponse::Created | Refused(code) | Introspect(req), effects }
//!
//!  request ─► RsEngine::authorize(now, peer, local part, method)
//!      ◄─ Access::Allow | Unauthorized(CreationHints) 4.01 | Forbidden 4.03 | MethodNotAllowed 4.05
//! ```
//!
//! **Order of checks.** The claim checks follow §5.10.1.1 in its priority order (iss → exp →
//! aud → scope). `ace-token`'s validator checks `aud` before `exp`, so the engine gives the
//! validator no audience and checks `aud` itself after it.
//!
//! **Storage.** One token per PoP key (§5.10.1, RFC 9200's recommendation): a new token for the
//! same [`PopBinding`] supersedes the old one; a token that only references a key by `kid`
//! keeps the key of the token it supersedes. Tokens of one subject (`sub`, else the binding)
//! are capped at `max_tokens_per_client` (the oldest is evicted); the whole store at
//! `max_tokens` (5.03 when full after dropping expired tokens).
//!
//! **Replay.** A token whose `cti` belongs to a token this RS superseded or evicted is refused
//! with 4.01 until that token's end of validity; re-posting the token currently stored is
//! idempotent (2.01, nothing changes). `exi` tokens whose sequence number is not above the
//! highest expired one are refused (4.01); [`RsEngine::expire`] advances that number and
//! returns it as an effect to persist (RFC 9200 §6.6).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use ace_token::{
    Audience, ClaimKey, Claims, CnfKey, CryptoRng, ExiCti, ExiTracker, FullBackend, KeyResolver,
    PopKey, ProofOfPossession, UnixTime, Validator,
};
use aif::{Decision, Method};

use crate::auth_server::Outcome;
use crate::consts::{ContentFormat, code};
use crate::error::{CoapCode, Error, Result};
use crate::msg::{
    AuthzInfoRequest, AuthzInfoResponse, CreationHints, IntrospectionRequest, IntrospectionResponse,
};
use crate::policy::ScopeMap;
use crate::profile::{ChannelIdentity, PopBinding, PopKind, Profile};
use crate::store::{AcceptedToken, AcceptedTokenStore};

/// Client-nonce settings (RFC 9200 §5.3.1): the RS puts a fresh `cnonce` in every set of
/// creation hints and accepts a token only if it carries one it handed out, within
/// `lifetime` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CnonceConfig {
    /// Nonce length in bytes.
    pub len: usize,
    /// How long a nonce stays usable, in seconds.
    pub lifetime: u64,
    /// Most nonces outstanding at once (the oldest is forgotten beyond this).
    pub max_pending: usize,
}

/// RS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsConfig {
    /// This RS's audience.
    pub audience: String,
    /// Accepted `iss` values (empty: any issuer whose key is known).
    pub issuers: Vec<String>,
    /// The AS to name in creation hints.
    pub as_uri: String,
    /// Scope-token → permissions.
    pub scope_map: ScopeMap,
    /// Most tokens per subject.
    pub max_tokens_per_client: usize,
    /// Most tokens overall.
    pub max_tokens: usize,
    /// RS identifier for `exi` tokens (`cti = rs_id ‖ seq`); `None` refuses `exi` tokens.
    pub exi_rs_id: Option<Vec<u8>>,
    /// Require `exp` (default: yes, unless the RS is clock-less and uses `exi`).
    pub require_exp: bool,
    /// Clock skew tolerated for `exp`/`nbf`, in seconds.
    pub clock_skew: u64,
    /// Client-nonce freshness (off by default).
    pub cnonce: Option<CnonceConfig>,
    /// Introspect tokens that are not CWTs (reference tokens) at the AS.
    pub introspect_reference_tokens: bool,
}

impl RsConfig {
    /// Defaults for an RS known as `audience` whose AS is at `as_uri`.
    #[must_use]
    pub fn new(audience: impl Into<String>, as_uri: impl Into<String>) -> Self {
        Self {
            audience: audience.into(),
            issuers: Vec::new(),
            as_uri: as_uri.into(),
            scope_map: ScopeMap::new(),
            max_tokens_per_client: 4,
            max_tokens: 256,
            exi_rs_id: None,
            require_exp: true,
            clock_skew: 60,
            cnonce: None,
            introspect_reference_tokens: false,
        }
    }
}

/// The RS's answer at `/authz-info`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RsResponse {
    /// 2.01 Created, with the profile's response payload (empty for RFC 9202).
    Created(AuthzInfoResponse),
    /// A refusal without payload (4.00, 4.01, 4.03, 4.13, 5.03; RFC 9200 §5.10.1.1).
    Refused(CoapCode),
    /// The token is a reference: send this request to the AS's `/introspect`, then call
    /// [`RsEngine::handle_introspection_response`] (RFC 9200 §5.10.1: "MAY make an
    /// introspection request ... before responding").
    Introspect(IntrospectionRequest),
}

impl RsResponse {
    /// The response code (`None` while introspection is pending).
    #[must_use]
    pub fn code(&self) -> Option<CoapCode> {
        match self {
            Self::Created(_) => Some(code::CREATED),
            Self::Refused(c) => Some(*c),
            Self::Introspect(_) => None,
        }
    }
}

/// A durable change made by the RS engine.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RsEffect {
    /// A token was stored.
    TokenStored {
        /// Its binding.
        binding: PopBinding,
        /// Its `cti`.
        cti: Option<Vec<u8>>,
        /// When it ends.
        expires_at: Option<UnixTime>,
    },
    /// A token was replaced by a newer one for the same PoP key.
    TokenSuperseded {
        /// The old token's `cti`.
        cti: Option<Vec<u8>>,
    },
    /// A token was evicted (per-client limit).
    TokenEvicted {
        /// Its `cti`.
        cti: Option<Vec<u8>>,
    },
    /// A token expired and was dropped.
    TokenExpired {
        /// Its `cti`.
        cti: Option<Vec<u8>>,
    },
    /// The highest expired `exi` sequence number (persist it, RFC 9200 §6.6).
    ExiHighestExpired(u64),
}

/// The access decision for a request (RFC 9200 §5.10.2).
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum Access {
    /// Go ahead.
    Allow,
    /// 4.01: no valid token for this peer; the payload is the AS Request Creation Hints.
    Unauthorized(CreationHints),
    /// 4.03: the token does not cover the resource.
    Forbidden,
    /// 4.05: the token covers the resource but not the method.
    MethodNotAllowed,
}

impl Access {
    /// The response code for a refusal; `None` for [`Access::Allow`].
    #[must_use]
    pub fn code(&self) -> Option<CoapCode> {
        match self {
            Self::Allow => None,
            Self::Unauthorized(_) => Some(CoapCode::UNAUTHORIZED),
            Self::Forbidden => Some(CoapCode::FORBIDDEN),
            Self::MethodNotAllowed => Some(code::METHOD_NOT_ALLOWED),
        }
    }
}

type RsOutcome = Outcome<RsResponse, RsEffect>;

fn refused(code: CoapCode) -> RsOutcome {
    Outcome {
        response: RsResponse::Refused(code),
        effects: Vec::new(),
    }
}

/// The Resource Server engine.
pub struct RsEngine {
    config: RsConfig,
    validator: Validator,
    keys: Box<dyn KeyResolver + Send + Sync>,
    backend: Arc<dyn FullBackend + Send + Sync>,
    profiles: Vec<Arc<dyn Profile>>,
    tokens: Box<dyn AcceptedTokenStore>,
    exi: ExiTracker,
    /// `cti` of superseded/evicted tokens → end of their validity.
    retired: BTreeMap<Vec<u8>, Option<UnixTime>>,
    /// Outstanding client nonces → when handed out.
    cnonces: BTreeMap<Vec<u8>, UnixTime>,
    /// Reference tokens waiting for introspection → the authz-info request and its channel.
    pending: BTreeMap<Vec<u8>, (AuthzInfoRequest, ChannelIdentity)>,
    serial: u64,
}

impl core::fmt::Debug for RsEngine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RsEngine")
            .field("config", &self.config)
            .field("tokens", &self.tokens.len())
            .field("exi", &self.exi)
            .finish_non_exhaustive()
    }
}

impl RsEngine {
    /// An engine with the keys it trusts for tokens, a crypto backend and a token store.
    #[must_use]
    pub fn new(
        config: RsConfig,
        keys: Box<dyn KeyResolver + Send + Sync>,
        backend: Arc<dyn FullBackend + Send + Sync>,
        tokens: Box<dyn AcceptedTokenStore>,
    ) -> Self {
        let mut policy =
            ace_token::Policy::new(config.audience.clone()).with_clock_skew(config.clock_skew);
        // The audience is checked after `exp` by the engine (RFC 9200 §5.10.1.1 order).
        policy.audiences = Vec::new();
        policy.issuers.clone_from(&config.issuers);
        policy.required_claims = if config.require_exp {
            alloc::vec![ClaimKey::Int(ace_token::consts::claim::EXP)]
        } else {
            Vec::new()
        };
        policy.exi_rs_id.clone_from(&config.exi_rs_id);
        // Continue the acceptance order of a restored store, so that eviction of the oldest
        // token per client keeps working across a restart.
        let serial = tokens.tokens().iter().map(|t| t.serial).max().unwrap_or(0);
        Self {
            validator: Validator::new(policy),
            config,
            keys,
            backend,
            profiles: alloc::vec![Arc::new(crate::profile::CoapDtls) as Arc<dyn Profile>],
            tokens,
            exi: ExiTracker::new(),
            retired: BTreeMap::new(),
            cnonces: BTreeMap::new(),
            pending: BTreeMap::new(),
            serial,
        }
    }

    /// Replaces the supported profiles (default: [`crate::CoapDtls`]); the first is used
    /// for tokens without `ace_profile`.
    #[must_use]
    pub fn with_profiles(mut self, profiles: Vec<Arc<dyn Profile>>) -> Self {
        self.profiles = profiles;
        self
    }

    /// Restores the persisted highest expired `exi` sequence number.
    #[must_use]
    pub fn with_exi_highest_expired(mut self, highest: Option<u64>) -> Self {
        self.exi = ExiTracker::from_highest_expired(highest);
        self
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &RsConfig {
        &self.config
    }

    /// The stored tokens.
    #[must_use]
    pub fn tokens(&self) -> &dyn AcceptedTokenStore {
        &*self.tokens
    }

    /// The highest expired `exi` sequence number.
    #[must_use]
    pub fn exi_highest_expired(&self) -> Option<u64> {
        self.exi.highest_expired()
    }

    /// The PoP key of the valid token bound to `peer` (a DTLS shell looks up the PSK for a
    /// PSK identity with this).
    #[must_use]
    pub fn pop_key(&self, now: UnixTime, peer: &ChannelIdentity) -> Option<&PopKey> {
        self.token_for(now, peer).and_then(|t| t.pop_key.as_ref())
    }

    fn token_for(&self, now: UnixTime, peer: &ChannelIdentity) -> Option<&AcceptedToken> {
        self.profiles
            .iter()
            .filter_map(|p| p.peer_binding(peer))
            .filter_map(|b| self.tokens.get(&b))
            .find(|t| t.expires_at.is_none_or(|e| now < e))
    }

    /// `/authz-info` (RFC 9200 §5.10.1): validates and stores the token (the channel need
    /// not be authenticated at this point, §5.10.1; the token's PoP key binds later
    /// requests). `content_format` is the request's Content-Format option.
    ///
    /// # Errors
    /// [`Error::Misuse`] never from received data; today the call cannot fail otherwise.
    pub fn handle_authz_info(
        &mut self,
        now: UnixTime,
        content_format: Option<ContentFormat>,
        payload: &[u8],
    ) -> Result<RsOutcome> {
        self.handle_authz_info_from(now, &ChannelIdentity::Anonymous, content_format, payload)
            .map(|(outcome, _)| outcome)
    }

    /// As [`RsEngine::handle_authz_info`] for a request that arrived over a channel that
    /// authenticated `peer` (e.g. an OSCORE-protected update of access rights, RFC 9203
    /// §4.1), handed to [`Profile::check_authz_info`]. Also returns the proof-of-possession
    /// material of the token when it was accepted (2.01): profiles that derive channel keys
    /// from it (RFC 9203: OSCORE_Input_Material) need it, and the RS stores only the binding.
    ///
    /// # Errors
    /// As [`RsEngine::handle_authz_info`].
    pub fn handle_authz_info_from(
        &mut self,
        now: UnixTime,
        peer: &ChannelIdentity,
        content_format: Option<ContentFormat>,
        payload: &[u8],
    ) -> Result<(RsOutcome, Option<ProofOfPossession>)> {
        let req = match AuthzInfoRequest::decode(content_format, payload) {
            Ok(r) => r,
            Err(Error::TooLarge { .. }) => {
                return Ok((refused(CoapCode::REQUEST_ENTITY_TOO_LARGE), None));
            }
            Err(_) => return Ok((refused(CoapCode::BAD_REQUEST), None)),
        };
        let token = req.access_token();
        match self
            .validator
            .validate(token, now, &*self.keys, &*self.backend)
        {
            Ok(v) => {
                let pop = v.pop().cloned();
                let exi_seq = v.exi_cti().map(|c| c.seq);
                let claims = v.into_claims();
                let outcome = self.accept(now, &req, peer, &claims, pop.clone(), exi_seq);
                let pop = pop.filter(|_| matches!(outcome.response, RsResponse::Created(_)));
                Ok((outcome, pop))
            }
            Err(ace_token::Error::Malformed(_) | ace_token::Error::TrailingBytes)
                if self.config.introspect_reference_tokens =>
            {
                let ireq = IntrospectionRequest::new(token.to_vec());
                self.pending
                    .insert(token.to_vec(), (req.clone(), peer.clone()));
                Ok((
                    Outcome {
                        response: RsResponse::Introspect(ireq),
                        effects: Vec::new(),
                    },
                    None,
                ))
            }
            // §5.10.1: a payload that does not parse to a token, or whose claims cannot be
            // obtained, is 4.00; failed protection, issuer and expiry are 4.01.
            Err(ace_token::Error::Malformed(_) | ace_token::Error::TrailingBytes) => {
                Ok((refused(CoapCode::BAD_REQUEST), None))
            }
            Err(e) => Ok((refused(e.coap_code()), None)),
        }
    }

    /// Finishes `/authz-info` for a reference token with the AS's introspection answer for
    /// `token` (the bytes of [`RsResponse::Introspect`]'s request).
    ///
    /// # Errors
    /// [`Error::Misuse`] when no introspection is pending for `token`.
    pub fn handle_introspection_response(
        &mut self,
        now: UnixTime,
        token: &[u8],
        resp: &IntrospectionResponse,
    ) -> Result<RsOutcome> {
        let (req, peer) = self
            .pending
            .remove(token)
            .ok_or(Error::Misuse("no introspection pending for this token"))?;
        if !resp.active {
            return Ok(refused(CoapCode::UNAUTHORIZED));
        }
        let claims = Claims {
            iss: resp.iss.clone(),
            sub: resp.sub.clone(),
            aud: resp.aud.as_deref().map(Audience::from),
            exp: resp.exp,
            nbf: resp.nbf,
            iat: resp.iat,
            cti: resp.cti.clone(),
            cnf: resp.cnf.clone(),
            scope: resp.scope.clone(),
            ace_profile: resp.ace_profile,
            cnonce: resp.cnonce.clone(),
            exi: resp.exi,
            ..Claims::default()
        };
        // The AS vouched for the token; the claim checks still apply (iss, exp, nbf).
        let mut policy = self.validator.policy().clone();
        policy.required_claims = Vec::new();
        if let Err(e) = policy.check_claims(&claims, now) {
            return Ok(refused(e.coap_code()));
        }
        let pop = match &claims.cnf {
            None => None,
            Some(c) => match (&c.key, &c.kid) {
                (Some(CnfKey::CoseKey(k)), _) => Some(ProofOfPossession::Key(k.clone())),
                (Some(CnfKey::Osc(m)), _) => Some(ProofOfPossession::Osc(m.clone())),
                (None, Some(kid)) => Some(ProofOfPossession::Kid(kid.clone())),
                _ => return Ok(refused(CoapCode::BAD_REQUEST)),
            },
        };
        let exi_seq = match (claims.exi, &self.config.exi_rs_id, &claims.cti) {
            (None, _, _) => None,
            (Some(_), Some(rs_id), Some(cti)) => match ExiCti::parse(cti, rs_id) {
                Ok(c) => Some(c.seq),
                Err(_) => return Ok(refused(CoapCode::BAD_REQUEST)),
            },
            (Some(_), _, _) => return Ok(refused(CoapCode::BAD_REQUEST)),
        };
        Ok(self.accept(now, &req, &peer, &claims, pop, exi_seq))
    }

    #[allow(clippy::too_many_lines)]
    fn accept(
        &mut self,
        now: UnixTime,
        req: &AuthzInfoRequest,
        peer: &ChannelIdentity,
        claims: &Claims,
        pop: Option<ProofOfPossession>,
        exi_seq: Option<u64>,
    ) -> RsOutcome {
        // aud (4.03) after iss and exp (checked by the validator).
        if !claims
            .aud
            .as_ref()
            .is_some_and(|a| a.contains(&self.config.audience))
        {
            return refused(CoapCode::FORBIDDEN);
        }
        // scope (4.00)
        let Some(scope) = claims.scope.clone() else {
            return refused(CoapCode::BAD_REQUEST);
        };
        let Some(permissions) = self.config.scope_map.resolve(&scope) else {
            return refused(CoapCode::BAD_REQUEST);
        };
        // profile and PoP binding (4.00: claims this RS cannot process)
        let profile = match claims.ace_profile {
            Some(id) => self.profiles.iter().find(|p| p.id() == id),
            None => self.profiles.first(),
        };
        let Some(profile) = profile.cloned() else {
            return refused(CoapCode::BAD_REQUEST);
        };
        let Some(pop) = pop else {
            return refused(CoapCode::BAD_REQUEST);
        };
        let Some(binding) = profile.token_binding(&pop) else {
            return refused(CoapCode::BAD_REQUEST);
        };
        let existing = self.tokens.get(&binding);
        let pop_key = match &pop {
            ProofOfPossession::Key(k) => Some(k.clone()),
            _ => existing.and_then(|t| t.pop_key.clone()),
        };
        // A `kid` must name a key the RS holds — or, for a profile that binds OSCORE input
        // material, the material of the token it updates (RFC 9203 §4.2).
        let kid_known =
            pop_key.is_some() || (profile.supports(PopKind::OscoreMaterial) && existing.is_some());
        if matches!(pop, ProofOfPossession::Kid(_)) && !kid_known {
            return refused(CoapCode::BAD_REQUEST);
        }
        if let Err(code) = profile.check_authz_info(req, peer, &pop) {
            return refused(code);
        }
        // cnonce (4.01)
        if let Some(cfg) = self.config.cnonce {
            let fresh = claims
                .cnonce
                .as_ref()
                .and_then(|n| self.cnonces.get(n))
                .is_some_and(|issued| now.0 < issued.0.saturating_add(cfg.lifetime));
            if !fresh {
                return refused(CoapCode::UNAUTHORIZED);
            }
        }
        // replay (4.01) / idempotent re-post (2.01)
        if let Some(cti) = &claims.cti {
            if existing.is_some_and(|t| t.cti.as_ref() == Some(cti)) {
                return Outcome {
                    response: RsResponse::Created(profile.authz_info_response(req)),
                    effects: Vec::new(),
                };
            }
            if self.retired.contains_key(cti) {
                return refused(CoapCode::UNAUTHORIZED);
            }
        }
        let mut expires_at = claims
            .exp
            .map(|e| UnixTime(u64::try_from(e.ceil_secs().max(0)).unwrap_or(u64::MAX)));
        if let (Some(exi), Some(seq)) = (claims.exi, exi_seq) {
            match self.exi.admit_seq(seq, exi, now) {
                Ok(a) => {
                    expires_at = Some(expires_at.map_or(a.expires_at, |e| e.min(a.expires_at)))
                }
                Err(_) => return refused(CoapCode::UNAUTHORIZED),
            }
        }
        if expires_at.is_some_and(|e| e <= now) {
            return refused(CoapCode::UNAUTHORIZED);
        }
        if let (Some(_), Some(n)) = (self.config.cnonce, &claims.cnonce) {
            self.cnonces.remove(n);
        }

        let mut effects = Vec::new();
        // capacity (5.03 when full of valid tokens)
        if existing.is_none() && self.tokens.len() >= self.config.max_tokens {
            effects.extend(self.expire(now));
            if self.tokens.len() >= self.config.max_tokens {
                return Outcome {
                    response: RsResponse::Refused(code::SERVICE_UNAVAILABLE),
                    effects,
                };
            }
        }
        let subject = match &claims.sub {
            Some(s) => s.as_bytes().to_vec(),
            None => binding_subject(&binding),
        };
        self.serial = self.serial.wrapping_add(1);
        let token = AcceptedToken {
            binding: binding.clone(),
            subject: subject.clone(),
            cti: claims.cti.clone(),
            scope,
            permissions,
            pop_key,
            expires_at,
            exi_seq,
            ace_profile: Some(profile.id()),
            received_at: now,
            serial: self.serial,
        };
        if let Some(old) = self.tokens.insert(token) {
            if let Some(c) = &old.cti {
                self.retired.insert(c.clone(), old.expires_at);
            }
            effects.push(RsEffect::TokenSuperseded { cti: old.cti });
        }
        // per-client limit: evict the oldest tokens of this subject
        loop {
            let mine: Vec<&AcceptedToken> = self
                .tokens
                .tokens()
                .into_iter()
                .filter(|t| t.subject == subject)
                .collect();
            if mine.len() <= self.config.max_tokens_per_client.max(1) {
                break;
            }
            let Some(oldest) = mine
                .iter()
                .min_by_key(|t| t.serial)
                .map(|t| t.binding.clone())
            else {
                break;
            };
            if let Some(old) = self.tokens.remove(&oldest) {
                if let Some(c) = &old.cti {
                    self.retired.insert(c.clone(), old.expires_at);
                }
                effects.push(RsEffect::TokenEvicted { cti: old.cti });
            }
        }
        effects.push(RsEffect::TokenStored {
            binding,
            cti: claims.cti.clone(),
            expires_at,
        });
        Outcome {
            response: RsResponse::Created(profile.authz_info_response(req)),
            effects,
        }
    }

    /// The access decision for `method` on `local_part` (built as RFC 7252 §6.5 / the `aif`
    /// crate's `local_part_from_options`) from the peer the channel authenticated (RFC 9200
    /// §5.10.2): the token bound to the peer's PoP key decides; without one (or expired),
    /// 4.01 with creation hints (and a fresh `cnonce` when configured).
    pub fn authorize<R: CryptoRng + ?Sized>(
        &mut self,
        now: UnixTime,
        peer: &ChannelIdentity,
        local_part: &str,
        method: Method,
        rng: &mut R,
    ) -> Access {
        if let Some(t) = self.token_for(now, peer) {
            return match t.permissions.check(local_part, method) {
                Decision::Allow => Access::Allow,
                Decision::NoEntry => Access::Forbidden,
                Decision::MethodNotAllowed => Access::MethodNotAllowed,
            };
        }
        Access::Unauthorized(self.creation_hints(now, rng))
    }

    /// AS Request Creation Hints (RFC 9200 §5.3) for an unauthorized request.
    pub fn creation_hints<R: CryptoRng + ?Sized>(
        &mut self,
        now: UnixTime,
        rng: &mut R,
    ) -> CreationHints {
        let cnonce = self.config.cnonce.map(|cfg| {
            let mut n = alloc::vec![0u8; cfg.len.max(8)];
            rng.fill_bytes(&mut n);
            while self.cnonces.len() >= cfg.max_pending.max(1) {
                let oldest = self
                    .cnonces
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => {
                        self.cnonces.remove(&k);
                    }
                    None => break,
                }
            }
            self.cnonces.insert(n.clone(), now);
            n
        });
        CreationHints {
            as_uri: Some(self.config.as_uri.clone()),
            audience: Some(self.config.audience.clone()),
            cnonce,
            ..CreationHints::default()
        }
    }

    /// Drops tokens whose validity ended at or before `now`, advances the `exi` state, and
    /// forgets replay records and nonces that can no longer matter.
    pub fn expire(&mut self, now: UnixTime) -> Vec<RsEffect> {
        let gone: Vec<PopBinding> = self
            .tokens
            .tokens()
            .into_iter()
            .filter(|t| t.expires_at.is_some_and(|e| e <= now))
            .map(|t| t.binding.clone())
            .collect();
        let mut effects = Vec::new();
        let before = self.exi.highest_expired();
        for b in gone {
            if let Some(t) = self.tokens.remove(&b) {
                if let Some(seq) = t.exi_seq {
                    self.exi.expire(seq);
                }
                effects.push(RsEffect::TokenExpired { cti: t.cti });
            }
        }
        if let Some(h) = self.exi.highest_expired()
            && before != Some(h)
        {
            effects.push(RsEffect::ExiHighestExpired(h));
        }
        self.retired
            .retain(|_, until| until.is_none_or(|u| now < u));
        if let Some(cfg) = self.config.cnonce {
            self.cnonces
                .retain(|_, issued| now.0 < issued.0.saturating_add(cfg.lifetime));
        }
        effects
    }
}

fn binding_subject(b: &PopBinding) -> Vec<u8> {
    let (tag, bytes) = match b {
        PopBinding::Kid(k) => (0u8, k),
        PopBinding::RawPublicKey(k) => (1u8, k),
    };
    let mut out = Vec::with_capacity(bytes.len() + 1);
    out.push(tag);
    out.extend_from_slice(bytes);
    out
}
