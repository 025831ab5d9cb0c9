//! RFC 8613 Appendix C test vectors, byte-exact.
//!
//! Source: RFC 8613 Appendix C (/work/shared/specs/latest/rfc8613-oscore.txt), values copied
//! as hex. Each test names its section.

use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_oscore::{
    ContextParams, Message, Packet, RequestOutcome, ResponseNonce, SecurityContext, hkdf_info,
};
use coset::iana::Algorithm;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

const SECRET: &str = "0102030405060708090a0b0c0d0e0f10";
const SALT: &str = "9e7ca92223786340";
const ID_CONTEXT: &str = "37cbf3210017a2d3";

struct Derivation {
    section: &'static str,
    salt: &'static str,
    sender_id: &'static str,
    recipient_id: &'static str,
    id_context: Option<&'static str>,
    info_sender_key: &'static str,
    info_recipient_key: &'static str,
    info_iv: &'static str,
    sender_key: &'static str,
    recipient_key: &'static str,
    common_iv: &'static str,
    sender_nonce: &'static str,
    recipient_nonce: &'static str,
}

const DERIVATIONS: &[Derivation] = &[
    Derivation {
        section: "C.1.1",
        salt: SALT,
        sender_id: "",
        recipient_id: "01",
        id_context: None,
        info_sender_key: "8540f60a634b657910",
        info_recipient_key: "854101f60a634b657910",
        info_iv: "8540f60a6249560d",
        sender_key: "f0910ed7295e6ad4b54fc793154302ff",
        recipient_key: "ffb14e093c94c9cac9471648b4f98710",
        common_iv: "4622d4dd6d944168eefb54987c",
        sender_nonce: "4622d4dd6d944168eefb54987c",
        recipient_nonce: "4722d4dd6d944169eefb54987c",
    },
    Derivation {
        section: "C.1.2",
        salt: SALT,
        sender_id: "01",
        recipient_id: "",
        id_context: None,
        info_sender_key: "854101f60a634b657910",
        info_recipient_key: "8540f60a634b657910",
        info_iv: "8540f60a6249560d",
        sender_key: "ffb14e093c94c9cac9471648b4f98710",
        recipient_key: "f0910ed7295e6ad4b54fc793154302ff",
        common_iv: "4622d4dd6d944168eefb54987c",
        sender_nonce: "4722d4dd6d944169eefb54987c",
        recipient_nonce: "4622d4dd6d944168eefb54987c",
    },
    Derivation {
        section: "C.2.1",
        salt: "",
        sender_id: "00",
        recipient_id: "01",
        id_context: None,
        info_sender_key: "854100f60a634b657910",
        info_recipient_key: "854101f60a634b657910",
        info_iv: "8540f60a6249560d",
        sender_key: "321b26943253c7ffb6003b0b64d74041",
        recipient_key: "e57b5635815177cd679ab4bcec9d7dda",
        common_iv: "be35ae297d2dace910c52e99f9",
        sender_nonce: "bf35ae297d2dace910c52e99f9",
        recipient_nonce: "bf35ae297d2dace810c52e99f9",
    },
    Derivation {
        section: "C.2.2",
        salt: "",
        sender_id: "01",
        recipient_id: "00",
        id_context: None,
        info_sender_key: "854101f60a634b657910",
        info_recipient_key: "854100f60a634b657910",
        info_iv: "8540f60a6249560d",
        sender_key: "e57b5635815177cd679ab4bcec9d7dda",
        recipient_key: "321b26943253c7ffb6003b0b64d74041",
        common_iv: "be35ae297d2dace910c52e99f9",
        sender_nonce: "bf35ae297d2dace810c52e99f9",
        recipient_nonce: "bf35ae297d2dace910c52e99f9",
    },
    Derivation {
        section: "C.3.1",
        salt: SALT,
        sender_id: "",
        recipient_id: "01",
        id_context: Some(ID_CONTEXT),
        info_sender_key: "85404837cbf3210017a2d30a634b657910",
        info_recipient_key: "8541014837cbf3210017a2d30a634b657910",
        info_iv: "85404837cbf3210017a2d30a6249560d",
        sender_key: "af2a1300a5e95788b356336eeecd2b92",
        recipient_key: "e39a0c7c77b43f03b4b39ab9a268699f",
        common_iv: "2ca58fb85ff1b81c0b7181b85e",
        sender_nonce: "2ca58fb85ff1b81c0b7181b85e",
        recipient_nonce: "2da58fb85ff1b81d0b7181b85e",
    },
    Derivation {
        section: "C.3.2",
        salt: SALT,
        sender_id: "01",
        recipient_id: "",
        id_context: Some(ID_CONTEXT),
        info_sender_key: "8541014837cbf3210017a2d30a634b657910",
        info_recipient_key: "85404837cbf3210017a2d30a634b657910",
        info_iv: "85404837cbf3210017a2d30a6249560d",
        sender_key: "e39a0c7c77b43f03b4b39ab9a268699f",
        recipient_key: "af2a1300a5e95788b356336eeecd2b92",
        common_iv: "2ca58fb85ff1b81c0b7181b85e",
        sender_nonce: "2da58fb85ff1b81d0b7181b85e",
        recipient_nonce: "2ca58fb85ff1b81c0b7181b85e",
    },
];

fn params(d: &Derivation) -> ContextParams {
    let mut p = ContextParams::new(&h(SECRET), &h(d.salt), &h(d.sender_id), &h(d.recipient_id));
    if let Some(c) = d.id_context {
        p = p.with_id_context(&h(c));
    }
    p
}

/// RFC 8613 C.1.1, C.1.2, C.2.1, C.2.2, C.3.1, C.3.2: info, keys, Common IV, nonces for PIV 0.
#[test]
fn c1_c2_c3_key_derivation() {
    for d in DERIVATIONS {
        let p = params(d);
        let ctx_id = d.id_context.map(h);
        let aead = Algorithm::AES_CCM_16_64_128;
        assert_eq!(
            hex::encode(hkdf_info(
                &h(d.sender_id),
                ctx_id.as_deref(),
                aead,
                "Key",
                16
            )),
            d.info_sender_key,
            "{}",
            d.section
        );
        assert_eq!(
            hex::encode(hkdf_info(
                &h(d.recipient_id),
                ctx_id.as_deref(),
                aead,
                "Key",
                16
            )),
            d.info_recipient_key,
            "{}",
            d.section
        );
        assert_eq!(
            hex::encode(hkdf_info(&[], ctx_id.as_deref(), aead, "IV", 13)),
            d.info_iv,
            "{}",
            d.section
        );
        let ctx = SecurityContext::new(RustCrypto, p).unwrap();
        assert_eq!(hex::encode(ctx.sender_key()), d.sender_key, "{}", d.section);
        assert_eq!(
            hex::encode(ctx.recipient_key()),
            d.recipient_key,
            "{}",
            d.section
        );
        assert_eq!(hex::encode(ctx.common_iv()), d.common_iv, "{}", d.section);
        assert_eq!(
            hex::encode(ctx.nonce(ctx.sender_id(), &[0]).unwrap()),
            d.sender_nonce,
            "{}",
            d.section
        );
        assert_eq!(
            hex::encode(ctx.nonce(ctx.recipient_id(), &[0]).unwrap()),
            d.recipient_nonce,
            "{}",
            d.section
        );
        // Debug output never shows keys.
        let dbg = format!("{ctx:?}");
        assert!(
            !dbg.contains(&d.sender_key[..8]) && dbg.contains("<redacted>"),
            "{}",
            d.section
        );
    }
}

struct RequestVector {
    section: &'static str,
    derivation: usize,
    unprotected: &'static str,
    nonce: &'static str,
    option: &'static str,
    protected: &'static str,
    kid_context_in_request: bool,
}

const REQUESTS: &[RequestVector] = &[
    RequestVector {
        section: "C.4",
        derivation: 0,
        unprotected: "44015d1f00003974396c6f63616c686f737483747631",
        nonce: "4622d4dd6d944168eefb549868",
        option: "0914",
        protected: "44025d1f00003974396c6f63616c686f7374620914ff612f1092f1776f1c1668b3825e",
        kid_context_in_request: false,
    },
    RequestVector {
        section: "C.5",
        derivation: 2,
        unprotected: "440171c30000b932396c6f63616c686f737483747631",
        nonce: "bf35ae297d2dace910c52e99ed",
        option: "091400",
        protected: "440271c30000b932396c6f63616c686f737463091400ff4ed339a5a379b0b8bc731fffb0",
        kid_context_in_request: false,
    },
    RequestVector {
        section: "C.6",
        derivation: 4,
        unprotected: "44012f8eef9bbf7a396c6f63616c686f737483747631",
        nonce: "2ca58fb85ff1b81c0b7181b84a",
        option: "19140837cbf3210017a2d3",
        protected: "44022f8eef9bbf7a396c6f63616c686f73746b19140837cbf3210017a2d3ff72cd7273fd331ac45cffbe55c3",
        kid_context_in_request: true,
    },
];

fn reprotect(packet: &Packet, message: Message) -> Vec<u8> {
    Packet {
        message,
        ..packet.clone()
    }
    .to_vec()
    .unwrap()
}

/// RFC 8613 C.4, C.5, C.6: protected requests byte-exact (Sender Sequence Number 20), and
/// the server side (C.1.2 / C.2.2 / C.3.2) verifies them back to the original.
#[test]
fn c4_c5_c6_requests() {
    for v in REQUESTS {
        let d = &DERIVATIONS[v.derivation];
        let p = params(d).with_kid_context_in_requests(v.kid_context_in_request);
        // Sequence number 20 as in the vector: a context restored at 20.
        let mut client = SecurityContext::restore_without_echo(RustCrypto, p, 20).unwrap();
        assert_eq!(
            hex::encode(client.nonce(client.sender_id(), &[0x14]).unwrap()),
            v.nonce,
            "{}",
            v.section
        );
        let unprotected = Packet::decode(&h(v.unprotected)).unwrap();
        let out = client.protect_request(&unprotected.message).unwrap();
        assert_eq!(
            hex::encode(out.message.option(9).unwrap()),
            v.option,
            "{}",
            v.section
        );
        assert_eq!(
            hex::encode(reprotect(&unprotected, out.message.clone())),
            v.protected,
            "{}",
            v.section
        );
        assert_eq!(client.sender_sequence_number(), 21);

        let server_d = &DERIVATIONS[v.derivation + 1];
        let mut server = SecurityContext::new(RustCrypto, params(server_d)).unwrap();
        let received = Packet::decode(&h(v.protected)).unwrap();
        let RequestOutcome::Accepted(ok) = server.unprotect_request(&received.message).unwrap()
        else {
            panic!("{}: echo required on a fresh context", v.section)
        };
        assert_eq!(ok.request, unprotected.message, "{}", v.section);
        assert_eq!(ok.binding.partial_iv(), &[0x14]);
    }
}

/// RFC 8613 C.7 (response without Partial IV) and C.8 (response with Partial IV 0), server
/// C.1.2 answering the C.4 request; the client verifies both.
#[test]
fn c7_c8_responses() {
    let c4 = &REQUESTS[0];
    let unprotected_response =
        Packet::decode(&h("64455d1f00003974ff48656c6c6f20576f726c6421")).unwrap();
    for (section, nonce_choice, protected, option) in [
        (
            "C.7",
            ResponseNonce::Request,
            "64445d1f0000397490ffdbaad1e9a7e7b2a813d3c31524378303cdafae119106",
            "",
        ),
        (
            "C.8",
            ResponseNonce::Fresh,
            "64445d1f00003974920100ff4d4c13669384b67354b2b6175ff4b8658c666a6cf88e",
            "0100",
        ),
    ] {
        let mut server = SecurityContext::new(RustCrypto, params(&DERIVATIONS[1])).unwrap();
        assert_eq!(
            server.sender_sequence_number(),
            0,
            "{section}: Sender Sequence Number 0"
        );
        let req = Packet::decode(&h(c4.protected)).unwrap();
        let RequestOutcome::Accepted(ok) = server.unprotect_request(&req.message).unwrap() else {
            panic!()
        };
        let mut binding = ok.binding;
        let out = server
            .protect_response_with(&mut binding, &unprotected_response.message, nonce_choice)
            .unwrap();
        assert_eq!(
            hex::encode(out.message.option(9).unwrap()),
            option,
            "{section}"
        );
        assert_eq!(
            hex::encode(reprotect(&unprotected_response, out.message.clone())),
            protected,
            "{section}"
        );
        if section == "C.8" {
            assert_eq!(
                hex::encode(server.nonce(server.sender_id(), &[0]).unwrap()),
                "4722d4dd6d944169eefb54987c"
            );
        }

        // Client side (C.1.1 at sequence number 20) verifies the response.
        let mut client =
            SecurityContext::restore_without_echo(RustCrypto, params(&DERIVATIONS[0]), 20).unwrap();
        let sent = client
            .protect_request(&Packet::decode(&h(c4.unprotected)).unwrap().message)
            .unwrap();
        let mut cb = sent.binding;
        let got = client
            .unprotect_response(&mut cb, &Packet::decode(&h(protected)).unwrap().message)
            .unwrap();
        assert_eq!(got, unprotected_response.message, "{section}");
    }
}
