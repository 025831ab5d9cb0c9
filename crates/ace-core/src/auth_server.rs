//! The Authorization Server engine: `/token` (RFC 9200 §5.8) and `/introspect` (§5.9).
//!
//! ```text
//!  shell: secure channel ─► ChannelIdentity ┐
//!         payload ──────────────────────────┼─► AsEngine::handle_token_bytes(now, .., rng)
//!                                           │      ├─ authenticate (channel or client_id/secret)
//!                                           │      ├─ grant type, audience, scope (Policy)
//!                                           │      ├─ profile (Profile, registry) and PoP key
//!                                           │      └─ claims → ace-token Issuer (Sign1/Mac0/Encrypt0)
//!         ◄── Outcome { response: AsResponse (code + payload), effects: [TokenIssued, ..] }
//!  shell: persist effects, then send the response
//! ```
//!
//! Refusals follow §5.8.3: 4.00 with the ACE error code, 4.01 for `invalid_client`.
//! The checks run in this order, each with its error:
//!
//! 1. client authentication: the channel identity ([`ChannelIdentity`]) or, on an anonymous
//!    channel, `client_id` + `client_secret` — `invalid_client` (4.01);
//! 2. the client may use `/token` at all — `unauthorized_client`;
//! 3. grant type supported by the AS — `unsupported_grant_type`; allowed for the client —
//!    `unauthorized_client`;
//! 4. audience (request or client default) known — `invalid_request`;
//! 5. scope (request or client default) — `invalid_scope` when absent (RFC 6749 §3.3); the
//!    [`Policy`] grants a subset — `unauthorized_client` (audience not allowed) or
//!    `invalid_scope` (nothing grantable);
//! 6. `req_cnf`: symmetric keys, encrypted keys and OSCORE material — `invalid_request`
//!    (digest A.4 item 18); asymmetric keys the RS cannot process — `unsupported_pop_key`;
//! 7. a profile both client and RS support — `incompatible_ace_profiles`; one of them that can
//!    bind the PoP key — `unsupported_pop_key`.
//!
//! Issued tokens are recorded in the [`TokenStore`] and returned as [`AsEffect::TokenIssued`];
//! `cti` is 8 random bytes followed by a counter, checked against the store (RS-id ‖ sequence
//! number for `exi` tokens, RFC 9200 §5.10.3).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use ace_token::{
    ClaimsBuilder, CnfKey, Confirmation, CryptoRng, EncryptedCoseKey, ExiCti, FullBackend, Issuer,
    PopKey, PopKeyMaterial, Scope, SecretBytes, UnixTime,
};

use crate::error::{CoapCode, Error, Result};
use crate::msg::{
    ErrorCode, ErrorResponse, GrantType, IntrospectionRequest, IntrospectionResponse, TokenRequest,
    TokenResponse, TokenType,
};
use crate::policy::{Grant, Policy};
use crate::profile::{ChannelIdentity, PopKind, Profile};
use crate::registry::{
    ClientCredential, ClientInfo, ClientRegistry, ResourceServerInfo, TokenFormat,
};
use crate::store::{IssuedToken, TokenStore};

/// What an engine call produced: the response to send and the durable writes to make first.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Outcome<R, E> {
    /// The response.
    pub response: R,
    /// Changes the shell persists before sending the response.
    pub effects: Vec<E>,
}

/// The AS's answer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AsResponse {
    /// 2.01 with the Access Information (RFC 9200 §5.8.2).
    Token(TokenResponse),
    /// 2.01 with an introspection response (§5.9.2).
    Introspection(IntrospectionResponse),
    /// An error (§5.8.3, §5.9.3): 4.00, or 4.01 for `invalid_client`.
    Error(ErrorResponse),
    /// 4.03 without payload: the caller may not use `/introspect` (§5.9.3).
    Forbidden,
}

impl AsResponse {
    /// The CoAP response code.
    #[must_use]
    pub fn code(&self) -> CoapCode {
        match self {
            Self::Token(_) | Self::Introspection(_) => crate::consts::code::CREATED,
            Self::Error(e) => e.coap_code(),
            Self::Forbidden => CoapCode::FORBIDDEN,
        }
    }

    /// The `application/ace+cbor` payload (empty for [`AsResponse::Forbidden`]).
    ///
    /// # Errors
    /// [`Error::Misuse`] if a message cannot be encoded (a caller-built extension clash).
    pub fn payload(&self) -> Result<Vec<u8>> {
        match self {
            Self::Token(t) => t.encode(),
            Self::Introspection(i) => i.encode(),
            Self::Error(e) => e.encode(),
            Self::Forbidden => Ok(Vec::new()),
        }
    }

    /// The ACE error code, for an error response.
    #[must_use]
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Error(e) => Some(e.error),
            _ => None,
        }
    }
}

/// A durable change made by the AS engine.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AsEffect {
    /// A token was issued (persist before sending it).
    TokenIssued(Box<IssuedToken>),
    /// The `exi` sequence number for an audience advanced to `seq` (persist: reusing a
    /// sequence number after a restart would make the RS treat new tokens as expired).
    ExiSequence {
        /// The audience.
        audience: String,
        /// The last sequence number used.
        seq: u64,
    },
    /// A token was revoked.
    TokenRevoked {
        /// Its `cti`.
        cti: Vec<u8>,
    },
    /// Expired tokens were dropped from the store.
    TokensExpired {
        /// Their `cti`s.
        ctis: Vec<Vec<u8>>,
    },
}

/// AS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsConfig {
    /// `iss` of issued tokens.
    pub issuer: String,
    /// Grant types this AS implements (only `client_credentials` is implemented here).
    pub grant_types: Vec<GrantType>,
    /// Accept a symmetric key in `req_cnf` (default `false`: `invalid_request`, digest A.4
    /// item 18).
    pub allow_symmetric_req_cnf: bool,
}

impl AsConfig {
    /// Defaults for an AS called `issuer`.
    #[must_use]
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            grant_types: alloc::vec![GrantType::CLIENT_CREDENTIALS],
            allow_symmetric_req_cnf: false,
        }
    }
}

/// A refusal while processing a token request.
struct Refusal(ErrorCode);

fn refuse(code: ErrorCode) -> Refusal {
    Refusal(code)
}

/// The Authorization Server engine.
pub struct AsEngine {
    config: AsConfig,
    registry: Box<dyn ClientRegistry>,
    policy: Box<dyn Policy>,
    store: Box<dyn TokenStore>,
    profiles: Vec<Arc<dyn Profile>>,
    backend: Arc<dyn FullBackend + Send + Sync>,
    counter: u64,
    exi_seq: BTreeMap<String, u64>,
}

impl core::fmt::Debug for AsEngine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AsEngine")
            .field("config", &self.config)
            .field("profiles", &self.profiles)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl AsEngine {
    /// An engine with its seams.
    #[must_use]
    pub fn new(
        config: AsConfig,
        registry: Box<dyn ClientRegistry>,
        policy: Box<dyn Policy>,
        store: Box<dyn TokenStore>,
        backend: Arc<dyn FullBackend + Send + Sync>,
    ) -> Self {
        Self {
            config,
            registry,
            policy,
            store,
            profiles: alloc::vec![Arc::new(crate::profile::CoapDtls) as Arc<dyn Profile>],
            backend,
            counter: 0,
            exi_seq: BTreeMap::new(),
        }
    }

    /// Replaces the profiles the AS can issue for (default: [`crate::CoapDtls`]).
    #[must_use]
    pub fn with_profiles(mut self, profiles: Vec<Arc<dyn Profile>>) -> Self {
        self.profiles = profiles;
        self
    }

    /// Restores the persisted `exi` sequence number of an audience.
    pub fn restore_exi_sequence(&mut self, audience: impl Into<String>, seq: u64) {
        self.exi_seq.insert(audience.into(), seq);
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &AsConfig {
        &self.config
    }

    /// The token store.
    #[must_use]
    pub fn store(&self) -> &dyn TokenStore {
        &*self.store
    }

    fn error(code: ErrorCode) -> Outcome<AsResponse, AsEffect> {
        Outcome {
            response: AsResponse::Error(ErrorResponse::new(code)),
            effects: Vec::new(),
        }
    }

    fn channel_client(&self, channel: &ChannelIdentity) -> Option<Option<ClientInfo>> {
        match channel {
            ChannelIdentity::Anonymous => None,
            other => Some(self.registry.client_for_channel(other)),
        }
    }

    /// `/token` with the raw `application/ace+cbor` payload. A payload that does not decode
    /// is `invalid_request`, except that a client the channel did not authenticate gets
    /// `invalid_client` (it cannot be authenticated), and a client that may not use `/token`
    /// gets `unauthorized_client` whatever it sent.
    ///
    /// # Errors
    /// As [`AsEngine::handle_token`].
    pub fn handle_token_bytes<R: CryptoRng + ?Sized>(
        &mut self,
        now: UnixTime,
        channel: &ChannelIdentity,
        payload: &[u8],
        rng: &mut R,
    ) -> Result<Outcome<AsResponse, AsEffect>> {
        match self.channel_client(channel) {
            Some(None) => return Ok(Self::error(ErrorCode::INVALID_CLIENT)),
            Some(Some(c)) if c.grant_types.is_empty() => {
                return Ok(Self::error(ErrorCode::UNAUTHORIZED_CLIENT));
            }
            _ => {}
        }
        match TokenRequest::decode(payload) {
            Ok(req) => self.handle_token(now, channel, &req, rng),
            Err(e) => {
                if matches!(channel, ChannelIdentity::Anonymous) {
                    return Ok(Self::error(ErrorCode::INVALID_CLIENT));
                }
                Ok(Self::error(
                    e.error_code().unwrap_or(ErrorCode::INVALID_REQUEST),
                ))
            }
        }
    }

    fn authenticate(
        &self,
        channel: &ChannelIdentity,
        client_id: Option<&str>,
        secret: Option<&[u8]>,
    ) -> core::result::Result<ClientInfo, Refusal> {
        let invalid = || refuse(ErrorCode::INVALID_CLIENT);
        if let Some(found) = self.channel_client(channel) {
            let client = found.ok_or_else(invalid)?;
            if client_id.is_some_and(|id| id != client.id) {
                return Err(invalid());
            }
            return Ok(client);
        }
        let client = self
            .registry
            .client(client_id.ok_or_else(invalid)?)
            .ok_or_else(invalid)?;
        let given = SecretBytes::from_slice(secret.ok_or_else(invalid)?);
        let ok = client
            .credentials
            .iter()
            .any(|c| matches!(c, ClientCredential::Secret(s) if *s == given));
        if ok { Ok(client) } else { Err(invalid()) }
    }

    /// `/token` (RFC 9200 §5.8) for a decoded request from a peer the channel identified as
    /// `channel`.
    ///
    /// # Errors
    /// Only failures that are not the client's fault ([`Error::Token`] from the backend,
    /// [`Error::Store`]); every refusal is an [`AsResponse::Error`].
    pub fn handle_token<R: CryptoRng + ?Sized>(
        &mut self,
        now: UnixTime,
        channel: &ChannelIdentity,
        req: &TokenRequest,
        rng: &mut R,
    ) -> Result<Outcome<AsResponse, AsEffect>> {
        let plan = match self.plan(channel, req) {
            Ok(p) => p,
            Err(Refusal(code)) => return Ok(Self::error(code)),
        };
        self.issue(now, req, plan, rng)
    }

    fn plan(
        &self,
        channel: &ChannelIdentity,
        req: &TokenRequest,
    ) -> core::result::Result<Plan, Refusal> {
        let client = self.authenticate(
            channel,
            req.client_id.as_deref(),
            req.client_secret.as_deref(),
        )?;
        if client.grant_types.is_empty() {
            return Err(refuse(ErrorCode::UNAUTHORIZED_CLIENT));
        }
        let grant = req.effective_grant_type();
        if !self.config.grant_types.contains(&grant) {
            return Err(refuse(ErrorCode::UNSUPPORTED_GRANT_TYPE));
        }
        if !client.grant_types.contains(&grant) {
            return Err(refuse(ErrorCode::UNAUTHORIZED_CLIENT));
        }
        let audience = req
            .audience
            .clone()
            .or_else(|| client.default_audience.clone())
            .ok_or(refuse(ErrorCode::INVALID_REQUEST))?;
        let rs = self
            .registry
            .resource_server(&audience)
            .ok_or(refuse(ErrorCode::INVALID_REQUEST))?;
        let requested = req
            .scope
            .clone()
            .or_else(|| client.default_scope.clone())
            .ok_or(refuse(ErrorCode::INVALID_SCOPE))?;
        let scope = match self.policy.grant(&client, &audience, &requested) {
            Grant::Granted(s) => s,
            Grant::AudienceNotAllowed => return Err(refuse(ErrorCode::UNAUTHORIZED_CLIENT)),
            Grant::InvalidScope => return Err(refuse(ErrorCode::INVALID_SCOPE)),
        };

        let (kind, client_key) = match &req.req_cnf {
            None => (PopKind::Symmetric, None),
            Some(cnf) => match &cnf.key {
                Some(CnfKey::CoseKey(k)) => match &k.material {
                    PopKeyMaterial::Public(pk) => {
                        if !rs.pop_key_types.contains(&pk.key_type()) {
                            return Err(refuse(ErrorCode::UNSUPPORTED_POP_KEY));
                        }
                        (PopKind::Asymmetric(pk.key_type()), Some(k.clone()))
                    }
                    PopKeyMaterial::Symmetric(_) if self.config.allow_symmetric_req_cnf => {
                        (PopKind::Symmetric, Some(k.clone()))
                    }
                    _ => return Err(refuse(ErrorCode::INVALID_REQUEST)),
                },
                None if cnf.kid.is_some() => (PopKind::KidReference, None),
                _ => return Err(refuse(ErrorCode::INVALID_REQUEST)),
            },
        };

        let common: Vec<&Arc<dyn Profile>> = rs
            .profiles
            .iter()
            .filter(|p| client.profiles.contains(p))
            .filter_map(|p| self.profiles.iter().find(|q| q.id() == *p))
            .collect();
        if common.is_empty() {
            return Err(refuse(ErrorCode::INCOMPATIBLE_ACE_PROFILES));
        }
        let profile = common
            .into_iter()
            .find(|p| p.supports(kind) && client_key.as_ref().is_none_or(|k| p.accepts_pop_key(k)))
            .cloned()
            .ok_or(refuse(ErrorCode::UNSUPPORTED_POP_KEY))?;
        if kind == PopKind::Symmetric
            && !matches!(
                rs.token_format,
                TokenFormat::Encrypt0 { .. } | TokenFormat::Reference { .. }
            )
            && rs.cnf_key_encryption.is_none()
        {
            // A symmetric PoP key must be readable by the RS only (RFC 9200 §6.1).
            return Err(refuse(ErrorCode::UNSUPPORTED_POP_KEY));
        }
        Ok(Plan {
            client,
            audience,
            rs,
            scope,
            profile,
            client_key,
            kind,
        })
    }

    fn fresh_cti<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Result<Vec<u8>> {
        for _ in 0..4 {
            self.counter = self.counter.wrapping_add(1);
            let mut cti = alloc::vec![0u8; 8];
            rng.fill_bytes(&mut cti);
            let be = self.counter.to_be_bytes();
            let skip = be.iter().take(7).take_while(|b| **b == 0).count();
            cti.extend(be.iter().skip(skip));
            if !self.store.contains_cti(&cti) {
                return Ok(cti);
            }
        }
        Err(Error::Store("no fresh cti"))
    }

    fn issue<R: CryptoRng + ?Sized>(
        &mut self,
        now: UnixTime,
        req: &TokenRequest,
        plan: Plan,
        rng: &mut R,
    ) -> Result<Outcome<AsResponse, AsEffect>> {
        let Plan {
            client,
            audience,
            rs,
            scope,
            profile,
            client_key,
            kind,
        } = plan;
        let mut effects = Vec::new();

        // PoP key: the client's, a kid reference, or a fresh symmetric key.
        let (record_cnf, response_cnf) = match (kind, client_key, &req.req_cnf) {
            (PopKind::Asymmetric(_), Some(k), _) | (PopKind::Symmetric, Some(k), _) => {
                (Confirmation::cose_key(k), None)
            }
            (PopKind::KidReference, _, Some(cnf)) => (cnf.clone(), None),
            _ => {
                let key = SecretBytes::generate(profile.symmetric_key_len(), rng);
                let mut kid = alloc::vec![0u8; 8];
                rng.fill_bytes(&mut kid);
                let c = profile.symmetric_cnf(key, kid);
                (c.clone(), Some(c))
            }
        };
        // Only a COSE_Key can become an Encrypted_COSE_Key; other key material (RFC 9203
        // `osc`) needs a token the RS alone can read (RFC 9200 §6.1).
        if !matches!(record_cnf.key, None | Some(CnfKey::CoseKey(_)))
            && response_cnf.is_some()
            && !matches!(
                rs.token_format,
                TokenFormat::Encrypt0 { .. } | TokenFormat::Reference { .. }
            )
        {
            return Ok(Self::error(ErrorCode::UNSUPPORTED_POP_KEY));
        }
        let token_cnf = match (&record_cnf.key, &rs.token_format, &rs.cnf_key_encryption) {
            (Some(CnfKey::CoseKey(k)), f, Some(kek))
                if k.symmetric_key().is_some()
                    && !matches!(
                        f,
                        TokenFormat::Encrypt0 { .. } | TokenFormat::Reference { .. }
                    ) =>
            {
                let iv = ace_token::cose::random_iv(kek.alg, rng)?;
                Confirmation::encrypted(EncryptedCoseKey::encrypt(
                    k,
                    kek.alg,
                    kek.key.expose(),
                    &iv,
                    kek.kid.as_deref(),
                    &*self.backend,
                )?)
            }
            _ => record_cnf.clone(),
        };

        let (cti, exi_seq) = match &rs.exi_rs_id {
            Some(rs_id) => {
                let seq = self
                    .exi_seq
                    .get(&audience)
                    .copied()
                    .unwrap_or(0)
                    .checked_add(1)
                    .ok_or(Error::Store("exi sequence exhausted"))?;
                let cti = ExiCti::new(rs_id.clone(), seq);
                (cti.encode(), Some((seq, cti)))
            }
            None => (self.fresh_cti(rng)?, None),
        };

        let mut b = ClaimsBuilder::new()
            .issuer(self.config.issuer.clone())
            .subject(client.id.clone())
            .audience(audience.clone())
            .issued_at(now)
            .cnf(token_cnf)
            .scope(scope.clone())
            .ace_profile(profile.id());
        let expires_at = match &exi_seq {
            Some((_, exi_cti)) => {
                b = b.exi(rs.lifetime, exi_cti);
                None
            }
            None => {
                let exp = now.saturating_add(rs.lifetime);
                b = b.expiration(exp).cti(cti.clone());
                Some(exp)
            }
        };
        if let Some(n) = &req.cnonce {
            b = b.cnonce(n.clone());
        }
        let claims = b.build();

        let issuer = Issuer::with_options(&*self.backend, rs.issue_options.clone());
        let token = match &rs.token_format {
            TokenFormat::Sign1 { alg, key, kid } => {
                issuer.sign1(&claims, *alg, key, kid.as_deref())?
            }
            TokenFormat::Mac0 { alg, key, kid } => {
                issuer.mac0(&claims, *alg, key.expose(), kid.as_deref())?
            }
            TokenFormat::Encrypt0 { alg, key, kid } => {
                issuer.encrypt0_random_iv(&claims, *alg, key.expose(), kid.as_deref(), rng)?
            }
            TokenFormat::Reference { len } => {
                let mut r = alloc::vec![0u8; (*len).max(8)];
                rng.fill_bytes(&mut r);
                r
            }
        };

        let record = IssuedToken {
            cti,
            token: token.clone(),
            client_id: client.id.clone(),
            audience: audience.clone(),
            scope: scope.clone(),
            issued_at: now,
            expires_at,
            exi: exi_seq.as_ref().map(|_| rs.lifetime),
            cnf: record_cnf,
            ace_profile: profile.id(),
            cnonce: req.cnonce.clone(),
            revoked: false,
        };
        self.store.insert(record.clone())?;
        if let Some((seq, _)) = exi_seq {
            self.exi_seq.insert(audience.clone(), seq);
            effects.push(AsEffect::ExiSequence { audience, seq });
        }
        effects.push(AsEffect::TokenIssued(Box::new(record)));

        let mut response = TokenResponse {
            access_token: token,
            expires_in: Some(rs.lifetime),
            scope: (req.scope.as_ref() != Some(&scope)).then_some(scope),
            ace_profile: Some(profile.id()),
            cnf: response_cnf,
            rs_cnf: matches!(kind, PopKind::Asymmetric(_))
                .then(|| rs.rs_cnf.clone())
                .flatten(),
            ..TokenResponse::default()
        };
        profile.extend_token_response(&mut response);
        Ok(Outcome {
            response: AsResponse::Token(response),
            effects,
        })
    }

    /// `/introspect` with the raw payload: the caller is authenticated and authorized before
    /// the payload is decoded (an undecodable payload is then `invalid_request`).
    ///
    /// # Errors
    /// As [`AsEngine::handle_introspect`].
    pub fn handle_introspect_bytes(
        &mut self,
        now: UnixTime,
        channel: &ChannelIdentity,
        payload: &[u8],
    ) -> Result<Outcome<AsResponse, AsEffect>> {
        if let Err(r) = self.introspection_caller(channel) {
            return Ok(Outcome {
                response: r.response(),
                effects: Vec::new(),
            });
        }
        match IntrospectionRequest::decode(payload) {
            Ok(req) => self.handle_introspect(now, channel, &req),
            Err(e) => Ok(Self::error(
                e.error_code().unwrap_or(ErrorCode::INVALID_REQUEST),
            )),
        }
    }

    fn introspection_caller(
        &self,
        channel: &ChannelIdentity,
    ) -> core::result::Result<Vec<String>, CallerRefused> {
        let client = match self.channel_client(channel) {
            Some(Some(c)) => c,
            _ => return Err(CallerRefused::InvalidClient),
        };
        client.introspect_audiences.ok_or(CallerRefused::Forbidden)
    }

    /// `/introspect` (RFC 9200 §5.9) from a caller the secure channel authenticated (RFC 9200
    /// §5.9: mutual authentication is required, so an anonymous caller is `invalid_client`).
    /// A caller without introspection rights gets 4.03 with no payload; a token the AS did
    /// not issue, that is revoked, expired, or for an audience the caller may not learn
    /// about, is `active: false` and nothing else (RFC 7662 §2.2).
    ///
    /// # Errors
    /// None today; the `Result` leaves room for stores that can fail.
    pub fn handle_introspect(
        &mut self,
        now: UnixTime,
        channel: &ChannelIdentity,
        req: &IntrospectionRequest,
    ) -> Result<Outcome<AsResponse, AsEffect>> {
        let audiences = match self.introspection_caller(channel) {
            Ok(a) => a,
            Err(r) => {
                return Ok(Outcome {
                    response: r.response(),
                    effects: Vec::new(),
                });
            }
        };
        let response = match self.store.find_by_token(&req.token) {
            Some(t) if t.is_active(now) && audiences.contains(&t.audience) => {
                IntrospectionResponse {
                    active: true,
                    iss: Some(self.config.issuer.clone()),
                    sub: Some(t.client_id.clone()),
                    aud: Some(t.audience),
                    exp: t.expires_at.map(Into::into),
                    iat: Some(t.issued_at.into()),
                    cti: Some(t.cti),
                    scope: Some(t.scope),
                    client_id: Some(t.client_id),
                    token_type: Some(TokenType::POP),
                    ace_profile: Some(t.ace_profile),
                    cnonce: t.cnonce,
                    exi: t.exi,
                    cnf: Some(t.cnf),
                    ..IntrospectionResponse::default()
                }
            }
            _ => IntrospectionResponse::default(),
        };
        Ok(Outcome {
            response: AsResponse::Introspection(response),
            effects: Vec::new(),
        })
    }

    /// Revokes the token with this `cti` (introspection answers `active: false` from now
    /// on). `None` when the AS knows no such token.
    pub fn revoke(&mut self, cti: &[u8]) -> Option<AsEffect> {
        self.store
            .revoke(cti)
            .then(|| AsEffect::TokenRevoked { cti: cti.to_vec() })
    }

    /// Drops tokens that ended before `now` from the store.
    pub fn expire(&mut self, now: UnixTime) -> Option<AsEffect> {
        let ctis = self.store.remove_expired(now);
        (!ctis.is_empty()).then_some(AsEffect::TokensExpired { ctis })
    }
}

enum CallerRefused {
    InvalidClient,
    Forbidden,
}

impl CallerRefused {
    fn response(self) -> AsResponse {
        match self {
            Self::InvalidClient => AsResponse::Error(ErrorResponse::new(ErrorCode::INVALID_CLIENT)),
            Self::Forbidden => AsResponse::Forbidden,
        }
    }
}

struct Plan {
    client: ClientInfo,
    audience: String,
    rs: ResourceServerInfo,
    scope: Scope,
    profile: Arc<dyn Profile>,
    client_key: Option<PopKey>,
    kind: PopKind,
}
