//! Protect/unprotect round trips, negative tests, Observe, block-wise, replay window,
//! sequence-number persistence and the "kill between requests" test (RFC 8613 §4, §7, §8,
//! Appendix B.1).

use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_oscore::consts::{code, diagnostic, limits, option};
use ace_oscore::{
    ContextParams, ContextSet, DecodeError, Error, Message, OscoreOption, RequestOutcome,
    Reservation, ResponseNonce, SecurityContext, SequenceConfig,
};
use coset::iana::Algorithm;
use proptest::prelude::*;

type Ctx = SecurityContext<RustCrypto>;

fn params(aead: Algorithm) -> ContextParams {
    ContextParams::new(&[0x11; 16], &[0x22; 8], b"", b"\x01").with_aead(aead)
}

fn pair(aead: Algorithm) -> (Ctx, Ctx) {
    let p = params(aead);
    (
        SecurityContext::new(RustCrypto, p.clone()).unwrap(),
        SecurityContext::new(RustCrypto, p.peer()).unwrap(),
    )
}

fn request() -> Message {
    Message::new(code::GET)
        .with_option(option::URI_HOST, b"example.com".to_vec())
        .with_option(option::URI_PATH, b"sensors".to_vec())
        .with_option(option::URI_PATH, b"temp".to_vec())
        .with_option(option::URI_QUERY, b"unit=c".to_vec())
        .with_option(option::ACCEPT, vec![0])
        .with_option(2048, b"unknown-elective".to_vec())
}

fn accept(server: &mut Ctx, msg: &Message) -> ace_oscore::VerifiedRequest {
    match server.unprotect_request(msg).unwrap() {
        RequestOutcome::Accepted(v) => v,
        RequestOutcome::EchoRequired { .. } => panic!("echo required"),
    }
}

/// §8.1-§8.4 round trip for each AEAD; §4.1: only Class U options are outside.
#[test]
fn round_trip_every_aead() {
    for aead in [
        Algorithm::AES_CCM_16_64_128,
        Algorithm::A128GCM,
        Algorithm::ChaCha20Poly1305,
    ] {
        let (mut client, mut server) = pair(aead);
        let req = request().with_payload(b"body".to_vec());
        let sent = client.protect_request(&req).unwrap();
        assert_eq!(sent.message.code, code::POST);
        let outer: Vec<u16> = sent.message.options.iter().map(|o| o.number).collect();
        assert_eq!(outer, [option::URI_HOST, option::OSCORE], "{aead:?}");
        assert!(!sent.message.payload.windows(4).any(|w| w == b"body"));
        let v = accept(&mut server, &sent.message);
        assert_eq!(v.request, req, "{aead:?}");
        let mut sb = v.binding;
        let resp = Message::new(code::CONTENT)
            .with_option(option::CONTENT_FORMAT, vec![60])
            .with_option(option::MAX_AGE, vec![30])
            .with_payload(vec![0xA5; 300]);
        let out = server.protect_response(&mut sb, &resp).unwrap();
        assert_eq!(out.message.code, code::CHANGED);
        assert_eq!(out.message.options.len(), 1);
        let mut cb = sent.binding;
        assert_eq!(
            client.unprotect_response(&mut cb, &out.message).unwrap(),
            resp,
            "{aead:?}"
        );
        // A second response to the same request reuses no nonce: the automatic choice
        // switches to a fresh Partial IV, and the client accepts only one response.
        let again = server.protect_response(&mut sb, &resp).unwrap();
        assert!(
            OscoreOption::decode(again.message.option(option::OSCORE).unwrap())
                .unwrap()
                .partial_iv
                .is_some()
        );
        assert_eq!(
            client.unprotect_response(&mut cb, &again.message),
            Err(Error::ReplayDetected)
        );
        assert!(matches!(
            server.protect_response_with(&mut sb, &resp, ResponseNonce::Request),
            Err(Error::Misuse(_))
        ));
    }
}

/// §7.4: a replayed request is rejected with 4.01 "Replay detected"; out-of-order within
/// the window is accepted; older than the window is rejected.
#[test]
fn replay_window() {
    let (mut client, mut server) = pair(Algorithm::AES_CCM_16_64_128);
    let msgs: Vec<Message> = (0..80)
        .map(|_| client.protect_request(&request()).unwrap().message)
        .collect();
    accept(&mut server, &msgs[5]);
    let err = server.unprotect_request(&msgs[5]).unwrap_err();
    assert_eq!(err, Error::ReplayDetected);
    let r = err.to_response();
    assert_eq!(
        (r.code, r.diagnostic),
        (code::UNAUTHORIZED, diagnostic::REPLAY_DETECTED)
    );
    accept(&mut server, &msgs[3]); // older, not seen, inside the window
    accept(&mut server, &msgs[79]);
    assert_eq!(
        server.unprotect_request(&msgs[3]).unwrap_err(),
        Error::ReplayDetected
    );
    assert_eq!(
        server.unprotect_request(&msgs[10]).unwrap_err(),
        Error::ReplayDetected,
        "79 - 10 > 63"
    );
    accept(&mut server, &msgs[16]); // 79 - 16 = 63: last slot of the window
    assert_eq!(
        server.unprotect_request(&msgs[79]).unwrap_err(),
        Error::ReplayDetected
    );
}

/// §8.2 step 6: tampering fails with 4.00 "Decryption failed" and does not move the window.
#[test]
fn tampering_fails_and_does_not_update_the_window() {
    let (mut client, mut server) = pair(Algorithm::AES_CCM_16_64_128);
    let sent = client.protect_request(&request()).unwrap().message;
    let mut bad = sent.clone();
    let last = bad.payload.len() - 1;
    bad.payload[last] ^= 1;
    let err = server.unprotect_request(&bad).unwrap_err();
    assert_eq!(err, Error::DecryptionFailed);
    assert_eq!(
        (err.to_response().code, err.to_response().diagnostic),
        (code::BAD_REQUEST, diagnostic::DECRYPTION_FAILED)
    );
    // Outer Class U option changes are not protected, but the Partial IV is (AAD + nonce).
    let mut bad_piv = sent.clone();
    bad_piv.remove_option(option::OSCORE);
    bad_piv.add_option(option::OSCORE, vec![0x09, 0x01]);
    assert_eq!(
        server.unprotect_request(&bad_piv).unwrap_err(),
        Error::DecryptionFailed
    );
    // Outer code is discarded (§8.2 step 1): a proxy changing it changes nothing.
    let mut outer_code = sent.clone();
    outer_code.code = code::FETCH;
    outer_code.add_option(option::URI_PATH, b"injected".to_vec()); // outer Class E is discarded
    let v = accept(&mut server, &outer_code);
    assert_eq!(v.request, request());
    assert_eq!(
        server.unprotect_request(&sent).unwrap_err(),
        Error::ReplayDetected
    );
    // Truncated ciphertext and empty payload.
    let mut empty = sent.clone();
    empty.payload.clear();
    assert_eq!(
        server.unprotect_request(&empty).unwrap_err(),
        Error::Malformed(DecodeError::MissingCiphertext)
    );
    let mut short = client.protect_request(&request()).unwrap().message;
    short.payload.truncate(3);
    assert_eq!(
        server.unprotect_request(&short).unwrap_err(),
        Error::DecryptionFailed
    );
}

/// §8.2 step 2: unknown kid or kid context → 4.01 "Security context not found"; malformed
/// option → 4.02 "Failed to decode COSE".
#[test]
fn context_lookup_and_malformed_options() {
    let p = params(Algorithm::AES_CCM_16_64_128);
    let mut set = ContextSet::new();
    set.insert(SecurityContext::new(RustCrypto, p.peer()).unwrap());
    let other = ContextParams::new(&[0x11; 16], &[0x22; 8], b"\x07", b"\x01");
    set.insert(SecurityContext::new(RustCrypto, other.peer()).unwrap());
    let mut client = SecurityContext::new(RustCrypto, p.clone()).unwrap();
    let sent = client.protect_request(&request()).unwrap().message;
    let (idx, outcome) = set.unprotect_request(&sent).unwrap();
    assert_eq!(idx, 0);
    assert!(matches!(outcome, RequestOutcome::Accepted(_)));

    let mut stranger = SecurityContext::new(
        RustCrypto,
        ContextParams::new(&[9; 16], &[], b"\x42", b"\x01"),
    )
    .unwrap();
    let err = set
        .unprotect_request(&stranger.protect_request(&request()).unwrap().message)
        .unwrap_err();
    assert_eq!(err, Error::ContextNotFound);
    let r = err.to_response();
    assert_eq!(
        (r.code, r.diagnostic),
        (code::UNAUTHORIZED, diagnostic::SECURITY_CONTEXT_NOT_FOUND)
    );
    // Single context: a kid that is not our Recipient ID.
    let mut single = SecurityContext::new(RustCrypto, p.peer()).unwrap();
    assert_eq!(
        single
            .unprotect_request(&stranger.protect_request(&request()).unwrap().message)
            .unwrap_err(),
        Error::ContextNotFound
    );
    // A kid context that does not match.
    let mut with_ctx = SecurityContext::new(
        RustCrypto,
        p.clone()
            .with_id_context(b"abc")
            .with_kid_context_in_requests(true),
    )
    .unwrap();
    let mut set2 = ContextSet::new();
    set2.insert(SecurityContext::new(RustCrypto, p.peer().with_id_context(b"xyz")).unwrap());
    assert_eq!(
        set2.unprotect_request(&with_ctx.protect_request(&request()).unwrap().message)
            .unwrap_err(),
        Error::ContextNotFound
    );

    let with_option = |v: Vec<u8>| {
        let mut m = sent.clone();
        m.remove_option(option::OSCORE);
        m.add_option(option::OSCORE, v);
        m
    };
    let cases: Vec<(Vec<u8>, DecodeError)> = vec![
        (
            vec![0x0e, 1, 2, 3, 4, 5, 6],
            DecodeError::PartialIvTooLong(6),
        ), // n = 6: Partial IV too long
        (vec![0x0f], DecodeError::PartialIvTooLong(7)),
        (vec![0x29, 0x01], DecodeError::ReservedFlagBits),
        (vec![0x00], DecodeError::NonCanonicalFlags),
        (vec![0x0a, 0x00, 0x14], DecodeError::NonMinimalPartialIv),
        (vec![0x19, 0x14, 0x05, 1], DecodeError::Truncated),
        (vec![0x01, 0x14], DecodeError::MissingKid),
        (vec![0x08], DecodeError::MissingPartialIv),
        (vec![], DecodeError::MissingKid),
    ];
    for (value, expected) in cases {
        let err = set
            .unprotect_request(&with_option(value.clone()))
            .unwrap_err();
        assert_eq!(err, Error::Malformed(expected), "{value:02x?}");
        let r = err.to_response();
        assert_eq!(
            (r.code, r.diagnostic),
            (code::BAD_OPTION, diagnostic::FAILED_TO_DECODE_COSE)
        );
        // the single-context path agrees
        let err2 = single
            .unprotect_request(&with_option(value.clone()))
            .unwrap_err();
        assert_eq!(err2.to_response().code, code::BAD_OPTION, "{value:02x?}");
    }
    let mut none = sent.clone();
    none.remove_option(option::OSCORE);
    assert_eq!(
        set.unprotect_request(&none).unwrap_err(),
        Error::Malformed(DecodeError::MissingOscoreOption)
    );
    let mut twice = sent.clone();
    twice.add_option(option::OSCORE, vec![0x09, 0x00]);
    assert_eq!(
        set.unprotect_request(&twice).unwrap_err(),
        Error::Malformed(DecodeError::RepeatedOscoreOption)
    );
}

/// §7.2.1: the Sender Sequence Number stops at 2^40 - 1 with a typed error.
#[test]
fn sequence_number_exhausted() {
    let p = params(Algorithm::AES_CCM_16_64_128);
    let mut client =
        SecurityContext::restore_without_echo(RustCrypto, p.clone(), limits::MAX_SEQUENCE_NUMBER)
            .unwrap();
    let last = client.protect_request(&request()).unwrap();
    assert_eq!(
        OscoreOption::decode(last.message.option(option::OSCORE).unwrap())
            .unwrap()
            .partial_iv,
        Some(vec![0xff; 5])
    );
    let err = client.protect_request(&request()).unwrap_err();
    assert_eq!(err, Error::SequenceNumberExhausted);
    assert_eq!(err.to_response().code, code::INTERNAL_SERVER_ERROR);
    // The server side cannot send a fresh Partial IV either.
    let mut server = SecurityContext::restore_without_echo(
        RustCrypto,
        p.peer(),
        limits::MAX_SEQUENCE_NUMBER + 1,
    )
    .unwrap();
    let v = accept(&mut server, &last.message);
    let mut b = v.binding;
    assert_eq!(
        server
            .protect_response_with(&mut b, &Message::new(code::CONTENT), ResponseNonce::Fresh)
            .unwrap_err(),
        Error::SequenceNumberExhausted
    );
    // The request nonce still works (it is the client's number).
    let out = server
        .protect_response(&mut b, &Message::new(code::CONTENT))
        .unwrap();
    assert_eq!(out.reservation, None);
}

/// Appendix B.1.1: reservations are handed out every K numbers, before the first number of
/// the block is used; restoring from the persisted value skips ahead.
#[test]
fn reservations_every_k_and_restore_skips_ahead() {
    let p = params(Algorithm::AES_CCM_16_64_128).with_sequence_config(SequenceConfig {
        reservation_block: 4,
    });
    let mut client = SecurityContext::new(RustCrypto, p.clone()).unwrap();
    let mut reservations = Vec::new();
    for i in 0..10u64 {
        let out = client.protect_request(&request()).unwrap();
        if let Some(r) = out.reservation {
            reservations.push((i, r));
        }
    }
    assert_eq!(
        reservations,
        [
            (0, Reservation { persist: 4 }),
            (4, Reservation { persist: 8 }),
            (8, Reservation { persist: 12 })
        ]
    );
    let restored = SecurityContext::restore_without_echo(RustCrypto, p.clone(), 12).unwrap();
    assert_eq!(restored.sender_sequence_number(), 12);
    let mut ahead = SecurityContext::new(RustCrypto, p).unwrap();
    assert_eq!(ahead.reserve_ahead(), Reservation { persist: 4 });
    let out = ahead.protect_request(&request()).unwrap();
    assert_eq!(out.reservation, None, "already reserved");
}

/// A shell that persists reservations the way the docs require, sends messages, and is
/// killed (the context dropped without any shutdown) at arbitrary points.
struct Device {
    ctx: Option<Ctx>,
    persisted: u64,
    params: ContextParams,
}

impl Device {
    fn send(&mut self) -> Message {
        let ctx = self.ctx.as_mut().unwrap();
        let out = ctx.protect_request(&request()).unwrap();
        if let Some(r) = out.reservation {
            self.persisted = r.persist; // durable write before the message leaves
        }
        out.message
    }

    fn kill_and_restart(&mut self) {
        drop(self.ctx.take()); // kill -9: nothing is flushed, only `persisted` survives
        self.ctx = Some(
            SecurityContext::restore_without_echo(RustCrypto, self.params.clone(), self.persisted)
                .unwrap(),
        );
    }
}

/// Kill between requests: the context is dropped without a clean shutdown at many points,
/// restored from the last persisted reservation, and every Partial IV (hence every nonce)
/// that ever left the device is distinct; the peer accepts every message.
#[test]
fn kill_between_requests_never_reuses_a_nonce() {
    let p = params(Algorithm::AES_CCM_16_64_128).with_sequence_config(SequenceConfig {
        reservation_block: 5,
    });
    let mut device = Device {
        ctx: Some(SecurityContext::new(RustCrypto, p.clone()).unwrap()),
        persisted: 0,
        params: p.clone(),
    };
    let mut server = SecurityContext::new(RustCrypto, p.peer()).unwrap();
    let mut seen_pivs = std::collections::BTreeSet::new();
    let mut seen_nonces = std::collections::BTreeSet::new();
    // deterministic pseudo-random crash schedule
    let mut x: u32 = 0x1234_5678;
    let mut crashes = 0;
    for _ in 0..300 {
        let msg = device.send();
        let opt = OscoreOption::decode(msg.option(option::OSCORE).unwrap()).unwrap();
        let piv = opt.partial_iv.clone().unwrap();
        let nonce = server.nonce(b"", &piv).unwrap();
        assert!(
            seen_pivs.insert(piv.clone()),
            "Partial IV {piv:02x?} reused"
        );
        assert!(seen_nonces.insert(nonce), "nonce reused");
        accept(&mut server, &msg);
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        if x.is_multiple_of(7) {
            device.kill_and_restart();
            crashes += 1;
        } else if x.is_multiple_of(11) {
            // Killed after protect but before the reservation write finished: the message
            // was never sent (the shell persists first), so it is dropped here.
            let ctx = device.ctx.as_mut().unwrap();
            let _unsent = ctx.protect_request(&request()).unwrap();
            device.kill_and_restart();
            crashes += 1;
        }
    }
    assert!(crashes > 10, "{crashes}");
    // Crashing before a reservation was persisted: that message never left, so the number
    // may be handed out again without harm; everything that left stays unique (above).
}

/// Appendix B.1.2 + RFC 9175: a restored server answers with a protected 4.01 + Echo (fresh
/// Partial IV), accepts the repeated request carrying the Echo, and rejects requests from
/// before the reboot.
#[test]
fn restored_server_requires_echo() {
    let p = params(Algorithm::AES_CCM_16_64_128);
    let mut client = SecurityContext::new(RustCrypto, p.clone()).unwrap();
    let mut server = SecurityContext::new(RustCrypto, p.peer()).unwrap();
    let before: Vec<Message> = (0..3)
        .map(|_| client.protect_request(&request()).unwrap().message)
        .collect();
    accept(&mut server, &before[0]);
    let persisted = server.reserve_ahead().persist;
    drop(server);
    let mut server = SecurityContext::restore(
        RustCrypto,
        p.peer(),
        persisted,
        b"\x01\x02\x03\x04\x05\x06\x07\x08",
    )
    .unwrap();
    assert!(server.replay_window().needs_echo());

    // A replayed pre-reboot request authenticates, but is not accepted: Echo challenge.
    let RequestOutcome::EchoRequired {
        mut binding,
        response,
    } = server.unprotect_request(&before[0]).unwrap()
    else {
        panic!("expected an echo challenge")
    };
    assert_eq!(response.code, code::UNAUTHORIZED);
    let challenge = response.option(option::ECHO).unwrap().to_vec();
    let protected = server.protect_response(&mut binding, &response).unwrap();
    let opt = OscoreOption::decode(protected.message.option(option::OSCORE).unwrap()).unwrap();
    assert!(
        opt.partial_iv.is_some(),
        "B.1.2: the Echo response MUST use the server's Partial IV"
    );
    assert!(opt.partial_iv_u64().unwrap() >= persisted);
    assert!(
        protected.message.option(option::ECHO).is_none(),
        "Echo is Class E"
    );

    // The client sends a fresh request, gets the challenge, and repeats with Echo.
    let fresh = client.protect_request(&request()).unwrap();
    let RequestOutcome::EchoRequired {
        mut binding,
        response,
    } = server.unprotect_request(&fresh.message).unwrap()
    else {
        panic!()
    };
    let out = server.protect_response(&mut binding, &response).unwrap();
    let mut cb = fresh.binding;
    let got = client.unprotect_response(&mut cb, &out.message).unwrap();
    assert_eq!(got.code, code::UNAUTHORIZED);
    assert_eq!(got.option(option::ECHO), Some(&challenge[..]));
    let wrong = client
        .protect_request(&request().with_option(option::ECHO, b"nope".to_vec()))
        .unwrap();
    assert!(matches!(
        server.unprotect_request(&wrong.message).unwrap(),
        RequestOutcome::EchoRequired { .. }
    ));
    let retry = client
        .protect_request(
            &request().with_option(option::ECHO, got.option(option::ECHO).unwrap().to_vec()),
        )
        .unwrap();
    let v = accept(&mut server, &retry.message);
    assert_eq!(v.request.option(option::URI_PATH), Some(&b"sensors"[..]));
    assert!(!server.replay_window().needs_echo());
    // Everything from before (and the requests used for the challenge) is now rejected.
    for m in before
        .iter()
        .chain([&fresh.message, &wrong.message, &retry.message])
    {
        assert_eq!(
            server.unprotect_request(m).unwrap_err(),
            Error::ReplayDetected
        );
    }
    accept(
        &mut server,
        &client.protect_request(&request()).unwrap().message,
    );
    assert!(SecurityContext::restore(RustCrypto, p.peer(), 0, b"").is_err());
}

/// §4.1.3.5 and §7.4.1: Observe registration (Outer FETCH, Observe Inner and Outer), each
/// notification with a fresh Partial IV, client Notification Number rejects old ones.
#[test]
fn observe_notifications() {
    let (mut client, mut server) = pair(Algorithm::AES_CCM_16_64_128);
    let reg = request().with_option(option::OBSERVE, Vec::new());
    let sent = client.protect_request(&reg).unwrap();
    assert_eq!(sent.message.code, code::FETCH);
    assert_eq!(
        sent.message.option(option::OBSERVE),
        Some(&[][..]),
        "Outer Observe"
    );
    assert!(sent.binding.is_observe());
    let v = accept(&mut server, &sent.message);
    assert_eq!(v.request, reg);
    let mut sb = v.binding;
    let notes: Vec<Message> = (0..3u8)
        .map(|i| {
            let n = Message::new(code::CONTENT)
                .with_option(option::OBSERVE, vec![i + 1])
                .with_payload(vec![i]);
            let out = server.protect_response(&mut sb, &n).unwrap().message;
            assert_eq!(out.code, code::CONTENT);
            assert_eq!(
                out.option(option::OBSERVE),
                Some(&[i + 1][..]),
                "Outer Observe carries the value"
            );
            out
        })
        .collect();
    let mut cb = sent.binding;
    let first = client.unprotect_response(&mut cb, &notes[0]).unwrap();
    assert_eq!(first.payload, [0]);
    assert_eq!(
        client
            .unprotect_response(&mut cb, &notes[2])
            .unwrap()
            .payload,
        [2]
    );
    let nn = cb.notification_number().unwrap();
    let third = client.unprotect_response(&mut cb, &notes[1]);
    assert_eq!(third, Err(Error::ReplayDetected), "older notification");
    assert_eq!(
        client.unprotect_response(&mut cb, &notes[2]),
        Err(Error::ReplayDetected),
        "repeat"
    );
    assert_eq!(cb.notification_number(), Some(nn));
    // Observe value of the decrypted notification: LSBs of the Partial IV (§4.1.3.5.2).
    let piv = OscoreOption::decode(notes[0].option(option::OSCORE).unwrap())
        .unwrap()
        .partial_iv_u64()
        .unwrap();
    assert_eq!(
        first.option(option::OBSERVE),
        Some(&ace_oscore::message::encode_uint(piv as u32)[..])
    );

    // A response with Inner Observe to a non-Observe request is rejected.
    let plain = client.protect_request(&request()).unwrap();
    let mut pb = accept(&mut server, &plain.message).binding;
    let n = Message::new(code::CONTENT).with_option(option::OBSERVE, vec![9]);
    let out = server.protect_response(&mut pb, &n).unwrap();
    let mut cpb = plain.binding;
    assert_eq!(
        client.unprotect_response(&mut cpb, &out.message),
        Err(Error::UnexpectedResponse)
    );
}

/// §4.1.3.4.1: Block options handed to OSCORE are Inner; a block-wise transfer protects each
/// block separately.
#[test]
fn inner_block_wise() {
    let (mut client, mut server) = pair(Algorithm::AES_CCM_16_64_128);
    let body: Vec<u8> = (0..200u8).collect();
    let mut received = Vec::new();
    for (num, chunk) in body.chunks(64).enumerate() {
        let more = (num + 1) * 64 < body.len();
        let block = ((num as u32) << 4) | (u32::from(more) << 3) | 2; // szx 2 = 64 bytes
        let req = Message::new(code::GET)
            .with_option(option::URI_PATH, b"big".to_vec())
            .with_option(
                option::BLOCK2,
                ace_oscore::message::encode_uint((num as u32) << 4 | 2),
            );
        let sent = client.protect_request(&req).unwrap();
        assert!(!sent.message.has_option(option::BLOCK2), "Block2 is Inner");
        let mut sb = accept(&mut server, &sent.message).binding;
        let resp = Message::new(code::CONTENT)
            .with_option(option::BLOCK2, ace_oscore::message::encode_uint(block))
            .with_payload(chunk.to_vec());
        let out = server.protect_response(&mut sb, &resp).unwrap();
        assert!(!out.message.has_option(option::BLOCK2));
        let mut cb = sent.binding;
        let got = client.unprotect_response(&mut cb, &out.message).unwrap();
        assert_eq!(
            got.option(option::BLOCK2),
            Some(&ace_oscore::message::encode_uint(block)[..])
        );
        received.extend_from_slice(&got.payload);
    }
    assert_eq!(received, body);
}

/// Misuse and unsupported features are typed errors.
#[test]
fn misuse_and_unsupported() {
    let (mut client, _) = pair(Algorithm::AES_CCM_16_64_128);
    assert_eq!(
        client
            .protect_request(&request().with_option(option::PROXY_URI, b"coap://h/x".to_vec()))
            .unwrap_err(),
        Error::ProxyUriNotSupported
    );
    assert_eq!(
        client
            .protect_request(&request().with_option(option::OSCORE, vec![]))
            .unwrap_err(),
        Error::AlreadyProtected
    );
    assert!(matches!(
        client.protect_request(&Message::new(code::CONTENT)),
        Err(Error::Misuse(_))
    ));
    // IDs longer than nonce length - 6 (7 for CCM, 6 for GCM).
    assert!(
        SecurityContext::new(RustCrypto, ContextParams::new(&[1; 16], &[], &[0; 7], b"")).is_ok()
    );
    assert!(matches!(
        SecurityContext::new(RustCrypto, ContextParams::new(&[1; 16], &[], &[0; 8], b"")),
        Err(Error::InvalidContext(_))
    ));
    assert!(matches!(
        SecurityContext::new(
            RustCrypto,
            ContextParams::new(&[1; 16], &[], &[0; 7], b"").with_aead(Algorithm::A128GCM)
        ),
        Err(Error::InvalidContext(_))
    ));
    assert!(matches!(
        SecurityContext::new(
            RustCrypto,
            ContextParams::new(&[1; 16], &[], b"", b"").with_aead(Algorithm::ES256)
        ),
        Err(Error::InvalidContext(_))
    ));
}

/// Context re-derivation with a new ID Context (Appendix B.2 building block): different
/// keys, both sides interoperate, fresh sequence numbers.
#[test]
fn rederive_with_new_id_context() {
    let (client, server) = pair(Algorithm::AES_CCM_16_64_128);
    let mut c2 = client.rederive(Some(b"R2R3")).unwrap();
    let mut s2 = server.rederive(Some(b"R2R3")).unwrap();
    assert_ne!(c2.sender_key(), client.sender_key());
    assert_eq!(c2.id_context(), Some(&b"R2R3"[..]));
    let sent = c2.protect_request(&request()).unwrap();
    accept(&mut s2, &sent.message);
    let mut old_server = server;
    assert_eq!(
        old_server.unprotect_request(&sent.message).unwrap_err(),
        Error::DecryptionFailed
    );
}

/// Every error variant maps to the response RFC 8613 names.
#[test]
fn error_mapping_for_every_variant() {
    let cases = [
        (
            Error::Malformed(DecodeError::Truncated),
            code::BAD_OPTION,
            diagnostic::FAILED_TO_DECODE_COSE,
        ),
        (
            Error::ContextNotFound,
            code::UNAUTHORIZED,
            diagnostic::SECURITY_CONTEXT_NOT_FOUND,
        ),
        (
            Error::ReplayDetected,
            code::UNAUTHORIZED,
            diagnostic::REPLAY_DETECTED,
        ),
        (
            Error::DecryptionFailed,
            code::BAD_REQUEST,
            diagnostic::DECRYPTION_FAILED,
        ),
        (
            Error::UnexpectedResponse,
            code::BAD_REQUEST,
            "Unexpected response",
        ),
        (
            Error::ProxyUriNotSupported,
            code::PROXYING_NOT_SUPPORTED,
            "Proxy-Uri not supported",
        ),
        (
            Error::SequenceNumberExhausted,
            code::INTERNAL_SERVER_ERROR,
            "OSCORE processing failed",
        ),
        (
            Error::AlreadyProtected,
            code::INTERNAL_SERVER_ERROR,
            "OSCORE processing failed",
        ),
        (
            Error::InvalidContext("x"),
            code::INTERNAL_SERVER_ERROR,
            "OSCORE processing failed",
        ),
        (
            Error::Misuse("x"),
            code::INTERNAL_SERVER_ERROR,
            "OSCORE processing failed",
        ),
        (
            Error::Crypto(ace_crypto::Error::InvalidKey),
            code::INTERNAL_SERVER_ERROR,
            "OSCORE processing failed",
        ),
        (
            Error::PersistFailed,
            code::INTERNAL_SERVER_ERROR,
            "OSCORE processing failed",
        ),
        (
            Error::UnprotectedResponse(0x81),
            code::INTERNAL_SERVER_ERROR,
            "OSCORE processing failed",
        ),
        (
            Error::RederivationNonceLength(3),
            code::UNAUTHORIZED,
            diagnostic::SECURITY_CONTEXT_NOT_FOUND,
        ),
    ];
    for (e, c, d) in cases {
        let r = e.to_response();
        assert_eq!((r.code, r.diagnostic), (c, d), "{e:?}");
    }
    assert_eq!(
        Error::from(ace_crypto::Error::DecryptionFailed),
        Error::DecryptionFailed
    );
}

fn arb_option() -> impl Strategy<Value = OscoreOption> {
    (
        proptest::option::of(0u64..=limits::MAX_SEQUENCE_NUMBER),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..=255)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..=16)),
    )
        .prop_map(|(piv, kid_context, kid)| OscoreOption {
            partial_iv: piv.map(ace_oscore::option::encode_partial_iv),
            kid_context,
            kid,
        })
}

proptest! {
    /// §6.1 codec: decode(encode(x)) == x.
    #[test]
    fn oscore_option_round_trip(o in arb_option()) {
        let bytes = o.to_vec().unwrap();
        prop_assert_eq!(OscoreOption::decode(&bytes).unwrap(), o);
    }

    /// Arbitrary option bytes never panic, and whatever decodes re-encodes to the same bytes
    /// (the encoding is canonical).
    #[test]
    fn oscore_option_decode_is_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        if let Ok(o) = OscoreOption::decode(&bytes) {
            prop_assert_eq!(o.to_vec().unwrap(), bytes);
        }
    }

    /// Arbitrary messages never panic the server; nothing unauthenticated is accepted.
    #[test]
    fn unprotect_arbitrary_never_accepts(opt in proptest::collection::vec(any::<u8>(), 0..20),
                                          payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let (_, mut server) = pair(Algorithm::AES_CCM_16_64_128);
        let m = Message::new(code::POST).with_option(option::OSCORE, opt).with_payload(payload);
        prop_assert!(server.unprotect_request(&m).is_err());
    }
}
