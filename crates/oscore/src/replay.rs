//! The replay window for requests (RFC 8613 §7.4, §3.2.2) and its recovery after a reboot
//! with Echo (RFC 8613 Appendix B.1.2, RFC 9175 §2.4 item 3).
//!
//! # Why
//! A request that is replayed could change state twice (e.g. unlock a door). RFC 8613 §7.4
//! requires a real window: keeping only the last Partial IV would accept every older message
//! (style.md anti-pattern 4). The window is a 64-bit bitmap below the highest Partial IV
//! received; anything older than the window is rejected. It is checked *before* decryption
//! and updated only *after* the message authenticated, in one `&mut` call, so the check and
//! the update are atomic (RFC 8613 §7.4).
//!
//! # After a reboot
//! A restored context does not know which Partial IVs it has seen, so the window starts in
//! [`ReplayWindow::NeedsEcho`]: every request is answered with a protected 4.01 carrying an
//! Echo challenge; the first request that echoes it back is provably fresh and its Partial IV
//! becomes the lower limit of the window (RFC 8613 Appendix B.1.2).

use alloc::vec::Vec;

use crate::consts::limits::REPLAY_WINDOW_SIZE;

/// Replay window state of a Recipient Context.
#[derive(Clone, PartialEq, Eq)]
pub enum ReplayWindow {
    /// Nothing received yet on a freshly derived context: any Partial IV is accepted.
    Empty,
    /// Normal operation.
    Active {
        /// The highest Partial IV received.
        highest: u64,
        /// Bit `i` set: `highest - i` was received (bit 0 is `highest`).
        bitmap: u64,
    },
    /// After a restore: requests are answered with an Echo challenge until one echoes it.
    NeedsEcho {
        /// The challenge to send and expect back in the Echo option.
        challenge: Vec<u8>,
    },
}

impl core::fmt::Debug for ReplayWindow {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Empty => f.write_str("Empty"),
            Self::Active { highest, bitmap } => {
                write!(f, "Active {{ highest: {highest}, bitmap: {bitmap:#x} }}")
            }
            Self::NeedsEcho { .. } => f.write_str("NeedsEcho"),
        }
    }
}

impl ReplayWindow {
    /// Whether `piv` may be accepted (not seen, not older than the window). In
    /// [`ReplayWindow::NeedsEcho`] nothing is known, so this returns `true` and the caller
    /// must run the Echo exchange.
    #[must_use]
    pub fn is_fresh(&self, piv: u64) -> bool {
        match self {
            Self::Empty | Self::NeedsEcho { .. } => true,
            Self::Active { highest, bitmap } => {
                if piv > *highest {
                    return true;
                }
                let age = highest - piv;
                age < REPLAY_WINDOW_SIZE && bitmap & (1u64 << age) == 0
            }
        }
    }

    /// Marks `piv` as received (call only after the message authenticated and
    /// [`ReplayWindow::is_fresh`] returned `true`).
    pub fn mark(&mut self, piv: u64) {
        match self {
            Self::Empty => {
                *self = Self::Active {
                    highest: piv,
                    bitmap: 1,
                }
            }
            // Appendix B.1.2: the Partial IV of the verified-fresh request is the lower limit of
            // the window: everything at or below it counts as seen.
            Self::NeedsEcho { .. } => {
                *self = Self::Active {
                    highest: piv,
                    bitmap: u64::MAX,
                }
            }
            Self::Active { highest, bitmap } => {
                if piv > *highest {
                    let shift = piv - *highest;
                    *bitmap = if shift >= REPLAY_WINDOW_SIZE {
                        0
                    } else {
                        *bitmap << shift
                    };
                    *bitmap |= 1;
                    *highest = piv;
                } else {
                    let age = *highest - piv;
                    if age < REPLAY_WINDOW_SIZE {
                        *bitmap |= 1u64 << age;
                    }
                }
            }
        }
    }

    /// Whether the Echo exchange is pending.
    #[must_use]
    pub const fn needs_echo(&self) -> bool {
        matches!(self, Self::NeedsEcho { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_accepts_out_of_order_and_rejects_repeats_and_old() {
        let mut w = ReplayWindow::Empty;
        for p in [5u64, 3, 10, 4, 70] {
            assert!(w.is_fresh(p), "{p}");
            w.mark(p);
        }
        for p in [5u64, 3, 10, 4, 70, 6] {
            assert!(!w.is_fresh(p) || p == 6, "{p}");
        }
        assert!(!w.is_fresh(6)); // 70 - 6 = 64: outside the window
        assert!(w.is_fresh(7));
        assert!(w.is_fresh(69));
        w.mark(69);
        assert!(!w.is_fresh(69));
        w.mark(1000);
        assert!(!w.is_fresh(70));
        assert!(w.is_fresh(999));
    }
}
