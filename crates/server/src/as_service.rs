//! The Authorization Server shell.

use std::sync::{Arc, Mutex};

use ace_coap::{Code, FnResource, Handled, Message, Request, Router};
use ace_core::{
    AsEngine, AsResponse, ChannelIdentity, ContentFormat, IntrospectionRequest, TokenRequest,
};
use ace_token::crypto::{OsRng, os_rng};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::identity::{IdentityMap, default_identity_map};
use crate::sink::{EffectSink, LogEffects};
use crate::trl::{AsTrl, Revocation};

const ACE_CBOR: u16 = ContentFormat::ACE_CBOR.0;

struct Inner {
    engine: AsEngine,
    rng: OsRng,
}

/// The AS: an [`AsEngine`] behind a lock, with a clock, an effect sink and the identity map,
/// mounted as `/token` and `/introspect` on a CoAP router (and used by the HTTPS front end of
/// `ace-cli`). Cheap to clone; clones share the engine.
#[derive(Clone)]
pub struct AsService {
    inner: Arc<Mutex<Inner>>,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn EffectSink>,
    identity: IdentityMap,
    trl: Option<AsTrl>,
}

impl core::fmt::Debug for AsService {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AsService").finish_non_exhaustive()
    }
}

/// A CoAP response from an AS answer.
fn to_coap(response: &AsResponse) -> Message {
    let code = response.code();
    match response.payload() {
        Ok(p) if p.is_empty() => Message::response(Code::new(code.class, code.detail), Vec::new()),
        Ok(p) => {
            Message::response(Code::new(code.class, code.detail), p).with_content_format(ACE_CBOR)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot encode AS response");
            Message::response(Code::INTERNAL_SERVER_ERROR, Vec::new())
        }
    }
}

fn server_error(e: &Error) -> Message {
    tracing::error!(error = %e, "AS request failed");
    Message::response(Code::INTERNAL_SERVER_ERROR, Vec::new())
}

/// Checks the request's Content-Format: absent or `application/ace+cbor` (19).
fn content_format_ok(request: &Request) -> bool {
    request
        .message
        .content_format()
        .is_none_or(|cf| cf == ACE_CBOR)
}

impl AsService {
    /// A service around `engine` with the system clock, [`LogEffects`] and the
    /// [`default_identity_map`].
    #[must_use]
    pub fn new(engine: AsEngine) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                engine,
                rng: os_rng(),
            })),
            clock: Arc::new(SystemClock),
            sink: Arc::new(LogEffects),
            identity: default_identity_map(),
            trl: None,
        }
    }

    /// Hosts the RFC 9770 TRL: every token issued from now on is recorded in `trl` (before
    /// the response leaves), [`AsService::mount`] mounts its observable endpoint, and
    /// [`AsService::revoke`] revokes through it.
    #[must_use]
    pub fn with_trl(mut self, trl: AsTrl) -> Self {
        self.trl = Some(trl);
        self
    }

    /// The TRL endpoint, if any.
    #[must_use]
    pub fn trl(&self) -> Option<&AsTrl> {
        self.trl.as_ref()
    }

    /// Tells the TRL where to send Observe notifications (the server its endpoint is
    /// mounted on). Without a TRL, nothing happens.
    pub fn attach(&self, server: ace_coap::ServerHandle) {
        if let Some(t) = &self.trl {
            t.attach(server);
        }
    }

    /// Runs `f` on the engine under the lock (inspection, administration).
    ///
    /// # Errors
    /// [`Error::Poisoned`].
    pub fn with_engine<T>(&self, f: impl FnOnce(&mut AsEngine) -> T) -> Result<T> {
        let mut inner = self.inner.lock().map_err(|_| Error::Poisoned)?;
        Ok(f(&mut inner.engine))
    }

    /// Revokes a token (RFC 9770 "Update of the TRL"): adds its hash to the TRL (persisted,
    /// then the observers it pertains to are notified), and marks it revoked in the AS's
    /// token store so that introspection answers `active: false`. The reason is logged with
    /// the `cti` and hash, never with the token.
    ///
    /// # Errors
    /// [`Error::Trl`] with [`revocation::Error::UnknownToken`] when the AS has no record of
    /// the token (never issued here, or expired and forgotten) or without a TRL
    /// ([`revocation::Error::InvalidConfig`]); persistence failures.
    pub async fn revoke(
        &self,
        target: &revocation::RevokeTarget,
        reason: &str,
    ) -> Result<Revocation> {
        let trl = self
            .trl
            .as_ref()
            .ok_or(revocation::Error::InvalidConfig("this AS hosts no TRL"))?;
        let now = self.clock.now();
        let (cti, hash) = trl
            .with_engine(|e| e.record(target).map(|r| (r.cti.clone(), r.hash.clone())))
            .ok_or(revocation::Error::UnknownToken)?;
        let status = trl.revoke(now, target, reason).await?;
        if status == revocation::RevokeStatus::Revoked
            && let Some(c) = &cti
        {
            let mut inner = self.inner.lock().map_err(|_| Error::Poisoned)?;
            if let Some(effect) = inner.engine.revoke(c) {
                self.sink.as_effects(core::slice::from_ref(&effect))?;
            }
        }
        let r = Revocation { status, cti, hash };
        crate::trl::log_revocation(&r, reason);
        Ok(r)
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

    fn run<T>(
        &self,
        f: impl FnOnce(
            &mut AsEngine,
            ace_token::UnixTime,
            &mut OsRng,
        ) -> ace_core::Result<ace_core::Outcome<T, ace_core::AsEffect>>,
    ) -> Result<T> {
        let now = self.clock.now();
        let mut inner = self.inner.lock().map_err(|_| Error::Poisoned)?;
        let Inner { engine, rng } = &mut *inner;
        let out = f(engine, now, rng)?;
        // Persist before the response leaves (the lock is still held, so no later
        // request can observe a state that is not yet durable).
        self.sink.as_effects(&out.effects)?;
        // The TRL records who each token pertains to (client, audience) before the client
        // can hold it, so that a revocation right after issue reaches the right observers.
        if let Some(trl) = &self.trl {
            for e in &out.effects {
                if let ace_core::AsEffect::TokenIssued(t) = e {
                    trl.token_issued(crate::trl::record(trl, t))?;
                }
            }
        }
        Ok(out.response)
    }

    /// `/token` with an `application/ace+cbor` payload from a peer the channel identified.
    ///
    /// # Errors
    /// Engine or persistence failures (refusals are [`AsResponse::Error`]).
    pub fn token_bytes(&self, channel: &ChannelIdentity, payload: &[u8]) -> Result<AsResponse> {
        self.run(|e, now, rng| e.handle_token_bytes(now, channel, payload, rng))
    }

    /// `/token` with a decoded request (the HTTP front end decodes JSON / form bodies).
    ///
    /// # Errors
    /// As [`AsService::token_bytes`].
    pub fn token(&self, channel: &ChannelIdentity, request: &TokenRequest) -> Result<AsResponse> {
        self.run(|e, now, rng| e.handle_token(now, channel, request, rng))
    }

    /// `/introspect` with an `application/ace+cbor` payload.
    ///
    /// # Errors
    /// As [`AsService::token_bytes`].
    pub fn introspect_bytes(
        &self,
        channel: &ChannelIdentity,
        payload: &[u8],
    ) -> Result<AsResponse> {
        self.run(|e, now, _| e.handle_introspect_bytes(now, channel, payload))
    }

    /// `/introspect` with a decoded request.
    ///
    /// # Errors
    /// As [`AsService::token_bytes`].
    pub fn introspect(
        &self,
        channel: &ChannelIdentity,
        request: &IntrospectionRequest,
    ) -> Result<AsResponse> {
        self.run(|e, now, _| e.handle_introspect(now, channel, request))
    }

    /// Drops expired tokens from the store (call periodically; [`AsService::maintain`]).
    ///
    /// # Errors
    /// Persistence failures.
    pub fn expire(&self) -> Result<()> {
        let now = self.clock.now();
        let mut inner = self.inner.lock().map_err(|_| Error::Poisoned)?;
        if let Some(e) = inner.engine.expire(now) {
            self.sink.as_effects(core::slice::from_ref(&e))?;
        }
        Ok(())
    }

    /// Runs [`AsService::expire`] (and the TRL's expiry sweep) every `period` until the
    /// returned future is dropped.
    pub async fn maintain(self, period: std::time::Duration) {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.expire() {
                tracing::error!(error = %e, "AS expiry failed");
            }
            // Expired revoked tokens leave the TRL (an update, notified, RFC 9770 §4.1).
            if let Some(t) = &self.trl
                && let Err(e) = t.expire(self.clock.now()).await
            {
                tracing::error!(error = %e, "TRL expiry failed");
            }
        }
    }

    /// The CoAP answer to a `/token` request (POST, `application/ace+cbor`).
    #[must_use]
    pub fn coap_token(&self, request: &Request) -> Message {
        if !content_format_ok(request) {
            return Message::response(Code::UNSUPPORTED_CONTENT_FORMAT, Vec::new());
        }
        let channel = (self.identity)(&request.identity);
        match self.token_bytes(&channel, request.payload()) {
            Ok(r) => {
                if let AsResponse::Error(e) = &r {
                    tracing::info!(error = ?e.error, "token request refused");
                }
                to_coap(&r)
            }
            Err(e) => server_error(&e),
        }
    }

    /// The CoAP answer to an `/introspect` request.
    #[must_use]
    pub fn coap_introspect(&self, request: &Request) -> Message {
        if !content_format_ok(request) {
            return Message::response(Code::UNSUPPORTED_CONTENT_FORMAT, Vec::new());
        }
        let channel = (self.identity)(&request.identity);
        match self.introspect_bytes(&channel, request.payload()) {
            Ok(r) => to_coap(&r),
            Err(e) => server_error(&e),
        }
    }

    /// Mounts `/token` and `/introspect` (POST) on `router` (RFC 9200 §8.2 default paths),
    /// and the TRL endpoint at its `trl_path` when there is a TRL ([`AsService::with_trl`]).
    #[must_use]
    pub fn mount(&self, router: Router) -> Router {
        let token = self.clone();
        let introspect = self.clone();
        let router = match &self.trl {
            Some(t) => t.mount(router),
            None => router,
        };
        router
            .mount(
                "/token",
                FnResource::new(move |r: &Request| Handled::Response(token.coap_token(r)))
                    .methods(&[Code::POST])
                    .ct(ACE_CBOR)
                    .rt("ace.as.token"),
            )
            .mount(
                "/introspect",
                FnResource::new(move |r: &Request| {
                    Handled::Response(introspect.coap_introspect(r))
                })
                .methods(&[Code::POST])
                .ct(ACE_CBOR),
            )
    }

    /// A router with only the AS resources.
    #[must_use]
    pub fn router(&self) -> Router {
        self.mount(Router::new())
    }
}
