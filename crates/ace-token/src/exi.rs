//! Token expiration without a synchronized clock: the `exi` claim (RFC 9200 §5.10.3).
//!
//! An RS that receives a token with `exi` treats it as valid for `exi` seconds from the time it
//! *first* received it. To bound the memory for "tokens that have expired", the AS puts a `cti`
//! that is the RS identifier concatenated with a per-RS sequence number counting `exi` tokens,
//! and the RS keeps only the highest sequence number of an expired `exi` token, treating every
//! token with a sequence number not above it as expired.
//!
//! RFC 9200 does not fix the sequence number encoding. Here it is the unsigned big-endian
//! integer in the shortest form (at least one byte, at most eight) after the RS identifier, so
//! `cti = rs_id ‖ be(seq)`; the RS identifier length is known to the RS (its own id).
//!
//! The RS side is [`ExiTracker`]: sans-IO state the RS persists (RFC 9200 §6.6 warns that losing
//! it lets held-back tokens be replayed). The flow:
//!
//! ```text
//!  token ──Validator::validate(now)──► ValidatedToken (exi, cti checked against rs_id)
//!        ──ExiTracker::admit(&token, now)──► absolute expiry = first_seen + exi
//!  later: ExiTracker::expire(seq) when the RS drops the token ⇒ highest_expired = max(..)
//! ```

use alloc::vec::Vec;

use crate::error::Error;
use crate::time::UnixTime;

/// A `cti` of the RFC 9200 §5.10.3 form: RS identifier ‖ sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExiCti {
    /// The identifier of the RS the token is for.
    pub rs_id: Vec<u8>,
    /// The AS's sequence number of `exi` tokens for this RS.
    pub seq: u64,
}

impl ExiCti {
    /// A `cti` for `rs_id` and `seq`.
    #[must_use]
    pub fn new(rs_id: impl Into<Vec<u8>>, seq: u64) -> Self {
        Self {
            rs_id: rs_id.into(),
            seq,
        }
    }

    /// The `cti` bytes: `rs_id ‖ be(seq)` with the shortest big-endian form (≥ 1 byte).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let be = self.seq.to_be_bytes();
        let skip = be.iter().take(7).take_while(|b| **b == 0).count();
        let mut out = Vec::with_capacity(self.rs_id.len() + 8 - skip);
        out.extend_from_slice(&self.rs_id);
        out.extend(be.iter().skip(skip));
        out
    }

    /// Parses a `cti` for the RS `rs_id`.
    ///
    /// # Errors
    /// [`Error::ExiCtiMalformed`] when `cti` does not start with `rs_id`, or the rest is empty,
    /// longer than 8 bytes, or not in the shortest form.
    pub fn parse(cti: &[u8], rs_id: &[u8]) -> Result<Self, Error> {
        let seq_bytes = cti.strip_prefix(rs_id).ok_or(Error::ExiCtiMalformed)?;
        if seq_bytes.is_empty() || seq_bytes.len() > 8 {
            return Err(Error::ExiCtiMalformed);
        }
        if seq_bytes.len() > 1 && seq_bytes.first() == Some(&0) {
            return Err(Error::ExiCtiMalformed);
        }
        let seq = seq_bytes
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        Ok(Self {
            rs_id: rs_id.to_vec(),
            seq,
        })
    }
}

/// What [`ExiTracker::admit`] decided for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExiAdmission {
    /// The token's sequence number.
    pub seq: u64,
    /// When the token expires at this RS: first reception + `exi`.
    pub expires_at: UnixTime,
}

/// RS-side `exi` state: the highest sequence number of an expired `exi` token. Persist it
/// (e.g. after every [`ExiTracker::expire`]) and restore it at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExiTracker {
    highest_expired: Option<u64>,
}

impl ExiTracker {
    /// A tracker that has seen no expired token.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            highest_expired: None,
        }
    }

    /// Restores persisted state.
    #[must_use]
    pub const fn from_highest_expired(highest_expired: Option<u64>) -> Self {
        Self { highest_expired }
    }

    /// The highest expired sequence number (the value to persist).
    #[must_use]
    pub const fn highest_expired(&self) -> Option<u64> {
        self.highest_expired
    }

    /// Checks a token's sequence number when the RS first receives it at `first_seen`, and
    /// computes its expiry.
    ///
    /// # Errors
    /// [`Error::ExiSequenceExpired`] when `seq` is not above the highest expired one.
    pub fn admit_seq(
        &self,
        seq: u64,
        exi: u64,
        first_seen: UnixTime,
    ) -> Result<ExiAdmission, Error> {
        if let Some(h) = self.highest_expired
            && seq <= h
        {
            return Err(Error::ExiSequenceExpired {
                seq,
                highest_expired: h,
            });
        }
        Ok(ExiAdmission {
            seq,
            expires_at: first_seen.saturating_add(exi),
        })
    }

    /// [`ExiTracker::admit_seq`] for a validated token; `Ok(None)` for tokens without `exi`.
    ///
    /// # Errors
    /// [`Error::ExiCtiMalformed`] when the validator's policy had no RS identifier to parse the
    /// `cti` with; [`Error::ExiSequenceExpired`].
    pub fn admit(
        &self,
        token: &crate::ValidatedToken,
        first_seen: UnixTime,
    ) -> Result<Option<ExiAdmission>, Error> {
        let Some(exi) = token.claims().exi else {
            return Ok(None);
        };
        let cti = token.exi_cti().ok_or(Error::ExiCtiMalformed)?;
        self.admit_seq(cti.seq, exi, first_seen).map(Some)
    }

    /// Records that the token with sequence number `seq` has expired.
    pub fn expire(&mut self, seq: u64) {
        self.highest_expired = Some(self.highest_expired.map_or(seq, |h| h.max(seq)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cti_roundtrip_and_shortest_form() {
        for seq in [0u64, 1, 255, 256, 65_535, u64::MAX] {
            let c = ExiCti::new(b"rs1".to_vec(), seq);
            let bytes = c.encode();
            assert_eq!(ExiCti::parse(&bytes, b"rs1").unwrap(), c);
        }
        assert_eq!(ExiCti::new(b"rs".to_vec(), 0).encode(), b"rs\x00");
        assert_eq!(ExiCti::new(b"rs".to_vec(), 258).encode(), b"rs\x01\x02");
        assert_eq!(
            ExiCti::parse(b"rs\x00\x01", b"rs"),
            Err(Error::ExiCtiMalformed)
        );
        assert_eq!(ExiCti::parse(b"rx\x01", b"rs"), Err(Error::ExiCtiMalformed));
        assert_eq!(ExiCti::parse(b"rs", b"rs"), Err(Error::ExiCtiMalformed));
        assert_eq!(
            ExiCti::parse(b"rs123456789", b"rs"),
            Err(Error::ExiCtiMalformed)
        );
    }

    #[test]
    fn tracker_rejects_sequence_numbers_at_or_below_expired() {
        let mut t = ExiTracker::new();
        let a = t.admit_seq(5, 60, UnixTime(1000)).unwrap();
        assert_eq!(a.expires_at, UnixTime(1060));
        t.expire(5);
        t.expire(3);
        assert_eq!(t.highest_expired(), Some(5));
        assert_eq!(
            t.admit_seq(5, 60, UnixTime(2000)),
            Err(Error::ExiSequenceExpired {
                seq: 5,
                highest_expired: 5
            })
        );
        assert_eq!(
            t.admit_seq(4, 60, UnixTime(2000)),
            Err(Error::ExiSequenceExpired {
                seq: 4,
                highest_expired: 5
            })
        );
        assert!(t.admit_seq(6, 60, UnixTime(2000)).is_ok());
        assert_eq!(ExiTracker::from_highest_expired(Some(5)), t);
    }
}
