//! The RS side of RFC 9770 in the RS shell: refuse revoked tokens at `/authz-info`, follow
//! the AS's TRL over OSCORE and purge the stored tokens it names.
//!
//! ```text
//!  POST /authz-info ─► RsService ─► RsTrl::check_upload (retained revoked hash → 4.01)
//!                                └► engine ─► effects ─► RsTrl::record (hash ↔ binding)
//!  follow_trl: GET /revoke/trl (OscoreClient: Echo after an AS restart) ─┐
//!              Observe /revoke/trl (OscoreObserver over its own socket) ─┴► TrlClient
//!              ─► TrlUpdate ─► RsTrl::apply ─► PurgeHandle (PurgingTokenStore hides, then
//!                 removes the token) ─► state persisted (SQLite key-value table)
//! ```
//!
//! The guard's state (hash ↔ binding of stored tokens, retained revoked hashes, purged
//! bindings not yet removed from the store) is one record in the `ace-store` key-value
//! table, rewritten after each change, so a restarted RS refuses what it refused before.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ace_coap::Code;
use ace_core::{PopBinding, RsEffect};
use ace_oscore::coap::{ObserveEvent, OscoreClient};
use ace_store::SqliteStore;
use ace_token::RustCrypto;
use ace_token::crypto::Rng as _;
use coset::cbor::value::Value;
use revocation::coap::request_message;
use revocation::rs::{GuardRefusal, PurgeHandle, RevokedTokenGuard};
use revocation::{HashAlg, RegistrationInfo, TokenHash, TrlClient, TrlQuery, TrlUpdate};

use crate::error::{Error, Result};

/// Key of the guard's record in the RS's key-value table.
pub const KV_KEY: &str = "revocation/rs-guard";

/// The RS's revocation state: a [`RevokedTokenGuard`] (and its [`PurgeHandle`]) behind a
/// lock, optionally persisted.
pub struct RsTrl {
    guard: Mutex<RevokedTokenGuard>,
    db: Option<Arc<SqliteStore>>,
}

impl core::fmt::Debug for RsTrl {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RsTrl").finish_non_exhaustive()
    }
}

fn binding_value(b: &PopBinding) -> Value {
    let (kind, bytes) = match b {
        PopBinding::Kid(k) => (0, k),
        PopBinding::RawPublicKey(k) => (1, k),
    };
    Value::Array(vec![Value::from(kind), Value::Bytes(bytes.clone())])
}

fn binding_of(v: &Value) -> Option<PopBinding> {
    let a = v.as_array()?;
    let (kind, bytes) = (a.first()?.as_integer()?, a.get(1)?.as_bytes()?.clone());
    match i128::from(kind) {
        0 => Some(PopBinding::Kid(bytes)),
        1 => Some(PopBinding::RawPublicKey(bytes)),
        _ => None,
    }
}

fn encode(g: &RevokedTokenGuard) -> Result<Vec<u8>> {
    let bindings = g
        .bindings()
        .map(|(h, b)| Value::Array(vec![Value::Bytes(h.as_bytes().to_vec()), binding_value(b)]))
        .collect();
    let revoked = g
        .revoked()
        .map(|h| Value::Bytes(h.as_bytes().to_vec()))
        .collect();
    let pending = g.handle().pending().iter().map(binding_value).collect();
    let mut out = Vec::new();
    coset::cbor::ser::into_writer(
        &Value::Array(vec![
            Value::Array(bindings),
            Value::Array(revoked),
            Value::Array(pending),
        ]),
        &mut out,
    )
    .map_err(|e| Error::Persist(crate::PersistError(e.to_string())))?;
    Ok(out)
}

type Decoded = (
    Vec<(TokenHash, PopBinding)>,
    Vec<TokenHash>,
    Vec<PopBinding>,
);

fn decode(bytes: &[u8]) -> Option<Decoded> {
    let v: Value = coset::cbor::de::from_reader(bytes).ok()?;
    let top = v.as_array()?;
    let mut bindings = Vec::new();
    for e in top.first()?.as_array()? {
        let pair = e.as_array()?;
        bindings.push((
            TokenHash::from_raw(pair.first()?.as_bytes()?.clone()),
            binding_of(pair.get(1)?)?,
        ));
    }
    let mut revoked = Vec::new();
    for h in top.get(1)?.as_array()? {
        revoked.push(TokenHash::from_raw(h.as_bytes()?.clone()));
    }
    let mut pending = Vec::new();
    for b in top.get(2)?.as_array()? {
        pending.push(binding_of(b)?);
    }
    Some((bindings, revoked, pending))
}

impl RsTrl {
    /// In-memory state, hashing with `alg`, purging through `handle` (the handle of the
    /// engine's [`revocation::rs::PurgingTokenStore`]).
    #[must_use]
    pub fn new(alg: HashAlg, handle: PurgeHandle) -> Self {
        Self {
            guard: Mutex::new(RevokedTokenGuard::new(alg, handle)),
            db: None,
        }
    }

    /// State persisted in `db` ([`KV_KEY`]), restored now: purged bindings are purged
    /// again, so a revoked token stays refused across a restart.
    ///
    /// # Errors
    /// [`Error::Persist`] when the record cannot be read or is corrupt.
    pub fn persistent(alg: HashAlg, handle: PurgeHandle, db: Arc<SqliteStore>) -> Result<Self> {
        let record = db
            .get_value(KV_KEY)
            .map_err(|e| Error::Persist(crate::PersistError(e.to_string())))?;
        let guard = match record {
            None => RevokedTokenGuard::new(alg, handle),
            Some(bytes) => {
                let (bindings, revoked, pending) = decode(&bytes).ok_or_else(|| {
                    Error::Persist(crate::PersistError(format!("corrupt {KV_KEY} record")))
                })?;
                for b in pending {
                    handle.purge(b);
                }
                RevokedTokenGuard::restore(alg, handle, bindings, revoked)
            }
        };
        Ok(Self {
            guard: Mutex::new(guard),
            db: Some(db),
        })
    }

    fn lock(&self) -> MutexGuard<'_, RevokedTokenGuard> {
        self.guard.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn save(&self, g: &RevokedTokenGuard) -> Result<()> {
        if let Some(db) = &self.db {
            db.put_value(KV_KEY, &encode(g)?)
                .map_err(|e| Error::Persist(crate::PersistError(e.to_string())))?;
        }
        Ok(())
    }

    /// The hash of an uploaded token (the `access_token` bytes), refused when it is a
    /// retained revoked hash (RFC 9770: the RS MUST NOT accept it).
    ///
    /// # Errors
    /// [`GuardRefusal::Revoked`].
    pub fn check_upload(&self, token: &[u8]) -> Result<TokenHash, GuardRefusal> {
        self.lock().check_upload(token)
    }

    /// Associates `hash` with the binding the engine stored the token under (from its
    /// effects) and persists.
    ///
    /// # Errors
    /// [`Error::Persist`].
    pub fn record(&self, hash: &TokenHash, effects: &[RsEffect]) -> Result<()> {
        if !effects
            .iter()
            .any(|e| matches!(e, RsEffect::TokenStored { .. }))
        {
            return Ok(());
        }
        let mut g = self.lock();
        g.record_effects(hash, effects);
        self.save(&g)
    }

    /// Applies a TRL update (purges the tokens it names, retains revoked hashes) and
    /// persists; returns the purged bindings.
    ///
    /// # Errors
    /// [`Error::Persist`] (the purge happened in memory).
    pub fn apply(&self, update: &TrlUpdate) -> Result<Vec<PopBinding>> {
        let mut g = self.lock();
        let purged = g.apply(update);
        if !update.revoked.is_empty() || !update.expired.is_empty() || !purged.is_empty() {
            self.save(&g)?;
        }
        Ok(purged)
    }

    /// Whether `h` is a retained revoked hash.
    #[must_use]
    pub fn is_revoked(&self, h: &TokenHash) -> bool {
        self.lock().is_revoked(h)
    }
}

/// Where and how [`follow_trl`] follows the AS's TRL.
#[derive(Debug, Clone)]
pub struct TrlFollow {
    /// The AS's CoAP address.
    pub as_addr: SocketAddr,
    /// What registration at the AS told this RS (path, hash function, MAX_N, ...).
    pub registration: RegistrationInfo,
    /// How often the RS polls (a diff or full query) and renews its observation, so that
    /// a lost observation (e.g. the AS restarted) costs at most this long.
    pub repoll: Duration,
}

fn apply_update(trl: &RsTrl, update: &TrlUpdate) {
    match trl.apply(update) {
        Ok(purged) => {
            for h in &update.revoked {
                tracing::info!(hash = %h.to_hex(), "TRL: token hash revoked");
            }
            if !purged.is_empty() {
                tracing::warn!(
                    count = purged.len(),
                    "TRL: revoked token purged from the store"
                );
            }
        }
        Err(e) => tracing::error!(error = %e, "TRL: persisting the revocation state failed"),
    }
}

/// One GET of `query`; processes a 2.05.
async fn poll_once(
    trl: &RsTrl,
    to_as: &OscoreClient<RustCrypto>,
    cfg: &TrlFollow,
    client: &mut TrlClient,
) -> bool {
    let q = client.poll_query();
    let path = cfg.registration.trl_path.clone();
    match tokio::time::timeout(
        Duration::from_secs(30),
        to_as.request(cfg.as_addr, request_message(&path, &q)),
    )
    .await
    {
        Ok(Ok(r)) if r.code == Code::CONTENT => match client.process(&q, &r.payload) {
            Ok(u) => {
                apply_update(trl, &u);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "TRL: unusable response");
                false
            }
        },
        Ok(Ok(r)) => {
            tracing::warn!(code = %r.code, "TRL: query refused");
            false
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "TRL: query failed");
            false
        }
        Err(_) => {
            tracing::warn!("TRL: query timed out");
            false
        }
    }
}

/// Follows the AS's TRL until the future is dropped: a GET (which also answers the Echo
/// challenge of a restarted AS), then an Observe registration of the full query whose
/// notifications are applied as they come; both are renewed every `repoll`, and after a
/// failure after one second. Every update goes through [`RsTrl::apply`].
pub async fn follow_trl(trl: Arc<RsTrl>, to_as: OscoreClient<RustCrypto>, cfg: TrlFollow) {
    let mut client = TrlClient::new(cfg.registration.clone(), 0);
    let bind: SocketAddr = if cfg.as_addr.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let sock = match tokio::net::UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "TRL: cannot bind the observation socket");
            return;
        }
    };
    let full = TrlQuery::full();
    let path = cfg.registration.trl_path.clone();
    loop {
        let ok = poll_once(&trl, &to_as, &cfg, &mut client).await;
        let until = tokio::time::Instant::now()
            + if ok {
                cfg.repoll
            } else {
                Duration::from_secs(1)
            };
        if ok {
            let mut seed = [0u8; 32];
            ace_token::crypto::os_rng().fill_bytes(&mut seed);
            let mut obs = to_as.observer(ace_coap::Config::default(), seed);
            match obs.observe(Instant::now(), cfg.as_addr, request_message(&path, &full)) {
                Ok(_) => observe_until(&trl, &mut obs, &sock, &mut client, &full, until).await,
                Err(e) => tracing::warn!(error = %e, "TRL: cannot observe"),
            }
        }
        tokio::time::sleep_until(until).await;
    }
}

/// Pumps an observation until `until` or until it ends.
async fn observe_until(
    trl: &RsTrl,
    obs: &mut ace_oscore::coap::OscoreObserver<RustCrypto>,
    sock: &tokio::net::UdpSocket,
    client: &mut TrlClient,
    query: &TrlQuery,
    until: tokio::time::Instant,
) {
    let mut buf = Vec::new();
    let mut rx = vec![0u8; 2048];
    loop {
        loop {
            buf.clear();
            let Some(t) = obs.poll_transmit(Instant::now(), &mut buf) else {
                break;
            };
            let Some(data) = buf.get(..t.size) else {
                break;
            };
            if let Err(e) = sock.send_to(data, t.destination).await {
                tracing::warn!(error = %e, "TRL: send failed");
            }
        }
        while let Some(ev) = obs.poll_event() {
            match ev {
                ObserveEvent::Notification { response, .. } if response.code == Code::CONTENT => {
                    match client.process(query, &response.payload) {
                        Ok(u) => apply_update(trl, &u),
                        Err(e) => tracing::warn!(error = %e, "TRL: unusable notification"),
                    }
                }
                ObserveEvent::Rejected { error, .. } => {
                    tracing::warn!(%error, "TRL: notification rejected");
                }
                ObserveEvent::Notification { .. }
                | ObserveEvent::Ended { .. }
                | ObserveEvent::Failed { .. } => {
                    tracing::info!("TRL: observation ended; polling again");
                    return;
                }
                _ => {}
            }
        }
        let timer = obs
            .poll_timeout()
            .map_or(until, |t| tokio::time::Instant::from_std(t).min(until));
        tokio::select! {
            r = sock.recv_from(&mut rx) => {
                if let Ok((n, from)) = r
                    && let Some(data) = rx.get(..n)
                {
                    let _ = obs.handle_datagram(Instant::now(), from, data);
                }
            }
            () = tokio::time::sleep_until(timer) => {
                if tokio::time::Instant::now() >= until {
                    return;
                }
                obs.handle_timeout(Instant::now());
            }
        }
    }
}
