//! [`SqliteSequenceStore`]: OSCORE sender-sequence-number reservations
//! (`ace_oscore::sequence::SequenceStore`, RFC 8613 Appendix B.1.1).
//!
//! `persist` returns after the commit (`synchronous = FULL`), which is what the trait
//! requires: the message protected with the first number of a new block is sent only after
//! the block's end is durable. The stored value only ever grows (`max(old, new)`): a late
//! write of an older reservation cannot move a restored context backwards into numbers that
//! were already used.

use std::sync::Arc;

use ace_oscore::sequence::{PersistError, SequenceStore};
use rusqlite::{OptionalExtension as _, params};

use crate::codec::{to_i64, to_u64};
use crate::error::Result;
use crate::store::Shared;

/// OSCORE sequence-number reservations in SQLite, keyed by Sender ID and ID Context.
pub struct SqliteSequenceStore {
    shared: Arc<Shared>,
}

impl core::fmt::Debug for SqliteSequenceStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SqliteSequenceStore")
            .finish_non_exhaustive()
    }
}

fn context_columns(id_context: Option<&[u8]>) -> (i64, &[u8]) {
    match id_context {
        Some(c) => (1, c),
        None => (0, &[]),
    }
}

impl SqliteSequenceStore {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The last persisted value for a context: restore the context's sender sequence with
    /// `SenderSequence::starting_at(value, ..)`.
    ///
    /// # Errors
    /// [`crate::Error::Database`], [`crate::Error::Corrupt`].
    pub fn get(&self, sender_id: &[u8], id_context: Option<&[u8]>) -> Result<Option<u64>> {
        let (has, ctx) = context_columns(id_context);
        let v: Option<i64> = self
            .shared
            .conn()
            .query_row(
                "SELECT value FROM oscore_sequences \
                 WHERE sender_id = ?1 AND has_context = ?2 AND id_context = ?3",
                params![sender_id, has, ctx],
                |r| r.get(0),
            )
            .optional()?;
        v.map(|v| to_u64(v, "sequence number")).transpose()
    }

    /// Persists `value` (fallible form with this crate's error).
    ///
    /// # Errors
    /// [`crate::Error::Database`], [`crate::Error::OutOfRange`].
    pub fn try_persist(
        &self,
        sender_id: &[u8],
        id_context: Option<&[u8]>,
        value: u64,
    ) -> Result<()> {
        let (has, ctx) = context_columns(id_context);
        self.shared.conn().execute(
            "INSERT INTO oscore_sequences (sender_id, has_context, id_context, value) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT(sender_id, has_context, id_context) \
             DO UPDATE SET value = max(value, excluded.value)",
            params![sender_id, has, ctx, to_i64(value, "sequence number")?],
        )?;
        Ok(())
    }
}

impl SequenceStore for SqliteSequenceStore {
    fn persist(
        &mut self,
        sender_id: &[u8],
        id_context: Option<&[u8]>,
        value: u64,
    ) -> Result<(), PersistError> {
        self.try_persist(sender_id, id_context, value).map_err(|e| {
            tracing::warn!(error = %e, "OSCORE sequence reservation not persisted");
            PersistError
        })
    }
}
