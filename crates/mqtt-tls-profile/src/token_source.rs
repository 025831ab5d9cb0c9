//! Where a client gets its token (feature `client`): the [`TokenSource`] trait, implemented
//! for closures (a callback) and by [`HttpsTokenSource`], which asks the AS over HTTPS with
//! JSON (RFC 9431 §2.1, RFC 9200 §5.8; MQ-T15: the AIF-MQTT scope is the base64url string of
//! its JSON).

use core::future::Future;

use ace_core::{TokenRequest, TokenResponse};
use ace_crypto::{CryptoBackend as _, PrivateKey};
use ace_token::RustCrypto;
use ace_token::{PopKey, PopKeyMaterial, Scope, UnixTime};
use aif::MqttAif;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Result};
use crate::https::HttpsEndpoint;
use crate::pop::ClientKey;

/// A token and the key that proves possession of it.
#[derive(Clone)]
pub struct Credentials {
    /// The token (CWT, JWT or a reference).
    pub token: Vec<u8>,
    /// The PoP key its `cnf` binds.
    pub key: ClientKey,
    /// When it expires (`expires_in` of the token response), if known: the client
    /// re-authenticates before then.
    pub expires_at: Option<UnixTime>,
}

impl core::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never the token or the key.
        f.debug_struct("Credentials")
            .field("token_len", &self.token.len())
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Supplies tokens: at connect and before each re-authentication.
pub trait TokenSource: Send {
    /// A token (new or still valid) with its PoP key.
    fn fetch(&mut self) -> impl Future<Output = Result<Credentials>> + Send;
}

impl<F, Fut> TokenSource for F
where
    F: FnMut() -> Fut + Send,
    Fut: Future<Output = Result<Credentials>> + Send,
{
    fn fetch(&mut self) -> impl Future<Output = Result<Credentials>> + Send {
        self()
    }
}

/// The AIF-MQTT scope as the JSON `scope` string (MQ-070, MQ-T15).
///
/// # Errors
/// [`Error::BadScope`] if the scope cannot be encoded.
pub fn scope_text(scope: &MqttAif) -> Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(scope.to_json()?))
}

/// Asks the AS's `/token` over HTTPS (JSON body, HTTP Basic client authentication).
///
/// With a private key the request carries its public half in `req_cnf` (RFC 9201) and the
/// token binds it; without one the AS generates a symmetric PoP key and returns it in the
/// response's `cnf`.
pub struct HttpsTokenSource {
    /// The AS.
    pub endpoint: HttpsEndpoint,
    /// The token endpoint's path (default `/token`).
    pub path: String,
    /// `audience`: the broker.
    pub audience: String,
    /// Requested scope.
    pub scope: MqttAif,
    /// The client's asymmetric PoP key (Ed25519 or P-256), or `None` for a symmetric key
    /// chosen by the AS.
    pub key: Option<PrivateKey>,
    /// The clock for `expires_in`.
    pub clock: fn() -> UnixTime,
}

impl core::fmt::Debug for HttpsTokenSource {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HttpsTokenSource")
            .field("endpoint", &self.endpoint)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl HttpsTokenSource {
    /// A source for `audience` and `scope` at `endpoint`'s `/token`, system clock.
    #[must_use]
    pub fn new(
        endpoint: HttpsEndpoint,
        audience: impl Into<String>,
        scope: MqttAif,
        key: Option<PrivateKey>,
    ) -> Self {
        Self {
            endpoint,
            path: "/token".to_owned(),
            audience: audience.into(),
            scope,
            key,
            clock: UnixTime::now,
        }
    }

    /// One token request.
    ///
    /// # Errors
    /// [`Error::Transport`] / [`Error::Timeout`] towards the AS, [`Error::AsRefused`] for an
    /// error response, [`Error::UnsupportedPopKey`] when the response binds no usable key.
    pub async fn request(&self) -> Result<Credentials> {
        let mut req = TokenRequest {
            audience: Some(self.audience.clone()),
            scope: Some(Scope::Text(scope_text(&self.scope)?)),
            ..TokenRequest::default()
        };
        if let Some(k) = &self.key {
            let public = RustCrypto
                .public_key(k)
                .map_err(|e| Error::Token(e.into()))?;
            req.req_cnf = Some(ace_token::Confirmation::cose_key(PopKey::public(public)));
        }
        let body = req
            .to_json()
            .map_err(|e| Error::Transport(format!("token request: {e}")))?;
        let resp = self
            .endpoint
            .post(&self.path, "application/json", body.as_bytes())
            .await?;
        if resp.status != 200 {
            let error = ace_core::ErrorResponse::from_json(&resp.body)
                .ok()
                .and_then(|e| e.error.name().map(str::to_owned))
                .unwrap_or_default();
            return Err(Error::AsRefused {
                status: resp.status,
                error,
            });
        }
        let tr = TokenResponse::from_json(&resp.body)
            .map_err(|e| Error::Transport(format!("token response: {e}")))?;
        let key = match (&self.key, tr.cnf.as_ref().and_then(|c| c.key.as_ref())) {
            (Some(k), _) => ClientKey::Private(k.clone()),
            (None, Some(ace_token::CnfKey::CoseKey(pk))) => match &pk.material {
                PopKeyMaterial::Symmetric(s) => ClientKey::Symmetric(s.clone()),
                _ => return Err(Error::UnsupportedPopKey),
            },
            (None, _) => return Err(Error::UnsupportedPopKey),
        };
        let expires_at = tr.expires_in.map(|s| (self.clock)().saturating_add(s));
        Ok(Credentials {
            token: tr.access_token,
            key,
            expires_at,
        })
    }
}

impl TokenSource for HttpsTokenSource {
    fn fetch(&mut self) -> impl Future<Output = Result<Credentials>> + Send {
        self.request()
    }
}

/// Asks the AS's `/token` over CoAP (feature `coap`; RFC 9431 §2.1 with RFC 9200 §5.8:
/// `application/ace+cbor`), OSCORE-protected or plain, through `ace-core`'s
/// [`ace_core::ClientEngine`] (the request and the response checks are the same as the
/// `ace token request` command's).
///
/// The scope is the text form of RFC 9431 §3 (base64url of the AIF-MQTT JSON, as over
/// HTTPS): `ace-core`'s policy intersects binary scopes as AIF-REST, which AIF-MQTT is not.
/// With a private key, `req_cnf` carries its public half; without one the AS generates a
/// symmetric key (`cnf`). Over plain CoAP the request carries the endpoint's
/// `client_secret`.
#[cfg(feature = "coap")]
pub struct CoapTokenSource {
    /// The AS.
    pub endpoint: crate::coap_as::CoapEndpoint,
    /// The token endpoint's path (default `/token`).
    pub path: String,
    /// `client_id`.
    pub client_id: String,
    /// `audience`: the broker.
    pub audience: String,
    /// Requested scope.
    pub scope: MqttAif,
    /// The client's asymmetric PoP key, or `None` for an AS-generated symmetric key.
    pub key: Option<PrivateKey>,
    /// The clock for `expires_in`.
    pub clock: fn() -> UnixTime,
}

#[cfg(feature = "coap")]
impl core::fmt::Debug for CoapTokenSource {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CoapTokenSource")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "coap")]
impl CoapTokenSource {
    /// A source for `client_id`, `audience` and `scope` at `endpoint`'s `/token`, system
    /// clock.
    #[must_use]
    pub fn new(
        endpoint: crate::coap_as::CoapEndpoint,
        client_id: impl Into<String>,
        audience: impl Into<String>,
        scope: MqttAif,
        key: Option<PrivateKey>,
    ) -> Self {
        Self {
            endpoint,
            path: "/token".to_owned(),
            client_id: client_id.into(),
            audience: audience.into(),
            scope,
            key,
            clock: UnixTime::now,
        }
    }

    /// One token request.
    ///
    /// # Errors
    /// [`Error::Transport`] / [`Error::Timeout`] towards the AS; [`Error::AsRefused`] for an
    /// error response (`status` = the CoAP code as class × 100 + detail, e.g. 400, 401);
    /// [`Error::UnsupportedPopKey`] when the response binds no usable key.
    pub async fn request(&self) -> Result<Credentials> {
        let mut config = ace_core::ClientConfig::new(self.client_id.clone());
        config.profiles = vec![ace_token::AceProfile::MQTT_TLS];
        config.client_secret = self.endpoint.plain_secret().cloned();
        if let Some(k) = &self.key {
            let public = RustCrypto
                .public_key(k)
                .map_err(|e| Error::Token(e.into()))?;
            config.req_cnf = Some(ace_token::Confirmation::cose_key(PopKey::public(public)));
        }
        let hints = ace_core::CreationHints {
            as_uri: Some(format!("coap://{}{}", self.endpoint.addr, self.path)),
            audience: Some(self.audience.clone()),
            ..ace_core::CreationHints::default()
        };
        let step = ace_core::ClientEngine::new(config)
            .request_token(&hints, Some(Scope::Text(scope_text(&self.scope)?)))
            .map_err(|e| Error::Transport(format!("token request: {e}")))?;
        let payload = step
            .payload()
            .map_err(|e| Error::Transport(format!("token request: {e}")))?;
        let reply = self.endpoint.post(&self.path, payload).await?;
        let info = step
            .handle_response((self.clock)(), reply.coap_code(), &reply.payload)
            .map_err(|e| match e {
                ace_core::Error::Refused { error, .. } => Error::AsRefused {
                    status: reply.code,
                    error: error
                        .and_then(|e| e.name().map(str::to_owned))
                        .unwrap_or_default(),
                },
                e => Error::Transport(format!("token response: {e}")),
            })?;
        let key = match (&self.key, info.pop_key.as_ref().map(|k| &k.material)) {
            (Some(k), _) => ClientKey::Private(k.clone()),
            (None, Some(PopKeyMaterial::Symmetric(s))) => ClientKey::Symmetric(s.clone()),
            (None, _) => return Err(Error::UnsupportedPopKey),
        };
        Ok(Credentials {
            token: info.token,
            key,
            expires_at: Some(info.expires_at),
        })
    }
}

#[cfg(feature = "coap")]
impl TokenSource for CoapTokenSource {
    fn fetch(&mut self) -> impl Future<Output = Result<Credentials>> + Send {
        self.request()
    }
}
