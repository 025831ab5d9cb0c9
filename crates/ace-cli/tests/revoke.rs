//! RFC 9770 token revocation with the real `ace` binary: `ace as serve` hosts the TRL over
//! OSCORE with Observe, `ace as revoke` revokes (queued for the running AS, or written to
//! its database while it is down), and an RS observing the TRL over its own OSCORE context
//! (`revocation`'s `TrlClient` + `RevokedTokenGuard` in front of an `ace-core` `RsEngine`)
//! refuses the token after one notification. Loopback only; every wait is bounded.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ace_coap::Code;
use ace_core::{Access, ChannelIdentity, PopBinding, RsConfig, RsEffect, RsEngine};
use ace_oscore::coap::{ObserveEvent, OscoreClient, OscoreObserver};
use ace_oscore::profile::OscoreProfile;
use ace_oscore::{ContextParams, MemorySequenceStore, SecurityContext};
use ace_server::revocation::coap::request_message;
use ace_server::revocation::rs::{GuardRefusal, PurgingTokenStore, RevokedTokenGuard};
use ace_server::revocation::{
    HashAlg, RegistrationInfo, TokenHash, TrlClient, TrlPayload, TrlQuery,
};
use ace_token::{KeySet, RustCrypto, TokenKey, UnixTime};
use base64::Engine as _;
use tokio::net::UdpSocket;

const ACE: &str = env!("CARGO_BIN_EXE_ace");
const WAIT: Duration = Duration::from_secs(10);
const TRL: &str = "/revoke/trl";

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ace-revoke-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `ace` with a bounded wait.
fn ace(args: &[&str]) -> Output {
    let mut child = Command::new(ACE)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "ace {args:?} did not finish in 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `ace as serve` (logs at `info` appended to `as.log` next to the configuration),
/// waits for its "listening" line and keeps draining its stdout.
fn spawn_as(cfg: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(cfg.with_file_name("as.log"))
        .unwrap();
    let mut child = Command::new(ACE)
        .args(["as", "serve", "-c", cfg.to_str().unwrap(), "--log", "info"])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(line.contains("listening"), "{line}");
    child
}

fn kill_9(mut child: Child) {
    child.kill().unwrap(); // SIGKILL on Unix
    let _ = child.wait();
}

/// The `k` of a symmetric COSE_Key file.
fn symmetric(path: &Path) -> Vec<u8> {
    use coset::CborSerializable as _;
    let key = coset::CoseKey::from_slice(&std::fs::read(path).unwrap()).unwrap();
    key.params
        .iter()
        .find(|(l, _)| *l == coset::Label::Int(-1))
        .and_then(|(_, v)| v.as_bytes().cloned())
        .unwrap()
}

struct Setup {
    dir: PathBuf,
    cfg: PathBuf,
    as_addr: SocketAddr,
}

/// Starts `ace rs serve`, waits for its "listening" line; its log lines (stderr) arrive on
/// the returned channel.
fn spawn_rs(cfg: &Path) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(ACE)
        .args(["rs", "serve", "-c", cfg.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let (etx, erx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = etx.send(line);
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(line.contains("listening"), "{line}");
    (child, erx)
}

impl Setup {
    /// Keys and one file with `[as]` (client "client1" over OSCORE "c1", RS "rs1" whose
    /// own OSCORE context with the AS is "rs1") and `[client]`.
    fn new(name: &str, lifetime: u64) -> Self {
        let dir = tempdir(name);
        for (kind, file) in [
            ("p256", "as.cose"),
            ("symmetric", "c-as.key"),
            ("symmetric", "rs-as.key"),
            ("symmetric", "rs-token.key"),
        ] {
            let p = dir.join(file);
            let o = ace(&[
                "keys",
                "generate",
                "--kind",
                kind,
                "-o",
                p.to_str().unwrap(),
            ]);
            assert!(o.status.success(), "{}", text(&o));
        }
        let (pa, pr) = (free_udp_port(), free_udp_port());
        let cfg = dir.join("ace.toml");
        std::fs::write(
            &cfg,
            format!(
                r#"[as]
issuer = "as"
coap = "127.0.0.1:{pa}"
signing_key = "as.cose"
token_lifetime = {lifetime}

[as.trl]
poll_ms = 50

[[as.clients]]
id = "client1"
scope = "temp:r"
audience = "rs1"
oscore_sender_id = "c1"
oscore_secret_file = "c-as.key"

[[as.resource_servers]]
audience = "rs1"
token_key = "rs-token.key"
oscore_sender_id = "rs1"
oscore_secret_file = "rs-as.key"

[rs]
audience = "rs1"
coap = "127.0.0.1:{pr}"
as_uri = "coap://127.0.0.1:{pa}/token"
issuer = "as"
token_key = "rs-token.key"

[rs.trl]
as_coap = "127.0.0.1:{pa}"
oscore_sender_id = "rs1"
oscore_secret_file = "rs-as.key"
poll_secs = 30

[client]
id = "client1"
as_coap = "127.0.0.1:{pa}"
rs_coap = "127.0.0.1:{pr}"
audience = "rs1"
oscore_sender_id = "c1"
as_oscore_secret_file = "c-as.key"
token_file = "client1.cwt"

[storage]
path = "state.sqlite"
"#
            ),
        )
        .unwrap();
        Self {
            dir,
            cfg,
            as_addr: SocketAddr::from(([127, 0, 0, 1], pa)),
        }
    }

    fn c(&self) -> &str {
        self.cfg.to_str().unwrap()
    }

    /// `ace token request` (no upload): the `access_token` bytes.
    fn request_token(&self) -> Vec<u8> {
        let o = ace(&["token", "request", "-c", self.c(), "--scope", "temp:r"]);
        assert!(o.status.success(), "{}", text(&o));
        std::fs::read(self.dir.join("client1.cwt")).unwrap()
    }

    /// The `cti` the AS recorded for `token`.
    fn cti_of(&self, token: &[u8]) -> Vec<u8> {
        let db = ace_store::SqliteStore::open(&self.dir.join("state-as.sqlite")).unwrap();
        db.issued_tokens()
            .unwrap()
            .into_iter()
            .find(|t| t.token == token)
            .unwrap()
            .cti
    }

    fn revoke(&self, how: &[&str], reason: &str) -> Output {
        let mut args = vec!["as", "revoke", "-c", self.c(), "--reason", reason];
        args.extend_from_slice(how);
        ace(&args)
    }

    /// The RS's OSCORE client towards the AS (Sender ID "rs1").
    async fn rs_to_as(&self) -> OscoreClient<RustCrypto> {
        let (coap, driver) =
            ace_coap::Client::bind("127.0.0.1:0".parse().unwrap(), ace_coap::Config::default())
                .await
                .unwrap();
        tokio::spawn(driver.run());
        let secret = symmetric(&self.dir.join("rs-as.key"));
        let ctx = SecurityContext::new(RustCrypto, ContextParams::new(&secret, b"", b"rs1", b"as"))
            .unwrap();
        OscoreClient::new(coap, ctx, MemorySequenceStore::new())
    }
}

/// What the RS got at registration (the registration protocol is out of scope of RFC 9770;
/// these are the AS's defaults: `/revoke/trl`, sha-256, MAX_N 10, MAX_DIFF_BATCH 5).
fn registration() -> RegistrationInfo {
    RegistrationInfo {
        trl_path: TRL.into(),
        trl_hash: HashAlg::Sha256,
        max_n: Some(10),
        max_diff_batch: Some(5),
    }
}

/// An RS for audience "rs1" whose store can be purged from outside the engine.
fn rs_engine(dir: &Path, as_addr: SocketAddr) -> (RsEngine, RevokedTokenGuard) {
    let mut cfg = RsConfig::new("rs1", format!("coap://{as_addr}/token"));
    cfg.issuers = vec!["as".into()];
    cfg.scope_map = ace_server::demo::scope_map();
    let keys = KeySet::new()
        .with(TokenKey::symmetric(symmetric(&dir.join("rs-token.key"))).with_kid(*b"rs1"));
    let (store, purge) = PurgingTokenStore::new();
    let rs = RsEngine::new(cfg, Box::new(keys), Arc::new(RustCrypto), Box::new(store))
        .with_profiles(vec![Arc::new(OscoreProfile::new())]);
    (rs, RevokedTokenGuard::new(HashAlg::Sha256, purge))
}

/// Pumps the observer until it reports an event or `WAIT` passes.
async fn pump(obs: &mut OscoreObserver<RustCrypto>, sock: &UdpSocket) -> ObserveEvent {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut buf = Vec::new();
    let mut rx = vec![0u8; 4096];
    loop {
        loop {
            buf.clear();
            let Some(t) = obs.poll_transmit(Instant::now(), &mut buf) else {
                break;
            };
            sock.send_to(&buf[..t.size], t.destination).await.unwrap();
        }
        if let Some(ev) = obs.poll_event() {
            return ev;
        }
        let timer = obs.poll_timeout().map_or(deadline, |t| {
            tokio::time::Instant::from_std(t).min(deadline)
        });
        tokio::select! {
            r = sock.recv_from(&mut rx) => {
                let (n, from) = r.unwrap();
                let _ = obs.handle_datagram(Instant::now(), from, &rx[..n]);
            }
            () = tokio::time::sleep_until(timer) => {
                assert!(tokio::time::Instant::now() < deadline, "no TRL notification within {WAIT:?}");
                obs.handle_timeout(Instant::now());
            }
        }
    }
}

fn notification(ev: ObserveEvent) -> Vec<u8> {
    match ev {
        ObserveEvent::Notification { response, .. } => {
            assert_eq!(response.code, Code::CONTENT);
            assert_eq!(response.content_format(), Some(262));
            response.payload
        }
        other => panic!("expected a TRL notification, got {other:?}"),
    }
}

fn b64(h: &TokenHash) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.as_bytes())
}

/// RFC 9770 must-show: the RS holds a token, `ace as revoke` revokes it, and after exactly
/// one Observe notification of the TRL the RS refuses the next request and a re-upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs_refuses_a_token_revoked_by_ace_as_revoke_after_one_notification() {
    let s = Setup::new("e2e", 3600);
    let as_child = spawn_as(&s.cfg);
    let token = s.request_token();
    let cti = s.cti_of(&token);

    // The RS accepts the token (the RFC 9203 token, its OSCORE_Input_Material id is the
    // channel identity) and lets the client read /temp.
    let (mut rs, mut guard) = rs_engine(&s.dir, s.as_addr);
    let now = UnixTime::now();
    let hash = guard.check_upload(&token).unwrap();
    assert_eq!(
        hash,
        TokenHash::from_cbor_access_token(HashAlg::Sha256, &token),
        "the RS's hash is the AS's"
    );
    // The unprotected RFC 9203 POST /authz-info: {access_token, nonce1, ID1}.
    let body = ace_oscore::profile::authz_info_request(&token, &[7; 8], b"\x01")
        .encode()
        .unwrap();
    let mut rng = ace_token::crypto::os_rng();
    let out = OscoreProfile::new()
        .rs_authz_info(
            &mut rs,
            &mut ace_oscore::profile::RsChannels::new(),
            now,
            &ChannelIdentity::Anonymous,
            Some(ace_core::ContentFormat::ACE_CBOR),
            &body,
            &mut rng,
        )
        .unwrap();
    assert_eq!(out.code, ace_core::consts::code::CREATED);
    guard.record_effects(&hash, &out.effects);
    let Some(RsEffect::TokenStored {
        binding: PopBinding::Kid(kid),
        ..
    }) = out
        .effects
        .iter()
        .find(|e| matches!(e, RsEffect::TokenStored { .. }))
    else {
        panic!("no TokenStored in {:?}", out.effects)
    };
    let client = ChannelIdentity::PskIdentity(kid.clone());
    let get = |rs: &mut RsEngine, rng: &mut _| {
        rs.authorize(UnixTime::now(), &client, "/temp", aif::Method::Get, rng)
    };
    assert_eq!(get(&mut rs, &mut rng), Access::Allow);

    // The RS observes its part of the TRL over its own OSCORE context with the AS.
    let to_as = s.rs_to_as().await;
    let mut obs = to_as.observer(ace_coap::Config::default(), [3; 32]);
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut follower = TrlClient::new(registration(), 0);
    let q = TrlQuery::full();
    obs.observe(Instant::now(), s.as_addr, request_message(TRL, &q))
        .unwrap();
    let first = notification(pump(&mut obs, &sock).await);
    assert_eq!(TrlPayload::decode(&first).unwrap().full_set, Some(vec![]));
    assert!(follower.process(&q, &first).unwrap().revoked.is_empty());

    // The administrator revokes by cti while the AS runs (queued, applied, reported).
    let o = s.revoke(&["--cti", &hex::encode(&cti)], "client key compromised");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("revoked cti {}", hex::encode(&cti))),
        "{}",
        text(&o)
    );

    // One notification later the RS knows, purges, and refuses.
    let note = notification(pump(&mut obs, &sock).await);
    let update = follower.process(&q, &note).unwrap();
    assert_eq!(update.revoked, vec![hash.clone()]);
    assert_eq!(guard.apply(&update).len(), 1, "one stored token purged");
    assert!(matches!(get(&mut rs, &mut rng), Access::Unauthorized(_)));
    assert_eq!(guard.check_upload(&token), Err(GuardRefusal::Revoked));

    // Revoking again by token file or hash: already revoked, still exit 0.
    let tf = s.dir.join("client1.cwt");
    for how in [
        vec!["--token-file", tf.to_str().unwrap()],
        vec!["--hash", &b64(&hash)],
    ] {
        let o = s.revoke(&how, "again");
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("already revoked"),
            "{}",
            text(&o)
        );
    }
    // The AS logged the revocation with cti, hash and reason; no log line, no output of
    // `ace as revoke` carries the token.
    let log = std::fs::read_to_string(s.dir.join("as.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("token revoked (TRL)"))
        .expect("revocation logged");
    assert!(
        line.contains(&hex::encode(&cti))
            && line.contains(&hash.to_hex())
            && line.contains("client key compromised"),
        "{line}"
    );
    let token_b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&token);
    for needle in [hex::encode(&token), token_b64] {
        assert!(!log.contains(&needle[..40]), "token in the AS log");
        assert!(
            !text(&o).contains(&needle[..40]),
            "token in ace as revoke's output"
        );
    }
    // Nothing is left pending in the AS's administration queue.
    let queue =
        ace_server::revocation::SqliteTrlStore::open(s.dir.join("state-as.sqlite")).unwrap();
    assert!(queue.pending_revocations().unwrap().is_empty());
    drop(queue);
    kill_9(as_child);
}

/// kill -9 of the AS (a real child process), a revocation written while it is down, and a
/// restart: no revoked token is forgotten and the RS's cursor still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_restart_keep_revocations_and_cursors() {
    let s = Setup::new("kill", 3600);
    let as_child = spawn_as(&s.cfg);
    let t1 = s.request_token();
    let t2 = s.request_token();
    let (h1, h2) = (
        TokenHash::from_cbor_access_token(HashAlg::Sha256, &t1),
        TokenHash::from_cbor_access_token(HashAlg::Sha256, &t2),
    );
    let o = s.revoke(&["--hash", &b64(&h1)], "lost device");
    assert!(o.status.success(), "{}", text(&o));

    // The RS follows with diff queries and the Cursor extension.
    let to_as = s.rs_to_as().await;
    let get = |q: TrlQuery| {
        let to_as = &to_as;
        async move {
            let r = tokio::time::timeout(WAIT, to_as.request(s.as_addr, request_message(TRL, &q)))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(r.code, Code::CONTENT, "{q:?}");
            (q, r.payload)
        }
    };
    let mut follower = TrlClient::new(registration(), 0);
    let (q, p) = get(follower.poll_query()).await;
    assert_eq!(follower.process(&q, &p).unwrap().revoked, vec![h1.clone()]);
    let (q, p) = get(TrlQuery::diff(0)).await;
    let _ = follower.process(&q, &p).unwrap();
    let cursor = follower.cursor().expect("one series item: a cursor");
    assert_eq!(follower.poll_query(), TrlQuery::diff_cursor(0, cursor));

    // kill -9; revoke t2 while the AS is down (written to its database directly).
    kill_9(as_child);
    let o = s.revoke(
        &["--token-file", s.dir.join("client1.cwt").to_str().unwrap()],
        "stolen",
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("revoked token hash"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(s.dir.join("client1.cwt")).unwrap(), t2);

    let as_child = spawn_as(&s.cfg);
    // The first request answers the restored context's Echo challenge (RFC 8613 B.1.2).
    let (q, p) = get(TrlQuery::full()).await;
    let full = TrlPayload::decode(&p).unwrap().full_set.unwrap();
    assert_eq!(full.len(), 2, "{q:?}: both revocations survived");
    assert!(full.contains(&h1) && full.contains(&h2));
    // The cursor from before the crash is still valid: only the newer update comes back.
    let (q, p) = get(follower.poll_query()).await;
    assert_eq!(q, TrlQuery::diff_cursor(0, cursor));
    let u = follower.process(&q, &p).unwrap();
    assert_eq!(u.revoked, vec![h2.clone()]);
    let after = TrlPayload::decode(&p).unwrap();
    assert_eq!(after.more, Some(false));
    assert_eq!(after.cursor, Some(Some(cursor + 1)));
    // The restarted AS still applies queued revocations and knows the old ones.
    let o = s.revoke(&["--hash", &b64(&h1)], "again");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("already revoked"),
        "{}",
        text(&o)
    );
    kill_9(as_child);
}

/// Unknown cti, malformed hash, an expired token; and the AS lock refuses a second AS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_unknown_malformed_and_expired() {
    let s = Setup::new("neg", 1);
    let as_child = spawn_as(&s.cfg);
    let token = s.request_token();
    // The token (lifetime 1 s) expires; the AS is killed before its expiry sweep (every
    // 5 s) forgets the record, so the revocation written to its database says "expired".
    kill_9(as_child);
    std::thread::sleep(Duration::from_millis(2100));
    let tf = s.dir.join("client1.cwt");
    let o = s.revoke(&["--token-file", tf.to_str().unwrap()], "too late");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("already expired"), "{}", text(&o));
    // A token the AS never issued.
    let other = s.dir.join("other.cwt");
    std::fs::write(&other, [&token[..], b"x"].concat()).unwrap();
    let o = s.revoke(&["--token-file", other.to_str().unwrap()], "never issued");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("unknown token"), "{}", text(&o));

    let as_child = spawn_as(&s.cfg);
    // A second AS on the same database is refused (exit 1), the first keeps running.
    let o = ace(&["as", "serve", "-c", s.c(), "--coap", "127.0.0.1:0"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("another AS is running"), "{}", text(&o));
    // Unknown cti, while the AS runs (queued, refused by the AS).
    let o = s.revoke(&["--cti", "deadbeef"], "typo");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("unknown token"), "{}", text(&o));
    // Malformed: not hex, not base64url, a wrong length, an unknown suite; no target.
    let unknown_suite = b64(&TokenHash::from_raw(vec![0x63; 33]));
    for (how, says) in [
        (vec!["--cti", "xyz"], "not hex"),
        (vec!["--hash", "***"], "not base64url"),
        (vec!["--hash", "AQID"], "not a token hash"),
        (vec!["--hash", unknown_suite.as_str()], "not a token hash"),
    ] {
        let o = s.revoke(&how, "bad input");
        assert_eq!(o.status.code(), Some(2), "{how:?}: {}", text(&o));
        assert!(text(&o).contains(says), "{how:?}: {}", text(&o));
    }
    let o = ace(&["as", "revoke", "-c", s.c(), "--reason", "no target"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    kill_9(as_child);
    // Nothing was ever added to the TRL.
    let store =
        ace_server::revocation::SqliteTrlStore::open(s.dir.join("state-as.sqlite")).unwrap();
    assert!(store.revocation_log().unwrap().is_empty());
}

/// `ace rs serve` with `[rs.trl]`: the real RS observes the TRL of the real AS over OSCORE;
/// `ace as revoke` → the RS purges the token after the notification → `ace client get`
/// gets 4.01; after a kill -9 of the RS the token stays refused (persisted purge).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ace_rs_serve_follows_the_trl_and_refuses_the_revoked_token() {
    let s = Setup::new("rs", 3600);
    let as_child = spawn_as(&s.cfg);
    let (rs_child, rs_log) = spawn_rs(&s.cfg);
    let o = ace(&[
        "token",
        "request",
        "-c",
        s.c(),
        "--scope",
        "temp:r",
        "--upload",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = ace(&["client", "get", "-c", s.c(), "/temp"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "2.05 21.5 C",
        "{}",
        text(&o)
    );
    let token = std::fs::read(s.dir.join("client1.cwt")).unwrap();
    let cti = s.cti_of(&token);

    let o = s.revoke(&["--cti", &hex::encode(&cti)], "device stolen");
    assert!(o.status.success(), "{}", text(&o));
    // The RS logs the purge when the notification arrives (bounded wait).
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rs_log
            .recv_timeout(left)
            .expect("the RS purged the token within the wait");
        if line.contains("revoked token purged") {
            break;
        }
    }
    let o = ace(&["client", "get", "-c", s.c(), "/temp"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("4.01"),
        "{}",
        text(&o)
    );

    // kill -9 the RS and restart it: the purge was persisted, the token stays refused.
    kill_9(rs_child);
    let (rs_child, _log) = spawn_rs(&s.cfg);
    let o = ace(&["client", "get", "-c", s.c(), "/temp"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stdout).starts_with("2.05"),
        "{}",
        text(&o)
    );
    kill_9(rs_child);
    kill_9(as_child);
}
