//! The OSCORE profile of ACE (RFC 9203), feature `ace`: [`OscoreProfile`] implements
//! `ace_core::Profile` and adds the OSCORE steps around the ace-core engines.
//!
//! ```text
//!  AS   AsEngine (with OscoreProfile) ─► token + response, cnf = {osc: {id, ms, ..}}  (§3.2)
//!  C    OscoreProfile::client_authz_info(info, ID1, rng) ─► POST /authz-info
//!            {access_token, nonce1: N1, ace_client_recipientid: ID1}              (§4.1)
//!  RS   OscoreProfile::rs_authz_info(engine, channels, now, peer, cf, payload, rng)
//!            engine: token checks + Profile::check_authz_info ─► store (binding = osc id)
//!            ID2 ∉ channels ∪ {ID1}, N2 ─► 2.01 {nonce2: N2, ace_server_recipientid: ID2}
//!            ─► RsAuthzInfo { code, payload, context: ContextParams (S = ID1, R = ID2) }
//!  C    ClientAuthzInfo::handle_response(code, payload) ─► ContextParams (S = ID2, R = ID1)
//!  both Master Salt = bstr(salt) ‖ bstr(N1) ‖ bstr(N2) (CBOR encodings, §4.3)
//!  RS   request over OSCORE ─► RsChannels::channel_identity(kid, kid context, now)
//!            ─► ChannelIdentity::PskIdentity(osc id) ─► RsEngine::authorize          (§4.4)
//! ```
//!
//! **Binding.** A token is stored under `PopBinding::Kid(id)` with `id` the identifier of its
//! OSCORE Input Material; the channel identity of an OSCORE context derived from it is
//! `ChannelIdentity::PskIdentity(id)` (the shell gets it from [`RsChannels`], which maps the
//! context's Recipient ID and ID Context to the material). A token update (§4.1, a token
//! whose `cnf` is `{kid: id}` POSTed over the OSCORE context of `id`) supersedes the stored
//! token and keeps the context; a token POSTed to the unprotected endpoint (the same one
//! again, or a new one) derives a new context with fresh nonces, replacing the context of
//! its material.
//!
//! **Where the text leaves a choice.** An absent `salt` adds nothing to the Master Salt (it
//! is then `bstr(N1) ‖ bstr(N2)`); the ID Context is `contextId` as given (no prefix); a
//! request or response whose ID is too long for the AEAD nonce (RFC 8613 §3.3) is refused
//! like a missing parameter (4.00 at the RS, an error at the client).

use alloc::vec::Vec;

use ace_core::consts::{ContentFormat, code};
use ace_core::{
    AccessInfo, AuthzInfoRequest, AuthzInfoResponse, ChannelIdentity, CoapCode, Label, Outcome,
    PopBinding, PopKind, Profile, RsEffect, RsEngine, RsResponse, TokenRequestStep, Value,
};
use ace_token::{
    AceProfile, CnfKey, Confirmation, CryptoRng, OscoreInputMaterial, ProofOfPossession,
    SecretBytes, UnixTime,
};

use crate::context::ContextParams;

/// `nonce1` (40), RFC 9203 §9.3.
pub const NONCE1: i64 = 40;
/// `nonce2` (42), RFC 9203 §9.3.
pub const NONCE2: i64 = 42;
/// `ace_client_recipientid` (43), RFC 9203 §9.3.
pub const ACE_CLIENT_RECIPIENTID: i64 = 43;
/// `ace_server_recipientid` (44), RFC 9203 §9.3.
pub const ACE_SERVER_RECIPIENTID: i64 = 44;
/// `coap_oscore` (2), RFC 9203 §9.1.
pub const COAP_OSCORE: i64 = 2;
/// Nonce length: 64-bit random numbers are RECOMMENDED (RFC 9203 §4.1, §4.2).
pub const NONCE_LEN: usize = 8;
/// The OSCORE version this crate implements (RFC 8613 §5.4).
pub const OSCORE_VERSION: u64 = 1;

/// Why an OSCORE-profile step failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// The peer answered with this code instead of 2.01.
    #[error("refused with {0:?}")]
    Refused(CoapCode),
    /// A required parameter is missing or has the wrong type (RFC 9203 §4.3: the client
    /// MUST stop and MUST NOT derive a context).
    #[error("missing or malformed parameter: {0}")]
    MissingParameter(&'static str),
    /// `ace_server_recipientid` equals `ace_client_recipientid` (RFC 9203 §4.3).
    #[error("server and client Recipient IDs are equal")]
    RecipientIdCollision,
    /// The input material has a value this implementation cannot use (unknown `alg`/`hkdf`,
    /// version other than 1, unrecognized parameters, an ID too long for the nonce).
    #[error("unusable OSCORE input material: {0}")]
    Unusable(&'static str),
    /// The access information carries no OSCORE input material.
    #[error("no OSCORE input material")]
    NoMaterial,
    /// An ace-core message error.
    #[error("ace-core: {0}")]
    Core(#[from] ace_core::Error),
}

/// The OSCORE profile (`coap_oscore` = 2).
///
/// As configured for the AS it shapes the generated OSCORE Input Material: `ms_len`-byte
/// Master Secret, optional `salt_len`-byte salt, and optional fixed `alg`, `hkdf`, `version`
/// and `contextId` (absent: the RFC 8613 §3.2 defaults apply at both ends).
#[derive(Debug, Clone, PartialEq)]
pub struct OscoreProfile {
    /// Master Secret length (default 16; RFC 8613 §3.1 recommends at least the key length).
    pub ms_len: usize,
    /// Salt length, 0 for none (default 0).
    pub salt_len: usize,
    /// `alg` to put into the material (default: none, i.e. AES-CCM-16-64-128).
    pub alg: Option<coset::iana::Algorithm>,
    /// `hkdf` to put into the material (default: none, i.e. HKDF SHA-256).
    pub hkdf: Option<coset::iana::Algorithm>,
    /// `version` to put into the material (default: none, i.e. 1).
    pub version: Option<u64>,
    /// `contextId` to put into the material (default: none).
    pub context_id: Option<Vec<u8>>,
}

impl Default for OscoreProfile {
    fn default() -> Self {
        Self::new()
    }
}

impl OscoreProfile {
    /// The profile with 16-byte Master Secrets, no salt and default algorithms.
    #[must_use]
    pub fn new() -> Self {
        Self {
            ms_len: 16,
            salt_len: 0,
            alg: None,
            hkdf: None,
            version: None,
            context_id: None,
        }
    }

    /// Adds a random salt of `len` bytes to every generated material.
    #[must_use]
    pub fn with_salt_len(mut self, len: usize) -> Self {
        self.salt_len = len;
        self
    }

    /// Names the AEAD algorithm in every generated material.
    #[must_use]
    pub fn with_alg(mut self, alg: coset::iana::Algorithm) -> Self {
        self.alg = Some(alg);
        self
    }

    /// Puts `contextId` into every generated material.
    #[must_use]
    pub fn with_context_id(mut self, id: impl Into<Vec<u8>>) -> Self {
        self.context_id = Some(id.into());
        self
    }

    /// AS side: OSCORE Input Material with identifier `id`, Master Secret and salt from `key`
    /// (`ms_len` then `salt_len` bytes) and the configured algorithms (RFC 9203 §3.2).
    #[must_use]
    pub fn material(&self, id: Vec<u8>, key: &[u8]) -> OscoreInputMaterial {
        let (ms, salt) = key.split_at(self.ms_len.min(key.len()));
        OscoreInputMaterial {
            id: Some(id),
            version: self.version,
            ms: Some(SecretBytes::from_slice(ms)),
            hkdf: self.hkdf.map(coset::Algorithm::Assigned),
            alg: self.alg.map(coset::Algorithm::Assigned),
            salt: (!salt.is_empty()).then(|| salt.to_vec()),
            context_id: self.context_id.clone(),
            rest: Vec::new(),
        }
    }

    /// AS side, outside `AsEngine`: fresh material with an 8-byte random `id`.
    pub fn generate_material<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> OscoreInputMaterial {
        let mut id = alloc::vec![0u8; 8];
        rng.fill_bytes(&mut id);
        let key = SecretBytes::generate(self.symmetric_key_len(), rng);
        self.material(id, key.expose())
    }

    /// Client side: the token request for an update of access rights that keeps the OSCORE
    /// context: `req_cnf` = `{kid: id}` with the material's identifier (RFC 9203 §3.1).
    pub fn request_update(step: &mut TokenRequestStep, material_id: &[u8]) {
        step.request.req_cnf = Some(Confirmation::kid(material_id.to_vec()));
    }

    /// Client side: the POST to authz-info after a token response with OSCORE Input
    /// Material: a fresh 8-byte `nonce1` and `recipient_id` as ID1 (RFC 9203 §4.1; the
    /// caller picks ID1 unique among its own Recipient IDs). Returns the Content-Format,
    /// the payload, and the state that processes the answer.
    ///
    /// # Errors
    /// [`ProfileError::NoMaterial`], [`ProfileError::Unusable`] (e.g. ID1 too long for the
    /// AEAD), [`ProfileError::Core`] when the payload cannot be encoded.
    pub fn client_authz_info<R: CryptoRng + ?Sized>(
        &self,
        info: &AccessInfo,
        recipient_id: &[u8],
        rng: &mut R,
    ) -> Result<(ContentFormat, Vec<u8>, ClientAuthzInfo), ProfileError> {
        let material = info.osc.clone().ok_or(ProfileError::NoMaterial)?;
        check_material(&material)?;
        check_id_len(&material, recipient_id)?;
        let mut nonce1 = alloc::vec![0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce1);
        let req = authz_info_request(&info.token, &nonce1, recipient_id);
        Ok((
            ContentFormat::ACE_CBOR,
            req.encode()?,
            ClientAuthzInfo {
                material,
                nonce1,
                recipient_id: recipient_id.to_vec(),
            },
        ))
    }

    /// Client side: the POST of an update token over the existing OSCORE context: only
    /// `access_token` in the map (RFC 9203 §4.1). Protect it with the context; a 2.01 keeps
    /// the context.
    ///
    /// # Errors
    /// [`ProfileError::Core`] when the payload cannot be encoded.
    pub fn client_update_payload(
        info: &AccessInfo,
    ) -> Result<(ContentFormat, Vec<u8>), ProfileError> {
        let req = AuthzInfoRequest::Params {
            access_token: info.token.clone(),
            rest: Vec::new(),
        };
        Ok((ContentFormat::ACE_CBOR, req.encode()?))
    }

    /// RS side: `POST /authz-info` (RFC 9203 §4.2). `peer` is what the channel of the
    /// request authenticated: [`ChannelIdentity::Anonymous`] for the unprotected endpoint,
    /// the [`RsChannels::channel_identity`] of the OSCORE context for an update of access
    /// rights. The engine checks the token (RFC 9200 §5.10.1) and this profile's
    /// [`Profile::check_authz_info`]; on success of an unprotected POST this allocates ID2
    /// (distinct from every Recipient ID in `channels`, its reserved IDs, and ID1), draws
    /// N2, records the channel in `channels` and returns the derived context's parameters
    /// for the shell to install (replacing the context in
    /// [`NewContext::replaces`]). An update answers 2.01 without payload and keeps the
    /// context.
    ///
    /// # Errors
    /// [`ProfileError::Core`] from the engine (never for received data).
    #[allow(clippy::too_many_arguments)]
    pub fn rs_authz_info<R: CryptoRng + ?Sized>(
        &self,
        engine: &mut RsEngine,
        channels: &mut RsChannels,
        now: UnixTime,
        peer: &ChannelIdentity,
        content_format: Option<ContentFormat>,
        payload: &[u8],
        rng: &mut R,
    ) -> Result<RsAuthzInfo, ProfileError> {
        let (outcome, pop) = engine.handle_authz_info_from(now, peer, content_format, payload)?;
        let Outcome { response, effects } = outcome;
        let expires_at = engine
            .tokens()
            .tokens()
            .into_iter()
            .find(|t| match &pop {
                Some(ProofOfPossession::Osc(m)) => {
                    m.id.as_ref()
                        .is_some_and(|id| t.binding == PopBinding::Kid(id.clone()))
                }
                Some(ProofOfPossession::Kid(k)) => t.binding == PopBinding::Kid(k.clone()),
                _ => false,
            })
            .and_then(|t| t.expires_at);
        let refused = |code: CoapCode, effects: Vec<RsEffect>| RsAuthzInfo {
            code,
            payload: Vec::new(),
            effects,
            context: None,
        };
        match (response, pop) {
            (RsResponse::Created(_), Some(ProofOfPossession::Osc(material))) => {
                // check_authz_info has verified nonce1, ID1 and the material.
                let Ok(req) = AuthzInfoRequest::decode(content_format, payload) else {
                    return Ok(refused(CoapCode::BAD_REQUEST, effects));
                };
                let (Some(nonce1), Some(id1), Some(material_id)) = (
                    bytes_param(&req, NONCE1),
                    bytes_param(&req, ACE_CLIENT_RECIPIENTID),
                    material.id.clone(),
                ) else {
                    return Ok(refused(CoapCode::BAD_REQUEST, effects));
                };
                let max = max_id_len(&material).unwrap_or(7);
                let Some(id2) = channels.allocate(&id1, max, rng) else {
                    return Ok(refused(code::SERVICE_UNAVAILABLE, effects));
                };
                let mut nonce2 = alloc::vec![0u8; NONCE_LEN];
                rng.fill_bytes(&mut nonce2);
                let params = context_params(&material, &nonce1, &nonce2, &id1, &id2)?;
                let replaces = channels.install(RsChannel {
                    material_id: material_id.clone(),
                    recipient_id: id2.clone(),
                    id_context: material.context_id.clone(),
                    expires_at,
                });
                let resp = authz_info_response(&nonce2, &id2);
                Ok(RsAuthzInfo {
                    code: code::CREATED,
                    payload: resp.encode()?,
                    effects,
                    context: Some(NewContext {
                        params,
                        material_id,
                        replaces,
                    }),
                })
            }
            (RsResponse::Created(_), Some(ProofOfPossession::Kid(kid))) => {
                // Update of access rights over the context of `kid` (checked by
                // check_authz_info): the context stays, its lifetime follows the new token.
                channels.set_expiry(&kid, expires_at);
                Ok(RsAuthzInfo {
                    code: code::CREATED,
                    payload: Vec::new(),
                    effects,
                    context: None,
                })
            }
            (RsResponse::Created(_), _) => Ok(refused(CoapCode::BAD_REQUEST, effects)),
            (RsResponse::Refused(c), _) => Ok(refused(c, effects)),
            // Reference tokens: introspection is the shell's (not supported with OSCORE yet).
            (_, _) => Ok(refused(CoapCode::BAD_REQUEST, effects)),
        }
    }
}

impl Profile for OscoreProfile {
    fn id(&self) -> AceProfile {
        AceProfile(COAP_OSCORE)
    }

    fn supports(&self, kind: PopKind) -> bool {
        matches!(
            kind,
            PopKind::Symmetric | PopKind::KidReference | PopKind::OscoreMaterial
        )
    }

    fn symmetric_key_len(&self) -> usize {
        self.ms_len.saturating_add(self.salt_len)
    }

    fn accepts_pop_key(&self, key: &ace_token::PopKey) -> bool {
        // RFC 9203 has the AS generate the material; a client key is not usable.
        let _ = key;
        false
    }

    fn symmetric_cnf(&self, key: SecretBytes, kid: Vec<u8>) -> Confirmation {
        Confirmation::osc(self.material(kid, key.expose()))
    }

    fn token_binding(&self, pop: &ProofOfPossession) -> Option<PopBinding> {
        match pop {
            ProofOfPossession::Osc(m) if m.ms.is_some() => m.id.clone().map(PopBinding::Kid),
            ProofOfPossession::Kid(kid) => Some(PopBinding::Kid(kid.clone())),
            _ => None,
        }
    }

    fn peer_binding(&self, peer: &ChannelIdentity) -> Option<PopBinding> {
        match peer {
            ChannelIdentity::PskIdentity(id) => Some(PopBinding::Kid(id.clone())),
            _ => None,
        }
    }

    fn check_authz_info(
        &self,
        request: &AuthzInfoRequest,
        peer: &ChannelIdentity,
        pop: &ProofOfPossession,
    ) -> Result<(), CoapCode> {
        match (peer, pop) {
            // Unprotected POST: the token carries the material; nonce1 and ID1 are required
            // and the material must be usable (RFC 9203 §4.2: 4.00 otherwise).
            (ChannelIdentity::Anonymous, ProofOfPossession::Osc(m)) => {
                let (Some(_), Some(id1)) = (
                    bytes_param(request, NONCE1),
                    bytes_param(request, ACE_CLIENT_RECIPIENTID),
                ) else {
                    return Err(CoapCode::BAD_REQUEST);
                };
                if m.id.is_none() || m.ms.is_none() {
                    return Err(CoapCode::BAD_REQUEST);
                }
                check_material(m).map_err(|_| CoapCode::BAD_REQUEST)?;
                check_id_len(m, &id1).map_err(|_| CoapCode::BAD_REQUEST)
            }
            // A kid-only token needs the OSCORE channel of that material (§4.2: 4.01).
            (ChannelIdentity::Anonymous, _) => Err(CoapCode::BAD_REQUEST),
            (ChannelIdentity::PskIdentity(id), ProofOfPossession::Kid(kid)) if id == kid => Ok(()),
            _ => Err(CoapCode::UNAUTHORIZED),
        }
    }
}

/// The client's state between the POST to authz-info and its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientAuthzInfo {
    /// The material from the AS.
    pub material: OscoreInputMaterial,
    /// N1 as sent.
    pub nonce1: Vec<u8>,
    /// ID1 as sent (the client's Recipient ID).
    pub recipient_id: Vec<u8>,
}

impl ClientAuthzInfo {
    /// Processes the RS's answer (RFC 9203 §4.3): on 2.01 with `nonce2` and
    /// `ace_server_recipientid`, the parameters of the client's context (Sender ID = ID2,
    /// Recipient ID = ID1). Derive it with [`crate::SecurityContext::new`].
    ///
    /// # Errors
    /// [`ProfileError::Refused`] for another code; [`ProfileError::MissingParameter`];
    /// [`ProfileError::RecipientIdCollision`] when ID2 = ID1; [`ProfileError::Unusable`].
    pub fn handle_response(
        &self,
        response_code: CoapCode,
        payload: &[u8],
    ) -> Result<ContextParams, ProfileError> {
        if response_code != code::CREATED {
            return Err(ProfileError::Refused(response_code));
        }
        let resp = AuthzInfoResponse::decode(payload)?;
        let get = |label: i64, name: &'static str| {
            resp.rest
                .iter()
                .find(|(l, _)| *l == Label::Int(label))
                .and_then(|(_, v)| v.as_bytes().cloned())
                .ok_or(ProfileError::MissingParameter(name))
        };
        let nonce2 = get(NONCE2, "nonce2")?;
        let id2 = get(ACE_SERVER_RECIPIENTID, "ace_server_recipientid")?;
        if id2 == self.recipient_id {
            return Err(ProfileError::RecipientIdCollision);
        }
        check_id_len(&self.material, &id2)?;
        context_params(
            &self.material,
            &self.nonce1,
            &nonce2,
            &id2,
            &self.recipient_id,
        )
    }
}

/// What the RS answers at authz-info, and the context to install.
#[derive(Debug)]
pub struct RsAuthzInfo {
    /// The response code (2.01 on success).
    pub code: CoapCode,
    /// The response payload (`application/ace+cbor` on 2.01 with a new context; empty
    /// otherwise).
    pub payload: Vec<u8>,
    /// The engine's effects (persist them before answering).
    pub effects: Vec<RsEffect>,
    /// A newly derived context (unprotected POST), if any.
    pub context: Option<NewContext>,
}

/// A context the RS derived at authz-info (RFC 9203 §4.3), bound to its token (§4.4).
#[derive(Debug)]
pub struct NewContext {
    /// Its parameters (Sender ID = ID1, Recipient ID = ID2): install
    /// `SecurityContext::new(backend, params)` into the server's `ContextSet`.
    pub params: ContextParams,
    /// The OSCORE Input Material identifier (= the token's binding).
    pub material_id: Vec<u8>,
    /// The (Recipient ID, ID Context) of the context this one replaces, to remove from the
    /// `ContextSet` (RFC 9203 §5: the old context is discarded).
    pub replaces: Option<(Vec<u8>, Option<Vec<u8>>)>,
}

/// One OSCORE channel the RS set up through authz-info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsChannel {
    /// The OSCORE Input Material identifier (the token binding).
    pub material_id: Vec<u8>,
    /// The RS's Recipient ID (ID2).
    pub recipient_id: Vec<u8>,
    /// The ID Context.
    pub id_context: Option<Vec<u8>>,
    /// End of the bound token's validity.
    pub expires_at: Option<UnixTime>,
}

/// The RS's OSCORE channels from authz-info: which context belongs to which token, and
/// which Recipient IDs are taken. Held by the shell next to its `ContextSet`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RsChannels {
    channels: Vec<RsChannel>,
    reserved: Vec<Vec<u8>>,
    id_len: usize,
}

impl RsChannels {
    /// No channels; Recipient IDs of 2 bytes (longer when they run out).
    #[must_use]
    pub fn new() -> Self {
        Self {
            channels: Vec::new(),
            reserved: Vec::new(),
            id_len: 2,
        }
    }

    /// Recipient IDs the RS uses for other contexts (never allocated).
    #[must_use]
    pub fn with_reserved(mut self, ids: Vec<Vec<u8>>) -> Self {
        self.reserved = ids;
        self
    }

    /// The channels.
    #[must_use]
    pub fn channels(&self) -> &[RsChannel] {
        &self.channels
    }

    fn taken(&self, id: &[u8]) -> bool {
        self.channels.iter().any(|c| c.recipient_id == id) || self.reserved.iter().any(|r| r == id)
    }

    fn allocate<R: CryptoRng + ?Sized>(
        &self,
        client_id: &[u8],
        max_len: usize,
        rng: &mut R,
    ) -> Option<Vec<u8>> {
        for len in self.id_len.min(max_len)..=max_len {
            for _ in 0..32 {
                let mut id = alloc::vec![0u8; len];
                rng.fill_bytes(&mut id);
                if id != client_id && !self.taken(&id) {
                    return Some(id);
                }
            }
        }
        None
    }

    fn install(&mut self, ch: RsChannel) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
        let old = self
            .channels
            .iter()
            .position(|c| c.material_id == ch.material_id)
            .map(|i| self.channels.remove(i))
            .map(|c| (c.recipient_id, c.id_context));
        self.channels.push(ch);
        old
    }

    fn set_expiry(&mut self, material_id: &[u8], expires_at: Option<UnixTime>) {
        for c in &mut self.channels {
            if c.material_id == material_id {
                c.expires_at = expires_at;
            }
        }
    }

    /// The channel identity for a request verified with the context whose Recipient ID is
    /// `kid` (the request's kid) and ID Context `id_context`: the token binding, for
    /// `RsEngine::authorize` (RFC 9203 §4.4). `None` when unknown or when the token has
    /// expired (the RS MUST NOT use the context then and answers an unprotected 4.01,
    /// §4.3).
    #[must_use]
    pub fn channel_identity(
        &self,
        kid: &[u8],
        id_context: Option<&[u8]>,
        now: UnixTime,
    ) -> Option<ChannelIdentity> {
        self.channels
            .iter()
            .find(|c| c.recipient_id == kid && c.id_context.as_deref() == id_context)
            .filter(|c| c.expires_at.is_none_or(|e| now < e))
            .map(|c| ChannelIdentity::PskIdentity(c.material_id.clone()))
    }

    /// Drops the channels whose token ended at or before `now`; returns their
    /// (Recipient ID, ID Context) for the shell to remove from its `ContextSet` (§5).
    pub fn expire(&mut self, now: UnixTime) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut gone = Vec::new();
        self.channels.retain(|c| {
            let keep = c.expires_at.is_none_or(|e| now < e);
            if !keep {
                gone.push((c.recipient_id.clone(), c.id_context.clone()));
            }
            keep
        });
        gone
    }
}

/// The authz-info request of RFC 9203 §4.1: `{access_token, nonce1, ace_client_recipientid}`.
#[must_use]
pub fn authz_info_request(token: &[u8], nonce1: &[u8], recipient_id: &[u8]) -> AuthzInfoRequest {
    AuthzInfoRequest::Params {
        access_token: token.to_vec(),
        rest: alloc::vec![
            (Label::Int(NONCE1), Value::Bytes(nonce1.to_vec())),
            (
                Label::Int(ACE_CLIENT_RECIPIENTID),
                Value::Bytes(recipient_id.to_vec())
            ),
        ],
    }
}

/// The 2.01 payload of RFC 9203 §4.2: `{nonce2, ace_server_recipientid}`.
#[must_use]
pub fn authz_info_response(nonce2: &[u8], recipient_id: &[u8]) -> AuthzInfoResponse {
    AuthzInfoResponse {
        rest: alloc::vec![
            (Label::Int(NONCE2), Value::Bytes(nonce2.to_vec())),
            (
                Label::Int(ACE_SERVER_RECIPIENTID),
                Value::Bytes(recipient_id.to_vec())
            ),
        ],
    }
}

fn bytes_param(req: &AuthzInfoRequest, label: i64) -> Option<Vec<u8>> {
    req.param(label).and_then(|v| v.as_bytes().cloned())
}

fn push_bstr(out: &mut Vec<u8>, b: &[u8]) {
    let len = b.len() as u64;
    match len {
        0..=23 => out.push(0x40 | len as u8),
        24..=0xff => out.extend_from_slice(&[0x58, len as u8]),
        0x100..=0xffff => {
            out.push(0x59);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x5a);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
    out.extend_from_slice(b);
}

/// The Master Salt of RFC 9203 §4.3 (CBOR): the CBOR byte strings `salt` (when the AS sent
/// one), `nonce1` and `nonce2`, concatenated.
#[must_use]
pub fn master_salt(salt: Option<&[u8]>, nonce1: &[u8], nonce2: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(s) = salt {
        push_bstr(&mut out, s);
    }
    push_bstr(&mut out, nonce1);
    push_bstr(&mut out, nonce2);
    out
}

/// The JSON variant of RFC 9203 §4.3: each of `salt`, `nonce1`, `nonce2` prefixed by its
/// length in one byte (this is the input to the base64 encoding of Figure 9); `None` when
/// one is longer than 255 bytes.
#[must_use]
pub fn master_salt_json(salt: Option<&[u8]>, nonce1: &[u8], nonce2: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for part in salt.into_iter().chain([nonce1, nonce2]) {
        out.push(u8::try_from(part.len()).ok()?);
        out.extend_from_slice(part);
    }
    Some(out)
}

fn aead_of(m: &OscoreInputMaterial) -> Result<coset::iana::Algorithm, ProfileError> {
    match &m.alg {
        None => Ok(crate::consts::DEFAULT_AEAD),
        Some(coset::Algorithm::Assigned(a)) if ace_crypto::aead_params(*a).is_some() => Ok(*a),
        Some(_) => Err(ProfileError::Unusable("alg")),
    }
}

fn hkdf_of(m: &OscoreInputMaterial) -> Result<coset::iana::Algorithm, ProfileError> {
    match &m.hkdf {
        None => Ok(crate::consts::DEFAULT_HKDF),
        Some(coset::Algorithm::Assigned(a)) if ace_crypto::hkdf_hash(*a).is_some() => Ok(*a),
        Some(_) => Err(ProfileError::Unusable("hkdf")),
    }
}

fn check_material(m: &OscoreInputMaterial) -> Result<(), ProfileError> {
    aead_of(m)?;
    hkdf_of(m)?;
    if m.version.is_some_and(|v| v != OSCORE_VERSION) {
        return Err(ProfileError::Unusable("version"));
    }
    if !m.rest.is_empty() {
        return Err(ProfileError::Unusable("unrecognized parameter"));
    }
    if m.ms.is_none() {
        return Err(ProfileError::MissingParameter("ms"));
    }
    Ok(())
}

fn max_id_len(m: &OscoreInputMaterial) -> Option<usize> {
    let a = aead_of(m).ok()?;
    ace_crypto::aead_params(a).map(|p| p.nonce_len.saturating_sub(6))
}

fn check_id_len(m: &OscoreInputMaterial, id: &[u8]) -> Result<(), ProfileError> {
    if max_id_len(m).is_some_and(|max| id.len() <= max) {
        Ok(())
    } else {
        Err(ProfileError::Unusable(
            "Recipient ID too long for the AEAD nonce",
        ))
    }
}

/// The context parameters of RFC 9203 §4.3 from the material, the nonces and the two IDs:
/// Master Secret = `ms`, Master Salt = [`master_salt`], ID Context = `contextId`, AEAD and
/// HKDF from the material or the RFC 8613 defaults.
///
/// # Errors
/// [`ProfileError::MissingParameter`] without `ms`; [`ProfileError::Unusable`] for an
/// unknown algorithm or version.
pub fn context_params(
    m: &OscoreInputMaterial,
    nonce1: &[u8],
    nonce2: &[u8],
    sender_id: &[u8],
    recipient_id: &[u8],
) -> Result<ContextParams, ProfileError> {
    check_material(m)?;
    let ms = m.ms.as_ref().ok_or(ProfileError::MissingParameter("ms"))?;
    let mut p = ContextParams::new(
        ms.expose(),
        &master_salt(m.salt.as_deref(), nonce1, nonce2),
        sender_id,
        recipient_id,
    )
    .with_aead(aead_of(m)?)
    .with_hkdf(hkdf_of(m)?);
    if let Some(c) = &m.context_id {
        p = p.with_id_context(c);
    }
    Ok(p)
}

/// The OSCORE Input Material of a `cnf`, if it carries one.
#[must_use]
pub fn osc_of(cnf: &Confirmation) -> Option<&OscoreInputMaterial> {
    match &cnf.key {
        Some(CnfKey::Osc(m)) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bstr_heads() {
        let mut v = Vec::new();
        push_bstr(&mut v, &[0; 24]);
        assert_eq!(&v[..2], &[0x58, 24]);
        let mut v = Vec::new();
        push_bstr(&mut v, &[0; 256]);
        assert_eq!(&v[..3], &[0x59, 1, 0]);
        assert_eq!(master_salt_json(None, &[0; 256], &[]), None);
    }
}
