//! The server seam: a [`CmpHandler`] (a CA, an RA, or the HTTP proxy) behind a CoAP
//! resource at `/.well-known/cmp` (subtree), and a [`CmpServer`] that runs it.
//!
//! ```text
//!  CoAP POST (Block1 reassembled by ace-coap)
//!        ▼
//!  check_message_type (NON → 4.00) ─▶ check_request ──4.xx──▶ error response
//!        │ ok: (CmpPath, MessageInfo)
//!        ▼
//!  permit (max_concurrent, else 5.03 + Max-Age) ─▶ Handled::Deferred
//!        ▼
//!  tokio task: CmpHandler::handle(request) within handler_timeout; ace-coap piggybacks
//!  the response on the ACK if it is ready within `Config::piggyback_window`, else
//!  empty ACK then separate CON response
//!        ▼
//!  PKIMessage? ──yes──▶ 2.04 (or 2.05) + CF 259 (Block2 when large)
//!        └─no / Err(e) ──▶ e.to_code() (+ diagnostic payload)
//! ```
//!
//! A CMP-level failure (an `error` PKIMessage, a rejection status) is a successful
//! transfer and is returned with a 2.xx code (digest CMP-T3, R2); a CoAP error code is
//! used only when there is no PKIMessage to return.

use core::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ace_coap::consts::option;
use ace_coap::{
    Code, Handled, LinkAttributes, Message, PeerIdentity, PlainCoap, Request, Resource, Router,
    SecurityLayer, Server, ServerHandle,
};
use tokio::sync::Semaphore;

use crate::consts::{content_format, link, path};
use crate::error::{Error, Result};
use crate::msg::{MessageInfo, classify};
use crate::path::CmpPath;

/// A CMP request as a [`CmpHandler`] receives it.
#[derive(Debug, Clone)]
pub struct CmpRequest {
    /// The DER PKIMessage exactly as received (never re-encoded).
    pub der: Vec<u8>,
    /// Its classification.
    pub info: MessageInfo,
    /// The CMP path it was sent to.
    pub path: CmpPath,
    /// Transport address of the client.
    pub peer: SocketAddr,
    /// Identity established by the CoAP security layer (anonymous for plain CoAP).
    pub identity: PeerIdentity,
}

/// What an integrator implements to serve CMP over CoAP: a CA, an RA, or a forwarder.
///
/// Return the response PKIMessage (DER), including CMP `error` messages and negative
/// PKIStatus responses; return `Err` only when there is no PKIMessage to send (the
/// server then answers with [`Error::to_code`]).
pub trait CmpHandler: Send + Sync + 'static {
    /// Handles one request; the future runs on a tokio task.
    fn handle(&self, request: CmpRequest) -> impl Future<Output = Result<Vec<u8>>> + Send;

    /// `true` when every `Ok` answer of [`CmpHandler::handle`] has already passed
    /// [`crate::msg::classify`], so the server need not check it again (one strict DER
    /// decode less per exchange; [`crate::proxy::HttpUpstream`] does this because it
    /// checks the upstream answer anyway). Default `false`: the server refuses an answer
    /// that is not a PKIMessage with 5.00.
    fn checks_responses(&self) -> bool {
        false
    }
}

/// Server-side policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Largest request body accepted (after Block1 reassembly); larger → 4.13 with Size1
    /// (default 64 KiB, digest CMP-T6).
    pub max_message_size: usize,
    /// Also accept Content-Format 42 or none (digest CMP-T1; default off → 4.15).
    pub lenient_content_format: bool,
    /// Success code: 2.04 Changed (default, RFC 7252 POST) or 2.05 Content (d01 §2.3).
    pub success_code: Code,
    /// How long a handler may take before the client gets 5.03 (default 60 s).
    pub handler_timeout: Duration,
    /// Concurrent exchanges; beyond → 5.03 with Max-Age (default 64).
    pub max_concurrent: usize,
    /// Max-Age (seconds) sent with 5.03 (default 5).
    pub busy_max_age: u32,
    /// Refuse requests that arrive in a Non-confirmable (NON) message with 4.00 (default
    /// on). The rule "each CoAP request MUST be a Confirmable message" is RFC 9482 §2.3
    /// **as recalled** (digest CMP-003, marked "memory"; the RFC text is not on this machine and
    /// draft-01 does not say it), hence an option; turn it off to serve NON requests
    /// (answered with NON responses).
    pub require_confirmable: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_message_size: 64 * 1024,
            lenient_content_format: false,
            success_code: Code::CHANGED,
            handler_timeout: Duration::from_secs(60),
            max_concurrent: 64,
            busy_max_age: 5,
            require_confirmable: true,
        }
    }
}

/// Checks the CoAP message type of a CMP request (sans-IO): with
/// [`ServerConfig::require_confirmable`] a NON request is refused.
///
/// # Errors
/// [`Error::NotConfirmable`] for a NON request when Confirmable is required.
pub fn check_message_type(confirmable: bool, config: &ServerConfig) -> Result<()> {
    if config.require_confirmable && !confirmable {
        return Err(Error::NotConfirmable);
    }
    Ok(())
}

/// Checks a CoAP request for a CMP resource (sans-IO): path, Content-Format, size, DER,
/// request type.
///
/// # Errors
/// [`Error::NotFound`], [`Error::UnsupportedContentFormat`], [`Error::TooLarge`],
/// [`Error::Malformed`], [`Error::NotARequest`].
pub fn check_request(
    message: &Message,
    path: &str,
    config: &ServerConfig,
) -> Result<(CmpPath, MessageInfo)> {
    let cmp_path = CmpPath::parse(path)?;
    let cf = message.content_format();
    let cf_ok = match cf {
        Some(content_format::PKIXCMP) => true,
        None | Some(content_format::OCTET_STREAM) => config.lenient_content_format,
        Some(_) => false,
    };
    if !cf_ok {
        return Err(Error::UnsupportedContentFormat(cf));
    }
    if message.payload.len() > config.max_message_size {
        return Err(Error::TooLarge {
            size: message.payload.len(),
            limit: config.max_message_size,
        });
    }
    let info = classify(&message.payload).map_err(Error::Malformed)?;
    if !info.body_type.is_request() {
        return Err(Error::NotARequest(info.body_type));
    }
    Ok((cmp_path, info))
}

/// The CoAP response for an error: its code, a diagnostic payload (RFC 7252 §5.5.2),
/// Size1 with 4.13 (RFC 7959 §4), Max-Age with 5.03 (RFC 7252 §5.9.3.4).
#[must_use]
pub fn error_response(err: &Error, config: &ServerConfig) -> Message {
    let code = err.to_code();
    let mut m = Message::response(code, err.to_string().into_bytes());
    if let Error::TooLarge { limit, .. } = err {
        m.options
            .set_uint(option::SIZE1, u32::try_from(*limit).unwrap_or(u32::MAX));
    }
    if code == Code::SERVICE_UNAVAILABLE {
        m.options.set_uint(option::MAX_AGE, config.busy_max_age);
    }
    m
}

/// The CoAP response carrying a PKIMessage: the configured 2.xx code and CF 259.
#[must_use]
pub fn success_response(der: Vec<u8>, config: &ServerConfig) -> Message {
    Message::response(config.success_code, der).with_content_format(content_format::PKIXCMP)
}

/// Graceful shutdown of a mounted [`CmpResource`]: stop taking new exchanges and wait
/// for those in flight (their responses are handed to the CoAP server before they count
/// as finished). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Drain {
    permits: Arc<Semaphore>,
    draining: Arc<AtomicBool>,
    max: usize,
}

impl Drain {
    fn new(max_concurrent: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent)),
            draining: Arc::new(AtomicBool::new(false)),
            max: max_concurrent,
        }
    }

    /// Exchanges in flight now.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.max.saturating_sub(self.permits.available_permits())
    }

    /// From now on new CMP requests get 5.03 with Max-Age ([`Error::Busy`]); waits up to
    /// `grace` for the exchanges in flight to hand over their responses. Returns `true`
    /// when none is left. Shut the CoAP server down afterwards
    /// ([`ServerHandle::shutdown`]), which sends what is queued before it stops.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.draining.store(true, Ordering::SeqCst);
        let all = u32::try_from(self.max).unwrap_or(u32::MAX);
        matches!(
            tokio::time::timeout(grace, self.permits.acquire_many(all)).await,
            Ok(Ok(_))
        )
    }

    fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

/// The CoAP resource serving CMP; mount it with [`mount`] (as a subtree of
/// `/.well-known/cmp`).
pub struct CmpResource<H> {
    handler: Arc<H>,
    handle: ServerHandle,
    config: ServerConfig,
    drain: Drain,
}

impl<H> core::fmt::Debug for CmpResource<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CmpResource")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<H: CmpHandler> CmpResource<H> {
    /// A resource that answers through `handle` (the server it is mounted on).
    #[must_use]
    pub fn new(handler: Arc<H>, handle: ServerHandle, config: ServerConfig) -> Self {
        let drain = Drain::new(config.max_concurrent);
        Self {
            handler,
            handle,
            config,
            drain,
        }
    }

    /// The resource's [`Drain`] (for a graceful shutdown).
    #[must_use]
    pub fn drain(&self) -> Drain {
        self.drain.clone()
    }
}

impl<H: CmpHandler> Resource for CmpResource<H> {
    fn handle(&mut self, request: &Request) -> Handled {
        let checked = check_message_type(request.confirmable(), &self.config)
            .and_then(|()| check_request(&request.message, request.path(), &self.config));
        let (cmp_path, info) = match checked {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(peer = %request.peer, error = %e, "CMP request refused");
                return error_response(&e, &self.config).into();
            }
        };
        if self.drain.is_draining() {
            return error_response(&Error::Busy, &self.config).into();
        }
        let Ok(permit) = Arc::clone(&self.drain.permits).try_acquire_owned() else {
            return error_response(&Error::Busy, &self.config).into();
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return error_response(&Error::Handler("no tokio runtime".into()), &self.config).into();
        };
        let cmp_request = CmpRequest {
            der: request.message.payload.clone(),
            info,
            path: cmp_path,
            peer: request.peer,
            identity: request.identity.clone(),
        };
        let id = request.id();
        let handler = Arc::clone(&self.handler);
        let handle = self.handle.clone();
        let config = self.config.clone();
        tracing::debug!(peer = %request.peer, body = %cmp_request.info.body_type, "CMP request");
        runtime.spawn(async move {
            let result =
                tokio::time::timeout(config.handler_timeout, handler.handle(cmp_request)).await;
            let response = match result {
                Ok(Ok(der)) if handler.checks_responses() => success_response(der, &config),
                Ok(Ok(der)) => match classify(&der) {
                    Ok(_) => success_response(der, &config),
                    Err(e) => {
                        tracing::warn!(error = %e, "CMP handler returned a non-PKIMessage");
                        error_response(
                            &Error::Handler("handler returned a non-PKIMessage".into()),
                            &config,
                        )
                    }
                },
                Ok(Err(e)) => error_response(&e, &config),
                Err(_) => error_response(&Error::HandlerTimeout, &config),
            };
            if let Err(e) = handle.respond(id, response).await {
                tracing::debug!(error = %e, "could not deliver the CMP response");
            }
            // Released after the response is queued in the server, so that a drain that
            // sees every permit back can shut the server down without losing it.
            drop(permit);
        });
        Handled::Deferred
    }

    fn allowed_methods(&self) -> &[Code] {
        &[Code::POST]
    }

    fn link_attributes(&self) -> LinkAttributes {
        LinkAttributes {
            resource_types: vec![link::RESOURCE_TYPE.to_owned()],
            content_formats: vec![content_format::PKIXCMP],
            ..LinkAttributes::default()
        }
    }
}

/// Mounts a [`CmpResource`] for `handler` at `/.well-known/cmp` and below on `router`
/// (listed in `/.well-known/core` as `</.well-known/cmp>;rt="ace.cmp";ct=259`); returns
/// its [`Drain`].
pub fn mount<H: CmpHandler>(
    router: &mut Router,
    handle: ServerHandle,
    handler: Arc<H>,
    config: ServerConfig,
) -> Drain {
    let resource = CmpResource::new(handler, handle, config);
    let drain = resource.drain();
    router.insert(path::WELL_KNOWN_CMP, Box::new(resource), true);
    drain
}

/// A CoAP server with a [`CmpHandler`] mounted at `/.well-known/cmp`, over plain CoAP
/// ([`CmpServer::bind`]) or behind a CoAP security layer such as ace-oscore's
/// `OscoreLayer` ([`CmpServer::bind_with_security`]).
#[must_use = "a server does nothing until `serve` runs"]
pub struct CmpServer<S: SecurityLayer = PlainCoap> {
    server: Server<S>,
    drain: Drain,
}

impl<S: SecurityLayer> core::fmt::Debug for CmpServer<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CmpServer")
            .field("server", &self.server)
            .field("drain", &self.drain)
            .finish()
    }
}

impl CmpServer<PlainCoap> {
    /// Binds a plain-CoAP server on `addr`. The CoAP block-wise body limit is set to
    /// `config.max_message_size`, so larger Block1 uploads get 4.13 with Size1.
    ///
    /// # Errors
    /// [`Error::Io`] when the socket cannot be bound.
    pub async fn bind<H: CmpHandler>(
        addr: SocketAddr,
        coap: ace_coap::Config,
        config: ServerConfig,
        handler: H,
    ) -> Result<Self> {
        let server = Self::bind_with_security(addr, coap, config, handler, PlainCoap).await?;
        if let Ok(a) = server.local_addr()
            && !a.ip().is_loopback()
        {
            tracing::warn!(addr = %a, "CMP over plain CoAP on a non-loopback address: only CMP-level protection applies (no DTLS/OSCORE)");
        }
        Ok(server)
    }
}

impl<S: SecurityLayer> CmpServer<S> {
    /// Binds a server on `addr` whose requests pass through `security` before routing
    /// (e.g. `ace_oscore::coap::OscoreLayer`: requests are verified and the handler sees
    /// [`CmpRequest::identity`] = `PeerIdentity::Oscore { .. }`; piggybacked and separate
    /// responses are protected with the request's context). The PKIMessage is the
    /// decrypted payload, byte for byte, so CMP's own protection is unchanged. The CoAP
    /// block-wise body limit is `config.max_message_size`, as in [`CmpServer::bind`].
    ///
    /// # Errors
    /// [`Error::Io`] when the socket cannot be bound.
    pub async fn bind_with_security<H: CmpHandler>(
        addr: SocketAddr,
        mut coap: ace_coap::Config,
        config: ServerConfig,
        handler: H,
        security: S,
    ) -> Result<Self> {
        coap.max_body_size = config.max_message_size;
        let mut server = Server::bind_with_security(addr, coap, Router::new(), security)
            .await
            .map_err(|e| Error::Io(e.to_string()))?;
        let handle = server.handle();
        let drain = mount(
            server.endpoint_mut().router_mut(),
            handle,
            Arc::new(handler),
            config,
        );
        Ok(Self { server, drain })
    }

    /// The bound address.
    ///
    /// # Errors
    /// [`Error::Io`] from the socket.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.server
            .local_addr()
            .map_err(|e| Error::Io(e.to_string()))
    }

    /// A handle to shut the server down ([`ServerHandle::shutdown`]).
    #[must_use]
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// The CMP resource's [`Drain`]: call [`Drain::drain`], then
    /// [`ServerHandle::shutdown`], for a graceful stop.
    #[must_use]
    pub fn drain(&self) -> Drain {
        self.drain.clone()
    }

    /// The underlying CoAP server (to mount more resources before serving).
    pub fn coap_mut(&mut self) -> &mut Server<S> {
        &mut self.server
    }

    /// Serves until shut down.
    ///
    /// # Errors
    /// [`Error::Coap`] from the CoAP shell.
    pub async fn serve(self) -> Result<()> {
        self.server.serve().await.map_err(Error::from)
    }
}
