//! Replay across a restart of the RS (RFC 9203 contexts persisted in SQLite, RFC 8613
//! Appendix B.1.2): a request recorded before a kill -9 must not be accepted again by the
//! restored context, whose replay window was lost. The restored context asks for Echo; only
//! a fresh request that echoes the challenge gets through, and the token bound to the
//! context is still checked (expiry) on every request after the restart.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ace_coap::SecurityLayer as _;
use ace_core::{
    Access, AccessInfo, ChannelIdentity, ClientConfig, ClientEngine, CreationHints,
    MemoryTokenStore, Scope,
};
use ace_oscore::coap::{OscoreLayer, SharedOscoreLayer, from_coap, to_coap};
use ace_oscore::consts::option;
use ace_oscore::profile::OscoreProfile;
use ace_oscore::{ContextSet, Message, OscoreOption, SecurityContext};
use ace_server::local::{self, CLIENT_RECIPIENT_ID, CLIENT_SENDER_ID};
use ace_server::{ManualClock, RsOscore, RsService, StoreSink};
use ace_store::SqliteStore;
use ace_token::crypto::os_rng;
use ace_token::{RustCrypto, UnixTime};

const RS_KEY: [u8; 16] = [7; 16];
const LIFETIME: u64 = 600;

fn peer() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40_000))
}

fn db_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ace-server-replay-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rs.sqlite");
    let _ = std::fs::remove_file(&path);
    path
}

/// One RS process over the SQLite file at `path`, as `ace rs serve` builds it.
struct Rs {
    service: RsService,
    layer: SharedOscoreLayer<RustCrypto>,
    restored: usize,
}

fn start_rs(path: &Path, clock: &Arc<ManualClock>) -> Rs {
    let db = Arc::new(SqliteStore::open(path).unwrap());
    let engine = local::rs_engine_oscore(
        &RS_KEY,
        "coap://127.0.0.1/token",
        Box::new(db.accepted_tokens().unwrap()),
    );
    let layer = SharedOscoreLayer::new(
        OscoreLayer::new(ContextSet::new(), db.sequence_store()).allow_unprotected(true),
    );
    let oscore = RsOscore::new(layer.clone()).with_persistence(db.clone());
    let seq = db.sequence_store();
    let restored = oscore
        .restore(ace_server::Clock::now(clock.as_ref()), |p| {
            seq.get_context(&p.sender_id, &p.recipient_id, p.id_context.as_deref())
                .map_err(|e| ace_server::Error::Tls(e.to_string()))
        })
        .unwrap();
    let service = RsService::new(engine)
        .with_clock(clock.clone())
        .with_sink(Arc::new(StoreSink(db)))
        .with_oscore_profile(Arc::new(oscore));
    Rs {
        service,
        layer,
        restored,
    }
}

/// A token with OSCORE Input Material from the AS engine of the deployment.
fn token(now: UnixTime) -> AccessInfo {
    let mut rng = os_rng();
    let mut as_engine = local::as_engine_oscore(
        &RS_KEY,
        b"client-secret",
        LIFETIME,
        "temp:r",
        Box::new(MemoryTokenStore::new()),
    );
    let mut cfg = ClientConfig::new(local::CLIENT_ID);
    cfg.profiles = vec![ace_core::AceProfile(ace_oscore::profile::COAP_OSCORE)];
    let hints = CreationHints {
        as_uri: Some("coap://127.0.0.1/token".into()),
        audience: Some(local::AUDIENCE.into()),
        ..CreationHints::default()
    };
    let step = ClientEngine::new(cfg)
        .request_token(&hints, Some(Scope::Text("temp:r".into())))
        .unwrap();
    let out = as_engine
        .handle_token_bytes(
            now,
            &ChannelIdentity::PskIdentity(CLIENT_SENDER_ID.to_vec()),
            &step.payload().unwrap(),
            &mut rng,
        )
        .unwrap();
    step.handle_response(now, out.response.code(), &out.response.payload().unwrap())
        .unwrap()
}

/// The client's context with the RS after a POST to /authz-info.
fn upload(rs: &Rs, info: &AccessInfo) -> SecurityContext<RustCrypto> {
    let (cf, payload, state) = OscoreProfile::new()
        .client_authz_info(info, CLIENT_RECIPIENT_ID, &mut os_rng())
        .unwrap();
    let answer = rs
        .service
        .oscore_authz_info(&ace_coap::PeerIdentity::Anonymous, Some(cf.0), &payload)
        .unwrap();
    assert_eq!(answer.code, ace_core::consts::code::CREATED);
    let params = state.handle_response(answer.code, &answer.payload).unwrap();
    SecurityContext::new(RustCrypto, params).unwrap()
}

fn get_temp() -> Message {
    Message::new(0x01).with_option(option::URI_PATH, b"temp".to_vec())
}

/// The layer's answer to `request`: the inner request and the peer, or the error response.
fn deliver(
    rs: &mut Rs,
    request: ace_coap::Message,
) -> Result<(ace_coap::Message, ace_coap::PeerIdentity), ace_coap::Message> {
    rs.layer.unprotect(peer(), request).map(|(m, p, _)| (m, p))
}

#[test]
fn recorded_request_is_refused_after_restart_and_fresh_one_needs_echo() {
    let path = db_path("echo");
    let clock = Arc::new(ManualClock::new(UnixTime::now()));
    let info = token(ace_server::Clock::now(clock.as_ref()));

    let mut rs = start_rs(&path, &clock);
    assert_eq!(rs.restored, 0);
    let mut client = upload(&rs, &info);
    // Two requests accepted before the crash; the attacker records both.
    let mut recorded = Vec::new();
    for _ in 0..2 {
        let sent = client.protect_request(&get_temp()).unwrap();
        let wire = to_coap(sent.message);
        recorded.push(wire.clone());
        let (_, who) = deliver(&mut rs, wire).expect("accepted before the restart");
        assert_eq!(
            rs.service
                .authorize(&who, "/temp", aif::Method::Get)
                .unwrap(),
            Access::Allow
        );
    }
    // Replays within the run are refused by the window.
    assert!(deliver(&mut rs, recorded[0].clone()).is_err());

    // kill -9: no shutdown, only what is in the file survives.
    drop(rs);
    let mut rs = start_rs(&path, &clock);
    assert_eq!(rs.restored, 1, "the context comes back from SQLite");

    // Each recorded request, replayed: refused with 4.01 + Echo, never handed to the app.
    let mut server_pivs = Vec::new();
    for wire in &recorded {
        let answer = match deliver(&mut rs, wire.clone()) {
            Ok(_) => panic!("a request recorded before the restart was accepted after it"),
            Err(m) => m,
        };
        let outer = from_coap(&answer);
        let opt = OscoreOption::decode(outer.option(option::OSCORE).unwrap()).unwrap();
        // The challenge is protected under the RS's own fresh Partial IV (never the
        // request's nonce, which the original response already used).
        server_pivs.push(
            opt.partial_iv_u64()
                .expect("own Partial IV on the Echo answer"),
        );
    }
    server_pivs.dedup();
    assert_eq!(server_pivs.len(), recorded.len(), "Partial IV reused");

    // The legitimate client: its next request gets the challenge, the echoed one gets in.
    let sent = client.protect_request(&get_temp()).unwrap();
    let answer = deliver(&mut rs, to_coap(sent.message)).expect_err("Echo first");
    let mut binding = sent.binding;
    let inner = client
        .unprotect_response(&mut binding, &from_coap(&answer))
        .unwrap();
    assert_eq!(inner.code, 0x81, "4.01");
    let echo = inner.option(option::ECHO).unwrap().to_vec();
    let sent = client
        .protect_request(&get_temp().with_option(option::ECHO, echo))
        .unwrap();
    let echoed = to_coap(sent.message);
    let (_, who) = deliver(&mut rs, echoed.clone()).expect("fresh request with Echo");
    assert_eq!(
        rs.service
            .authorize(&who, "/temp", aif::Method::Get)
            .unwrap(),
        Access::Allow
    );
    // And that one cannot be replayed either (the window is live again).
    assert!(deliver(&mut rs, echoed).is_err());
}

#[test]
fn restart_twice_without_traffic_still_refuses_old_requests() {
    // A context that only ever answered (no sequence number of its own reserved) and was
    // restarted twice: the second restore must not come back as a "new" context.
    let path = db_path("twice");
    let clock = Arc::new(ManualClock::new(UnixTime::now()));
    let info = token(ace_server::Clock::now(clock.as_ref()));
    let mut rs = start_rs(&path, &clock);
    let mut client = upload(&rs, &info);
    let sent = client.protect_request(&get_temp()).unwrap();
    let wire = to_coap(sent.message);
    deliver(&mut rs, wire.clone()).expect("accepted before the restart");
    drop(rs);
    // Each run: the replay is refused with an Echo challenge under the RS's own Partial IV,
    // and no two runs use the same one (it would reuse an AEAD nonce under the same key).
    let mut pivs = std::collections::BTreeSet::new();
    for run in 0..3 {
        let mut rs = start_rs(&path, &clock);
        assert_eq!(rs.restored, 1);
        let answer = match deliver(&mut rs, wire.clone()) {
            Ok(_) => panic!("run {run}: replay accepted"),
            Err(m) => m,
        };
        let outer = from_coap(&answer);
        let opt = OscoreOption::decode(outer.option(option::OSCORE).unwrap()).unwrap();
        let piv = opt.partial_iv_u64().expect("own Partial IV");
        assert!(
            pivs.insert(piv),
            "run {run}: Partial IV {piv} reused after a restart"
        );
    }
}

#[test]
fn restored_context_does_not_outlive_its_token() {
    let path = db_path("expiry");
    let clock = Arc::new(ManualClock::new(UnixTime::now()));
    let info = token(ace_server::Clock::now(clock.as_ref()));
    let rs = start_rs(&path, &clock);
    let mut client = upload(&rs, &info);
    drop(rs);
    // Restarted while the token is valid: the context is back ...
    let mut rs = start_rs(&path, &clock);
    assert_eq!(rs.restored, 1);
    // ... and after its token expired every request is refused, although the context is
    // still installed (authorize checks the token on each request).
    let sent = client.protect_request(&get_temp()).unwrap();
    let answer = deliver(&mut rs, to_coap(sent.message)).expect_err("Echo first");
    let mut binding = sent.binding;
    let inner = client
        .unprotect_response(&mut binding, &from_coap(&answer))
        .unwrap();
    let echo = inner.option(option::ECHO).unwrap().to_vec();
    clock.advance(LIFETIME + 1);
    let sent = client
        .protect_request(&get_temp().with_option(option::ECHO, echo))
        .unwrap();
    if let Ok((_, who)) = deliver(&mut rs, to_coap(sent.message)) {
        assert_ne!(
            rs.service
                .authorize(&who, "/temp", aif::Method::Get)
                .unwrap(),
            Access::Allow
        );
    }
    drop(rs);
    // Restarted after the expiry: the context is not restored at all.
    let rs = start_rs(&path, &clock);
    assert_eq!(rs.restored, 0);
    assert_eq!(rs.service.oscore_profile().unwrap().channel_count(), 0);
}
