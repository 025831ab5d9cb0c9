//! The `Profile` seam: how an ACE profile binds a token's proof-of-possession key to the
//! secure channel between client and RS (RFC 9200 §5.8.4.3, Appendix C).
//!
//! A profile answers four questions, on both sides:
//!
//! * its identifier ([`Profile::id`], the `ace_profile` value);
//! * AS: which kinds of PoP key it can use ([`Profile::supports`]), how long an AS-generated
//!   symmetric key is, whether a client-provided key is usable ([`Profile::accepts_pop_key`],
//!   RFC 9200 §5.8.4.3 / ACE-33), and what it adds to the token response
//!   ([`Profile::extend_token_response`]);
//! * RS: which channel identity selects a stored token — the key a token binds
//!   ([`Profile::token_binding`]) and the identity a secure channel authenticated
//!   ([`Profile::peer_binding`]) must map to the same [`PopBinding`];
//! * RS: what it adds to the authz-info response ([`Profile::authz_info_response`]).
//!
//! [`CoapDtls`] (RFC 9202) is the default: "no channel binding beyond the PoP key" — the DTLS
//! PSK identity is the `kid` of the symmetric PoP key, or the DTLS raw public key is the
//! token's `cnf` key. OSCORE, MQTT-TLS, Group OSCORE and pub-sub profiles implement the same
//! trait in their crates.

use alloc::vec::Vec;

use ace_token::{
    AceProfile, Algorithm, Confirmation, KeyType, PopKey, PopKeyMaterial, ProofOfPossession,
    PublicKey, SecretBytes,
};

use crate::error::CoapCode;

use crate::msg::{AuthzInfoRequest, AuthzInfoResponse, TokenResponse};

/// What the secure channel authenticated about the peer (the shell fills this in from the
/// DTLS handshake, the OSCORE context or the TLS session; the engines never see a socket).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelIdentity {
    /// Nothing authenticated (plain CoAP, or a channel that authenticated only the server).
    Anonymous,
    /// A pre-shared key identity the channel verified (DTLS PSK identity, OSCORE kid).
    PskIdentity(Vec<u8>),
    /// A raw public key the channel verified (DTLS RPK, the key of a TLS client certificate).
    RawPublicKey(PublicKey),
    /// A client id the shell authenticated by other means (a TLS client certificate mapped to
    /// a registered client).
    ClientId(alloc::string::String),
}

/// The kind of proof-of-possession key a token binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopKind {
    /// A symmetric key (AS-generated, in `cnf` COSE_Key, RFC 9200 §5.8.1 default).
    Symmetric,
    /// The client's public key (`req_cnf` COSE_Key, RFC 9201).
    Asymmetric(KeyType),
    /// A reference (`kid`) to a key client and RS already share (RFC 9201 §3.1).
    KidReference,
    /// OSCORE input material (`osc`, RFC 9203).
    OscoreMaterial,
}

/// The key under which an RS stores a token and finds it again from a channel identity
/// (RFC 9200 §5.10.1: one token per PoP key).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PopBinding {
    /// A key identifier (DTLS PSK identity = COSE_Key `kid`, OSCORE kid).
    Kid(Vec<u8>),
    /// A public key, as its key-type tag followed by its encoding (SEC1 uncompressed for
    /// P-256, `x` for OKP).
    RawPublicKey(Vec<u8>),
}

impl PopBinding {
    /// The binding of a public key.
    #[must_use]
    pub fn from_public_key(pk: &PublicKey) -> Option<Self> {
        let mut out = Vec::with_capacity(66);
        match pk.key_type() {
            KeyType::P256 => {
                out.push(1);
                out.extend_from_slice(&pk.to_sec1_uncompressed()?);
            }
            KeyType::Ed25519 => {
                out.push(6);
                out.extend_from_slice(pk.okp_x()?);
            }
            KeyType::X25519 => {
                out.push(4);
                out.extend_from_slice(pk.okp_x()?);
            }
            _ => return None,
        }
        Some(Self::RawPublicKey(out))
    }
}

/// An ACE profile, as the engines need it. Implementations are stateless and shareable.
pub trait Profile: core::fmt::Debug + Send + Sync {
    /// The `ace_profile` value (RFC 9200 §8.8 registry).
    fn id(&self) -> AceProfile;

    /// Whether the profile can bind a key of this kind.
    fn supports(&self, kind: PopKind) -> bool;

    /// Length in bytes of an AS-generated symmetric PoP key.
    fn symmetric_key_len(&self) -> usize {
        16
    }

    /// Whether a client-provided key can be used with this profile: a key restricted by
    /// `alg` to an algorithm the profile does not use is refused (RFC 9200 §5.8.4.3, ACE-33).
    fn accepts_pop_key(&self, key: &PopKey) -> bool {
        let _ = key;
        true
    }

    /// AS side: the `cnf` carrying an AS-generated symmetric PoP key — `key` is
    /// [`Profile::symmetric_key_len`] random bytes, `kid` 8 random bytes. The default is a
    /// COSE_Key with that `kid` (RFC 9200 §5.8.1); RFC 9203 puts OSCORE_Input_Material
    /// (`osc`) there instead. A `cnf` other than a COSE_Key is only issued in an Encrypt0 or
    /// reference token (it cannot become an `Encrypted_COSE_Key`).
    fn symmetric_cnf(&self, key: SecretBytes, kid: Vec<u8>) -> Confirmation {
        Confirmation::cose_key(PopKey::symmetric(key).with_kid(kid))
    }

    /// AS side: profile-specific parameters of the token response (e.g. RFC 9203 adds none
    /// beyond `cnf`; an OSCORE group profile adds the group's parameters).
    fn extend_token_response(&self, response: &mut TokenResponse) {
        let _ = response;
    }

    /// RS side: the binding under which a token with this PoP key is stored, or `None` when
    /// the profile cannot use the key (the RS then refuses the token with 4.00).
    fn token_binding(&self, pop: &ProofOfPossession) -> Option<PopBinding>;

    /// RS side: the binding the secure channel's authenticated identity selects.
    fn peer_binding(&self, peer: &ChannelIdentity) -> Option<PopBinding>;

    /// RS side, after the token passed every claim check and before it is stored: whether
    /// this profile accepts it with this request over this channel (`peer`: what the channel
    /// of the authz-info request authenticated, [`ChannelIdentity::Anonymous`] when
    /// unprotected). RFC 9203 §4.2 refuses an unprotected POST without `nonce1` /
    /// `ace_client_recipientid` (4.00) and a protected one whose `cnf` `kid` is not the
    /// channel's (4.01). `Err(code)` refuses with that code; the default accepts.
    ///
    /// # Errors
    /// The CoAP code to refuse the token with.
    fn check_authz_info(
        &self,
        request: &AuthzInfoRequest,
        peer: &ChannelIdentity,
        pop: &ProofOfPossession,
    ) -> Result<(), CoapCode> {
        let _ = (request, peer, pop);
        Ok(())
    }

    /// RS side: the authz-info response payload (RFC 9203 answers with `nonce2`/`ace_server_recipientid`;
    /// RFC 9202 with nothing).
    fn authz_info_response(&self, request: &AuthzInfoRequest) -> AuthzInfoResponse {
        let _ = request;
        AuthzInfoResponse::default()
    }
}

/// The CoAP-DTLS profile (RFC 9202), `coap_dtls` = 1: the PoP key is the DTLS PSK (found by
/// the PSK identity = the key's `kid`) or the client's raw public key. No binding beyond the
/// PoP key itself; the token is POSTed to authz-info (the DTLS PSK-identity transport of
/// RFC 9202 §3.3.1 is the shell's: it passes the identity bytes to
/// [`crate::RsEngine::handle_authz_info`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoapDtls;

impl Profile for CoapDtls {
    fn id(&self) -> AceProfile {
        AceProfile(crate::consts::profile::COAP_DTLS)
    }

    fn supports(&self, kind: PopKind) -> bool {
        matches!(
            kind,
            PopKind::Symmetric
                | PopKind::KidReference
                | PopKind::Asymmetric(KeyType::P256 | KeyType::Ed25519)
        )
    }

    fn accepts_pop_key(&self, key: &PopKey) -> bool {
        let Some(alg) = &key.alg else {
            return true;
        };
        let expected = match &key.material {
            PopKeyMaterial::Public(pk) => match pk.key_type() {
                KeyType::P256 => Algorithm::ES256,
                KeyType::Ed25519 => Algorithm::EdDSA,
                _ => return false,
            },
            // A DTLS PSK is not restricted to one COSE algorithm; an `alg` on it names a use
            // outside DTLS.
            _ => return false,
        };
        *alg == coset::Algorithm::Assigned(expected)
    }

    fn token_binding(&self, pop: &ProofOfPossession) -> Option<PopBinding> {
        match pop {
            ProofOfPossession::Key(k) => match &k.material {
                PopKeyMaterial::Symmetric(_) => k.kid.clone().map(PopBinding::Kid),
                PopKeyMaterial::Public(pk) => PopBinding::from_public_key(pk),
                _ => None,
            },
            ProofOfPossession::Kid(kid) => Some(PopBinding::Kid(kid.clone())),
            _ => None,
        }
    }

    fn peer_binding(&self, peer: &ChannelIdentity) -> Option<PopBinding> {
        match peer {
            ChannelIdentity::PskIdentity(id) => Some(PopBinding::Kid(id.clone())),
            ChannelIdentity::RawPublicKey(pk) => PopBinding::from_public_key(pk),
            _ => None,
        }
    }
}
