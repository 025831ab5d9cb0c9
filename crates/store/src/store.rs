//! [`SqliteStore`]: the connection, its durability settings, the effect helpers and the
//! small engine-state tables.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ace_core::{AsEffect, IssuedToken, RsEffect};
use rusqlite::{Connection, OptionalExtension as _, params};

use crate::accepted::SqliteAcceptedTokens;
use crate::codec::{self, to_i64, to_u64};
use crate::error::{Error, Result};
use crate::registry::{SqlitePolicy, SqliteRegistry};
use crate::schema;
use crate::sequence::SqliteSequenceStore;
use crate::tokens::SqliteTokenStore;

/// How long a call waits for a lock held by another connection to the same file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// `engine_state` name of the RS's highest expired `exi` sequence number.
const RS_EXI_HIGHEST_EXPIRED: &str = "rs.exi_highest_expired";

pub(crate) struct Shared {
    conn: Mutex<Connection>,
    /// The first failure of a write made through a trait method that cannot return errors.
    deferred: Mutex<Option<Error>>,
    path: Option<PathBuf>,
}

impl Shared {
    /// The connection (a poisoned lock is taken over: SQLite rolls back an unfinished
    /// transaction when its guard is dropped, so the connection is consistent).
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the failure of a write-through that could not return it.
    pub(crate) fn defer(&self, op: &'static str, e: Error) {
        tracing::warn!(op, error = %e, "ace-store write-through failed");
        let mut slot = self.deferred.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(e);
        }
    }

    fn take_deferred(&self) -> Option<Error> {
        self.deferred
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// A SQLite database holding the AS and RS state. Cheap to clone (one shared connection);
/// `Send + Sync`. Every call takes the connection's lock and blocks for the duration of one
/// SQLite statement or transaction, including its `fsync`: tokio shells should call it from
/// `spawn_blocking` (or accept the short block).
///
/// Durability: WAL journal with `synchronous = FULL`, so every committed write (each trait
/// call that changes data, each `apply_*_effects`) is on disk when the call returns and
/// survives a process kill or power loss. A handle's methods return only after the commit.
#[derive(Clone)]
pub struct SqliteStore {
    shared: Arc<Shared>,
}

impl core::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates) the database file at `path`, sets WAL + `synchronous = FULL` +
    /// foreign keys, and applies pending migrations.
    ///
    /// # Errors
    /// [`Error::Database`] when the file cannot be opened or configured,
    /// [`Error::SchemaTooNew`], [`Error::Migration`].
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(mode, "SQLite refused WAL mode; using its journal mode");
        }
        Self::setup(conn, Some(path.to_path_buf()))
    }

    /// A private in-memory database (tests; nothing survives the store).
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn open_in_memory() -> Result<Self> {
        Self::setup(Connection::open_in_memory()?, None)
    }

    fn setup(mut conn: Connection, path: Option<PathBuf>) -> Result<Self> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut conn)?;
        Ok(Self {
            shared: Arc::new(Shared {
                conn: Mutex::new(conn),
                deferred: Mutex::new(None),
                path,
            }),
        })
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    /// The schema version of the file (`PRAGMA user_version`).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn schema_version(&self) -> Result<i64> {
        schema::version(&self.shared.conn())
    }

    /// The AS's issued-token store (`ace_core::TokenStore`), for `AsEngine::new`.
    #[must_use]
    pub fn token_store(&self) -> SqliteTokenStore {
        SqliteTokenStore::new(self.shared())
    }

    /// The RS's accepted-token store (`ace_core::AcceptedTokenStore`), for `RsEngine::new`,
    /// loaded from the file. It keeps the tokens in memory too (the trait hands out
    /// references) and writes every change through; use one per RS engine.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub fn accepted_tokens(&self) -> Result<SqliteAcceptedTokens> {
        SqliteAcceptedTokens::load(self.shared())
    }

    /// The AS's client and resource-server registry (`ace_core::ClientRegistry`), with the
    /// admin methods to add, replace and remove entries.
    #[must_use]
    pub fn client_registry(&self) -> SqliteRegistry {
        SqliteRegistry::new(self.shared())
    }

    /// The AS's grant policy (`ace_core::Policy`, the [`ace_core::StaticPolicy`] rules read
    /// from the `policy` table), with admin methods.
    #[must_use]
    pub fn policy(&self) -> SqlitePolicy {
        SqlitePolicy::new(self.shared())
    }

    /// The OSCORE sender-sequence-number store (`ace_oscore::sequence::SequenceStore`,
    /// keyed by Sender ID and ID Context, so one handle serves every context).
    #[must_use]
    pub fn sequence_store(&self) -> SqliteSequenceStore {
        SqliteSequenceStore::new(self.shared())
    }

    /// Reports (and clears) the first failure of a write made through a trait method that
    /// cannot return errors (`TokenStore::revoke`/`remove_expired`/`contains_cti`/
    /// `find_by_token`, `AcceptedTokenStore::insert`/`remove`). A shell calls this (or an
    /// `apply_*_effects`, which call it) before it answers.
    ///
    /// # Errors
    /// [`Error::WriteThroughFailed`] with the recorded failure.
    pub fn check(&self) -> Result<()> {
        match self.shared.take_deferred() {
            Some(e) => Err(Error::WriteThroughFailed(Box::new(e))),
            None => Ok(()),
        }
    }

    /// Persists the AS engine's effects in one transaction, before the shell answers
    /// (architecture.md: durable effects are written before the response leaves).
    ///
    /// `TokenIssued` is inserted unless its `cti` is already there (the [`SqliteTokenStore`]
    /// wrote it in `insert`; an engine with another token store gets it written here);
    /// `ExiSequence` raises the audience's sequence number (never lowers it);
    /// `TokenRevoked` sets the flag; `TokensExpired` deletes the rows. Then reports any
    /// deferred write-through failure ([`SqliteStore::check`]).
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::OutOfRange`], [`Error::Unencodable`],
    /// [`Error::WriteThroughFailed`].
    pub fn apply_as_effects(&self, effects: &[AsEffect]) -> Result<()> {
        {
            let mut conn = self.shared.conn();
            let tx = conn.transaction()?;
            for e in effects {
                match e {
                    AsEffect::TokenIssued(t) => {
                        crate::tokens::insert_issued(&tx, t, true)?;
                    }
                    AsEffect::ExiSequence { audience, seq } => {
                        tx.execute(
                            "INSERT INTO as_exi_sequences (audience, seq) VALUES (?1, ?2)
                             ON CONFLICT(audience) DO UPDATE SET seq = max(seq, excluded.seq)",
                            params![audience, to_i64(*seq, "exi sequence")?],
                        )?;
                    }
                    AsEffect::TokenRevoked { cti } => {
                        tx.execute("UPDATE as_tokens SET revoked = 1 WHERE cti = ?1", [cti])?;
                    }
                    AsEffect::TokensExpired { ctis } => {
                        for cti in ctis {
                            tx.execute("DELETE FROM as_tokens WHERE cti = ?1", [cti])?;
                        }
                    }
                    _ => return Err(Error::Unencodable("unknown AS effect")),
                }
            }
            tx.commit()?;
        }
        self.check()
    }

    /// Persists the RS engine's effects, before the shell answers.
    ///
    /// The token effects carry only the binding and `cti`, not the token: the token itself
    /// is written by [`SqliteAcceptedTokens`] when the engine stores it. This call verifies
    /// that every `TokenStored` binding is in the file ([`Error::NotPersisted`] otherwise,
    /// e.g. when the engine was given an in-memory store), writes `ExiHighestExpired`
    /// (raising, never lowering), and reports any deferred write-through failure.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::OutOfRange`], [`Error::NotPersisted`],
    /// [`Error::WriteThroughFailed`].
    pub fn apply_rs_effects(&self, effects: &[RsEffect]) -> Result<()> {
        self.check()?;
        let mut conn = self.shared.conn();
        let tx = conn.transaction()?;
        for e in effects {
            match e {
                RsEffect::TokenStored { binding, .. } => {
                    let (kind, bytes) = codec::binding_to_columns(binding);
                    let there: Option<i64> = tx
                        .query_row(
                            "SELECT 1 FROM rs_tokens WHERE binding_kind = ?1 AND binding = ?2",
                            params![kind, bytes],
                            |r| r.get(0),
                        )
                        .optional()?;
                    if there.is_none() {
                        return Err(Error::NotPersisted("RS token"));
                    }
                }
                RsEffect::ExiHighestExpired(h) => {
                    tx.execute(
                        "INSERT INTO engine_state (name, value) VALUES (?1, ?2)
                         ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)",
                        params![RS_EXI_HIGHEST_EXPIRED, to_i64(*h, "exi sequence")?],
                    )?;
                }
                // Superseded / evicted / expired tokens were removed by the write-through.
                _ => {}
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The persisted `exi` sequence numbers of the AS, per audience: feed each to
    /// `AsEngine::restore_exi_sequence` at start.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub fn as_exi_sequences(&self) -> Result<Vec<(String, u64)>> {
        let conn = self.shared.conn();
        let mut st =
            conn.prepare("SELECT audience, seq FROM as_exi_sequences ORDER BY audience")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        rows.map(|r| {
            let (a, s) = r?;
            Ok((a, to_u64(s, "exi sequence")?))
        })
        .collect()
    }

    /// The persisted highest expired `exi` sequence number of the RS: pass it to
    /// `RsEngine::with_exi_highest_expired` at start.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub fn rs_exi_highest_expired(&self) -> Result<Option<u64>> {
        let conn = self.shared.conn();
        let v: Option<i64> = conn
            .query_row(
                "SELECT value FROM engine_state WHERE name = ?1",
                [RS_EXI_HIGHEST_EXPIRED],
                |r| r.get(0),
            )
            .optional()?;
        v.map(|v| to_u64(v, "exi sequence")).transpose()
    }

    /// Stores `value` under `key` in the key-value table (e.g. an AS signing key generated at
    /// first start). The value is written as given: encrypt secrets first if the file is not
    /// otherwise protected.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn put_value(&self, key: &str, value: &[u8]) -> Result<()> {
        self.shared.conn().execute(
            "INSERT INTO kv (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// The value stored under `key`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn get_value(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .shared
            .conn()
            .query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Removes `key`; `true` if it was there.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn delete_value(&self, key: &str) -> Result<bool> {
        Ok(self
            .shared
            .conn()
            .execute("DELETE FROM kv WHERE key = ?1", [key])?
            > 0)
    }

    /// Every `(key, value)` of the key-value table whose key starts with `prefix`, in key
    /// order (e.g. the OSCORE contexts an RS derived, to restore them at start).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn values_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let conn = self.shared.conn();
        let mut stmt =
            conn.prepare("SELECT key, value FROM kv WHERE substr(key, 1, ?2) = ?1 ORDER BY key")?;
        let rows = stmt.query_map(
            params![
                prefix,
                i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX)
            ],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)),
        )?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?);
        }
        Ok(out)
    }

    /// Every issued token in the file, oldest first (admin listing, tests).
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub fn issued_tokens(&self) -> Result<Vec<IssuedToken>> {
        crate::tokens::all_issued(&self.shared.conn())
    }

    /// SQLite's `PRAGMA integrity_check` (and `foreign_key_check`): `Ok(())` when the
    /// file is consistent.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Corrupt`] when a check reports a problem.
    pub fn integrity_check(&self) -> Result<()> {
        let conn = self.shared.conn();
        let res: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if res != "ok" {
            return Err(Error::Corrupt("integrity_check"));
        }
        let mut st = conn.prepare("PRAGMA foreign_key_check")?;
        if st.exists([])? {
            return Err(Error::Corrupt("foreign_key_check"));
        }
        Ok(())
    }
}
