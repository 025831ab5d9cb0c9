//! Token endpoint messages (RFC 9200 §5.8).

use alloc::string::String;
use alloc::vec::Vec;

use ace_token::{AceProfile, Confirmation, Scope};
use coset::Label;
use coset::cbor::value::Value;

use crate::cbor::{self, cbor_message};
use crate::consts::{grant_type as gt, token as k, token_type as tt};
use crate::error::{Error, Result};

/// A grant type (RFC 9200 §5.8.4.1, Table 4). Open: unknown values round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GrantType(pub i64);

impl GrantType {
    /// `password` (0).
    pub const PASSWORD: Self = Self(gt::PASSWORD);
    /// `authorization_code` (1).
    pub const AUTHORIZATION_CODE: Self = Self(gt::AUTHORIZATION_CODE);
    /// `client_credentials` (2), implied when `grant_type` is absent (§5.8.1).
    pub const CLIENT_CREDENTIALS: Self = Self(gt::CLIENT_CREDENTIALS);
    /// `refresh_token` (3).
    pub const REFRESH_TOKEN: Self = Self(gt::REFRESH_TOKEN);

    const NAMES: [(Self, &'static str); 4] = [
        (Self::PASSWORD, "password"),
        (Self::AUTHORIZATION_CODE, "authorization_code"),
        (Self::CLIENT_CREDENTIALS, "client_credentials"),
        (Self::REFRESH_TOKEN, "refresh_token"),
    ];

    /// The RFC 6749 name, for registered values.
    #[must_use]
    pub fn name(self) -> Option<&'static str> {
        Self::NAMES
            .iter()
            .find(|(g, _)| *g == self)
            .map(|(_, n)| *n)
    }

    /// The value for an RFC 6749 name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(g, _)| *g)
    }
}

/// An access token type (RFC 9200 §5.8.4.2, §8.7.1). Open: unknown values round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenType(pub i64);

impl TokenType {
    /// `Bearer` (1).
    pub const BEARER: Self = Self(tt::BEARER);
    /// `PoP` (2), the default when `token_type` is absent (§5.8.2).
    pub const POP: Self = Self(tt::POP);

    /// The registered name (`Bearer`, `PoP`).
    #[must_use]
    pub fn name(self) -> Option<&'static str> {
        match self {
            Self::BEARER => Some("Bearer"),
            Self::POP => Some("PoP"),
            _ => None,
        }
    }

    /// The value for a name, matched case-insensitively (RFC 6749 §5.1).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("Bearer") {
            Some(Self::BEARER)
        } else if name.eq_ignore_ascii_case("PoP") {
            Some(Self::POP)
        } else {
            None
        }
    }
}

/// An access token request (RFC 9200 §5.8.1; parameters of RFC 6749 §4, Table 5, RFC 9201).
///
/// Which parameters a grant needs (RFC 6749 §4) is the AS's check, not the decoder's: every
/// field is optional here.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TokenRequest {
    /// `grant_type` (33). Absent means `client_credentials` ([`Self::effective_grant_type`]).
    pub grant_type: Option<GrantType>,
    /// `client_id` (24).
    pub client_id: Option<String>,
    /// `client_secret` (25): a byte string; a text string is accepted and kept as its UTF-8
    /// bytes (digest A.4 item 11).
    pub client_secret: Option<Vec<u8>>,
    /// `audience` (5, RFC 8693).
    pub audience: Option<String>,
    /// `scope` (9): text, or bytes (e.g. AIF from the `aif` crate).
    pub scope: Option<Scope>,
    /// `req_cnf` (4, RFC 9201): the PoP key the client wants, or a `kid` reference.
    pub req_cnf: Option<Confirmation>,
    /// `ace_profile` (38) sent as `null`: the client asks the AS to name the profile
    /// (§5.8.4.3). Any other value at 38 is refused in a request.
    pub ace_profile_requested: bool,
    /// `cnonce` (39, §5.8.4.4): copied from the AS Request Creation Hints.
    pub cnonce: Option<Vec<u8>>,
    /// `code` (29): the authorization code (RFC 6749 §4.1.3).
    pub code: Option<Vec<u8>>,
    /// `redirect_uri` (27).
    pub redirect_uri: Option<String>,
    /// `username` (35), for the password grant.
    pub username: Option<String>,
    /// `password` (36), for the password grant.
    pub password: Option<String>,
    /// `refresh_token` (37), for the refresh grant.
    pub refresh_token: Option<Vec<u8>>,
    /// Parameters not modelled above (profile-specific ones), as received.
    pub rest: Vec<(Label, Value)>,
}

const REQUEST_LABELS: [i64; 13] = [
    k::GRANT_TYPE,
    k::CLIENT_ID,
    k::CLIENT_SECRET,
    k::AUDIENCE,
    k::SCOPE,
    k::REQ_CNF,
    k::ACE_PROFILE,
    k::CNONCE,
    k::CODE,
    k::REDIRECT_URI,
    k::USERNAME,
    k::PASSWORD,
    k::REFRESH_TOKEN,
];

impl TokenRequest {
    /// The grant type, with the RFC 9200 §5.8.1 default `client_credentials`.
    #[must_use]
    pub fn effective_grant_type(&self) -> GrantType {
        self.grant_type.unwrap_or(GrantType::CLIENT_CREDENTIALS)
    }

    fn decode_map(v: Value) -> Result<Self> {
        let mut out = Self::default();
        for (l, v) in cbor::map_entries(v, "token request")? {
            match l {
                Label::Int(k::GRANT_TYPE) => {
                    out.grant_type = Some(GrantType(cbor::int(&v, "grant_type")?));
                }
                Label::Int(k::CLIENT_ID) => out.client_id = Some(cbor::text(v, "client_id")?),
                Label::Int(k::CLIENT_SECRET) => {
                    out.client_secret = Some(match v {
                        Value::Bytes(b) => b,
                        Value::Text(s) => s.into_bytes(),
                        _ => {
                            return Err(Error::WrongType {
                                param: "client_secret",
                                expected: "byte string",
                            });
                        }
                    });
                }
                Label::Int(k::AUDIENCE) => out.audience = Some(cbor::text(v, "audience")?),
                Label::Int(k::SCOPE) => out.scope = Some(cbor::scope(v, "scope")?),
                Label::Int(k::REQ_CNF) => out.req_cnf = Some(cbor::req_cnf(v, "req_cnf")?),
                Label::Int(k::ACE_PROFILE) => {
                    if v != Value::Null {
                        return Err(Error::WrongType {
                            param: "ace_profile",
                            expected: "null (in a request)",
                        });
                    }
                    out.ace_profile_requested = true;
                }
                Label::Int(k::CNONCE) => out.cnonce = Some(cbor::bytes(v, "cnonce")?),
                Label::Int(k::CODE) => out.code = Some(cbor::bytes(v, "code")?),
                Label::Int(k::REDIRECT_URI) => {
                    out.redirect_uri = Some(cbor::text(v, "redirect_uri")?);
                }
                Label::Int(k::USERNAME) => out.username = Some(cbor::text(v, "username")?),
                Label::Int(k::PASSWORD) => out.password = Some(cbor::text(v, "password")?),
                Label::Int(k::REFRESH_TOKEN) => {
                    out.refresh_token = Some(cbor::bytes(v, "refresh_token")?);
                }
                other => out.rest.push((other, v)),
            }
        }
        Ok(out)
    }

    fn encode_map(&self) -> Result<Value> {
        let mut e: Vec<(i64, Value)> = Vec::new();
        if let Some(g) = self.grant_type {
            e.push((k::GRANT_TYPE, Value::from(g.0)));
        }
        if let Some(s) = &self.client_id {
            e.push((k::CLIENT_ID, Value::Text(s.clone())));
        }
        if let Some(s) = &self.client_secret {
            e.push((k::CLIENT_SECRET, Value::Bytes(s.clone())));
        }
        if let Some(s) = &self.audience {
            e.push((k::AUDIENCE, Value::Text(s.clone())));
        }
        if let Some(s) = &self.scope {
            e.push((k::SCOPE, cbor::scope_value(s)));
        }
        if let Some(c) = &self.req_cnf {
            e.push((k::REQ_CNF, cbor::cnf_value(c)?));
        }
        if self.ace_profile_requested {
            e.push((k::ACE_PROFILE, Value::Null));
        }
        if let Some(s) = &self.cnonce {
            e.push((k::CNONCE, Value::Bytes(s.clone())));
        }
        if let Some(s) = &self.code {
            e.push((k::CODE, Value::Bytes(s.clone())));
        }
        if let Some(s) = &self.redirect_uri {
            e.push((k::REDIRECT_URI, Value::Text(s.clone())));
        }
        if let Some(s) = &self.username {
            e.push((k::USERNAME, Value::Text(s.clone())));
        }
        if let Some(s) = &self.password {
            e.push((k::PASSWORD, Value::Text(s.clone())));
        }
        if let Some(s) = &self.refresh_token {
            e.push((k::REFRESH_TOKEN, Value::Bytes(s.clone())));
        }
        cbor::build_map(e, &self.rest, &REQUEST_LABELS)
    }
}

cbor_message!(TokenRequest);

/// A successful token response, the Access Information (RFC 9200 §5.8.2, Table 2).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TokenResponse {
    /// `access_token` (1, required): the token as the client forwards it to the RS.
    pub access_token: Vec<u8>,
    /// `token_type` (34). Absent means PoP ([`Self::effective_token_type`]).
    pub token_type: Option<TokenType>,
    /// `expires_in` (2): lifetime in seconds.
    pub expires_in: Option<u64>,
    /// `refresh_token` (37).
    pub refresh_token: Option<Vec<u8>>,
    /// `scope` (9): required when it differs from the requested scope (RFC 6749 §5.1).
    pub scope: Option<Scope>,
    /// `state` (28).
    pub state: Option<String>,
    /// `ace_profile` (38): the profile the client must use towards the RS (§5.8.4.3).
    pub ace_profile: Option<AceProfile>,
    /// `cnf` (8, RFC 9201): the PoP key for the client (e.g. an AS-generated symmetric key).
    pub cnf: Option<Confirmation>,
    /// `rs_cnf` (41, RFC 9201): the key the RS authenticates with.
    pub rs_cnf: Option<Confirmation>,
    /// Parameters not modelled above (profile-specific ones), as received.
    pub rest: Vec<(Label, Value)>,
}

const RESPONSE_LABELS: [i64; 9] = [
    k::ACCESS_TOKEN,
    k::TOKEN_TYPE,
    k::EXPIRES_IN,
    k::REFRESH_TOKEN,
    k::SCOPE,
    k::STATE,
    k::ACE_PROFILE,
    k::CNF,
    k::RS_CNF,
];

impl TokenResponse {
    /// The token type, with the RFC 9200 §5.8.2 default PoP.
    #[must_use]
    pub fn effective_token_type(&self) -> TokenType {
        self.token_type.unwrap_or(TokenType::POP)
    }

    fn decode_map(v: Value) -> Result<Self> {
        let mut out = Self::default();
        let mut access_token = None;
        for (l, v) in cbor::map_entries(v, "token response")? {
            match l {
                Label::Int(k::ACCESS_TOKEN) => {
                    access_token = Some(cbor::bytes(v, "access_token")?);
                }
                Label::Int(k::TOKEN_TYPE) => {
                    out.token_type = Some(TokenType(cbor::int(&v, "token_type")?));
                }
                Label::Int(k::EXPIRES_IN) => out.expires_in = Some(cbor::uint(&v, "expires_in")?),
                Label::Int(k::REFRESH_TOKEN) => {
                    out.refresh_token = Some(cbor::bytes(v, "refresh_token")?);
                }
                Label::Int(k::SCOPE) => out.scope = Some(cbor::scope(v, "scope")?),
                Label::Int(k::STATE) => out.state = Some(cbor::text(v, "state")?),
                Label::Int(k::ACE_PROFILE) => {
                    // §5.8.4.3: the text form "MUST NOT be used for CBOR-based interactions".
                    out.ace_profile = Some(AceProfile(cbor::int(&v, "ace_profile")?));
                }
                Label::Int(k::CNF) => out.cnf = Some(cbor::cnf(v, "cnf")?),
                Label::Int(k::RS_CNF) => out.rs_cnf = Some(cbor::cnf(v, "rs_cnf")?),
                other => out.rest.push((other, v)),
            }
        }
        out.access_token = access_token.ok_or(Error::MissingParameter("access_token"))?;
        Ok(out)
    }

    fn encode_map(&self) -> Result<Value> {
        let mut e: Vec<(i64, Value)> =
            alloc::vec![(k::ACCESS_TOKEN, Value::Bytes(self.access_token.clone()))];
        if let Some(t) = self.token_type {
            e.push((k::TOKEN_TYPE, Value::from(t.0)));
        }
        if let Some(x) = self.expires_in {
            e.push((k::EXPIRES_IN, Value::from(x)));
        }
        if let Some(s) = &self.refresh_token {
            e.push((k::REFRESH_TOKEN, Value::Bytes(s.clone())));
        }
        if let Some(s) = &self.scope {
            e.push((k::SCOPE, cbor::scope_value(s)));
        }
        if let Some(s) = &self.state {
            e.push((k::STATE, Value::Text(s.clone())));
        }
        if let Some(p) = self.ace_profile {
            e.push((k::ACE_PROFILE, Value::from(p.0)));
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

cbor_message!(TokenResponse);
