//! The RFC 9200 messages as plain data, with their CBOR codecs (`application/ace+cbor`).
//!
//! Every message is a public-field struct with a `rest` list that keeps parameters this crate
//! does not model, as received (RFC 6749 §3.2: unknown parameters are ignored, not
//! refused; profiles add parameters, RFC 9200 §5.8.4.3). Decoding is strict about what it
//! models: wrong types, duplicate keys, trailing bytes and oversized inputs are errors.
//! Encoding uses the integer abbreviations and RFC 8949 §4.2.1 deterministic key order.

mod authz_info;
mod error_response;
mod hints;
mod introspection;
mod token;

pub use authz_info::{AuthzInfoRequest, AuthzInfoResponse};
pub use error_response::{ErrorCode, ErrorResponse};
pub use hints::CreationHints;
pub use introspection::{IntrospectionRequest, IntrospectionResponse, TokenTypeHint};
pub use token::{GrantType, TokenRequest, TokenResponse, TokenType};
