//! Wire types of the TRL endpoint and their codecs.
//!
//! * [`TrlPayload`]: the `application/ace-trl+cbor` map (`full_set` 0, `diff_set` 1,
//!   `cursor` 2, `more` 3; RFC 9770 §"ACE Token Revocation List Parameters").
//! * [`ProblemDetails`]: the `application/concise-problem-details+cbor` error body with the
//!   `ace-trl-error` entry (RFC 9770 §"Error Responses with Problem Details").
//! * [`TrlQuery`]: the `diff` / `cursor` query parameters (§"Query Parameters").
//! * [`RegistrationInfo`]: what a device learns at registration (§"Registration at the
//!   Authorization Server"; project-local encoding, digest C.4 item 10).
//!
//! Encoding is deterministic (keys ascending, shortest heads). Decoding is strict: one item,
//! no trailing bytes, no duplicate keys, right types.

use alloc::string::String;
use alloc::vec::Vec;

use coset::cbor::value::Value;

use crate::consts::{error_id, param, problem, query, registration};
use crate::error::{Error, Result};
use crate::hash::{HashAlg, TokenHash};

/// Largest payload the decoders accept (a 100k-hash TRL is ~3.5 MB; shells cap lower).
pub const MAX_PAYLOAD: usize = 16 * 1024 * 1024;

// ---- minimal deterministic CBOR writer -------------------------------------------------

pub(crate) fn put_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if let Ok(b) = u8::try_from(n) {
        out.extend_from_slice(&[m | 24, b]);
    } else if let Ok(s) = u16::try_from(n) {
        out.push(m | 25);
        out.extend_from_slice(&s.to_be_bytes());
    } else if let Ok(w) = u32::try_from(n) {
        out.push(m | 26);
        out.extend_from_slice(&w.to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn put_int(out: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        put_head(out, 0, v.unsigned_abs());
    } else {
        put_head(out, 1, v.unsigned_abs() - 1);
    }
}

fn put_text(out: &mut Vec<u8>, s: &str) {
    put_head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn put_hashes<'a>(
    out: &mut Vec<u8>,
    len: usize,
    hashes: impl IntoIterator<Item = &'a TokenHash>,
) {
    put_head(out, 4, len as u64);
    for h in hashes {
        put_head(out, 2, h.as_bytes().len() as u64);
        out.extend_from_slice(h.as_bytes());
    }
}

fn put_cursor(out: &mut Vec<u8>, c: Option<u64>) {
    match c {
        Some(i) => put_head(out, 0, i),
        None => out.push(0xf6),
    }
}

// ---- strict reader ---------------------------------------------------------------------

pub(crate) fn decode_value(bytes: &[u8]) -> Result<Value> {
    if bytes.len() > MAX_PAYLOAD {
        return Err(Error::MalformedCbor("payload too large"));
    }
    let mut rd = bytes;
    let v: Value = coset::cbor::de::from_reader(&mut rd).map_err(|e| match e {
        coset::cbor::de::Error::Io(_) => Error::MalformedCbor("truncated"),
        coset::cbor::de::Error::RecursionLimitExceeded => Error::MalformedCbor("too deep"),
        _ => Error::MalformedCbor("syntax"),
    })?;
    if !rd.is_empty() {
        return Err(Error::MalformedCbor("trailing bytes"));
    }
    let mut v = v;
    ace_token::cbor::normalize(&mut v);
    Ok(v)
}

fn int_key(k: &Value) -> Option<i128> {
    match k {
        Value::Integer(i) => Some(i128::from(*i)),
        _ => None,
    }
}

fn map_entries(v: Value, what: &'static str) -> Result<Vec<(Value, Value)>> {
    let Value::Map(entries) = v else {
        return Err(Error::InvalidPayload(what));
    };
    for (i, (k, _)) in entries.iter().enumerate() {
        if entries.iter().skip(i + 1).any(|(k2, _)| k2 == k) {
            return Err(Error::DuplicateKey);
        }
    }
    Ok(entries)
}

fn hashes_from(v: Value) -> Result<Vec<TokenHash>> {
    let Value::Array(items) = v else {
        return Err(Error::InvalidPayload("expected an array of token hashes"));
    };
    items
        .into_iter()
        .map(|i| match i {
            Value::Bytes(b) => Ok(TokenHash::from_raw(b)),
            _ => Err(Error::InvalidPayload("token hash is not a byte string")),
        })
        .collect()
}

fn cursor_from(v: Value) -> Result<Option<u64>> {
    match v {
        Value::Null => Ok(None),
        Value::Integer(i) => u64::try_from(i)
            .map(Some)
            .map_err(|_| Error::InvalidPayload("cursor is not an unsigned integer")),
        _ => Err(Error::InvalidPayload("cursor is not null or uint")),
    }
}

// ---- TRL payload -----------------------------------------------------------------------

/// One diff entry: the token hashes removed from (expired) and added to (revoked) the
/// requester's part of the TRL in one update (`diff_entry = [removed, added]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiffEntry {
    /// Hashes removed in this update (their tokens expired).
    pub removed: Vec<TokenHash>,
    /// Hashes added in this update (their tokens were revoked).
    pub added: Vec<TokenHash>,
}

/// The body of a TRL success response (`application/ace-trl+cbor`).
///
/// Exactly one of `full_set` / `diff_set` is present. `cursor` is `None` when absent,
/// `Some(None)` for CBOR `null`, `Some(Some(i))` for an index.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrlPayload {
    /// `full_set` (key 0): the pertaining token hashes, a set.
    pub full_set: Option<Vec<TokenHash>>,
    /// `diff_set` (key 1): diff entries, most recent first.
    pub diff_set: Option<Vec<DiffEntry>>,
    /// `cursor` (key 2), "Cursor" extension.
    pub cursor: Option<Option<u64>>,
    /// `more` (key 3), "Cursor" extension.
    pub more: Option<bool>,
}

impl TrlPayload {
    /// A full-query payload.
    #[must_use]
    pub fn full(hashes: Vec<TokenHash>, cursor: Option<Option<u64>>) -> Self {
        Self {
            full_set: Some(hashes),
            cursor,
            ..Self::default()
        }
    }

    /// A diff-query payload.
    #[must_use]
    pub fn diff(entries: Vec<DiffEntry>, cursor: Option<Option<u64>>, more: Option<bool>) -> Self {
        Self {
            diff_set: Some(entries),
            cursor,
            more,
            ..Self::default()
        }
    }

    /// Deterministic CBOR encoding.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the deterministic CBOR encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let n = u64::from(self.full_set.is_some())
            + u64::from(self.diff_set.is_some())
            + u64::from(self.cursor.is_some())
            + u64::from(self.more.is_some());
        put_head(out, 5, n);
        if let Some(f) = &self.full_set {
            put_head(out, 0, param::FULL_SET);
            put_hashes(out, f.len(), f);
        }
        if let Some(d) = &self.diff_set {
            put_head(out, 0, param::DIFF_SET);
            put_head(out, 4, d.len() as u64);
            for e in d {
                put_head(out, 4, 2);
                put_hashes(out, e.removed.len(), &e.removed);
                put_hashes(out, e.added.len(), &e.added);
            }
        }
        if let Some(c) = self.cursor {
            put_head(out, 0, param::CURSOR);
            put_cursor(out, c);
        }
        if let Some(m) = self.more {
            put_head(out, 0, param::MORE);
            out.push(if m { 0xf5 } else { 0xf4 });
        }
    }

    /// Strict decoding. Unknown integer keys are ignored (the parameter registry is
    /// extensible); a payload with neither or both of `full_set` / `diff_set` is refused.
    ///
    /// # Errors
    /// [`Error::MalformedCbor`], [`Error::DuplicateKey`], [`Error::InvalidPayload`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut out = Self::default();
        for (k, v) in map_entries(decode_value(bytes)?, "TRL payload is not a map")? {
            match int_key(&k) {
                Some(k) if k == i128::from(param::FULL_SET) => {
                    out.full_set = Some(hashes_from(v)?);
                }
                Some(k) if k == i128::from(param::DIFF_SET) => {
                    let Value::Array(items) = v else {
                        return Err(Error::InvalidPayload("diff_set is not an array"));
                    };
                    let mut entries = Vec::with_capacity(items.len());
                    for item in items {
                        let Value::Array(pair) = item else {
                            return Err(Error::InvalidPayload("diff entry is not an array"));
                        };
                        let mut it = pair.into_iter();
                        let (Some(r), Some(a), None) = (it.next(), it.next(), it.next()) else {
                            return Err(Error::InvalidPayload("diff entry is not a pair"));
                        };
                        entries.push(DiffEntry {
                            removed: hashes_from(r)?,
                            added: hashes_from(a)?,
                        });
                    }
                    out.diff_set = Some(entries);
                }
                Some(k) if k == i128::from(param::CURSOR) => out.cursor = Some(cursor_from(v)?),
                Some(k) if k == i128::from(param::MORE) => match v {
                    Value::Bool(b) => out.more = Some(b),
                    _ => return Err(Error::InvalidPayload("more is not a boolean")),
                },
                Some(_) => {}
                None => return Err(Error::InvalidPayload("non-integer key")),
            }
        }
        if out.full_set.is_some() == out.diff_set.is_some() {
            return Err(Error::InvalidPayload(
                "exactly one of full_set and diff_set is required",
            ));
        }
        Ok(out)
    }
}

// ---- problem details -------------------------------------------------------------------

/// A TRL error body: Concise Problem Details with the `ace-trl-error` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemDetails {
    /// `title` (-1).
    pub title: Option<String>,
    /// `detail` (-2): diagnostic text the AS SHOULD log.
    pub detail: Option<String>,
    /// `ace-trl-error` / `error-id` (see [`crate::consts::error_id`]).
    pub error_id: i64,
    /// `ace-trl-error` / `cursor`: absent, `Some(None)` for null, or an index.
    pub cursor: Option<Option<u64>>,
}

impl ProblemDetails {
    /// A problem with the RFC's description of `error_id` as title.
    #[must_use]
    pub fn new(error_id: i64, detail: impl Into<String>, cursor: Option<Option<u64>>) -> Self {
        Self {
            title: error_title(error_id).map(String::from),
            detail: Some(detail.into()),
            error_id,
            cursor,
        }
    }

    /// Deterministic CBOR encoding (keys in RFC 8949 §4.2.1 order: 1, -1, -2).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let n = 1 + u64::from(self.title.is_some()) + u64::from(self.detail.is_some());
        put_head(&mut out, 5, n);
        put_int(&mut out, problem::ACE_TRL_ERROR);
        put_head(&mut out, 5, 1 + u64::from(self.cursor.is_some()));
        put_head(&mut out, 0, problem::ERROR_ID);
        put_int(&mut out, self.error_id);
        if let Some(c) = self.cursor {
            put_head(&mut out, 0, problem::CURSOR);
            put_cursor(&mut out, c);
        }
        if let Some(t) = &self.title {
            put_int(&mut out, problem::TITLE);
            put_text(&mut out, t);
        }
        if let Some(d) = &self.detail {
            put_int(&mut out, problem::DETAIL);
            put_text(&mut out, d);
        }
        out
    }

    /// Strict decoding; other problem-detail entries are ignored.
    ///
    /// # Errors
    /// [`Error::MalformedCbor`], [`Error::DuplicateKey`], [`Error::InvalidPayload`] (also when
    /// `ace-trl-error` is missing).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut title = None;
        let mut detail = None;
        let mut trl = None;
        for (k, v) in map_entries(decode_value(bytes)?, "problem details is not a map")? {
            match int_key(&k) {
                Some(k) if k == i128::from(problem::TITLE) => match v {
                    Value::Text(t) => title = Some(t),
                    _ => return Err(Error::InvalidPayload("title is not text")),
                },
                Some(k) if k == i128::from(problem::DETAIL) => match v {
                    Value::Text(t) => detail = Some(t),
                    _ => return Err(Error::InvalidPayload("detail is not text")),
                },
                Some(k) if k == i128::from(problem::ACE_TRL_ERROR) => {
                    let mut id = None;
                    let mut cursor = None;
                    for (ik, iv) in map_entries(v, "ace-trl-error is not a map")? {
                        match int_key(&ik) {
                            Some(x) if x == i128::from(problem::ERROR_ID) => match iv {
                                Value::Integer(i) => {
                                    id = Some(i64::try_from(i).map_err(|_| {
                                        Error::InvalidPayload("error-id out of range")
                                    })?);
                                }
                                _ => return Err(Error::InvalidPayload("error-id is not an int")),
                            },
                            Some(x) if x == i128::from(problem::CURSOR) => {
                                cursor = Some(cursor_from(iv)?);
                            }
                            _ => {}
                        }
                    }
                    let id = id.ok_or(Error::InvalidPayload("error-id missing"))?;
                    trl = Some((id, cursor));
                }
                _ => {}
            }
        }
        let (error_id, cursor) = trl.ok_or(Error::InvalidPayload("ace-trl-error missing"))?;
        Ok(Self {
            title,
            detail,
            error_id,
            cursor,
        })
    }
}

/// The registry description of an `error-id`.
#[must_use]
pub fn error_title(id: i64) -> Option<&'static str> {
    match id {
        error_id::INVALID_PARAMETER_VALUE => Some("Invalid parameter value"),
        error_id::INVALID_SET_OF_PARAMETERS => Some("Invalid set of parameters"),
        error_id::OUT_OF_BOUND_CURSOR_VALUE => Some("Out of bound cursor value"),
        _ => None,
    }
}

// ---- query -----------------------------------------------------------------------------

/// A query parameter's value as received: valid unsigned integer, or invalid text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryValue {
    /// Decimal digits fitting in `u64`.
    Uint(u64),
    /// Anything else (sign, empty, non-digits, overflow, missing `=`).
    Invalid(String),
}

impl QueryValue {
    fn parse(v: Option<&str>) -> Self {
        match v {
            Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
                .parse::<u64>()
                .map_or_else(|_| Self::Invalid(String::from(s)), Self::Uint),
            Some(s) => Self::Invalid(String::from(s)),
            None => Self::Invalid(String::new()),
        }
    }
}

/// The TRL query parameters of a GET (RFC 9770 §"Query Parameters"). Unknown parameters are
/// silently ignored; a repeated `diff` or `cursor` is recorded (answered with error 1, our
/// pick, digest C.4 item 17).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrlQuery {
    /// `diff`, if present.
    pub diff: Option<QueryValue>,
    /// `cursor`, if present.
    pub cursor: Option<QueryValue>,
    /// A `diff` or `cursor` parameter appeared more than once.
    pub repeated: bool,
}

impl TrlQuery {
    /// A full query.
    #[must_use]
    pub fn full() -> Self {
        Self::default()
    }

    /// A diff query `?diff=n`.
    #[must_use]
    pub fn diff(n: u64) -> Self {
        Self {
            diff: Some(QueryValue::Uint(n)),
            ..Self::default()
        }
    }

    /// A diff query with cursor `?diff=n&cursor=p`.
    #[must_use]
    pub fn diff_cursor(n: u64, p: u64) -> Self {
        Self {
            diff: Some(QueryValue::Uint(n)),
            cursor: Some(QueryValue::Uint(p)),
            repeated: false,
        }
    }

    /// Parses CoAP Uri-Query option values (`"name=value"` each).
    pub fn from_uri_queries<'a>(queries: impl IntoIterator<Item = &'a str>) -> Self {
        let mut out = Self::default();
        for q in queries {
            let (name, value) = match q.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (q, None),
            };
            let slot = match name {
                query::DIFF => &mut out.diff,
                query::CURSOR => &mut out.cursor,
                _ => continue,
            };
            if slot.is_some() {
                out.repeated = true;
            }
            *slot = Some(QueryValue::parse(value));
        }
        out
    }

    /// Parses a URI query string `a=b&c=d` (without the `?`).
    #[must_use]
    pub fn from_query_string(q: &str) -> Self {
        Self::from_uri_queries(q.split('&').filter(|s| !s.is_empty()))
    }

    /// The Uri-Query option values for this query.
    #[must_use]
    pub fn to_uri_queries(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, v) in [(query::DIFF, &self.diff), (query::CURSOR, &self.cursor)] {
            match v {
                Some(QueryValue::Uint(n)) => out.push(alloc::format!("{name}={n}")),
                Some(QueryValue::Invalid(s)) => out.push(alloc::format!("{name}={s}")),
                None => {}
            }
        }
        out
    }
}

// ---- registration ----------------------------------------------------------------------

/// What a device or administrator learns at registration (RFC 9770 §"Registration at the
/// Authorization Server"): TRL path, hash function, MAX_N and MAX_DIFF_BATCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationInfo {
    /// url-path of the TRL endpoint.
    pub trl_path: String,
    /// The hash function of token hashes.
    pub trl_hash: HashAlg,
    /// MAX_N, present when diff queries are supported.
    pub max_n: Option<u64>,
    /// MAX_DIFF_BATCH, present when the "Cursor" extension is supported.
    pub max_diff_batch: Option<u64>,
}

impl RegistrationInfo {
    /// CBOR map with the text keys of the RFC's examples (`trl_path`, `trl_hash` as Hash
    /// Name String, `max_n`, `max_diff_batch`), in deterministic order.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let n = 2 + u64::from(self.max_n.is_some()) + u64::from(self.max_diff_batch.is_some());
        put_head(&mut out, 5, n);
        // Deterministic order: shorter keys first, then bytewise.
        if let Some(m) = self.max_n {
            put_text(&mut out, registration::MAX_N);
            put_head(&mut out, 0, m);
        }
        put_text(&mut out, registration::TRL_HASH);
        put_text(&mut out, self.trl_hash.name());
        put_text(&mut out, registration::TRL_PATH);
        put_text(&mut out, &self.trl_path);
        if let Some(m) = self.max_diff_batch {
            put_text(&mut out, registration::MAX_DIFF_BATCH);
            put_head(&mut out, 0, m);
        }
        out
    }

    /// Strict decoding; other registration parameters are ignored. `trl_hash` may be a Hash
    /// Name String or an integer suite ID.
    ///
    /// # Errors
    /// [`Error::MalformedCbor`], [`Error::DuplicateKey`], [`Error::InvalidPayload`],
    /// [`Error::UnsupportedHashAlgorithm`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut path = None;
        let mut hash = None;
        let mut max_n = None;
        let mut batch = None;
        let uint = |v: Value| match v {
            Value::Integer(i) => u64::try_from(i)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or(Error::InvalidPayload("not a positive integer")),
            _ => Err(Error::InvalidPayload("not an integer")),
        };
        for (k, v) in map_entries(decode_value(bytes)?, "registration is not a map")? {
            let Value::Text(k) = k else { continue };
            match k.as_str() {
                registration::TRL_PATH => match v {
                    Value::Text(t) => path = Some(t),
                    _ => return Err(Error::InvalidPayload("trl_path is not text")),
                },
                registration::TRL_HASH => {
                    hash = Some(match v {
                        Value::Text(t) => HashAlg::from_name(&t)?,
                        Value::Integer(i) => HashAlg::from_id(
                            u8::try_from(i).map_err(|_| Error::InvalidPayload("hash id"))?,
                        )?,
                        _ => return Err(Error::InvalidPayload("trl_hash type")),
                    });
                }
                registration::MAX_N => max_n = Some(uint(v)?),
                registration::MAX_DIFF_BATCH => batch = Some(uint(v)?),
                _ => {}
            }
        }
        Ok(Self {
            trl_path: path.ok_or(Error::InvalidPayload("trl_path missing"))?,
            trl_hash: hash.ok_or(Error::InvalidPayload("trl_hash missing"))?,
            max_n,
            max_diff_batch: batch,
        })
    }
}
