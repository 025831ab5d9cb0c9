//! The AS over CoAP (feature `coap`): [`CoapEndpoint`] POSTs `application/ace+cbor` requests
//! to the AS's `/token` (RFC 9200 §5.8) or `/introspect` (§5.9) over OSCORE (RFC 8613, the
//! AS's default, with `ace-oscore`'s [`OscoreClient`]) or plain CoAP (only for an AS that
//! allows it, e.g. `ace as serve --insecure` on loopback; the client then authenticates with
//! `client_secret` in the token request, and introspection is not possible).
//!
//! The CoAP client is `ace-coap`'s; its driver runs on a task spawned by
//! [`CoapEndpoint::plain`] / [`CoapEndpoint::oscore`] until the last clone of the endpoint is dropped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ace_coap::{Code, Message};
use ace_crypto::SecretBytes;
use ace_oscore::SecurityContext;
use ace_oscore::coap::OscoreClient;
use ace_token::RustCrypto;

use crate::error::{Error, Result};

/// `application/ace+cbor` (RFC 9200 §8.16).
const ACE_CBOR: u16 = 19;

/// How requests reach the AS.
#[derive(Clone)]
pub enum CoapChannel {
    /// OSCORE with a context shared with the AS: the AS identifies the client (or broker) by
    /// its OSCORE Sender ID.
    Oscore(Arc<OscoreClient<RustCrypto>>),
    /// Plain CoAP with this `client_secret` in token requests (loopback test deployments).
    Plain(SecretBytes),
}

/// The AS's CoAP address and the channel to it.
#[derive(Clone)]
pub struct CoapEndpoint {
    /// The AS.
    pub addr: SocketAddr,
    /// The channel.
    pub channel: CoapChannel,
    /// The plain CoAP client (also under OSCORE).
    client: ace_coap::Client,
    /// Bound on one request (CoAP retransmissions included).
    pub timeout: Duration,
}

impl core::fmt::Debug for CoapEndpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never the secret or the OSCORE keys.
        f.debug_struct("CoapEndpoint")
            .field("addr", &self.addr)
            .field(
                "channel",
                &match self.channel {
                    CoapChannel::Oscore(_) => "oscore",
                    CoapChannel::Plain(_) => "plain",
                },
            )
            .finish_non_exhaustive()
    }
}

/// A CoAP reply: response code as `class × 100 + detail` (2.01 → 201) and the payload.
#[derive(Debug, Clone)]
pub struct CoapReply {
    /// `class × 100 + detail`.
    pub code: u16,
    /// The payload.
    pub payload: Vec<u8>,
}

impl CoapReply {
    /// The code as ace-core's `CoapCode`.
    #[must_use]
    pub fn coap_code(&self) -> ace_core::CoapCode {
        ace_core::CoapCode {
            class: u8::try_from(self.code / 100).unwrap_or(0),
            detail: u8::try_from(self.code % 100).unwrap_or(0),
        }
    }
}

fn code_number(c: Code) -> u16 {
    u16::from(c.class()) * 100 + u16::from(c.detail())
}

impl CoapEndpoint {
    /// A plain-CoAP endpoint (loopback test deployments, `ace as serve --insecure`): token
    /// requests carry `client_secret`. The client socket is bound to the loopback address when
    /// the AS is on loopback, else to the unspecified address of its family, and driven by a
    /// task until the last clone of the endpoint is dropped.
    ///
    /// There is deliberately no OSCORE variant with an implicit in-memory sequence store: a
    /// context whose Sender Sequence Number restarts at 0 in every process reuses AEAD nonces
    /// (RFC 8613 §7.2.1). Use [`CoapEndpoint::oscore`] and choose the store.
    ///
    /// # Errors
    /// [`Error::Transport`] if the socket cannot be bound.
    pub async fn plain(as_addr: SocketAddr, client_secret: &[u8]) -> Result<Self> {
        let client = Self::client_for(as_addr).await?;
        Ok(Self {
            addr: as_addr,
            channel: CoapChannel::Plain(SecretBytes::from_slice(client_secret)),
            client,
            timeout: Duration::from_secs(10),
        })
    }

    /// An OSCORE endpoint with a caller-made context and sequence store (e.g. a context
    /// restored from a persistent store, RFC 8613 Appendix B.1.1, so that Sender Sequence
    /// Numbers are never reused after a restart); socket and driver as in
    /// [`CoapEndpoint::plain`].
    ///
    /// # Errors
    /// [`Error::Transport`] if the socket cannot be bound.
    pub async fn oscore(
        as_addr: SocketAddr,
        ctx: SecurityContext<RustCrypto>,
        store: impl ace_oscore::SequenceStore + Send + 'static,
    ) -> Result<Self> {
        let client = Self::client_for(as_addr).await?;
        Ok(Self {
            addr: as_addr,
            channel: CoapChannel::Oscore(Arc::new(OscoreClient::new(client.clone(), ctx, store))),
            client,
            timeout: Duration::from_secs(10),
        })
    }

    async fn client_for(as_addr: SocketAddr) -> Result<ace_coap::Client> {
        let ip: IpAddr = match (as_addr.ip().is_loopback(), as_addr.is_ipv4()) {
            (true, true) => Ipv4Addr::LOCALHOST.into(),
            (true, false) => Ipv6Addr::LOCALHOST.into(),
            (false, true) => Ipv4Addr::UNSPECIFIED.into(),
            (false, false) => Ipv6Addr::UNSPECIFIED.into(),
        };
        let (client, driver) =
            ace_coap::Client::bind(SocketAddr::new(ip, 0), ace_coap::Config::default())
                .await
                .map_err(|e| Error::Transport(format!("CoAP client: {e}")))?;
        tokio::spawn(async move {
            if let Err(e) = driver.run().await {
                tracing::debug!(error = %e, "CoAP client driver ended");
            }
        });
        Ok(client)
    }

    /// The `client_secret` of a plain channel.
    #[must_use]
    pub fn plain_secret(&self) -> Option<&SecretBytes> {
        match &self.channel {
            CoapChannel::Plain(s) if !s.expose().is_empty() => Some(s),
            _ => None,
        }
    }

    /// Whether requests are OSCORE-protected.
    #[must_use]
    pub fn is_oscore(&self) -> bool {
        matches!(self.channel, CoapChannel::Oscore(_))
    }

    /// `POST path` with an `application/ace+cbor` payload, bounded by `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`]; [`Error::Transport`] for CoAP or OSCORE failures.
    pub async fn post(&self, path: &str, payload: Vec<u8>) -> Result<CoapReply> {
        let msg = Message::request(Code::POST, path)
            .with_payload(payload)
            .with_content_format(ACE_CBOR);
        let reply = match &self.channel {
            CoapChannel::Oscore(o) => tokio::time::timeout(self.timeout, o.request(self.addr, msg))
                .await
                .map_err(|_| Error::Timeout("CoAP request to the AS"))?
                .map_err(|e| Error::Transport(format!("OSCORE: {e}")))?,
            CoapChannel::Plain(_) => {
                tokio::time::timeout(self.timeout, self.client.request(self.addr, msg, true))
                    .await
                    .map_err(|_| Error::Timeout("CoAP request to the AS"))?
                    .map_err(|e| Error::Transport(format!("CoAP: {e}")))?
            }
        };
        Ok(CoapReply {
            code: code_number(reply.code),
            payload: reply.payload,
        })
    }
}
