//! Protecting and verifying requests and responses (RFC 8613 §8), with the option classes of
//! §4.1, the plaintext of §5.3, the AAD of §5.4, Observe (§4.1.3.5, §7.4.1) and inner
//! block-wise (§4.1.3.4.1: Block options in the message handed to OSCORE are Inner).

use alloc::vec::Vec;

use ace_crypto::AeadBackend;
use coset::iana::EnumI64;
use subtle::ConstantTimeEq;

use crate::consts::{OSCORE_VERSION, code, option};
use crate::context::{
    ByteSink, MAX_AAD_LEN, SecurityContext, StackBuf, cbor_bstr, cbor_head, cbor_int,
};
use crate::error::{DecodeError, Error, Result};
use crate::message::{
    CoapOption, Message, decode_options, encode_option_iter, encode_payload, encode_uint,
};
use crate::option::{OscoreOption, encode_partial_iv, piv_to_u64};
use crate::sequence::Reservation;

/// Whether option `number` is Class U only (Outer) per RFC 8613 Figure 5. Observe is both
/// (handled separately); every other option, known or unknown, is Class E (§4.1).
#[must_use]
pub const fn is_class_u(number: u16) -> bool {
    matches!(
        number,
        option::URI_HOST
            | option::URI_PORT
            | option::OSCORE
            | option::PROXY_URI
            | option::PROXY_SCHEME
    )
}

/// What a sender or receiver must remember about a request to protect or verify its
/// response(s): the request's kid and Partial IV (RFC 8613 §8, "keep the association
/// (Token, {Security Context, Partial IV of the request})") and Observe state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestBinding {
    kid: Vec<u8>,
    piv: Vec<u8>,
    kid_context: Option<Vec<u8>>,
    observe: bool,
    pub(crate) request_nonce_used: bool,
    pub(crate) force_partial_iv: bool,
    response_accepted: bool,
    notification_number: Option<u64>,
}

impl RequestBinding {
    fn new(kid: Vec<u8>, piv: Vec<u8>, kid_context: Option<Vec<u8>>, observe: bool) -> Self {
        Self {
            kid,
            piv,
            kid_context,
            observe,
            request_nonce_used: false,
            force_partial_iv: false,
            response_accepted: false,
            notification_number: None,
        }
    }

    /// The request's kid (the client's Sender ID).
    #[must_use]
    pub fn kid(&self) -> &[u8] {
        &self.kid
    }

    /// The request's Partial IV bytes.
    #[must_use]
    pub fn partial_iv(&self) -> &[u8] {
        &self.piv
    }

    /// The 'kid context' the request carried, if any.
    #[must_use]
    pub fn kid_context(&self) -> Option<&[u8]> {
        self.kid_context.as_deref()
    }

    /// Whether the request was an Observe registration (Observe = 0).
    #[must_use]
    pub const fn is_observe(&self) -> bool {
        self.observe
    }

    /// The Notification Number (RFC 8613 §4.1.3.5.2), client side.
    #[must_use]
    pub const fn notification_number(&self) -> Option<u64> {
        self.notification_number
    }
}

/// A protected request and what to keep for its response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct ProtectedRequest {
    /// The OSCORE message to send.
    pub message: Message,
    /// Keep it to verify the response(s).
    pub binding: RequestBinding,
    /// Persist this **before** sending (see [`crate::sequence`]).
    pub reservation: Option<Reservation>,
}

/// A protected response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct ProtectedResponse {
    /// The OSCORE message to send.
    pub message: Message,
    /// Persist this **before** sending (see [`crate::sequence`]).
    pub reservation: Option<Reservation>,
}

/// A verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    /// The decrypted request (Outer Class U options plus the inner ones).
    pub request: Message,
    /// Keep it to protect the response(s).
    pub binding: RequestBinding,
}

/// The result of verifying a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum RequestOutcome {
    /// Authentic and fresh: process it.
    Accepted(VerifiedRequest),
    /// Authentic, but the context was restored and freshness is unknown (RFC 8613 Appendix
    /// B.1.2): do not process it; protect `response` (4.01 with the Echo option) with
    /// `binding` via [`SecurityContext::protect_response`] and send it. The client repeats
    /// the request with the Echo value, which is then accepted.
    EchoRequired {
        /// Binding for protecting the challenge (it forces a fresh Partial IV).
        binding: RequestBinding,
        /// The unprotected 4.01 response carrying the Echo option.
        response: Message,
    },
}

/// Which nonce a response uses (RFC 8613 §8.3 step 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseNonce {
    /// Reuse the request's nonce (no Partial IV in the response). Allowed once per request.
    Request,
    /// Use a fresh Partial IV from the Sender Sequence Number.
    Fresh,
}

/// Enc_structure = ["Encrypt0", h'', external_aad] with external_aad = bstr .cbor
/// [oscore_version, [alg_aead], request_kid, request_piv, options] (RFC 8613 §5.4). Written
/// by hand on the hot path, on the stack; a unit test checks it against
/// `coset::enc_structure_data`.
pub(crate) fn aad(alg: i64, kid: &[u8], piv: &[u8]) -> Result<StackBuf<MAX_AAD_LEN>> {
    const fn head_len(len: usize) -> usize {
        if len < 24 {
            1
        } else if len <= 0xff {
            2
        } else if len <= 0xffff {
            3
        } else {
            5
        }
    }
    let alg_len =
        head_len(usize::try_from(if alg < 0 { -1 - alg } else { alg }).unwrap_or(usize::MAX));
    let arr_len =
        3 + alg_len + head_len(kid.len()) + kid.len() + head_len(piv.len()) + piv.len() + 1;
    let mut out = StackBuf::new();
    out.put(&[0x83]);
    cbor_head(3, 8, &mut out);
    out.put(b"Encrypt0");
    cbor_bstr(&[], &mut out);
    cbor_head(2, arr_len as u64, &mut out);
    cbor_head(4, 5, &mut out);
    cbor_int(i64::from(OSCORE_VERSION), &mut out);
    cbor_head(4, 1, &mut out);
    cbor_int(alg, &mut out);
    cbor_bstr(kid, &mut out);
    cbor_bstr(piv, &mut out);
    cbor_bstr(&[], &mut out); // no Class I options are defined
    out.checked(Error::InvalidContext("kid too long for the AAD"))
}

/// The plaintext of RFC 8613 §5.3: Code, Class E options, payload. Inner Observe of a
/// notification is written empty (§4.1.3.5.2).
fn plaintext(msg: &Message, empty_observe: bool) -> Vec<u8> {
    let inner = msg.options.iter().filter(|o| !is_class_u(o.number));
    let opts_len: usize = inner.clone().map(|o| o.value.len() + 5).sum();
    let mut pt = Vec::with_capacity(2 + opts_len + msg.payload.len());
    pt.push(msg.code);
    encode_option_iter(
        inner.map(|o| {
            let v: &[u8] = if empty_observe && o.number == option::OBSERVE {
                &[]
            } else {
                &o.value
            };
            (o.number, v)
        }),
        &mut pt,
    );
    encode_payload(&msg.payload, &mut pt);
    pt
}

/// Splits the decrypted plaintext into Code, options and payload; the payload stays in the
/// plaintext's buffer (moved to its front, no new allocation).
fn decode_plaintext(mut pt: Vec<u8>) -> Result<(u8, Vec<CoapOption>, Vec<u8>)> {
    let (code, rest) = pt.split_first().ok_or(DecodeError::Truncated)?;
    let code = *code;
    let (options, payload_at) = decode_options(rest)?;
    if options.iter().any(|o| o.number == option::OSCORE) {
        return Err(DecodeError::NestedOscore.into());
    }
    match payload_at {
        Some(i) => {
            pt.drain(..=i);
        }
        None => pt.clear(),
    }
    Ok((code, options, pt))
}

/// The single OSCORE option of `msg`, decoded.
///
/// # Errors
/// [`DecodeError::MissingOscoreOption`], [`DecodeError::RepeatedOscoreOption`] or a decode
/// error of the value.
pub fn oscore_option_of(msg: &Message) -> Result<OscoreOption, DecodeError> {
    let mut it = msg.options.iter().filter(|o| o.number == option::OSCORE);
    let first = it.next().ok_or(DecodeError::MissingOscoreOption)?;
    if it.next().is_some() {
        return Err(DecodeError::RepeatedOscoreOption);
    }
    OscoreOption::decode(&first.value)
}

/// Merges the received message's Class U options with the decrypted inner options
/// (RFC 8613 §8.2 steps 1 and 7): outer Class E options and the OSCORE option are dropped.
fn merge(outer: &Message, code: u8, inner: Vec<CoapOption>, payload: Vec<u8>) -> Message {
    let mut class_u = outer
        .options
        .iter()
        .filter(|o| is_class_u(o.number) && o.number != option::OSCORE)
        .peekable();
    // Usually there is no Class U option left: keep the inner vector as it is.
    let options = if class_u.peek().is_none() {
        inner
    } else {
        let mut options: Vec<CoapOption> = class_u.cloned().collect();
        options.extend(inner);
        options
    };
    let mut m = Message {
        code,
        options,
        payload,
    };
    m.normalize();
    m
}

impl<B: AeadBackend> SecurityContext<B> {
    fn seal(&self, key_is_sender: bool, nonce: &[u8], aad: &[u8], pt: &[u8]) -> Result<Vec<u8>> {
        let key: &[u8] = if key_is_sender {
            &self.sender_key
        } else {
            &self.recipient_key
        };
        Ok(self.backend.seal(self.params.aead, key, nonce, aad, pt)?)
    }

    fn open(&self, nonce: &[u8], aad: &[u8], ct: &[u8]) -> Result<Vec<u8>> {
        if ct.is_empty() {
            return Err(DecodeError::MissingCiphertext.into());
        }
        Ok(self
            .backend
            .open(self.params.aead, &self.recipient_key, nonce, aad, ct)?)
    }

    /// Checks the message and returns its Outer (Class U) options.
    fn outer_options(msg: &Message) -> Result<Vec<CoapOption>> {
        if msg.has_option(option::OSCORE) {
            return Err(Error::AlreadyProtected);
        }
        if msg.has_option(option::PROXY_URI) {
            return Err(Error::ProxyUriNotSupported);
        }
        Ok(msg
            .options
            .iter()
            .filter(|o| is_class_u(o.number))
            .cloned()
            .collect())
    }

    /// Protects a request (RFC 8613 §8.1).
    ///
    /// The Outer Code is POST, or FETCH with Observe (whose value is copied Outer). Block
    /// options are Inner: fragment before protecting (inner block-wise).
    ///
    /// # Errors
    /// [`Error::Misuse`] for a non-request code; [`Error::AlreadyProtected`];
    /// [`Error::ProxyUriNotSupported`]; [`Error::SequenceNumberExhausted`];
    /// [`Error::Crypto`].
    pub fn protect_request(&mut self, request: &Message) -> Result<ProtectedRequest> {
        if !request.is_request() {
            return Err(Error::Misuse("protect_request needs a request code"));
        }
        let mut outer = Self::outer_options(request)?;
        let observe = request.option(option::OBSERVE);
        if let Some(v) = observe {
            outer.push(CoapOption {
                number: option::OBSERVE,
                value: v.to_vec(),
            });
        }
        let (seq, reservation) = self.sequence.take()?;
        let piv = encode_partial_iv(seq);
        let kid = self.params.sender_id.clone();
        let aad = aad(self.params.aead.to_i64(), &kid, &piv)?;
        let nonce = self.nonce_buf(&kid, &piv)?;
        let ct = self.seal(true, &nonce, &aad, &plaintext(request, false))?;
        let kid_context = if self.params.send_kid_context {
            self.params.id_context.clone()
        } else {
            None
        };
        let opt = OscoreOption {
            partial_iv: Some(piv),
            kid_context,
            kid: Some(kid),
        };
        outer.push(CoapOption {
            number: option::OSCORE,
            value: opt.to_vec()?,
        });
        // The option owns the values now; the binding takes them back (no copies).
        let OscoreOption {
            partial_iv,
            kid_context,
            kid,
        } = opt;
        let (piv, kid) = (partial_iv.unwrap_or_default(), kid.unwrap_or_default());
        let mut message = Message {
            code: if observe.is_some() {
                code::FETCH
            } else {
                code::POST
            },
            options: outer,
            payload: ct,
        };
        message.normalize();
        let registration = observe.and_then(crate::message::decode_uint) == Some(0);
        Ok(ProtectedRequest {
            message,
            binding: RequestBinding::new(kid, piv, kid_context, registration),
            reservation,
        })
    }

    /// Verifies a request addressed to this context (RFC 8613 §8.2): kid and kid context must
    /// match, the Partial IV must be fresh, the ciphertext must authenticate. The replay
    /// window is updated only on success.
    ///
    /// # Errors
    /// [`Error::Malformed`] (4.02), [`Error::ContextNotFound`] (4.01),
    /// [`Error::ReplayDetected`] (4.01), [`Error::DecryptionFailed`] (4.00); see
    /// [`Error::to_response`].
    pub fn unprotect_request(&mut self, request: &Message) -> Result<RequestOutcome> {
        let opt = oscore_option_of(request)?;
        self.unprotect_request_with(request, opt)
    }

    pub(crate) fn matches(&self, kid: &[u8], kid_context: Option<&[u8]>) -> bool {
        let kid_ok = bool::from(kid.ct_eq(&self.params.recipient_id));
        let ctx_ok = match kid_context {
            None => true,
            Some(c) => self.params.id_context.as_deref() == Some(c),
        };
        kid_ok && ctx_ok
    }

    pub(crate) fn unprotect_request_with(
        &mut self,
        request: &Message,
        opt: OscoreOption,
    ) -> Result<RequestOutcome> {
        if !request.is_request() {
            return Err(Error::Misuse("unprotect_request needs a request"));
        }
        let kid = opt.kid.ok_or(DecodeError::MissingKid)?;
        let piv = opt.partial_iv.ok_or(DecodeError::MissingPartialIv)?;
        if !self.matches(&kid, opt.kid_context.as_deref()) {
            return Err(Error::ContextNotFound);
        }
        if request.payload.is_empty() {
            return Err(DecodeError::MissingCiphertext.into());
        }
        let seq = piv_to_u64(&piv);
        if !self.replay.is_fresh(seq) {
            return Err(Error::ReplayDetected);
        }
        let aad = aad(self.params.aead.to_i64(), &kid, &piv)?;
        let nonce = self.nonce_buf(&kid, &piv)?;
        let pt = self.open(&nonce, &aad, &request.payload)?;
        let (code, inner, payload) = decode_plaintext(pt)?;
        let inner_observe = inner
            .iter()
            .find(|o| o.number == option::OBSERVE)
            .map(|o| o.value.clone());
        let decrypted = merge(request, code, inner, payload);
        let registration = inner_observe
            .as_deref()
            .and_then(crate::message::decode_uint)
            == Some(0);
        let mut binding = RequestBinding::new(kid, piv, opt.kid_context, registration);
        if let crate::replay::ReplayWindow::NeedsEcho { challenge } = &self.replay {
            let echoed = decrypted
                .option(option::ECHO)
                .is_some_and(|e| e.len() == challenge.len() && bool::from(e.ct_eq(challenge)));
            if !echoed {
                binding.force_partial_iv = true;
                let response =
                    Message::new(code::UNAUTHORIZED).with_option(option::ECHO, challenge.clone());
                return Ok(RequestOutcome::EchoRequired { binding, response });
            }
        }
        self.replay.mark(seq);
        Ok(RequestOutcome::Accepted(VerifiedRequest {
            request: decrypted,
            binding,
        }))
    }

    /// Protects a response to a verified request (RFC 8613 §8.3, §8.3.1): the request nonce
    /// for the first non-Observe response, a fresh Partial IV for notifications, for any
    /// further response and for the Echo challenge.
    ///
    /// # Errors
    /// As [`SecurityContext::protect_response_with`].
    pub fn protect_response(
        &mut self,
        binding: &mut RequestBinding,
        response: &Message,
    ) -> Result<ProtectedResponse> {
        let fresh = binding.force_partial_iv
            || binding.request_nonce_used
            || response.has_option(option::OBSERVE);
        self.protect_response_with(
            binding,
            response,
            if fresh {
                ResponseNonce::Fresh
            } else {
                ResponseNonce::Request
            },
        )
    }

    /// Protects a response with an explicit nonce choice.
    ///
    /// # Errors
    /// [`Error::Misuse`] for a request code or for [`ResponseNonce::Request`] when the request
    /// nonce was already used (or a fresh Partial IV is mandatory); [`Error::AlreadyProtected`];
    /// [`Error::ProxyUriNotSupported`]; [`Error::SequenceNumberExhausted`]; [`Error::Crypto`].
    pub fn protect_response_with(
        &mut self,
        binding: &mut RequestBinding,
        response: &Message,
        nonce_choice: ResponseNonce,
    ) -> Result<ProtectedResponse> {
        if response.is_request() {
            return Err(Error::Misuse("protect_response needs a response code"));
        }
        let mut outer = Self::outer_options(response)?;
        let observe = response.option(option::OBSERVE).map(<[u8]>::to_vec);
        if let Some(v) = &observe {
            // RFC 8613 §4.1.3.5.2: Inner Observe empty, Outer carries the value.
            outer.push(CoapOption {
                number: option::OBSERVE,
                value: v.clone(),
            });
        }
        let aad = aad(self.params.aead.to_i64(), &binding.kid, &binding.piv)?;
        let pt = plaintext(response, observe.is_some());
        let (nonce, opt, reservation) = match nonce_choice {
            ResponseNonce::Request => {
                if binding.request_nonce_used || binding.force_partial_iv {
                    return Err(Error::Misuse(
                        "the request nonce cannot be used for this response",
                    ));
                }
                binding.request_nonce_used = true;
                (
                    self.nonce_buf(&binding.kid, &binding.piv)?,
                    OscoreOption::default(),
                    None,
                )
            }
            ResponseNonce::Fresh => {
                let (seq, reservation) = self.sequence.take()?;
                let piv = encode_partial_iv(seq);
                let nonce = self.nonce_buf(&self.params.sender_id, &piv)?;
                (
                    nonce,
                    OscoreOption {
                        partial_iv: Some(piv),
                        ..OscoreOption::default()
                    },
                    reservation,
                )
            }
        };
        let ct = self.seal(true, &nonce, &aad, &pt)?;
        outer.push(CoapOption {
            number: option::OSCORE,
            value: opt.to_vec()?,
        });
        let mut message = Message {
            code: if observe.is_some() {
                code::CONTENT
            } else {
                code::CHANGED
            },
            options: outer,
            payload: ct,
        };
        message.normalize();
        Ok(ProtectedResponse {
            message,
            reservation,
        })
    }

    /// Verifies a response to a request protected with [`SecurityContext::protect_request`]
    /// (RFC 8613 §8.4, §8.4.2, §7.4.1). Notifications must carry a Partial IV greater than
    /// the Notification Number; the decrypted notification's Observe value is set to the
    /// three least significant bytes of its Partial IV (§4.1.3.5.2).
    ///
    /// # Errors
    /// [`Error::Malformed`], [`Error::ContextNotFound`] (a kid that is not our Recipient ID),
    /// [`Error::DecryptionFailed`], [`Error::ReplayDetected`] (repeated or old notification,
    /// second response), [`Error::UnexpectedResponse`] (Inner Observe on a non-Observe request).
    pub fn unprotect_response(
        &mut self,
        binding: &mut RequestBinding,
        response: &Message,
    ) -> Result<Message> {
        if response.is_request() {
            return Err(Error::Misuse("unprotect_response needs a response"));
        }
        let opt = oscore_option_of(response)?;
        if let Some(kid) = &opt.kid
            && !bool::from(kid.ct_eq(&self.params.recipient_id))
        {
            return Err(Error::ContextNotFound);
        }
        let aad = aad(self.params.aead.to_i64(), &binding.kid, &binding.piv)?;
        let nonce = match &opt.partial_iv {
            Some(piv) => self.nonce_buf(&self.params.recipient_id, piv)?,
            None => self.nonce_buf(&binding.kid, &binding.piv)?,
        };
        let pt = self.open(&nonce, &aad, &response.payload)?;
        let (code, mut inner, payload) = decode_plaintext(pt)?;
        let piv = opt.partial_iv_u64();
        let inner_observe = inner.iter().any(|o| o.number == option::OBSERVE);
        if inner_observe {
            if !binding.observe {
                return Err(Error::UnexpectedResponse);
            }
            match piv {
                Some(n) => {
                    if binding.notification_number.is_some_and(|nn| n <= nn) {
                        return Err(Error::ReplayDetected);
                    }
                    binding.notification_number = Some(n);
                    let lsb = u32::try_from(n & 0x00ff_ffff).unwrap_or(0);
                    for o in inner.iter_mut().filter(|o| o.number == option::OBSERVE) {
                        o.value = encode_uint(lsb);
                    }
                }
                None => {
                    if binding.request_nonce_used {
                        return Err(Error::ReplayDetected);
                    }
                    binding.request_nonce_used = true;
                }
            }
        } else {
            if binding.response_accepted {
                return Err(Error::ReplayDetected);
            }
            binding.response_accepted = true;
            if piv.is_none() {
                binding.request_nonce_used = true;
            }
        }
        Ok(merge(response, code, inner, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aad_matches_coset_and_rfc_c4() {
        let ours = aad(10, &[], &[0x14]).unwrap().to_vec();
        assert_eq!(
            hex::encode(&ours),
            "8368456e63727970743040488501810a40411440"
        );
        let ext = hex::decode("8501810a40411440").unwrap();
        let coset_aad = coset::enc_structure_data(
            coset::EncryptionContext::CoseEncrypt0,
            coset::ProtectedHeader::default(),
            &ext,
        );
        assert_eq!(ours, coset_aad);
        let ours = aad(-7, &[1, 2], &[3; 5]).unwrap().to_vec();
        let mut arr = Vec::new();
        cbor_head(4, 5, &mut arr);
        arr.extend_from_slice(&[0x01, 0x81, 0x26, 0x42, 1, 2, 0x45, 3, 3, 3, 3, 3, 0x40]);
        let coset_aad = coset::enc_structure_data(
            coset::EncryptionContext::CoseEncrypt0,
            coset::ProtectedHeader::default(),
            &arr,
        );
        assert_eq!(ours, coset_aad);
    }

    #[test]
    fn option_classes_follow_figure_5() {
        for n in [3u16, 7, 9, 35, 39] {
            assert!(is_class_u(n));
        }
        for n in [
            1u16, 4, 5, 6, 8, 11, 12, 14, 15, 17, 20, 23, 27, 28, 60, 252, 258, 292, 2048,
        ] {
            assert!(!is_class_u(n));
        }
    }
}
