//! The OSCORE option value with the Group Flag (draft §5.1): RFC 8613 §6.1 plus bit 2.
//!
//! ```text
//!  0 1 2 3 4 5 6 7
//! +-+-+-+-+-+-+-+-+
//! |0 0|g|h|k|  n  |   g = Group Flag: 1 group mode, 0 pairwise mode
//! +-+-+-+-+-+-+-+-+
//! ```
//!
//! Everything but the Group Flag is ace-oscore's strict [`OscoreOption`] codec; a lone
//! Group Flag (`0x20`, nothing else present) is a valid value.

use alloc::vec::Vec;

use ace_oscore::OscoreOption;
use ace_oscore::consts::option;
use ace_oscore::message::Message;

use crate::consts::flags;
use crate::error::{DecodeError, Error, Result};

/// A decoded Group OSCORE option value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupOption {
    /// The Group Flag: `true` for group mode, `false` for pairwise mode.
    pub group: bool,
    /// Partial IV, kid context and kid (RFC 8613 §6.1).
    pub fields: OscoreOption,
}

impl GroupOption {
    /// Decodes an option value.
    ///
    /// # Errors
    /// [`Error::ReservedFlagBits`] for bits 0 or 1; [`Error::Malformed`] for the checks of
    /// [`OscoreOption::decode`].
    pub fn decode(value: &[u8]) -> Result<Self> {
        let Some((&first, rest)) = value.split_first() else {
            return Ok(Self::default());
        };
        if first & flags::RESERVED != 0 {
            return Err(Error::ReservedFlagBits);
        }
        let group = first & flags::GROUP != 0;
        let stripped = first & !flags::GROUP;
        if stripped == 0 {
            // Only the Group Flag (0x20): nothing may follow. A lone 0x00 must be sent
            // empty (RFC 8613 §6.1).
            if !group {
                return Err(DecodeError::NonCanonicalFlags.into());
            }
            if !rest.is_empty() {
                return Err(DecodeError::TrailingBytes.into());
            }
            return Ok(Self {
                group,
                fields: OscoreOption::default(),
            });
        }
        let mut v = Vec::with_capacity(value.len());
        v.push(stripped);
        v.extend_from_slice(rest);
        Ok(Self {
            group,
            fields: OscoreOption::decode(&v)?,
        })
    }

    /// Encodes the option value into `out` (appending).
    ///
    /// # Errors
    /// As [`OscoreOption::encode`].
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        self.fields.encode(out)?;
        if self.group {
            match out.get_mut(start) {
                Some(f) => *f |= flags::GROUP,
                None => out.push(flags::GROUP),
            }
        }
        Ok(())
    }

    /// [`GroupOption::encode`] into a new vector.
    ///
    /// # Errors
    /// As [`OscoreOption::encode`].
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.encode(&mut v)?;
        Ok(v)
    }
}

/// The raw value of the single OSCORE option of `msg`.
///
/// # Errors
/// [`DecodeError::MissingOscoreOption`] or [`DecodeError::RepeatedOscoreOption`].
pub fn raw_oscore_option(msg: &Message) -> Result<&[u8]> {
    let mut it = msg.options.iter().filter(|o| o.number == option::OSCORE);
    let first = it.next().ok_or(DecodeError::MissingOscoreOption)?;
    if it.next().is_some() {
        return Err(DecodeError::RepeatedOscoreOption.into());
    }
    Ok(&first.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn group_flag_round_trip_and_strictness() {
        let o = GroupOption::decode(&[0x39, 0x05, 0x03, 0x44, 0x61, 0x6c, 0x25]).unwrap();
        assert!(o.group);
        assert_eq!(o.fields.partial_iv.as_deref(), Some(&[5][..]));
        assert_eq!(o.fields.kid_context.as_deref(), Some(&b"Dal"[..]));
        assert_eq!(o.fields.kid.as_deref(), Some(&[0x25][..]));
        assert_eq!(
            o.to_vec().unwrap(),
            vec![0x39, 0x05, 0x03, 0x44, 0x61, 0x6c, 0x25]
        );
        let lone = GroupOption::decode(&[0x20]).unwrap();
        assert!(lone.group);
        assert_eq!(lone.to_vec().unwrap(), vec![0x20]);
        assert_eq!(GroupOption::decode(&[]).unwrap(), GroupOption::default());
        assert_eq!(GroupOption::default().to_vec().unwrap(), Vec::<u8>::new());
        assert_eq!(GroupOption::decode(&[0x40]), Err(Error::ReservedFlagBits));
        assert_eq!(GroupOption::decode(&[0x80]), Err(Error::ReservedFlagBits));
        assert_eq!(
            GroupOption::decode(&[0x00]),
            Err(Error::Malformed(DecodeError::NonCanonicalFlags))
        );
        assert_eq!(
            GroupOption::decode(&[0x20, 0x01]),
            Err(Error::Malformed(DecodeError::TrailingBytes))
        );
    }
}
