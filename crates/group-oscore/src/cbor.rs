//! A tiny deterministic CBOR writer for the fixed structures of Group OSCORE (HKDF `info`,
//! external_aad, Enc_structure, Countersign_structure, CCS). Written by hand because these
//! are on the hot path and byte-exact; tests compare them with coset/ciborium.

use alloc::vec::Vec;

use ace_crypto::Algorithm;
use coset::iana::EnumI64;

pub(crate) fn head(major: u8, len: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    if len < 24 {
        out.push(m | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[m | 24, len as u8]);
    } else if len <= 0xffff {
        out.push(m | 25);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else if len <= 0xffff_ffff {
        out.push(m | 26);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

pub(crate) fn bstr(b: &[u8], out: &mut Vec<u8>) {
    head(2, b.len() as u64, out);
    out.extend_from_slice(b);
}

pub(crate) fn tstr(s: &str, out: &mut Vec<u8>) {
    head(3, s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn int(v: i64, out: &mut Vec<u8>) {
    if v >= 0 {
        head(0, v.unsigned_abs(), out);
    } else {
        head(1, (-1 - v).unsigned_abs(), out);
    }
}

pub(crate) fn alg_or_null(alg: Option<Algorithm>, out: &mut Vec<u8>) {
    match alg {
        Some(a) => int(a.to_i64(), out),
        None => out.push(0xf6),
    }
}
