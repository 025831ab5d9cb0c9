//! What the AS knows about its peers: clients (including RSs that call `/introspect`) and the
//! resource servers (audiences) it issues tokens for (RFC 9200 Appendix D; ACE-80).
//!
//! [`ClientRegistry`] is the seam (an `ace-store` implementation reads a database);
//! [`MemoryRegistry`] is the in-memory default.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use ace_token::{
    AceProfile, Algorithm, Confirmation, IssueOptions, KeyType, PrivateKey, PublicKey, Scope,
    SecretBytes,
};

use crate::msg::GrantType;
use crate::profile::ChannelIdentity;

/// A credential a client authenticates with at the AS.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientCredential {
    /// `client_secret` in the request body (RFC 6749 §2.3.1; RFC 9200 Table 5), compared in
    /// constant time.
    Secret(SecretBytes),
    /// A PSK identity of the secure channel (DTLS PSK, OSCORE kid); the shell verified the key.
    PskIdentity(Vec<u8>),
    /// A raw public key of the secure channel (DTLS RPK, TLS client certificate key).
    RawPublicKey(PublicKey),
}

/// A registered client.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientInfo {
    /// `client_id`.
    pub id: String,
    /// How it authenticates.
    pub credentials: Vec<ClientCredential>,
    /// Grant types it may use at `/token`; empty: it may not use the token endpoint
    /// (`unauthorized_client`).
    pub grant_types: Vec<GrantType>,
    /// ACE profiles it supports.
    pub profiles: Vec<AceProfile>,
    /// Audience used when the request has none.
    pub default_audience: Option<String>,
    /// Scope used when the request has none (RFC 6749 §3.3).
    pub default_scope: Option<Scope>,
    /// `Some(audiences)`: it may call `/introspect`, and learns about tokens for these
    /// audiences only (others are `active: false`, digest A.4 item 14). `None`: 4.03.
    pub introspect_audiences: Option<Vec<String>>,
}

impl ClientInfo {
    /// A client that may use the `client_credentials` grant, with no credential, profile or
    /// defaults yet.
    #[must_use]
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            credentials: Vec::new(),
            grant_types: alloc::vec![GrantType::CLIENT_CREDENTIALS],
            profiles: Vec::new(),
            default_audience: None,
            default_scope: None,
            introspect_audiences: None,
        }
    }

    /// Adds a credential.
    #[must_use]
    pub fn with_credential(mut self, c: ClientCredential) -> Self {
        self.credentials.push(c);
        self
    }

    /// Adds a supported profile.
    #[must_use]
    pub fn with_profile(mut self, p: AceProfile) -> Self {
        self.profiles.push(p);
        self
    }

    /// Sets the grant types (empty: no access to `/token`).
    #[must_use]
    pub fn with_grant_types(mut self, g: &[GrantType]) -> Self {
        self.grant_types = g.to_vec();
        self
    }

    /// Sets the default audience.
    #[must_use]
    pub fn with_default_audience(mut self, aud: impl Into<String>) -> Self {
        self.default_audience = Some(aud.into());
        self
    }

    /// Sets the default scope.
    #[must_use]
    pub fn with_default_scope(mut self, scope: Scope) -> Self {
        self.default_scope = Some(scope);
        self
    }

    /// Allows `/introspect` for tokens of these audiences.
    #[must_use]
    pub fn with_introspection(mut self, audiences: &[&str]) -> Self {
        self.introspect_audiences = Some(audiences.iter().map(|a| String::from(*a)).collect());
        self
    }
}

/// How the AS protects the tokens for one audience (via `ace-token`'s `Issuer`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TokenFormat {
    /// COSE_Sign1 with the AS's private key (ES256, EdDSA). A symmetric PoP key is then put in
    /// `cnf` as an `Encrypted_COSE_Key` under [`ResourceServerInfo::cnf_key_encryption`].
    Sign1 {
        /// Signature algorithm.
        alg: Algorithm,
        /// The AS signing key.
        key: PrivateKey,
        /// `kid` header.
        kid: Option<Vec<u8>>,
    },
    /// COSE_Mac0 with a key shared with the RS (symmetric PoP keys as for `Sign1`).
    Mac0 {
        /// MAC algorithm.
        alg: Algorithm,
        /// The shared key.
        key: SecretBytes,
        /// `kid` header.
        kid: Option<Vec<u8>>,
    },
    /// COSE_Encrypt0 with a key shared with the RS, random IV per token (RFC 9200 §6.1: a
    /// symmetric PoP key is only readable by the RS).
    Encrypt0 {
        /// AEAD algorithm.
        alg: Algorithm,
        /// The shared key.
        key: SecretBytes,
        /// `kid` header.
        kid: Option<Vec<u8>>,
    },
    /// A reference token: `len` random bytes the RS resolves by introspection (RFC 9200
    /// §5.10.1.1); the claims stay at the AS.
    Reference {
        /// Length of the reference in bytes (at least 16 is sensible).
        len: usize,
    },
}

/// A key-encryption key for `Encrypted_COSE_Key` in `cnf` (RFC 8747 §3.3).
#[derive(Debug, Clone)]
pub struct KeyEncryption {
    /// AEAD algorithm.
    pub alg: Algorithm,
    /// The key shared with the RS.
    pub key: SecretBytes,
    /// Its `kid`.
    pub kid: Option<Vec<u8>>,
}

/// A resource server (audience) the AS issues tokens for.
#[derive(Debug, Clone)]
pub struct ResourceServerInfo {
    /// The audience (`aud` claim, `audience` parameter).
    pub audience: String,
    /// Profiles it supports, in its order of preference.
    pub profiles: Vec<AceProfile>,
    /// Token protection.
    pub token_format: TokenFormat,
    /// Tagging and header layout (default: `61(COSE_x)`, every header protected, RFC 9770).
    pub issue_options: IssueOptions,
    /// Asymmetric client keys it can process; others are `unsupported_pop_key` (§5.8.3).
    pub pop_key_types: Vec<KeyType>,
    /// Its authentication key for the client (`rs_cnf`, RFC 9201), sent when the client uses
    /// an asymmetric PoP key.
    pub rs_cnf: Option<Confirmation>,
    /// Token lifetime in seconds (`exp` − `iat`, `expires_in`; `exi` for clock-less RSs).
    pub lifetime: u64,
    /// `Some(rs_id)`: the RS has no clock; tokens carry `exi` and `cti = rs_id ‖ seq`
    /// instead of `exp` (RFC 9200 §5.10.3).
    pub exi_rs_id: Option<Vec<u8>>,
    /// Key to encrypt a symmetric PoP key with when the token itself is not encrypted.
    pub cnf_key_encryption: Option<KeyEncryption>,
}

impl ResourceServerInfo {
    /// An RS with one profile, the given token format, P-256 and Ed25519 client keys, a
    /// one-hour lifetime and the default (RFC 9770) token form.
    #[must_use]
    pub fn new(audience: impl Into<String>, profile: AceProfile, format: TokenFormat) -> Self {
        Self {
            audience: audience.into(),
            profiles: alloc::vec![profile],
            token_format: format,
            issue_options: IssueOptions::default(),
            pop_key_types: alloc::vec![KeyType::P256, KeyType::Ed25519],
            rs_cnf: None,
            lifetime: 3600,
            exi_rs_id: None,
            cnf_key_encryption: None,
        }
    }
}

/// The AS's registry of clients and resource servers.
pub trait ClientRegistry: Send + Sync {
    /// The client registered as `id`.
    fn client(&self, id: &str) -> Option<ClientInfo>;
    /// The client whose channel credential is `identity` (PSK identity or raw public key).
    fn client_for_channel(&self, identity: &ChannelIdentity) -> Option<ClientInfo>;
    /// The resource server known as `audience`.
    fn resource_server(&self, audience: &str) -> Option<ResourceServerInfo>;
}

/// In-memory [`ClientRegistry`].
#[derive(Debug, Clone, Default)]
pub struct MemoryRegistry {
    clients: BTreeMap<String, ClientInfo>,
    servers: BTreeMap<String, ResourceServerInfo>,
}

impl MemoryRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) a client.
    #[must_use]
    pub fn with_client(mut self, c: ClientInfo) -> Self {
        self.clients.insert(c.id.clone(), c);
        self
    }

    /// Registers (or replaces) a resource server.
    #[must_use]
    pub fn with_resource_server(mut self, rs: ResourceServerInfo) -> Self {
        self.servers.insert(rs.audience.clone(), rs);
        self
    }
}

impl ClientRegistry for MemoryRegistry {
    fn client(&self, id: &str) -> Option<ClientInfo> {
        self.clients.get(id).cloned()
    }

    fn client_for_channel(&self, identity: &ChannelIdentity) -> Option<ClientInfo> {
        match identity {
            ChannelIdentity::ClientId(id) => self.client(id),
            ChannelIdentity::PskIdentity(want) => self
                .clients
                .values()
                .find(|c| {
                    c.credentials
                        .iter()
                        .any(|k| matches!(k, ClientCredential::PskIdentity(i) if i == want))
                })
                .cloned(),
            ChannelIdentity::RawPublicKey(want) => self
                .clients
                .values()
                .find(|c| {
                    c.credentials
                        .iter()
                        .any(|k| matches!(k, ClientCredential::RawPublicKey(p) if p == want))
                })
                .cloned(),
            _ => None,
        }
    }

    fn resource_server(&self, audience: &str) -> Option<ResourceServerInfo> {
        self.servers.get(audience).cloned()
    }
}
