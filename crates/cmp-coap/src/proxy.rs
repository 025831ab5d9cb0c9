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
//! The HTTP client is a minimal, strict HTTP/1.1 POST client: `Content-Length` bodies only
//! (no chunked), head ≤ 8 KiB, body ≤ `max_response_size`. Connections are kept **per CMP
//! transaction** (RFC 6712 §3.4 lets the HTTP connection span a transaction): after an
//! answer that the EE continues (ip/cp/kup/ccp → certConf, pollRep → pollReq) the
//! connection stays open for `transaction_idle`, keyed by (CoAP peer, transactionID), and
//! the next message of that transaction goes over it. A new transaction always opens a new
//! connection: servers that keep transaction state per connection (`openssl cmp`'s mock
//! server aborts the previous transaction when another one arrives on its connection,
//! verified) are never handed two transactions on one connection. This is off by default
//! (`transaction_idle` zero: one connection per exchange, `Connection: close`); see
//! [`ProxyConfig::transaction_idle`] for the trade-off.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ace_coap::SecurityLayer;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::consts::media_type;
use crate::error::{Error, Result};
use crate::msg::{BodyType, classify};
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
    /// How long an upstream connection is kept for the next message of the same CMP
    /// transaction. Default `Duration::ZERO`: off, one connection per exchange with
    /// `Connection: close`. Turn it on for servers that keep transaction state per
    /// connection (`openssl cmp -port` answers a certConf on a new connection with
    /// "unexpected pkibody"); but such a server, if it also serves one connection at a
    /// time (the openssl mock server does, verified), is blocked for this long by every
    /// transaction the EE abandons after an ip/cp/kup (or ends with implicitConfirm).
    pub transaction_idle: Duration,
    /// Idle transaction connections kept at most (default 64; the oldest is closed first).
    pub max_idle_connections: usize,
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
            transaction_idle: Duration::ZERO,
            max_idle_connections: 64,
            server,
            coap: ace_coap::Config::default(),
        }
    }
}

/// An `http://` upstream URL, split for [`ProxyConfig`] (sans-IO; the caller resolves
/// `host` to [`ProxyConfig::upstream`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    /// Host as written: a DNS name, an IPv4 literal or a bracketed IPv6 literal.
    pub host: String,
    /// Port (default 80).
    pub port: u16,
    /// Absolute path; `/.well-known/cmp` when the URL has none (`http://h:p/` means `/`).
    pub path: String,
}

impl UpstreamUrl {
    /// Parses `http://host[:port][/path]`. Refused (no header injection is possible
    /// from the URL): another scheme (`https` is not implemented), userinfo, query,
    /// fragment, characters outside the safe sets of the `Host` header and the path.
    ///
    /// # Errors
    /// [`Error::Misuse`] with the reason.
    pub fn parse(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or(Error::Misuse("the upstream URL must start with http://"))?;
        if rest.contains(['?', '#', '@']) {
            return Err(Error::Misuse(
                "the upstream URL must not have userinfo, a query or a fragment",
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (
                rest.get(..i).unwrap_or_default(),
                rest.get(i..).unwrap_or_default().to_owned(),
            ),
            None => (rest, crate::consts::path::WELL_KNOWN_CMP.to_owned()),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (inner, after) = v6.split_once(']').ok_or(Error::Misuse(
                "unterminated IPv6 literal in the upstream URL",
            ))?;
            if inner.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(Error::Misuse("bad IPv6 literal in the upstream URL"));
            }
            let port = if after.is_empty() {
                None
            } else {
                Some(after.strip_prefix(':').ok_or(Error::Misuse(
                    "only `:port` may follow an IPv6 literal in the upstream URL",
                ))?)
            };
            (format!("[{inner}]"), port)
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.to_owned(), None),
            }
        };
        let port = match port {
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or(Error::Misuse("bad port in the upstream URL"))?,
        };
        if !host_ok(&host) {
            return Err(Error::Misuse("bad host in the upstream URL"));
        }
        if !path_ok(&path) {
            return Err(Error::Misuse("the upstream path has unsafe characters"));
        }
        Ok(Self { host, port, path })
    }

    /// The `Host` header value: `host` or `host:port` (port 80 omitted, RFC 9110 §7.2).
    #[must_use]
    pub fn host_header(&self) -> String {
        if self.port == 80 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
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

/// A `Host` header value (RFC 9110 §7.2): a host as [`host_ok`] checks it, optionally
/// followed by `:port` (digits).
fn host_header_ok(h: &str) -> bool {
    let (host, port) = match h.rfind(']') {
        // `[v6]` or `[v6]:port`
        Some(i) => (
            h.get(..=i).unwrap_or_default(),
            h.get(i + 1..).unwrap_or_default(),
        ),
        None => match h.rsplit_once(':') {
            Some((host, port)) => (host, h.get(host.len()..).unwrap_or(port)),
            None => (h, ""),
        },
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok && host_ok(host)
}

/// A DNS name or IPv4 address (letters, digits, `.`, `-`), or a bracketed IPv6 literal
/// (already checked by the parser).
fn host_ok(h: &str) -> bool {
    if let Some(inner) = h.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
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
    if !host_header_ok(&host) {
        return Err(Error::Misuse("upstream host has unsafe characters"));
    }
    if request.der.len() > config.server.max_message_size {
        return Err(Error::TooLarge {
            size: request.der.len(),
            limit: config.server.max_message_size,
        });
    }
    let connection = if config.transaction_idle.is_zero() {
        "close"
    } else {
        "keep-alive"
    };
    let mut bytes = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {}\r\nAccept: {}\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
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
    /// The server lets the connection persist: HTTP/1.1 without `Connection: close`, or
    /// HTTP/1.0 with `Connection: keep-alive` (RFC 9112 §9.3).
    pub keep_alive: bool,
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
    let mut connection_close = false;
    let mut connection_keep_alive = false;
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
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                connection_close |= token.eq_ignore_ascii_case("close");
                connection_keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
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
        keep_alive: !connection_close && (version == "HTTP/1.1" || connection_keep_alive),
    }))
}

/// Maps an upstream HTTP response to the PKIMessage to relay, or to the error whose
/// [`Error::to_code`] the CoAP client gets (sans-IO; the mapping of the module docs).
///
/// # Errors
/// [`Error::UpstreamStatus`], [`Error::UpstreamBadResponse`], [`Error::TooLarge`].
pub fn map_http_response(head: &HttpHead, body: Option<&[u8]>, max: usize) -> Result<Vec<u8>> {
    map_http_response_typed(head, body, max).map(|(der, _)| der)
}

/// [`map_http_response`] that also returns the relayed message's body type.
fn map_http_response_typed(
    head: &HttpHead,
    body: Option<&[u8]>,
    max: usize,
) -> Result<(Vec<u8>, BodyType)> {
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
            Ok(info) => Ok((b.to_vec(), info.body_type)),
            Err(_) => Err(Error::UpstreamBadResponse("200 body is not a PKIMessage")),
        },
        (s, Some(b)) if is_cmp => match classify(b) {
            Ok(info) => {
                tracing::debug!(
                    status = s,
                    "relaying a PKIMessage sent with a non-200 status"
                );
                Ok((b.to_vec(), info.body_type))
            }
            Err(_) => Err(Error::UpstreamStatus(s)),
        },
        (s, _) => Err(Error::UpstreamStatus(s)),
    }
}

/// Performs one HTTP POST exchange with the upstream on a new connection (bounded by the
/// configured timeouts and sizes) and returns the PKIMessage to relay. (The proxy's
/// [`HttpUpstream`] also keeps connections per transaction; this function never does.)
///
/// # Errors
/// [`Error::UpstreamUnreachable`], [`Error::UpstreamTimeout`], and those of
/// [`map_http_response`] / [`parse_http_head`].
pub async fn forward(request: &HttpRequest, config: &ProxyConfig) -> Result<Vec<u8>> {
    let stream = connect(config).await?;
    bounded_exchange(stream, request, config)
        .await
        .result
        .map(|(der, _)| der)
}

async fn connect(config: &ProxyConfig) -> Result<TcpStream> {
    match tokio::time::timeout(config.connect_timeout, TcpStream::connect(config.upstream)).await {
        Ok(Ok(s)) => {
            // One write per request and response: no Nagle delay on the upstream leg.
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) => Err(Error::UpstreamUnreachable(e.kind().to_string())),
        Err(_) => Err(Error::UpstreamTimeout),
    }
}

/// The result of one HTTP exchange and what is left of the connection.
struct Outcome {
    result: Result<(Vec<u8>, BodyType)>,
    /// The connection, when the answer was complete and the server lets it persist.
    reusable: Option<TcpStream>,
    /// No byte of an answer arrived (the request may be retried on a new connection when
    /// this was a kept connection the server had closed meanwhile).
    nothing_received: bool,
}

async fn bounded_exchange(
    stream: TcpStream,
    request: &HttpRequest,
    config: &ProxyConfig,
) -> Outcome {
    match tokio::time::timeout(config.upstream_timeout, exchange(stream, request, config)).await {
        Ok(o) => o,
        Err(_) => Outcome {
            result: Err(Error::UpstreamTimeout),
            reusable: None,
            nothing_received: false,
        },
    }
}

async fn exchange(mut stream: TcpStream, request: &HttpRequest, config: &ProxyConfig) -> Outcome {
    let fail = |e: Error, nothing_received: bool| Outcome {
        result: Err(e),
        reusable: None,
        nothing_received,
    };
    let io = |e: std::io::Error| Error::UpstreamUnreachable(e.kind().to_string());
    if let Err(e) = stream.write_all(&request.bytes).await {
        return fail(io(e), true);
    }
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head = loop {
        match parse_http_head(&buf) {
            Ok(Some(h)) => break h,
            Ok(None) => {}
            Err(e) => return fail(e, false),
        }
        match stream.read(&mut chunk).await {
            Ok(0) => {
                return fail(
                    Error::UpstreamBadResponse("connection closed before the head"),
                    buf.is_empty(),
                );
            }
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) => return fail(io(e), buf.is_empty()),
        }
    };
    let Some(len) = head
        .content_length
        .filter(|l| *l <= config.max_response_size)
    else {
        return fail(
            map_http_response_typed(&head, None, config.max_response_size)
                .err()
                .unwrap_or(Error::UpstreamBadResponse(
                    "response without a usable length",
                )),
            false,
        );
    };
    let mut body = buf.get(head.head_len..).unwrap_or_default().to_vec();
    while body.len() < len {
        match stream.read(&mut chunk).await {
            Ok(0) => {
                return fail(
                    Error::UpstreamBadResponse("connection closed inside the body"),
                    false,
                );
            }
            Ok(n) => body.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) => return fail(io(e), false),
        }
    }
    if body.len() > len {
        return fail(
            Error::UpstreamBadResponse("more bytes than Content-Length"),
            false,
        );
    }
    let result = map_http_response_typed(&head, Some(&body), config.max_response_size);
    Outcome {
        reusable: (head.keep_alive && result.is_ok()).then_some(stream),
        result,
        nothing_received: false,
    }
}

/// Whether the EE continues the transaction after this answer on the same connection:
/// certConf after ip/cp/kup/ccp, pollReq after pollRep (RFC 4210 §5.3, RFC 9483 §4.4).
fn continues_transaction(body: BodyType) -> bool {
    matches!(
        body,
        BodyType::Ip | BodyType::Cp | BodyType::Kup | BodyType::Ccp | BodyType::PollRep
    )
}

/// Idle upstream connections of unfinished CMP transactions, keyed by (CoAP peer,
/// transactionID).
#[derive(Debug, Default)]
struct IdleConnections {
    conns: HashMap<(SocketAddr, Vec<u8>), (TcpStream, Instant)>,
}

impl IdleConnections {
    fn take(&mut self, key: &(SocketAddr, Vec<u8>), idle: Duration) -> Option<TcpStream> {
        let (stream, since) = self.conns.remove(key)?;
        (since.elapsed() < idle).then_some(stream)
    }

    fn put(&mut self, key: (SocketAddr, Vec<u8>), stream: TcpStream, config: &ProxyConfig) {
        self.conns
            .retain(|_, (_, since)| since.elapsed() < config.transaction_idle);
        while self.conns.len() >= config.max_idle_connections.max(1) {
            let oldest = self
                .conns
                .iter()
                .min_by_key(|(_, (_, since))| *since)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    self.conns.remove(&k);
                }
                None => break,
            }
        }
        self.conns.insert(key, (stream, Instant::now()));
    }
}

/// A kept connection the server has not closed: nothing to read yet.
fn still_open(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// The [`CmpHandler`] that forwards to the HTTP CMP server, keeping the connection of an
/// unfinished transaction for its next message (see the module docs).
#[derive(Debug, Clone)]
pub struct HttpUpstream {
    config: ProxyConfig,
    idle: Arc<Mutex<IdleConnections>>,
}

impl HttpUpstream {
    /// A forwarder with `config`.
    #[must_use]
    pub fn new(config: ProxyConfig) -> Self {
        Self {
            config,
            idle: Arc::default(),
        }
    }

    /// Idle connections currently kept for unfinished transactions.
    #[must_use]
    pub fn idle_connections(&self) -> usize {
        self.idle.lock().map_or(0, |i| i.conns.len())
    }

    /// One exchange: over the transaction's kept connection if there is one (retried once
    /// on a new connection when the server closed it before answering), else a new one;
    /// the connection is kept when the transaction continues.
    async fn exchange(&self, request: &CmpRequest, http: &HttpRequest) -> Result<Vec<u8>> {
        let config = &self.config;
        let key = request
            .info
            .transaction_id
            .clone()
            .filter(|_| !config.transaction_idle.is_zero())
            .map(|tid| (request.peer, tid));
        let kept = key.as_ref().and_then(|k| {
            self.idle
                .lock()
                .ok()
                .and_then(|mut i| i.take(k, config.transaction_idle))
                .filter(still_open)
        });
        let outcome = match kept {
            Some(stream) => {
                tracing::debug!("reusing the transaction's upstream connection");
                let o = bounded_exchange(stream, http, config).await;
                if o.nothing_received {
                    bounded_exchange(connect(config).await?, http, config).await
                } else {
                    o
                }
            }
            None => bounded_exchange(connect(config).await?, http, config).await,
        };
        let (der, body) = outcome.result?;
        if let (Some(key), Some(stream)) = (key, outcome.reusable)
            && continues_transaction(body)
            && let Ok(mut idle) = self.idle.lock()
        {
            idle.put(key, stream, config);
        }
        Ok(der)
    }
}

impl CmpHandler for HttpUpstream {
    async fn handle(&self, request: CmpRequest) -> Result<Vec<u8>> {
        let http = build_http_request(&request, &self.config)?;
        let result = self.exchange(&request, &http).await;
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

    /// Upstream answers are relayed only after [`map_http_response`] classified them.
    fn checks_responses(&self) -> bool {
        true
    }
}

/// Binds the proxy's CoAP side; run it with [`CmpServer::serve`].
///
/// # Errors
/// [`Error::Io`] when the socket cannot be bound; [`Error::Misuse`] for an unsafe
/// upstream path or host.
pub async fn bind(config: ProxyConfig) -> Result<CmpServer> {
    check_config(&config)?;
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

/// Binds the proxy's CoAP side behind a CoAP security layer, e.g. ace-oscore's
/// `OscoreLayer` (`oscore` feature for the client side): the proxy is the OSCORE
/// endpoint; it verifies and decrypts the request, forwards the PKIMessage byte for byte
/// over HTTP (where only CMP's own protection applies, as without OSCORE) and protects
/// the CoAP response. Unprotected requests get the layer's answer (OscoreLayer: 4.01).
///
/// # Errors
/// As [`bind`].
pub async fn bind_with_security<S: SecurityLayer>(
    config: ProxyConfig,
    security: S,
) -> Result<CmpServer<S>> {
    check_config(&config)?;
    let server = CmpServer::bind_with_security(
        config.listen,
        config.coap.clone(),
        config.server.clone(),
        HttpUpstream::new(config.clone()),
        security,
    )
    .await?;
    tracing::info!(listen = ?server.local_addr().ok(), upstream = %config.upstream, "CMP CoAP-to-HTTP proxy (with a CoAP security layer) ready");
    Ok(server)
}

fn check_config(config: &ProxyConfig) -> Result<()> {
    if !path_ok(&config.upstream_path) {
        return Err(Error::Misuse("upstream path has unsafe characters"));
    }
    if config
        .upstream_host
        .as_deref()
        .is_some_and(|h| !host_header_ok(h))
    {
        return Err(Error::Misuse("upstream host has unsafe characters"));
    }
    Ok(())
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
