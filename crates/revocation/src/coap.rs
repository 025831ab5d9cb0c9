//! CoAP glue (feature `coap`): the TRL endpoint as an `ace-coap` resource.
//!
//! ```text
//!  GET /revoke/trl?diff=n&cursor=p ──> Router ──> TrlEndpoint handler
//!     Request.identity ── peer mapper ──> Requester (Anonymous | Peer(id))
//!     TrlEngine::handle_request ──> effects ──> TrlStore::apply (before answering)
//!     2.05 CF 262 | 4.00 CF 257 | 4.01 | 4.03 | 4.05 | 5.00 (store failed)
//!  revoke / expire (AS side) ──> effects ──> TrlStore::apply ──> ServerHandle::notify(path)
//!     ace-coap re-runs every observer's registration request (RFC 7641 §4.2)
//! ```
//!
//! The requester is whoever the `ace-coap` [`SecurityLayer`](ace_coap::SecurityLayer)
//! authenticated: [`PeerIdentity::Oscore`] gives its Sender ID, [`PeerIdentity::Other`] its
//! id (e.g. a DTLS PSK identity); plain CoAP ([`PeerIdentity::Anonymous`]) is answered 4.01.
//! [`TrlEndpoint::with_peer_mapper`] replaces that mapping.
//!
//! Notifications go only to the observers whose pertaining part changed (RFC 9770
//! "Notification of Revoked Access Tokens"; digest C.4 item 5). `ace-coap` notifies per
//! path: `ServerHandle::notify(path)` re-runs every observer's registration request with
//! `Request::is_notification` set. While a [`TrlEffect::Notify`] is being delivered the
//! endpoint keeps its `peers` as "due"; a re-run for any other requester is answered
//! [`Handled::Unchanged`], so `ace-coap` sends nothing to that observer (no unchanged
//! representation, no new Observe number). Two deliveries that overlap in time may notify
//! each other's peers (an unchanged representation, harmless to a [`crate::TrlClient`]).
//!
//! Durability: every effect goes to the [`TrlStore`] before the response leaves or a
//! notification is triggered. When the store fails the request is answered 5.00 and no
//! notification is sent; the engine has already applied the change in memory, so the
//! shell should restart from the store ([`crate::TrlEngine::restore`]) to stay consistent.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use ace_coap::{Config, Router, Server};
//! use ace_token::UnixTime;
//! use revocation::coap::TrlEndpoint;
//! use revocation::{MemoryTrlStore, TrlConfig, TrlEngine};
//!
//! let engine = TrlEngine::new(TrlConfig::default())?;
//! let clock = Arc::new(|| UnixTime(1_700_000_000)); // the shell's wall clock
//! let trl = TrlEndpoint::new(engine, MemoryTrlStore::new(), clock);
//! let router = trl.mount(Router::new());
//! let server = Server::bind("127.0.0.1:5683".parse()?, Config::default(), router).await?;
//! trl.attach(server.handle());
//! tokio::spawn(server.serve());
//! # Ok(()) }
//! ```

use std::borrow::ToOwned;
use std::collections::BTreeMap;
use std::string::String;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use ace_coap::consts::option;
use ace_coap::{Code, FnResource, Handled, Message, PeerIdentity, Request, Router, ServerHandle};
use ace_token::UnixTime;

use crate::consts::content_format;
use crate::engine::{
    PeerId, Requester, RevokeStatus, RevokeTarget, Role, TokenRecord, TrlEffect, TrlEngine,
    TrlRequest, TrlResponse,
};
use crate::error::Result;
use crate::hash::HashAlg;
use crate::msg::{RegistrationInfo, TrlQuery};
use crate::store::TrlStore;

/// The wall clock the endpoint reads for each request (token expiry is in `UnixTime`).
pub type Clock = Arc<dyn Fn() -> UnixTime + Send + Sync>;

/// Maps the identity the security layer authenticated to the TRL requester id (`None`:
/// unauthenticated, answered 4.01).
pub type PeerMapper = Arc<dyn Fn(&PeerIdentity) -> Option<PeerId> + Send + Sync>;

/// The default [`PeerMapper`]: OSCORE → the peer's Sender ID; `Other` (DTLS PSK identity,
/// certificate-derived id…) → its id; anonymous and Group OSCORE → unauthenticated.
#[must_use]
pub fn default_peer_id(identity: &PeerIdentity) -> Option<PeerId> {
    match identity {
        PeerIdentity::Oscore { sender_id, .. } => Some(sender_id.clone()),
        PeerIdentity::Other { id, .. } => Some(id.clone()),
        _ => None,
    }
}

/// The methods the resource lets through to the engine, which answers every method other
/// than GET with 4.05 after the 4.01 / 4.03 checks (digest C.4 item 4 order).
const ALL_METHODS: [Code; 7] = [
    Code::GET,
    Code::POST,
    Code::PUT,
    Code::DELETE,
    Code::FETCH,
    Code::PATCH,
    Code::IPATCH,
];

struct Inner<S> {
    engine: TrlEngine,
    store: S,
    server: Option<ServerHandle>,
    /// A `Notify` effect is waiting for a server handle or a runtime.
    pending_notify: bool,
    /// Requesters of the waiting `Notify` effects.
    pending_peers: Vec<PeerId>,
    /// A whole-endpoint [`TrlEndpoint::notify`] is waiting.
    pending_all: bool,
    /// Requesters whose notification is being delivered (count of deliveries).
    due: BTreeMap<PeerId, usize>,
    /// Deliveries to every observer in progress ([`TrlEndpoint::notify`]).
    due_all: usize,
}

/// The TRL endpoint shell: the engine and its store behind a mutex, shared by the CoAP
/// resource (requests, notifications) and the AS side (register, record, revoke, expire).
pub struct TrlEndpoint<S> {
    inner: Arc<Mutex<Inner<S>>>,
    clock: Clock,
    mapper: PeerMapper,
    path: String,
}

impl<S> Clone for TrlEndpoint<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            clock: Arc::clone(&self.clock),
            mapper: Arc::clone(&self.mapper),
            path: self.path.clone(),
        }
    }
}

impl<S> core::fmt::Debug for TrlEndpoint<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TrlEndpoint")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<S: TrlStore + Send + 'static> TrlEndpoint<S> {
    /// An endpoint serving `engine` at its configured `trl_path`, persisting into `store`
    /// (which must already hold the engine's state, e.g. after [`TrlEngine::restore`]).
    pub fn new(engine: TrlEngine, store: S, clock: Clock) -> Self {
        let path = engine.config().trl_path.clone();
        Self {
            inner: Arc::new(Mutex::new(Inner {
                engine,
                store,
                server: None,
                pending_notify: false,
                pending_peers: Vec::new(),
                pending_all: false,
                due: BTreeMap::new(),
                due_all: 0,
            })),
            clock,
            mapper: Arc::new(default_peer_id),
            path,
        }
    }

    /// Replaces the identity → requester mapping.
    #[must_use]
    pub fn with_peer_mapper(mut self, mapper: PeerMapper) -> Self {
        self.mapper = mapper;
        self
    }

    /// The url-path the resource is mounted at (`/revoke/trl` by default).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Inner<S>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The observable resource (Content-Format 262 in its link).
    pub fn resource(&self) -> FnResource<impl FnMut(&Request) -> Handled + Send + 'static> {
        let this = self.clone();
        FnResource::new(move |req: &Request| {
            if req.is_notification() && !this.is_due(req) {
                // Nothing pertaining to this observer changed: no notification.
                Handled::Unchanged
            } else {
                Handled::Response(this.handle(req))
            }
        })
        .methods(&ALL_METHODS)
        .observable()
        .ct(content_format::ACE_TRL_CBOR)
        .title("ACE token revocation list")
    }

    /// Mounts [`TrlEndpoint::resource`] at [`TrlEndpoint::path`].
    #[must_use]
    pub fn mount(&self, router: Router) -> Router {
        router.mount(&self.path, self.resource())
    }

    /// Where notifications go: the server the resource is mounted on. A `Notify` that
    /// happened before is sent now (needs a tokio runtime).
    pub fn attach(&self, server: ServerHandle) {
        let pending = {
            let mut g = self.lock();
            g.server = Some(server);
            g.pending_notify
        };
        if pending {
            self.spawn_notify();
        }
    }

    /// Whether the observer behind a notification re-run is due (its requester's part
    /// changed, or every observer is being notified).
    fn is_due(&self, req: &Request) -> bool {
        let g = self.lock();
        if g.due_all > 0 {
            return true;
        }
        // An observer that lost its authentication gets its (final) 4.01 now.
        (self.mapper)(&req.identity).is_none_or(|p| g.due.contains_key(&p))
    }

    /// Runs `f` on the engine (read-only: changes must go through this endpoint so that
    /// they are persisted and notified).
    pub fn with_engine<R>(&self, f: impl FnOnce(&TrlEngine) -> R) -> R {
        f(&self.lock().engine)
    }

    /// Runs `f` on the store.
    pub fn with_store<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        f(&self.lock().store)
    }

    /// Answers one request (what the resource does): maps the identity, parses the
    /// Uri-Query options, runs the engine, persists its effects, then builds the message.
    #[must_use]
    pub fn handle(&self, req: &Request) -> Message {
        let peer = (self.mapper)(&req.identity);
        let requester = peer
            .as_deref()
            .map_or(Requester::Anonymous, Requester::Peer);
        // Non-UTF-8 values stay visible (as invalid values) instead of being skipped.
        let queries: Vec<String> = req
            .message
            .options
            .get_all(option::URI_QUERY)
            .iter()
            .map(|q| String::from_utf8_lossy(q).into_owned())
            .collect();
        let request = TrlRequest {
            method: req.message.code.0,
            query: TrlQuery::from_uri_queries(queries.iter().map(String::as_str)),
        };
        let now = (self.clock)();
        let (outcome, stored) = {
            let mut g = self.lock();
            let outcome = g.engine.handle_request(now, requester, &request);
            let stored = g.store.apply(&outcome.effects);
            (outcome, stored)
        };
        if stored.is_err() {
            return Message::new(Code::INTERNAL_SERVER_ERROR);
        }
        let peers = notify_peers(&outcome.effects);
        if !peers.is_empty() {
            // The sweep in handle_request removed expired hashes: tell the other observers.
            self.request_notify(peers);
        }
        to_message(&outcome.response)
    }

    /// Registers a requester and persists it; returns what to send it.
    ///
    /// # Errors
    /// [`crate::Error::NoCommonHashAlgorithm`], [`crate::Error::Store`].
    pub fn register(
        &self,
        peer: PeerId,
        role: Role,
        offered: &[HashAlg],
    ) -> Result<RegistrationInfo> {
        let mut g = self.lock();
        let (info, effects) = g.engine.register(peer, role, offered)?;
        g.store.apply(&effects)?;
        Ok(info)
    }

    /// Records an issued token and persists the record.
    ///
    /// # Errors
    /// [`crate::Error::Store`].
    pub fn token_issued(&self, record: TokenRecord) -> Result<()> {
        let mut g = self.lock();
        let effects = g.engine.token_issued(record);
        g.store.apply(&effects)
    }

    /// Revokes a token: persists, then notifies the observers.
    ///
    /// # Errors
    /// [`crate::Error::UnknownToken`], [`crate::Error::Store`] (then nothing is notified).
    pub async fn revoke(
        &self,
        now: UnixTime,
        target: &RevokeTarget,
        reason: &str,
    ) -> Result<RevokeStatus> {
        let (status, peers) = {
            let mut g = self.lock();
            let (status, effects) = g.engine.revoke(now, target, reason)?;
            g.store.apply(&effects)?;
            (status, notify_peers(&effects))
        };
        if !peers.is_empty() {
            self.notify_peers(peers).await;
        }
        Ok(status)
    }

    /// Removes expired tokens from the TRL (call periodically): persists, then notifies.
    ///
    /// # Errors
    /// [`crate::Error::Store`] (then nothing is notified).
    pub async fn expire(&self, now: UnixTime) -> Result<()> {
        let peers = {
            let mut g = self.lock();
            let effects = g.engine.expire(now);
            g.store.apply(&effects)?;
            notify_peers(&effects)
        };
        if !peers.is_empty() {
            self.notify_peers(peers).await;
        }
        Ok(())
    }

    /// Sends a notification to every observer of the endpoint now (each gets its current
    /// representation, changed or not); returns how many observations `ace-coap` re-ran
    /// (0 without an attached server; the notification is then kept for
    /// [`TrlEndpoint::attach`]).
    pub async fn notify(&self) -> usize {
        let server = {
            let mut g = self.lock();
            if g.server.is_none() {
                g.pending_notify = true;
                g.pending_all = true;
                return 0;
            }
            g.due_all = g.due_all.saturating_add(1);
            g.server.clone()
        };
        let n = match server {
            // A stopped server has no observers left to tell.
            Some(s) => s.notify(&self.path).await.unwrap_or(0),
            None => 0,
        };
        let mut g = self.lock();
        g.due_all = g.due_all.saturating_sub(1);
        n
    }

    /// Notifies the observations of `peers` (those whose pertaining part changed); the
    /// others are skipped. Returns how many notifications `ace-coap` sent (skipped
    /// observations not counted); 0 without an attached server (then kept for
    /// [`TrlEndpoint::attach`]).
    pub async fn notify_peers(&self, peers: Vec<PeerId>) -> usize {
        let server = {
            let mut g = self.lock();
            let Some(server) = g.server.clone() else {
                g.pending_notify = true;
                g.pending_peers.extend(peers);
                return 0;
            };
            for p in &peers {
                *g.due.entry(p.clone()).or_default() += 1;
            }
            server
        };
        // A stopped server has no observers left to tell.
        let n = server.notify(&self.path).await.unwrap_or(0);
        let mut g = self.lock();
        for p in &peers {
            if let Some(c) = g.due.get_mut(p) {
                *c = c.saturating_sub(1);
                if *c == 0 {
                    g.due.remove(p);
                }
            }
        }
        n
    }

    /// From synchronous code (the request handler): notify on the runtime, or keep the
    /// `Notify` pending when there is no server or runtime yet.
    fn request_notify(&self, peers: Vec<PeerId>) {
        {
            let mut g = self.lock();
            g.pending_notify = true;
            g.pending_peers.extend(peers);
        }
        let ready = self.lock().server.is_some() && tokio::runtime::Handle::try_current().is_ok();
        if ready {
            self.spawn_notify();
        }
    }

    /// Delivers the pending notifications on the runtime (they stay pending without one).
    fn spawn_notify(&self) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (all, peers) = {
                let mut g = self.lock();
                if g.server.is_none() || !core::mem::take(&mut g.pending_notify) {
                    return;
                }
                let all = core::mem::take(&mut g.pending_all);
                (all, core::mem::take(&mut g.pending_peers))
            };
            let this = self.clone();
            drop(rt.spawn(async move {
                if all {
                    this.notify().await
                } else {
                    this.notify_peers(peers).await
                }
            }));
        }
    }
}

/// The requesters of the `Notify` effects (deduplicated).
fn notify_peers(effects: &[TrlEffect]) -> Vec<PeerId> {
    let mut peers: Vec<PeerId> = effects
        .iter()
        .filter_map(|e| match e {
            TrlEffect::Notify { peers } => Some(peers.iter().cloned()),
            _ => None,
        })
        .flatten()
        .collect();
    peers.sort();
    peers.dedup();
    peers
}

/// The CoAP message of a TRL response: code, Content-Format (262 or 257) and payload.
#[must_use]
pub fn to_message(response: &TrlResponse) -> Message {
    let m = Message::response(Code(response.code()), response.payload());
    match response.content_format() {
        Some(cf) => m.with_content_format(cf),
        None => m,
    }
}

/// A GET request for `query` at `path`, as a device sends it.
#[must_use]
pub fn request_message(path: &str, query: &TrlQuery) -> Message {
    let mut m = Message::request(Code::GET, path);
    for q in query.to_uri_queries() {
        m.options.add(option::URI_QUERY, q.into_bytes());
    }
    m
}

/// `path?query` for [`ace_coap::Client::get`] / [`ace_coap::Client::observe`], which take
/// the query in the path string.
#[must_use]
pub fn path_with_query(path: &str, query: &TrlQuery) -> String {
    let q = query.to_uri_queries();
    if q.is_empty() {
        path.to_owned()
    } else {
        alloc::format!("{path}?{}", q.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consts::error_id;
    use crate::error::Error;
    use crate::hash::TokenHash;
    use crate::msg::{ProblemDetails, TrlPayload};
    use crate::store::MemoryTrlStore;
    use crate::{TrlConfig, TrlSnapshot};

    fn endpoint<S: TrlStore + Send + 'static>(store: S) -> TrlEndpoint<S> {
        let e = TrlEngine::new(TrlConfig::default()).unwrap();
        TrlEndpoint::new(e, store, Arc::new(|| UnixTime(100)))
    }

    fn req(msg: Message, identity: PeerIdentity) -> Request {
        Request::new(msg, "127.0.0.1:9".parse().unwrap(), identity).unwrap()
    }

    fn psk(id: &[u8]) -> PeerIdentity {
        PeerIdentity::Other {
            scheme: "dtls-psk".into(),
            id: id.to_vec(),
        }
    }

    #[test]
    fn responses_carry_code_and_content_format() {
        let trl = endpoint(MemoryTrlStore::new());
        trl.register(b"rs1".to_vec(), Role::ResourceServer("rs1".into()), &[])
            .unwrap();
        let path = trl.path().to_owned();
        let mut router = trl.mount(Router::new());

        // Plain CoAP: anonymous → 4.01, no payload.
        let r = router.route(&req(
            Message::request(Code::GET, &path),
            PeerIdentity::Anonymous,
        ));
        let Handled::Response(m) = r else { panic!() };
        assert_eq!((m.code, m.payload.is_empty()), (Code::UNAUTHORIZED, true));
        // Authenticated but unregistered → 4.03, even for POST.
        let r = router.route(&req(Message::request(Code::POST, &path), psk(b"x")));
        let Handled::Response(m) = r else { panic!() };
        assert_eq!(m.code, Code::FORBIDDEN);
        // Registered, POST → 4.05 from the engine.
        let r = router.route(&req(Message::request(Code::POST, &path), psk(b"rs1")));
        let Handled::Response(m) = r else { panic!() };
        assert_eq!(m.code, Code::METHOD_NOT_ALLOWED);
        // OSCORE Sender ID is the requester id.
        let oscore = PeerIdentity::Oscore {
            sender_id: b"rs1".to_vec(),
            id_context: None,
        };
        let r = router.route(&req(Message::request(Code::GET, &path), oscore));
        let Handled::Response(m) = r else { panic!() };
        assert_eq!(m.code, Code::CONTENT);
        assert_eq!(m.content_format(), Some(content_format::ACE_TRL_CBOR));
        let p = TrlPayload::decode(&m.payload).unwrap();
        assert_eq!(p.full_set, Some(Vec::new()));
        // Bad query → 4.00 with problem details (257); a non-UTF-8 value is invalid, not absent.
        let mut msg = Message::request(Code::GET, &path);
        msg.options.add(option::URI_QUERY, b"diff=\xff".to_vec());
        let Handled::Response(m) = router.route(&req(msg, psk(b"rs1"))) else {
            panic!()
        };
        assert_eq!(m.code, Code::BAD_REQUEST);
        assert_eq!(
            m.content_format(),
            Some(content_format::CONCISE_PROBLEM_DETAILS_CBOR)
        );
        let pd = ProblemDetails::decode(&m.payload).unwrap();
        assert_eq!(pd.error_id, error_id::INVALID_PARAMETER_VALUE);
        // The query helpers produce what the handler parses.
        let q = TrlQuery::diff_cursor(3, 0);
        assert_eq!(path_with_query(&path, &q), "/revoke/trl?diff=3&cursor=0");
        let Handled::Response(m) = router.route(&req(request_message(&path, &q), psk(b"rs1")))
        else {
            panic!()
        };
        let p = TrlPayload::decode(&m.payload).unwrap();
        assert_eq!(
            (p.diff_set, p.cursor, p.more),
            (Some(Vec::new()), Some(None), Some(false)),
            "empty collection"
        );
    }

    /// A store that refuses every write.
    struct FailingStore;
    impl TrlStore for FailingStore {
        fn apply(&mut self, effects: &[TrlEffect]) -> Result<()> {
            if effects.is_empty() {
                Ok(())
            } else {
                Err(Error::Store("disk full".into()))
            }
        }
        fn load(&self) -> Result<TrlSnapshot> {
            Err(Error::Store("disk full".into()))
        }
    }

    #[test]
    fn effects_are_persisted_before_the_answer_and_store_failure_is_500() {
        // Memory store: a request whose sweep expires a revoked token persists it first.
        let trl = endpoint(MemoryTrlStore::new());
        trl.register(b"rs1".to_vec(), Role::ResourceServer("rs1".into()), &[])
            .unwrap();
        let h = TokenHash::compute(HashAlg::Sha256, b"t");
        trl.token_issued(TokenRecord {
            hash: h.clone(),
            cti: None,
            client_id: "c".into(),
            audience: "rs1".into(),
            expires_at: Some(UnixTime(50)),
        })
        .unwrap();
        assert_eq!(trl.with_store(|s| s.load().unwrap().tokens.len()), 1);
        let path = trl.path().to_owned();
        let mut router = trl.mount(Router::new());
        let Handled::Response(m) =
            router.route(&req(Message::request(Code::GET, &path), psk(b"rs1")))
        else {
            panic!()
        };
        assert_eq!(m.code, Code::CONTENT);
        // The clock (100) is past the expiry (50): the record was forgotten, in the store too.
        assert_eq!(trl.with_store(|s| s.load().unwrap().tokens.len()), 0);

        // Failing store: registration fails loudly; a sweep that must persist answers 5.00.
        let mut e = TrlEngine::new(TrlConfig::default()).unwrap();
        let _ = e.register(b"rs1".to_vec(), Role::ResourceServer("rs1".into()), &[]);
        let _ = e.token_issued(TokenRecord {
            hash: h,
            cti: None,
            client_id: "c".into(),
            audience: "rs1".into(),
            expires_at: Some(UnixTime(50)),
        });
        let trl = TrlEndpoint::new(e, FailingStore, Arc::new(|| UnixTime(100)));
        assert!(matches!(
            trl.register(b"rs2".to_vec(), Role::Admin, &[]),
            Err(Error::Store(_))
        ));
        let mut router = trl.mount(Router::new());
        let Handled::Response(m) =
            router.route(&req(Message::request(Code::GET, &path), psk(b"rs1")))
        else {
            panic!()
        };
        assert_eq!(m.code, Code::INTERNAL_SERVER_ERROR);
        assert!(m.payload.is_empty());
    }
}
