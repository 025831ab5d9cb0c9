//! Strict CBOR helpers shared by the message codecs.

use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;

use ace_token::{Confirmation, NumericDate, Scope};
use coset::cbor::value::Value;
use coset::{AsCborValue as _, CoseKey, Label};

use crate::error::{Error, MapKey, Result};

/// Decodes exactly one CBOR item of at most `max` bytes.
pub(crate) fn decode_value(bytes: &[u8], max: usize) -> Result<Value> {
    if bytes.len() > max {
        return Err(Error::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    if bytes.is_empty() {
        return Err(Error::EmptyPayload);
    }
    let mut rd = bytes;
    let v: Value = coset::cbor::de::from_reader(&mut rd).map_err(|e| match e {
        coset::cbor::de::Error::Io(_) => Error::Truncated,
        coset::cbor::de::Error::RecursionLimitExceeded => Error::TooDeep,
        coset::cbor::de::Error::Syntax(_) | coset::cbor::de::Error::Semantic(..) => {
            Error::MalformedCbor
        }
    })?;
    if !rd.is_empty() {
        return Err(Error::TrailingBytes);
    }
    let mut v = v;
    ace_token::cbor::normalize(&mut v);
    Ok(v)
}

/// Encodes one CBOR item.
pub(crate) fn encode_value(v: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    coset::cbor::ser::into_writer(v, &mut out).map_err(|_| Error::Misuse("CBOR encoding"))?;
    Ok(out)
}

fn map_key(l: &Label) -> MapKey {
    match l {
        Label::Int(i) => MapKey::Int(*i),
        Label::Text(s) => MapKey::Text(s.clone()),
    }
}

/// The entries of a map with integer or text keys, rejecting duplicates.
pub(crate) fn map_entries(v: Value, what: &'static str) -> Result<Vec<(Label, Value)>> {
    let Value::Map(entries) = v else {
        return Err(Error::NotAMap(what));
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let label = match k {
            Value::Integer(i) => Label::Int(i64::try_from(i).map_err(|_| Error::InvalidKey)?),
            Value::Text(s) => Label::Text(s),
            _ => return Err(Error::InvalidKey),
        };
        let key = map_key(&label);
        if !seen.insert(key.clone()) {
            return Err(Error::DuplicateKey(key));
        }
        out.push((label, v));
    }
    Ok(out)
}

/// Builds a map in RFC 8949 §4.2.1 deterministic key order. `rest` must not reuse a label of
/// `known` or repeat a label.
pub(crate) fn build_map(
    mut known: Vec<(i64, Value)>,
    rest: &[(Label, Value)],
    modelled: &[i64],
) -> Result<Value> {
    let mut seen = BTreeSet::new();
    for (l, _) in rest {
        if matches!(l, Label::Int(i) if modelled.contains(i)) {
            return Err(Error::Misuse("extension entry reuses a modelled label"));
        }
        if !seen.insert(map_key(l)) {
            return Err(Error::Misuse("duplicate extension label"));
        }
    }
    let mut entries: Vec<(Vec<u8>, Value, Value)> = Vec::with_capacity(known.len() + rest.len());
    for (k, v) in known.drain(..) {
        let key = Value::from(k);
        entries.push((encode_value(&key)?, key, v));
    }
    for (l, v) in rest {
        let key = match l {
            Label::Int(i) => Value::from(*i),
            Label::Text(s) => Value::Text(s.clone()),
        };
        entries.push((encode_value(&key)?, key, v.clone()));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Value::Map(
        entries.into_iter().map(|(_, k, v)| (k, v)).collect(),
    ))
}

pub(crate) fn text(v: Value, param: &'static str) -> Result<String> {
    match v {
        Value::Text(s) => Ok(s),
        _ => Err(Error::WrongType {
            param,
            expected: "text string",
        }),
    }
}

pub(crate) fn bytes(v: Value, param: &'static str) -> Result<Vec<u8>> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(Error::WrongType {
            param,
            expected: "byte string",
        }),
    }
}

pub(crate) fn int(v: &Value, param: &'static str) -> Result<i64> {
    match v {
        Value::Integer(i) => i64::try_from(*i).map_err(|_| Error::IntegerOutOfRange(param)),
        _ => Err(Error::WrongType {
            param,
            expected: "integer",
        }),
    }
}

pub(crate) fn uint(v: &Value, param: &'static str) -> Result<u64> {
    match v {
        Value::Integer(i) => u64::try_from(*i).map_err(|_| Error::IntegerOutOfRange(param)),
        _ => Err(Error::WrongType {
            param,
            expected: "unsigned integer",
        }),
    }
}

pub(crate) fn boolean(v: &Value, param: &'static str) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => Err(Error::WrongType {
            param,
            expected: "true or false",
        }),
    }
}

pub(crate) fn scope(v: Value, param: &'static str) -> Result<Scope> {
    match v {
        Value::Text(s) => Ok(Scope::Text(s)),
        Value::Bytes(b) => Ok(Scope::Binary(b)),
        _ => Err(Error::WrongType {
            param,
            expected: "text or byte string",
        }),
    }
}

pub(crate) fn scope_value(s: &Scope) -> Value {
    match s {
        Scope::Text(t) => Value::Text(t.clone()),
        Scope::Binary(b) => Value::Bytes(b.clone()),
    }
}

pub(crate) fn numeric_date(v: &Value, param: &'static str) -> Result<NumericDate> {
    match v {
        Value::Integer(i) => Ok(NumericDate::Seconds(
            i64::try_from(*i).map_err(|_| Error::IntegerOutOfRange(param))?,
        )),
        Value::Float(f) if f.is_finite() => Ok(NumericDate::Fractional(*f)),
        Value::Float(_) => Err(Error::InvalidValue(param)),
        _ => Err(Error::WrongType {
            param,
            expected: "integer or floating-point number",
        }),
    }
}

pub(crate) fn numeric_date_value(d: NumericDate) -> Value {
    match d {
        NumericDate::Seconds(s) => Value::from(s),
        NumericDate::Fractional(f) => Value::Float(f),
    }
}

/// Decodes a `cnf`-shaped parameter through `ace-token`.
pub(crate) fn cnf(v: Value, param: &'static str) -> Result<Confirmation> {
    Confirmation::from_value(v).map_err(|source| Error::InvalidCnf { param, source })
}

/// Decodes `req_cnf`: like [`cnf`], but a well-formed COSE_Key that `ace-token` cannot use
/// is [`Error::UnsupportedPopKey`] (RFC 9200 §5.8.3).
pub(crate) fn req_cnf(v: Value, param: &'static str) -> Result<Confirmation> {
    let cose_key = match &v {
        Value::Map(m) => m
            .iter()
            .find(|(k, _)| *k == Value::from(ace_token::consts::cnf::COSE_KEY))
            .map(|(_, k)| k.clone()),
        _ => None,
    };
    cnf(v, param).map_err(|e| match (&e, cose_key) {
        (Error::InvalidCnf { .. }, Some(k)) if CoseKey::from_cbor_value(k.clone()).is_ok() => {
            Error::UnsupportedPopKey
        }
        _ => e,
    })
}

pub(crate) fn cnf_value(c: &Confirmation) -> Result<Value> {
    c.to_value().map_err(|_| Error::Misuse("cnf encoding"))
}

/// Converts our error to coset's (for the `AsCborValue` impls).
pub(crate) fn to_cose_error(e: &Error) -> coset::CoseError {
    match e {
        Error::DuplicateKey(_) => coset::CoseError::DuplicateMapKey,
        Error::TrailingBytes => coset::CoseError::ExtraneousData,
        Error::IntegerOutOfRange(_) => coset::CoseError::OutOfRangeIntegerValue,
        Error::Misuse(_) => coset::CoseError::EncodeFailed,
        Error::WrongType { expected, .. } => coset::CoseError::UnexpectedItem("value", expected),
        Error::NotAMap(_) => coset::CoseError::UnexpectedItem("value", "map"),
        _ => coset::CoseError::DecodeFailed(coset::cbor::de::Error::Semantic(
            None,
            alloc::format!("{e}"),
        )),
    }
}

/// Implements `decode`/`encode`/`from_value`/`to_value` wrappers and coset's traits for a
/// message type that has `fn decode_map(Value) -> Result<Self>` and
/// `fn encode_map(&self) -> Result<Value>`.
macro_rules! cbor_message {
    ($t:ty) => {
        impl $t {
            /// Decodes the `application/ace+cbor` payload, with the default size limit
            /// ([`crate::consts::limits::MAX_MESSAGE_SIZE`]).
            ///
            /// # Errors
            /// The [`crate::Error`] variant naming the failed check.
            pub fn decode(bytes: &[u8]) -> $crate::Result<Self> {
                Self::decode_with_limit(bytes, $crate::consts::limits::MAX_MESSAGE_SIZE)
            }

            /// Decodes the payload, refusing inputs longer than `max` bytes.
            ///
            /// # Errors
            /// The [`crate::Error`] variant naming the failed check.
            pub fn decode_with_limit(bytes: &[u8], max: usize) -> $crate::Result<Self> {
                Self::from_value($crate::cbor::decode_value(bytes, max)?)
            }

            /// Decodes from a CBOR value (the map).
            ///
            /// # Errors
            /// The [`crate::Error`] variant naming the failed check.
            pub fn from_value(v: coset::cbor::value::Value) -> $crate::Result<Self> {
                Self::decode_map(v)
            }

            /// Encodes as a CBOR value (deterministic key order, RFC 8949 §4.2.1).
            ///
            /// # Errors
            /// [`crate::Error::Misuse`] when an extension entry reuses a modelled label or
            /// repeats.
            pub fn to_value(&self) -> $crate::Result<coset::cbor::value::Value> {
                self.encode_map()
            }

            /// Encodes the `application/ace+cbor` payload.
            ///
            /// # Errors
            /// As [`Self::to_value`].
            pub fn encode(&self) -> $crate::Result<alloc::vec::Vec<u8>> {
                $crate::cbor::encode_value(&self.encode_map()?)
            }
        }

        impl coset::AsCborValue for $t {
            fn from_cbor_value(value: coset::cbor::value::Value) -> coset::Result<Self> {
                Self::decode_map(value).map_err(|e| $crate::cbor::to_cose_error(&e))
            }

            fn to_cbor_value(self) -> coset::Result<coset::cbor::value::Value> {
                self.encode_map()
                    .map_err(|e| $crate::cbor::to_cose_error(&e))
            }
        }

        impl coset::CborSerializable for $t {}
    };
}
pub(crate) use cbor_message;
