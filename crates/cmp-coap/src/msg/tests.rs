//! Classifier tests on `openssl cmp` 3.0.19 messages (tests/data/README.md).

use super::*;
use crate::consts::{failure_info, status};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn classifies_every_openssl_message() {
    let cases = [
        ("ir.der", BodyType::Ir),
        ("ir-rsp.der", BodyType::Ip),
        ("ir-certconf.der", BodyType::CertConf),
        ("ir-pkiconf.der", BodyType::PkiConf),
        ("cr.der", BodyType::Cr),
        ("cr-rsp.der", BodyType::Cp),
        ("kur.der", BodyType::Kur),
        ("kur-rsp.der", BodyType::Kup),
        ("p10cr.der", BodyType::P10cr),
        ("p10cr-rsp.der", BodyType::Cp),
        ("rr.der", BodyType::Rr),
        ("rr-rsp.der", BodyType::Rp),
        ("genm.der", BodyType::Genm),
        ("genm-rsp.der", BodyType::Genp),
        ("poll-ir.der", BodyType::Ir),
        ("poll-ip-waiting.der", BodyType::Ip),
        ("poll-req1.der", BodyType::PollReq),
        ("poll-rep1.der", BodyType::PollRep),
        ("poll-req2.der", BodyType::PollReq),
        ("poll-ip.der", BodyType::Ip),
        ("err-ir.der", BodyType::Ir),
        ("err-rsp.der", BodyType::Error),
    ];
    for (file, expected) in cases {
        let info = classify(&data(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(info.body_type, expected, "{file}");
        assert_eq!(info.pvno, 2, "{file}");
        assert!(info.protected, "{file}: openssl protects with PBM");
        assert_eq!(
            info.transaction_id.as_ref().map(Vec::len),
            Some(16),
            "{file}"
        );
        assert_eq!(info.sender_nonce.as_ref().map(Vec::len), Some(16), "{file}");
    }
}

#[test]
fn request_types_are_requests_and_responses_are_not() {
    for t in [
        BodyType::Ir,
        BodyType::Cr,
        BodyType::Kur,
        BodyType::P10cr,
        BodyType::CertConf,
        BodyType::Rr,
        BodyType::Genm,
        BodyType::PollReq,
    ] {
        assert!(t.is_request(), "{t}");
    }
    for t in [
        BodyType::Ip,
        BodyType::Cp,
        BodyType::Kup,
        BodyType::Rp,
        BodyType::Genp,
        BodyType::PollRep,
        BodyType::PkiConf,
    ] {
        assert!(!t.is_request(), "{t}");
    }
    for n in 0..=26u8 {
        assert_eq!(BodyType::from_tag(n).unwrap().tag(), n);
    }
    assert_eq!(BodyType::from_tag(27), None);
    assert_eq!(BodyType::CertConf.tag(), crate::consts::body::CERTCONF);
}

#[test]
fn response_transaction_ids_and_nonces_chain() {
    let ir = classify(&data("ir.der")).unwrap();
    let ip = classify(&data("ir-rsp.der")).unwrap();
    assert_eq!(ir.transaction_id, ip.transaction_id);
    assert_eq!(ip.recip_nonce, ir.sender_nonce);
}

#[test]
fn inspects_certificate_responses() {
    let issued = data("issued.der");
    let (_, c) = inspect_response(&data("ir-rsp.der")).unwrap();
    let ResponseContent::Certificates { ca_pubs, responses } = c else {
        panic!("{c:?}")
    };
    assert_eq!(ca_pubs.len(), 1, "-rsp_capubs ca.crt");
    assert_eq!(responses.len(), 1);
    let r = &responses[0];
    assert_eq!(r.cert_req_id, 0);
    assert_eq!(r.status.status, status::ACCEPTED);
    assert!(r.status.is_granted());
    let cert = r.certificate.as_ref().unwrap();
    assert_eq!(
        cert, &issued,
        "the mock server returns -rsp_cert issued.crt"
    );
    assert_eq!(ca_pubs[0], data("ca.der"));
    assert!(!r.encrypted);
    for f in ["cr-rsp.der", "kur-rsp.der", "p10cr-rsp.der", "poll-ip.der"] {
        let (_, c) = inspect_response(&data(f)).unwrap();
        let ResponseContent::Certificates { responses, .. } = &c else {
            panic!("{f}: {c:?}")
        };
        assert_eq!(
            responses[0].certificate.as_deref(),
            Some(cert.as_slice()),
            "{f}"
        );
        assert!(!c.needs_polling());
    }
    let (_, p10) = inspect_response(&data("p10cr-rsp.der")).unwrap();
    let ResponseContent::Certificates { responses, .. } = p10 else {
        panic!()
    };
    assert_eq!(
        responses[0].cert_req_id, -1,
        "RFC 4210 §5.3.4: p10cr uses certReqId -1"
    );
}

#[test]
fn inspects_polling_error_revocation_genp() {
    let (_, w) = inspect_response(&data("poll-ip-waiting.der")).unwrap();
    assert!(w.needs_polling());
    assert_eq!(w.check_after(), None);
    let (_, p) = inspect_response(&data("poll-rep1.der")).unwrap();
    assert!(p.needs_polling());
    assert_eq!(p.check_after(), Some(1), "-check_after 1");
    let (_, e) = inspect_response(&data("err-rsp.der")).unwrap();
    let ResponseContent::Error {
        status: s, details, ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(s.status, status::REJECTION);
    assert!(s.has_failure(failure_info::BAD_REQUEST));
    assert_eq!(s.fail_info, 1 << failure_info::BAD_REQUEST);
    assert_eq!(s.status_string, vec!["error processing message".to_owned()]);
    assert!(!details.is_empty());
    let (_, r) = inspect_response(&data("rr-rsp.der")).unwrap();
    assert_eq!(
        r,
        ResponseContent::Revocation(vec![StatusInfo {
            status: 0,
            ..StatusInfo::default()
        }])
    );
    let (_, g) = inspect_response(&data("genm-rsp.der")).unwrap();
    assert_eq!(g, ResponseContent::Genp(1));
    let (_, c) = inspect_response(&data("ir-pkiconf.der")).unwrap();
    assert_eq!(c, ResponseContent::PkiConf);
}

#[test]
fn rejects_non_der_and_tampered_messages() {
    let ir = data("ir.der");
    assert!(classify(b"").is_err());
    assert!(classify(b"hello world").is_err());
    // trailing byte
    let mut t = ir.clone();
    t.push(0);
    assert!(classify(&t).is_err());
    // truncated
    assert!(classify(&ir[..ir.len() - 1]).is_err());
    // BER indefinite length on the outer SEQUENCE
    let mut b = vec![0x30, 0x80];
    b.extend_from_slice(&ir[4..]);
    b.extend_from_slice(&[0, 0]);
    assert!(classify(&b).is_err());
    // body tag 27 (no such CHOICE)
    let mut x = ir.clone();
    let pos = find_body_tag(&x);
    assert_eq!(x[pos], 0xA0, "ir body [0]");
    x[pos] = 0xA0 | 27;
    assert!(classify(&x).is_err());
    // body tag changed to cr [2]: content still CertReqMessages → classified as cr
    let mut y = ir.clone();
    y[pos] = 0xA2;
    assert_eq!(classify(&y).unwrap().body_type, BodyType::Cr);
    // body tag changed to ip [1]: content is not a CertRepMessage
    let mut z = ir.clone();
    z[pos] = 0xA1;
    assert!(classify(&z).is_err());
    // every single-byte truncation fails without panicking
    for n in 0..ir.len() {
        assert!(classify(&ir[..n]).is_err());
    }
}

fn find_body_tag(der: &[u8]) -> usize {
    // outer SEQUENCE header, then the PKIHeader TLV
    let mut r = SliceReader::new(der).unwrap();
    der07::Header::decode(&mut r).unwrap();
    AnyRef::decode(&mut r).unwrap();
    usize::try_from(u32::from(r.position())).unwrap()
}

#[test]
fn nested_messages_are_walked() {
    // nested [20] { SEQUENCE OF PKIMessage } built around the real ir
    let ir = data("ir.der");
    let pos = find_body_tag(&ir);
    let header = &ir[4..pos];
    let inner = {
        let mut v = vec![0x30];
        push_len(&mut v, ir.len());
        v.extend_from_slice(&ir);
        v
    };
    let mut body = vec![0xB4];
    push_len(&mut body, inner.len());
    body.extend_from_slice(&inner);
    let mut content = header.to_vec();
    content.extend_from_slice(&body);
    let mut msg = vec![0x30];
    push_len(&mut msg, content.len());
    msg.extend_from_slice(&content);
    let info = classify(&msg).unwrap();
    assert_eq!(info.body_type, BodyType::Nested);
    assert!(!info.protected);
    assert!(info.body_type.is_request());
    // a nested message whose inner message is broken is rejected: the inner ir's body
    // tag [0] becomes [1] (ip), whose content is not a CertRepMessage
    let inner_body = msg.len() - ir.len() + pos;
    assert_eq!(msg[inner_body], 0xA0);
    let mut bad = msg.clone();
    bad[inner_body] = 0xA1;
    assert!(classify(&bad).is_err());
    // nesting deeper than the limit is rejected
    let mut deep = msg.clone();
    for _ in 0..=MAX_NESTING {
        let mut seq = vec![0x30];
        push_len(&mut seq, deep.len());
        seq.extend_from_slice(&deep);
        let mut body = vec![0xB4];
        push_len(&mut body, seq.len());
        body.extend_from_slice(&seq);
        let mut content = header.to_vec();
        content.extend_from_slice(&body);
        deep = vec![0x30];
        push_len(&mut deep, content.len());
        deep.extend_from_slice(&content);
    }
    assert!(classify(&deep).is_err());
}

fn push_len(v: &mut Vec<u8>, len: usize) {
    if len < 128 {
        v.push(len as u8);
    } else if len < 256 {
        v.extend_from_slice(&[0x81, len as u8]);
    } else if len < 65536 {
        v.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    } else {
        v.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
    }
}
