//! Protecting and verifying requests and responses in group mode (draft §6) and pairwise
//! mode (draft §7).
//!
//! ```text
//!  group mode:   option (g=1) ─▶ external_aad ─▶ ct = AEAD(Sender Key, nonce, Enc_structure)
//!                sig = Sign(Countersign_structure(external_aad, ct)); payload = ct ‖ sig ⊕ KEYSTREAM
//!  pairwise:     option (g=0) ─▶ external_aad ─▶ ct = AEAD(Pairwise Sender Key, ...)
//!  verify:       signature checked BEFORE decryption (draft §6.2), replay window checked
//!                before and updated only after everything verified
//! ```
//!
//! The Countersign_structure is `["CounterSignature0", h'', h'', external_aad, ciphertext]`
//! (RFC 9338 with an empty `sign_protected`, as aiocoap and the RISE implementation do).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use ace_crypto::Algorithm;
use ace_oscore::consts::{code, option};
use ace_oscore::message::{decode_options_and_payload, encode_option_iter, encode_payload};
use ace_oscore::option::encode_partial_iv;
use ace_oscore::{CoapOption, Message, OscoreOption, ReplayWindow, Reservation, is_class_u};
use subtle::ConstantTimeEq;

use crate::cbor;
use crate::consts::{self, COUNTERSIGN_CONTEXT};
use crate::context::{GroupBackend, GroupContext};
use crate::error::{DecodeError, Error, Result};
use crate::option::{GroupOption, raw_oscore_option};

/// The mode of a protected message: the Group Flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Group mode: Group Encryption Algorithm + encrypted countersignature (draft §6).
    Group,
    /// Pairwise mode: AEAD Algorithm with pairwise keys (draft §7).
    Pairwise,
}

/// How to protect a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestMode {
    /// Group mode, for requests to several members (e.g. over multicast).
    Group,
    /// Pairwise mode for the member with this Sender ID (unicast).
    Pairwise(Vec<u8>),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ServerState {
    without_piv_seen: bool,
    window: Option<ReplayWindow>,
}

/// What a client keeps about a request to verify its responses, from one or many servers
/// (draft §4.1: 'kid', Partial IV and 'kid context' of the request; §4.4.1: per server the
/// responses seen within the long exchange).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientBinding {
    kid: Vec<u8>,
    piv: Vec<u8>,
    kid_context: Vec<u8>,
    mode: Mode,
    target: Option<Vec<u8>>,
    servers: BTreeMap<Vec<u8>, ServerState>,
}

impl ClientBinding {
    /// The request's kid (our Sender ID when it was sent).
    #[must_use]
    pub fn kid(&self) -> &[u8] {
        &self.kid
    }
    /// The request's Partial IV.
    #[must_use]
    pub fn partial_iv(&self) -> &[u8] {
        &self.piv
    }
    /// The request's 'kid context' (the Gid it was protected with).
    #[must_use]
    pub fn kid_context(&self) -> &[u8] {
        &self.kid_context
    }
    /// The request's mode.
    #[must_use]
    pub const fn mode(&self) -> Mode {
        self.mode
    }
    /// Number of servers that answered so far.
    #[must_use]
    pub fn responders(&self) -> usize {
        self.servers.len()
    }
}

/// What a server keeps about a verified request to protect its response(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBinding {
    kid: Vec<u8>,
    piv: Vec<u8>,
    kid_context: Vec<u8>,
    mode: Mode,
    request_nonce_used: bool,
}

impl ServerBinding {
    /// The client's Sender ID (the request's kid).
    #[must_use]
    pub fn kid(&self) -> &[u8] {
        &self.kid
    }
    /// The request's Partial IV.
    #[must_use]
    pub fn partial_iv(&self) -> &[u8] {
        &self.piv
    }
    /// The request's 'kid context' (Gid used to verify it).
    #[must_use]
    pub fn kid_context(&self) -> &[u8] {
        &self.kid_context
    }
    /// The request's mode.
    #[must_use]
    pub const fn mode(&self) -> Mode {
        self.mode
    }
}

/// A protected request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct ProtectedRequest {
    /// The message to send.
    pub message: Message,
    /// Keep it to verify the responses.
    pub binding: ClientBinding,
    /// Persist this **before** sending (see `ace_oscore::sequence`).
    pub reservation: Option<Reservation>,
}

/// A protected response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct ProtectedResponse {
    /// The message to send.
    pub message: Message,
    /// Persist this **before** sending.
    pub reservation: Option<Reservation>,
}

/// A verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    /// The decrypted request (Outer Class U options plus the inner ones).
    pub request: Message,
    /// Keep it to protect the response(s).
    pub binding: ServerBinding,
    /// The authenticated sender's Sender ID.
    pub sender_id: Vec<u8>,
    /// The mode the request was protected in.
    pub mode: Mode,
}

/// A verified response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedResponse {
    /// The decrypted response.
    pub response: Message,
    /// The authenticated server's Sender ID.
    pub sender_id: Vec<u8>,
    /// The mode the response was protected in.
    pub mode: Mode,
    /// The response's own Partial IV, if it had one.
    pub partial_iv: Option<u64>,
}

/// The plaintext of RFC 8613 §5.3: Code, Class E options, payload.
fn plaintext(msg: &Message) -> Vec<u8> {
    let inner = msg.options.iter().filter(|o| !is_class_u(o.number));
    let mut pt = Vec::with_capacity(8 + msg.payload.len());
    pt.push(msg.code);
    encode_option_iter(inner.map(|o| (o.number, o.value.as_slice())), &mut pt);
    encode_payload(&msg.payload, &mut pt);
    pt
}

fn decode_plaintext(pt: &[u8]) -> Result<(u8, Vec<CoapOption>, Vec<u8>)> {
    let (code, rest) = pt.split_first().ok_or(DecodeError::Truncated)?;
    let (options, payload) = decode_options_and_payload(rest)?;
    if options.iter().any(|o| o.number == option::OSCORE) {
        return Err(DecodeError::NestedOscore.into());
    }
    Ok((*code, options, payload))
}

fn merge(outer: &Message, code: u8, inner: Vec<CoapOption>, payload: Vec<u8>) -> Message {
    let mut options: Vec<CoapOption> = outer
        .options
        .iter()
        .filter(|o| is_class_u(o.number) && o.number != option::OSCORE)
        .cloned()
        .collect();
    options.extend(inner);
    let mut m = Message {
        code,
        options,
        payload,
    };
    m.normalize();
    m
}

fn outer_options(msg: &Message) -> Result<Vec<CoapOption>> {
    if msg.has_option(option::OSCORE) {
        return Err(Error::Misuse("message is already OSCORE protected"));
    }
    if msg.has_option(option::PROXY_URI) {
        return Err(Error::ProxyUriNotSupported);
    }
    let mut outer: Vec<CoapOption> = msg
        .options
        .iter()
        .filter(|o| is_class_u(o.number))
        .cloned()
        .collect();
    if let Some(v) = msg.option(option::OBSERVE) {
        outer.push(CoapOption {
            number: option::OBSERVE,
            value: v.to_vec(),
        });
    }
    Ok(outer)
}

/// Enc_structure = ["Encrypt0", h'', external_aad] (RFC 9052 §5.3).
pub(crate) fn enc_structure(aad_array: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(aad_array.len() + 16);
    out.push(0x83);
    cbor::tstr("Encrypt0", &mut out);
    cbor::bstr(&[], &mut out);
    cbor::bstr(aad_array, &mut out);
    out
}

/// Countersign_structure = ["CounterSignature0", h'', h'', external_aad, ciphertext].
pub(crate) fn countersign_structure(aad_array: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(aad_array.len() + ciphertext.len() + 32);
    out.push(0x85);
    cbor::tstr(COUNTERSIGN_CONTEXT, &mut out);
    cbor::bstr(&[], &mut out);
    cbor::bstr(&[], &mut out);
    cbor::bstr(aad_array, &mut out);
    cbor::bstr(ciphertext, &mut out);
    out
}

fn xor_into(data: &mut [u8], ks: &[u8]) {
    for (d, k) in data.iter_mut().zip(ks) {
        *d ^= k;
    }
}

/// Inputs that differ between requests and responses.
struct Seal<'a> {
    mode: Mode,
    /// Pairwise peer (its Sender ID).
    peer: Option<&'a [u8]>,
    /// Who generated the Partial IV used in the nonce and keystream.
    piv_id: &'a [u8],
    piv: &'a [u8],
    is_request: bool,
    request_kid: &'a [u8],
    request_piv: &'a [u8],
    request_kid_context: &'a [u8],
}

impl<B: GroupBackend> GroupContext<B> {
    fn check_mode(&self, mode: Mode) -> Result<()> {
        let ok = match mode {
            Mode::Group => self.group_mode_enabled(),
            Mode::Pairwise => self.pairwise_mode_enabled(),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::ModeNotSupported)
        }
    }

    fn alg_for(&self, mode: Mode) -> Result<Algorithm> {
        match mode {
            Mode::Group => self.params.group_enc,
            Mode::Pairwise => self.params.aead,
        }
        .ok_or(Error::ModeNotSupported)
    }

    /// Encrypts (and signs) `pt` given the finished option value; returns the payload.
    fn seal(&mut self, s: &Seal<'_>, option_value: &[u8], pt: &[u8]) -> Result<Vec<u8>> {
        let alg = self.alg_for(s.mode)?;
        let aad_array = self.aad_array(
            s.request_kid,
            s.request_piv,
            s.request_kid_context,
            option_value,
            self.own_credential.bytes(),
        );
        let nonce = self.nonce(alg, s.piv_id, s.piv)?;
        let enc = enc_structure(&aad_array);
        match s.mode {
            Mode::Group => {
                let mut payload = self.backend.seal(alg, &self.sender_key, &nonce, &enc, pt)?;
                let sig_alg = self.params.signature.ok_or(Error::ModeNotSupported)?;
                let mut sig = self.backend.sign(
                    sig_alg,
                    &self.params.private_key,
                    &countersign_structure(&aad_array, &payload),
                )?;
                let ks = self.keystream(s.piv, s.piv_id, s.is_request)?;
                if sig.len() != ks.len() {
                    return Err(Error::InvalidContext("unexpected signature length"));
                }
                xor_into(&mut sig, &ks);
                payload.extend_from_slice(&sig);
                Ok(payload)
            }
            Mode::Pairwise => {
                let peer = s.peer.ok_or(Error::Misuse("pairwise mode needs a peer"))?;
                self.ensure_pairwise(peer)?;
                let key = self
                    .recipients
                    .get(peer)
                    .and_then(|r| r.pairwise.as_ref())
                    .ok_or(Error::UnknownSender)?;
                Ok(self.backend.seal(alg, &key.sender, &nonce, &enc, pt)?)
            }
        }
    }

    /// Verifies (signature first, draft §6.2) and decrypts `payload`; returns the plaintext.
    fn open(
        &mut self,
        s: &Seal<'_>,
        option_value: &[u8],
        sender: &[u8],
        payload: &[u8],
    ) -> Result<Vec<u8>> {
        let alg = self.alg_for(s.mode)?;
        let recipient = self.recipients.get(sender).ok_or(Error::UnknownSender)?;
        let aad_array = self.aad_array(
            s.request_kid,
            s.request_piv,
            s.request_kid_context,
            option_value,
            recipient.credential.bytes(),
        );
        let nonce = self.nonce(alg, s.piv_id, s.piv)?;
        let enc = enc_structure(&aad_array);
        match s.mode {
            Mode::Group => {
                let split = payload
                    .len()
                    .checked_sub(consts::SIGNATURE_LEN)
                    .filter(|n| *n > 0)
                    .ok_or(DecodeError::MissingCiphertext)?;
                let (ct, enc_sig) = payload.split_at(split);
                let ks = self.keystream(s.piv, s.piv_id, s.is_request)?;
                let mut sig = enc_sig.to_vec();
                xor_into(&mut sig, &ks);
                let sig_alg = self.params.signature.ok_or(Error::ModeNotSupported)?;
                self.backend
                    .verify(
                        sig_alg,
                        recipient.credential.public_key(),
                        &countersign_structure(&aad_array, ct),
                        &sig,
                    )
                    .map_err(|_| Error::BadSignature)?;
                Ok(self.backend.open(alg, &recipient.key, &nonce, &enc, ct)?)
            }
            Mode::Pairwise => {
                if payload.is_empty() {
                    return Err(DecodeError::MissingCiphertext.into());
                }
                self.ensure_pairwise(sender)?;
                let key = self
                    .recipients
                    .get(sender)
                    .and_then(|r| r.pairwise.as_ref())
                    .ok_or(Error::UnknownSender)?;
                Ok(self
                    .backend
                    .open(alg, &key.recipient, &nonce, &enc, payload)?)
            }
        }
    }

    /// Protects a request (draft §6.1 group mode, §7.1 pairwise mode). The 'kid context'
    /// (Gid) is always sent.
    ///
    /// # Errors
    /// [`Error::Misuse`] for a non-request or an already protected message;
    /// [`Error::ModeNotSupported`]; [`Error::UnknownSender`] for a pairwise peer without
    /// credential; [`Error::SequenceNumberExhausted`]; [`Error::Crypto`].
    pub fn protect_request(
        &mut self,
        request: &Message,
        mode: &RequestMode,
    ) -> Result<ProtectedRequest> {
        if !request.is_request() {
            return Err(Error::Misuse("protect_request needs a request code"));
        }
        let (m, peer) = match mode {
            RequestMode::Group => (Mode::Group, None),
            RequestMode::Pairwise(p) => (Mode::Pairwise, Some(p.as_slice())),
        };
        self.check_mode(m)?;
        if let Some(p) = peer {
            self.recipient(p)?;
        }
        let mut outer = outer_options(request)?;
        let (seq, reservation) = self.sequence.take()?;
        let piv = encode_partial_iv(seq);
        let kid = self.params.sender_id.clone();
        let gid = self.params.gid.clone();
        let opt = GroupOption {
            group: m == Mode::Group,
            fields: OscoreOption {
                partial_iv: Some(piv.clone()),
                kid_context: Some(gid.clone()),
                kid: Some(kid.clone()),
            },
        }
        .to_vec()?;
        let s = Seal {
            mode: m,
            peer,
            piv_id: &kid,
            piv: &piv,
            is_request: true,
            request_kid: &kid,
            request_piv: &piv,
            request_kid_context: &gid,
        };
        let payload = self.seal(&s, &opt, &plaintext(request))?;
        if let Some(p) = peer {
            self.enforce_bound(p);
        }
        let observe = request.has_option(option::OBSERVE);
        outer.push(CoapOption {
            number: option::OSCORE,
            value: opt,
        });
        let mut message = Message {
            code: if observe { code::FETCH } else { code::POST },
            options: outer,
            payload,
        };
        message.normalize();
        Ok(ProtectedRequest {
            message,
            binding: ClientBinding {
                kid,
                piv,
                kid_context: gid,
                mode: m,
                target: peer.map(<[u8]>::to_vec),
                servers: BTreeMap::new(),
            },
            reservation,
        })
    }

    /// Verifies a request (draft §6.2, §7.2). The Recipient Context is created from the
    /// credential store on first contact; the replay window is updated only on success.
    ///
    /// # Errors
    /// [`Error::Malformed`], [`Error::ReservedFlagBits`], [`Error::ContextNotFound`] (other
    /// Gid or none), [`Error::ModeNotSupported`], [`Error::UnknownSender`],
    /// [`Error::OwnSenderId`], [`Error::ReplayWindowInvalid`], [`Error::ReplayDetected`],
    /// [`Error::BadSignature`], [`Error::DecryptionFailed`].
    pub fn unprotect_request(&mut self, request: &Message) -> Result<VerifiedRequest> {
        let raw = raw_oscore_option(request)?.to_vec();
        let opt = GroupOption::decode(&raw)?;
        self.unprotect_request_with(request, &raw, opt)
    }

    pub(crate) fn unprotect_request_with(
        &mut self,
        request: &Message,
        raw: &[u8],
        opt: GroupOption,
    ) -> Result<VerifiedRequest> {
        if !request.is_request() {
            return Err(Error::Misuse("unprotect_request needs a request"));
        }
        let mode = if opt.group {
            Mode::Group
        } else {
            Mode::Pairwise
        };
        let kid = opt.fields.kid.ok_or(DecodeError::MissingKid)?;
        let piv = opt.fields.partial_iv.ok_or(DecodeError::MissingPartialIv)?;
        let gid = opt.fields.kid_context.ok_or(Error::ContextNotFound)?;
        if !bool::from(gid.ct_eq(&self.params.gid)) {
            return Err(Error::ContextNotFound);
        }
        self.check_mode(mode)?;
        if request.payload.is_empty() {
            return Err(DecodeError::MissingCiphertext.into());
        }
        let created = self.recipient(&kid)?;
        let seq = piv.iter().fold(0u64, |a, b| a << 8 | u64::from(*b));
        {
            let r = self.recipients.get(&kid).ok_or(Error::UnknownSender)?;
            if !r.window_valid {
                return Err(Error::ReplayWindowInvalid);
            }
            if !r.replay.is_fresh(seq) {
                return Err(Error::ReplayDetected);
            }
        }
        let s = Seal {
            mode,
            peer: Some(&kid),
            piv_id: &kid,
            piv: &piv,
            is_request: true,
            request_kid: &kid,
            request_piv: &piv,
            request_kid_context: &gid,
        };
        let result = self
            .open(&s, raw, &kid, &request.payload)
            .and_then(|pt| decode_plaintext(&pt));
        let (code, inner, payload) = match result {
            Ok(v) => v,
            Err(e) => {
                if created {
                    // draft §6.2: delete a Recipient Context created for a message that
                    // did not verify; this deletion does not invalidate replay windows.
                    self.recipients.remove(&kid);
                }
                return Err(e);
            }
        };
        if let Some(r) = self.recipients.get_mut(&kid) {
            r.replay.mark(seq);
        }
        self.enforce_bound(&kid);
        Ok(VerifiedRequest {
            request: merge(request, code, inner, payload),
            binding: ServerBinding {
                kid: kid.clone(),
                piv,
                kid_context: gid,
                mode,
                request_nonce_used: false,
            },
            sender_id: kid,
            mode,
        })
    }

    /// Protects a response (draft §6.3, §7.3) with this (the latest) context. The first
    /// response to a request verified with the same Gid reuses the request nonce; every other
    /// response, and any response after a rekeying, carries a fresh Partial IV, and then
    /// the new Gid as 'kid context'. Responses in group mode or to group-mode requests
    /// always carry the kid (draft §4.2).
    ///
    /// # Errors
    /// [`Error::Misuse`] for a request code; [`Error::ModeNotSupported`];
    /// [`Error::UnknownSender`] (pairwise, client credential gone);
    /// [`Error::SequenceNumberExhausted`]; [`Error::Crypto`].
    pub fn protect_response(
        &mut self,
        binding: &mut ServerBinding,
        response: &Message,
        mode: Mode,
    ) -> Result<ProtectedResponse> {
        if response.is_request() || response.code == 0 {
            return Err(Error::Misuse("protect_response needs a response code"));
        }
        self.check_mode(mode)?;
        if mode == Mode::Pairwise {
            self.recipient(&binding.kid)?;
        }
        let mut outer = outer_options(response)?;
        let same_context = binding.kid_context == self.params.gid;
        let fresh = binding.request_nonce_used || !same_context;
        let (piv_id, piv, reservation, send_piv) = if fresh {
            let (seq, r) = self.sequence.take()?;
            (
                self.params.sender_id.clone(),
                encode_partial_iv(seq),
                r,
                true,
            )
        } else {
            (binding.kid.clone(), binding.piv.clone(), None, false)
        };
        let opt = GroupOption {
            group: mode == Mode::Group,
            fields: OscoreOption {
                partial_iv: send_piv.then(|| piv.clone()),
                kid_context: (!same_context).then(|| self.params.gid.clone()),
                // draft §4.2: always in responses to group-mode requests; in group
                // mode and after a rekeying it helps the client to synchronize (§6.3).
                kid: (mode == Mode::Group
                    || binding.mode == Mode::Group
                    || !same_context
                    || self.params.compat.aiocoap_kid_in_every_response)
                    .then(|| self.params.sender_id.clone()),
            },
        }
        .to_vec()?;
        let req_ctx = if self.params.compat.aiocoap_request_kid_context_current_gid {
            self.params.gid.clone()
        } else {
            binding.kid_context.clone()
        };
        let s = Seal {
            mode,
            peer: Some(&binding.kid),
            piv_id: &piv_id,
            piv: &piv,
            is_request: false,
            request_kid: &binding.kid,
            request_piv: &binding.piv,
            request_kid_context: &req_ctx,
        };
        let payload = self.seal(&s, &opt, &plaintext(response))?;
        if !fresh {
            binding.request_nonce_used = true;
        }
        let observe = response.has_option(option::OBSERVE);
        outer.push(CoapOption {
            number: option::OSCORE,
            value: opt,
        });
        let mut message = Message {
            code: if observe {
                code::CONTENT
            } else {
                code::CHANGED
            },
            options: outer,
            payload,
        };
        message.normalize();
        Ok(ProtectedResponse {
            message,
            reservation,
        })
    }

    /// Verifies a response to the request of `binding` (draft §6.4, §7.4). Responses from
    /// many servers to one group request are accepted, each server at most once without a
    /// Partial IV and otherwise through a per-server replay window (draft §4.4.1).
    ///
    /// # Errors
    /// [`Error::Malformed`], [`Error::ContextNotFound`] (other Gid),
    /// [`Error::ModeNotSupported`], [`Error::UnknownSender`], [`Error::UnexpectedResponse`]
    /// (pairwise request answered by another server, or a second response without Partial
    /// IV), [`Error::ReplayDetected`], [`Error::BadSignature`], [`Error::DecryptionFailed`].
    pub fn unprotect_response(
        &mut self,
        binding: &mut ClientBinding,
        response: &Message,
    ) -> Result<VerifiedResponse> {
        let raw = raw_oscore_option(response)?.to_vec();
        let opt = GroupOption::decode(&raw)?;
        self.unprotect_response_with(binding, response, &raw, opt)
    }

    pub(crate) fn unprotect_response_with(
        &mut self,
        binding: &mut ClientBinding,
        response: &Message,
        raw: &[u8],
        opt: GroupOption,
    ) -> Result<VerifiedResponse> {
        if response.is_request() {
            return Err(Error::Misuse("unprotect_response needs a response"));
        }
        let mode = if opt.group {
            Mode::Group
        } else {
            Mode::Pairwise
        };
        let gid = opt
            .fields
            .kid_context
            .unwrap_or_else(|| binding.kid_context.clone());
        if !bool::from(gid.ct_eq(&self.params.gid)) {
            return Err(Error::ContextNotFound);
        }
        self.check_mode(mode)?;
        let kid = match (opt.fields.kid, &binding.target) {
            (Some(k), Some(t)) if &k != t => return Err(Error::UnexpectedResponse),
            (Some(k), _) => k,
            (None, Some(t)) => t.clone(),
            (None, None) => return Err(DecodeError::MissingKid.into()),
        };
        let created = self.recipient(&kid)?;
        let (piv_id, piv, seq) = match opt.fields.partial_iv {
            Some(p) => {
                let seq = p.iter().fold(0u64, |a, b| a << 8 | u64::from(*b));
                (kid.clone(), p, Some(seq))
            }
            None => (binding.kid.clone(), binding.piv.clone(), None),
        };
        let state = binding.servers.get(&kid).cloned().unwrap_or_default();
        match seq {
            None if state.without_piv_seen => return Err(Error::UnexpectedResponse),
            Some(n) if state.window.as_ref().is_some_and(|w| !w.is_fresh(n)) => {
                return Err(Error::ReplayDetected);
            }
            _ => {}
        }
        let req_ctx = if self.params.compat.aiocoap_request_kid_context_current_gid {
            self.params.gid.clone()
        } else {
            binding.kid_context.clone()
        };
        let s = Seal {
            mode,
            peer: Some(&kid),
            piv_id: &piv_id,
            piv: &piv,
            is_request: false,
            request_kid: &binding.kid,
            request_piv: &binding.piv,
            request_kid_context: &req_ctx,
        };
        let result = self
            .open(&s, raw, &kid, &response.payload)
            .and_then(|pt| decode_plaintext(&pt));
        let (code, inner, payload) = match result {
            Ok(v) => v,
            Err(e) => {
                if created {
                    self.recipients.remove(&kid);
                }
                return Err(e);
            }
        };
        self.enforce_bound(&kid);
        let entry = binding.servers.entry(kid.clone()).or_default();
        match seq {
            None => entry.without_piv_seen = true,
            Some(n) => entry.window.get_or_insert(ReplayWindow::Empty).mark(n),
        }
        Ok(VerifiedResponse {
            response: merge(response, code, inner, payload),
            sender_id: kid,
            mode,
            partial_iv: seq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structures_match_ciborium() {
        use coset::cbor::value::Value;
        let aad = [0x83, 1, 2, 3];
        let mut expect = Vec::new();
        coset::cbor::ser::into_writer(
            &Value::Array(alloc::vec![
                Value::Text("Encrypt0".into()),
                Value::Bytes(alloc::vec![]),
                Value::Bytes(aad.to_vec()),
            ]),
            &mut expect,
        )
        .unwrap();
        assert_eq!(enc_structure(&aad), expect);
        assert_eq!(
            enc_structure(&aad),
            coset::enc_structure_data(
                coset::EncryptionContext::CoseEncrypt0,
                coset::ProtectedHeader::default(),
                &aad
            )
        );
        let mut expect = Vec::new();
        coset::cbor::ser::into_writer(
            &Value::Array(alloc::vec![
                Value::Text("CounterSignature0".into()),
                Value::Bytes(alloc::vec![]),
                Value::Bytes(alloc::vec![]),
                Value::Bytes(aad.to_vec()),
                Value::Bytes(alloc::vec![9; 30]),
            ]),
            &mut expect,
        )
        .unwrap();
        assert_eq!(countersign_structure(&aad, &[9; 30]), expect);
    }
}
