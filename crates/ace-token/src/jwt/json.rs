//! Strict JSON (RFC 8259) for JOSE headers and JWT claims sets.
//!
//! `serde_json::Value` keeps the last of two equal object member names; RFC 7515 §5.2 and
//! RFC 7519 §7.2 require rejecting such input (or using the last one, which makes two parsers
//! disagree). [`Json`] is a value type whose `Deserialize` refuses duplicate member names at any
//! depth and keeps members in received order. Parsing is `serde_json::from_slice`: UTF-8 is
//! checked, lone surrogate escapes, trailing characters and nesting deeper than 128 are refused.
//!
//! Encoding goes through `serde_json::Value` (members sorted by name: deterministic output).
//! serde_json's `float_roundtrip` feature is on, so a float read back is the float written
//! (without it, e.g. `-991653844870.8921` parses one ulp off).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use coset::cbor::value::Value;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::{DecodeError, Error};

/// The message of the duplicate-member error (recognised again in [`parse`]).
const DUPLICATE: &str = "duplicate JSON object member";

/// A JSON value as received.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// A non-negative integer.
    U64(u64),
    /// A negative integer.
    I64(i64),
    /// A number with a fraction or exponent, or an integer beyond 64 bits.
    F64(f64),
    Str(String),
    Arr(Vec<Json>),
    /// Members in received order, names unique.
    Obj(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::U64(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(match u64::try_from(v) {
            Ok(u) => Json::U64(u),
            Err(_) => Json::I64(v),
        })
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::F64(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str(v.into()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Json>()? {
            out.push(v);
        }
        Ok(Json::Arr(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut out: Vec<(String, Json)> = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.iter().any(|(n, _)| *n == k) {
                return Err(de::Error::custom(DUPLICATE));
            }
            let v = map.next_value::<Json>()?;
            out.push((k, v));
        }
        // Member order carries no meaning in JSON (RFC 8259 §4); keep members in the order
        // our encoder writes them (serde_json's sorted map), so that a decoded value equals
        // the decoding of its re-encoding.
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Json::Obj(out))
    }
}

/// Parses exactly one JSON value (surrounding whitespace allowed, nothing else).
///
/// # Errors
/// [`DecodeError::InvalidUtf8`], [`DecodeError::DuplicateKey`], [`DecodeError::InvalidJson`].
pub(crate) fn parse(bytes: &[u8]) -> Result<Json, DecodeError> {
    core::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)?;
    serde_json::from_slice::<Json>(bytes).map_err(|e| {
        if e.classify() == serde_json::error::Category::Data && e.to_string().starts_with(DUPLICATE)
        {
            DecodeError::DuplicateKey
        } else {
            DecodeError::InvalidJson
        }
    })
}

/// A received JSON value as a CBOR value (unknown claims and `cnf` members are kept this way in
/// [`Claims::rest`](crate::Claims::rest)): objects become maps with text keys.
pub(crate) fn to_cbor(j: Json) -> Value {
    match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(b),
        Json::U64(u) => Value::from(u),
        Json::I64(i) => Value::from(i),
        Json::F64(f) => Value::Float(f),
        Json::Str(s) => Value::Text(s),
        Json::Arr(a) => Value::Array(a.into_iter().map(to_cbor).collect()),
        Json::Obj(m) => Value::Map(
            m.into_iter()
                .map(|(k, v)| (Value::Text(k), to_cbor(v)))
                .collect(),
        ),
    }
}

/// A CBOR value as JSON, for values that have a JSON form: no byte strings, tags or simple
/// values, text map keys only (unique), finite floats, integers within 64 bits.
///
/// # Errors
/// [`Error::Misuse`] naming what has no JSON form.
pub(crate) fn from_cbor(v: &Value) -> Result<serde_json::Value, Error> {
    use serde_json::Value as J;
    Ok(match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Integer(i) => {
            let i = i128::from(*i);
            if let Ok(u) = u64::try_from(i) {
                J::from(u)
            } else if let Ok(s) = i64::try_from(i) {
                J::from(s)
            } else {
                return Err(Error::Misuse("integer beyond 64 bits has no JSON form"));
            }
        }
        Value::Float(f) => J::Number(
            serde_json::Number::from_f64(*f)
                .ok_or(Error::Misuse("non-finite float has no JSON form"))?,
        ),
        Value::Text(s) => J::String(s.clone()),
        Value::Array(a) => J::Array(a.iter().map(from_cbor).collect::<Result<_, _>>()?),
        Value::Map(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                let Value::Text(k) = k else {
                    return Err(Error::Misuse("non-text map key has no JSON form"));
                };
                if out.insert(k.clone(), from_cbor(v)?).is_some() {
                    return Err(Error::Misuse("duplicate map key has no JSON form"));
                }
            }
            J::Object(out)
        }
        _ => {
            return Err(Error::Misuse(
                "byte string, tag or simple value has no JSON form",
            ));
        }
    })
}

/// Serializes a JSON value (compact, members sorted by name).
///
/// # Errors
/// [`Error::Misuse`] (serde_json cannot fail on a `Value` made of strings and finite numbers).
pub(crate) fn encode(v: &serde_json::Value) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(v).map_err(|_| Error::Misuse("JSON encoding"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        assert_eq!(parse(br#"{"a":1,"a":2}"#), Err(DecodeError::DuplicateKey));
        assert_eq!(
            parse(br#"{"a":{"b":1,"b":1}}"#),
            Err(DecodeError::DuplicateKey)
        );
        assert_eq!(parse(br#"[{"x":1,"x":1}]"#), Err(DecodeError::DuplicateKey));
        // Equal names after unescaping are duplicates too.
        assert_eq!(
            parse(br#"{"a":1,"\u0061":2}"#),
            Err(DecodeError::DuplicateKey)
        );
    }

    #[test]
    fn strict_text() {
        assert_eq!(parse(b"{} x"), Err(DecodeError::InvalidJson));
        assert_eq!(parse(b"{\"a\":\"\xff\"}"), Err(DecodeError::InvalidUtf8));
        assert_eq!(parse(br#"{"a":"\ud800"}"#), Err(DecodeError::InvalidJson));
        assert_eq!(parse(b"{\"a\":1,}"), Err(DecodeError::InvalidJson));
        assert_eq!(parse(b""), Err(DecodeError::InvalidJson));
        let deep = alloc::format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(parse(deep.as_bytes()), Err(DecodeError::InvalidJson));
        assert_eq!(
            parse(b" {\"n\":-1,\"f\":1.5,\"u\":18446744073709551615} "),
            // Members come back sorted by name.
            Ok(Json::Obj(alloc::vec![
                ("f".into(), Json::F64(1.5)),
                ("n".into(), Json::I64(-1)),
                ("u".into(), Json::U64(u64::MAX)),
            ]))
        );
    }

    #[test]
    fn cbor_round_trip_and_refusals() {
        let j = parse(br#"{"a":[null,true,-3,2.5,"s",{"k":0}]}"#).unwrap();
        let c = to_cbor(j);
        let back = encode(&from_cbor(&c).unwrap()).unwrap();
        assert_eq!(back, br#"{"a":[null,true,-3,2.5,"s",{"k":0}]}"#);
        assert!(from_cbor(&Value::Bytes(alloc::vec![1])).is_err());
        assert!(from_cbor(&Value::Float(f64::NAN)).is_err());
        assert!(from_cbor(&Value::Map(alloc::vec![(Value::from(1), Value::Null)])).is_err());
        let dup = Value::Map(alloc::vec![
            (Value::Text("a".into()), Value::Null),
            (Value::Text("a".into()), Value::Null)
        ]);
        assert!(from_cbor(&dup).is_err());
    }
}
