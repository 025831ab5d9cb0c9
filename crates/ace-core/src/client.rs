//! The client engine, app-stepped (typestate): creation hints → token request → Access
//! Information → authz-info upload → keys for the secure channel with the RS.
//!
//! ```text
//!  RS 4.01 + CreationHints ─► ClientEngine::request_token(hints) ─► TokenRequestStep
//!      (as_uri, TokenRequest: audience, scope, cnonce, req_cnf, ace_profile: null)
//!  AS response ─► TokenRequestStep::handle_response(now, code, payload) ─► AccessInfo
//!      (profile checked against ours, lifetime known — RFC 9200 §5.10.4)
//!  AccessInfo::authz_info_request() ─► POST /authz-info;  AccessInfo::channel_identity()
//!      ─► the DTLS PSK identity / raw public key the shell uses towards the RS
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use ace_token::{
    AceProfile, CnfKey, Confirmation, OscoreInputMaterial, PopKey, Scope, SecretBytes, UnixTime,
};

use crate::consts::{ContentFormat, code};
use crate::error::{CoapCode, Error, Result};
use crate::msg::{AuthzInfoRequest, CreationHints, ErrorResponse, TokenRequest, TokenResponse};
use crate::profile::ChannelIdentity;

/// Client settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`, sent when the channel to the AS does not authenticate the client.
    pub client_secret: Option<SecretBytes>,
    /// Profiles the client supports.
    pub profiles: Vec<AceProfile>,
    /// Its own PoP key or key reference (`req_cnf`); `None` asks for an AS-generated key.
    pub req_cnf: Option<Confirmation>,
    /// AS to use when the hints name none.
    pub default_as_uri: Option<String>,
    /// Token lifetime to assume when the AS sends no `expires_in` (RFC 9200 §5.10.4).
    pub default_lifetime: Option<u64>,
}

impl ClientConfig {
    /// A client `client_id` supporting `coap_dtls`, with an AS-generated key.
    #[must_use]
    pub fn new(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: None,
            profiles: alloc::vec![AceProfile(crate::consts::profile::COAP_DTLS)],
            req_cnf: None,
            default_as_uri: None,
            default_lifetime: None,
        }
    }
}

/// The client engine.
#[derive(Debug, Clone)]
pub struct ClientEngine {
    config: ClientConfig,
}

impl ClientEngine {
    /// A client.
    #[must_use]
    pub fn new(config: ClientConfig) -> Self {
        Self { config }
    }

    /// Builds the token request from the RS's AS Request Creation Hints (RFC 9200 §5.3):
    /// the AS to ask, `audience` and `scope` from the hints unless `scope` is given, the
    /// `cnonce` copied (§5.8.1: REQUIRED when the RS sent one), `ace_profile: null` so the AS
    /// names the profile.
    ///
    /// # Errors
    /// [`Error::NoAuthorizationServer`] when neither the hints nor the config name an AS.
    pub fn request_token(
        &self,
        hints: &CreationHints,
        scope: Option<Scope>,
    ) -> Result<TokenRequestStep> {
        let as_uri = hints
            .as_uri
            .clone()
            .or_else(|| self.config.default_as_uri.clone())
            .ok_or(Error::NoAuthorizationServer)?;
        let request = TokenRequest {
            client_id: Some(self.config.client_id.clone()),
            client_secret: self
                .config
                .client_secret
                .as_ref()
                .map(|s| s.expose().to_vec()),
            audience: hints.audience.clone(),
            scope: scope.or_else(|| hints.scope.clone()),
            req_cnf: self.config.req_cnf.clone(),
            ace_profile_requested: true,
            cnonce: hints.cnonce.clone(),
            ..TokenRequest::default()
        };
        Ok(TokenRequestStep {
            as_uri,
            request,
            config: self.config.clone(),
        })
    }
}

/// A token request on its way to the AS.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct TokenRequestStep {
    /// The AS (from the hints).
    pub as_uri: String,
    /// The request to POST to its `/token`.
    pub request: TokenRequest,
    config: ClientConfig,
}

impl TokenRequestStep {
    /// The `application/ace+cbor` payload.
    ///
    /// # Errors
    /// [`Error::Misuse`] for a request that cannot be encoded.
    pub fn payload(&self) -> Result<Vec<u8>> {
        self.request.encode()
    }

    /// Processes the AS's answer.
    ///
    /// # Errors
    /// [`Error::Refused`] for an error response; decoding errors of the response;
    /// [`Error::ProfileNotSupported`]; [`Error::UnknownTokenLifetime`].
    pub fn handle_response(
        self,
        now: UnixTime,
        response_code: CoapCode,
        payload: &[u8],
    ) -> Result<AccessInfo> {
        if response_code != code::CREATED {
            let error = ErrorResponse::decode(payload).ok().map(|e| e.error);
            return Err(Error::Refused {
                code: response_code,
                error,
            });
        }
        let resp = TokenResponse::decode(payload)?;
        let profile = match resp.ace_profile {
            Some(p) if self.config.profiles.contains(&p) => p,
            Some(_) => return Err(Error::ProfileNotSupported),
            None => match self.config.profiles.as_slice() {
                [only] => *only,
                _ => return Err(Error::ProfileNotSupported),
            },
        };
        let lifetime = resp
            .expires_in
            .or(self.config.default_lifetime)
            .ok_or(Error::UnknownTokenLifetime)?;
        let pop_key = match (&resp.cnf, &self.request.req_cnf) {
            (Some(c), _) | (None, Some(c)) => match &c.key {
                Some(CnfKey::CoseKey(k)) => Some(k.clone()),
                _ => None,
            },
            (None, None) => None,
        };
        let osc = match &resp.cnf {
            Some(Confirmation {
                key: Some(CnfKey::Osc(m)),
                ..
            }) => Some(m.clone()),
            _ => None,
        };
        let kid = match (&resp.cnf, &self.request.req_cnf) {
            (Some(c), _) | (None, Some(c)) => c
                .kid
                .clone()
                .or_else(|| pop_key.as_ref().and_then(|k| k.kid.clone()))
                .or_else(|| osc.as_ref().and_then(|m| m.id.clone())),
            (None, None) => None,
        };
        Ok(AccessInfo {
            token: resp.access_token,
            audience: self.request.audience,
            scope: resp.scope.or(self.request.scope),
            profile,
            pop_key,
            kid,
            osc,
            rs_cnf: resp.rs_cnf,
            expires_at: now.saturating_add(lifetime),
        })
    }
}

/// What the client holds after a successful token request.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessInfo {
    /// The access token (opaque to the client).
    pub token: Vec<u8>,
    /// The audience it is for.
    pub audience: Option<String>,
    /// The scope granted (the response's, or the requested one when the AS did not say).
    pub scope: Option<Scope>,
    /// The profile to use with the RS.
    pub profile: AceProfile,
    /// The PoP key: AS-generated (`cnf`) or the client's own (`req_cnf`).
    pub pop_key: Option<PopKey>,
    /// The key identifier the channel uses (`kid` of the PoP key or the referenced key; the
    /// `id` of OSCORE input material).
    pub kid: Option<Vec<u8>>,
    /// OSCORE input material from the AS (`cnf` `osc`, RFC 9203 §3.2): the client derives
    /// its OSCORE context with the RS from it.
    pub osc: Option<OscoreInputMaterial>,
    /// The RS's authentication key, if the AS sent one.
    pub rs_cnf: Option<Confirmation>,
    /// When the token (and its keys) must no longer be used (RFC 9200 §5.10.4).
    pub expires_at: UnixTime,
}

impl AccessInfo {
    /// Whether the token and its keys may still be used.
    #[must_use]
    pub fn is_valid(&self, now: UnixTime) -> bool {
        now < self.expires_at
    }

    /// The `/authz-info` request: the token as `application/cwt` (RFC 9200 §5.10.1).
    #[must_use]
    pub fn authz_info_request(&self) -> (ContentFormat, AuthzInfoRequest) {
        (
            ContentFormat::CWT,
            AuthzInfoRequest::Token(self.token.clone()),
        )
    }

    /// Checks the RS's answer to the upload.
    ///
    /// # Errors
    /// [`Error::Refused`] unless the RS answered 2.01.
    pub fn handle_authz_info_response(&self, response_code: CoapCode) -> Result<()> {
        if response_code == code::CREATED {
            Ok(())
        } else {
            Err(Error::Refused {
                code: response_code,
                error: None,
            })
        }
    }

    /// The identity the client presents on the secure channel with the RS (RFC 9202: the
    /// PSK identity is the symmetric key's `kid`; with an asymmetric key, its raw public
    /// key).
    #[must_use]
    pub fn channel_identity(&self) -> Option<ChannelIdentity> {
        match self.pop_key.as_ref().and_then(PopKey::public_key) {
            Some(pk) => Some(ChannelIdentity::RawPublicKey(pk.clone())),
            None => self.kid.clone().map(ChannelIdentity::PskIdentity),
        }
    }
}
