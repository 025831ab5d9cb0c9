//! Deterministic members and groups for tests, vectors, benches and fuzzing (feature
//! `test-util`). Keys are derived from a one-byte seed: never use them outside tests.

use alloc::sync::Arc;
use alloc::vec::Vec;

use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_crypto::{Algorithm, CryptoBackend, KeyType, PrivateKey};

use crate::context::{GroupContext, GroupParams};
use crate::credential::{Credential, CredentialStore, MemoryCredentialStore};
use crate::error::Result;

/// The Master Secret of the test groups.
pub const MASTER_SECRET: [u8; 16] = [
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
];
/// The Master Salt of the test groups.
pub const MASTER_SALT: [u8; 8] = [0x9e, 0x7c, 0xa9, 0x22, 0x23, 0x78, 0x63, 0x40];

/// A test member: Sender ID, private key and CCS credential.
#[derive(Debug, Clone)]
pub struct Member {
    /// Sender ID.
    pub sender_id: Vec<u8>,
    /// Private key (32 bytes of `seed`).
    pub private_key: PrivateKey,
    /// CCS credential bytes (with `alg`, as aiocoap expects).
    pub credential: Vec<u8>,
}

/// A member with key type `kind` whose private key is 32 bytes of `seed` (1..=254).
///
/// # Errors
/// Backend errors for an invalid key.
pub fn member(kind: KeyType, sender_id: &[u8], seed: u8) -> Result<Member> {
    let private_key = PrivateKey::from_bytes(kind, &[seed; 32])?;
    let public = RustCrypto.public_key(&private_key)?;
    let alg = match kind {
        KeyType::P256 => Some(Algorithm::ES256),
        KeyType::Ed25519 => Some(Algorithm::EdDSA),
        _ => None,
    };
    Ok(Member {
        sender_id: sender_id.to_vec(),
        private_key,
        credential: Credential::ccs_for(&public, None, alg)?,
    })
}

/// A store holding the credentials of `members` for group `gid`.
///
/// # Errors
/// [`crate::Error::InvalidCredential`] (not for members made by [`member`]).
pub fn store(gid: &[u8], members: &[&Member]) -> Result<MemoryCredentialStore> {
    let mut s = MemoryCredentialStore::new();
    for m in members {
        s.insert(gid, &m.sender_id, Credential::from_ccs(&m.credential)?);
    }
    Ok(s)
}

/// The default parameters of a test group for `m`.
#[must_use]
pub fn params(m: &Member, gid: &[u8]) -> GroupParams {
    GroupParams::new(
        &MASTER_SECRET,
        &MASTER_SALT,
        gid,
        &m.sender_id,
        &m.credential,
        m.private_key.clone(),
    )
}

/// A context for `m` in group `gid` with the default parameters.
///
/// # Errors
/// As [`GroupContext::new`].
pub fn context(
    m: &Member,
    gid: &[u8],
    store: Arc<dyn CredentialStore + Send + Sync>,
) -> Result<GroupContext<RustCrypto>> {
    GroupContext::new(RustCrypto, params(m, gid), store)
}
