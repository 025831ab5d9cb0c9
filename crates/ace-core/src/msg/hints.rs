//! AS Request Creation Hints (RFC 9200 §5.3).

use alloc::string::String;
use alloc::vec::Vec;

use ace_token::Scope;
use coset::Label;
use coset::cbor::value::Value;

use crate::cbor::{self, cbor_message};
use crate::consts::hints as k;
use crate::error::Result;

/// AS Request Creation Hints: the body of the RS's 4.01 to an unauthorized request (RFC 9200
/// §5.3, Table 1). Every parameter is optional.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CreationHints {
    /// `AS` (1): absolute URI of the AS.
    pub as_uri: Option<String>,
    /// `kid` (2): a key of an existing client–RS security association.
    pub kid: Option<Vec<u8>>,
    /// `audience` (5): the audience to request.
    pub audience: Option<String>,
    /// `scope` (9): the suggested scope.
    pub scope: Option<Scope>,
    /// `cnonce` (39, §5.3.1): a client-nonce the client must send to the AS.
    pub cnonce: Option<Vec<u8>>,
    /// Parameters not modelled above, as received.
    pub rest: Vec<(Label, Value)>,
}

const LABELS: [i64; 5] = [k::AS, k::KID, k::AUDIENCE, k::SCOPE, k::CNONCE];

impl CreationHints {
    fn decode_map(v: Value) -> Result<Self> {
        let mut out = Self::default();
        for (l, v) in cbor::map_entries(v, "AS request creation hints")? {
            match l {
                Label::Int(k::AS) => out.as_uri = Some(cbor::text(v, "AS")?),
                Label::Int(k::KID) => out.kid = Some(cbor::bytes(v, "kid")?),
                Label::Int(k::AUDIENCE) => out.audience = Some(cbor::text(v, "audience")?),
                Label::Int(k::SCOPE) => out.scope = Some(cbor::scope(v, "scope")?),
                Label::Int(k::CNONCE) => out.cnonce = Some(cbor::bytes(v, "cnonce")?),
                other => out.rest.push((other, v)),
            }
        }
        Ok(out)
    }

    fn encode_map(&self) -> Result<Value> {
        let mut e: Vec<(i64, Value)> = Vec::new();
        if let Some(s) = &self.as_uri {
            e.push((k::AS, Value::Text(s.clone())));
        }
        if let Some(s) = &self.kid {
            e.push((k::KID, Value::Bytes(s.clone())));
        }
        if let Some(s) = &self.audience {
            e.push((k::AUDIENCE, Value::Text(s.clone())));
        }
        if let Some(s) = &self.scope {
            e.push((k::SCOPE, cbor::scope_value(s)));
        }
        if let Some(s) = &self.cnonce {
            e.push((k::CNONCE, Value::Bytes(s.clone())));
        }
        cbor::build_map(e, &self.rest, &LABELS)
    }
}

cbor_message!(CreationHints);
