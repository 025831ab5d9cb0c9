//! CBOR (`application/aif+cbor`) and JSON (`application/aif+json`) codecs for any
//! [`Aif<T, P>`] whose elements implement [`AifElement`] (RFC 9237 §3, §5).
//!
//! # Strictness
//! Received AIF is untrusted input. Decoding checks, in this order, and stops at the first
//! failure with its own [`Error`] variant:
//!
//! 1. size: longer than [`DecodeLimits::max_bytes`] → [`Error::InputTooLarge`], before
//!    parsing anything;
//! 2. syntax: not well-formed → [`Error::MalformedCbor`] / [`Error::MalformedJson`], cut
//!    short → [`Error::Truncated`], nested deeper than [`DecodeLimits::max_depth`] →
//!    [`Error::NestingTooDeep`], bytes after the value → [`Error::TrailingBytes`];
//! 3. shape: not an array → [`Error::NotAnArray`], more than [`DecodeLimits::max_entries`]
//!    entries → [`Error::TooManyEntries`], an entry that is not a 2-array →
//!    [`Error::EntryNotPair`];
//! 4. per entry (JSON): an integer above 2^53 - 1 → [`Error::JsonIntegerTooLarge`];
//! 5. per entry: the Toid's and then the Tperm's own checks ([`AifElement::from_item`]);
//! 6. a Toid listed twice → [`Error::DuplicateToid`].
//!
//! Nothing is dropped silently and nothing panics. CBOR need not be deterministically
//! encoded (indefinite lengths and non-minimal heads are read), but CBOR tags, bignums,
//! floats and simple values are never taken for the text strings and unsigned integers the
//! instances expect.

use alloc::vec::Vec;

use serde::Deserialize;

use crate::consts::json::MAX_SAFE_INTEGER;
use crate::error::{Error, Position, Result};
use crate::item::{AifElement, Item};
use crate::model::{Aif, Entry, ObjectId, PermissionSet};

/// Bounds on untrusted input, checked while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DecodeLimits {
    /// Longest accepted input in bytes.
    pub max_bytes: usize,
    /// Most entries in the top-level array.
    pub max_entries: usize,
    /// Deepest nesting of arrays, maps and CBOR tags; the top-level array is level 1, an
    /// entry level 2, an AIF-MQTT permission array level 3. Values above
    /// [`DecodeLimits::MAX_DEPTH_CEILING`] act as the ceiling.
    pub max_depth: usize,
}

impl DecodeLimits {
    /// The defaults: 64 KiB, 1024 entries, depth 8.
    pub const DEFAULT: DecodeLimits = DecodeLimits {
        max_bytes: 64 * 1024,
        max_entries: 1024,
        max_depth: 8,
    };

    /// Highest honoured [`DecodeLimits::max_depth`] (serde_json refuses more than 128
    /// levels on its own; the ceiling keeps both encodings reporting the same error).
    pub const MAX_DEPTH_CEILING: usize = 100;

    fn depth(&self) -> usize {
        self.max_depth.min(Self::MAX_DEPTH_CEILING)
    }
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl<T, P> Aif<T, P>
where
    T: ObjectId + AifElement,
    P: PermissionSet + AifElement,
{
    /// Decodes `application/aif+cbor` with [`DecodeLimits::DEFAULT`].
    ///
    /// # Errors
    /// The [`Error`] of the first failed check (see the [module docs](crate::codec)).
    pub fn from_cbor(bytes: &[u8]) -> Result<Self> {
        Self::from_cbor_with(bytes, &DecodeLimits::DEFAULT)
    }

    /// Decodes `application/aif+cbor` with the given limits.
    ///
    /// # Errors
    /// The [`Error`] of the first failed check (see the [module docs](crate::codec)).
    pub fn from_cbor_with(bytes: &[u8], limits: &DecodeLimits) -> Result<Self> {
        check_size(bytes, limits)?;
        check_cbor_entry_count(bytes, limits)?;
        let top = parse_cbor(bytes, limits)?;
        from_top(top, limits, false)
    }

    /// Encodes as `application/aif+cbor`, merging entries with equal Toids first
    /// (RFC 9237 §3). Definite lengths and minimal integer heads, as in RFC 9237 §3.
    ///
    /// # Errors
    /// [`Error::EmptyPermissions`] (or another element error) if an element has no valid
    /// encoding; [`Error::CborEncode`] is not expected.
    pub fn to_cbor(&self) -> Result<Vec<u8>> {
        let item = self.to_top_item(false)?;
        let mut out = Vec::new();
        ciborium::ser::into_writer(&item, &mut out).map_err(|_| Error::CborEncode)?;
        Ok(out)
    }

    /// Decodes `application/aif+json` with [`DecodeLimits::DEFAULT`].
    ///
    /// # Errors
    /// The [`Error`] of the first failed check (see the [module docs](crate::codec)),
    /// including [`Error::JsonIntegerTooLarge`] for integers above 2^53 - 1.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        Self::from_json_with(bytes, &DecodeLimits::DEFAULT)
    }

    /// Decodes `application/aif+json` with the given limits.
    ///
    /// # Errors
    /// The [`Error`] of the first failed check (see the [module docs](crate::codec)).
    pub fn from_json_with(bytes: &[u8], limits: &DecodeLimits) -> Result<Self> {
        check_size(bytes, limits)?;
        check_json_depth(bytes, limits.depth())?;
        let top = parse_json(bytes)?;
        from_top(top, limits, true)
    }

    /// Encodes as compact `application/aif+json` (no white space), merging entries with
    /// equal Toids first (RFC 9237 §3).
    ///
    /// # Errors
    /// [`Error::JsonIntegerTooLarge`] if a number exceeds 2^53 - 1 (RFC 9237 §3 note,
    /// RFC 7493 §2.2); element errors as for [`Aif::to_cbor`].
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let item = self.to_top_item(true)?;
        serde_json::to_vec(&item).map_err(|_| Error::JsonEncode)
    }

    /// [`Aif::to_json`] as a `String`.
    ///
    /// # Errors
    /// As for [`Aif::to_json`].
    pub fn to_json_string(&self) -> Result<alloc::string::String> {
        let item = self.to_top_item(true)?;
        serde_json::to_string(&item).map_err(|_| Error::JsonEncode)
    }

    /// The bytes to carry in an ACE `scope` (RFC 9200 §5.8.1: a byte string): the CBOR
    /// encoding of the AIF array (checklist AIF-23; as RFC 9594 §3.1 does with
    /// `scope = << [ + scope_entry ] >>`). The caller wraps them in a CBOR byte string.
    ///
    /// # Errors
    /// As for [`Aif::to_cbor`].
    pub fn to_scope_bytes(&self) -> Result<Vec<u8>> {
        self.to_cbor()
    }

    /// Reads an AIF value from the content of an ACE `scope` byte string (AIF-23), with
    /// [`DecodeLimits::DEFAULT`].
    ///
    /// # Errors
    /// As for [`Aif::from_cbor`].
    pub fn from_scope_bytes(scope: &[u8]) -> Result<Self> {
        Self::from_cbor(scope)
    }

    fn to_top_item(&self, json: bool) -> Result<Item> {
        let merged;
        let entries = if self.first_duplicate().is_some() {
            merged = self.merged();
            &merged.entries
        } else {
            &self.entries
        };
        let mut items = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let toid = entry
                .toid
                .to_item()
                .map_err(|e| Error::from_element(index, Position::Toid, e))?;
            let tperm = entry
                .tperm
                .to_item()
                .map_err(|e| Error::from_element(index, Position::Tperm, e))?;
            let pair = Item::Array(alloc::vec![toid, tperm]);
            if json && pair.has_uint_above(MAX_SAFE_INTEGER) {
                return Err(Error::JsonIntegerTooLarge { index });
            }
            items.push(pair);
        }
        Ok(Item::Array(items))
    }
}

fn check_size(bytes: &[u8], limits: &DecodeLimits) -> Result<()> {
    if bytes.len() > limits.max_bytes {
        return Err(Error::InputTooLarge {
            len: bytes.len(),
            max: limits.max_bytes,
        });
    }
    Ok(())
}

/// Refuses a definite-length top-level CBOR array that announces more entries than allowed
/// before anything is parsed (indefinite lengths are counted after parsing).
fn check_cbor_entry_count(bytes: &[u8], limits: &DecodeLimits) -> Result<()> {
    let Some((&first, rest)) = bytes.split_first() else {
        return Ok(());
    };
    if first >> 5 != 4 {
        return Ok(());
    }
    let extra = match first & 0x1f {
        n @ 0..=23 => Some(u64::from(n)),
        24 => read_be(rest, 1),
        25 => read_be(rest, 2),
        26 => read_be(rest, 4),
        27 => read_be(rest, 8),
        _ => None,
    };
    match extra {
        Some(n) if n > limits.max_entries as u64 => Err(Error::TooManyEntries {
            max: limits.max_entries,
        }),
        _ => Ok(()),
    }
}

fn read_be(bytes: &[u8], len: usize) -> Option<u64> {
    let slice = bytes.get(..len)?;
    Some(slice.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

fn parse_cbor(bytes: &[u8], limits: &DecodeLimits) -> Result<Item> {
    let mut reader = bytes;
    let max = limits.depth();
    let item: Item =
        ciborium::de::from_reader_with_recursion_limit(&mut reader, max).map_err(|e| match e {
            ciborium::de::Error::Io(_) => Error::Truncated,
            ciborium::de::Error::Syntax(offset) => Error::MalformedCbor {
                offset: Some(offset),
            },
            ciborium::de::Error::Semantic(offset, _) => Error::MalformedCbor { offset },
            ciborium::de::Error::RecursionLimitExceeded => Error::NestingTooDeep { max },
        })?;
    if !reader.is_empty() {
        return Err(Error::TrailingBytes {
            offset: bytes.len() - reader.len(),
            count: reader.len(),
        });
    }
    Ok(item)
}

/// Counts the nesting of `[`/`{` outside strings, so that deep input is refused with
/// [`Error::NestingTooDeep`] before serde_json recurses.
fn check_json_depth(bytes: &[u8], max: usize) -> Result<()> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(Error::NestingTooDeep { max });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn parse_json(bytes: &[u8]) -> Result<Item> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let item = Item::deserialize(&mut de).map_err(map_json_error)?;
    if de.end().is_err() {
        // Find where the value ended: parse it once more, this time as a stream.
        let mut stream =
            serde_json::Deserializer::from_slice(bytes).into_iter::<serde::de::IgnoredAny>();
        let _first = stream.next();
        let offset = stream.byte_offset();
        return Err(Error::TrailingBytes {
            offset,
            count: bytes.len().saturating_sub(offset),
        });
    }
    Ok(item)
}

fn map_json_error(e: serde_json::Error) -> Error {
    match e.classify() {
        serde_json::error::Category::Eof => Error::Truncated,
        _ => Error::MalformedJson {
            line: e.line(),
            column: e.column(),
        },
    }
}

fn from_top<T, P>(top: Item, limits: &DecodeLimits, json: bool) -> Result<Aif<T, P>>
where
    T: ObjectId + AifElement,
    P: PermissionSet + AifElement,
{
    let Item::Array(items) = top else {
        return Err(Error::NotAnArray);
    };
    if items.len() > limits.max_entries {
        return Err(Error::TooManyEntries {
            max: limits.max_entries,
        });
    }
    let mut entries = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let Item::Array(pair) = item else {
            return Err(Error::EntryNotPair { index });
        };
        let mut pair = pair.into_iter();
        let (Some(toid), Some(tperm), None) = (pair.next(), pair.next(), pair.next()) else {
            return Err(Error::EntryNotPair { index });
        };
        if json && (toid.has_uint_above(MAX_SAFE_INTEGER) || tperm.has_uint_above(MAX_SAFE_INTEGER))
        {
            return Err(Error::JsonIntegerTooLarge { index });
        }
        let toid = T::from_item(toid).map_err(|e| Error::from_element(index, Position::Toid, e))?;
        let tperm =
            P::from_item(tperm).map_err(|e| Error::from_element(index, Position::Tperm, e))?;
        entries.push(Entry { toid, tperm });
    }
    let aif = Aif { entries };
    if let Some((first, index)) = aif.first_duplicate() {
        return Err(Error::DuplicateToid { index, first });
    }
    Ok(aif)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_depth_scan_ignores_brackets_in_strings_and_escapes() {
        assert_eq!(check_json_depth(br#"[["a\"[[[[",1]]"#, 2), Ok(()));
        assert_eq!(check_json_depth(br#"[["\\",[[1]]]]"#, 4), Ok(()));
        assert_eq!(
            check_json_depth(br#"[["\\",[[1]]]]"#, 3),
            Err(Error::NestingTooDeep { max: 3 })
        );
        assert_eq!(
            check_json_depth(b"[{\"a\":[]}]", 2),
            Err(Error::NestingTooDeep { max: 2 })
        );
        // Unbalanced closers never underflow.
        assert_eq!(check_json_depth(b"]]]][", 1), Ok(()));
    }

    #[test]
    fn cbor_entry_count_peek() {
        let limits = DecodeLimits {
            max_entries: 5,
            ..DecodeLimits::DEFAULT
        };
        let too_many = Err(Error::TooManyEntries { max: 5 });
        assert_eq!(check_cbor_entry_count(&[0x85], &limits), Ok(()));
        assert_eq!(check_cbor_entry_count(&[0x86], &limits), too_many);
        assert_eq!(check_cbor_entry_count(&[0x98, 0x06], &limits), too_many);
        assert_eq!(check_cbor_entry_count(&[0x99, 0x00, 0x05], &limits), Ok(()));
        assert_eq!(
            check_cbor_entry_count(&[0x9a, 0, 0, 1, 0], &limits),
            too_many
        );
        // Indefinite length, truncated heads and non-arrays are left to the parser.
        assert_eq!(check_cbor_entry_count(&[0x9f], &limits), Ok(()));
        assert_eq!(check_cbor_entry_count(&[0x9b, 0xff], &limits), Ok(()));
        assert_eq!(check_cbor_entry_count(&[0xa9], &limits), Ok(()));
        assert_eq!(check_cbor_entry_count(&[], &limits), Ok(()));
    }
}
