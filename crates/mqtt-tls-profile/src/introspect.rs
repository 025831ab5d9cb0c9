//! Token validation by introspection at the AS (feature `broker`; RFC 9200 §5.9, RFC 9431
//! §2.2.5 and §2.3: MQ-073, MQ-085).
//!
//! The broker shell calls [`presented_token`] on CONNECT and AUTH 0x19 before the packet
//! reaches the sans-IO [`crate::ConnectionAuth`]. A token that needs it (a reference token
//! that does not validate locally, or every token with [`IntrospectionConfig::all_tokens`])
//! and has no cached result is introspected with [`introspect`] (`POST /introspect`,
//! `application/ace+cbor`, over HTTPS with HTTP Basic as the broker's client id, or — feature
//! `coap` — over CoAP + OSCORE, the broker identified by its OSCORE Sender ID; response code
//! 2.01 or 2.05 accepted). The answer is cached in
//! the [`crate::TokenStore`] until `min(exp, now + max_age)`
//! ([`crate::TokenStore::put_introspected`]); the auth engine then checks the cached claims
//! ([`crate::AuthConfig::check_token_in`]) and the PoP exactly as for a local token, and
//! refuses a token cached as inactive (0x87). When the AS cannot answer, the broker refuses
//! the CONNECT with 0x88 (Server unavailable).

use std::time::Duration;

use ace_core::{IntrospectionRequest, IntrospectionResponse};
use ace_token::{Audience, Claims, UnixTime};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mqtt5_protocol::{Packet, PropertyId, PropertyValue, ReasonCode};

use crate::consts::{AUTH_METHOD, V311_USERNAME_PREFIX, protocol_level};
use crate::error::{Error, Result};
use crate::https::HttpsEndpoint;
use crate::pop;
use crate::token::TokenStore;

/// Where the AS's introspection endpoint is.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AsEndpoint {
    /// HTTPS (address, trust anchors, the broker's client id and secret for HTTP Basic).
    Https(HttpsEndpoint),
    /// CoAP (feature `coap`): OSCORE-protected (a plain channel cannot authenticate the
    /// broker, so the AS refuses it).
    #[cfg(feature = "coap")]
    Coap(crate::coap_as::CoapEndpoint),
}

impl From<HttpsEndpoint> for AsEndpoint {
    fn from(e: HttpsEndpoint) -> Self {
        Self::Https(e)
    }
}

#[cfg(feature = "coap")]
impl From<crate::coap_as::CoapEndpoint> for AsEndpoint {
    fn from(e: crate::coap_as::CoapEndpoint) -> Self {
        Self::Coap(e)
    }
}

/// How the broker introspects.
#[derive(Debug, Clone)]
pub struct IntrospectionConfig {
    /// The AS.
    pub endpoint: AsEndpoint,
    /// The introspection endpoint's path (default `/introspect`).
    pub path: String,
    /// Longest time a result is cached (it never outlives the token's `exp`).
    pub max_age: Duration,
    /// Introspect every token, also self-contained ones (e.g. to learn of revocation);
    /// otherwise only tokens that do not parse as a CWT or JWT.
    pub all_tokens: bool,
}

impl IntrospectionConfig {
    /// Introspection at `endpoint`'s `/introspect`, results cached for at most 5 minutes,
    /// reference tokens only.
    #[must_use]
    pub fn new(endpoint: impl Into<AsEndpoint>) -> Self {
        Self {
            endpoint: endpoint.into(),
            path: "/introspect".to_owned(),
            max_age: Duration::from_secs(300),
            all_tokens: false,
        }
    }
}

fn auth_data(props: &mqtt5_protocol::Properties) -> Option<&[u8]> {
    match props.get(PropertyId::AuthenticationData) {
        Some(PropertyValue::BinaryData(b)) => Some(b),
        _ => None,
    }
}

fn is_ace(props: &mqtt5_protocol::Properties) -> bool {
    matches!(
        props.get(PropertyId::AuthenticationMethod),
        Some(PropertyValue::Utf8String(m)) if m == AUTH_METHOD
    )
}

/// The token a CONNECT or AUTH 0x19 presents, as the auth engine will see it: the
/// Authentication Data's token, the v3.1.1 Username's, or for a data-less v5 CONNECT the token
/// the store remembers for the Client Identifier (MQ-051). `None` for anything else.
#[must_use]
pub fn presented_token(packet: &Packet, store: &TokenStore, now: UnixTime) -> Option<Vec<u8>> {
    match packet {
        Packet::Connect(c) if c.protocol_version == protocol_level::V311 => c
            .username
            .as_deref()
            .and_then(|u| u.strip_prefix(V311_USERNAME_PREFIX))
            .and_then(|b| URL_SAFE_NO_PAD.decode(b.as_bytes()).ok()),
        Packet::Connect(c) if is_ace(&c.properties) => match auth_data(&c.properties) {
            Some(d) => pop::split_token(d).ok().map(|(t, _)| t.to_vec()),
            None => store.for_client(&c.client_id, now).map(<[u8]>::to_vec),
        },
        Packet::Auth(a) if a.reason_code == ReasonCode::ReAuthenticate => auth_data(&a.properties)
            .and_then(|d| pop::split_token(d).ok())
            .map(|(t, _)| t.to_vec()),
        _ => None,
    }
}

/// The claims of an active introspection response (RFC 9200 §5.9.2 parameters that are
/// token claims).
#[must_use]
pub fn claims_of(r: IntrospectionResponse) -> Claims {
    Claims {
        iss: r.iss,
        sub: r.sub,
        aud: r.aud.map(Audience::Single),
        exp: r.exp,
        nbf: r.nbf,
        iat: r.iat,
        cti: r.cti,
        cnf: r.cnf,
        scope: r.scope,
        ace_profile: r.ace_profile,
        cnonce: r.cnonce,
        exi: r.exi,
        ..Claims::default()
    }
}

/// Asks the AS about `token`: `Some(claims)` if active, `None` if not.
///
/// # Errors
/// [`Error::Transport`] / [`Error::Timeout`] towards the AS; [`Error::AsRefused`] for an
/// error answer (HTTP: not 200, e.g. 401 when the broker's credentials are wrong, 403
/// without introspection rights; CoAP: not 2.01/2.05, `status` = class × 100 + detail, e.g.
/// 401, 403).
pub async fn introspect(cfg: &IntrospectionConfig, token: &[u8]) -> Result<Option<Claims>> {
    let body = IntrospectionRequest::new(token.to_vec())
        .encode()
        .map_err(|e| Error::Transport(format!("introspection request: {e}")))?;
    let (ok, status, payload) = match &cfg.endpoint {
        AsEndpoint::Https(e) => {
            let resp = e.post(&cfg.path, "application/ace+cbor", &body).await?;
            (resp.status == 200, resp.status, resp.body)
        }
        #[cfg(feature = "coap")]
        AsEndpoint::Coap(e) => {
            let resp = e.post(&cfg.path, body).await?;
            (matches!(resp.code, 201 | 205), resp.code, resp.payload)
        }
    };
    if !ok {
        let error = ace_core::ErrorResponse::decode(&payload)
            .ok()
            .and_then(|e| e.error.name().map(str::to_owned))
            .unwrap_or_default();
        return Err(Error::AsRefused { status, error });
    }
    let r = IntrospectionResponse::decode(&payload)
        .map_err(|e| Error::Transport(format!("introspection response: {e}")))?;
    Ok(r.active.then(|| claims_of(r)))
}
