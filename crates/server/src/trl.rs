//! The AS's Token Revocation List (RFC 9770) in the AS shell.
//!
//! ```text
//!  /token ─► AsEngine ─► AsEffect::TokenIssued ─► EffectSink ─► AsTrl::token_issued
//!                         (TokenRecord: hash, cti, client, audience, exp)   persisted, then answer
//!  GET /revoke/trl (Observe, OSCORE) ─► TrlEndpoint ─► TrlEngine (per-requester view)
//!  AsService::revoke(target, reason) ─► TrlEngine::revoke ─► TrlStore ─► Observe notifications
//!                                   └─► AsEngine::revoke(cti) (introspection: inactive)
//!  `ace as revoke` (other process) ─► trl_admin_queue ─► AsService::watch_revocation_queue
//! ```
//!
//! The engine and its store are `revocation`'s; this module only decides what the AS
//! records and how administration requests reach the running engine. Logs carry the `cti`
//! and the token hash, never the token.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use revocation::coap::TrlEndpoint;
use revocation::{QueueResult, RevokeStatus, SqliteTrlStore, TokenHash, TokenRecord, TrlStore};

use crate::sink::hex;

/// The TRL store the AS uses (SQLite in the CLI, memory in tests).
pub type AsTrlStore = Box<dyn TrlStore + Send>;

/// The AS's TRL endpoint: a [`revocation::TrlEngine`] and its store behind a lock, mounted
/// by [`crate::AsService::mount`] and told about every issued token.
pub type AsTrl = TrlEndpoint<AsTrlStore>;

/// What [`crate::AsService::revoke`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The engine's answer.
    pub status: RevokeStatus,
    /// The token's `cti`, when the AS recorded one.
    pub cti: Option<Vec<u8>>,
    /// The token hash.
    pub hash: TokenHash,
}

/// An [`AsTrl`] from a [`revocation::TrlConfig`] and the state in `store` (after a
/// restart: the TRL, the update collections and their cursors as persisted).
///
/// # Errors
/// [`revocation::Error::Store`] when the state cannot be read,
/// [`revocation::Error::InvalidConfig`].
pub fn restore_trl(
    config: revocation::TrlConfig,
    store: AsTrlStore,
    clock: Arc<dyn crate::Clock>,
) -> revocation::Result<AsTrl> {
    let snapshot = store.load()?;
    let engine = revocation::TrlEngine::restore(config, snapshot)?;
    Ok(TrlEndpoint::new(
        engine,
        store,
        Arc::new(move || clock.now()),
    ))
}

/// Log line fields of a revocation (hex `cti`, hex hash; never the token).
pub(crate) fn log_revocation(r: &Revocation, reason: &str) {
    let cti = r.cti.as_deref().map_or_else(|| "-".to_owned(), hex);
    match r.status {
        RevokeStatus::Revoked => {
            tracing::warn!(%cti, hash = %r.hash.to_hex(), %reason, "token revoked (TRL)");
        }
        RevokeStatus::AlreadyRevoked => {
            tracing::info!(%cti, hash = %r.hash.to_hex(), %reason, "token was already revoked");
        }
        RevokeStatus::Expired => {
            tracing::info!(%cti, hash = %r.hash.to_hex(), %reason, "token already expired: not revoked");
        }
    }
}

impl crate::AsService {
    /// Applies the revocations queued in `queue` (by `ace as revoke` in another process)
    /// every `period`, writing each result back, until the returned future is dropped.
    /// Entries queued while the AS was down are applied at the first tick.
    pub async fn watch_revocation_queue(self, queue: SqliteTrlStore, period: Duration) {
        let queue = Mutex::new(queue);
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.apply_revocation_queue(&queue).await {
                tracing::error!(error = %e, "TRL administration queue failed");
            }
        }
    }

    /// One pass of [`crate::AsService::watch_revocation_queue`]: refuses malformed entries
    /// ([`SqliteTrlStore::refuse_malformed_revocations`]), applies every other pending entry;
    /// returns how many were applied.
    ///
    /// # Errors
    /// Reading the queue or writing a result failed (the entry stays pending; revoking it
    /// again is harmless: [`RevokeStatus::AlreadyRevoked`]).
    pub async fn apply_revocation_queue(
        &self,
        queue: &Mutex<SqliteTrlStore>,
    ) -> crate::Result<usize> {
        let lock = || queue.lock().map_err(|_| crate::Error::Poisoned);
        let pending = {
            let q = lock()?;
            // Rows from another process: a malformed one is answered as failed instead of
            // failing every poll (and with it every revocation queued behind it).
            let refused = q.refuse_malformed_revocations()?;
            if refused > 0 {
                tracing::warn!(
                    refused,
                    "TRL administration queue: malformed entries refused"
                );
            }
            q.pending_revocations()?
        };
        let n = pending.len();
        for mut entry in pending {
            // The reason is logged and stored: no control characters (no forged log lines).
            entry.reason = entry
                .reason
                .chars()
                .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                .collect();
            let result = match self.revoke(&entry.target, &entry.reason).await {
                Ok(r) => QueueResult::Done(r.status),
                Err(crate::Error::Trl(revocation::Error::UnknownToken)) => {
                    tracing::info!(reason = %entry.reason, "revocation of an unknown token refused");
                    QueueResult::UnknownToken
                }
                Err(e) => QueueResult::Failed(e.to_string()),
            };
            lock()?.complete_revocation(entry.id, &result)?;
        }
        Ok(n)
    }
}

/// The record of an issued token as the TRL keeps it.
pub(crate) fn record(trl: &AsTrl, token: &ace_core::IssuedToken) -> TokenRecord {
    let alg = trl.with_engine(|e| e.config().hash_alg);
    TokenRecord::from_issued(alg, token)
}
