//! Security context derivation (RFC 8613 §3) and its mutable state.
//!
//! ```text
//!  Master Secret, Master Salt, ID Context, Sender ID, Recipient ID, AEAD alg, HKDF alg
//!          │ HKDF(salt, secret, info = [id, id_context, alg_aead, "Key"/"IV", L], L)
//!          ▼
//!  Common Context: Common IV │ Sender Context: Sender Key, Sender Sequence Number
//!                            │ Recipient Context: Recipient Key, Replay Window
//! ```
//!
//! Keys live in [`Zeroizing`] buffers and never appear in `Debug` output.

use alloc::vec::Vec;
use core::fmt;

use ace_crypto::{AeadBackend, AeadParams, Algorithm, HkdfBackend, aead_params, hkdf_hash};
use coset::iana::EnumI64;
use zeroize::Zeroizing;

use crate::consts::{self, hkdf, limits};
use crate::error::{Error, Result};
use crate::replay::ReplayWindow;
use crate::sequence::{Reservation, SenderSequence, SequenceConfig};

/// The inputs of a security context (RFC 8613 §3.2).
#[derive(Clone)]
pub struct ContextParams {
    /// Master Secret.
    pub master_secret: Zeroizing<Vec<u8>>,
    /// Master Salt (empty is the default, RFC 8613 §3.2).
    pub master_salt: Vec<u8>,
    /// Sender ID (at most nonce length - 6 bytes).
    pub sender_id: Vec<u8>,
    /// Recipient ID (at most nonce length - 6 bytes).
    pub recipient_id: Vec<u8>,
    /// ID Context, if any.
    pub id_context: Option<Vec<u8>>,
    /// AEAD algorithm (default AES-CCM-16-64-128).
    pub aead: Algorithm,
    /// HKDF algorithm (default HKDF-SHA-256, `HMAC 256/256`).
    pub hkdf: Algorithm,
    /// Whether requests carry the ID Context as 'kid context' (RFC 8613 §5.1, C.6).
    pub send_kid_context: bool,
    /// Sequence-number persistence (Appendix B.1.1).
    pub sequence: SequenceConfig,
}

impl fmt::Debug for ContextParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextParams")
            .field("master_secret", &"<redacted>")
            .field("sender_id", &self.sender_id)
            .field("recipient_id", &self.recipient_id)
            .field("id_context", &self.id_context)
            .field("aead", &self.aead)
            .field("hkdf", &self.hkdf)
            .finish_non_exhaustive()
    }
}

impl ContextParams {
    /// Parameters with the defaults of RFC 8613 §3.2 (AES-CCM-16-64-128, HKDF-SHA-256, no ID
    /// Context).
    #[must_use]
    pub fn new(
        master_secret: &[u8],
        master_salt: &[u8],
        sender_id: &[u8],
        recipient_id: &[u8],
    ) -> Self {
        Self {
            master_secret: Zeroizing::new(master_secret.to_vec()),
            master_salt: master_salt.to_vec(),
            sender_id: sender_id.to_vec(),
            recipient_id: recipient_id.to_vec(),
            id_context: None,
            aead: consts::DEFAULT_AEAD,
            hkdf: consts::DEFAULT_HKDF,
            send_kid_context: false,
            sequence: SequenceConfig::default(),
        }
    }

    /// Sets the ID Context.
    #[must_use]
    pub fn with_id_context(mut self, id_context: &[u8]) -> Self {
        self.id_context = Some(id_context.to_vec());
        self
    }

    /// Sets the AEAD algorithm.
    #[must_use]
    pub fn with_aead(mut self, aead: Algorithm) -> Self {
        self.aead = aead;
        self
    }

    /// Sets the HKDF algorithm.
    #[must_use]
    pub fn with_hkdf(mut self, hkdf: Algorithm) -> Self {
        self.hkdf = hkdf;
        self
    }

    /// Sends the ID Context as 'kid context' in requests.
    #[must_use]
    pub fn with_kid_context_in_requests(mut self, yes: bool) -> Self {
        self.send_kid_context = yes;
        self
    }

    /// Sets the sequence-number persistence configuration.
    #[must_use]
    pub fn with_sequence_config(mut self, config: SequenceConfig) -> Self {
        self.sequence = config;
        self
    }

    /// The same parameters with the roles of sender and recipient swapped (the peer's view).
    #[must_use]
    pub fn peer(&self) -> Self {
        let mut p = self.clone();
        core::mem::swap(&mut p.sender_id, &mut p.recipient_id);
        p
    }
}

/// A security context: derived keys plus the mutable sender and recipient state.
///
/// Generic over the ace-crypto backend (`AeadBackend + HkdfBackend`); with the default
/// `rustcrypto` feature use [`ace_crypto::backend::rustcrypto::RustCrypto`].
pub struct SecurityContext<B> {
    pub(crate) backend: B,
    pub(crate) params: ContextParams,
    pub(crate) aead_params: AeadParams,
    pub(crate) sender_key: Zeroizing<Vec<u8>>,
    pub(crate) recipient_key: Zeroizing<Vec<u8>>,
    pub(crate) common_iv: Vec<u8>,
    pub(crate) sequence: SenderSequence,
    pub(crate) replay: ReplayWindow,
}

impl<B> fmt::Debug for SecurityContext<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecurityContext")
            .field("params", &self.params)
            .field("sender_key", &"<redacted>")
            .field("recipient_key", &"<redacted>")
            .field("sequence", &self.sequence)
            .field("replay", &self.replay)
            .finish_non_exhaustive()
    }
}

// --- tiny deterministic CBOR writer for the fixed structures of RFC 8613 §3.2.1 and §5.4 ---

/// Where the CBOR writer puts bytes: a `Vec`, or a [`StackBuf`] on the hot path.
pub(crate) trait ByteSink {
    fn put(&mut self, bytes: &[u8]);
}

impl ByteSink for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A fixed-capacity byte buffer on the stack for the nonce and the AAD, whose sizes are
/// bounded (nonce ≤ [`MAX_NONCE_LEN`]; AAD ≤ [`MAX_AAD_LEN`] for IDs that fit the nonce),
/// so that protect/unprotect need no heap allocation for them. Writing past `N` does not
/// panic: it sets a flag the caller turns into an error.
#[derive(Clone)]
pub(crate) struct StackBuf<const N: usize> {
    bytes: [u8; N],
    len: usize,
    overflow: bool,
}

/// The largest AEAD nonce the crate accepts (AES-CCM-16-64-128: 13, GCM/ChaCha20: 12).
pub(crate) const MAX_NONCE_LEN: usize = 16;
/// Room for the Enc_structure of §5.4 with a kid of up to 10 bytes and a 5-byte Partial
/// IV (about 45 bytes).
pub(crate) const MAX_AAD_LEN: usize = 64;

impl<const N: usize> StackBuf<N> {
    pub(crate) const fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
            overflow: false,
        }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        self.bytes.get_mut(..self.len).unwrap_or_default()
    }

    /// The bytes, or `err` if anything did not fit.
    pub(crate) fn checked(self, err: Error) -> Result<Self> {
        if self.overflow { Err(err) } else { Ok(self) }
    }
}

impl<const N: usize> ByteSink for StackBuf<N> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        let end = self.len.saturating_add(bytes.len());
        match self.bytes.get_mut(self.len..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len = end;
            }
            None => self.overflow = true,
        }
    }
}

impl<const N: usize> core::ops::Deref for StackBuf<N> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

#[inline]
pub(crate) fn cbor_head(major: u8, len: u64, out: &mut impl ByteSink) {
    let m = major << 5;
    if len < 24 {
        out.put(&[m | len as u8]);
    } else if len <= 0xff {
        out.put(&[m | 24, len as u8]);
    } else if len <= 0xffff {
        out.put(&[m | 25]);
        out.put(&(len as u16).to_be_bytes());
    } else if len <= 0xffff_ffff {
        out.put(&[m | 26]);
        out.put(&(len as u32).to_be_bytes());
    } else {
        out.put(&[m | 27]);
        out.put(&len.to_be_bytes());
    }
}

#[inline]
pub(crate) fn cbor_bstr(b: &[u8], out: &mut impl ByteSink) {
    cbor_head(2, b.len() as u64, out);
    out.put(b);
}

#[inline]
pub(crate) fn cbor_int(v: i64, out: &mut impl ByteSink) {
    if v >= 0 {
        cbor_head(0, v.unsigned_abs(), out);
    } else {
        cbor_head(1, (-1 - v).unsigned_abs(), out);
    }
}

/// The HKDF `info` of RFC 8613 §3.2.1: `[id, id_context, alg_aead, type, L]`.
#[must_use]
pub fn hkdf_info(
    id: &[u8],
    id_context: Option<&[u8]>,
    aead: Algorithm,
    label: &str,
    len: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + id.len() + id_context.map_or(0, <[u8]>::len));
    cbor_head(4, 5, &mut out);
    cbor_bstr(id, &mut out);
    match id_context {
        Some(c) => cbor_bstr(c, &mut out),
        None => out.put(&[0xf6]),
    }
    cbor_int(aead.to_i64(), &mut out);
    cbor_head(3, label.len() as u64, &mut out);
    out.put(label.as_bytes());
    cbor_head(0, len as u64, &mut out);
    out
}

impl<B: AeadBackend + HkdfBackend> SecurityContext<B> {
    /// Derives a fresh context: Sender Sequence Number 0, empty replay window.
    ///
    /// # Errors
    /// [`Error::InvalidContext`] for an algorithm the crate does not know or an ID longer than
    /// nonce length - 6; [`Error::Crypto`] when the backend fails.
    pub fn new(backend: B, params: ContextParams) -> Result<Self> {
        let seq = SenderSequence::starting_at(0, params.sequence);
        Self::derive(backend, params, seq, ReplayWindow::Empty)
    }

    /// Restores a context after a restart (Appendix B.1): the sequence continues at
    /// `persisted` (the last [`Reservation::persist`] written), and the replay window waits
    /// for an Echo exchange with `echo_challenge` (1 to 40 unpredictable bytes the shell
    /// draws, RFC 9175 §2.2.1) before accepting requests (Appendix B.1.2).
    ///
    /// # Errors
    /// As [`SecurityContext::new`]; [`Error::InvalidContext`] for an empty or too long
    /// challenge.
    pub fn restore(
        backend: B,
        params: ContextParams,
        persisted: u64,
        echo_challenge: &[u8],
    ) -> Result<Self> {
        if echo_challenge.is_empty() || echo_challenge.len() > 40 {
            return Err(Error::InvalidContext(
                "Echo challenge must be 1 to 40 bytes",
            ));
        }
        let seq = SenderSequence::starting_at(persisted, params.sequence);
        let replay = ReplayWindow::NeedsEcho {
            challenge: echo_challenge.to_vec(),
        };
        Self::derive(backend, params, seq, replay)
    }

    /// Restores a context whose replay state was kept (or that only acts as a client, which
    /// has no request replay window): sequence at `persisted`, empty replay window.
    ///
    /// # Errors
    /// As [`SecurityContext::new`].
    pub fn restore_without_echo(backend: B, params: ContextParams, persisted: u64) -> Result<Self> {
        let seq = SenderSequence::starting_at(persisted, params.sequence);
        Self::derive(backend, params, seq, ReplayWindow::Empty)
    }

    fn derive(
        backend: B,
        params: ContextParams,
        sequence: SenderSequence,
        replay: ReplayWindow,
    ) -> Result<Self> {
        let aead_p =
            aead_params(params.aead).ok_or(Error::InvalidContext("unsupported AEAD algorithm"))?;
        hkdf_hash(params.hkdf).ok_or(Error::InvalidContext("unsupported HKDF algorithm"))?;
        if aead_p.nonce_len > MAX_NONCE_LEN {
            return Err(Error::InvalidContext("AEAD nonce longer than 16 bytes"));
        }
        let max_id = aead_p.nonce_len.saturating_sub(6);
        if params.sender_id.len() > max_id || params.recipient_id.len() > max_id {
            return Err(Error::InvalidContext(
                "Sender/Recipient ID longer than nonce length - 6",
            ));
        }
        let ctx = params.id_context.as_deref();
        let derive = |id: &[u8], label: &str, len: usize| -> Result<Zeroizing<Vec<u8>>> {
            let info = hkdf_info(id, ctx, params.aead, label, len);
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
        let sender_key = derive(&params.sender_id, hkdf::LABEL_KEY, aead_p.key_len)?;
        let recipient_key = derive(&params.recipient_id, hkdf::LABEL_KEY, aead_p.key_len)?;
        let common_iv = derive(&[], hkdf::LABEL_IV, aead_p.nonce_len)?.to_vec();
        Ok(Self {
            backend,
            params,
            aead_params: aead_p,
            sender_key,
            recipient_key,
            common_iv,
            sequence,
            replay,
        })
    }

    /// Derives a new context from the same Master Secret and Salt with another ID Context
    /// (RFC 8613 Appendix B.2 steps use this with R2 || ID1 and R2 || R3); sequence number
    /// and replay window start fresh.
    ///
    /// # Errors
    /// As [`SecurityContext::new`].
    pub fn rederive(&self, id_context: Option<&[u8]>) -> Result<Self>
    where
        B: Clone,
    {
        let mut params = self.params.clone();
        params.id_context = id_context.map(<[u8]>::to_vec);
        Self::new(self.backend.clone(), params)
    }
}

impl<B> SecurityContext<B> {
    /// The AEAD nonce for a Partial IV generated by the endpoint with Sender ID `id`
    /// (RFC 8613 §5.2).
    ///
    /// # Errors
    /// [`Error::InvalidContext`] when `id` is longer than nonce length - 6,
    /// [`Error::Malformed`] when `piv` is longer than 5 bytes.
    pub fn nonce(&self, id: &[u8], piv: &[u8]) -> Result<Vec<u8>> {
        Ok(self.nonce_buf(id, piv)?.to_vec())
    }

    /// [`SecurityContext::nonce`] on the stack (hot path).
    pub(crate) fn nonce_buf(&self, id: &[u8], piv: &[u8]) -> Result<StackBuf<MAX_NONCE_LEN>> {
        let n = self.aead_params.nonce_len;
        let id_field = n.saturating_sub(6);
        if id.len() > id_field {
            return Err(Error::InvalidContext("ID longer than nonce length - 6"));
        }
        if piv.len() > limits::MAX_PARTIAL_IV_LEN {
            return Err(crate::error::DecodeError::PartialIvTooLong(piv.len()).into());
        }
        // layout: [len(id)] [0.. id] [0.. piv], each field left-padded with zeros, XOR Common IV
        let mut buf = StackBuf::new();
        buf.put(&self.common_iv);
        let mut buf = buf.checked(Error::InvalidContext("Common IV too long"))?;
        let nonce = buf.as_mut_slice();
        if let Some(first) = nonce.first_mut() {
            *first ^= id.len() as u8;
        }
        for (d, b) in nonce.iter_mut().skip(1 + id_field - id.len()).zip(id) {
            *d ^= b;
        }
        for (d, b) in nonce.iter_mut().skip(n - piv.len()).zip(piv) {
            *d ^= b;
        }
        Ok(buf)
    }

    /// Sender ID.
    #[must_use]
    pub fn sender_id(&self) -> &[u8] {
        &self.params.sender_id
    }

    /// Recipient ID.
    #[must_use]
    pub fn recipient_id(&self) -> &[u8] {
        &self.params.recipient_id
    }

    /// ID Context, if any.
    #[must_use]
    pub fn id_context(&self) -> Option<&[u8]> {
        self.params.id_context.as_deref()
    }

    /// The AEAD algorithm.
    #[must_use]
    pub fn aead(&self) -> Algorithm {
        self.params.aead
    }

    /// The Sender Key. Exposed for test vectors (RFC 8613 Appendix C) and key export; never
    /// log it.
    #[must_use]
    pub fn sender_key(&self) -> &[u8] {
        &self.sender_key
    }

    /// The Recipient Key. Exposed for test vectors; never log it.
    #[must_use]
    pub fn recipient_key(&self) -> &[u8] {
        &self.recipient_key
    }

    /// The Common IV.
    #[must_use]
    pub fn common_iv(&self) -> &[u8] {
        &self.common_iv
    }

    /// The Sender Sequence Number the next protected message that needs one will use.
    #[must_use]
    pub fn sender_sequence_number(&self) -> u64 {
        self.sequence.next()
    }

    /// The replay window state.
    #[must_use]
    pub fn replay_window(&self) -> &ReplayWindow {
        &self.replay
    }

    /// Reserves the next block of sequence numbers now (e.g. when idle) so that the next
    /// messages need no durable write. Persist the result before sending anything else.
    pub fn reserve_ahead(&mut self) -> Reservation {
        self.sequence.reserve_ahead()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_buf_overflow_is_an_error_not_a_panic() {
        let mut b = StackBuf::<4>::new();
        b.put(&[1, 2, 3]);
        assert_eq!(b.as_slice(), [1, 2, 3]);
        b.put(&[4, 5]);
        assert_eq!(b.as_slice(), [1, 2, 3], "nothing partial is written");
        assert_eq!(
            b.checked(Error::Misuse("full")).err(),
            Some(Error::Misuse("full"))
        );
        let mut ok = StackBuf::<4>::new();
        ok.put(&[9; 4]);
        assert_eq!(&*ok.checked(Error::Misuse("full")).unwrap(), [9; 4]);
    }

    #[cfg(feature = "rustcrypto")]
    #[test]
    fn nonce_buf_matches_rfc_c1_nonce_layout() {
        // RFC 8613 C.4: Common IV 4622d4dd6d944168eefb54987c, Sender ID empty, PIV 0x14
        // gives the nonce 4622d4dd6d944168eefb549868.
        let p = ContextParams::new(
            &hex::decode("0102030405060708090a0b0c0d0e0f10").unwrap(),
            &hex::decode("9e7ca92223786340").unwrap(),
            b"",
            b"\x01",
        );
        let ctx = SecurityContext::new(ace_crypto::backend::rustcrypto::RustCrypto, p).unwrap();
        assert_eq!(
            hex::encode(ctx.nonce(b"", &[0x14]).unwrap()),
            "4622d4dd6d944168eefb549868"
        );
    }
}
