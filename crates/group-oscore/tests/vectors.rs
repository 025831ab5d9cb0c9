//! The compression examples of draft-ietf-core-oscore-groupcomm §5.3 ("Examples of
//! Compressed COSE Objects"), byte-exact: the COSE_Encrypt0 objects before compression
//! (their encoded sizes), the OSCORE option values and the payload layout after compression,
//! and decompression back to the same objects.
//!
//! The draft elides the encrypted countersignature ("de9e ... f1"); we check its first and
//! last bytes where shown and its length (64), and use the draft's plain signature bytes
//! XORed with a fixed keystream stand-in for the elided middle.

use coset::cbor::value::Value;
use coset::{CborSerializable, CoseEncrypt0, CoseEncrypt0Builder, HeaderBuilder};
use group_oscore::consts::{COUNTERSIGNATURE0_V2, KID_CONTEXT};
use group_oscore::cose::{compress, decompress};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

const CT_REQ: &str = "aea0155667924dff8a24e4cb35b9";
const CT_RESP: &str = "60b035059d9ef5667c5a0710823b";
const SIG_REQ: &str = "66e6d9b0db009f3e105a673f8855611726caed57f530f8cae9d0b168513ab949fedc3e80a96ebe94ba08d3f8d3bf83487458e2ab4c2f936ff78b50e33c885e35";
const SIG_RESP: &str = "f5b659b824487eb349c5c5c8a3fe401784cade2892725438e8be0fabdaa2867ee6d29f68edb0818e50ebf98c28b923d0205f5162e73662e27c1a3ec562a49b80";

fn object(
    kid: Option<&str>,
    piv: Option<&str>,
    ctx: Option<&str>,
    sig: Option<&str>,
    ct: &str,
) -> CoseEncrypt0 {
    let mut hb = HeaderBuilder::new();
    if let Some(k) = kid {
        hb = hb.key_id(h(k));
    }
    if let Some(p) = piv {
        hb = hb.partial_iv(h(p));
    }
    if let Some(c) = ctx {
        hb = hb.value(KID_CONTEXT, Value::Bytes(h(c)));
    }
    if let Some(s) = sig {
        hb = hb.value(COUNTERSIGNATURE0_V2, Value::Bytes(h(s)));
    }
    CoseEncrypt0Builder::new()
        .unprotected(hb.build())
        .ciphertext(h(ct))
        .build()
}

/// An encrypted signature standing in for the draft's elided one: first bytes and last byte
/// as printed by the draft, the rest arbitrary.
fn enc_sig(first: &str, last: u8) -> Vec<u8> {
    let mut s = h(first);
    s.resize(63, 0x5a);
    s.push(last);
    s
}

fn check(
    obj: &CoseEncrypt0,
    before_len: usize,
    option: &str,
    ct: &str,
    enc: Option<Vec<u8>>,
    after_len: usize,
) {
    // Before compression: the draft's byte counts of the COSE object.
    assert_eq!(obj.clone().to_vec().unwrap().len(), before_len);
    let (opt, payload) = compress(obj, enc.as_deref()).unwrap();
    assert_eq!(hex::encode(&opt), option.replace(' ', ""));
    assert!(payload.starts_with(&h(ct)));
    if let Some(e) = &enc {
        assert_eq!(&payload[14..], &e[..]);
        assert_eq!(payload.len(), 14 + 64);
    } else {
        assert_eq!(payload.len(), 14);
    }
    // After compression: option + payload byte counts of the draft.
    assert_eq!(opt.len() + payload.len(), after_len);
    // Decompression gives back the object, with the encrypted signature in label 12.
    let back = decompress(&opt, &payload, 64).unwrap();
    let mut expect = obj.clone();
    if let Some(e) = enc {
        for (l, v) in &mut expect.unprotected.rest {
            if *l == coset::Label::Int(COUNTERSIGNATURE0_V2) {
                *v = Value::Bytes(e.clone());
            }
        }
    }
    assert_eq!(back.unprotected, expect.unprotected);
    assert_eq!(back.ciphertext, expect.ciphertext);
}

/// draft §5.3.1, request in group mode: flag byte 0x39, option 0x39 05 03 44 61 6c 25,
/// 96 bytes before, 85 after.
#[test]
fn group_mode_request() {
    let obj = object(
        Some("25"),
        Some("05"),
        Some("44616c"),
        Some(SIG_REQ),
        CT_REQ,
    );
    check(
        &obj,
        96,
        "39 05 03 44 61 6c 25",
        CT_REQ,
        Some(enc_sig("de9e", 0xf1)),
        85,
    );
}

/// draft §5.3.1, response in group mode: flag byte 0x28, option 0x28 52, 88 before, 80 after.
#[test]
fn group_mode_response() {
    let obj = object(Some("52"), None, None, Some(SIG_RESP), CT_RESP);
    check(&obj, 88, "28 52", CT_RESP, Some(enc_sig("ca1e", 0xb3)), 80);
}

/// draft §5.3.2, request in pairwise mode: flag byte 0x19, 29 before, 21 after.
#[test]
fn pairwise_mode_request() {
    let obj = object(Some("25"), Some("05"), Some("44616c"), None, CT_REQ);
    check(&obj, 29, "19 05 03 44 61 6c 25", CT_REQ, None, 21);
}

/// draft §5.3.2, response in pairwise mode: empty option value, 18 before, 14 after.
#[test]
fn pairwise_mode_response() {
    let obj = object(None, None, None, None, CT_RESP);
    check(&obj, 18, "", CT_RESP, None, 14);
}

/// The examples' flag bytes decode to the flags the draft names (Group Flag = bit 2).
#[test]
fn flag_bytes_of_the_examples() {
    use group_oscore::GroupOption;
    let g = GroupOption::decode(&h("39050344616c25")).unwrap();
    assert!(g.group);
    let p = GroupOption::decode(&h("19050344616c25")).unwrap();
    assert!(!p.group);
    assert_eq!(g.fields, p.fields);
    let r = GroupOption::decode(&h("2852")).unwrap();
    assert!(r.group && r.fields.partial_iv.is_none() && r.fields.kid == Some(vec![0x52]));
}
