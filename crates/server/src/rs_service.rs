//! The Resource Server shell.

use std::sync::{Arc, Mutex};

use ace_coap::{Code, FnResource, Handled, LinkAttributes, Message, Request, Resource, Router};
use ace_core::{Access, ContentFormat, RsEngine, RsResponse};
use ace_token::crypto::{OsRng, os_rng};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::identity::{IdentityMap, default_identity_map};
use crate::oscore_rs::RsOscore;
use crate::sink::{EffectSink, LogEffects};

const ACE_CBOR: u16 = ContentFormat::ACE_CBOR.0;

struct Inner {
    engine: RsEngine,
    rng: OsRng,
}

/// The RS: an [`RsEngine`] behind a lock, `/authz-info` (RFC 9200 §5.10.1) and
/// [`Protected`] resources whose every request (and every Observe notification) is
/// authorized against the token bound to the peer's channel identity (§5.10.2). Cheap to
/// clone; clones share the engine.
#[derive(Clone)]
pub struct RsService {
    inner: Arc<Mutex<Inner>>,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn EffectSink>,
    identity: IdentityMap,
    oscore: Option<Arc<RsOscore>>,
    trl: Option<Arc<crate::rs_trl::RsTrl>>,
}

/// What the TRL guard says about an `/authz-info` payload.
enum Upload {
    /// No guard, or the payload does not parse (the engine answers it).
    Unchecked,
    /// Not revoked: record this hash with the effects.
    Hash(revocation::TokenHash),
    /// A retained revoked hash (RFC 9770: MUST NOT accept) → 4.01.
    Revoked,
}

impl core::fmt::Debug for RsService {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RsService").finish_non_exhaustive()
    }
}

impl RsService {
    /// A service around `engine` with the system clock, [`LogEffects`] and the
    /// [`default_identity_map`].
    #[must_use]
    pub fn new(engine: RsEngine) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                engine,
                rng: os_rng(),
            })),
            clock: Arc::new(SystemClock),
            sink: Arc::new(LogEffects),
            identity: default_identity_map(),
            oscore: None,
            trl: None,
        }
    }

    /// Refuses tokens whose hash the RS retains as revoked (RFC 9770) at `/authz-info`,
    /// and records the hash ↔ binding of every accepted token, so that [`crate::rs_trl`]'s
    /// follower can purge it. The engine's token store must be the
    /// [`revocation::rs::PurgingTokenStore`] whose handle `trl` holds.
    #[must_use]
    pub fn with_trl(mut self, trl: Arc<crate::rs_trl::RsTrl>) -> Self {
        self.trl = Some(trl);
        self
    }

    fn check_upload(&self, content_format: Option<u16>, payload: &[u8]) -> Upload {
        let Some(trl) = &self.trl else {
            return Upload::Unchecked;
        };
        let Ok(req) =
            ace_core::AuthzInfoRequest::decode(content_format.map(ContentFormat), payload)
        else {
            return Upload::Unchecked;
        };
        match trl.check_upload(req.access_token()) {
            Ok(h) => Upload::Hash(h),
            Err(revocation::rs::GuardRefusal::Revoked) => {
                tracing::info!("revoked token refused at authz-info (RFC 9770)");
                Upload::Revoked
            }
        }
    }

    fn record_upload(&self, upload: &Upload, effects: &[ace_core::RsEffect]) -> Result<()> {
        if let (Some(trl), Upload::Hash(h)) = (&self.trl, upload) {
            trl.record(h, effects)?;
        }
        Ok(())
    }

    /// Runs the OSCORE profile of ACE (RFC 9203, see [`RsOscore`]): `/authz-info` derives
    /// OSCORE contexts and installs them into `oscore`'s layer, and OSCORE peers are known
    /// by the token bound to their context (this replaces the identity map for them).
    #[must_use]
    pub fn with_oscore_profile(mut self, oscore: Arc<RsOscore>) -> Self {
        self.oscore = Some(oscore);
        self
    }

    /// The RFC 9203 state, if [`RsService::with_oscore_profile`] was used.
    #[must_use]
    pub fn oscore_profile(&self) -> Option<&Arc<RsOscore>> {
        self.oscore.as_ref()
    }

    /// The engines' channel identity of `peer` now.
    fn channel_of(&self, peer: &ace_coap::PeerIdentity) -> ace_core::ChannelIdentity {
        match (&self.oscore, peer) {
            (Some(o), _) => o.peer_identity(peer, self.clock.now()),
            (None, _) => (self.identity)(peer),
        }
    }

    /// Uses `clock` for `now`.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sends effects to `sink`.
    #[must_use]
    pub fn with_sink(mut self, sink: Arc<dyn EffectSink>) -> Self {
        self.sink = sink;
        self
    }

    /// Maps channel identities with `map`.
    #[must_use]
    pub fn with_identity_map(mut self, map: IdentityMap) -> Self {
        self.identity = map;
        self
    }

    /// Runs `f` on the engine under the lock (inspection, profile glue).
    ///
    /// # Errors
    /// [`Error::Poisoned`].
    pub fn with_engine<T>(&self, f: impl FnOnce(&mut RsEngine) -> T) -> Result<T> {
        let mut inner = self.inner.lock().map_err(|_| Error::Poisoned)?;
        Ok(f(&mut inner.engine))
    }

    /// `/authz-info`: validates and stores the token; effects are persisted before this
    /// returns.
    ///
    /// # Errors
    /// Engine or persistence failures (refusals are [`RsResponse::Refused`]).
    pub fn authz_info(&self, content_format: Option<u16>, payload: &[u8]) -> Result<RsResponse> {
        let upload = self.check_upload(content_format, payload);
        if matches!(upload, Upload::Revoked) {
            return Ok(RsResponse::Refused(ace_core::CoapCode::UNAUTHORIZED));
        }
        let now = self.clock.now();
        let mut inner = self.inner.lock().map_err(|_| Error::Poisoned)?;
        let out =
            inner
                .engine
                .handle_authz_info(now, content_format.map(ContentFormat), payload)?;
        self.sink.rs_effects(&out.effects)?;
        self.record_upload(&upload, &out.effects)?;
        Ok(out.response)
    }

    /// The access decision for a request from `peer` (RFC 9200 §5.10.2).
    ///
    /// # Errors
    /// [`Error::Poisoned`].
    pub fn authorize(
        &self,
        peer: &ace_coap::PeerIdentity,
        local_part: &str,
        method: aif::Method,
    ) -> Result<Access> {
        let channel = self.channel_of(peer);
        let now = self.clock.now();
        let mut inner = self.inner.lock().map_err(|_| Error::Poisoned)?;
        let Inner { engine, rng } = &mut *inner;
        Ok(engine.authorize(now, &channel, local_part, method, rng))
    }

    /// Drops expired tokens (persisting the effects).
    ///
    /// # Errors
    /// Persistence failures, [`Error::Poisoned`].
    pub fn expire(&self) -> Result<()> {
        let now = self.clock.now();
        let mut inner = self.inner.lock().map_err(|_| Error::Poisoned)?;
        let effects = inner.engine.expire(now);
        self.sink.rs_effects(&effects)?;
        if let Some(o) = &self.oscore {
            o.expire(now)?;
        }
        Ok(())
    }

    /// `/authz-info` of the OSCORE profile (RFC 9203 §4.2) for a request from `peer`
    /// (anonymous: unprotected; an OSCORE peer: a token update over its context).
    ///
    /// # Errors
    /// [`Error::Tls`] without [`RsService::with_oscore_profile`]; engine, persistence and
    /// OSCORE failures.
    pub fn oscore_authz_info(
        &self,
        peer: &ace_coap::PeerIdentity,
        content_format: Option<u16>,
        payload: &[u8],
    ) -> Result<crate::oscore_rs::AuthzInfoAnswer> {
        let Some(o) = &self.oscore else {
            return Err(Error::Tls("the OSCORE profile is not enabled".into()));
        };
        let upload = self.check_upload(content_format, payload);
        if matches!(upload, Upload::Revoked) {
            return Ok(crate::oscore_rs::AuthzInfoAnswer {
                code: ace_core::CoapCode::UNAUTHORIZED,
                payload: Vec::new(),
            });
        }
        let channel = self.channel_of(peer);
        let now = self.clock.now();
        let mut inner = self.inner.lock().map_err(|_| Error::Poisoned)?;
        let Inner { engine, rng } = &mut *inner;
        let sink = |effects: &[ace_core::RsEffect]| -> Result<()> {
            self.sink.rs_effects(effects)?;
            self.record_upload(&upload, effects)
        };
        o.authz_info(
            engine,
            rng,
            now,
            &channel,
            content_format.map(ContentFormat),
            payload,
            &sink,
        )
    }

    /// Runs [`RsService::expire`] every `period` until the future is dropped.
    pub async fn maintain(self, period: std::time::Duration) {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.expire() {
                tracing::error!(error = %e, "RS expiry failed");
            }
        }
    }

    /// The CoAP answer to a POST to `/authz-info`.
    #[must_use]
    pub fn coap_authz_info(&self, request: &Request) -> Message {
        if self.oscore.is_some() {
            return match self.oscore_authz_info(
                &request.identity,
                request.message.content_format(),
                request.payload(),
            ) {
                Ok(a) if a.payload.is_empty() => {
                    if a.code != ace_core::consts::code::CREATED {
                        tracing::info!(code = %a.code, "token refused at authz-info");
                    }
                    Message::response(Code::new(a.code.class, a.code.detail), Vec::new())
                }
                Ok(a) => Message::response(Code::new(a.code.class, a.code.detail), a.payload)
                    .with_content_format(ACE_CBOR),
                Err(e) => {
                    tracing::error!(error = %e, "authz-info failed");
                    Message::response(Code::INTERNAL_SERVER_ERROR, Vec::new())
                }
            };
        }
        match self.authz_info(request.message.content_format(), request.payload()) {
            Ok(RsResponse::Created(resp)) => match resp.encode() {
                Ok(p) if p.is_empty() => Message::response(Code::CREATED, Vec::new()),
                Ok(p) => Message::response(Code::CREATED, p).with_content_format(ACE_CBOR),
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode authz-info response");
                    Message::response(Code::INTERNAL_SERVER_ERROR, Vec::new())
                }
            },
            Ok(RsResponse::Refused(c)) => {
                tracing::info!(code = %c, "token refused at authz-info");
                Message::response(Code::new(c.class, c.detail), Vec::new())
            }
            Ok(RsResponse::Introspect(_)) => {
                // Only with `introspect_reference_tokens`, which this shell does not enable.
                tracing::warn!("reference token at authz-info: introspection not supported here");
                Message::response(Code::NOT_IMPLEMENTED, Vec::new())
            }
            Ok(_) => Message::response(Code::INTERNAL_SERVER_ERROR, Vec::new()),
            Err(e) => {
                tracing::error!(error = %e, "authz-info failed");
                Message::response(Code::INTERNAL_SERVER_ERROR, Vec::new())
            }
        }
    }

    /// Mounts `/authz-info` (POST, unprotected by design: RFC 9200 §5.10.1).
    #[must_use]
    pub fn mount_authz_info(&self, router: Router) -> Router {
        let rs = self.clone();
        router.mount(
            "/authz-info",
            FnResource::new(move |r: &Request| Handled::Response(rs.coap_authz_info(r)))
                .methods(&[Code::POST])
                .ct(ACE_CBOR)
                .rt("ace.ai"),
        )
    }

    /// Wraps `resource` so that every request is authorized first.
    #[must_use]
    pub fn protect<R: Resource>(&self, resource: R) -> Protected<R> {
        Protected {
            rs: self.clone(),
            inner: resource,
        }
    }
}

/// A resource behind the RS's access decision: no valid token → 4.01 with AS Request
/// Creation Hints (`application/ace+cbor`), resource not covered → 4.03, method not
/// covered → 4.05; otherwise the inner resource answers. Observe notifications are
/// re-authorized, so an observation ends with 4.01 when the token expires.
pub struct Protected<R> {
    rs: RsService,
    inner: R,
}

impl<R> core::fmt::Debug for Protected<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Protected").finish_non_exhaustive()
    }
}

impl<R: Resource> Resource for Protected<R> {
    fn handle(&mut self, request: &Request) -> Handled {
        let Some(method) = aif::Method::from_code(request.method().0) else {
            return Handled::Response(Message::response(Code::METHOD_NOT_ALLOWED, Vec::new()));
        };
        let local_part = aif::rest::local_part_from_options(
            request
                .message
                .options
                .get_all(ace_coap::consts::option::URI_PATH),
            request
                .message
                .options
                .get_all(ace_coap::consts::option::URI_QUERY),
        );
        match self.rs.authorize(&request.identity, &local_part, method) {
            Ok(Access::Allow) => self.inner.handle(request),
            Ok(Access::Unauthorized(hints)) => match hints.encode() {
                Ok(p) => Handled::Response(
                    Message::response(Code::UNAUTHORIZED, p).with_content_format(ACE_CBOR),
                ),
                Err(_) => Handled::Response(Message::response(Code::UNAUTHORIZED, Vec::new())),
            },
            Ok(Access::Forbidden) => {
                Handled::Response(Message::response(Code::FORBIDDEN, Vec::new()))
            }
            Ok(Access::MethodNotAllowed) => {
                Handled::Response(Message::response(Code::METHOD_NOT_ALLOWED, Vec::new()))
            }
            Err(e) => {
                tracing::error!(error = %e, "authorization failed");
                Handled::Response(Message::response(Code::INTERNAL_SERVER_ERROR, Vec::new()))
            }
        }
    }

    fn allowed_methods(&self) -> &[Code] {
        self.inner.allowed_methods()
    }

    fn observable(&self) -> bool {
        self.inner.observable()
    }

    fn link_attributes(&self) -> LinkAttributes {
        self.inner.link_attributes()
    }
}
