//! The authz-info endpoint payloads (RFC 9200 §5.10.1).

use alloc::vec::Vec;

use coset::Label;
use coset::cbor::value::Value;

use crate::cbor;
use crate::consts::{ContentFormat, limits, token as k};
use crate::error::{Error, Result};

/// The payload of a POST to authz-info.
///
/// RFC 9200 §5.10.1 POSTs the token itself, with the token's Content-Format
/// (`application/cwt` for a CWT, `application/octet-stream` otherwise). Profiles may instead
/// send an `application/ace+cbor` map carrying `access_token` (1) and profile parameters
/// (RFC 9203 §4.1: `nonce1`, `ace_client_recipientid`); those stay in `rest` for the
/// profile to read.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthzInfoRequest {
    /// The token bytes as the payload (RFC 9200 §5.10.1).
    Token(Vec<u8>),
    /// An `application/ace+cbor` map with `access_token` and extension parameters.
    Params {
        /// `access_token` (1).
        access_token: Vec<u8>,
        /// The other parameters, as received (profile-specific).
        rest: Vec<(Label, Value)>,
    },
}

impl AuthzInfoRequest {
    /// The access token.
    #[must_use]
    pub fn access_token(&self) -> &[u8] {
        match self {
            Self::Token(t)
            | Self::Params {
                access_token: t, ..
            } => t,
        }
    }

    /// An extension parameter of the map form.
    #[must_use]
    pub fn param(&self, label: i64) -> Option<&Value> {
        match self {
            Self::Token(_) => None,
            Self::Params { rest, .. } => rest
                .iter()
                .find(|(l, _)| *l == Label::Int(label))
                .map(|(_, v)| v),
        }
    }

    /// Decodes a payload received with `content_format` (absent: treated as the raw token),
    /// with the default size limit.
    ///
    /// The raw token is not parsed here: whether it "parses to a token" is the RS's token
    /// validation (ace-token), which answers 4.00 when it does not (§5.10.1).
    ///
    /// # Errors
    /// [`Error::TooLarge`], [`Error::EmptyPayload`], [`Error::UnsupportedContentFormat`] for
    /// a format other than `application/cwt`, `application/octet-stream` and
    /// `application/ace+cbor`; the CBOR errors for a malformed map; and
    /// [`Error::MissingParameter`] without `access_token`.
    pub fn decode(content_format: Option<ContentFormat>, payload: &[u8]) -> Result<Self> {
        Self::decode_with_limit(content_format, payload, limits::MAX_MESSAGE_SIZE)
    }

    /// As [`Self::decode`], refusing payloads longer than `max` bytes.
    ///
    /// # Errors
    /// As [`Self::decode`].
    pub fn decode_with_limit(
        content_format: Option<ContentFormat>,
        payload: &[u8],
        max: usize,
    ) -> Result<Self> {
        if payload.len() > max {
            return Err(Error::TooLarge {
                len: payload.len(),
                max,
            });
        }
        match content_format {
            None | Some(ContentFormat::CWT | ContentFormat::OCTET_STREAM) => {
                if payload.is_empty() {
                    return Err(Error::EmptyPayload);
                }
                Ok(Self::Token(payload.to_vec()))
            }
            Some(ContentFormat::ACE_CBOR) => {
                let mut access_token = None;
                let mut rest = Vec::new();
                for (l, v) in cbor::map_entries(cbor::decode_value(payload, max)?, "authz-info")? {
                    match l {
                        Label::Int(k::ACCESS_TOKEN) => {
                            access_token = Some(cbor::bytes(v, "access_token")?);
                        }
                        other => rest.push((other, v)),
                    }
                }
                let access_token = access_token.ok_or(Error::MissingParameter("access_token"))?;
                Ok(Self::Params { access_token, rest })
            }
            Some(other) => Err(Error::UnsupportedContentFormat(other.0)),
        }
    }

    /// The Content-Format to send this payload with: `token_format` (CWT or octet-stream)
    /// for the raw form, `application/ace+cbor` for the map form.
    #[must_use]
    pub fn content_format(&self, token_format: ContentFormat) -> ContentFormat {
        match self {
            Self::Token(_) => token_format,
            Self::Params { .. } => ContentFormat::ACE_CBOR,
        }
    }

    /// The payload bytes.
    ///
    /// # Errors
    /// [`Error::Misuse`] when `rest` reuses label 1 or repeats a label.
    pub fn encode(&self) -> Result<Vec<u8>> {
        match self {
            Self::Token(t) => Ok(t.clone()),
            Self::Params { access_token, rest } => cbor::encode_value(&cbor::build_map(
                alloc::vec![(k::ACCESS_TOKEN, Value::Bytes(access_token.clone()))],
                rest,
                &[k::ACCESS_TOKEN],
            )?),
        }
    }
}

/// The payload of a 2.01 answer from authz-info: empty in the framework (§5.10.1), an
/// `application/ace+cbor` map of profile parameters otherwise (RFC 9203 §4.2: `nonce2`,
/// `ace_server_recipientid`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuthzInfoResponse {
    /// The parameters (empty: no payload).
    pub rest: Vec<(Label, Value)>,
}

impl AuthzInfoResponse {
    /// Decodes a response payload (empty payload: no parameters).
    ///
    /// # Errors
    /// The CBOR errors for a malformed or oversized map.
    pub fn decode(payload: &[u8]) -> Result<Self> {
        if payload.is_empty() {
            return Ok(Self::default());
        }
        let rest = cbor::map_entries(
            cbor::decode_value(payload, limits::MAX_MESSAGE_SIZE)?,
            "authz-info response",
        )?;
        Ok(Self { rest })
    }

    /// The payload: empty without parameters, else a CBOR map.
    ///
    /// # Errors
    /// [`Error::Misuse`] for repeated labels.
    pub fn encode(&self) -> Result<Vec<u8>> {
        if self.rest.is_empty() {
            return Ok(Vec::new());
        }
        cbor::encode_value(&cbor::build_map(Vec::new(), &self.rest, &[])?)
    }
}
