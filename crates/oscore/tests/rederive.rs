//! RFC 8613 Appendix B.2 (security context re-derivation with random ID Contexts), both
//! initiator roles, driven message by message with no sockets; negative cases for nonce
//! lengths, unexpected R2, forgeries and attacker replays.

use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_oscore::consts::{code, diagnostic, option};
use ace_oscore::rederive::response_kid_context;
use ace_oscore::{
    ClientRederivation, ContextParams, ContextSet, Error, Message, OscoreOption, RederiveConfig,
    RequestOutcome, SecurityContext, ServerRederivation, ServerStep,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

type Ctx = SecurityContext<RustCrypto>;

/// The client's view: Sender ID empty, Recipient ID 01 (RFC 8613 C.1 style inputs).
fn base() -> ContextParams {
    ContextParams::new(&[0x11; 16], &[0x22; 8], b"", b"\x01")
}

fn get(path: &str) -> Message {
    Message::new(code::GET).with_option(option::URI_PATH, path.as_bytes().to_vec())
}

fn server_set(ctx: Ctx) -> ContextSet<RustCrypto> {
    let mut set = ContextSet::new();
    set.insert(ctx);
    set
}

fn response1(step: ServerStep<RustCrypto>) -> Message {
    match step {
        ServerStep::Response1 { response } => response,
        other => panic!("expected response #1, got {other:?}"),
    }
}

fn kid_context_of(m: &Message) -> Vec<u8> {
    OscoreOption::decode(m.option(option::OSCORE).unwrap())
        .unwrap()
        .kid_context
        .unwrap()
}

/// Flips one ciphertext byte.
fn tampered(m: &Message) -> Message {
    let mut t = m.clone();
    t.payload[0] ^= 0x80;
    t
}

/// Client-initiated run (steps 1-5), with the old contexts still working until it is
/// confirmed, a fresh sequence number and replay window on the new one, and replays of
/// request #1, request #2 and responses #1/#2 rejected afterwards.
#[test]
fn client_initiated_run_and_replays() {
    let mut rng = StdRng::seed_from_u64(8613);
    let cfg = RederiveConfig::default();
    let mut old_client = SecurityContext::new(RustCrypto, base()).unwrap();
    let mut contexts = server_set(SecurityContext::new(RustCrypto, base().peer()).unwrap());
    let mut server = ServerRederivation::new(cfg);

    // Step 1: R1 (8 bytes) as ID Context and kid context.
    let (mut run, req1) =
        ClientRederivation::initiate(RustCrypto, base(), cfg, &get("a"), &mut rng).unwrap();
    let r1 = kid_context_of(&req1.message);
    assert_eq!(r1.len(), 8);

    // Step 2: the server verifies with ID1 = R1 and answers 4.01 protected with R2 || R1.
    let resp1 = response1(
        server
            .unprotect_request(&mut contexts, &req1.message, &mut rng)
            .unwrap(),
    );
    assert_eq!(server.pending(), 1);
    assert_eq!(
        resp1.code,
        code::CHANGED,
        "outer code of a protected response"
    );
    let r2 = kid_context_of(&resp1);
    assert_eq!(r2.len(), 8);
    assert_eq!(contexts.len(), 1, "nothing installed yet");
    // The 4.01 is protected with ID2 = R2 || R1 (verify independently).
    let mut id2 = base();
    id2.id_context = Some([r2.clone(), r1.clone()].concat());
    let mut ctx2 = SecurityContext::new(RustCrypto, id2).unwrap();
    let mut b = req1.binding.clone();
    let inner = ctx2.unprotect_response(&mut b, &resp1).unwrap();
    assert_eq!(inner.code, code::UNAUTHORIZED);

    // A forged R2 (same length, other bytes) does not verify and does not disturb the run.
    let mut forged = resp1.clone();
    let mut opt = OscoreOption::decode(forged.option(option::OSCORE).unwrap()).unwrap();
    opt.kid_context = Some(vec![0xee; 8]);
    forged.remove_option(option::OSCORE);
    forged.add_option(option::OSCORE, opt.to_vec().unwrap());
    assert_eq!(
        run.handle_response1(&forged, &get("b"), &mut rng)
            .unwrap_err(),
        Error::DecryptionFailed
    );
    assert!(run.awaits_response1());

    // Step 3: verify with R2 || R1, protect request #2 with R2 || R3.
    let req2 = run.handle_response1(&resp1, &get("b"), &mut rng).unwrap();
    let id3 = kid_context_of(&req2.message);
    assert_eq!(id3.len(), 16);
    assert_eq!(&id3[..8], &r2[..]);
    assert!(
        req2.reservation.is_some(),
        "the new context reserves from 0"
    );
    // Replayed response #1: no longer expected.
    assert_eq!(
        run.handle_response1(&resp1, &get("b"), &mut rng)
            .unwrap_err(),
        Error::UnexpectedResponse
    );

    // The old contexts still work while the run is pending.
    let plain = old_client.protect_request(&get("old")).unwrap();
    match server
        .unprotect_request(&mut contexts, &plain.message, &mut rng)
        .unwrap()
    {
        ServerStep::Ordinary {
            index: 0,
            outcome: RequestOutcome::Accepted(v),
        } => assert_eq!(v.request.option(option::URI_PATH), Some(&b"old"[..])),
        other => panic!("{other:?}"),
    }

    // A forged request #2 fails and leaves R2 cached.
    assert_eq!(
        server
            .unprotect_request(&mut contexts, &tampered(&req2.message), &mut rng)
            .unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(server.pending(), 1);

    // Step 4: request #2 verifies with R2 || R3; the run completes.
    let ServerStep::Completed {
        context,
        replaces,
        mut request,
    } = server
        .unprotect_request(&mut contexts, &req2.message, &mut rng)
        .unwrap()
    else {
        panic!("expected completion")
    };
    assert_eq!(server.pending(), 0, "every R2 of this client dropped");
    assert_eq!(replaces, Some(0));
    assert_eq!(context.id_context(), Some(&id3[..]));
    assert_eq!(context.sender_sequence_number(), 0, "fresh sequence number");
    assert_eq!(
        request.request.option(option::URI_PATH),
        Some(&b"b"[..]),
        "request #2 is an ordinary request"
    );
    let index = contexts.install(replaces, *context);
    assert_eq!((index, contexts.len()), (0, 1), "old context replaced");
    let resp2 = contexts
        .get_mut(index)
        .unwrap()
        .protect_response(
            &mut request.binding,
            &Message::new(code::CONTENT).with_payload(b"new".to_vec()),
        )
        .unwrap();

    // The old client context is gone on the server now.
    let plain = old_client.protect_request(&get("old")).unwrap();
    assert_eq!(
        server
            .unprotect_request(&mut contexts, &plain.message, &mut rng)
            .unwrap_err(),
        Error::DecryptionFailed,
        "the kid matches the new context, whose keys differ"
    );

    // Replayed request #2: its R2 is gone, and the new context's window has its Partial IV.
    assert_eq!(
        server
            .unprotect_request(&mut contexts, &req2.message, &mut rng)
            .unwrap_err(),
        Error::ReplayDetected
    );

    // A response #2 with a kid context is not a response #2.
    let mut with_ctx = resp2.message.clone();
    let mut opt = OscoreOption::decode(with_ctx.option(option::OSCORE).unwrap()).unwrap();
    opt.kid_context = Some(vec![1; 8]);
    with_ctx.remove_option(option::OSCORE);
    with_ctx.add_option(option::OSCORE, opt.to_vec().unwrap());
    assert_eq!(
        run.handle_response2(&with_ctx).unwrap_err(),
        Error::UnexpectedResponse
    );
    // A tampered response #2 fails and the run waits on.
    assert_eq!(
        run.handle_response2(&tampered(&resp2.message)).unwrap_err(),
        Error::DecryptionFailed
    );

    // Step 5: the client installs the new context.
    let done = run.handle_response2(&resp2.message).unwrap();
    assert_eq!(done.response.payload, b"new");
    let mut client = done.context;
    assert_eq!(client.id_context(), Some(&id3[..]));
    assert_eq!(client.sender_sequence_number(), 1);
    // Replayed responses #2 and #1 after completion.
    assert_eq!(
        run.handle_response2(&resp2.message).unwrap_err(),
        Error::UnexpectedResponse
    );
    assert_eq!(
        run.handle_response1(&resp1, &get("c"), &mut rng)
            .unwrap_err(),
        Error::UnexpectedResponse
    );

    // Ordinary traffic on the new contexts.
    let sent = client.protect_request(&get("c")).unwrap();
    let ServerStep::Ordinary {
        index: 0,
        outcome: RequestOutcome::Accepted(mut v),
    } = server
        .unprotect_request(&mut contexts, &sent.message, &mut rng)
        .unwrap()
    else {
        panic!("ordinary request refused")
    };
    let resp = contexts
        .get_mut(0)
        .unwrap()
        .protect_response(&mut v.binding, &Message::new(code::CONTENT))
        .unwrap();
    let mut b = sent.binding;
    client.unprotect_response(&mut b, &resp.message).unwrap();

    // Replayed request #1: the server starts another run (new R2), which cannot complete:
    // the client has none; the installed context is untouched.
    let again = response1(
        server
            .unprotect_request(&mut contexts, &req1.message, &mut rng)
            .unwrap(),
    );
    assert_ne!(kid_context_of(&again), r2, "R2 is never reused");
    assert_eq!(contexts.len(), 1);
    assert_eq!(contexts.get(0).unwrap().id_context(), Some(&id3[..]));
}

/// Step 1 omitted: the server lost its replay state (restored context waiting for Echo) and
/// answers an ordinary request with response #1; with and without an ID Context ID1.
#[test]
fn server_initiated_run() {
    for id1 in [Some(&b"\x37\xcb\xf3\x21\x00\x17\xa2\xd3"[..]), None] {
        let mut rng = StdRng::seed_from_u64(9);
        let cfg = RederiveConfig::default();
        let mut p = base().with_kid_context_in_requests(id1.is_some());
        p.id_context = id1.map(<[u8]>::to_vec);
        let mut client = SecurityContext::new(RustCrypto, p.clone()).unwrap();
        // Server restarted: sequence restored, replay window unknown.
        let restored = SecurityContext::restore(RustCrypto, p.peer(), 64, b"echo-abc").unwrap();
        let mut contexts = server_set(restored);
        // Another client's context, to check `replaces` picks the right one.
        contexts.insert(
            SecurityContext::new(
                RustCrypto,
                ContextParams::new(&[9; 16], b"", b"\x05", b"\x06"),
            )
            .unwrap(),
        );
        let mut server = ServerRederivation::new(cfg);

        let sent = client.protect_request(&get("t")).unwrap();
        let resp1 = response1(
            server
                .unprotect_request(&mut contexts, &sent.message, &mut rng)
                .unwrap(),
        );
        let r2 = response_kid_context(&resp1).unwrap().unwrap();
        assert_eq!(r2.len(), 8);
        // Without the B.2 machinery the client cannot read it (other keys).
        let mut b = sent.binding.clone();
        assert_eq!(
            client.unprotect_response(&mut b, &resp1).unwrap_err(),
            Error::DecryptionFailed
        );

        let mut run = ClientRederivation::server_initiated(&client, sent.binding, cfg);
        let req2 = run.handle_response1(&resp1, &get("t"), &mut rng).unwrap();
        let id3 = kid_context_of(&req2.message);
        assert_eq!(&id3[..8], &r2[..]);
        assert_eq!(id3.len(), 16);

        let ServerStep::Completed {
            context,
            replaces,
            mut request,
        } = server
            .unprotect_request(&mut contexts, &req2.message, &mut rng)
            .unwrap()
        else {
            panic!("expected completion")
        };
        assert_eq!(replaces, Some(0), "replaces the restored context");
        assert!(!context.replay_window().needs_echo());
        let i = contexts.install(replaces, *context);
        let resp2 = contexts
            .get_mut(i)
            .unwrap()
            .protect_response(&mut request.binding, &Message::new(code::CONTENT))
            .unwrap();
        let done = run.handle_response2(&resp2.message).unwrap();
        assert_eq!(done.response.code, code::CONTENT);
        assert_eq!(done.context.id_context(), Some(&id3[..]));
        assert_eq!(contexts.len(), 2);
        // The first request replayed now: with its ID1 as kid context it can only start
        // another run (a new R2, nothing installed); without one it meets the new context,
        // whose window already holds Partial IV 0 (request #2's).
        let r = server.unprotect_request(&mut contexts, &sent.message, &mut rng);
        if id1.is_some() {
            response1(r.unwrap());
        } else {
            assert_eq!(r.unwrap_err(), Error::ReplayDetected);
        }
        assert_eq!(contexts.get(i).unwrap().id_context(), Some(&id3[..]));
    }
}

/// R1 / R2 outside the configured lengths are refused before any key is derived; the error
/// maps to 4.01 "Security context not found".
#[test]
fn nonce_lengths_are_bounded() {
    let mut rng = StdRng::seed_from_u64(1);
    let server_cfg = RederiveConfig::default();
    for (len, ok) in [(7usize, false), (8, true), (32, true), (33, false)] {
        let client_cfg = RederiveConfig {
            nonce_len: len,
            ..RederiveConfig::default()
        };
        let mut contexts = server_set(SecurityContext::new(RustCrypto, base().peer()).unwrap());
        let mut server = ServerRederivation::new(server_cfg);
        let (_run, req1) =
            ClientRederivation::initiate(RustCrypto, base(), client_cfg, &get("a"), &mut rng)
                .unwrap();
        let r = server.unprotect_request(&mut contexts, &req1.message, &mut rng);
        if ok {
            response1(r.unwrap());
        } else {
            let e = r.unwrap_err();
            assert_eq!(e, Error::RederivationNonceLength(len));
            assert_eq!(e.to_response().code, code::UNAUTHORIZED);
            assert_eq!(
                e.to_response().diagnostic,
                diagnostic::SECURITY_CONTEXT_NOT_FOUND
            );
            assert_eq!(server.pending(), 0);
        }
    }

    // R2 too short or too long for the client.
    for r2_len in [4usize, 40] {
        let server_cfg = RederiveConfig {
            nonce_len: r2_len,
            ..RederiveConfig::default()
        };
        let mut contexts = server_set(SecurityContext::new(RustCrypto, base().peer()).unwrap());
        let mut server = ServerRederivation::new(server_cfg);
        let (mut run, req1) = ClientRederivation::initiate(
            RustCrypto,
            base(),
            RederiveConfig::default(),
            &get("a"),
            &mut rng,
        )
        .unwrap();
        let resp1 = response1(
            server
                .unprotect_request(&mut contexts, &req1.message, &mut rng)
                .unwrap(),
        );
        assert_eq!(
            run.handle_response1(&resp1, &get("b"), &mut rng)
                .unwrap_err(),
            Error::RederivationNonceLength(r2_len)
        );
        assert!(run.awaits_response1());
    }

    // Unknown kid: no input parameters to derive from.
    let mut contexts = server_set(SecurityContext::new(RustCrypto, base().peer()).unwrap());
    let mut server = ServerRederivation::new(server_cfg);
    let other = ContextParams::new(&[0x11; 16], &[0x22; 8], b"\x77", b"\x01");
    let (_run, req1) =
        ClientRederivation::initiate(RustCrypto, other, server_cfg, &get("a"), &mut rng).unwrap();
    assert_eq!(
        server
            .unprotect_request(&mut contexts, &req1.message, &mut rng)
            .unwrap_err(),
        Error::ContextNotFound
    );
}

/// Unexpected R2: a response #1 without kid context, and a request #1 whose response is an
/// ordinary one; the pending-run cache is bounded (oldest evicted, Appendix B.2.1) and an
/// evicted run cannot complete.
#[test]
fn unexpected_r2_and_bounded_cache() {
    let mut rng = StdRng::seed_from_u64(2);
    let cfg = RederiveConfig {
        max_pending: 2,
        ..RederiveConfig::default()
    };
    let mut contexts = server_set(SecurityContext::new(RustCrypto, base().peer()).unwrap());
    let mut server = ServerRederivation::new(cfg);
    let (mut run, req1) =
        ClientRederivation::initiate(RustCrypto, base(), cfg, &get("a"), &mut rng).unwrap();
    let resp1 = response1(
        server
            .unprotect_request(&mut contexts, &req1.message, &mut rng)
            .unwrap(),
    );
    // The same response with the kid context stripped: no R2.
    let mut stripped = resp1.clone();
    let mut opt = OscoreOption::decode(stripped.option(option::OSCORE).unwrap()).unwrap();
    opt.kid_context = None;
    stripped.remove_option(option::OSCORE);
    stripped.add_option(option::OSCORE, opt.to_vec().unwrap());
    assert_eq!(
        run.handle_response1(&stripped, &get("b"), &mut rng)
            .unwrap_err(),
        Error::UnexpectedResponse
    );
    // Response #2 before response #1.
    assert_eq!(
        run.handle_response2(&resp1).unwrap_err(),
        Error::UnexpectedResponse
    );
    let req2 = run.handle_response1(&resp1, &get("b"), &mut rng).unwrap();

    // Two replays of request #1 fill the cache (max 2) and evict this run's R2.
    for _ in 0..2 {
        response1(
            server
                .unprotect_request(&mut contexts, &req1.message, &mut rng)
                .unwrap(),
        );
    }
    assert_eq!(server.pending(), 2);
    // Request #2 of the evicted run: no cached R2 prefix, so the server can only treat its
    // kid context as a new R1 and answers with another response #1; nothing is installed.
    let again = response1(
        server
            .unprotect_request(&mut contexts, &req2.message, &mut rng)
            .unwrap(),
    );
    assert_eq!(contexts.len(), 1);
    assert_eq!(contexts.get(0).unwrap().id_context(), None);
    assert_eq!(
        run.handle_response2(&again).unwrap_err(),
        Error::UnexpectedResponse,
        "a response #1 where response #2 is expected"
    );
    server.clear();
    assert_eq!(server.pending(), 0);
}
