//! CWT access tokens for ACE (RFC 9200) on `coset`: claims, `cnf` proof-of-possession keys,
//! COSE protection, issuing, and a one-call validator for Resource Servers.
//!
//! ```text
//!   AS: Claims ──Issuer::{sign1, mac0, encrypt0, nested}──► 61(16/17/18([...])) bytes
//!
//!   RS: bytes ──Validator::validate(bytes, now, &resolver, &backend)──►
//!         Ok(ValidatedToken { claims, pop: COSE_Key | kid | OSCORE_Input_Material })
//!         Err(Error::{TooLarge, TrailingBytes, Malformed, AlgorithmNotAccepted, BadSignature,
//!                     BadTag, DecryptionFailed, AudienceMismatch, Expired, NotYetValid,
//!                     MissingClaim, UnknownCriticalHeader, ...})
//! ```
//!
//! Crypto goes through the [`ace_crypto`] backend traits (re-exported here); keys are found by a
//! [`KeyResolver`] from the token's `kid`, algorithm and (unverified) issuer. Time is an
//! argument: the crate never reads a clock. JWTs (JWS compact, HS256/ES256/EdDSA; feature
//! `jwt`) map to the same [`Claims`] and go through the same [`Policy`] checks:
//! `Validator::validate_jwt`, `JwtIssuer`. It does not do: JWE, multi-recipient COSE
//! (COSE_Sign, COSE_Mac, COSE_Encrypt), token storage, introspection, revocation lists.
//!
//! ```
//! # #[cfg(feature = "rustcrypto")] {
//! use ace_token::{
//!     Algorithm, ClaimsBuilder, Issuer, KeySet, Policy, RustCrypto, TokenKey, UnixTime, Validator,
//! };
//!
//! let key = [0x11u8; 32];
//! let now = UnixTime(1_700_000_000);
//! let claims = ClaimsBuilder::new()
//!     .issuer("as.example")
//!     .audience("rs1")
//!     .expiration(now.saturating_add(3600))
//!     .build();
//! let token = Issuer::new(&RustCrypto).mac0(&claims, Algorithm::HMAC_256_256, &key, Some(b"k1"))?;
//!
//! let keys = KeySet::new().with(TokenKey::symmetric(key.to_vec()).with_kid(*b"k1"));
//! let valid = Validator::new(Policy::new("rs1")).validate(&token, now, &keys, &RustCrypto)?;
//! assert_eq!(valid.claims().iss.as_deref(), Some("as.example"));
//!
//! let later = now.saturating_add(7200);
//! assert_eq!(
//!     Validator::new(Policy::new("rs1")).validate(&token, later, &keys, &RustCrypto).unwrap_err(),
//!     ace_token::Error::Expired
//! );
//! # }
//! # Ok::<(), ace_token::Error>(())
//! ```
//!
//! Features: `std` (default), `rustcrypto` (default; [`RustCrypto`]), `jwt` (default; `jwt`
//! module, `no_std` + `alloc`), `test-util` (`testing`).
//!
//! Specs: RFC 8392 (CWT), RFC 8747 (`cnf`), RFC 9052/9053 (COSE), RFC 9200 (ACE: `scope`,
//! `ace_profile`, `cnonce`, `exi` §5.10.3, `/authz-info` errors §5.10.1.1), RFC 9203
//! (OSCORE_Input_Material), RFC 9770 (issued-token form); with `jwt`: RFC 7515/7518/7519
//! (JWS, JWT), RFC 7517 + RFC 8037 (`jwk`), RFC 7800 (JWT `cnf`), RFC 9431 (MQTT scope).

#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod cbor;
pub mod claims;
pub mod cnf;
pub mod consts;
pub mod cose;
mod error;
pub mod exi;
#[cfg(feature = "jwt")]
pub mod jwt;
pub mod keys;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
mod time;
pub mod validate;

pub use claims::{AceProfile, Audience, ClaimKey, Claims, ClaimsBuilder, Scope};
pub use cnf::{
    CnfKey, Confirmation, EncryptedCoseKey, OscoreInputMaterial, PopKey, PopKeyMaterial,
};
pub use cose::{CoseMessage, HeaderPlacement, IssueOptions, Issuer, Protection, Tagging, Wrapping};
pub use error::{CoapCode, DecodeError, Error, Result};
pub use exi::{ExiAdmission, ExiCti, ExiTracker};
#[cfg(feature = "jwt")]
pub use jwt::{JwsAlgorithm, JwsKey, JwtIssuer};
pub use keys::{KeyMaterial, KeyPurpose, KeyRequest, KeyResolver, KeySet, TokenKey};
pub use time::{NumericDate, UnixTime};
pub use validate::{Policy, ProofOfPossession, ProtectionKind, ValidatedToken, Validator};

/// The `ace-crypto` crate (backend traits, key types, algorithm tables, conformance vectors).
pub use ace_crypto as crypto;
/// The default backend (feature `rustcrypto`).
#[cfg(feature = "rustcrypto")]
pub use ace_crypto::backend::rustcrypto::RustCrypto;
/// The crypto backend traits and key types (from `ace-crypto`).
pub use ace_crypto::{
    AeadBackend, CryptoBackend, CryptoRng, EcdhBackend, FullBackend, HkdfBackend, KeyType,
    MacBackend, PrivateKey, PublicKey, SecretBytes, SignBackend,
};
/// COSE labels (claim keys, header labels).
pub use coset::Label;
/// CBOR values (unknown claims, OSCORE parameters).
pub use coset::cbor::value::Value;
/// COSE algorithm identifiers.
pub use coset::iana::Algorithm;
