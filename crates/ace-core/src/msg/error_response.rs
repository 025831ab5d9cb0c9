//! Error responses of the AS (RFC 9200 §5.8.3, §5.9.3).

use alloc::string::String;
use alloc::vec::Vec;

use coset::Label;
use coset::cbor::value::Value;

use crate::cbor::{self, cbor_message};
use crate::consts::{error as ec, token as k};
use crate::error::{CoapCode, Error, Result};

/// An OAuth error code (RFC 9200 §5.8.3, Table 3). Open: unknown values round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub i64);

impl ErrorCode {
    /// `invalid_request` (1).
    pub const INVALID_REQUEST: Self = Self(ec::INVALID_REQUEST);
    /// `invalid_client` (2).
    pub const INVALID_CLIENT: Self = Self(ec::INVALID_CLIENT);
    /// `invalid_grant` (3).
    pub const INVALID_GRANT: Self = Self(ec::INVALID_GRANT);
    /// `unauthorized_client` (4).
    pub const UNAUTHORIZED_CLIENT: Self = Self(ec::UNAUTHORIZED_CLIENT);
    /// `unsupported_grant_type` (5).
    pub const UNSUPPORTED_GRANT_TYPE: Self = Self(ec::UNSUPPORTED_GRANT_TYPE);
    /// `invalid_scope` (6).
    pub const INVALID_SCOPE: Self = Self(ec::INVALID_SCOPE);
    /// `unsupported_pop_key` (7).
    pub const UNSUPPORTED_POP_KEY: Self = Self(ec::UNSUPPORTED_POP_KEY);
    /// `incompatible_ace_profiles` (8).
    pub const INCOMPATIBLE_ACE_PROFILES: Self = Self(ec::INCOMPATIBLE_ACE_PROFILES);

    const NAMES: [(Self, &'static str); 8] = [
        (Self::INVALID_REQUEST, "invalid_request"),
        (Self::INVALID_CLIENT, "invalid_client"),
        (Self::INVALID_GRANT, "invalid_grant"),
        (Self::UNAUTHORIZED_CLIENT, "unauthorized_client"),
        (Self::UNSUPPORTED_GRANT_TYPE, "unsupported_grant_type"),
        (Self::INVALID_SCOPE, "invalid_scope"),
        (Self::UNSUPPORTED_POP_KEY, "unsupported_pop_key"),
        (Self::INCOMPATIBLE_ACE_PROFILES, "incompatible_ace_profiles"),
    ];

    /// The RFC 6749 / RFC 9200 name, for registered values.
    #[must_use]
    pub fn name(self) -> Option<&'static str> {
        Self::NAMES
            .iter()
            .find(|(c, _)| *c == self)
            .map(|(_, n)| *n)
    }

    /// The value for a name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(c, _)| *c)
    }
}

/// An error response body (RFC 9200 §5.8.3; RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorResponse {
    /// `error` (30, required).
    pub error: ErrorCode,
    /// `error_description` (31).
    pub error_description: Option<String>,
    /// `error_uri` (32).
    pub error_uri: Option<String>,
    /// Parameters not modelled above, as received.
    pub rest: Vec<(Label, Value)>,
}

const LABELS: [i64; 3] = [k::ERROR, k::ERROR_DESCRIPTION, k::ERROR_URI];

impl ErrorResponse {
    /// An error response with only the code.
    #[must_use]
    pub fn new(error: ErrorCode) -> Self {
        Self {
            error,
            error_description: None,
            error_uri: None,
            rest: Vec::new(),
        }
    }

    /// The CoAP response code to send it with (RFC 9200 §5.8.3): 4.00 for every error, except
    /// 4.01 for `invalid_client` (the RFC's MAY; our pick, digest A.4 item 19: failed client
    /// authentication is 4.01).
    #[must_use]
    pub fn coap_code(&self) -> CoapCode {
        if self.error == ErrorCode::INVALID_CLIENT {
            CoapCode::UNAUTHORIZED
        } else {
            CoapCode::BAD_REQUEST
        }
    }

    fn decode_map(v: Value) -> Result<Self> {
        let mut error = None;
        let mut out = Self::new(ErrorCode::INVALID_REQUEST);
        for (l, v) in cbor::map_entries(v, "error response")? {
            match l {
                // §5.8.3: the error code "MUST be abbreviated": an integer, never text.
                Label::Int(k::ERROR) => error = Some(ErrorCode(cbor::int(&v, "error")?)),
                Label::Int(k::ERROR_DESCRIPTION) => {
                    out.error_description = Some(cbor::text(v, "error_description")?);
                }
                Label::Int(k::ERROR_URI) => out.error_uri = Some(cbor::text(v, "error_uri")?),
                other => out.rest.push((other, v)),
            }
        }
        out.error = error.ok_or(Error::MissingParameter("error"))?;
        Ok(out)
    }

    fn encode_map(&self) -> Result<Value> {
        let mut e = alloc::vec![(k::ERROR, Value::from(self.error.0))];
        if let Some(s) = &self.error_description {
            e.push((k::ERROR_DESCRIPTION, Value::Text(s.clone())));
        }
        if let Some(s) = &self.error_uri {
            e.push((k::ERROR_URI, Value::Text(s.clone())));
        }
        cbor::build_map(e, &self.rest, &LABELS)
    }
}

cbor_message!(ErrorResponse);
