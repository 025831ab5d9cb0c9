//! Introspection endpoint messages (RFC 9200 §5.9; RFC 7662).

use alloc::string::String;
use alloc::vec::Vec;

use ace_token::{AceProfile, Confirmation, NumericDate, Scope};
use coset::Label;
use coset::cbor::value::Value;

use crate::cbor::{self, cbor_message};
use crate::consts::introspection as k;
use crate::error::{Error, Result};
use crate::msg::TokenType;

/// `token_type_hint` (RFC 7662 §2.1). RFC 9200 Table 6 says text string; RFC 9200 Figure 9
/// sends the integer token-type abbreviation `2 / PoP /`. Being an advisory hint, both forms
/// are accepted and kept as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenTypeHint {
    /// The RFC 7662 text form (e.g. `"access_token"`).
    Text(String),
    /// An integer (as in RFC 9200 Figure 9).
    Int(i64),
}

/// An introspection request (RFC 9200 §5.9.1; RFC 7662 §2.1).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IntrospectionRequest {
    /// `token` (11, required).
    pub token: Vec<u8>,
    /// `token_type_hint` (33).
    pub token_type_hint: Option<TokenTypeHint>,
    /// `client_id` (24): context the requester adds (RFC 9200 Figure 19).
    pub client_id: Option<String>,
    /// Other context parameters, as received.
    pub rest: Vec<(Label, Value)>,
}

const REQUEST_LABELS: [i64; 3] = [k::TOKEN, k::TOKEN_TYPE_HINT, k::CLIENT_ID];

impl IntrospectionRequest {
    /// A request for `token`.
    #[must_use]
    pub fn new(token: impl Into<Vec<u8>>) -> Self {
        Self {
            token: token.into(),
            ..Self::default()
        }
    }

    fn decode_map(v: Value) -> Result<Self> {
        let mut out = Self::default();
        let mut token = None;
        for (l, v) in cbor::map_entries(v, "introspection request")? {
            match l {
                Label::Int(k::TOKEN) => token = Some(cbor::bytes(v, "token")?),
                Label::Int(k::TOKEN_TYPE_HINT) => {
                    out.token_type_hint = Some(match v {
                        Value::Text(s) => TokenTypeHint::Text(s),
                        v @ Value::Integer(_) => {
                            TokenTypeHint::Int(cbor::int(&v, "token_type_hint")?)
                        }
                        _ => {
                            return Err(Error::WrongType {
                                param: "token_type_hint",
                                expected: "text string or integer",
                            });
                        }
                    });
                }
                Label::Int(k::CLIENT_ID) => out.client_id = Some(cbor::text(v, "client_id")?),
                other => out.rest.push((other, v)),
            }
        }
        out.token = token.ok_or(Error::MissingParameter("token"))?;
        Ok(out)
    }

    fn encode_map(&self) -> Result<Value> {
        let mut e = alloc::vec![(k::TOKEN, Value::Bytes(self.token.clone()))];
        match &self.token_type_hint {
            Some(TokenTypeHint::Text(s)) => e.push((k::TOKEN_TYPE_HINT, Value::Text(s.clone()))),
            Some(TokenTypeHint::Int(i)) => e.push((k::TOKEN_TYPE_HINT, Value::from(*i))),
            None => {}
        }
        if let Some(s) = &self.client_id {
            e.push((k::CLIENT_ID, Value::Text(s.clone())));
        }
        cbor::build_map(e, &self.rest, &REQUEST_LABELS)
    }
}

cbor_message!(IntrospectionRequest);

/// An introspection response (RFC 9200 §5.9.2, Table 6; RFC 7662 §2.2; RFC 9201).
///
/// For an inactive token the AS sends only `active: false` (RFC 7662 §2.2, RFC 9200 §5.9.3):
/// use [`IntrospectionResponse::inactive`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IntrospectionResponse {
    /// `active` (10, required).
    pub active: bool,
    /// `iss` (1).
    pub iss: Option<String>,
    /// `sub` (2).
    pub sub: Option<String>,
    /// `aud` (3).
    pub aud: Option<String>,
    /// `exp` (4).
    pub exp: Option<NumericDate>,
    /// `nbf` (5).
    pub nbf: Option<NumericDate>,
    /// `iat` (6).
    pub iat: Option<NumericDate>,
    /// `cti` (7).
    pub cti: Option<Vec<u8>>,
    /// `scope` (9).
    pub scope: Option<Scope>,
    /// `client_id` (24).
    pub client_id: Option<String>,
    /// `token_type` (34).
    pub token_type: Option<TokenType>,
    /// `username` (35).
    pub username: Option<String>,
    /// `ace_profile` (38): the profile the RS must use with the client.
    pub ace_profile: Option<AceProfile>,
    /// `cnonce` (39).
    pub cnonce: Option<Vec<u8>>,
    /// `exi` (40): lifetime in seconds from first sight (§5.10.3).
    pub exi: Option<u64>,
    /// `cnf` (8, RFC 9201): the client's PoP key.
    pub cnf: Option<Confirmation>,
    /// `rs_cnf` (41, RFC 9201).
    pub rs_cnf: Option<Confirmation>,
    /// Parameters not modelled above, as received.
    pub rest: Vec<(Label, Value)>,
}

const RESPONSE_LABELS: [i64; 17] = [
    k::ACTIVE,
    k::ISS,
    k::SUB,
    k::AUD,
    k::EXP,
    k::NBF,
    k::IAT,
    k::CTI,
    k::SCOPE,
    k::CLIENT_ID,
    k::TOKEN_TYPE,
    k::USERNAME,
    k::ACE_PROFILE,
    k::CNONCE,
    k::EXI,
    k::CNF,
    k::RS_CNF,
];

impl IntrospectionResponse {
    /// The answer for an inactive or unknown token: `{10: false}`.
    #[must_use]
    pub fn inactive() -> Self {
        Self::default()
    }

    fn decode_map(v: Value) -> Result<Self> {
        let mut out = Self::default();
        let mut active = None;
        for (l, v) in cbor::map_entries(v, "introspection response")? {
            match l {
                Label::Int(k::ACTIVE) => active = Some(cbor::boolean(&v, "active")?),
                Label::Int(k::ISS) => out.iss = Some(cbor::text(v, "iss")?),
                Label::Int(k::SUB) => out.sub = Some(cbor::text(v, "sub")?),
                Label::Int(k::AUD) => out.aud = Some(cbor::text(v, "aud")?),
                Label::Int(k::EXP) => out.exp = Some(cbor::numeric_date(&v, "exp")?),
                Label::Int(k::NBF) => out.nbf = Some(cbor::numeric_date(&v, "nbf")?),
                Label::Int(k::IAT) => out.iat = Some(cbor::numeric_date(&v, "iat")?),
                Label::Int(k::CTI) => out.cti = Some(cbor::bytes(v, "cti")?),
                Label::Int(k::SCOPE) => out.scope = Some(cbor::scope(v, "scope")?),
                Label::Int(k::CLIENT_ID) => out.client_id = Some(cbor::text(v, "client_id")?),
                Label::Int(k::TOKEN_TYPE) => {
                    out.token_type = Some(TokenType(cbor::int(&v, "token_type")?));
                }
                Label::Int(k::USERNAME) => out.username = Some(cbor::text(v, "username")?),
                Label::Int(k::ACE_PROFILE) => {
                    out.ace_profile = Some(AceProfile(cbor::int(&v, "ace_profile")?));
                }
                Label::Int(k::CNONCE) => out.cnonce = Some(cbor::bytes(v, "cnonce")?),
                Label::Int(k::EXI) => out.exi = Some(cbor::uint(&v, "exi")?),
                Label::Int(k::CNF) => out.cnf = Some(cbor::cnf(v, "cnf")?),
                Label::Int(k::RS_CNF) => out.rs_cnf = Some(cbor::cnf(v, "rs_cnf")?),
                other => out.rest.push((other, v)),
            }
        }
        out.active = active.ok_or(Error::MissingParameter("active"))?;
        Ok(out)
    }

    fn encode_map(&self) -> Result<Value> {
        let mut e = alloc::vec![(k::ACTIVE, Value::Bool(self.active))];
        let text = |e: &mut Vec<(i64, Value)>, key, v: &Option<String>| {
            if let Some(s) = v {
                e.push((key, Value::Text(s.clone())));
            }
        };
        text(&mut e, k::ISS, &self.iss);
        text(&mut e, k::SUB, &self.sub);
        text(&mut e, k::AUD, &self.aud);
        for (key, d) in [(k::EXP, self.exp), (k::NBF, self.nbf), (k::IAT, self.iat)] {
            if let Some(d) = d {
                e.push((key, cbor::numeric_date_value(d)));
            }
        }
        if let Some(s) = &self.cti {
            e.push((k::CTI, Value::Bytes(s.clone())));
        }
        if let Some(s) = &self.scope {
            e.push((k::SCOPE, cbor::scope_value(s)));
        }
        text(&mut e, k::CLIENT_ID, &self.client_id);
        if let Some(t) = self.token_type {
            e.push((k::TOKEN_TYPE, Value::from(t.0)));
        }
        text(&mut e, k::USERNAME, &self.username);
        if let Some(p) = self.ace_profile {
            e.push((k::ACE_PROFILE, Value::from(p.0)));
        }
        if let Some(s) = &self.cnonce {
            e.push((k::CNONCE, Value::Bytes(s.clone())));
        }
        if let Some(x) = self.exi {
            e.push((k::EXI, Value::from(x)));
        }
        if let Some(c) = &self.cnf {
            e.push((k::CNF, cbor::cnf_value(c)?));
        }
        if let Some(c) = &self.rs_cnf {
            e.push((k::RS_CNF, cbor::cnf_value(c)?));
        }
        cbor::build_map(e, &self.rest, &RESPONSE_LABELS)
    }
}

cbor_message!(IntrospectionResponse);
