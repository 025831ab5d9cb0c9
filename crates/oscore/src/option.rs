//! The OSCORE option value (RFC 8613 §6.1, Figure 10): the compressed COSE header.
//!
//! ```text
//!  0 1 2 3 4 5 6 7 <------------- n bytes -------------->
//! +-+-+-+-+-+-+-+-+--------------------------------------
//! |0 0 0|h|k|  n  |       Partial IV (if any) ...
//! +-+-+-+-+-+-+-+-+--------------------------------------
//!  <- 1 byte -> <----- s bytes ------>
//! +------------+----------------------+------------------+
//! | s (if any) | kid context (if any) | kid (if any) ... |
//! +------------+----------------------+------------------+
//! ```
//!
//! Decoding is strict: reserved bits, `n` = 6 or 7, a Partial IV with a leading zero byte, a
//! lone `0x00` flags byte (which RFC 8613 requires to be sent as an empty value) and a
//! truncated kid context are all [`DecodeError`]s.

use alloc::vec::Vec;

use crate::consts::{flags, limits};
use crate::error::DecodeError;
use crate::message::Reader;

/// A decoded OSCORE option value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OscoreOption {
    /// The Partial IV bytes as sent (1 to 5 bytes, minimal encoding), if present.
    pub partial_iv: Option<Vec<u8>>,
    /// The kid context, if present.
    pub kid_context: Option<Vec<u8>>,
    /// The kid, if present (an empty kid is present and empty, as in RFC 8613 C.4).
    pub kid: Option<Vec<u8>>,
}

impl OscoreOption {
    /// Decodes an option value.
    ///
    /// # Errors
    /// See the module documentation.
    pub fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(value);
        let Ok(f) = r.u8() else {
            return Ok(Self::default());
        };
        if f & flags::RESERVED != 0 {
            return Err(DecodeError::ReservedFlagBits);
        }
        if f == 0 {
            return Err(DecodeError::NonCanonicalFlags);
        }
        let n = usize::from(f & flags::PIV_LEN_MASK);
        if n > limits::MAX_PARTIAL_IV_LEN {
            return Err(DecodeError::PartialIvTooLong(n));
        }
        let partial_iv = if n > 0 {
            let piv = r.take(n)?;
            if n > 1 && piv.first() == Some(&0) {
                return Err(DecodeError::NonMinimalPartialIv);
            }
            Some(piv.to_vec())
        } else {
            None
        };
        let kid_context = if f & flags::KID_CONTEXT != 0 {
            let s = usize::from(r.u8()?);
            Some(r.take(s)?.to_vec())
        } else {
            None
        };
        let kid = if f & flags::KID != 0 {
            Some(r.rest().to_vec())
        } else {
            None
        };
        if !r.is_empty() {
            // bytes after the header with k = 0: nothing may follow.
            return Err(DecodeError::TrailingBytes);
        }
        Ok(Self {
            partial_iv,
            kid_context,
            kid,
        })
    }

    /// Encodes the option value into `out` (appending). An option with nothing set encodes
    /// as the empty value.
    ///
    /// # Errors
    /// [`DecodeError::PartialIvTooLong`] for a Partial IV longer than 5 bytes,
    /// [`DecodeError::NonMinimalPartialIv`] for an empty or zero-led one,
    /// [`DecodeError::Truncated`] for a kid context longer than 255 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let mut f = 0u8;
        if let Some(piv) = &self.partial_iv {
            if piv.len() > limits::MAX_PARTIAL_IV_LEN {
                return Err(DecodeError::PartialIvTooLong(piv.len()));
            }
            if piv.is_empty() || (piv.len() > 1 && piv.first() == Some(&0)) {
                return Err(DecodeError::NonMinimalPartialIv);
            }
            f |= piv.len() as u8;
        }
        if self.kid_context.is_some() {
            f |= flags::KID_CONTEXT;
        }
        if self.kid.is_some() {
            f |= flags::KID;
        }
        if f == 0 {
            return Ok(());
        }
        out.push(f);
        if let Some(piv) = &self.partial_iv {
            out.extend_from_slice(piv);
        }
        if let Some(ctx) = &self.kid_context {
            let s = u8::try_from(ctx.len()).map_err(|_| DecodeError::Truncated)?;
            out.push(s);
            out.extend_from_slice(ctx);
        }
        if let Some(kid) = &self.kid {
            out.extend_from_slice(kid);
        }
        Ok(())
    }

    /// [`OscoreOption::encode`] into a new vector.
    ///
    /// # Errors
    /// As [`OscoreOption::encode`].
    pub fn to_vec(&self) -> Result<Vec<u8>, DecodeError> {
        let mut v = Vec::new();
        self.encode(&mut v)?;
        Ok(v)
    }

    /// The Partial IV as a number (at most 5 bytes, so it fits a `u64`).
    #[must_use]
    pub fn partial_iv_u64(&self) -> Option<u64> {
        self.partial_iv.as_deref().map(piv_to_u64)
    }
}

/// The minimal big-endian encoding of a sequence number (0 → `[0x00]`, RFC 8613 §6.1).
#[must_use]
pub fn encode_partial_iv(seq: u64) -> Vec<u8> {
    let bytes = seq.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    bytes.iter().skip(skip).copied().collect()
}

/// Big-endian bytes to a number; callers pass at most 5 bytes (checked on decode).
pub(crate) fn piv_to_u64(piv: &[u8]) -> u64 {
    piv.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn rfc_examples() {
        // RFC 8613 C.4, C.5, C.6, C.8
        let o = OscoreOption::decode(&[0x09, 0x14]).unwrap();
        assert_eq!(o.partial_iv.as_deref(), Some(&[0x14][..]));
        assert_eq!(o.kid.as_deref(), Some(&[][..]));
        let o = OscoreOption::decode(&[0x09, 0x14, 0x00]).unwrap();
        assert_eq!(o.kid.as_deref(), Some(&[0][..]));
        let v = hex::decode("19140837cbf3210017a2d3").unwrap();
        let o = OscoreOption::decode(&v).unwrap();
        assert_eq!(
            o.kid_context.as_deref(),
            Some(&hex::decode("37cbf3210017a2d3").unwrap()[..])
        );
        assert_eq!(o.to_vec().unwrap(), v);
        assert_eq!(OscoreOption::decode(&[]).unwrap(), OscoreOption::default());
        assert_eq!(OscoreOption::default().to_vec().unwrap(), Vec::<u8>::new());
        let o = OscoreOption::decode(&[0x01, 0x00]).unwrap();
        assert_eq!(o.partial_iv_u64(), Some(0));
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(
            OscoreOption::decode(&[0x00]),
            Err(DecodeError::NonCanonicalFlags)
        );
        assert_eq!(
            OscoreOption::decode(&[0x20]),
            Err(DecodeError::ReservedFlagBits)
        );
        assert_eq!(
            OscoreOption::decode(&[0x80]),
            Err(DecodeError::ReservedFlagBits)
        );
        assert_eq!(
            OscoreOption::decode(&[0x06, 1, 2, 3, 4, 5, 6]),
            Err(DecodeError::PartialIvTooLong(6))
        );
        assert_eq!(
            OscoreOption::decode(&[0x07]),
            Err(DecodeError::PartialIvTooLong(7))
        );
        assert_eq!(
            OscoreOption::decode(&[0x02, 0x00, 0x01]),
            Err(DecodeError::NonMinimalPartialIv)
        );
        assert_eq!(
            OscoreOption::decode(&[0x02, 0x01]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            OscoreOption::decode(&[0x10, 0x05, 1]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            OscoreOption::decode(&[0x01, 0x05, 1]),
            Err(DecodeError::TrailingBytes)
        );
        let long = OscoreOption {
            partial_iv: Some(vec![1; 6]),
            ..Default::default()
        };
        assert_eq!(long.to_vec(), Err(DecodeError::PartialIvTooLong(6)));
        assert_eq!(encode_partial_iv(0), vec![0]);
        assert_eq!(encode_partial_iv(0x14), vec![0x14]);
        assert_eq!(encode_partial_iv((1 << 40) - 1), vec![0xff; 5]);
    }
}
