//! The CMP-over-CoAP client of an end entity or an RA.
//!
//! It carries PKIMessages the caller built (CMP protection, nonces and transaction state
//! belong to the CMP layer, digest CMP-020/R5) in confirmable CoAP POSTs with
//! Content-Format 259; ace-coap does Block1/Block2 transparently for large messages
//! (CMP-008). Delayed delivery: [`CmpClient::send_with_polling`] waits `checkAfter`
//! and sends the caller's next `pollReq` as a new POST (CMP-021, CMP-T7).

use core::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ace_coap::{Client, Code, Message};

use crate::consts::{content_format, link, path};
use crate::error::{Error, Result};
use crate::msg::{BodyType, MessageInfo, ResponseContent, classify, inspect_response};

/// How a [`CmpClient`] carries one CoAP request to the CMP server and gets the final
/// response: plain CoAP ([`ace_coap::Client`], block-wise done by ace-coap) or, with the
/// `oscore` feature, OSCORE (`ace_oscore::coap::OscoreClient`: the whole CoAP request,
/// Content-Format and path included, is protected; the PKIMessage inside is relayed
/// unchanged, so CMP's own protection stays as it is).
pub trait Transport: Send + Sync {
    /// Sends `message` as a Confirmable request to `peer` and returns the final response
    /// (block-wise transfers completed).
    fn request(
        &self,
        peer: SocketAddr,
        message: Message,
    ) -> impl Future<Output = Result<Message>> + Send;
}

impl Transport for Client {
    async fn request(&self, peer: SocketAddr, message: Message) -> Result<Message> {
        Client::request(self, peer, message, true)
            .await
            .map_err(Error::from)
    }
}

impl<T: Transport> Transport for Arc<T> {
    async fn request(&self, peer: SocketAddr, message: Message) -> Result<Message> {
        T::request(self, peer, message).await
    }
}

#[cfg(feature = "oscore")]
impl<B> Transport for ace_oscore::coap::OscoreClient<B>
where
    B: ace_oscore::crypto::AeadBackend + Send + 'static,
{
    async fn request(&self, peer: SocketAddr, message: Message) -> Result<Message> {
        ace_oscore::coap::OscoreClient::request(self, peer, message)
            .await
            .map_err(|e| match e {
                ace_oscore::Error::Transport(t) => Error::Coap(t),
                other => Error::Oscore(other.to_string()),
            })
    }
}

/// Client policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The CoAP path of the CMP resource (default `/.well-known/cmp`).
    pub path: String,
    /// Accept responses with Content-Format 42 or none (default off).
    pub lenient_content_format: bool,
    /// Refuse a response whose transactionID differs from the request's (default on).
    pub check_transaction_id: bool,
    /// Overall bound on one request/response exchange (default 120 s).
    pub request_timeout: Duration,
    /// Maximum number of `pollReq` rounds in [`CmpClient::send_with_polling`] (default 10).
    pub max_polls: u32,
    /// Largest `checkAfter` the client is willing to wait (default 300 s).
    pub max_check_after: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            path: path::WELL_KNOWN_CMP.to_owned(),
            lenient_content_format: false,
            check_transaction_id: true,
            request_timeout: Duration::from_secs(120),
            max_polls: 10,
            max_check_after: Duration::from_secs(300),
        }
    }
}

/// A response PKIMessage received over CoAP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmpResponse {
    /// The CoAP success code (2.04 or 2.05 in practice).
    pub code: Code,
    /// The DER PKIMessage as received.
    pub der: Vec<u8>,
    /// Its classification.
    pub info: MessageInfo,
    /// What the transport inspected of its body.
    pub content: ResponseContent,
}

/// Sends PKIMessages to one CMP server (CA, RA, or CoAP-to-HTTP proxy) over a
/// [`Transport`] (plain CoAP by default).
#[derive(Debug, Clone)]
pub struct CmpClient<T = Client> {
    coap: T,
    peer: SocketAddr,
    config: ClientConfig,
}

impl<T: Transport> CmpClient<T> {
    /// A client that sends through `coap` (an [`ace_coap::Client`], or an OSCORE client
    /// with the `oscore` feature) to `peer`.
    #[must_use]
    pub fn new(coap: T, peer: SocketAddr, config: ClientConfig) -> Self {
        Self { coap, peer, config }
    }

    /// The transport.
    #[must_use]
    pub fn transport(&self) -> &T {
        &self.coap
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// POSTs one request PKIMessage and returns the response PKIMessage.
    ///
    /// # Errors
    /// [`Error::Malformed`] / [`Error::NotARequest`] for a bad request (nothing is sent);
    /// [`Error::Coap`] for transport failures (timeout, reset, block-wise);
    /// [`Error::CoapStatus`] for a 4.xx/5.xx answer (see [`Error::failure_info`]);
    /// [`Error::UnexpectedResponse`], [`Error::Malformed`], [`Error::TransactionIdMismatch`]
    /// for a response that is not an acceptable PKIMessage.
    pub async fn send(&self, request: Vec<u8>) -> Result<CmpResponse> {
        let req_info = classify(&request).map_err(Error::Malformed)?;
        if !req_info.body_type.is_request() {
            return Err(Error::NotARequest(req_info.body_type));
        }
        let message = Message::request(Code::POST, &self.config.path)
            .with_payload(request)
            .with_content_format(content_format::PKIXCMP);
        let response = tokio::time::timeout(
            self.config.request_timeout,
            self.coap.request(self.peer, message),
        )
        .await
        .map_err(|_| Error::Coap(ace_coap::Error::Timeout))??;
        self.accept(&req_info, response)
    }

    fn accept(&self, req: &MessageInfo, response: Message) -> Result<CmpResponse> {
        if !response.code.is_success() {
            return Err(Error::CoapStatus {
                code: response.code,
                diagnostic: String::from_utf8_lossy(&response.payload)
                    .chars()
                    .take(256)
                    .collect(),
            });
        }
        match response.content_format() {
            Some(content_format::PKIXCMP) => {}
            None | Some(content_format::OCTET_STREAM) if self.config.lenient_content_format => {}
            _ => {
                return Err(Error::UnexpectedResponse(
                    "Content-Format is not application/pkixcmp (259)",
                ));
            }
        }
        let (info, content) = inspect_response(&response.payload).map_err(Error::Malformed)?;
        // `error` and `nested` travel in both directions.
        if info.body_type.is_request()
            && !matches!(info.body_type, BodyType::Error | BodyType::Nested)
        {
            return Err(Error::UnexpectedResponse("a request message came back"));
        }
        if self.config.check_transaction_id
            && info.transaction_id.is_some()
            && req.transaction_id.is_some()
            && info.transaction_id != req.transaction_id
        {
            return Err(Error::TransactionIdMismatch);
        }
        Ok(CmpResponse {
            code: response.code,
            der: response.payload,
            info,
            content,
        })
    }

    /// Sends `request`; while the response asks for polling (a `waiting` status or a
    /// `pollRep`), waits `checkAfter` seconds (none after a `waiting` status) and sends the
    /// `pollReq` that `next_poll_request` builds from the last response. Returns the first
    /// response that does not ask for polling.
    ///
    /// # Errors
    /// As [`CmpClient::send`]; [`Error::PollingExceeded`] after `max_polls` rounds or for a
    /// `checkAfter` above `max_check_after`; whatever `next_poll_request` returns.
    pub async fn send_with_polling<F>(
        &self,
        request: Vec<u8>,
        mut next_poll_request: F,
    ) -> Result<CmpResponse>
    where
        F: FnMut(&CmpResponse) -> Result<Vec<u8>>,
    {
        let mut response = self.send(request).await?;
        let mut rounds = 0u32;
        while response.content.needs_polling() {
            rounds += 1;
            if rounds > self.config.max_polls {
                return Err(Error::PollingExceeded("too many pollReq rounds"));
            }
            let wait = Duration::from_secs(response.content.check_after().unwrap_or(0));
            if wait > self.config.max_check_after {
                return Err(Error::PollingExceeded(
                    "checkAfter above the configured maximum",
                ));
            }
            let poll = next_poll_request(&response)?;
            let poll_type = classify(&poll).map_err(Error::Malformed)?.body_type;
            if poll_type != BodyType::PollReq {
                return Err(Error::Misuse("the polling callback must return a pollReq"));
            }
            tokio::time::sleep(wait).await;
            response = self.send(poll).await?;
        }
        Ok(response)
    }
}

/// Discovers CMP resources with `GET /.well-known/core?rt=ace.cmp` (RFC 6690, digest
/// CMP-006) and returns their paths. The caller must still check the discovered entity's
/// Root CA certificate against its configured one (d01 §2.1 MUST).
///
/// # Errors
/// [`Error::Coap`], [`Error::CoapStatus`].
pub async fn discover<T: Transport>(
    coap: &T,
    peer: SocketAddr,
    timeout: Duration,
) -> Result<Vec<String>> {
    let query = format!("/.well-known/core?rt={}", link::RESOURCE_TYPE);
    let request = Message::request(Code::GET, &query);
    let response = tokio::time::timeout(timeout, coap.request(peer, request))
        .await
        .map_err(|_| Error::Coap(ace_coap::Error::Timeout))??;
    if !response.code.is_success() {
        return Err(Error::CoapStatus {
            code: response.code,
            diagnostic: String::new(),
        });
    }
    Ok(parse_link_paths(&String::from_utf8_lossy(
        &response.payload,
    )))
}

/// The targets (`<…>`) of an RFC 6690 link-format document.
#[must_use]
pub fn parse_link_paths(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(start) = rest.find('<') {
        let after = rest.get(start + 1..).unwrap_or_default();
        let Some(end) = after.find('>') else { break };
        out.push(after.get(..end).unwrap_or_default().to_owned());
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out
}
