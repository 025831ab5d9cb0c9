//! OSCORE header compression of the Group OSCORE COSE object (draft §5.1) to and from a
//! `coset::CoseEncrypt0`, as in the draft's examples (§5.3).
//!
//! The countersignature travels encrypted at the end of the payload; which bytes stand in
//! label 12 ("Countersignature0 version 2") is up to the caller: [`compress`] appends the
//! *encrypted* signature it is given, [`decompress`] returns the encrypted signature (it has
//! no keystream). Limitation of coset: an empty kid cannot be told from an absent one.

use alloc::vec::Vec;

use coset::cbor::value::Value;
use coset::{CoseEncrypt0, CoseEncrypt0Builder, HeaderBuilder, Label};

use crate::consts::{COUNTERSIGNATURE0_V2, KID_CONTEXT};
use crate::error::{DecodeError, Error, Result};
use crate::option::GroupOption;
use ace_oscore::OscoreOption;

fn rest_bytes(h: &coset::Header, label: i64) -> Result<Option<Vec<u8>>> {
    let mut found = None;
    for (l, v) in &h.rest {
        if *l == Label::Int(label) {
            match v {
                Value::Bytes(b) if found.is_none() => found = Some(b.clone()),
                _ => return Err(Error::Misuse("label must be a unique bstr")),
            }
        }
    }
    Ok(found)
}

/// Compresses `obj` into (OSCORE option value, payload). A "Countersignature0 version 2"
/// parameter sets the Group Flag; `encrypted_signature` (same length as that parameter) is
/// appended to the ciphertext.
///
/// # Errors
/// [`Error::Misuse`] for a non-empty protected header, parameters other than kid, Partial
/// IV, kid context and countersignature, a missing ciphertext, or a countersignature
/// without `encrypted_signature` of its length; [`Error::Malformed`] for an unencodable
/// Partial IV.
pub fn compress(
    obj: &CoseEncrypt0,
    encrypted_signature: Option<&[u8]>,
) -> Result<(Vec<u8>, Vec<u8>)> {
    if !obj.protected.header.is_empty() {
        return Err(Error::Misuse("protected header must be empty"));
    }
    let u = &obj.unprotected;
    if u.rest
        .iter()
        .any(|(l, _)| *l != Label::Int(KID_CONTEXT) && *l != Label::Int(COUNTERSIGNATURE0_V2))
        || u.alg.is_some()
        || !u.crit.is_empty()
        || u.content_type.is_some()
        || !u.iv.is_empty()
        || !u.counter_signatures.is_empty()
    {
        return Err(Error::Misuse("uncompressible header parameter"));
    }
    let sig = rest_bytes(u, COUNTERSIGNATURE0_V2)?;
    let opt = GroupOption {
        group: sig.is_some(),
        fields: OscoreOption {
            partial_iv: (!u.partial_iv.is_empty()).then(|| u.partial_iv.clone()),
            kid_context: rest_bytes(u, KID_CONTEXT)?,
            kid: (!u.key_id.is_empty()).then(|| u.key_id.clone()),
        },
    };
    let mut payload = obj
        .ciphertext
        .clone()
        .ok_or(Error::Misuse("no ciphertext"))?;
    if let Some(s) = sig {
        let enc = encrypted_signature
            .filter(|e| e.len() == s.len())
            .ok_or(Error::Misuse(
                "encrypted signature of the countersignature's length needed",
            ))?;
        payload.extend_from_slice(enc);
    }
    Ok((opt.to_vec()?, payload))
}

/// Decompresses an OSCORE option value and payload into the COSE object; with the Group
/// Flag the last `signature_len` payload bytes go to label 12 (still encrypted).
///
/// # Errors
/// As [`GroupOption::decode`]; [`DecodeError::MissingCiphertext`] when the payload is not
/// longer than the signature.
pub fn decompress(
    option_value: &[u8],
    payload: &[u8],
    signature_len: usize,
) -> Result<CoseEncrypt0> {
    let opt = GroupOption::decode(option_value)?;
    let mut h = HeaderBuilder::new();
    if let Some(k) = opt.fields.kid {
        h = h.key_id(k);
    }
    if let Some(p) = opt.fields.partial_iv {
        h = h.partial_iv(p);
    }
    if let Some(c) = opt.fields.kid_context {
        h = h.value(KID_CONTEXT, Value::Bytes(c));
    }
    let ct = if opt.group {
        let split = payload
            .len()
            .checked_sub(signature_len)
            .filter(|n| *n > 0)
            .ok_or(DecodeError::MissingCiphertext)?;
        let (ct, sig) = payload.split_at(split);
        h = h.value(COUNTERSIGNATURE0_V2, Value::Bytes(sig.to_vec()));
        ct
    } else {
        payload
    };
    Ok(CoseEncrypt0Builder::new()
        .unprotected(h.build())
        .ciphertext(ct.to_vec())
        .build())
}
