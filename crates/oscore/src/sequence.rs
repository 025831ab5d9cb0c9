//! Sender Sequence Numbers and their crash-safe persistence (RFC 8613 §7.2.1, Appendix B.1.1).
//!
//! # Why
//! An AEAD nonce must never repeat under one key. OSCORE nonces are built from the Sender
//! Sequence Number, which lives in RAM; if a device reboots and starts counting from an old
//! value, it reuses nonces and the AEAD (CCM, GCM, ChaCha20-Poly1305) loses confidentiality
//! and integrity.
//!
//! # How (the effect)
//! The counter only hands out numbers inside a *reserved window* `[next, reserved_until)`.
//! When the window is used up, the call that takes the next number also moves
//! `reserved_until` forward by K ([`SequenceConfig::reservation_block`]) and returns a
//! [`Reservation`] effect. **The shell must persist `Reservation::persist` durably before the
//! message protected with that number leaves the device.** After a crash the context is
//! restored from the last persisted value P with `next = P`: every number that ever left
//! the device was below a value that had already been persisted, so it is below P, and every
//! later Partial IV is fresh. This is RFC 8613 Appendix B.1.1 with the write done *before*
//! the first number of each block is used, so F = 0 is safe; numbers that were reserved but
//! never used are skipped, which is harmless.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::consts::limits;
use crate::error::{Error, Result};

/// A durable write the shell must perform before sending the message it came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "persist the reservation before sending, or nonces may repeat after a crash"]
pub struct Reservation {
    /// The value to store; restore the context with it after a restart.
    pub persist: u64,
}

/// Sequence-number persistence configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceConfig {
    /// K of RFC 8613 Appendix B.1.1: numbers reserved per durable write (at least 1).
    pub reservation_block: u64,
}

impl Default for SequenceConfig {
    fn default() -> Self {
        Self {
            reservation_block: limits::DEFAULT_RESERVATION_BLOCK,
        }
    }
}

/// The Sender Sequence Number with its reserved window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderSequence {
    next: u64,
    reserved_until: u64,
    block: u64,
}

impl SenderSequence {
    /// Starts at `next` with nothing reserved yet (a fresh context: 0; a restored one: the
    /// last persisted [`Reservation::persist`]).
    #[must_use]
    pub fn starting_at(next: u64, config: SequenceConfig) -> Self {
        Self {
            next,
            reserved_until: next,
            block: config.reservation_block.max(1),
        }
    }

    /// The number the next call to [`SenderSequence::take`] returns.
    #[must_use]
    pub const fn next(&self) -> u64 {
        self.next
    }

    /// The end (exclusive) of the reserved window.
    #[must_use]
    pub const fn reserved_until(&self) -> u64 {
        self.reserved_until
    }

    /// Takes the next number; returns a [`Reservation`] when a new block had to be reserved.
    ///
    /// # Errors
    /// [`Error::SequenceNumberExhausted`] beyond 2^40 - 1 (RFC 8613 §7.2.1).
    pub fn take(&mut self) -> Result<(u64, Option<Reservation>)> {
        let n = self.next;
        if n > limits::MAX_SEQUENCE_NUMBER {
            return Err(Error::SequenceNumberExhausted);
        }
        let mut reservation = None;
        if n >= self.reserved_until {
            self.reserved_until = n
                .saturating_add(self.block)
                .min(limits::MAX_SEQUENCE_NUMBER + 1);
            reservation = Some(Reservation {
                persist: self.reserved_until,
            });
        }
        self.next = n + 1;
        Ok((n, reservation))
    }

    /// Reserves the next block now (e.g. when idle), so that the next messages need no
    /// write. Returns the value to persist.
    pub fn reserve_ahead(&mut self) -> Reservation {
        self.reserved_until = self
            .reserved_until
            .max(self.next)
            .saturating_add(self.block)
            .min(limits::MAX_SEQUENCE_NUMBER + 1);
        Reservation {
            persist: self.reserved_until,
        }
    }
}

/// Durable storage of sequence-number reservations, for shells that must persist inside a
/// synchronous call (the ace-coap `SecurityLayer` has no effect outlet). Implementations
/// must return only after the value is durable (e.g. after `fsync` or a committed
/// transaction).
///
/// Records are keyed by the full identity of a context: Sender ID, Recipient ID and ID
/// Context ([`SequenceStore::persist_context`], which the ace-coap layer and client call).
/// Keying by Sender ID and ID Context alone ([`SequenceStore::persist`], the original
/// method) is not enough for a server: all of its contexts share its own Sender ID, so two
/// peers would share one record and a restart could restore a number below one already
/// used. The default `persist_context` falls back to `persist` (dropping the Recipient ID),
/// so existing implementations keep their behaviour; stores used by a server with several
/// peers must override it.
pub trait SequenceStore {
    /// Persists `value` for the context with `sender_id` / `id_context` (any Recipient ID).
    ///
    /// # Errors
    /// [`PersistError`] when the write did not become durable; the caller then drops the
    /// message instead of sending it.
    fn persist(
        &mut self,
        sender_id: &[u8],
        id_context: Option<&[u8]>,
        value: u64,
    ) -> Result<(), PersistError>;

    /// Persists `value` for the context with `sender_id` / `recipient_id` / `id_context`.
    /// The default calls [`SequenceStore::persist`] without the Recipient ID.
    ///
    /// # Errors
    /// As [`SequenceStore::persist`].
    fn persist_context(
        &mut self,
        sender_id: &[u8],
        recipient_id: &[u8],
        id_context: Option<&[u8]>,
        value: u64,
    ) -> Result<(), PersistError> {
        let _ = recipient_id;
        self.persist(sender_id, id_context, value)
    }
}

/// A write to a [`SequenceStore`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sequence-number reservation not persisted")]
pub struct PersistError;

/// The key of a record: Sender ID, Recipient ID (`None` for records written through
/// [`SequenceStore::persist`]) and ID Context.
type RecordKey = (Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);

/// An in-memory [`SequenceStore`] (tests; it survives a context being dropped, not a process
/// exit). Keyed by the full context identity (see [`SequenceStore`]).
#[derive(Debug, Clone, Default)]
pub struct MemorySequenceStore {
    values: BTreeMap<RecordKey, u64>,
}

fn record_key(
    sender_id: &[u8],
    recipient_id: Option<&[u8]>,
    id_context: Option<&[u8]>,
) -> RecordKey {
    (
        sender_id.to_vec(),
        recipient_id.map(<[u8]>::to_vec),
        id_context.map(<[u8]>::to_vec),
    )
}

impl MemorySequenceStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest value persisted for any context with `sender_id` / `id_context`
    /// (whatever its Recipient ID), if any. A safe restore value for every such context.
    #[must_use]
    pub fn get(&self, sender_id: &[u8], id_context: Option<&[u8]>) -> Option<u64> {
        self.values
            .iter()
            .filter(|((s, _, c), _)| s.as_slice() == sender_id && c.as_deref() == id_context)
            .map(|(_, v)| *v)
            .max()
    }

    /// The value to restore the context `sender_id` / `recipient_id` / `id_context` from:
    /// its own record, or a record written without Recipient ID (through
    /// [`SequenceStore::persist`]) if that is higher.
    #[must_use]
    pub fn get_context(
        &self,
        sender_id: &[u8],
        recipient_id: &[u8],
        id_context: Option<&[u8]>,
    ) -> Option<u64> {
        let own = self
            .values
            .get(&record_key(sender_id, Some(recipient_id), id_context))
            .copied();
        let legacy = self
            .values
            .get(&record_key(sender_id, None, id_context))
            .copied();
        own.max(legacy)
    }
}

impl SequenceStore for MemorySequenceStore {
    fn persist(
        &mut self,
        sender_id: &[u8],
        id_context: Option<&[u8]>,
        value: u64,
    ) -> Result<(), PersistError> {
        self.values
            .insert(record_key(sender_id, None, id_context), value);
        Ok(())
    }

    fn persist_context(
        &mut self,
        sender_id: &[u8],
        recipient_id: &[u8],
        id_context: Option<&[u8]>,
        value: u64,
    ) -> Result<(), PersistError> {
        self.values
            .insert(record_key(sender_id, Some(recipient_id), id_context), value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_in_blocks_and_stops_at_the_limit() {
        let mut s = SenderSequence::starting_at(
            0,
            SequenceConfig {
                reservation_block: 3,
            },
        );
        assert_eq!(s.take().unwrap(), (0, Some(Reservation { persist: 3 })));
        assert_eq!(s.take().unwrap(), (1, None));
        assert_eq!(s.take().unwrap(), (2, None));
        assert_eq!(s.take().unwrap(), (3, Some(Reservation { persist: 6 })));
        let mut s =
            SenderSequence::starting_at(limits::MAX_SEQUENCE_NUMBER, SequenceConfig::default());
        let (n, r) = s.take().unwrap();
        assert_eq!(n, limits::MAX_SEQUENCE_NUMBER);
        assert_eq!(
            r,
            Some(Reservation {
                persist: limits::MAX_SEQUENCE_NUMBER + 1
            })
        );
        assert_eq!(s.take(), Err(Error::SequenceNumberExhausted));
        assert_eq!(s.take(), Err(Error::SequenceNumberExhausted));
    }

    #[test]
    fn memory_store_keys_by_the_full_context_identity() {
        let mut m = MemorySequenceStore::new();
        m.persist_context(b"rs", b"c1", None, 40).unwrap();
        m.persist_context(b"rs", b"c2", None, 7).unwrap();
        assert_eq!(m.get_context(b"rs", b"c1", None), Some(40));
        assert_eq!(m.get_context(b"rs", b"c2", None), Some(7));
        assert_eq!(m.get_context(b"rs", b"c3", None), None);
        assert_eq!(m.get_context(b"rs", b"c1", Some(b"x")), None);
        // The old key: the highest of all Recipient IDs; a legacy record is a lower bound.
        assert_eq!(m.get(b"rs", None), Some(40));
        m.persist(b"rs", None, 100).unwrap();
        assert_eq!(m.get_context(b"rs", b"c2", None), Some(100));
        assert_eq!(m.get(b"rs", None), Some(100));
        // A store that only implements `persist` keeps its behaviour.
        struct Old(Vec<(Vec<u8>, u64)>);
        impl SequenceStore for Old {
            fn persist(&mut self, s: &[u8], _: Option<&[u8]>, v: u64) -> Result<(), PersistError> {
                self.0.push((s.to_vec(), v));
                Ok(())
            }
        }
        let mut o = Old(Vec::new());
        o.persist_context(b"rs", b"c1", None, 5).unwrap();
        assert_eq!(o.0, alloc::vec![(b"rs".to_vec(), 5)]);
    }
}
