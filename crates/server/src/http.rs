//! The AS over HTTPS (axum + rustls): `POST /token` with an
//! `application/x-www-form-urlencoded`, `application/json` or `application/ace+cbor` body and
//! `POST /introspect` (RFC 7662 form, or CBOR), for clients that talk HTTPS to the AS (the
//! MQTT-TLS profile's clients).
//!
//! Client authentication (RFC 6749 §2.3.1): HTTP Basic with the form-urlencoded
//! `client_id:client_secret`, checked here against [`HttpClients`] in constant time; the
//! engine then sees `ChannelIdentity::ClientId`. Without an `Authorization` header, the
//! `client_id` + `client_secret` body parameters are passed to the engine (which compares the
//! secret); using both methods is `invalid_request` (RFC 6749 §2.3). Failed Basic
//! authentication is 401 `invalid_client` with `WWW-Authenticate: Basic`.
//!
//! Responses follow the request: CBOR in, `application/ace+cbor` out; JSON or form in, JSON out
//! (RFC 6749 §5.1/§5.2, RFC 7662 §2.2). Success is 200, errors 400 (401 for
//! `invalid_client`), an introspection caller without rights 403. `Cache-Control: no-store`.
//! The engine call runs in `spawn_blocking` (the store may fsync).
//!
//! TLS accept: each handshake has 10 s; the TLS handshake runs in the accept loop, so one
//! slow handshake delays the next accept by at most that much.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ace_core::{
    AsResponse, ChannelIdentity, ErrorCode, ErrorResponse, IntrospectionRequest, TokenRequest,
};
use ace_token::crypto::SecretBytes;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::as_service::AsService;
use crate::error::{Error, Result};

/// Clients that authenticate with HTTP Basic: `client_id` → secret.
#[derive(Debug, Clone, Default)]
pub struct HttpClients(Vec<(String, SecretBytes)>);

impl HttpClients {
    /// No clients.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a client.
    #[must_use]
    pub fn with(mut self, id: impl Into<String>, secret: &[u8]) -> Self {
        self.0.push((id.into(), SecretBytes::from_slice(secret)));
        self
    }

    fn check(&self, id: &str, secret: &[u8]) -> bool {
        let given = SecretBytes::from_slice(secret);
        // Compare every entry so the time does not depend on the position.
        let mut ok = false;
        for (i, s) in &self.0 {
            ok |= i == id && *s == given;
        }
        ok
    }
}

#[derive(Clone)]
struct HttpState {
    service: AsService,
    clients: Arc<HttpClients>,
}

/// The axum router with `/token` and `/introspect`.
pub fn router(service: AsService, clients: HttpClients) -> Router {
    Router::new()
        .route("/token", post(token))
        .route("/introspect", post(introspect))
        .with_state(HttpState {
            service,
            clients: Arc::new(clients),
        })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    Form,
    Json,
    Cbor,
}

fn body_kind(headers: &HeaderMap) -> Option<Body> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = ct.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Some(Body::Form),
        "application/json" => Some(Body::Json),
        "application/ace+cbor" => Some(Body::Cbor),
        _ => None,
    }
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let h = bytes.next()?;
                let l = bytes.next()?;
                let v = u8::from_str_radix(std::str::from_utf8(&[h, l]).ok()?, 16).ok()?;
                out.push(v);
            }
            _ => out.push(b),
        }
    }
    Some(out)
}

/// `Some(Ok((id, secret)))` for a well-formed Basic header, `Some(Err(()))` for a malformed
/// one, `None` without one.
#[allow(clippy::result_unit_err)]
fn basic(headers: &HeaderMap) -> Option<core::result::Result<(String, Vec<u8>), ()>> {
    let v = headers.get(header::AUTHORIZATION)?;
    let parse = || -> Option<(String, Vec<u8>)> {
        let v = v.to_str().ok()?;
        let (scheme, rest) = v.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let raw =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, rest.trim()).ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (id, secret) = raw.split_once(':')?;
        let id = String::from_utf8(percent_decode(id)?).ok()?;
        Some((id, percent_decode(secret)?))
    };
    Some(parse().ok_or(()))
}

fn with_headers(mut r: Response, kind: Body) -> Response {
    let ct = if kind == Body::Cbor {
        "application/ace+cbor"
    } else {
        "application/json"
    };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn error_response(code: ErrorCode, kind: Body) -> Response {
    let e = ErrorResponse::new(code);
    let body = if kind == Body::Cbor {
        e.encode().unwrap_or_default()
    } else {
        e.to_json().map(String::into_bytes).unwrap_or_default()
    };
    let status = if code == ErrorCode::INVALID_CLIENT {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut r = with_headers((status, body).into_response(), kind);
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"ace\""),
        );
    }
    r
}

fn as_response(r: &AsResponse, kind: Body) -> Response {
    let encoded: core::result::Result<Vec<u8>, ace_core::Error> = match (r, kind) {
        (AsResponse::Error(e), _) => return error_response(e.error, kind),
        (AsResponse::Forbidden, _) => {
            return with_headers(StatusCode::FORBIDDEN.into_response(), kind);
        }
        (_, Body::Cbor) => r.payload(),
        (AsResponse::Token(t), _) => t.to_json().map(String::into_bytes),
        (AsResponse::Introspection(i), _) => i.to_json().map(String::into_bytes),
        _ => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    match encoded {
        Ok(b) => with_headers((StatusCode::OK, b).into_response(), kind),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode AS response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The channel identity from the Basic header: `Ok(None)` without one, `Err` for a failed one.
fn authenticate(
    state: &HttpState,
    headers: &HeaderMap,
) -> core::result::Result<Option<String>, ()> {
    match basic(headers) {
        None => Ok(None),
        Some(Ok((id, secret))) if state.clients.check(&id, &secret) => Ok(Some(id)),
        Some(_) => Err(()),
    }
}

async fn run_blocking(
    f: impl FnOnce() -> Result<AsResponse> + Send + 'static,
) -> core::result::Result<AsResponse, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "AS request failed");
            Err(StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Err(_) => Err(StatusCode::INTERNAL_SERVER_ERROR.into_response()),
    }
}

async fn token(State(state): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(kind) = body_kind(&headers) else {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
    };
    let decoded = match kind {
        Body::Form => TokenRequest::from_form(&body),
        Body::Json => TokenRequest::from_json(&body),
        Body::Cbor => TokenRequest::decode(&body),
    };
    let mut req = match decoded {
        Ok(r) => r,
        Err(e) => {
            return error_response(e.error_code().unwrap_or(ErrorCode::INVALID_REQUEST), kind);
        }
    };
    let channel = match authenticate(&state, &headers) {
        Err(()) => return error_response(ErrorCode::INVALID_CLIENT, kind),
        Ok(Some(id)) => {
            if req.client_secret.is_some() {
                // RFC 6749 §2.3: one authentication method per request.
                return error_response(ErrorCode::INVALID_REQUEST, kind);
            }
            if req.client_id.as_deref().is_some_and(|c| c != id) {
                return error_response(ErrorCode::INVALID_CLIENT, kind);
            }
            req.client_id = Some(id.clone());
            ChannelIdentity::ClientId(id)
        }
        Ok(None) => ChannelIdentity::Anonymous,
    };
    let service = state.service.clone();
    match run_blocking(move || service.token(&channel, &req)).await {
        Ok(r) => as_response(&r, kind),
        Err(r) => r,
    }
}

async fn introspect(State(state): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(kind) = body_kind(&headers) else {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
    };
    // RFC 7662 §2.1 / RFC 9200 §5.9: the caller must be authenticated.
    let id = match authenticate(&state, &headers) {
        Ok(Some(id)) => id,
        _ => return error_response(ErrorCode::INVALID_CLIENT, kind),
    };
    let decoded = match kind {
        Body::Form => IntrospectionRequest::from_form(&body),
        Body::Cbor => IntrospectionRequest::decode(&body),
        Body::Json => return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response(),
    };
    let req = match decoded {
        Ok(r) => r,
        Err(e) => {
            return error_response(e.error_code().unwrap_or(ErrorCode::INVALID_REQUEST), kind);
        }
    };
    let service = state.service.clone();
    let channel = ChannelIdentity::ClientId(id);
    match run_blocking(move || service.introspect(&channel, &req)).await {
        Ok(r) => as_response(&r, kind),
        Err(r) => r,
    }
}

/// A self-signed certificate for `names` (demo and tests): (DER certificate, PKCS#8 DER key).
///
/// # Errors
/// [`Error::Tls`].
pub fn self_signed(names: &[&str]) -> Result<(Vec<u8>, Vec<u8>)> {
    let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    let ck = rcgen::generate_simple_self_signed(names).map_err(|e| Error::Tls(e.to_string()))?;
    Ok((ck.cert.der().to_vec(), ck.signing_key.serialize_der()))
}

/// A rustls server configuration (ring, TLS 1.2 + 1.3, ALPN `http/1.1`, no client
/// certificates).
///
/// # Errors
/// [`Error::Tls`] for an unusable certificate or key.
pub fn server_config(
    cert_der: Vec<u8>,
    key_pkcs8_der: Vec<u8>,
) -> Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(cert_der)],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key_pkcs8_der.into()),
        )
        .map_err(|e| Error::Tls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// A rustls server configuration from PEM files: a certificate chain and a PKCS#8 (or
/// SEC1/PKCS#1) private key.
///
/// # Errors
/// [`Error::Tls`] naming the file that is missing or unusable.
pub fn server_config_from_pem(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<core::result::Result<Vec<_>, _>>())
        .map_err(|e| Error::Tls(format!("{}: {e}", cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| Error::Tls(format!("{}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Tls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// A TCP listener that completes the TLS handshake before handing connections to axum.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl core::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsListener")
            .field("tcp", &self.tcp)
            .finish_non_exhaustive()
    }
}

impl TlsListener {
    /// Binds `addr`.
    ///
    /// # Errors
    /// [`Error::AddressInUse`], [`Error::Bind`].
    pub async fn bind(addr: SocketAddr, tls: Arc<rustls::ServerConfig>) -> Result<Self> {
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::bind(addr, e))?;
        Ok(Self {
            tcp,
            acceptor: TlsAcceptor::from(tls),
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.tcp.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match tokio::time::timeout(Duration::from_secs(10), self.acceptor.accept(stream)).await
            {
                Ok(Ok(tls)) => return (tls, addr),
                Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
            }
        }
    }

    fn local_addr(&self) -> tokio::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Serves `router` on `listener` until `shutdown` completes (graceful).
///
/// # Errors
/// [`Error::Io`].
pub async fn serve(
    listener: TlsListener,
    router: Router,
    shutdown: impl core::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::Io)
}
