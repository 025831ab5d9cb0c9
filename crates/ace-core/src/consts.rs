//! Every code point of RFC 9200 (and the RFC 9201 parameters it uses), one submodule per
//! table or registry. Each constant cites the table it comes from; numbers were taken from
//! the RFC 9200 text (`shared/specs/latest/rfc9200-ace-oauth.txt`), the RFC 9201 numbers from
//! the consolidated table D.2 of `spec-core-aif-revocation.md` (RFC 9201 is not in the spec
//! folder).

/// OAuth parameters CBOR mappings used at the token endpoint (RFC 9200 §5.8.5, Table 5; IANA
/// "OAuth Parameters CBOR Mappings", §8.10) plus the RFC 9201 parameters.
pub mod token {
    /// `access_token` (bstr). RFC 9200 §5.8.5, Table 5.
    pub const ACCESS_TOKEN: i64 = 1;
    /// `expires_in` (uint). RFC 9200 §5.8.5, Table 5.
    pub const EXPIRES_IN: i64 = 2;
    /// `req_cnf` (map). RFC 9201 §5 (registered in the §8.10 registry; digest D.2).
    pub const REQ_CNF: i64 = 4;
    /// `audience` (tstr, RFC 8693). RFC 9200 §5.8.5, Table 5.
    pub const AUDIENCE: i64 = 5;
    /// `cnf` (map). RFC 9201 §5 (digest D.2).
    pub const CNF: i64 = 8;
    /// `scope` (tstr or bstr). RFC 9200 §5.8.5, Table 5.
    pub const SCOPE: i64 = 9;
    /// `client_id` (tstr). RFC 9200 §5.8.5, Table 5.
    pub const CLIENT_ID: i64 = 24;
    /// `client_secret` (bstr). RFC 9200 §5.8.5, Table 5.
    pub const CLIENT_SECRET: i64 = 25;
    /// `response_type` (tstr). RFC 9200 §5.8.5, Table 5.
    pub const RESPONSE_TYPE: i64 = 26;
    /// `redirect_uri` (tstr). RFC 9200 §5.8.5, Table 5.
    pub const REDIRECT_URI: i64 = 27;
    /// `state` (tstr). RFC 9200 §5.8.5, Table 5.
    pub const STATE: i64 = 28;
    /// `code` (bstr). RFC 9200 §5.8.5, Table 5.
    pub const CODE: i64 = 29;
    /// `error` (int). RFC 9200 §5.8.5, Table 5.
    pub const ERROR: i64 = 30;
    /// `error_description` (tstr). RFC 9200 §5.8.5, Table 5.
    pub const ERROR_DESCRIPTION: i64 = 31;
    /// `error_uri` (tstr). RFC 9200 §5.8.5, Table 5.
    pub const ERROR_URI: i64 = 32;
    /// `grant_type` (uint). RFC 9200 §5.8.5, Table 5.
    pub const GRANT_TYPE: i64 = 33;
    /// `token_type` (int). RFC 9200 §5.8.5, Table 5.
    pub const TOKEN_TYPE: i64 = 34;
    /// `username` (tstr). RFC 9200 §5.8.5, Table 5.
    pub const USERNAME: i64 = 35;
    /// `password` (tstr). RFC 9200 §5.8.5, Table 5.
    pub const PASSWORD: i64 = 36;
    /// `refresh_token` (bstr). RFC 9200 §5.8.5, Table 5.
    pub const REFRESH_TOKEN: i64 = 37;
    /// `ace_profile` (int; `null` in a request). RFC 9200 §5.8.5, Table 5.
    pub const ACE_PROFILE: i64 = 38;
    /// `cnonce` (bstr). RFC 9200 §5.8.5, Table 5.
    pub const CNONCE: i64 = 39;
    /// `rs_cnf` (map). RFC 9201 §5 (digest D.2).
    pub const RS_CNF: i64 = 41;
}

/// Token introspection CBOR mappings (RFC 9200 §5.9.4, Table 6; IANA §8.12) plus the RFC
/// 9201 parameters.
pub mod introspection {
    /// `iss` (tstr). RFC 9200 §5.9.4, Table 6.
    pub const ISS: i64 = 1;
    /// `sub` (tstr). RFC 9200 §5.9.4, Table 6.
    pub const SUB: i64 = 2;
    /// `aud` (tstr). RFC 9200 §5.9.4, Table 6.
    pub const AUD: i64 = 3;
    /// `exp` (int or float). RFC 9200 §5.9.4, Table 6.
    pub const EXP: i64 = 4;
    /// `nbf` (int or float). RFC 9200 §5.9.4, Table 6.
    pub const NBF: i64 = 5;
    /// `iat` (int or float). RFC 9200 §5.9.4, Table 6.
    pub const IAT: i64 = 6;
    /// `cti` (bstr). RFC 9200 §5.9.4, Table 6.
    pub const CTI: i64 = 7;
    /// `cnf` (map). RFC 9201 §5 (digest D.2).
    pub const CNF: i64 = 8;
    /// `scope` (tstr or bstr). RFC 9200 §5.9.4, Table 6.
    pub const SCOPE: i64 = 9;
    /// `active` (bool). RFC 9200 §5.9.4, Table 6.
    pub const ACTIVE: i64 = 10;
    /// `token` (bstr). RFC 9200 §5.9.4, Table 6.
    pub const TOKEN: i64 = 11;
    /// `client_id` (tstr). RFC 9200 §5.9.4, Table 6.
    pub const CLIENT_ID: i64 = 24;
    /// `error` (int). RFC 9200 §5.9.4, Table 6.
    pub const ERROR: i64 = 30;
    /// `error_description` (tstr). RFC 9200 §5.9.4, Table 6.
    pub const ERROR_DESCRIPTION: i64 = 31;
    /// `error_uri` (tstr). RFC 9200 §5.9.4, Table 6.
    pub const ERROR_URI: i64 = 32;
    /// `token_type_hint` (tstr per Table 6; Figure 9 sends an int). RFC 9200 §5.9.4, Table 6.
    pub const TOKEN_TYPE_HINT: i64 = 33;
    /// `token_type` (int). RFC 9200 §5.9.4, Table 6.
    pub const TOKEN_TYPE: i64 = 34;
    /// `username` (tstr). RFC 9200 §5.9.4, Table 6.
    pub const USERNAME: i64 = 35;
    /// `ace_profile` (int). RFC 9200 §5.9.4, Table 6.
    pub const ACE_PROFILE: i64 = 38;
    /// `cnonce` (bstr). RFC 9200 §5.9.4, Table 6.
    pub const CNONCE: i64 = 39;
    /// `exi` (uint). RFC 9200 §5.9.4, Table 6.
    pub const EXI: i64 = 40;
    /// `rs_cnf` (map). RFC 9201 §5 (digest D.2).
    pub const RS_CNF: i64 = 41;
}

/// AS Request Creation Hints (RFC 9200 §5.3, Table 1; IANA §8.1).
pub mod hints {
    /// `AS` (tstr, absolute URI). RFC 9200 §5.3, Table 1.
    pub const AS: i64 = 1;
    /// `kid` (bstr). RFC 9200 §5.3, Table 1.
    pub const KID: i64 = 2;
    /// `audience` (tstr). RFC 9200 §5.3, Table 1.
    pub const AUDIENCE: i64 = 5;
    /// `scope` (tstr or bstr). RFC 9200 §5.3, Table 1.
    pub const SCOPE: i64 = 9;
    /// `cnonce` (bstr). RFC 9200 §5.3, Table 1.
    pub const CNONCE: i64 = 39;
}

/// OAuth error code CBOR values (RFC 9200 §5.8.3, Table 3; IANA §8.4).
pub mod error {
    /// `invalid_request`. RFC 9200 §5.8.3, Table 3.
    pub const INVALID_REQUEST: i64 = 1;
    /// `invalid_client`. RFC 9200 §5.8.3, Table 3.
    pub const INVALID_CLIENT: i64 = 2;
    /// `invalid_grant`. RFC 9200 §5.8.3, Table 3.
    pub const INVALID_GRANT: i64 = 3;
    /// `unauthorized_client`. RFC 9200 §5.8.3, Table 3.
    pub const UNAUTHORIZED_CLIENT: i64 = 4;
    /// `unsupported_grant_type`. RFC 9200 §5.8.3, Table 3.
    pub const UNSUPPORTED_GRANT_TYPE: i64 = 5;
    /// `invalid_scope`. RFC 9200 §5.8.3, Table 3.
    pub const INVALID_SCOPE: i64 = 6;
    /// `unsupported_pop_key`. RFC 9200 §5.8.3, Table 3.
    pub const UNSUPPORTED_POP_KEY: i64 = 7;
    /// `incompatible_ace_profiles`. RFC 9200 §5.8.3, Table 3.
    pub const INCOMPATIBLE_ACE_PROFILES: i64 = 8;
}

/// OAuth grant type CBOR values (RFC 9200 §5.8.4.1, Table 4; IANA §8.5).
pub mod grant_type {
    /// `password`. RFC 9200 §5.8.4.1, Table 4.
    pub const PASSWORD: i64 = 0;
    /// `authorization_code`. RFC 9200 §5.8.4.1, Table 4.
    pub const AUTHORIZATION_CODE: i64 = 1;
    /// `client_credentials` (the default when absent, §5.8.1). RFC 9200 §5.8.4.1, Table 4.
    pub const CLIENT_CREDENTIALS: i64 = 2;
    /// `refresh_token`. RFC 9200 §5.8.4.1, Table 4.
    pub const REFRESH_TOKEN: i64 = 3;
}

/// OAuth access token type CBOR values (RFC 9200 §8.7.1).
pub mod token_type {
    /// `Bearer`. RFC 9200 §8.7.1.
    pub const BEARER: i64 = 1;
    /// `PoP` (the default when absent, §5.8.2). RFC 9200 §8.7.1.
    pub const POP: i64 = 2;
}

/// ACE Profile registry values (RFC 9200 §8.8): owned by `ace-token`, which carries them in the
/// `ace_profile` claim, and re-exported here.
pub use ace_token::consts::profile;

/// CWT claims registered by RFC 9200 (§8.14) and the other CWT claim keys: owned by `ace-token`
/// (the claims codec), re-exported here.
pub use ace_token::consts::claim as cwt_claim;

/// Default resource paths and the resource type (RFC 9200 §5.8, §5.9, §5.10.1, §8.2).
pub mod path {
    /// Token endpoint default path ("SHOULD be '/token'"). RFC 9200 §5.8.
    pub const TOKEN: &str = "token";
    /// Introspection endpoint default path. RFC 9200 §5.9.
    pub const INTROSPECT: &str = "introspect";
    /// Authz-info endpoint default path. RFC 9200 §5.10.1.
    pub const AUTHZ_INFO: &str = "authz-info";
    /// Resource type of the authz-info endpoint. RFC 9200 §8.2.
    pub const AUTHZ_INFO_RT: &str = "ace.ai";
}

/// CoAP response codes the engines answer with (RFC 7252 §12.1.2), besides the 4.00 / 4.01 /
/// 4.03 / 4.13 / 5.00 constants of [`crate::CoapCode`].
pub mod code {
    use crate::CoapCode;

    /// 2.01 Created: token issued (RFC 9200 §5.8.2), introspection answered (§5.9.2), token
    /// accepted at authz-info (§5.10.1).
    pub const CREATED: CoapCode = CoapCode {
        class: 2,
        detail: 1,
    };
    /// 4.05 Method Not Allowed: the token covers the resource but not the method (RFC 9200
    /// §5.10.2).
    pub const METHOD_NOT_ALLOWED: CoapCode = CoapCode {
        class: 4,
        detail: 5,
    };
    /// 5.03 Service Unavailable: the RS's token storage is full (RFC 9200 §5.10.1.2 points to
    /// RFC 8516 for overload signalling).
    pub const SERVICE_UNAVAILABLE: CoapCode = CoapCode {
        class: 5,
        detail: 3,
    };
}

/// Default decoder limits (our choice; not from a specification).
pub mod limits {
    /// Largest CBOR or JSON message the decoders accept by default, in bytes. Tokens are at
    /// most 4096 bytes in `ace-token`'s default policy; keys and parameters fit in the rest.
    pub const MAX_MESSAGE_SIZE: usize = 8192;
}

/// A CoAP Content-Format (open: unknown values are carried as numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentFormat(pub u16);

impl ContentFormat {
    /// `application/ace+cbor`: every CBOR ACE message. RFC 9200 §8.16.
    pub const ACE_CBOR: Self = Self(19);
    /// `application/octet-stream`: tokens of a format without own Content-Format (RFC 9200
    /// §5.10.1; value from the IANA registry, digest D.2).
    pub const OCTET_STREAM: Self = Self(42);
    /// `application/cbor` (RFC 8949; digest D.2).
    pub const CBOR: Self = Self(60);
    /// `application/cwt`: a CWT POSTed to authz-info (RFC 9200 §5.10.1; RFC 8392 §9.5).
    pub const CWT: Self = Self(61);
}
