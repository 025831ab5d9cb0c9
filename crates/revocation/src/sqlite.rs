//! [`SqliteTrlStore`] (feature `sqlite`): the TRL state in one SQLite file.
//!
//! Each [`crate::TrlStore::apply`] call is one transaction in WAL mode with `synchronous=FULL`, so
//! after it returns a kill -9 loses nothing; `next_seq` is stored per requester so a cursor
//! value is never reused after a restart.

use std::format;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use rusqlite::{Connection, params};

use crate::engine::{PeerId, Role, SeriesItem, TokenRecord, TrlEffect, TrlSnapshot};
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
";

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
