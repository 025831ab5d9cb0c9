//! [`SqliteTrlStore`] (feature `sqlite`): the TRL state in one SQLite file.
//!
//! Each [`crate::TrlStore::apply`] call is one transaction in WAL mode with `synchronous=FULL`, so
//! after it returns a kill -9 loses nothing; `next_seq` is stored per requester so a cursor
//! value is never reused after a restart.
//!
//! The same file may be opened by several connections and processes (WAL; each connection
//! waits up to 5 s for a lock). Besides the TRL state it holds the administration queue
//! (`trl_admin_queue`): `ace as revoke` puts a revocation there while the AS runs, the AS
//! applies it through its own engine (the only writer of the TRL state) and writes back a
//! [`QueueResult`].

use std::format;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use rusqlite::{Connection, params};

use crate::engine::{
    PeerId, RevokeStatus, RevokeTarget, Role, SeriesItem, TokenRecord, TrlEffect, TrlSnapshot,
};
use crate::error::{Error, Result};
use crate::hash::TokenHash;
use crate::msg::DiffEntry;
use ace_token::UnixTime;

fn db(e: &rusqlite::Error) -> Error {
    Error::Store(e.to_string())
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS trl_tokens (
  hash BLOB PRIMARY KEY, cti BLOB, client_id TEXT NOT NULL, audience TEXT NOT NULL,
  expires_at INTEGER, revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS trl_revocations (
  id INTEGER PRIMARY KEY AUTOINCREMENT, hash BLOB NOT NULL, at INTEGER NOT NULL,
  reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trl_requesters (
  peer BLOB PRIMARY KEY, role TEXT NOT NULL, role_arg TEXT NOT NULL, next_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS trl_items (
  peer BLOB NOT NULL, seq INTEGER NOT NULL, removed BLOB NOT NULL, added BLOB NOT NULL,
  PRIMARY KEY (peer, seq));
CREATE TABLE IF NOT EXISTS trl_admin_queue (
  id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, value BLOB NOT NULL,
  reason TEXT NOT NULL, result TEXT);
CREATE INDEX IF NOT EXISTS trl_admin_pending ON trl_admin_queue (id) WHERE result IS NULL;
";

/// A revocation an administrator queued for the running AS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRevocation {
    /// Queue entry id (for [`SqliteTrlStore::complete_revocation`]).
    pub id: u64,
    /// What to revoke ([`RevokeTarget::Cti`] or [`RevokeTarget::Hash`]).
    pub target: RevokeTarget,
    /// The reason to log.
    pub reason: String,
}

/// What the AS did with a queued revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueResult {
    /// The engine's answer.
    Done(RevokeStatus),
    /// [`Error::UnknownToken`].
    UnknownToken,
    /// Another failure (its message).
    Failed(String),
}

impl QueueResult {
    fn encode(&self) -> String {
        match self {
            Self::Done(RevokeStatus::Revoked) => "revoked".into(),
            Self::Done(RevokeStatus::AlreadyRevoked) => "already-revoked".into(),
            Self::Done(RevokeStatus::Expired) => "expired".into(),
            Self::UnknownToken => "unknown-token".into(),
            Self::Failed(m) => format!("failed:{m}"),
        }
    }

    fn decode(text: &str) -> Self {
        match text {
            "revoked" => Self::Done(RevokeStatus::Revoked),
            "already-revoked" => Self::Done(RevokeStatus::AlreadyRevoked),
            "expired" => Self::Done(RevokeStatus::Expired),
            "unknown-token" => Self::UnknownToken,
            other => Self::Failed(other.strip_prefix("failed:").unwrap_or(other).into()),
        }
    }
}

/// Longest value (a `cti` or a token hash) taken from the administration queue, bytes.
pub const MAX_QUEUE_VALUE: usize = 1024;

/// Longest reason taken from the administration queue, bytes.
pub const MAX_QUEUE_REASON: usize = 4096;

/// SQLite-backed [`crate::TrlStore`].
#[derive(Debug)]
pub struct SqliteTrlStore {
    conn: Connection,
}

fn i64_of(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::Store("integer out of range".into()))
}

fn pack(hashes: &[TokenHash]) -> Vec<u8> {
    let mut out = Vec::new();
    crate::msg::put_hashes(&mut out, hashes.len(), hashes);
    out
}

fn unpack(bytes: &[u8]) -> Result<Vec<TokenHash>> {
    let v = crate::msg::decode_value(bytes)?;
    let coset::cbor::value::Value::Array(items) = v else {
        return Err(Error::Store("corrupt hash list".into()));
    };
    items
        .into_iter()
        .map(|i| match i {
            coset::cbor::value::Value::Bytes(b) => Ok(TokenHash::from_raw(b)),
            _ => Err(Error::Store("corrupt hash list".into())),
        })
        .collect()
}

impl SqliteTrlStore {
    /// Opens (creating if needed) the database at `path`.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::with_connection(Connection::open(path).map_err(|e| db(&e))?)
    }

    /// An in-memory database (tests).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn open_in_memory() -> Result<Self> {
        Self::with_connection(Connection::open_in_memory().map_err(|e| db(&e))?)
    }

    fn with_connection(conn: Connection) -> Result<Self> {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| db(&e))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| db(&e))?;
        conn.execute_batch(SCHEMA).map_err(|e| db(&e))?;
        Ok(Self { conn })
    }

    /// The revocation log: (hash, time, reason), oldest first.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn revocation_log(&self) -> Result<Vec<(TokenHash, UnixTime, String)>> {
        let mut st = self
            .conn
            .prepare("SELECT hash, at, reason FROM trl_revocations ORDER BY id")
            .map_err(|e| db(&e))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| db(&e))?;
        let mut out = Vec::new();
        for row in rows {
            let (h, at, reason) = row.map_err(|e| db(&e))?;
            out.push((
                TokenHash::from_raw(h),
                UnixTime(u64::try_from(at).unwrap_or(0)),
                reason,
            ));
        }
        Ok(out)
    }
}

/// Administration queue (see the module docs).
impl SqliteTrlStore {
    /// Queues a revocation for the running AS; returns the entry id. Only `cti` and hash
    /// targets are queued: the token itself is never written (hash a token first).
    ///
    /// # Errors
    /// [`Error::InvalidPayload`] for a [`RevokeTarget::Token`]; [`Error::Store`].
    pub fn enqueue_revocation(&self, target: &RevokeTarget, reason: &str) -> Result<u64> {
        let (kind, value) = match target {
            RevokeTarget::Cti(c) => ("cti", c.as_slice()),
            RevokeTarget::Hash(h) => ("hash", h.as_bytes()),
            RevokeTarget::Token(_) => {
                return Err(Error::InvalidPayload("queue the token hash, not the token"));
            }
        };
        self.conn
            .execute(
                "INSERT INTO trl_admin_queue (kind, value, reason) VALUES (?1, ?2, ?3)",
                params![kind, value, reason],
            )
            .map_err(|e| db(&e))?;
        u64::try_from(self.conn.last_insert_rowid())
            .map_err(|_| Error::Store("negative queue id".into()))
    }

    /// The queued revocations without a result, oldest first.
    ///
    /// Strict: a malformed pending row fails the whole call. A reader that must not be
    /// stopped by one (the AS's poll loop) calls
    /// [`SqliteTrlStore::refuse_malformed_revocations`] first.
    ///
    /// # Errors
    /// [`Error::Store`] (also for an entry of unknown kind or a column of the wrong type).
    pub fn pending_revocations(&self) -> Result<Vec<QueuedRevocation>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id, kind, value, reason FROM trl_admin_queue WHERE result IS NULL ORDER BY id",
            )
            .map_err(|e| db(&e))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(|e| db(&e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, kind, value, reason) = row.map_err(|e| db(&e))?;
            let target = match kind.as_str() {
                "cti" => RevokeTarget::Cti(value),
                "hash" => RevokeTarget::Hash(TokenHash::from_raw(value)),
                other => return Err(Error::Store(format!("unknown queue entry kind {other}"))),
            };
            out.push(QueuedRevocation {
                id: u64::try_from(id).map_err(|_| Error::Store("negative queue id".into()))?,
                target,
                reason,
            });
        }
        Ok(out)
    }

    /// Completes every pending queue entry that is not what
    /// [`SqliteTrlStore::enqueue_revocation`] writes as [`QueueResult::Failed`]
    /// (`malformed queue entry: ..`), and returns how many. The queue is written by another
    /// process, so its rows are untrusted input: an unknown kind, a column of the wrong type,
    /// an empty value or one over [`MAX_QUEUE_VALUE`] bytes, a reason that is not UTF-8 text
    /// of at most [`MAX_QUEUE_REASON`] bytes, a negative id. Refused entries
    /// are never applied (not even in part) and no longer stop
    /// [`SqliteTrlStore::pending_revocations`] from returning the entries behind them.
    ///
    /// # Errors
    /// [`Error::Store`] when the database fails.
    pub fn refuse_malformed_revocations(&self) -> Result<usize> {
        // Everything is read as type names, lengths and bytes, so that no row (text that is
        // not UTF-8 included) can fail the read itself.
        type Raw = (
            i64,
            String,
            Option<Vec<u8>>,
            String,
            i64,
            String,
            Option<Vec<u8>>,
        );
        let rows: Vec<Raw> = {
            let mut st = self
                .conn
                .prepare_cached(
                    "SELECT id, typeof(kind), \
                     CASE WHEN length(CAST(kind AS BLOB)) <= 8 THEN CAST(kind AS BLOB) END, \
                     typeof(value), length(CAST(value AS BLOB)), typeof(reason), \
                     CASE WHEN length(CAST(reason AS BLOB)) <= ?1 THEN CAST(reason AS BLOB) END \
                     FROM trl_admin_queue WHERE result IS NULL ORDER BY id",
                )
                .map_err(|e| db(&e))?;
            let rows = st
                .query_map(params![i64_of(MAX_QUEUE_REASON as u64)?], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get::<_, Option<i64>>(4)?.unwrap_or(0),
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })
                .map_err(|e| db(&e))?;
            rows.collect::<rusqlite::Result<_>>().map_err(|e| db(&e))?
        };
        let max_value = i64_of(MAX_QUEUE_VALUE as u64)?;
        let mut refused = 0;
        for (id, kind_type, kind, value_type, value_len, reason_type, reason) in rows {
            let why = if id < 0 {
                Some("negative id")
            } else if kind_type != "text" || !matches!(kind.as_deref(), Some(b"cti" | b"hash")) {
                Some("unknown kind")
            } else if value_type != "blob" {
                Some("value is not a byte string")
            } else if value_len == 0 {
                Some("empty value")
            } else if value_len > max_value {
                Some("value longer than 1024 bytes")
            } else if reason_type != "text" {
                Some("reason is not text")
            } else {
                match reason.as_deref().map(core::str::from_utf8) {
                    None => Some("reason longer than 4096 bytes"),
                    Some(Err(_)) => Some("reason is not UTF-8"),
                    Some(Ok(_)) => None,
                }
            };
            if let Some(why) = why {
                self.conn
                    .execute(
                        "UPDATE trl_admin_queue SET result = ?2 WHERE id = ?1",
                        params![
                            id,
                            QueueResult::Failed(format!("malformed queue entry: {why}")).encode()
                        ],
                    )
                    .map_err(|e| db(&e))?;
                refused += 1;
            }
        }
        Ok(refused)
    }

    /// Records what the AS did with queue entry `id`.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn complete_revocation(&self, id: u64, result: &QueueResult) -> Result<()> {
        self.conn
            .execute(
                "UPDATE trl_admin_queue SET result = ?2 WHERE id = ?1",
                params![i64_of(id)?, result.encode()],
            )
            .map_err(|e| db(&e))?;
        Ok(())
    }

    /// The result of queue entry `id` (`None` while pending or unknown).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn revocation_result(&self, id: u64) -> Result<Option<QueueResult>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT result FROM trl_admin_queue WHERE id = ?1")
            .map_err(|e| db(&e))?;
        let mut rows = st.query(params![i64_of(id)?]).map_err(|e| db(&e))?;
        let text: Option<String> = match rows.next().map_err(|e| db(&e))? {
            Some(r) => r.get(0).map_err(|e| db(&e))?,
            None => None,
        };
        Ok(text.as_deref().map(QueueResult::decode))
    }
}

fn role_cols(role: &Role) -> (&'static str, &str) {
    match role {
        Role::Client(c) => ("client", c.as_str()),
        Role::ResourceServer(a) => ("rs", a.as_str()),
        Role::Admin => ("admin", ""),
    }
}

impl crate::store::TrlStore for SqliteTrlStore {
    fn apply(&mut self, effects: &[TrlEffect]) -> Result<()> {
        let tx = self.conn.transaction().map_err(|e| db(&e))?;
        for e in effects {
            match e {
                TrlEffect::TokenRecorded(r) => {
                    let exp = r.expires_at.map(|t| i64_of(t.0)).transpose()?;
                    tx.execute(
                        "INSERT OR IGNORE INTO trl_tokens (hash, cti, client_id, audience, expires_at, revoked)
                         VALUES (?1, ?2, ?3, ?4, ?5, 0)",
                        params![r.hash.as_bytes(), r.cti, r.client_id, r.audience, exp],
                    )
                    .map_err(|e| db(&e))?;
                }
                TrlEffect::Revoked { hash, at, reason } => {
                    tx.execute(
                        "UPDATE trl_tokens SET revoked = 1 WHERE hash = ?1",
                        params![hash.as_bytes()],
                    )
                    .map_err(|e| db(&e))?;
                    tx.execute(
                        "INSERT INTO trl_revocations (hash, at, reason) VALUES (?1, ?2, ?3)",
                        params![hash.as_bytes(), i64_of(at.0)?, reason],
                    )
                    .map_err(|e| db(&e))?;
                }
                TrlEffect::Expired { hashes } | TrlEffect::Forgotten { hashes } => {
                    for h in hashes {
                        tx.execute(
                            "DELETE FROM trl_tokens WHERE hash = ?1",
                            params![h.as_bytes()],
                        )
                        .map_err(|e| db(&e))?;
                    }
                }
                TrlEffect::Registered { peer, role } => {
                    let (kind, arg) = role_cols(role);
                    tx.execute("DELETE FROM trl_items WHERE peer = ?1", params![peer])
                        .map_err(|e| db(&e))?;
                    tx.execute(
                        "INSERT OR REPLACE INTO trl_requesters (peer, role, role_arg, next_seq)
                         VALUES (?1, ?2, ?3, 0)",
                        params![peer, kind, arg],
                    )
                    .map_err(|e| db(&e))?;
                }
                TrlEffect::SeriesItemAdded {
                    peer,
                    item,
                    keep_from,
                } => {
                    tx.execute(
                        "INSERT OR REPLACE INTO trl_items (peer, seq, removed, added) VALUES (?1, ?2, ?3, ?4)",
                        params![
                            peer,
                            i64_of(item.seq)?,
                            pack(&item.entry.removed),
                            pack(&item.entry.added)
                        ],
                    )
                    .map_err(|e| db(&e))?;
                    tx.execute(
                        "DELETE FROM trl_items WHERE peer = ?1 AND seq < ?2",
                        params![peer, i64_of(*keep_from)?],
                    )
                    .map_err(|e| db(&e))?;
                    tx.execute(
                        "UPDATE trl_requesters SET next_seq = MAX(next_seq, ?2) WHERE peer = ?1",
                        params![peer, i64_of(item.seq.saturating_add(1))?],
                    )
                    .map_err(|e| db(&e))?;
                }
                TrlEffect::Notify { .. } => {}
            }
        }
        tx.commit().map_err(|e| db(&e))
    }

    fn load(&self) -> Result<TrlSnapshot> {
        let mut snap = TrlSnapshot::default();
        let mut st = self
            .conn
            .prepare("SELECT hash, cti, client_id, audience, expires_at, revoked FROM trl_tokens")
            .map_err(|e| db(&e))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Option<Vec<u8>>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })
            .map_err(|e| db(&e))?;
        for row in rows {
            let (hash, cti, client_id, audience, exp, revoked) = row.map_err(|e| db(&e))?;
            snap.tokens.push((
                TokenRecord {
                    hash: TokenHash::from_raw(hash),
                    cti,
                    client_id,
                    audience,
                    expires_at: exp.map(|e| UnixTime(u64::try_from(e).unwrap_or(0))),
                },
                revoked != 0,
            ));
        }
        let mut st = self
            .conn
            .prepare("SELECT peer, role, role_arg, next_seq FROM trl_requesters")
            .map_err(|e| db(&e))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .map_err(|e| db(&e))?;
        for row in rows {
            let (peer, kind, arg, next): (PeerId, String, String, i64) = row.map_err(|e| db(&e))?;
            let role = match kind.as_str() {
                "client" => Role::Client(arg),
                "rs" => Role::ResourceServer(arg),
                "admin" => Role::Admin,
                other => return Err(Error::Store(format!("unknown role {other}"))),
            };
            snap.next_seq
                .push((peer.clone(), u64::try_from(next).unwrap_or(0)));
            snap.requesters.push((peer, role));
        }
        let mut st = self
            .conn
            .prepare("SELECT peer, seq, removed, added FROM trl_items ORDER BY peer, seq")
            .map_err(|e| db(&e))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                ))
            })
            .map_err(|e| db(&e))?;
        for row in rows {
            let (peer, seq, removed, added) = row.map_err(|e| db(&e))?;
            snap.items.push((
                peer,
                SeriesItem {
                    seq: u64::try_from(seq).unwrap_or(0),
                    entry: DiffEntry {
                        removed: unpack(&removed)?,
                        added: unpack(&added)?,
                    },
                },
            ));
        }
        Ok(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    /// Rows `ace as revoke` would never write, between two good ones: the strict read
    /// fails on them; once refused, the good entries come back whole and each bad one is
    /// completed as failed (never applied, never returned again).
    #[test]
    fn malformed_queue_rows_are_refused_one_by_one() {
        let s = SqliteTrlStore::open_in_memory().unwrap();
        let good1 = s
            .enqueue_revocation(&RevokeTarget::Cti(vec![1]), "lost")
            .unwrap();
        s.conn
            .execute_batch(
                "INSERT INTO trl_admin_queue (kind, value, reason) VALUES ('token', X'01', 'r');
                 INSERT INTO trl_admin_queue (kind, value, reason) VALUES ('cti', 'text', 'r');
                 INSERT INTO trl_admin_queue (kind, value, reason) VALUES ('hash', X'', 'r');
                 INSERT INTO trl_admin_queue (kind, value, reason) VALUES (X'00', X'01', 'r');
                 INSERT INTO trl_admin_queue (kind, value, reason) VALUES (CAST(X'FF' AS TEXT), X'01', 'r');
                 INSERT INTO trl_admin_queue (kind, value, reason) VALUES ('cti', X'01', X'00');
                 INSERT INTO trl_admin_queue (kind, value, reason) VALUES ('cti', X'01', CAST(X'C3' AS TEXT));
                 INSERT INTO trl_admin_queue (kind, value, reason) VALUES ('cti', 5, 'r');
                 INSERT INTO trl_admin_queue (kind, value, reason)
                   VALUES ('hash', zeroblob(2000000), 'r');
                 INSERT INTO trl_admin_queue (kind, value, reason)
                   VALUES ('cti', X'01', CAST(zeroblob(5000) AS TEXT));
                 INSERT INTO trl_admin_queue (id, kind, value, reason) VALUES (-7, 'cti', X'01', 'r');",
            )
            .unwrap();
        let good2 = s
            .enqueue_revocation(
                &RevokeTarget::Hash(TokenHash::from_raw(vec![0x2f, 1, 2])),
                "stolen",
            )
            .unwrap();
        assert!(matches!(s.pending_revocations(), Err(Error::Store(_))));
        assert_eq!(s.refuse_malformed_revocations().unwrap(), 11);
        let p = s.pending_revocations().unwrap();
        assert_eq!(
            p.iter().map(|q| q.id).collect::<Vec<_>>(),
            vec![good1, good2]
        );
        let failed: Vec<(i64, String)> = s
            .conn
            .prepare("SELECT id, result FROM trl_admin_queue WHERE result IS NOT NULL ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(failed.len(), 11, "{failed:?}");
        assert!(
            failed
                .iter()
                .all(|(_, r)| r.starts_with("failed:malformed queue entry: ")),
            "{failed:?}"
        );
        // Nothing left to refuse; the good ones stay pending until completed.
        assert_eq!(s.refuse_malformed_revocations().unwrap(), 0);
        assert_eq!(s.pending_revocations().unwrap().len(), 2);
    }

    #[test]
    fn admin_queue_round_trip_and_refuses_tokens() {
        let s = SqliteTrlStore::open_in_memory().unwrap();
        assert_eq!(s.pending_revocations().unwrap(), Vec::new());
        let h = TokenHash::compute(crate::HashAlg::Sha256, b"t");
        let a = s
            .enqueue_revocation(&RevokeTarget::Cti(vec![1, 2]), "lost")
            .unwrap();
        let b = s
            .enqueue_revocation(&RevokeTarget::Hash(h.clone()), "stolen")
            .unwrap();
        assert_eq!(
            s.enqueue_revocation(&RevokeTarget::Token(b"tok".to_vec()), "x"),
            Err(Error::InvalidPayload("queue the token hash, not the token"))
        );
        let p = s.pending_revocations().unwrap();
        assert_eq!(
            p,
            vec![
                QueuedRevocation {
                    id: a,
                    target: RevokeTarget::Cti(vec![1, 2]),
                    reason: "lost".into()
                },
                QueuedRevocation {
                    id: b,
                    target: RevokeTarget::Hash(h),
                    reason: "stolen".into()
                },
            ]
        );
        assert_eq!(s.revocation_result(a).unwrap(), None);
        for r in [
            QueueResult::Done(RevokeStatus::Revoked),
            QueueResult::Done(RevokeStatus::AlreadyRevoked),
            QueueResult::Done(RevokeStatus::Expired),
            QueueResult::UnknownToken,
            QueueResult::Failed("disk: full".into()),
        ] {
            s.complete_revocation(a, &r).unwrap();
            assert_eq!(s.revocation_result(a).unwrap(), Some(r));
        }
        assert_eq!(s.pending_revocations().unwrap().len(), 1);
        assert_eq!(s.revocation_result(999).unwrap(), None);
    }
}
