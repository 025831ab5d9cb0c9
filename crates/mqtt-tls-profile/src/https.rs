//! A minimal HTTPS/1.1 client (tokio + rustls; feature `client`) for the AS's `POST /token`
//! and `POST /introspect` (RFC 9200 §5.8, §5.9 over HTTPS; RFC 9431 §2.1 uses HTTPS + JSON).
//!
//! One request per TLS connection (`Connection: close`), HTTP Basic client authentication
//! (RFC 6749 §2.3.1), responses read up to [`MAX_RESPONSE`] bytes with a `Content-Length`
//! (or until close); chunked transfer coding is refused. Every step is bounded by the
//! endpoint's timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ace_crypto::SecretBytes;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

use crate::error::{Error, Result};

/// Largest response accepted (head and body).
pub const MAX_RESPONSE: usize = 256 * 1024;

/// Where and how to reach the AS.
#[derive(Clone)]
pub struct HttpsEndpoint {
    /// The AS's address.
    pub addr: SocketAddr,
    /// The name its certificate must carry (SNI and verification).
    pub server_name: String,
    /// The TLS client configuration (trust anchors).
    pub tls: Arc<rustls::ClientConfig>,
    /// HTTP Basic credentials (`client_id`, `client_secret`), if any.
    pub basic: Option<(String, SecretBytes)>,
    /// Bound on connect, handshake, write and read, each.
    pub timeout: Duration,
}

impl core::fmt::Debug for HttpsEndpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HttpsEndpoint")
            .field("addr", &self.addr)
            .field("server_name", &self.server_name)
            .field("client_id", &self.basic.as_ref().map(|(id, _)| id))
            .finish_non_exhaustive()
    }
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, lower-cased, if present.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// A rustls client configuration (ring, TLS 1.2 + 1.3) trusting only the certificates of a
/// PEM file.
///
/// # Errors
/// [`Error::Transport`] naming the file when it is unreadable or holds no usable certificate.
pub fn client_tls_from_pem(path: &std::path::Path) -> Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let certs: Vec<Vec<u8>> = CertificateDer::pem_file_iter(path)
        .and_then(|i| i.collect::<core::result::Result<Vec<_>, _>>())
        .map_err(|e| Error::Transport(format!("{}: {e}", path.display())))?
        .into_iter()
        .map(|c| c.to_vec())
        .collect();
    if certs.is_empty() {
        return Err(Error::Transport(format!(
            "{}: no certificate",
            path.display()
        )));
    }
    client_tls(&certs)
}

/// A rustls client configuration (ring, TLS 1.2 + 1.3) trusting only `roots` (DER).
///
/// # Errors
/// [`Error::Transport`] for an unusable certificate.
pub fn client_tls(roots: &[Vec<u8>]) -> Result<Arc<rustls::ClientConfig>> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store
            .add(rustls::pki_types::CertificateDer::from(r.clone()))
            .map_err(|e| Error::Transport(format!("trust anchor: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Transport(format!("TLS: {e}")))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

fn transport(what: &str, e: impl core::fmt::Display) -> Error {
    Error::Transport(format!("{what}: {e}"))
}

/// RFC 6749 Appendix B form-urlencoding of one value.
fn form_encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(*b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl HttpsEndpoint {
    /// `POST path` with `body` of `content_type`.
    ///
    /// # Errors
    /// [`Error::Transport`] (connect, TLS, malformed or oversized response),
    /// [`Error::Timeout`].
    pub async fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Result<HttpResponse> {
        let t = self.timeout;
        let tcp = timeout(t, TcpStream::connect(self.addr))
            .await
            .map_err(|_| Error::Timeout("connect to the AS"))?
            .map_err(|e| transport("connect", e))?;
        let _ = tcp.set_nodelay(true);
        let name = rustls::pki_types::ServerName::try_from(self.server_name.clone())
            .map_err(|e| transport("server name", e))?;
        let mut tls = timeout(t, TlsConnector::from(self.tls.clone()).connect(name, tcp))
            .await
            .map_err(|_| Error::Timeout("TLS handshake with the AS"))?
            .map_err(|e| transport("TLS", e))?;
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\n\
             Accept: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.server_name,
            body.len()
        );
        if let Some((id, secret)) = &self.basic {
            let raw = format!(
                "{}:{}",
                form_encode(id.as_bytes()),
                form_encode(secret.expose())
            );
            head.push_str(&format!(
                "Authorization: Basic {}\r\n",
                STANDARD.encode(raw)
            ));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        timeout(t, async {
            tls.write_all(&request).await?;
            tls.flush().await
        })
        .await
        .map_err(|_| Error::Timeout("request to the AS"))?
        .map_err(|e| transport("write", e))?;
        let mut resp = Vec::new();
        timeout(t, read_response(&mut tls, &mut resp))
            .await
            .map_err(|_| Error::Timeout("response from the AS"))??;
        parse_response(&resp)
    }
}

async fn read_response<R: tokio::io::AsyncRead + Unpin>(
    r: &mut R,
    out: &mut Vec<u8>,
) -> Result<()> {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(len) = complete_length(out)?
            && out.len() >= len
        {
            out.truncate(len);
            return Ok(());
        }
        let n = match r.read(&mut chunk).await {
            Ok(n) => n,
            // A peer that closes without close_notify after a complete body is tolerated below.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(transport("read", e)),
        };
        if n == 0 {
            return Ok(());
        }
        out.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if out.len() > MAX_RESPONSE {
            return Err(Error::Transport("response too large".into()));
        }
    }
}

fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The total length once the head is complete and names a `Content-Length`.
fn complete_length(buf: &[u8]) -> Result<Option<usize>> {
    let Some(end) = head_end(buf) else {
        return Ok(None);
    };
    let head = std::str::from_utf8(buf.get(..end).unwrap_or_default())
        .map_err(|_| Error::Transport("response head is not UTF-8".into()))?;
    match header(head, "content-length") {
        Some(v) => v
            .parse::<usize>()
            .map(|n| Some(end + 4 + n))
            .map_err(|_| Error::Transport("bad Content-Length".into())),
        None => Ok(None),
    }
}

fn parse_response(buf: &[u8]) -> Result<HttpResponse> {
    let end = head_end(buf).ok_or_else(|| Error::Transport("incomplete HTTP response".into()))?;
    let head = std::str::from_utf8(buf.get(..end).unwrap_or_default())
        .map_err(|_| Error::Transport("response head is not UTF-8".into()))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| Error::Transport("bad HTTP status line".into()))?;
    if header(head, "transfer-encoding").is_some() {
        return Err(Error::Transport(
            "chunked responses are not supported".into(),
        ));
    }
    let body = buf.get(end + 4..).unwrap_or_default().to_vec();
    if let Some(n) = header(head, "content-length").and_then(|v| v.parse::<usize>().ok())
        && body.len() != n
    {
        return Err(Error::Transport("truncated HTTP response".into()));
    }
    Ok(HttpResponse {
        status,
        content_type: header(head, "content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        }),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_response_and_refuses_chunked_and_truncated() {
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=x\r\n\
              content-length: 2\r\n\r\n{}",
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert_eq!(r.body, b"{}");
        assert!(parse_response(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n{}").is_err());
        assert!(parse_response(b"garbage").is_err());
        assert_eq!(
            complete_length(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n").unwrap(),
            Some(41)
        );
        assert_eq!(form_encode(b"a b:c"), "a%20b%3Ac");
    }
}
