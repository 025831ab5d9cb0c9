//! The REST-specific instance AIF-REST (RFC 9237 §2.1, §2.3, §3): Toid is the URI local
//! part of a resource on the enforcing server, Tperm a bit set of CoAP methods including the
//! Dynamic-X extension.
//!
//! # Matching rules (checklist AIF-07, AIF-20; digest B.4 items 6-7)
//! A request's local part is built from its Uri-Path and Uri-Query options with
//! [`local_part_from_options`] and compared with each Toid by exact, case-sensitive byte
//! equality: no prefix matching (`/a` does not cover `/a/b`), no trailing-slash folding, no
//! percent-decoding, and an entry without a query does not cover a request with one.

use alloc::string::String;
use core::fmt;
use core::ops::{BitAnd, BitOr};

use crate::consts::{DYNAMIC_OFFSET, coap_code, method_code, rest_bits};
use crate::error::ElementError;
use crate::item::{AifElement, Item};
use crate::model::{Aif, ObjectId, PermissionSet};

/// AIF-REST: `AIF-Generic<local-path, REST-method-set>` (RFC 9237 §3, Figure 4).
pub type RestAif = Aif<LocalPart, RestMethods>;

/// A REST method with a CoAP method code 0.01..=0.07 (RFC 7252 §12.1.1, RFC 8132).
///
/// RFC 9237 §3: method code `0.0c` is bit `c - 1` of a [`RestMethods`], its Dynamic-X form
/// bit `c - 1 + 32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Method {
    /// GET (0.01).
    Get = method_code::GET,
    /// POST (0.02).
    Post = method_code::POST,
    /// PUT (0.03).
    Put = method_code::PUT,
    /// DELETE (0.04).
    Delete = method_code::DELETE,
    /// FETCH (0.05).
    Fetch = method_code::FETCH,
    /// PATCH (0.06).
    Patch = method_code::PATCH,
    /// iPATCH (0.07).
    IPatch = method_code::IPATCH,
}

impl Method {
    /// All methods, in code order.
    pub const ALL: [Method; 7] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Fetch,
        Method::Patch,
        Method::IPatch,
    ];

    /// The method with CoAP code `0.0<code>` (the code byte of a request, class 0), or
    /// `None` for codes that name none of the seven methods.
    #[must_use]
    pub const fn from_code(code: u8) -> Option<Method> {
        Some(match code {
            method_code::GET => Method::Get,
            method_code::POST => Method::Post,
            method_code::PUT => Method::Put,
            method_code::DELETE => Method::Delete,
            method_code::FETCH => Method::Fetch,
            method_code::PATCH => Method::Patch,
            method_code::IPATCH => Method::IPatch,
            _ => return None,
        })
    }

    /// The CoAP method code (detail of class 0).
    #[must_use]
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The bit number of the method in a REST-method-set: code − 1.
    #[must_use]
    pub const fn bit(self) -> u32 {
        self as u32 - 1
    }

    /// The bit number of Dynamic-X for this method: code − 1 + 32.
    #[must_use]
    pub const fn dynamic_bit(self) -> u32 {
        self.bit() + DYNAMIC_OFFSET
    }

    /// The method name as RFC 9237 Figure 4 spells it.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Fetch => "FETCH",
            Method::Patch => "PATCH",
            Method::IPatch => "iPATCH",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A REST-method-set (RFC 9237 §3): bits 0..=6 for GET..iPATCH, bits 32..=38 for their
/// Dynamic-X forms (§2.3). Other bits cannot be set: [`RestMethods::from_bits`] and the
/// decoders refuse them (RFC 9237 §6: unknown permissions never grant anything).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RestMethods(u64);

impl RestMethods {
    /// No method.
    pub const EMPTY: RestMethods = RestMethods(0);
    /// GET..iPATCH (value 127).
    pub const ALL_STATIC: RestMethods = RestMethods(rest_bits::STATIC_METHODS);
    /// Dynamic-GET..Dynamic-iPATCH (value 0x7F00000000).
    pub const ALL_DYNAMIC: RestMethods = RestMethods(rest_bits::DYNAMIC_METHODS);
    /// GET.
    pub const GET: RestMethods = RestMethods::of(Method::Get);
    /// POST.
    pub const POST: RestMethods = RestMethods::of(Method::Post);
    /// PUT.
    pub const PUT: RestMethods = RestMethods::of(Method::Put);
    /// DELETE.
    pub const DELETE: RestMethods = RestMethods::of(Method::Delete);
    /// FETCH.
    pub const FETCH: RestMethods = RestMethods::of(Method::Fetch);
    /// PATCH.
    pub const PATCH: RestMethods = RestMethods::of(Method::Patch);
    /// iPATCH.
    pub const IPATCH: RestMethods = RestMethods::of(Method::IPatch);

    /// The set holding only `method`.
    #[must_use]
    pub const fn of(method: Method) -> RestMethods {
        RestMethods(1 << method.bit())
    }

    /// The set holding only Dynamic-`method`.
    #[must_use]
    pub const fn dynamic(method: Method) -> RestMethods {
        RestMethods(1 << method.dynamic_bit())
    }

    /// The set with these bits.
    ///
    /// # Errors
    /// [`ElementError::UnknownBits`] with the bits outside 0..=6 and 32..=38.
    pub const fn from_bits(bits: u64) -> Result<RestMethods, ElementError> {
        let unknown = bits & !rest_bits::KNOWN;
        if unknown != 0 {
            return Err(ElementError::UnknownBits(unknown));
        }
        Ok(RestMethods(bits))
    }

    /// The wire value.
    #[must_use]
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// This set plus `method`.
    #[must_use]
    pub const fn with(self, method: Method) -> RestMethods {
        RestMethods(self.0 | RestMethods::of(method).0)
    }

    /// This set plus Dynamic-`method`.
    #[must_use]
    pub const fn with_dynamic(self, method: Method) -> RestMethods {
        RestMethods(self.0 | RestMethods::dynamic(method).0)
    }

    /// Whether `method` is allowed on the resource itself.
    #[must_use]
    pub const fn contains(self, method: Method) -> bool {
        self.0 & RestMethods::of(method).0 != 0
    }

    /// Whether `method` is allowed on resources created from this one (Dynamic-X).
    #[must_use]
    pub const fn contains_dynamic(self, method: Method) -> bool {
        self.0 & RestMethods::dynamic(method).0 != 0
    }

    /// Only the static method bits (0..=6).
    #[must_use]
    pub const fn static_part(self) -> RestMethods {
        RestMethods(self.0 & rest_bits::STATIC_METHODS)
    }

    /// Only the Dynamic-X bits (32..=38); RFC 9237 §2.3: their presence selects the
    /// extended model.
    #[must_use]
    pub const fn dynamic_part(self) -> RestMethods {
        RestMethods(self.0 & rest_bits::DYNAMIC_METHODS)
    }

    /// The methods allowed on the resource itself, in code order.
    pub fn methods(self) -> impl Iterator<Item = Method> {
        Method::ALL.into_iter().filter(move |m| self.contains(*m))
    }

    /// The methods X with Dynamic-X set, in code order.
    pub fn dynamic_methods(self) -> impl Iterator<Item = Method> {
        Method::ALL
            .into_iter()
            .filter(move |m| self.contains_dynamic(*m))
    }
}

impl FromIterator<Method> for RestMethods {
    fn from_iter<I: IntoIterator<Item = Method>>(iter: I) -> Self {
        iter.into_iter().fold(RestMethods::EMPTY, RestMethods::with)
    }
}

impl BitOr for RestMethods {
    type Output = RestMethods;
    fn bitor(self, rhs: RestMethods) -> RestMethods {
        RestMethods(self.0 | rhs.0)
    }
}

impl BitAnd for RestMethods {
    type Output = RestMethods;
    fn bitand(self, rhs: RestMethods) -> RestMethods {
        RestMethods(self.0 & rhs.0)
    }
}

impl PermissionSet for RestMethods {
    fn empty() -> Self {
        RestMethods::EMPTY
    }
    fn is_empty(&self) -> bool {
        self.0 == 0
    }
    fn union(&self, other: &Self) -> Self {
        *self | *other
    }
    fn intersection(&self, other: &Self) -> Self {
        *self & *other
    }
    fn is_subset(&self, other: &Self) -> bool {
        self.0 & !other.0 == 0
    }
}

impl AifElement for RestMethods {
    fn from_item(item: Item) -> Result<Self, ElementError> {
        match item {
            Item::Uint(bits) => RestMethods::from_bits(bits),
            _ => Err(ElementError::WrongType),
        }
    }
    fn to_item(&self) -> Result<Item, ElementError> {
        Ok(Item::Uint(self.0))
    }
}

/// A URI-local-part (RFC 9237 §2.1): path and query of a resource on the enforcing server,
/// as [`local_part_from_options`] builds it. It always starts with `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalPart(String);

impl LocalPart {
    /// Wraps a local part.
    ///
    /// # Errors
    /// [`ElementError::NotAbsolute`] if it does not start with `/`.
    pub fn new(local_part: impl Into<String>) -> Result<LocalPart, ElementError> {
        let s = local_part.into();
        if s.starts_with('/') {
            Ok(LocalPart(s))
        } else {
            Err(ElementError::NotAbsolute)
        }
    }

    /// The local part as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The local part as an owned string.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

impl AsRef<str> for LocalPart {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LocalPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl TryFrom<&str> for LocalPart {
    type Error = ElementError;
    fn try_from(s: &str) -> Result<Self, ElementError> {
        LocalPart::new(s)
    }
}

impl TryFrom<String> for LocalPart {
    type Error = ElementError;
    fn try_from(s: String) -> Result<Self, ElementError> {
        LocalPart::new(s)
    }
}

impl ObjectId for LocalPart {}

impl AifElement for LocalPart {
    fn from_item(item: Item) -> Result<Self, ElementError> {
        match item {
            Item::Text(s) => LocalPart::new(s),
            _ => Err(ElementError::WrongType),
        }
    }
    fn to_item(&self) -> Result<Item, ElementError> {
        Ok(Item::Text(self.0.clone()))
    }
}

/// The outcome of an AIF-REST access check (checklist AIF-20, RFC 9200 §5.10.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum Decision {
    /// An entry for the local part allows the method.
    Allow,
    /// No entry (with any permission) names the local part: answer 4.03 Forbidden.
    NoEntry,
    /// Entries name the local part, but none allows the method: answer 4.05 Method Not
    /// Allowed.
    MethodNotAllowed,
}

impl Decision {
    /// Whether the request may proceed.
    #[must_use]
    pub const fn is_allowed(self) -> bool {
        matches!(self, Decision::Allow)
    }

    /// The CoAP response code byte for a refusal (4.03 = 0x83, 4.05 = 0x85), `None` when
    /// allowed.
    #[must_use]
    pub const fn coap_code(self) -> Option<u8> {
        match self {
            Decision::Allow => None,
            Decision::NoEntry => Some(coap_code::FORBIDDEN),
            Decision::MethodNotAllowed => Some(coap_code::METHOD_NOT_ALLOWED),
        }
    }
}

impl RestAif {
    /// Decides a request for `method` on `local_part` (built with
    /// [`local_part_from_options`]) by exact match (checklist AIF-07, AIF-19, AIF-20 (a)).
    ///
    /// An entry whose permissions are empty counts as no entry, so the decision does not
    /// change under [`Aif::canonical`]. An entry with only Dynamic-X bits does name the
    /// resource: a static method on it yields [`Decision::MethodNotAllowed`].
    pub fn check(&self, local_part: &str, method: Method) -> Decision {
        let mut named = false;
        for entry in self
            .entries
            .iter()
            .filter(|e| e.toid.as_str() == local_part)
        {
            if entry.tperm.contains(method) {
                return Decision::Allow;
            }
            named |= !entry.tperm.is_empty();
        }
        if named {
            Decision::MethodNotAllowed
        } else {
            Decision::NoEntry
        }
    }

    /// Whether `method` is allowed on a resource that a 2.01 (Created) response with
    /// Location-* options returned to this subject's request to `parent_toid`
    /// (RFC 9237 §2.3, checklist AIF-08, AIF-20 (b)). Remembering which subject created
    /// which resource from which parent is the resource server's job.
    #[must_use]
    pub fn allows_dynamic(&self, parent_toid: &str, method: Method) -> bool {
        self.entries
            .iter()
            .any(|e| e.toid.as_str() == parent_toid && e.tperm.contains_dynamic(method))
    }

    /// Whether any entry carries a Dynamic-X permission, i.e. whether the value uses the
    /// extended model (RFC 9237 §2.3, checklist AIF-09).
    #[must_use]
    pub fn uses_dynamic_model(&self) -> bool {
        self.entries
            .iter()
            .any(|e| !e.tperm.dynamic_part().is_empty())
    }
}

/// Builds a request's URI-local-part from its Uri-Path and Uri-Query option values, as
/// RFC 7252 §6.5 steps 6-8 do (digest B.4 item 7):
///
/// * each Uri-Path value is appended after a `/`, percent-encoding every byte that is not
///   unreserved, a sub-delim, `:` or `@` (so a `/` inside a segment becomes `%2F`);
/// * no Uri-Path option at all gives `/`;
/// * the Uri-Query values are appended after `?`, separated by `&`, with the same encoding
///   except that `&` is encoded and `/` and `?` are not;
/// * percent-encoding uses upper-case hex digits.
///
/// Values are taken as bytes, so invalid UTF-8 is percent-encoded too, never rejected.
///
/// ```
/// use aif::rest::local_part_from_options;
/// assert_eq!(local_part_from_options(["s", "temp"], [] as [&str; 0]), "/s/temp");
/// assert_eq!(local_part_from_options(["a b/c"], ["x=1", "y&z"]), "/a%20b%2Fc?x=1&y%26z");
/// assert_eq!(local_part_from_options([] as [&str; 0], [] as [&str; 0]), "/");
/// ```
pub fn local_part_from_options<P, Q>(uri_path: P, uri_query: Q) -> String
where
    P: IntoIterator,
    P::Item: AsRef<[u8]>,
    Q: IntoIterator,
    Q::Item: AsRef<[u8]>,
{
    let mut out = String::new();
    for segment in uri_path {
        out.push('/');
        percent_encode_into(&mut out, segment.as_ref(), is_path_char);
    }
    if out.is_empty() {
        out.push('/');
    }
    for (i, query) in uri_query.into_iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        percent_encode_into(&mut out, query.as_ref(), is_query_char);
    }
    out
}

/// RFC 3986 §2.3 unreserved.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 §2.2 sub-delims.
fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// RFC 7252 §6.5 step 6: unreserved, sub-delims, ":" and "@" stay as they are.
fn is_path_char(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || matches!(b, b':' | b'@')
}

/// RFC 7252 §6.5 step 8: as for paths, but "&" is encoded and "/" and "?" are not.
fn is_query_char(b: u8) -> bool {
    b != b'&' && (is_path_char(b) || matches!(b, b'/' | b'?'))
}

fn percent_encode_into(out: &mut String, bytes: &[u8], keep: fn(u8) -> bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            for nibble in [b >> 4, b & 0x0f] {
                let digit = HEX.get(usize::from(nibble)).copied().unwrap_or(b'0');
                out.push(char::from(digit));
            }
        }
    }
}
