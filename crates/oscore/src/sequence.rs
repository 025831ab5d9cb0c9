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
/// transaction). Keyed by Sender ID and ID Context.
pub trait SequenceStore {
    /// Persists `value` for the context with `sender_id` / `id_context`.
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
}

/// A write to a [`SequenceStore`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sequence-number reservation not persisted")]
pub struct PersistError;

/// An in-memory [`SequenceStore`] (tests; it survives a context being dropped, not a process
/// exit).
#[derive(Debug, Clone, Default)]
pub struct MemorySequenceStore {
    values: BTreeMap<(Vec<u8>, Option<Vec<u8>>), u64>,
}

impl MemorySequenceStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The last persisted value for a context, if any.
    #[must_use]
    pub fn get(&self, sender_id: &[u8], id_context: Option<&[u8]>) -> Option<u64> {
        self.values
            .get(&(sender_id.to_vec(), id_context.map(<[u8]>::to_vec)))
            .copied()
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
            .insert((sender_id.to_vec(), id_context.map(<[u8]>::to_vec)), value);
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
}
