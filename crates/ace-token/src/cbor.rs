//! Small CBOR helpers over `coset::cbor` (ciborium).

use alloc::vec::Vec;

use coset::cbor::value::Value;

use crate::error::{DecodeError, Error};

/// Nesting limit for untrusted input (claims sets and COSE messages are shallow).
const RECURSION_LIMIT: usize = 32;

/// Decodes exactly one CBOR item from `bytes`.
///
/// # Errors
/// [`Error::TrailingBytes`] when bytes follow the item; [`Error::Malformed`] otherwise.
pub(crate) fn decode_one(bytes: &[u8]) -> Result<Value, Error> {
    let mut rest = bytes;
    let v = coset::cbor::de::from_reader_with_recursion_limit(&mut rest, RECURSION_LIMIT).map_err(
        |e| {
            Error::Malformed(match e {
                coset::cbor::de::Error::Io(_) => DecodeError::Truncated,
                coset::cbor::de::Error::RecursionLimitExceeded => DecodeError::TooDeep,
                _ => DecodeError::InvalidCbor,
            })
        },
    )?;
    if rest.is_empty() {
        let mut v = v;
        normalize(&mut v);
        Ok(v)
    } else {
        Err(Error::TrailingBytes)
    }
}

/// Rewrites, in place, the values whose CBOR decoding depends on their wire form so that
/// encoding a decoded value and decoding it again gives the same value.
///
/// The one such case in `ciborium` is a bignum (tag 2 or 3) over an indefinite-length byte
/// string: the definite form decodes to an integer when it fits, the indefinite form stays a
/// tag. Decoders that keep unknown values (claims, parameters) call this once, so that what
/// they re-encode is a fixed point.
pub fn normalize(v: &mut Value) {
    match v {
        Value::Tag(tag @ (2 | 3), inner) => {
            if let Value::Bytes(b) = inner.as_ref() {
                let mut enc = Vec::new();
                let definite = Value::Tag(*tag, alloc::boxed::Box::new(Value::Bytes(b.clone())));
                // Re-reading the definite form applies ciborium's own bignum rule.
                if b.len() <= 16
                    && coset::cbor::ser::into_writer(&definite, &mut enc).is_ok()
                    && let Ok(again) = coset::cbor::de::from_reader::<Value, _>(enc.as_slice())
                {
                    *v = again;
                }
            } else {
                normalize(inner);
            }
        }
        Value::Tag(_, inner) => normalize(inner),
        Value::Array(items) => items.iter_mut().for_each(normalize),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, val)| {
            normalize(k);
            normalize(val);
        }),
        _ => {}
    }
}

/// Like [`decode_one`] but reports trailing bytes as a decode error (for nested items).
pub(crate) fn decode_nested(bytes: &[u8]) -> Result<Value, DecodeError> {
    match decode_one(bytes) {
        Ok(v) => Ok(v),
        Err(Error::Malformed(e)) => Err(e),
        Err(_) => Err(DecodeError::Invalid("trailing data in nested item")),
    }
}

/// Encodes a value. Writing to a `Vec` cannot fail for values built by this crate.
pub(crate) fn encode(v: &Value) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    coset::cbor::ser::into_writer(v, &mut out)
        .map_err(|_| Error::Misuse("CBOR encoding failed"))?;
    Ok(out)
}

pub(crate) fn as_i64(v: &Value, what: &'static str) -> Result<i64, DecodeError> {
    match v {
        Value::Integer(i) => i64::try_from(*i).map_err(|_| DecodeError::IntegerOutOfRange),
        _ => Err(DecodeError::WrongType {
            what,
            expected: "integer",
        }),
    }
}

pub(crate) fn as_u64(v: &Value, what: &'static str) -> Result<u64, DecodeError> {
    match v {
        Value::Integer(i) => u64::try_from(*i).map_err(|_| DecodeError::IntegerOutOfRange),
        _ => Err(DecodeError::WrongType {
            what,
            expected: "unsigned integer",
        }),
    }
}

pub(crate) fn take_bytes(v: Value, what: &'static str) -> Result<Vec<u8>, DecodeError> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(DecodeError::WrongType {
            what,
            expected: "byte string",
        }),
    }
}

pub(crate) fn take_text(
    v: Value,
    what: &'static str,
) -> Result<alloc::string::String, DecodeError> {
    match v {
        Value::Text(t) => Ok(t),
        _ => Err(DecodeError::WrongType {
            what,
            expected: "text string",
        }),
    }
}

/// A map key as a COSE label (int or text); other key types are rejected.
pub(crate) fn label(v: Value) -> Result<coset::Label, DecodeError> {
    match v {
        Value::Integer(i) => Ok(coset::Label::Int(
            i64::try_from(i).map_err(|_| DecodeError::IntegerOutOfRange)?,
        )),
        Value::Text(t) => Ok(coset::Label::Text(t)),
        _ => Err(DecodeError::WrongType {
            what: "map key",
            expected: "int or text",
        }),
    }
}

pub(crate) fn label_value(l: &coset::Label) -> Value {
    match l {
        coset::Label::Int(i) => Value::Integer((*i).into()),
        coset::Label::Text(t) => Value::Text(t.clone()),
    }
}

/// The entries of a map whose keys are labels, rejecting duplicates.
pub(crate) fn label_map(
    v: Value,
    what: &'static str,
) -> Result<Vec<(coset::Label, Value)>, DecodeError> {
    let Value::Map(entries) = v else {
        return Err(DecodeError::WrongType {
            what,
            expected: "map",
        });
    };
    let mut out: Vec<(coset::Label, Value)> = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let l = label(k)?;
        if out.iter().any(|(seen, _)| *seen == l) {
            return Err(DecodeError::DuplicateKey);
        }
        out.push((l, v));
    }
    Ok(out)
}

/// Sorts entries in RFC 8949 §4.2.1 deterministic order and builds a map value.
pub(crate) fn sorted_map(mut entries: Vec<(coset::Label, Value)>) -> Value {
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (label_value(&k), v))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(v: &Value) -> Value {
        decode_one(&encode(v).unwrap()).unwrap()
    }

    #[test]
    fn indefinite_bignum_normalizes_to_its_definite_reading() {
        // c3 5f ff: tag 3 over an empty indefinite-length byte string, i.e. -1.
        let v = decode_one(&[0xc3, 0x5f, 0xff]).unwrap();
        assert_eq!(v, Value::from(-1));
        // Nested in arrays and maps too.
        let v = decode_one(&[0x81, 0xa1, 0x01, 0xc2, 0x5f, 0x41, 0x07, 0xff]).unwrap();
        assert_eq!(
            v,
            Value::Array(alloc::vec![Value::Map(alloc::vec![(
                Value::from(1),
                Value::from(7)
            )])])
        );
        assert_eq!(roundtrip(&v), v);
    }

    #[test]
    fn large_bignum_stays_a_tag_and_is_stable() {
        let mut bytes = alloc::vec![0xc2, 0x51];
        bytes.extend([0x01; 17]);
        let v = decode_one(&bytes).unwrap();
        assert!(matches!(v, Value::Tag(2, _)));
        assert_eq!(roundtrip(&v), v);
    }
}
