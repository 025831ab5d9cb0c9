//! The CoAP-to-HTTP proxy: CMP over CoAP in front of an HTTP CMP server (RFC 6712).
//!
//! ```text
//!  EE ──CoAP POST /.well-known/cmp[/p/<l>][/<op>], CF 259, Block1──▶ proxy
//!        (whole body reassembled first: d01 §2.6 MUST; checks of server::check_request)
//!  proxy ──HTTP/1.1 POST <upstream_path>, Content-Type application/pkixcmp──▶ CA/RA
//!  CA/RA ──200 application/pkixcmp + PKIMessage──▶ proxy ──2.04 CF 259 (Block2)──▶ EE
//! ```
//!
//! The DER is relayed byte for byte in both directions (CMP protection stays end to end,
//! R8). Mapping (digest CMP-T4): HTTP 200 + `application/pkixcmp` + PKIMessage → 2.04
//! (or the configured 2.xx); a PKIMessage with another HTTP status is relayed as well
//! (it carries the PKIStatusInfo the EE needs, R2); otherwise the status maps with
//! [`crate::error::http_status_to_code`]; connection failure → 5.02; no complete answer
//! within `upstream_timeout` → 5.04; a malformed HTTP answer → 5.02.
//!
//! The HTTP client is a minimal, strict HTTP/1.1 POST client: one connection per
//! exchange (`Connection: close`), `Content-Length` bodies only (no chunked), head ≤
//! 8 KiB, body ≤ `max_response_size`.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::consts::media_type;
use crate::error::{Error, Result};
use crate::msg::classify;
use crate::server::{CmpHandler, CmpRequest, CmpServer, ServerConfig};

/// Largest HTTP response head accepted.
pub const MAX_HEAD: usize = 8 * 1024;

/// Proxy configuration (the `[cmp_proxy]` table of the `ace` tool later).
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyConfig {
    /// CoAP listen address.
    pub listen: SocketAddr,
    /// HTTP CMP server address.
    pub upstream: SocketAddr,
    /// `Host` header value (default: the upstream address).
    pub upstream_host: Option<String>,
    /// HTTP path at the upstream (default `/.well-known/cmp`; the `openssl cmp` mock
    /// server accepts only `/` and `/pkix/`).
    pub upstream_path: String,
    /// Append `p/<label>` and the HTTP operation name to `upstream_path` (default on).
    pub map_path_suffix: bool,
    /// Time to connect to the upstream (default 5 s).
    pub connect_timeout: Duration,
    /// Time for the whole HTTP exchange (default 30 s).
    pub upstream_timeout: Duration,
    /// Largest upstream response body relayed (default 256 KiB; ace-coap serves it Block2).
    pub max_response_size: usize,
    /// CoAP-side policy: request size limit, concurrency limit, success code.
    pub server: ServerConfig,
    /// CoAP engine settings.
    pub coap: ace_coap::Config,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        let server = ServerConfig {
            handler_timeout: Duration::from_secs(35),
            ..ServerConfig::default()
        };
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 5683)),
            upstream: SocketAddr::from(([127, 0, 0, 1], 80)),
            upstream_host: None,
            upstream_path: crate::consts::path::WELL_KNOWN_CMP.to_owned(),
            map_path_suffix: true,
            connect_timeout: Duration::from_secs(5),
            upstream_timeout: Duration::from_secs(30),
            max_response_size: 256 * 1024,
            server,
            coap: ace_coap::Config::default(),
        }
    }
}

/// An HTTP request of the proxy (pure value; [`build_http_request`] makes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Request target (absolute path).
    pub path: String,
    /// The full request bytes: head and body.
    pub bytes: Vec<u8>,
}

fn path_ok(p: &str) -> bool {
    p.starts_with('/')
        && p.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~' | b'%')
        })
}

fn host_ok(h: &str) -> bool {
    !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// Maps a checked CMP request to the HTTP POST of RFC 6712 §3 (sans-IO).
///
/// # Errors
/// [`Error::Misuse`] when the configured path or host contains characters outside the
/// safe set (no header injection is possible), [`Error::TooLarge`] for a body above
/// `config.server.max_message_size`.
pub fn build_http_request(request: &CmpRequest, config: &ProxyConfig) -> Result<HttpRequest> {
    let path = request
        .path
        .to_http_path(&config.upstream_path, config.map_path_suffix);
    if !path_ok(&path) {
        return Err(Error::Misuse("upstream path has unsafe characters"));
    }
    let host = config
        .upstream_host
        .clone()
        .unwrap_or_else(|| config.upstream.to_string());
    if !host_ok(&host) {
        return Err(Error::Misuse("upstream host has unsafe characters"));
    }
    if request.der.len() > config.server.max_message_size {
        return Err(Error::TooLarge {
            size: request.der.len(),
            limit: config.server.max_message_size,
        });
    }
    let mut bytes = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {}\r\nAccept: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        media_type::PKIXCMP,
        media_type::PKIXCMP,
        request.der.len()
    )
    .into_bytes();
    bytes.extend_from_slice(&request.der);
    Ok(HttpRequest { path, bytes })
}

/// The parsed head of an HTTP/1.x response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpHead {
    /// Status code.
    pub status: u16,
    /// `Content-Type` (lower-cased media type, parameters removed).
    pub content_type: Option<String>,
    /// `Content-Length`.
    pub content_length: Option<usize>,
    /// Length of the head including the empty line.
    pub head_len: usize,
}

/// Parses an HTTP/1.x response head from the start of `buf` (sans-IO).
///
/// Returns `Ok(None)` when `buf` does not yet hold the whole head.
///
/// # Errors
/// [`Error::UpstreamBadResponse`] for a head over [`MAX_HEAD`], a bad status line,
/// `Transfer-Encoding`, conflicting or invalid `Content-Length`, non-ASCII header bytes.
pub fn parse_http_head(buf: &[u8]) -> Result<Option<HttpHead>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Err(Error::UpstreamBadResponse("response head too large"))
        } else {
            Ok(None)
        };
    };
    if end > MAX_HEAD {
        return Err(Error::UpstreamBadResponse("response head too large"));
    }
    let head = buf
        .get(..end)
        .and_then(|h| core::str::from_utf8(h).ok())
        .filter(|h| h.is_ascii())
        .ok_or(Error::UpstreamBadResponse("non-ASCII response head"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(Error::UpstreamBadResponse("not an HTTP/1.x status line"));
    }
    let code = parts.next().unwrap_or_default();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::UpstreamBadResponse("bad status code"));
    }
    let status: u16 = code
        .parse()
        .map_err(|_| Error::UpstreamBadResponse("bad status code"))?;
    if !(100..=599).contains(&status) {
        return Err(Error::UpstreamBadResponse("bad status code"));
    }
    let mut content_type = None;
    let mut content_length: Option<usize> = None;
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or(Error::UpstreamBadResponse("header line without ':'"))?;
        if name.is_empty() || name.bytes().any(|b| b == b' ' || b == b'\t') {
            return Err(Error::UpstreamBadResponse("bad header name"));
        }
        let value = value.trim_matches(|c| c == ' ' || c == '\t');
        if name.eq_ignore_ascii_case("content-length") {
            if value.is_empty() || value.len() > 12 || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::UpstreamBadResponse("bad Content-Length"));
            }
            let n: usize = value
                .parse()
                .map_err(|_| Error::UpstreamBadResponse("bad Content-Length"))?;
            if content_length.is_some_and(|c| c != n) {
                return Err(Error::UpstreamBadResponse("conflicting Content-Length"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("content-type") {
            let media = value.split(';').next().unwrap_or_default().trim();
            content_type = Some(media.to_ascii_lowercase());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Error::UpstreamBadResponse(
                "Transfer-Encoding is not supported",
            ));
        }
    }
    Ok(Some(HttpHead {
        status,
        content_type,
        content_length,
        head_len: end + 4,
    }))
}

/// Maps an upstream HTTP response to the PKIMessage to relay, or to the error whose
/// [`Error::to_code`] the CoAP client gets (sans-IO; the mapping of the module docs).
///
/// # Errors
/// [`Error::UpstreamStatus`], [`Error::UpstreamBadResponse`], [`Error::TooLarge`].
pub fn map_http_response(head: &HttpHead, body: Option<&[u8]>, max: usize) -> Result<Vec<u8>> {
    let is_cmp = head.content_type.as_deref() == Some(media_type::PKIXCMP);
    if let Some(len) = head.content_length
        && len > max
    {
        return Err(if head.status == 200 {
            Error::UpstreamBadResponse("response larger than max_response_size")
        } else {
            Error::UpstreamStatus(head.status)
        });
    }
    match (head.status, body) {
        (200, None) => Err(Error::UpstreamBadResponse(
            "200 without a Content-Length body",
        )),
        (200, Some(_)) if !is_cmp => Err(Error::UpstreamBadResponse(
            "200 without Content-Type application/pkixcmp",
        )),
        (200, Some(b)) => match classify(b) {
            Ok(_) => Ok(b.to_vec()),
            Err(_) => Err(Error::UpstreamBadResponse("200 body is not a PKIMessage")),
        },
        (s, Some(b)) if is_cmp && classify(b).is_ok() => {
            tracing::debug!(
                status = s,
                "relaying a PKIMessage sent with a non-200 status"
            );
            Ok(b.to_vec())
        }
        (s, _) => Err(Error::UpstreamStatus(s)),
    }
}

/// Performs one HTTP POST exchange with the upstream (bounded by the configured
/// timeouts and sizes) and returns the PKIMessage to relay.
///
/// # Errors
/// [`Error::UpstreamUnreachable`], [`Error::UpstreamTimeout`], and those of
/// [`map_http_response`] / [`parse_http_head`].
pub async fn forward(request: &HttpRequest, config: &ProxyConfig) -> Result<Vec<u8>> {
    let stream =
        match tokio::time::timeout(config.connect_timeout, TcpStream::connect(config.upstream))
            .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(Error::UpstreamUnreachable(e.kind().to_string())),
            Err(_) => return Err(Error::UpstreamTimeout),
        };
    tokio::time::timeout(config.upstream_timeout, exchange(stream, request, config))
        .await
        .map_err(|_| Error::UpstreamTimeout)?
}

async fn exchange(
    mut stream: TcpStream,
    request: &HttpRequest,
    config: &ProxyConfig,
) -> Result<Vec<u8>> {
    let io = |e: std::io::Error| Error::UpstreamUnreachable(e.kind().to_string());
    let _ = stream.set_nodelay(true);
    stream.write_all(&request.bytes).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head = loop {
        if let Some(h) = parse_http_head(&buf)? {
            break h;
        }
        let n = stream.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err(Error::UpstreamBadResponse(
                "connection closed before the head",
            ));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    };
    let Some(len) = head.content_length else {
        return map_http_response(&head, None, config.max_response_size);
    };
    if len > config.max_response_size {
        return map_http_response(&head, None, config.max_response_size);
    }
    let mut body = buf.get(head.head_len..).unwrap_or_default().to_vec();
    if body.len() > len {
        return Err(Error::UpstreamBadResponse("more bytes than Content-Length"));
    }
    while body.len() < len {
        let n = stream.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err(Error::UpstreamBadResponse(
                "connection closed inside the body",
            ));
        }
        body.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if body.len() > len {
            return Err(Error::UpstreamBadResponse("more bytes than Content-Length"));
        }
    }
    map_http_response(&head, Some(&body), config.max_response_size)
}

/// The [`CmpHandler`] that forwards to the HTTP CMP server.
#[derive(Debug, Clone)]
pub struct HttpUpstream {
    config: ProxyConfig,
}

impl HttpUpstream {
    /// A forwarder with `config`.
    #[must_use]
    pub fn new(config: ProxyConfig) -> Self {
        Self { config }
    }
}

impl CmpHandler for HttpUpstream {
    async fn handle(&self, request: CmpRequest) -> Result<Vec<u8>> {
        let http = build_http_request(&request, &self.config)?;
        let result = forward(&http, &self.config).await;
        match &result {
            Ok(rsp) => tracing::debug!(
                body = %request.info.body_type,
                path = %http.path,
                bytes = rsp.len(),
                "relayed"
            ),
            Err(e) => tracing::info!(body = %request.info.body_type, error = %e, "upstream failed"),
        }
        result
    }
}

/// Binds the proxy's CoAP side; run it with [`CmpServer::serve`].
///
/// # Errors
/// [`Error::Io`] when the socket cannot be bound; [`Error::Misuse`] for an unsafe
/// upstream path or host.
pub async fn bind(config: ProxyConfig) -> Result<CmpServer> {
    if !path_ok(&config.upstream_path) {
        return Err(Error::Misuse("upstream path has unsafe characters"));
    }
    if config.upstream_host.as_deref().is_some_and(|h| !host_ok(h)) {
        return Err(Error::Misuse("upstream host has unsafe characters"));
    }
    let server = CmpServer::bind(
        config.listen,
        config.coap.clone(),
        config.server.clone(),
        HttpUpstream::new(config.clone()),
    )
    .await?;
    tracing::info!(listen = ?server.local_addr().ok(), upstream = %config.upstream, "CMP CoAP-to-HTTP proxy ready");
    Ok(server)
}

/// `ace cmp-proxy serve`: binds and serves until the server is shut down.
///
/// # Errors
/// As [`bind`] and [`CmpServer::serve`].
pub async fn serve(config: ProxyConfig) -> Result<()> {
    bind(config).await?.serve().await
}

#[cfg(test)]
mod tests;
