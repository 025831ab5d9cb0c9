//! The TRL endpoint over real CoAP on 127.0.0.1 (feature `coap`): an `ace-coap` `Server` with
//! the `TrlEndpoint` mounted, `ace-coap` `Client`s as devices. Every wait is bounded.
//!
//! `ace-coap`'s `Client` cannot protect requests yet (no client-side security hook), so the
//! server uses a test security layer that authenticates a request by its loopback source
//! port, as a DTLS PSK identity would (`PeerIdentity::Other`); unknown ports stay anonymous.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ace_coap::{
    Client, Code, Config, Message, Observation, PeerIdentity, Router, SecurityLayer, Server,
};
use ace_token::UnixTime;
use revocation::coap::{TrlEndpoint, path_with_query};
use revocation::consts::{content_format, error_id};
use revocation::*;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

/// Authenticates by source address (test stand-in for DTLS PSK / OSCORE).
#[derive(Clone, Default)]
struct AddrAuth(Arc<Mutex<BTreeMap<SocketAddr, Vec<u8>>>>);

impl AddrAuth {
    fn allow(&self, addr: SocketAddr, id: &[u8]) {
        self.0.lock().unwrap().insert(addr, id.to_vec());
    }
}

impl SecurityLayer for AddrAuth {
    type Context = ();
    fn unprotect(
        &mut self,
        peer: SocketAddr,
        request: Message,
    ) -> Result<(Message, PeerIdentity, ()), Message> {
        let identity = match self.0.lock().unwrap().get(&peer) {
            Some(id) => PeerIdentity::Other {
                scheme: "test-addr".into(),
                id: id.clone(),
            },
            None => PeerIdentity::Anonymous,
        };
        Ok((request, identity, ()))
    }
    fn protect(
        &mut self,
        _: SocketAddr,
        response: Message,
        _: &mut (),
    ) -> Result<Message, Message> {
        Ok(response)
    }
}

struct As {
    trl: TrlEndpoint<MemoryTrlStore>,
    addr: SocketAddr,
    auth: AddrAuth,
}

async fn start_as(engine: TrlEngine, now: UnixTime) -> As {
    let auth = AddrAuth::default();
    let trl = TrlEndpoint::new(engine, MemoryTrlStore::new(), Arc::new(move || now));
    let router = trl.mount(Router::new());
    let server = Server::bind_with_security(
        "127.0.0.1:0".parse().unwrap(),
        Config::default(),
        router,
        auth.clone(),
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    trl.attach(server.handle());
    tokio::spawn(server.serve());
    As { trl, addr, auth }
}

async fn device(auth: &AddrAuth, id: Option<&[u8]>) -> Client {
    let (client, driver) = Client::bind("127.0.0.1:0".parse().unwrap(), Config::default())
        .await
        .unwrap();
    tokio::spawn(driver.run());
    if let Some(id) = id {
        auth.allow(client.local_addr().unwrap(), id);
    }
    client
}

async fn get(client: &Client, addr: SocketAddr, path: &str) -> Message {
    timeout(WAIT, client.get(addr, path))
        .await
        .expect("bounded wait")
        .expect("response")
}

async fn next(obs: &mut Observation) -> Message {
    let u = timeout(WAIT, obs.next())
        .await
        .expect("notification within the wait")
        .expect("stream open")
        .expect("no failure");
    assert!(u.sequence.is_some(), "still observing");
    u.response
}

fn content(m: &Message) -> TrlPayload {
    assert_eq!(m.code, Code::CONTENT, "{m:?}");
    assert_eq!(m.content_format(), Some(content_format::ACE_TRL_CBOR));
    TrlPayload::decode(&m.payload).unwrap()
}

fn h(i: u8) -> TokenHash {
    TokenHash::compute(HashAlg::Sha256, &[i])
}

#[tokio::test]
async fn full_diff_observe_over_coap() {
    let now = UnixTime(100);
    let engine = TrlEngine::new(TrlConfig::default()).unwrap();
    let as_ = start_as(engine, now).await;
    let info = as_
        .trl
        .register(b"rs1".to_vec(), Role::ResourceServer("rs1".into()), &[])
        .unwrap();
    // An administrator sees every revocation (so revoking rs2's token is a TRL update).
    as_.trl
        .register(b"admin".to_vec(), Role::Admin, &[])
        .unwrap();
    for i in 1..=3u8 {
        as_.trl
            .token_issued(TokenRecord {
                hash: h(i),
                cti: Some(vec![i]),
                client_id: "c1".into(),
                audience: if i == 3 { "rs2" } else { "rs1" }.into(),
                expires_at: Some(UnixTime(10_000)),
            })
            .unwrap();
    }
    let path = as_.trl.path().to_owned();
    assert_eq!(path, "/revoke/trl");
    let rs1 = device(&as_.auth, Some(b"rs1")).await;
    let anon = device(&as_.auth, None).await;
    let stranger = device(&as_.auth, Some(b"nobody")).await;

    // Access control: plain CoAP is anonymous → 4.01; unregistered → 4.03.
    assert_eq!(get(&anon, as_.addr, &path).await.code, Code::UNAUTHORIZED);
    assert_eq!(get(&stranger, as_.addr, &path).await.code, Code::FORBIDDEN);

    let status = as_
        .trl
        .revoke(now, &RevokeTarget::Cti(vec![1]), "lost device")
        .await
        .unwrap();
    assert_eq!(status, RevokeStatus::Revoked);
    assert_eq!(as_.trl.with_store(|s| s.log.len()), 1, "persisted");

    // Full query.
    let p = content(&get(&rs1, as_.addr, &path).await);
    assert_eq!(p.full_set, Some(vec![h(1)]));
    assert_eq!(p.cursor, Some(Some(0)));
    // Diff query.
    let diff = TrlQuery::diff(2);
    let p = content(&get(&rs1, as_.addr, &path_with_query(&path, &diff)).await);
    let entries = p.diff_set.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].removed.len(), &entries[0].added),
        (0, &vec![h(1)])
    );
    assert_eq!((p.cursor, p.more), (Some(Some(0)), Some(false)));
    // Errors: problem details, Content-Format 257.
    let bad = get(&rs1, as_.addr, &format!("{path}?cursor=0")).await;
    assert_eq!(bad.code, Code::BAD_REQUEST);
    assert_eq!(
        bad.content_format(),
        Some(content_format::CONCISE_PROBLEM_DETAILS_CBOR)
    );
    let pd = ProblemDetails::decode(&bad.payload).unwrap();
    assert_eq!(pd.error_id, error_id::INVALID_SET_OF_PARAMETERS);
    // Non-GET.
    let post = timeout(WAIT, rs1.post(as_.addr, &path, vec![], None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(post.code, Code::METHOD_NOT_ALLOWED);

    // Observe a full query and a diff+cursor query, each followed by a TrlClient.
    let full = TrlQuery::full();
    let mut obs_full = timeout(WAIT, rs1.observe(as_.addr, &path))
        .await
        .unwrap()
        .unwrap();
    let mut follower = TrlClient::new(info.clone(), 0);
    let u = follower
        .process(&full, &next(&mut obs_full).await.payload)
        .unwrap();
    assert_eq!(u.revoked, vec![h(1)]);
    let cq = TrlQuery::diff_cursor(0, 0);
    let mut obs_diff = timeout(WAIT, rs1.observe(as_.addr, &path_with_query(&path, &cq)))
        .await
        .unwrap()
        .unwrap();
    let first = content(&next(&mut obs_diff).await);
    assert_eq!(first.diff_set, Some(vec![]), "nothing after index 0 yet");

    // Revoke a token of rs1 → both observations are notified.
    as_.trl
        .revoke(now, &RevokeTarget::Cti(vec![2]), "stolen")
        .await
        .unwrap();
    let u = follower
        .process(&full, &next(&mut obs_full).await.payload)
        .unwrap();
    assert_eq!(u.revoked, vec![h(2)]);
    assert_eq!(follower.view().len(), 2);
    let p = content(&next(&mut obs_diff).await);
    assert_eq!(p.diff_set.unwrap()[0].added, vec![h(2)]);
    assert_eq!(p.cursor, Some(Some(1)));

    // A token of rs2 changes nothing rs1 can see: rs1's observations get no notification
    // at all (C.4 item 5: not even an unchanged representation), the administrator's does.
    let admin = device(&as_.auth, Some(b"admin")).await;
    let mut obs_admin = timeout(WAIT, admin.observe(as_.addr, &path))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        content(&next(&mut obs_admin).await).full_set.unwrap().len(),
        2
    );
    let re_run = as_
        .trl
        .notify_peers(vec![b"nobody-observing".to_vec()])
        .await;
    assert_eq!(re_run, 0, "no observer was due: ace-coap sent nothing");
    as_.trl
        .revoke(now, &RevokeTarget::Cti(vec![3]), "other rs")
        .await
        .unwrap();
    let p = content(&next(&mut obs_admin).await);
    assert_eq!(p.full_set.unwrap().len(), 3);
    for obs in [&mut obs_full, &mut obs_diff] {
        assert!(
            timeout(Duration::from_millis(300), obs.next())
                .await
                .is_err(),
            "no notification for rs1"
        );
    }
    assert_eq!(follower.view().len(), 2);
    assert_eq!(as_.trl.with_engine(TrlEngine::trl_len), 3);
    // Revoking again changes nothing (no notification); a whole-endpoint notify still
    // reaches every observer, rs1 with its unchanged view.
    let again = as_
        .trl
        .revoke(now, &RevokeTarget::Cti(vec![2]), "again")
        .await
        .unwrap();
    assert_eq!(again, RevokeStatus::AlreadyRevoked);
    assert_eq!(
        as_.trl.notify().await,
        3,
        "a whole-endpoint notify reaches everyone"
    );
    let u = follower
        .process(&full, &next(&mut obs_full).await.payload)
        .unwrap();
    assert!(u.revoked.is_empty(), "unchanged for rs1");
    timeout(WAIT, obs_full.cancel()).await.unwrap().unwrap();
}

#[tokio::test]
async fn expiry_sweep_during_a_request_notifies_observers() {
    // The clock jumps past the expiry: the first request after it sweeps the TRL (a TRL
    // update) and the other observers learn it through a notification.
    let clock = Arc::new(std::sync::atomic::AtomicU64::new(100));
    let auth = AddrAuth::default();
    let c2 = Arc::clone(&clock);
    let trl = TrlEndpoint::new(
        TrlEngine::new(TrlConfig::default()).unwrap(),
        MemoryTrlStore::new(),
        Arc::new(move || UnixTime(c2.load(std::sync::atomic::Ordering::SeqCst))),
    );
    let server = Server::bind_with_security(
        "127.0.0.1:0".parse().unwrap(),
        Config::default(),
        trl.mount(Router::new()),
        auth.clone(),
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    trl.attach(server.handle());
    tokio::spawn(server.serve());
    trl.register(b"rs1".to_vec(), Role::ResourceServer("rs1".into()), &[])
        .unwrap();
    trl.register(b"admin".to_vec(), Role::Admin, &[]).unwrap();
    trl.token_issued(TokenRecord {
        hash: h(9),
        cti: None,
        client_id: "c".into(),
        audience: "rs1".into(),
        expires_at: Some(UnixTime(200)),
    })
    .unwrap();
    trl.revoke(UnixTime(100), &RevokeTarget::Hash(h(9)), "r")
        .await
        .unwrap();
    let rs1 = device(&auth, Some(b"rs1")).await;
    let admin = device(&auth, Some(b"admin")).await;
    let path = trl.path().to_owned();
    let mut obs = timeout(WAIT, rs1.observe(addr, &path))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(content(&next(&mut obs).await).full_set, Some(vec![h(9)]));

    clock.store(300, std::sync::atomic::Ordering::SeqCst);
    let p = content(&get(&admin, addr, &path).await);
    assert_eq!(p.full_set, Some(vec![]));
    assert_eq!(content(&next(&mut obs).await).full_set, Some(vec![]));
    assert!(
        trl.with_store(|s| s.load().unwrap().tokens.is_empty()),
        "persisted"
    );
}

#[tokio::test]
async fn rs_purges_revoked_token_within_one_notification() {
    use ace_core::testing::{Harness, example_deployment};
    use ace_core::{
        Access, ChannelIdentity, ClientConfig, ClientEngine, RsConfig, RsEngine, ScopeMap,
    };
    use ace_token::{KeySet, Scope, SecretBytes, TokenKey};
    use aif::{LocalPart, Method, RestAif, RestMethods};
    use rand::SeedableRng;
    use revocation::rs::{GuardRefusal, PurgingTokenStore, RevokedTokenGuard};

    // ace-core engines: AS issues a token for rs1, the RS (purging store) accepts it.
    let now = UnixTime(1_700_000_000);
    let (as_engine, _) = example_deployment(now).unwrap();
    let mut cfg = RsConfig::new("rs1", "coaps://as.example/token");
    cfg.issuers = vec!["as".into()];
    cfg.scope_map = ScopeMap::new().with_text(
        "read",
        RestAif::new().with(LocalPart::new("/s").unwrap(), RestMethods::GET),
    );
    let keys = KeySet::new().with(TokenKey::symmetric(vec![0x42; 16]).with_kid(*b"rs1"));
    let (store, purge) = PurgingTokenStore::new();
    let rs = RsEngine::new(
        cfg,
        Box::new(keys),
        ace_core::testing::backend(),
        Box::new(store),
    );
    let mut h = Harness::new(now, as_engine, rs, rand::rngs::StdRng::seed_from_u64(7));
    let mut c = ClientConfig::new("client");
    c.client_secret = Some(SecretBytes::from_slice(b"secret"));
    let info = h
        .client_flow(
            &ClientEngine::new(c),
            &ChannelIdentity::Anonymous,
            "/s",
            Method::Get,
            Some(Scope::Text("read".into())),
        )
        .unwrap();
    let client_channel = info.channel_identity().unwrap();
    assert_eq!(h.request(&client_channel, "/s", Method::Get), Access::Allow);
    let mut guard = RevokedTokenGuard::new(HashAlg::Sha256, purge);
    let th = guard.check_upload(&info.token).unwrap();
    guard.record_effects(&th, &h.rs_effects);

    // The AS's TRL endpoint over CoAP; it records what the AS engine issued.
    let as_ = start_as(TrlEngine::new(TrlConfig::default()).unwrap(), now).await;
    let reg = as_
        .trl
        .register(b"rs1-psk".to_vec(), Role::ResourceServer("rs1".into()), &[])
        .unwrap();
    let mut cti = None;
    for eff in &h.as_effects {
        if let ace_core::AsEffect::TokenIssued(t) = eff {
            let rec = TokenRecord::from_issued(HashAlg::Sha256, t);
            assert_eq!(rec.hash, th, "AS and RS compute the same token hash");
            cti = Some(t.cti.clone());
            as_.trl.token_issued(rec).unwrap();
        }
    }

    // The RS observes its part of the TRL (diff query + cursor, as RFC 9770 suggests).
    let rs_dev = device(&as_.auth, Some(b"rs1-psk")).await;
    let path = as_.trl.path().to_owned();
    let mut follower = TrlClient::new(reg, 0);
    let q = follower.poll_query();
    assert_eq!(q, TrlQuery::full());
    let u = follower
        .process(&q, &get(&rs_dev, as_.addr, &path).await.payload)
        .unwrap();
    assert!(u.revoked.is_empty());
    let oq = TrlQuery::diff(1);
    let mut obs = timeout(WAIT, rs_dev.observe(as_.addr, &path_with_query(&path, &oq)))
        .await
        .unwrap()
        .unwrap();
    let first = next(&mut obs).await;
    let _ = follower.process(&oq, &first.payload).unwrap();

    // AS revokes; exactly one notification later the RS refuses the client.
    as_.trl
        .revoke(now, &RevokeTarget::Cti(cti.unwrap()), "compromised client")
        .await
        .unwrap();
    let note = next(&mut obs).await;
    let update = follower.process(&oq, &note.payload).unwrap();
    assert_eq!(update.revoked, vec![th.clone()]);
    assert_eq!(guard.apply(&update).len(), 1, "one binding purged");
    assert!(matches!(
        h.request(&client_channel, "/s", Method::Get),
        Access::Unauthorized(_)
    ));
    assert_eq!(guard.check_upload(&info.token), Err(GuardRefusal::Revoked));
}
