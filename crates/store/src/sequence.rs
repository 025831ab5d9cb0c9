//! [`SqliteSequenceStore`]: OSCORE sender-sequence-number reservations
//! (`ace_oscore::sequence::SequenceStore`, RFC 8613 Appendix B.1.1).
//!
//! `persist` returns after the commit (`synchronous = FULL`), which is what the trait
//! requires: the message protected with the first number of a new block is sent only after
//! the block's end is durable. The stored value only ever grows (`max(old, new)`): a late
//! write of an older reservation cannot move a restored context backwards into numbers that
//! were already used.
//!
//! Records are keyed by the full context identity (Sender ID, Recipient ID, ID Context;
//! schema version 3): a server's contexts all share its Sender ID, so keying by Sender ID
//! and ID Context alone would let two peers share one record. Records written without a
//! Recipient ID (`SequenceStore::persist`, and every record of a version-2 file) are a lower
//! bound for every context with that Sender ID and ID Context ([`SqliteSequenceStore::get_context`]).

use std::sync::Arc;

use ace_oscore::sequence::{PersistError, SequenceStore};
use rusqlite::params;

use crate::codec::{to_i64, to_u64};
use crate::error::Result;
use crate::store::Shared;

/// OSCORE sequence-number reservations in SQLite, keyed by Sender ID, Recipient ID and ID
/// Context.
pub struct SqliteSequenceStore {
    shared: Arc<Shared>,
}

impl core::fmt::Debug for SqliteSequenceStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SqliteSequenceStore")
            .finish_non_exhaustive()
    }
}

fn optional_columns(v: Option<&[u8]>) -> (i64, &[u8]) {
    match v {
        Some(c) => (1, c),
        None => (0, &[]),
    }
}

impl SqliteSequenceStore {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    fn max_where(
        &self,
        sender_id: &[u8],
        recipient_id: Option<Option<&[u8]>>,
        id_context: Option<&[u8]>,
    ) -> Result<Option<u64>> {
        let (has, ctx) = optional_columns(id_context);
        let conn = self.shared.conn();
        let v: Option<i64> = match recipient_id {
            // Any record with this Sender ID and ID Context.
            None => conn.query_row(
                "SELECT max(value) FROM oscore_sequences \
                 WHERE sender_id = ?1 AND has_context = ?2 AND id_context = ?3",
                params![sender_id, has, ctx],
                |r| r.get(0),
            )?,
            // The context's own record and the records without Recipient ID.
            Some(rid) => {
                let (has_r, rid) = optional_columns(rid);
                conn.query_row(
                    "SELECT max(value) FROM oscore_sequences \
                     WHERE sender_id = ?1 AND has_context = ?2 AND id_context = ?3 \
                     AND (has_recipient = 0 OR (has_recipient = ?4 AND recipient_id = ?5))",
                    params![sender_id, has, ctx, has_r, rid],
                    |r| r.get(0),
                )?
            }
        };
        v.map(|v| to_u64(v, "sequence number")).transpose()
    }

    /// The highest value persisted for any context with `sender_id` / `id_context`
    /// (whatever its Recipient ID). Prefer [`SqliteSequenceStore::get_context`].
    ///
    /// # Errors
    /// [`crate::Error::Database`], [`crate::Error::Corrupt`].
    pub fn get(&self, sender_id: &[u8], id_context: Option<&[u8]>) -> Result<Option<u64>> {
        self.max_where(sender_id, None, id_context)
    }

    /// The value to restore the context `sender_id` / `recipient_id` / `id_context` from
    /// (`SecurityContext::restore`, `SenderSequence::starting_at`): the highest of its own
    /// record and the records written without Recipient ID.
    ///
    /// # Errors
    /// [`crate::Error::Database`], [`crate::Error::Corrupt`].
    pub fn get_context(
        &self,
        sender_id: &[u8],
        recipient_id: &[u8],
        id_context: Option<&[u8]>,
    ) -> Result<Option<u64>> {
        self.max_where(sender_id, Some(Some(recipient_id)), id_context)
    }

    fn write(
        &self,
        sender_id: &[u8],
        recipient_id: Option<&[u8]>,
        id_context: Option<&[u8]>,
        value: u64,
    ) -> Result<()> {
        let (has, ctx) = optional_columns(id_context);
        let (has_r, rid) = optional_columns(recipient_id);
        self.shared.conn().execute(
            "INSERT INTO oscore_sequences \
             (sender_id, has_recipient, recipient_id, has_context, id_context, value) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT(sender_id, has_recipient, recipient_id, has_context, id_context) \
             DO UPDATE SET value = max(value, excluded.value)",
            params![
                sender_id,
                has_r,
                rid,
                has,
                ctx,
                to_i64(value, "sequence number")?
            ],
        )?;
        Ok(())
    }

    /// Persists `value` without Recipient ID (fallible form with this crate's error; a
    /// lower bound for every context with this Sender ID and ID Context).
    ///
    /// # Errors
    /// [`crate::Error::Database`], [`crate::Error::OutOfRange`].
    pub fn try_persist(
        &self,
        sender_id: &[u8],
        id_context: Option<&[u8]>,
        value: u64,
    ) -> Result<()> {
        self.write(sender_id, None, id_context, value)
    }

    /// Persists `value` for the context `sender_id` / `recipient_id` / `id_context`.
    ///
    /// # Errors
    /// [`crate::Error::Database`], [`crate::Error::OutOfRange`].
    pub fn try_persist_context(
        &self,
        sender_id: &[u8],
        recipient_id: &[u8],
        id_context: Option<&[u8]>,
        value: u64,
    ) -> Result<()> {
        self.write(sender_id, Some(recipient_id), id_context, value)
    }
}

fn persist_failed(e: &crate::Error) -> PersistError {
    tracing::warn!(error = %e, "OSCORE sequence reservation not persisted");
    PersistError
}

impl SequenceStore for SqliteSequenceStore {
    fn persist(
        &mut self,
        sender_id: &[u8],
        id_context: Option<&[u8]>,
        value: u64,
    ) -> Result<(), PersistError> {
        self.try_persist(sender_id, id_context, value)
            .map_err(|e| persist_failed(&e))
    }

    fn persist_context(
        &mut self,
        sender_id: &[u8],
        recipient_id: &[u8],
        id_context: Option<&[u8]>,
        value: u64,
    ) -> Result<(), PersistError> {
        self.try_persist_context(sender_id, recipient_id, id_context, value)
            .map_err(|e| persist_failed(&e))
    }
}
