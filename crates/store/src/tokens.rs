//! [`SqliteTokenStore`]: the AS's issued tokens (`ace_core::TokenStore`).

use std::sync::Arc;

use ace_core::{IssuedToken, TokenStore};
use ace_token::{AceProfile, UnixTime};
use rusqlite::{Connection, OptionalExtension as _, Row, params};

use crate::codec::{self, clamp_time, to_i64, to_u64};
use crate::error::{Error, Result};
use crate::store::Shared;

const COLUMNS: &str = "cti, token, client_id, audience, scope_kind, scope, issued_at, expires_at, \
                       exi, cnf, ace_profile, cnonce, revoked";

/// The AS's issued tokens in SQLite. Every call goes to the file (no cache), so several
/// handles (or processes) see the same tokens; `insert` returns after the commit.
///
/// Trait methods that cannot return errors (`contains_cti`, `find_by_token`, `revoke`,
/// `remove_expired`) answer "not found" / "nothing" on a database error and record it for
/// [`crate::SqliteStore::check`].
pub struct SqliteTokenStore {
    shared: Arc<Shared>,
}

impl core::fmt::Debug for SqliteTokenStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SqliteTokenStore").finish_non_exhaustive()
    }
}

impl SqliteTokenStore {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Records an issued token (the fallible form of `TokenStore::insert`).
    ///
    /// # Errors
    /// [`Error::DuplicateCti`], [`Error::Database`], [`Error::OutOfRange`],
    /// [`Error::Unencodable`].
    pub fn try_insert(&self, token: &IssuedToken) -> Result<()> {
        insert_issued(&self.shared.conn(), token, false)
    }

    /// The token with exactly these bytes (fallible form of `find_by_token`).
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub fn try_find_by_token(&self, token: &[u8]) -> Result<Option<IssuedToken>> {
        let conn = self.shared.conn();
        let sql =
            format!("SELECT {COLUMNS} FROM as_tokens WHERE token = ?1 ORDER BY rowid DESC LIMIT 1");
        conn.query_row(&sql, [token], |r| Ok(read_row(r)))
            .optional()?
            .transpose()
    }

    /// The token with this `cti`.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub fn find_by_cti(&self, cti: &[u8]) -> Result<Option<IssuedToken>> {
        let conn = self.shared.conn();
        let sql = format!("SELECT {COLUMNS} FROM as_tokens WHERE cti = ?1");
        conn.query_row(&sql, [cti], |r| Ok(read_row(r)))
            .optional()?
            .transpose()
    }

    /// Marks a token revoked (fallible form of `revoke`); `false` if unknown.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn try_revoke(&self, cti: &[u8]) -> Result<bool> {
        Ok(self
            .shared
            .conn()
            .execute("UPDATE as_tokens SET revoked = 1 WHERE cti = ?1", [cti])?
            > 0)
    }

    /// Deletes the tokens that ended at or before `now` and are not revoked (the
    /// `MemoryTokenStore` rule); returns their `cti`s (fallible form of `remove_expired`).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn try_remove_expired(&self, now: UnixTime) -> Result<Vec<Vec<u8>>> {
        let mut conn = self.shared.conn();
        let tx = conn.transaction()?;
        let gone = {
            let mut st = tx.prepare(
                "DELETE FROM as_tokens WHERE revoked = 0 AND ends_at IS NOT NULL \
                 AND ends_at <= ?1 RETURNING cti",
            )?;
            let rows = st.query_map([clamp_time(now)], |r| r.get::<_, Vec<u8>>(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        tx.commit()?;
        Ok(gone)
    }
}

/// Inserts a token; with `ignore_existing`, a row with the same `cti` is left as it is.
pub(crate) fn insert_issued(
    conn: &Connection,
    t: &IssuedToken,
    ignore_existing: bool,
) -> Result<()> {
    let (scope_kind, scope) = codec::scope_to_columns(&t.scope);
    let expires_at = t.expires_at.map(|e| to_i64(e.0, "exp")).transpose()?;
    let exi = t.exi.map(|e| to_i64(e, "exi")).transpose()?;
    // The same end as `IssuedToken::is_active`: exp, else iat + exi.
    let ends_at = t
        .expires_at
        .or_else(|| t.exi.map(|e| t.issued_at.saturating_add(e)))
        .map(clamp_time);
    let cnf = codec::cnf_to_bytes(&t.cnf)?;
    let verb = if ignore_existing {
        "INSERT OR IGNORE"
    } else {
        "INSERT"
    };
    let sql = format!(
        "{verb} INTO as_tokens ({COLUMNS}, ends_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    );
    let res = conn.execute(
        &sql,
        params![
            t.cti,
            t.token,
            t.client_id,
            t.audience,
            scope_kind,
            scope,
            to_i64(t.issued_at.0, "iat")?,
            expires_at,
            exi,
            cnf,
            t.ace_profile.0,
            t.cnonce,
            t.revoked,
            ends_at,
        ],
    );
    match res {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(Error::DuplicateCti)
        }
        Err(e) => Err(e.into()),
    }
}

fn read_row(r: &Row<'_>) -> Result<IssuedToken> {
    let scope_kind: i64 = r.get(4)?;
    let scope: Vec<u8> = r.get(5)?;
    let expires_at: Option<i64> = r.get(7)?;
    let exi: Option<i64> = r.get(8)?;
    Ok(IssuedToken {
        cti: r.get(0)?,
        token: r.get(1)?,
        client_id: r.get(2)?,
        audience: r.get(3)?,
        scope: codec::scope_from_columns(scope_kind, scope)?,
        issued_at: UnixTime(to_u64(r.get(6)?, "iat")?),
        expires_at: expires_at
            .map(|e| to_u64(e, "exp").map(UnixTime))
            .transpose()?,
        exi: exi.map(|e| to_u64(e, "exi")).transpose()?,
        cnf: codec::cnf_from_bytes(r.get(9)?)?,
        ace_profile: AceProfile(r.get(10)?),
        cnonce: r.get(11)?,
        revoked: r.get(12)?,
    })
}

pub(crate) fn all_issued(conn: &Connection) -> Result<Vec<IssuedToken>> {
    let mut st = conn.prepare(&format!("SELECT {COLUMNS} FROM as_tokens ORDER BY rowid"))?;
    let rows = st.query_map([], |r| Ok(read_row(r)))?;
    rows.map(|r| r?).collect()
}

impl TokenStore for SqliteTokenStore {
    fn contains_cti(&self, cti: &[u8]) -> bool {
        let res = self
            .shared
            .conn()
            .query_row("SELECT 1 FROM as_tokens WHERE cti = ?1", [cti], |_| Ok(()))
            .optional();
        match res {
            Ok(found) => found.is_some(),
            Err(e) => {
                self.shared.defer("contains_cti", e.into());
                false
            }
        }
    }

    fn insert(&mut self, token: IssuedToken) -> ace_core::Result<()> {
        self.try_insert(&token).map_err(|e| {
            tracing::warn!(error = %e, "issued token not stored");
            ace_core::Error::from(e)
        })
    }

    fn find_by_token(&self, token: &[u8]) -> Option<IssuedToken> {
        self.try_find_by_token(token).unwrap_or_else(|e| {
            self.shared.defer("find_by_token", e);
            None
        })
    }

    fn revoke(&mut self, cti: &[u8]) -> bool {
        self.try_revoke(cti).unwrap_or_else(|e| {
            self.shared.defer("revoke", e);
            false
        })
    }

    fn remove_expired(&mut self, now: UnixTime) -> Vec<Vec<u8>> {
        self.try_remove_expired(now).unwrap_or_else(|e| {
            self.shared.defer("remove_expired", e);
            Vec::new()
        })
    }
}
