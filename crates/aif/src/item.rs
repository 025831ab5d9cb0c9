//! The neutral data model between the codecs and the element types.
//!
//! The CBOR and JSON decoders turn the input into [`Item`]s; element types (Toids and
//! Tperms) implement [`AifElement`] to convert from and to an [`Item`]. So an element type
//! is written once for both encodings, and the encoding-specific checks (trailing bytes,
//! the I-JSON integer limit) stay in the codecs.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, EnumAccess, IgnoredAny, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde::ser::SerializeSeq;

use crate::error::ElementError;

/// One decoded data item, reduced to what AIF instances use: unsigned integers, text
/// strings and arrays. Everything else is kept only as its [`ItemKind`], so an element type
/// can refuse it with [`ElementError::WrongType`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Item {
    /// An unsigned integer (CBOR major type 0; a JSON number without fraction or exponent
    /// and not negative).
    Uint(u64),
    /// A text string (CBOR major type 3; a JSON string).
    Text(String),
    /// An array (CBOR major type 4; a JSON array).
    Array(Vec<Item>),
    /// Any other data item. It cannot be encoded.
    Other(ItemKind),
}

/// The type of a data item that [`Item`] does not carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ItemKind {
    /// A negative integer.
    NegativeInteger,
    /// A CBOR bignum (tags 2 and 3), which is not a CDDL `uint`.
    BigInteger,
    /// A floating-point number (JSON numbers with a fraction or exponent included).
    Float,
    /// A byte string.
    Bytes,
    /// A map (JSON object).
    Map,
    /// A tagged CBOR item.
    Tag,
    /// `true` or `false`.
    Bool,
    /// `null` (or CBOR `undefined`).
    Null,
}

impl Item {
    /// The text, if this is a text string.
    #[must_use]
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Item::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The value, if this is an unsigned integer.
    #[must_use]
    pub fn as_uint(&self) -> Option<u64> {
        match self {
            Item::Uint(v) => Some(*v),
            _ => None,
        }
    }

    /// Whether this item or any item inside it is an unsigned integer above `max`.
    pub(crate) fn has_uint_above(&self, max: u64) -> bool {
        match self {
            Item::Uint(v) => *v > max,
            Item::Array(items) => items.iter().any(|i| i.has_uint_above(max)),
            Item::Text(_) | Item::Other(_) => false,
        }
    }
}

/// A Toid or Tperm type that converts from and to an [`Item`]; the CBOR and JSON codecs of
/// [`crate::Aif`] use it for both encodings.
///
/// `from_item` is where an element type makes its checks (type, syntax, unknown bits);
/// it must never panic on any input.
pub trait AifElement: Sized {
    /// Converts a decoded item, refusing wrong types and invalid values.
    ///
    /// # Errors
    /// The [`ElementError`] naming the failed check.
    fn from_item(item: Item) -> Result<Self, ElementError>;

    /// Converts to an item for encoding.
    ///
    /// # Errors
    /// An [`ElementError`] if the value has no valid encoding (e.g. an MQTT permission set
    /// that is empty, where RFC 9431 requires at least one permission).
    fn to_item(&self) -> Result<Item, ElementError>;
}

impl serde::Serialize for Item {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Item::Uint(v) => serializer.serialize_u64(*v),
            Item::Text(s) => serializer.serialize_str(s),
            Item::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Item::Other(kind) => Err(serde::ser::Error::custom(format_args!(
                "cannot encode an item of kind {kind:?}"
            ))),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Item {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ItemVisitor)
    }
}

/// Builds an [`Item`] from any self-describing format. Depth is bounded by the format's
/// own recursion limit (ciborium) or a pre-scan (JSON), see `codec.rs`.
struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = Item;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any CBOR or JSON data item")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Item, E> {
        Ok(Item::Other(ItemKind::Bool))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Item, E> {
        Ok(match u64::try_from(v) {
            Ok(u) => Item::Uint(u),
            Err(_) => Item::Other(ItemKind::NegativeInteger),
        })
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Item, E> {
        // ciborium reports negative integers below i64::MIN and negative bignums here.
        Ok(Item::Other(if v < 0 {
            ItemKind::NegativeInteger
        } else {
            ItemKind::BigInteger
        }))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Item, E> {
        Ok(Item::Uint(v))
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Item, E> {
        // ciborium reports tag-2 bignums here; CDDL `uint` is major type 0 only.
        Ok(Item::Other(ItemKind::BigInteger))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Item, E> {
        Ok(Item::Other(ItemKind::Float))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Item, E> {
        Ok(Item::Text(String::from(v)))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Item, E> {
        Ok(Item::Text(v))
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Item, E> {
        Ok(Item::Other(ItemKind::Bytes))
    }

    fn visit_byte_buf<E: de::Error>(self, _: Vec<u8>) -> Result<Item, E> {
        Ok(Item::Other(ItemKind::Bytes))
    }

    fn visit_none<E: de::Error>(self) -> Result<Item, E> {
        Ok(Item::Other(ItemKind::Null))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Item, E> {
        Ok(Item::Other(ItemKind::Null))
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Item, D::Error> {
        deserializer.deserialize_any(ItemVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Item, A::Error> {
        // No `with_capacity(size_hint)`: a CBOR header may claim 2^64 elements.
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Item>()? {
            items.push(item);
        }
        Ok(Item::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
        // Parse (so that nesting and syntax are checked) and discard.
        while map.next_entry::<Item, Item>()?.is_some() {}
        Ok(Item::Other(ItemKind::Map))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Item, A::Error> {
        // ciborium presents a CBOR tag as an enum: the variant is the tag marker, the
        // newtype content the tagged item. Parse the content and discard it.
        let (IgnoredAny, variant) = data.variant::<IgnoredAny>()?;
        let _content: Item = variant.newtype_variant()?;
        Ok(Item::Other(ItemKind::Tag))
    }
}
