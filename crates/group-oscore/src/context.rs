//! The Group OSCORE Security Context (draft §2): Common Context, Sender Context, Recipient
//! Contexts created on demand from a [`CredentialStore`], pairwise keys (draft §2.5).
//!
//! ```text
//!  Master Secret, Master Salt, Gid ──HKDF (RFC 8613 §3.2.1, alg = Group Enc. Alg. if set)──▶
//!     Sender Key · Recipient Key(s) · Common IV (max nonce length) · Signature Encryption Key
//!  Sender Key  ─┐                                    Recipient Key ─┐
//!  own cred | peer cred | ECDH(own d, peer Q) ─HKDF─▶ Pairwise Sender Key
//!  peer cred | own cred | ECDH(own d, peer Q) ─HKDF─▶ Pairwise Recipient Key
//! ```
//!
//! # Bounded Recipient Contexts
//! At most [`GroupParams::max_recipients`] Recipient Contexts exist; when a message from a
//! new member verified (or a pairwise request to one was protected), the least recently used
//! other context is deleted. After a deletion, every Recipient Context created later
//! in the same Security Context starts with an *invalid* Replay Window (draft §2.6.1.2): a
//! deleted context forgot which Partial IVs it saw, so a re-created one could accept a
//! replay. Requests on such a context fail with [`Error::ReplayWindowInvalid`] (the draft's
//! "discard" course of action) until the group is rekeyed. A Recipient Context created for a
//! message that then fails verification is deleted again without invalidating anything
//! (the draft's exception), so forged Sender IDs cannot fill the table.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use ace_crypto::{
    AeadBackend, Algorithm, EcdhBackend, HkdfBackend, KeyType, PrivateKey, SignBackend,
    aead_params, hkdf_hash, signature_key_type,
};
use ace_oscore::{ReplayWindow, Reservation, SenderSequence, SequenceConfig, hkdf_info};
use zeroize::Zeroizing;

use crate::cbor;
use crate::consts::{self, labels};
use crate::credential::{Credential, CredentialFormat, CredentialStore};
use crate::error::{Error, Result};

/// Everything the group backend must do: sign/verify, AEAD, HKDF, ECDH. Blanket-implemented.
pub trait GroupBackend: SignBackend + AeadBackend + HkdfBackend + EcdhBackend {}
impl<T: SignBackend + AeadBackend + HkdfBackend + EcdhBackend + ?Sized> GroupBackend for T {}

/// Named deviations for talking to implementations of older drafts. The default is the
/// newest draft; see the crate README for each option and the draft it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compat {
    /// `aiocoap_p256_pairwise_alg`: aiocoap 0.4.17 (draft -23 era) writes the *signature*
    /// algorithm value (ES256, -7) as 'alg_pairwise_key_agreement' in the external_aad of
    /// P-256 groups, instead of ECDH-SS + HKDF-256 (-27). When set and the own key is
    /// P-256, the external_aad carries -7 there.
    pub aiocoap_p256_pairwise_alg: bool,
    /// `aiocoap_request_kid_context_current_gid`: aiocoap puts the *current* Gid into
    /// 'request_kid_context' of the external_aad, not the 'kid context' stored with the
    /// request; the two differ only for responses across a rekeying.
    pub aiocoap_request_kid_context_current_gid: bool,
    /// `aiocoap_kid_in_every_response`: aiocoap's group contexts put the Sender ID ('kid')
    /// into every response, also pairwise responses to pairwise requests, where the draft
    /// leaves it out like RFC 8613 (it is only required in responses to group-mode
    /// requests, draft §4.2). Receiving works either way; this only changes what we send.
    pub aiocoap_kid_in_every_response: bool,
}

impl Compat {
    /// The newest draft (no deviation).
    pub const NEWEST_DRAFT: Self = Self {
        aiocoap_p256_pairwise_alg: false,
        aiocoap_request_kid_context_current_gid: false,
        aiocoap_kid_in_every_response: false,
    };
    /// Everything needed to interoperate with aiocoap 0.4.17.
    pub const AIOCOAP_0_4_17: Self = Self {
        aiocoap_p256_pairwise_alg: true,
        aiocoap_request_kid_context_current_gid: true,
        aiocoap_kid_in_every_response: true,
    };
}

/// The inputs of a Group OSCORE Security Context (draft §2).
#[derive(Clone)]
pub struct GroupParams {
    /// Master Secret.
    pub master_secret: Zeroizing<Vec<u8>>,
    /// Master Salt (may be empty).
    pub master_salt: Vec<u8>,
    /// ID Context: the Group Identifier (Gid).
    pub gid: Vec<u8>,
    /// Own Sender ID.
    pub sender_id: Vec<u8>,
    /// HKDF Algorithm (default HKDF-SHA-256, `HMAC 256/256`).
    pub hkdf: Algorithm,
    /// AEAD Algorithm (pairwise mode); `None`: the pairwise mode is not used.
    pub aead: Option<Algorithm>,
    /// Group Encryption Algorithm (group mode); `None`: the group mode is not used. Only
    /// AEAD algorithms are supported (not A128CTR and friends).
    pub group_enc: Option<Algorithm>,
    /// Signature Algorithm (group mode): EdDSA or ES256.
    pub signature: Option<Algorithm>,
    /// Pairwise Key Agreement Algorithm: ECDH-SS + HKDF-256 (-27) or -512 (-28).
    pub pairwise_key_agreement: Option<Algorithm>,
    /// Authentication Credential Format.
    pub credential_format: CredentialFormat,
    /// The Group Manager's authentication credential (bytes as distributed).
    pub gm_credential: Vec<u8>,
    /// Own authentication credential (bytes as distributed).
    pub sender_credential: Vec<u8>,
    /// Own private key (signing and/or ECDH).
    pub private_key: PrivateKey,
    /// Maximum number of Recipient Contexts (draft §2.2).
    pub max_recipients: usize,
    /// Sequence-number persistence (as ace-oscore, RFC 8613 Appendix B.1.1).
    pub sequence: SequenceConfig,
    /// Compatibility options (default: the newest draft).
    pub compat: Compat,
}

impl fmt::Debug for GroupParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupParams")
            .field("master_secret", &"<redacted>")
            .field("gid", &self.gid)
            .field("sender_id", &self.sender_id)
            .field("aead", &self.aead)
            .field("group_enc", &self.group_enc)
            .field("signature", &self.signature)
            .field("pairwise_key_agreement", &self.pairwise_key_agreement)
            .finish_non_exhaustive()
    }
}

impl GroupParams {
    /// Parameters with defaults chosen from the private key's type: HKDF-SHA-256;
    /// AES-CCM-16-64-128 as AEAD and Group Encryption Algorithm; P-256 → ES256 + ECDH-SS +
    /// HKDF-256 (both modes); Ed25519 → EdDSA + ECDH-SS + HKDF-256 (both modes; for the
    /// pairwise mode the keys are mapped to X25519, draft §2.5.2.1); X25519 → pairwise mode
    /// only.
    #[must_use]
    pub fn new(
        master_secret: &[u8],
        master_salt: &[u8],
        gid: &[u8],
        sender_id: &[u8],
        sender_credential: &[u8],
        private_key: PrivateKey,
    ) -> Self {
        let ccm = Some(Algorithm::AES_CCM_16_64_128);
        let (group_enc, signature, aead, ka) = match private_key.key_type() {
            KeyType::P256 => (
                ccm,
                Some(Algorithm::ES256),
                ccm,
                Some(Algorithm::ECDH_SS_HKDF_256),
            ),
            // AEAD and key agreement as aiocoap and the Group Manager set them (the
            // external_aad carries them); ECDH with the keys mapped to X25519 (§2.5.2.1).
            KeyType::Ed25519 => (
                ccm,
                Some(Algorithm::EdDSA),
                ccm,
                Some(Algorithm::ECDH_SS_HKDF_256),
            ),
            _ => (None, None, ccm, Some(Algorithm::ECDH_SS_HKDF_256)),
        };
        Self {
            master_secret: Zeroizing::new(master_secret.to_vec()),
            master_salt: master_salt.to_vec(),
            gid: gid.to_vec(),
            sender_id: sender_id.to_vec(),
            hkdf: Algorithm::HMAC_256_256,
            aead,
            group_enc,
            signature,
            pairwise_key_agreement: ka,
            credential_format: CredentialFormat::Ccs,
            gm_credential: Vec::new(),
            sender_credential: sender_credential.to_vec(),
            private_key,
            max_recipients: consts::DEFAULT_MAX_RECIPIENTS,
            sequence: SequenceConfig::default(),
            compat: Compat::NEWEST_DRAFT,
        }
    }

    /// Sets the group mode algorithms (`None` twice: no group mode).
    #[must_use]
    pub fn with_group_mode(
        mut self,
        group_enc: Option<Algorithm>,
        signature: Option<Algorithm>,
    ) -> Self {
        self.group_enc = group_enc;
        self.signature = signature;
        self
    }

    /// Sets the pairwise mode algorithms (`None` twice: no pairwise mode).
    #[must_use]
    pub fn with_pairwise_mode(
        mut self,
        aead: Option<Algorithm>,
        key_agreement: Option<Algorithm>,
    ) -> Self {
        self.aead = aead;
        self.pairwise_key_agreement = key_agreement;
        self
    }

    /// Sets the Group Manager's credential.
    #[must_use]
    pub fn with_gm_credential(mut self, cred: &[u8]) -> Self {
        self.gm_credential = cred.to_vec();
        self
    }

    /// Sets the maximum number of Recipient Contexts (at least 1).
    #[must_use]
    pub fn with_max_recipients(mut self, n: usize) -> Self {
        self.max_recipients = n.max(1);
        self
    }

    /// Sets the sequence-number persistence configuration.
    #[must_use]
    pub fn with_sequence_config(mut self, config: SequenceConfig) -> Self {
        self.sequence = config;
        self
    }

    /// Sets the compatibility options.
    #[must_use]
    pub fn with_compat(mut self, compat: Compat) -> Self {
        self.compat = compat;
        self
    }
}

/// The two pairwise keys shared with one other member (draft §2.5.1).
pub(crate) struct PairwiseKeys {
    pub(crate) sender: Zeroizing<Vec<u8>>,
    pub(crate) recipient: Zeroizing<Vec<u8>>,
}

/// A Recipient Context (draft §2.2): the other member's credential, Recipient Key, pairwise
/// keys (derived on first use) and Replay Window.
pub(crate) struct Recipient {
    pub(crate) credential: Credential,
    pub(crate) key: Zeroizing<Vec<u8>>,
    pub(crate) pairwise: Option<PairwiseKeys>,
    pub(crate) replay: ReplayWindow,
    pub(crate) window_valid: bool,
    pub(crate) last_used: u64,
}

/// A Group OSCORE Security Context.
pub struct GroupContext<B> {
    pub(crate) backend: B,
    pub(crate) params: GroupParams,
    pub(crate) store: Arc<dyn CredentialStore + Send + Sync>,
    pub(crate) own_credential: Credential,
    pub(crate) sender_key: Zeroizing<Vec<u8>>,
    pub(crate) common_iv: Vec<u8>,
    pub(crate) signature_encryption_key: Option<Zeroizing<Vec<u8>>>,
    pub(crate) sequence: SenderSequence,
    pub(crate) recipients: BTreeMap<Vec<u8>, Recipient>,
    pub(crate) deleted_recipient: bool,
    pub(crate) tick: u64,
}

impl<B> fmt::Debug for GroupContext<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupContext")
            .field("params", &self.params)
            .field("sender_key", &"<redacted>")
            .field("sequence", &self.sequence)
            .field("recipients", &self.recipients.len())
            .finish_non_exhaustive()
    }
}

fn nonce_len(alg: Algorithm) -> Result<usize> {
    Ok(aead_params(alg)
        .ok_or(Error::InvalidContext(
            "unsupported AEAD / Group Encryption Algorithm",
        ))?
        .nonce_len)
}

fn key_len(alg: Algorithm) -> Result<usize> {
    Ok(aead_params(alg)
        .ok_or(Error::InvalidContext(
            "unsupported AEAD / Group Encryption Algorithm",
        ))?
        .key_len)
}

impl<B: GroupBackend> GroupContext<B> {
    /// Derives a fresh context (Sender Sequence Number 0, no Recipient Contexts yet).
    ///
    /// # Errors
    /// [`Error::InvalidContext`] when neither mode is configured, an algorithm is unknown, the
    /// Sender ID is longer than nonce length − 6, the signature algorithm does not fit the
    /// key, the HKDF of the key agreement algorithm differs from the HKDF Algorithm, or the
    /// own credential does not hold the own public key; [`Error::InvalidCredential`] for an
    /// unparsable own credential; [`Error::Crypto`] when the backend fails.
    pub fn new(
        backend: B,
        params: GroupParams,
        store: Arc<dyn CredentialStore + Send + Sync>,
    ) -> Result<Self> {
        let seq = SenderSequence::starting_at(0, params.sequence);
        Self::derive(backend, params, store, seq)
    }

    /// Restores a context after a restart whose last persisted [`Reservation::persist`] was
    /// `persisted`. Recipient Contexts start with *invalid* Replay Windows (the draft's
    /// §2.6.1.1 asks for new keying material after a loss of the varying part; until then
    /// requests are discarded with [`Error::ReplayWindowInvalid`]).
    ///
    /// # Errors
    /// As [`GroupContext::new`].
    pub fn restore(
        backend: B,
        params: GroupParams,
        store: Arc<dyn CredentialStore + Send + Sync>,
        persisted: u64,
    ) -> Result<Self> {
        let seq = SenderSequence::starting_at(persisted, params.sequence);
        let mut ctx = Self::derive(backend, params, store, seq)?;
        ctx.deleted_recipient = true;
        Ok(ctx)
    }

    fn derive(
        backend: B,
        params: GroupParams,
        store: Arc<dyn CredentialStore + Send + Sync>,
        sequence: SenderSequence,
    ) -> Result<Self> {
        let main = params
            .group_enc
            .or(params.aead)
            .ok_or(Error::InvalidContext(
                "neither group nor pairwise mode is set",
            ))?;
        let hash = hkdf_hash(params.hkdf).ok_or(Error::InvalidContext("unsupported HKDF"))?;
        if params.group_enc.is_some() != params.signature.is_some() {
            return Err(Error::InvalidContext(
                "group mode needs both Group Encryption and Signature Algorithm",
            ));
        }
        if let Some(ka) = params.pairwise_key_agreement {
            let ka_hash = match ka {
                Algorithm::ECDH_SS_HKDF_256 => ace_crypto::HkdfHash::Sha256,
                Algorithm::ECDH_SS_HKDF_512 => ace_crypto::HkdfHash::Sha512,
                _ => return Err(Error::InvalidContext("unsupported Pairwise Key Agreement")),
            };
            if ka_hash != hash {
                return Err(Error::InvalidContext(
                    "Pairwise Key Agreement Algorithm must use the group's HKDF",
                ));
            }
        }
        let own_type = params.private_key.key_type();
        if let Some(sig) = params.signature
            && signature_key_type(sig) != Some(own_type)
        {
            return Err(Error::InvalidContext(
                "signature algorithm does not fit the key",
            ));
        }
        let lens: Vec<usize> = [params.group_enc, params.aead]
            .into_iter()
            .flatten()
            .map(nonce_len)
            .collect::<Result<_>>()?;
        let iv_len = lens.iter().copied().max().unwrap_or(0);
        let min_len = lens.iter().copied().min().unwrap_or(0);
        if params.sender_id.len() > min_len.saturating_sub(6) {
            return Err(Error::InvalidContext(
                "Sender ID longer than nonce length - 6",
            ));
        }
        let own_credential = Credential::from_ccs(&params.sender_credential)?;
        if backend.public_key(&params.private_key)? != *own_credential.public_key() {
            return Err(Error::InvalidContext(
                "own credential does not hold the own public key",
            ));
        }
        let gid = Some(params.gid.as_slice());
        let kdf =
            |id: &[u8], alg: Algorithm, label: &str, len: usize| -> Result<Zeroizing<Vec<u8>>> {
                let info = hkdf_info(id, gid, alg, label, len);
                let mut okm = Zeroizing::new(alloc::vec![0u8; len]);
                backend.hkdf(
                    params.hkdf,
                    &params.master_salt,
                    &params.master_secret,
                    &info,
                    &mut okm,
                )?;
                Ok(okm)
            };
        let sender_key = kdf(&params.sender_id, main, labels::KEY, key_len(main)?)?;
        let common_iv = kdf(&[], main, labels::IV, iv_len)?.to_vec();
        let signature_encryption_key = match params.group_enc {
            Some(ge) => Some(kdf(
                &[],
                ge,
                labels::SIGNATURE_ENCRYPTION_KEY,
                key_len(ge)?,
            )?),
            None => None,
        };
        Ok(Self {
            backend,
            params,
            store,
            own_credential,
            sender_key,
            common_iv,
            signature_encryption_key,
            sequence,
            recipients: BTreeMap::new(),
            deleted_recipient: false,
            tick: 0,
        })
    }

    /// The main algorithm: Group Encryption Algorithm if set, else the AEAD Algorithm
    /// (draft §2.3: it is the 'alg_aead' of the Sender/Recipient Key derivation).
    fn main_alg(&self) -> Algorithm {
        self.params
            .group_enc
            .or(self.params.aead)
            .unwrap_or(Algorithm::AES_CCM_16_64_128)
    }

    /// Returns the Recipient Context of `kid`, creating it from the credential store if
    /// needed. The flag says whether it was created now.
    pub(crate) fn recipient(&mut self, kid: &[u8]) -> Result<bool> {
        self.tick += 1;
        let tick = self.tick;
        if let Some(r) = self.recipients.get_mut(kid) {
            r.last_used = tick;
            return Ok(false);
        }
        if kid == self.params.sender_id.as_slice() {
            return Err(Error::OwnSenderId);
        }
        let credential = self
            .store
            .credential(&self.params.gid, kid)
            .ok_or(Error::UnknownSender)?;
        let expected = match self.params.signature {
            Some(sig) => signature_key_type(sig),
            None => Some(self.params.private_key.key_type()),
        };
        if expected != Some(credential.public_key().key_type()) {
            return Err(Error::InvalidCredential("key type does not fit the group"));
        }
        let main = self.main_alg();
        let len = key_len(main)?;
        let info = hkdf_info(kid, Some(&self.params.gid), main, labels::KEY, len);
        let mut key = Zeroizing::new(alloc::vec![0u8; len]);
        self.backend.hkdf(
            self.params.hkdf,
            &self.params.master_salt,
            &self.params.master_secret,
            &info,
            &mut key,
        )?;
        self.recipients.insert(
            kid.to_vec(),
            Recipient {
                credential,
                key,
                pairwise: None,
                replay: ReplayWindow::Empty,
                window_valid: !self.deleted_recipient,
                last_used: tick,
            },
        );
        Ok(true)
    }

    /// Deletes least recently used Recipient Contexts (never `keep`) until at most
    /// `max_recipients` remain. Called only after a message verified, so that forged
    /// messages cannot push real members out.
    pub(crate) fn enforce_bound(&mut self, keep: &[u8]) {
        while self.recipients.len() > self.params.max_recipients {
            let lru = self
                .recipients
                .iter()
                .filter(|(k, _)| k.as_slice() != keep)
                .min_by_key(|(_, r)| r.last_used)
                .map(|(k, _)| k.clone());
            match lru {
                Some(k) => {
                    self.recipients.remove(&k);
                    self.deleted_recipient = true;
                }
                None => break,
            }
        }
    }

    /// Derives (once) the pairwise keys with the member `kid`, whose Recipient Context must
    /// exist.
    pub(crate) fn ensure_pairwise(&mut self, kid: &[u8]) -> Result<()> {
        let aead = self.params.aead.ok_or(Error::ModeNotSupported)?;
        let Some(r) = self.recipients.get(kid) else {
            return Err(Error::UnknownSender);
        };
        if r.pairwise.is_some() {
            return Ok(());
        }
        // Static-static ECDH (§2.5.1). Ed25519 keys are mapped to X25519 first (§2.5.2.1):
        // the own seed to its clamped SHA-512 scalar, the peer's y to u = (1 + y) / (1 - y)
        // (small-order keys, including y = ±1, are refused). The IKM below still carries the
        // authentication credentials as distributed (with the Ed25519 keys).
        let shared = self
            .backend
            .ecdh_mapped(&self.params.private_key, r.credential.public_key())?;
        let len = key_len(aead)?;
        let own = self.own_credential.bytes();
        let peer = r.credential.bytes();
        let mut ikm_s = Zeroizing::new(Vec::with_capacity(own.len() + peer.len() + shared.len()));
        ikm_s.extend_from_slice(own);
        ikm_s.extend_from_slice(peer);
        ikm_s.extend_from_slice(shared.expose());
        let mut ikm_r = Zeroizing::new(Vec::with_capacity(ikm_s.len()));
        ikm_r.extend_from_slice(peer);
        ikm_r.extend_from_slice(own);
        ikm_r.extend_from_slice(shared.expose());
        let gid = Some(self.params.gid.as_slice());
        let mut sender = Zeroizing::new(alloc::vec![0u8; len]);
        let info = hkdf_info(&self.params.sender_id, gid, aead, labels::KEY, len);
        self.backend.hkdf(
            self.params.hkdf,
            &self.sender_key,
            &ikm_s,
            &info,
            &mut sender,
        )?;
        let mut recipient = Zeroizing::new(alloc::vec![0u8; len]);
        let info = hkdf_info(kid, gid, aead, labels::KEY, len);
        self.backend
            .hkdf(self.params.hkdf, &r.key, &ikm_r, &info, &mut recipient)?;
        if let Some(r) = self.recipients.get_mut(kid) {
            r.pairwise = Some(PairwiseKeys { sender, recipient });
        }
        Ok(())
    }

    /// The keystream that encrypts a countersignature (draft §5.2): HKDF(salt = Partial IV,
    /// IKM = Signature Encryption Key, info = [id, Gid, is_request, L], L = signature length).
    /// `id` is the Sender ID of the endpoint that generated the Partial IV.
    ///
    /// # Errors
    /// [`Error::ModeNotSupported`] without group mode; [`Error::Crypto`].
    pub fn keystream(&self, piv: &[u8], id: &[u8], is_request: bool) -> Result<Zeroizing<Vec<u8>>> {
        let sekey = self
            .signature_encryption_key
            .as_ref()
            .ok_or(Error::ModeNotSupported)?;
        let len = consts::SIGNATURE_LEN;
        let mut info = Vec::with_capacity(8 + id.len() + self.params.gid.len());
        cbor::head(4, 4, &mut info);
        cbor::bstr(id, &mut info);
        cbor::bstr(&self.params.gid, &mut info);
        info.push(if is_request { 0xf5 } else { 0xf4 });
        cbor::int(len as i64, &mut info);
        let mut ks = Zeroizing::new(alloc::vec![0u8; len]);
        self.backend
            .hkdf(self.params.hkdf, piv, sekey, &info, &mut ks)?;
        Ok(ks)
    }
}

impl<B> GroupContext<B> {
    /// The AEAD nonce (draft §4.3): RFC 8613 §5.2 for a nonce of `alg`'s length, XORed with
    /// the first bytes of the (possibly longer) Common IV. `id` generated `piv`.
    ///
    /// # Errors
    /// [`Error::InvalidContext`] for an unknown algorithm or an `id` longer than nonce
    /// length − 6; [`Error::Malformed`] for a Partial IV longer than 5 bytes.
    pub fn nonce(&self, alg: Algorithm, id: &[u8], piv: &[u8]) -> Result<Vec<u8>> {
        let n = nonce_len(alg)?;
        let id_field = n.saturating_sub(6);
        if id.len() > id_field {
            return Err(Error::InvalidContext("ID longer than nonce length - 6"));
        }
        if piv.len() > 5 {
            return Err(crate::error::DecodeError::PartialIvTooLong(piv.len()).into());
        }
        let mut nonce: Vec<u8> = self.common_iv.iter().take(n).copied().collect();
        if nonce.len() != n {
            return Err(Error::InvalidContext("Common IV shorter than the nonce"));
        }
        if let Some(first) = nonce.first_mut() {
            *first ^= id.len() as u8;
        }
        for (d, b) in nonce.iter_mut().skip(1 + id_field - id.len()).zip(id) {
            *d ^= b;
        }
        for (d, b) in nonce.iter_mut().skip(n - piv.len()).zip(piv) {
            *d ^= b;
        }
        Ok(nonce)
    }

    /// The aad_array of draft §4.4 (the caller wraps it as a bstr):
    /// `[1, [alg_aead, alg_group_enc, alg_signature, alg_pairwise_key_agreement],
    /// request_kid, request_piv, options (h''), request_kid_context, OSCORE_option,
    /// sender_cred, gm_cred]`.
    #[must_use]
    pub fn aad_array(
        &self,
        request_kid: &[u8],
        request_piv: &[u8],
        request_kid_context: &[u8],
        oscore_option: &[u8],
        sender_cred: &[u8],
    ) -> Vec<u8> {
        let p = &self.params;
        let mut out = Vec::with_capacity(
            40 + request_kid.len()
                + request_piv.len()
                + request_kid_context.len()
                + oscore_option.len()
                + sender_cred.len()
                + p.gm_credential.len(),
        );
        cbor::head(4, 9, &mut out);
        cbor::int(1, &mut out);
        cbor::head(4, 4, &mut out);
        cbor::alg_or_null(p.aead, &mut out);
        cbor::alg_or_null(p.group_enc, &mut out);
        cbor::alg_or_null(p.signature, &mut out);
        let ka = match p.pairwise_key_agreement {
            Some(_)
                if p.compat.aiocoap_p256_pairwise_alg
                    && p.private_key.key_type() == KeyType::P256 =>
            {
                Some(Algorithm::ES256)
            }
            other => other,
        };
        cbor::alg_or_null(ka, &mut out);
        cbor::bstr(request_kid, &mut out);
        cbor::bstr(request_piv, &mut out);
        cbor::bstr(&[], &mut out);
        cbor::bstr(request_kid_context, &mut out);
        cbor::bstr(oscore_option, &mut out);
        cbor::bstr(sender_cred, &mut out);
        cbor::bstr(&p.gm_credential, &mut out);
        out
    }

    /// The Gid (ID Context).
    #[must_use]
    pub fn gid(&self) -> &[u8] {
        &self.params.gid
    }

    /// Own Sender ID.
    #[must_use]
    pub fn sender_id(&self) -> &[u8] {
        &self.params.sender_id
    }

    /// The parameters the context was derived from.
    #[must_use]
    pub fn params(&self) -> &GroupParams {
        &self.params
    }

    /// Own authentication credential.
    #[must_use]
    pub fn own_credential(&self) -> &Credential {
        &self.own_credential
    }

    /// The Sender Key (exposed for test vectors and key export; never log it).
    #[must_use]
    pub fn sender_key(&self) -> &[u8] {
        &self.sender_key
    }

    /// The Recipient Key of member `kid`, if its Recipient Context exists (test vectors).
    #[must_use]
    pub fn recipient_key(&self, kid: &[u8]) -> Option<&[u8]> {
        self.recipients.get(kid).map(|r| r.key.as_slice())
    }

    /// The pairwise (sender, recipient) keys with member `kid`, once derived (test vectors).
    #[must_use]
    pub fn pairwise_keys(&self, kid: &[u8]) -> Option<(&[u8], &[u8])> {
        self.recipients
            .get(kid)
            .and_then(|r| r.pairwise.as_ref())
            .map(|p| (p.sender.as_slice(), p.recipient.as_slice()))
    }

    /// The Common IV.
    #[must_use]
    pub fn common_iv(&self) -> &[u8] {
        &self.common_iv
    }

    /// The Signature Encryption Key, if the group mode is set (test vectors).
    #[must_use]
    pub fn signature_encryption_key(&self) -> Option<&[u8]> {
        self.signature_encryption_key.as_ref().map(|k| k.as_slice())
    }

    /// The next Sender Sequence Number.
    #[must_use]
    pub fn sender_sequence_number(&self) -> u64 {
        self.sequence.next()
    }

    /// Reserves the next block of sequence numbers now; persist the result before sending.
    pub fn reserve_ahead(&mut self) -> Reservation {
        self.sequence.reserve_ahead()
    }

    /// Number of Recipient Contexts.
    #[must_use]
    pub fn recipient_count(&self) -> usize {
        self.recipients.len()
    }

    /// Whether the group mode can be used (Group Encryption and Signature Algorithm set).
    #[must_use]
    pub fn group_mode_enabled(&self) -> bool {
        self.params.group_enc.is_some() && self.params.signature.is_some()
    }

    /// Whether the pairwise mode can be used (AEAD and Pairwise Key Agreement Algorithm set).
    /// Every key type qualifies: P-256 and X25519 keys are used as they are, Ed25519 keys are
    /// mapped to X25519 (draft §2.5.2.1) by the backend's
    /// [`EcdhBackend::ecdh_mapped`].
    #[must_use]
    pub fn pairwise_mode_enabled(&self) -> bool {
        self.params.aead.is_some() && self.params.pairwise_key_agreement.is_some()
    }

    /// Deletes the Recipient Context of `kid` (e.g. a member left). Later Recipient Contexts
    /// of this Security Context start with invalid Replay Windows (draft §2.6.1.2).
    pub fn remove_recipient(&mut self, kid: &[u8]) -> bool {
        let removed = self.recipients.remove(kid).is_some();
        self.deleted_recipient |= removed;
        removed
    }
}
