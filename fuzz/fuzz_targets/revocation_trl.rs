//! Fuzz target: the two untrusted inputs of RFC 9770's TRL endpoint.
//!
//! * Device side: arbitrary bytes as a TRL response payload, decoded and fed to
//!   `TrlClient::process` (fresh and synchronised clients, with and without the "Cursor"
//!   extension, for full, diff and diff+cursor queries); also decoded as problem details.
//!   Whatever decodes must re-encode and re-decode to the same value.
//! * AS side: arbitrary bytes as a URI query string and as Uri-Query option values, sent
//!   by an anonymous, an unregistered or a registered requester (any method) to a fixed
//!   `TrlEngine` (three registered peers, a few revoked tokens, a small MAX_INDEX that has
//!   wrapped). Every response has the code of its variant, decodes again, and a success
//!   response is accepted by the requester's `TrlClient`.

#![no_main]

use std::sync::OnceLock;

use ace_token::UnixTime;
use libfuzzer_sys::fuzz_target;
use revocation::consts::{code, error_id};
use revocation::{
    HashAlg, NextQuery, ProblemDetails, RegistrationInfo, Requester, RevokeTarget, Role, TokenHash,
    TokenRecord, TrlClient, TrlConfig, TrlEngine, TrlPayload, TrlQuery, TrlRequest, TrlResponse,
};

const NOW: UnixTime = UnixTime(500);
const PEERS: [&[u8]; 3] = [b"rs1", b"c1", b"admin"];

/// The fixed AS state and the registration each peer received.
struct Fixture {
    engines: Vec<TrlEngine>,
    infos: Vec<Vec<RegistrationInfo>>,
}

fn build(config: TrlConfig, revocations: u8) -> (TrlEngine, Vec<RegistrationInfo>) {
    let mut e = TrlEngine::new(config).expect("valid config");
    let roles = [
        Role::ResourceServer("rs1".into()),
        Role::Client("c1".into()),
        Role::Admin,
    ];
    let mut infos = Vec::new();
    for (peer, role) in PEERS.iter().zip(roles) {
        let (info, _) = e.register(peer.to_vec(), role, &[]).expect("sha-256");
        infos.push(info);
    }
    for i in 0..revocations {
        let _ = e.token_issued(TokenRecord {
            hash: TokenHash::compute(HashAlg::Sha256, &[i]),
            cti: Some(vec![i]),
            client_id: if i % 2 == 0 { "c1" } else { "c2" }.into(),
            audience: if i % 3 == 0 { "rs2" } else { "rs1" }.into(),
            // All expire after NOW: the sweep in handle_request has nothing to do.
            expires_at: Some(UnixTime(1000 + u64::from(i))),
        });
        e.revoke(
            UnixTime(10 + u64::from(i)),
            &RevokeTarget::Cti(vec![i]),
            "fuzz",
        )
        .expect("known token");
    }
    (e, infos)
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let (a, ia) = build(TrlConfig::default(), 7);
        let small = TrlConfig {
            max_n: 3,
            max_diff_batch: 2,
            max_index: 3,
            ..TrlConfig::default()
        };
        let (b, ib) = build(small, 9);
        let plain = TrlConfig {
            cursor: false,
            ..TrlConfig::default()
        };
        let (c, ic) = build(plain, 4);
        Fixture {
            engines: vec![a, b, c],
            infos: vec![ia, ib, ic],
        }
    })
}

/// Decoded payloads re-encode, and the re-encoding decodes to the same value.
fn check_payload_codecs(data: &[u8]) {
    if let Ok(p) = TrlPayload::decode(data) {
        assert!(p.full_set.is_some() != p.diff_set.is_some());
        let bytes = p.encode();
        assert_eq!(TrlPayload::decode(&bytes).as_ref(), Ok(&p));
    }
    if let Ok(p) = ProblemDetails::decode(data) {
        let bytes = p.encode();
        assert_eq!(ProblemDetails::decode(&bytes).as_ref(), Ok(&p));
    }
    if let Ok(r) = RegistrationInfo::decode(data) {
        assert_eq!(RegistrationInfo::decode(&r.encode()).as_ref(), Ok(&r));
    }
}

/// Feeds `data` to clients in several states, as a response to several queries.
fn check_client(data: &[u8]) {
    let decoded = TrlPayload::decode(data).ok();
    let fx = fixture();
    let queries = [
        TrlQuery::full(),
        TrlQuery::diff(0),
        TrlQuery::diff(3),
        TrlQuery::diff_cursor(0, 1),
    ];
    for (engine, infos) in fx.engines.iter().zip(&fx.infos) {
        let Some(info) = infos.first() else { continue };
        // A fresh client, and one synchronised by a real full response first.
        let fresh = TrlClient::new(info.clone(), 0);
        let mut synced = TrlClient::new(info.clone(), 2);
        let full = engine.respond(
            Requester::Peer(PEERS[0]),
            &TrlRequest::get(TrlQuery::full()),
        );
        synced
            .process(&TrlQuery::full(), &full.payload())
            .expect("the engine's full response is accepted");
        for base in [fresh, synced] {
            for q in &queries {
                let mut client = base.clone();
                let before = client.view().clone();
                let result = client.process(q, data);
                assert_eq!(result.is_ok(), decoded.is_some(), "decodable ⇔ processed");
                let Ok(update) = result else {
                    assert_eq!(client.view(), &before, "a refused payload changes nothing");
                    continue;
                };
                let p = decoded.as_ref().expect("decoded");
                if let Some(full) = &p.full_set {
                    let set: std::collections::BTreeSet<_> = full.iter().cloned().collect();
                    assert_eq!(client.view(), &set);
                    assert_eq!(update.next, NextQuery::None);
                } else {
                    for h in update.revoked.iter().chain(&update.expired) {
                        assert!(update.mentioned.contains(h));
                    }
                }
                if update.next == NextQuery::Full {
                    assert_eq!(client.poll_query(), TrlQuery::full());
                }
            }
        }
    }
}

/// Sends a fuzzed query to the fixed engines and checks the response.
fn check_engine(selector: u8, method: u8, query: &str, options: &[&str]) {
    let fx = fixture();
    let parsed = [
        TrlQuery::from_query_string(query),
        TrlQuery::from_uri_queries(options.iter().copied()),
    ];
    for (engine, infos) in fx.engines.iter().zip(&fx.infos) {
        for q in &parsed {
            let mut e = engine.clone();
            let (requester, info) = match selector % 5 {
                0 => (Requester::Anonymous, None),
                1 => (Requester::Peer(b"stranger"), None),
                i => {
                    let i = usize::from(i - 2);
                    (Requester::Peer(PEERS[i]), infos.get(i))
                }
            };
            let request = TrlRequest {
                method: if selector & 0x80 == 0 {
                    code::GET
                } else {
                    method
                },
                query: q.clone(),
            };
            let out = e.handle_request(NOW, requester, &request);
            assert!(out.effects.is_empty(), "nothing expires at NOW: no effect");
            let response = out.response;
            let payload = response.payload();
            match (&response, requester, info) {
                (TrlResponse::Unauthorized, Requester::Anonymous, _) => {
                    assert!(payload.is_empty());
                    assert_eq!(response.code(), code::UNAUTHORIZED);
                }
                (TrlResponse::Forbidden, Requester::Peer(_), None) => {
                    assert!(payload.is_empty());
                    assert_eq!(response.code(), code::FORBIDDEN);
                }
                (TrlResponse::MethodNotAllowed, Requester::Peer(_), Some(_)) => {
                    assert_ne!(request.method, code::GET);
                    assert_eq!(response.code(), code::METHOD_NOT_ALLOWED);
                }
                (TrlResponse::BadRequest(p), Requester::Peer(_), Some(_)) => {
                    assert_eq!(request.method, code::GET);
                    assert_eq!(response.code(), code::BAD_REQUEST);
                    assert!(matches!(
                        p.error_id,
                        error_id::INVALID_PARAMETER_VALUE
                            | error_id::INVALID_SET_OF_PARAMETERS
                            | error_id::OUT_OF_BOUND_CURSOR_VALUE
                    ));
                    assert_eq!(ProblemDetails::decode(&payload).as_ref(), Ok(p));
                }
                (TrlResponse::Content(p), Requester::Peer(_), Some(info)) => {
                    assert_eq!(request.method, code::GET);
                    assert_eq!(response.code(), code::CONTENT);
                    assert_eq!(TrlPayload::decode(&payload).as_ref(), Ok(p));
                    let cfg = e.config();
                    if let Some(d) = &p.diff_set {
                        assert!(d.len() <= cfg.max_n);
                        if cfg.cursor {
                            assert!(d.len() <= cfg.max_diff_batch);
                        }
                    }
                    if let Some(Some(c)) = p.cursor {
                        assert!(c <= cfg.max_index);
                    }
                    // The requester's own client accepts what the AS sent.
                    let mut client = TrlClient::new(info.clone(), 0);
                    client
                        .process(q, &payload)
                        .expect("a success response is processed");
                }
                (r, who, info) => panic!("{r:?} for {who:?} (registered: {})", info.is_some()),
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check_payload_codecs(data);
    check_client(data);
    let (selector, method, rest) = match data {
        [s, m, rest @ ..] => (*s, *m, rest),
        _ => (2, code::GET, data),
    };
    let text = String::from_utf8_lossy(rest);
    let options: Vec<&str> = text.split('\u{1}').collect();
    check_engine(selector, method, &text, &options);
});
