//! [`SqliteAcceptedTokens`]: the RS's accepted tokens (`ace_core::AcceptedTokenStore`).

use std::collections::BTreeMap;
use std::sync::Arc;

use ace_core::{AcceptedToken, AcceptedTokenStore, PopBinding};
use ace_token::{AceProfile, UnixTime};
use rusqlite::{Connection, Row, params};

use crate::codec::{self, to_i64, to_u64};
use crate::error::Result;
use crate::store::Shared;

/// The RS's accepted tokens: an in-memory map (the trait returns references) loaded from
/// the file when the handle is made, with every `insert`/`remove` written through to the
/// file before the call returns. Use one handle per RS engine: two handles on one file do
/// not see each other's changes until reloaded.
///
/// A failed write-through cannot be returned by the trait; it is recorded and reported by
/// the next [`crate::SqliteStore::apply_rs_effects`] / [`crate::SqliteStore::check`], which
/// the shell calls before answering. The in-memory view keeps the change either way (the
/// engine has already acted on it).
pub struct SqliteAcceptedTokens {
    shared: Arc<Shared>,
    tokens: BTreeMap<PopBinding, AcceptedToken>,
}

impl core::fmt::Debug for SqliteAcceptedTokens {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SqliteAcceptedTokens")
            .field("tokens", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

impl SqliteAcceptedTokens {
    pub(crate) fn load(shared: Arc<Shared>) -> Result<Self> {
        let tokens = {
            let conn = shared.conn();
            load_all(&conn)?
        };
        Ok(Self {
            shared,
            tokens: tokens.into_iter().map(|t| (t.binding.clone(), t)).collect(),
        })
    }

    /// The highest `serial` among the stored tokens (the engine's acceptance counter
    /// restarts at 0; a shell can compare).
    #[must_use]
    pub fn max_serial(&self) -> Option<u64> {
        self.tokens.values().map(|t| t.serial).max()
    }

    /// Stores `token` in the file, replacing the row of the same binding.
    ///
    /// # Errors
    /// [`crate::Error::Database`], [`crate::Error::OutOfRange`],
    /// [`crate::Error::Unencodable`].
    pub fn try_write(&self, token: &AcceptedToken) -> Result<()> {
        write_row(&self.shared.conn(), token)
    }

    /// Deletes the row of `binding` from the file.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub fn try_delete(&self, binding: &PopBinding) -> Result<()> {
        let (kind, bytes) = codec::binding_to_columns(binding);
        self.shared.conn().execute(
            "DELETE FROM rs_tokens WHERE binding_kind = ?1 AND binding = ?2",
            params![kind, bytes],
        )?;
        Ok(())
    }
}

fn write_row(conn: &Connection, t: &AcceptedToken) -> Result<()> {
    let (bkind, binding) = codec::binding_to_columns(&t.binding);
    let (skind, scope) = codec::scope_to_columns(&t.scope);
    let pop_key = t
        .pop_key
        .as_ref()
        .map(codec::pop_key_to_bytes)
        .transpose()?;
    conn.execute(
        "INSERT OR REPLACE INTO rs_tokens (binding_kind, binding, subject, cti, scope_kind, \
         scope, permissions, pop_key, expires_at, exi_seq, ace_profile, received_at, serial) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            bkind,
            binding,
            t.subject,
            t.cti,
            skind,
            scope,
            codec::permissions_to_bytes(&t.permissions)?,
            pop_key,
            t.expires_at.map(|e| to_i64(e.0, "exp")).transpose()?,
            t.exi_seq.map(|s| to_i64(s, "exi sequence")).transpose()?,
            t.ace_profile.map(|p| p.0),
            to_i64(t.received_at.0, "received_at")?,
            to_i64(t.serial, "serial")?,
        ],
    )?;
    Ok(())
}

fn read_row(r: &Row<'_>) -> Result<AcceptedToken> {
    let expires_at: Option<i64> = r.get(8)?;
    let exi_seq: Option<i64> = r.get(9)?;
    let ace_profile: Option<i64> = r.get(10)?;
    let pop_key: Option<Vec<u8>> = r.get(7)?;
    let permissions: Vec<u8> = r.get(6)?;
    Ok(AcceptedToken {
        binding: codec::binding_from_columns(r.get(0)?, r.get(1)?)?,
        subject: r.get(2)?,
        cti: r.get(3)?,
        scope: codec::scope_from_columns(r.get(4)?, r.get(5)?)?,
        permissions: codec::permissions_from_bytes(&permissions)?,
        pop_key: pop_key.map(|k| codec::pop_key_from_bytes(&k)).transpose()?,
        expires_at: expires_at
            .map(|e| to_u64(e, "exp").map(UnixTime))
            .transpose()?,
        exi_seq: exi_seq.map(|s| to_u64(s, "exi sequence")).transpose()?,
        ace_profile: ace_profile.map(AceProfile),
        received_at: UnixTime(to_u64(r.get(11)?, "received_at")?),
        serial: to_u64(r.get(12)?, "serial")?,
    })
}

fn load_all(conn: &Connection) -> Result<Vec<AcceptedToken>> {
    let mut st = conn.prepare(
        "SELECT binding_kind, binding, subject, cti, scope_kind, scope, permissions, pop_key, \
         expires_at, exi_seq, ace_profile, received_at, serial FROM rs_tokens ORDER BY serial",
    )?;
    let rows = st.query_map([], |r| Ok(read_row(r)))?;
    rows.map(|r| r?).collect()
}

impl AcceptedTokenStore for SqliteAcceptedTokens {
    fn get(&self, binding: &PopBinding) -> Option<&AcceptedToken> {
        self.tokens.get(binding)
    }

    fn insert(&mut self, token: AcceptedToken) -> Option<AcceptedToken> {
        if let Err(e) = self.try_write(&token) {
            self.shared.defer("accepted insert", e);
        }
        self.tokens.insert(token.binding.clone(), token)
    }

    fn remove(&mut self, binding: &PopBinding) -> Option<AcceptedToken> {
        let old = self.tokens.remove(binding)?;
        if let Err(e) = self.try_delete(binding) {
            self.shared.defer("accepted remove", e);
        }
        Some(old)
    }

    fn tokens(&self) -> Vec<&AcceptedToken> {
        self.tokens.values().collect()
    }

    fn len(&self) -> usize {
        self.tokens.len()
    }
}
