//! Live Group OSCORE interop with aiocoap 0.4.17 (draft -23; our side uses
//! `Compat::AIOCOAP_0_4_17`) over loopback: aiocoap client → our server and our client →
//! aiocoap server, group mode (multicast to 224.0.1.187 on `lo` and unicast) and pairwise
//! mode. The peer is `tests/interop/aiocoap_group.py` under `ACE_INTEROP_PYTHON`; run by
//! `cargo xtask interop`. Without `ACE_INTEROP_PYTHON` the tests fail (a missing peer is a
//! failure, not a skip). Each child process is killed after 20 s; every wait is bounded.
//!
//! Group: Ed25519 members, EdDSA + AES-CCM-16-64-128 (group mode), ECDH-SS + HKDF-256 on the
//! Ed25519 keys mapped to X25519 + AES-CCM-16-64-128 (pairwise mode), HKDF-SHA-256.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ace_coap::{
    Client, Code, Config, FnResource, Message, MulticastConfig, PeerIdentity, Router, Server,
};
use ace_crypto::KeyType;
use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_oscore::MemorySequenceStore;
use group_oscore::coap::{GroupOscoreClient, GroupOscoreLayer};
use group_oscore::testing::{self, Member};
use group_oscore::{Compat, CredentialStore, GroupContext, GroupEndpoint, Mode, RequestMode};
use serde_json::{Value, json};
use tokio::time::timeout;

const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 1, 187);
const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;
const GID: &[u8] = b"\x37\xcb\xf3\x21";
const CHILD_LIMIT: Duration = Duration::from_secs(20);
const LIMIT: Duration = Duration::from_secs(10);

/// Sender IDs: our server 0x01, our client 0x0c, aiocoap server 0x0a, aiocoap client 0x0b.
struct Members {
    ours_server: Member,
    ours_client: Member,
    their_server: Member,
    their_client: Member,
    store: Arc<dyn CredentialStore + Send + Sync>,
}

fn members() -> Members {
    let m = |id: &[u8], seed| testing::member(KeyType::Ed25519, id, seed).unwrap();
    let (ours_server, ours_client, their_server, their_client) = (
        m(b"\x01", 41),
        m(b"\x0c", 42),
        m(b"\x0a", 43),
        m(b"\x0b", 44),
    );
    let store = Arc::new(
        testing::store(
            GID,
            &[&ours_server, &ours_client, &their_server, &their_client],
        )
        .unwrap(),
    );
    Members {
        ours_server,
        ours_client,
        their_server,
        their_client,
        store,
    }
}

fn our_context(ms: &Members, m: &Member) -> GroupEndpoint<RustCrypto> {
    let params = testing::params(m, GID).with_compat(Compat::AIOCOAP_0_4_17);
    GroupEndpoint::new(GroupContext::new(RustCrypto, params, ms.store.clone()).unwrap())
}

fn params_json(ms: &Members, me: &Member, name: &str, extra: Value) -> String {
    let member = |m: &Member| {
        json!({
            "sender_id": hex::encode(&m.sender_id),
            "private_key": hex::encode(m.private_key.expose()),
            "credential": hex::encode(&m.credential),
        })
    };
    let mut v = json!({
        "gid": hex::encode(GID),
        "master_secret": hex::encode(testing::MASTER_SECRET),
        "master_salt": hex::encode(testing::MASTER_SALT),
        "members": [
            member(&ms.ours_server), member(&ms.ours_client),
            member(&ms.their_server), member(&ms.their_client),
        ],
        "me": hex::encode(&me.sender_id),
        "name": name,
    });
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v.to_string()
}

/// The peer process; killed on drop.
struct Peer {
    child: Child,
    lines: mpsc::Receiver<String>,
    started: Instant,
}

impl Peer {
    fn spawn(role: &str, params: &str) -> Self {
        let python = std::env::var("ACE_INTEROP_PYTHON")
            .expect("ACE_INTEROP_PYTHON must name a Python interpreter with aiocoap 0.4.17");
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/aiocoap_group.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .arg(role)
            .arg(params)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("aiocoap {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            started: Instant::now(),
        }
    }

    /// The next JSON line, within the child's time limit.
    fn next_json(&self) -> Option<Value> {
        let left = CHILD_LIMIT.saturating_sub(self.started.elapsed());
        let line = self.lines.recv_timeout(left).ok()?;
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")))
    }

    /// Waits (bounded) for the exit status.
    fn wait(&mut self) -> Option<std::process::ExitStatus> {
        while self.started.elapsed() < CHILD_LIMIT {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind((LO, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs aiocoap: run `cargo xtask interop`"]
async fn aiocoap_client_to_our_server_group_and_pairwise() {
    let ms = members();
    let group = SocketAddrV4::new(GROUP, free_port());
    let layer = GroupOscoreLayer::new(
        our_context(&ms, &ms.ours_server),
        MemorySequenceStore::new(),
    );
    let cfg = Config {
        multicast: MulticastConfig {
            leisure: Duration::from_millis(100),
            ..MulticastConfig::default()
        },
        ..Config::default()
    };
    let router = Router::new().mount(
        "/who",
        FnResource::new(|req| {
            let text = match &req.identity {
                PeerIdentity::GroupOscore {
                    group_id,
                    sender_id,
                } => format!(
                    "ours for {}/{}",
                    hex::encode(group_id),
                    hex::encode(sender_id)
                ),
                other => format!("ours for {other:?}"),
            };
            Message::response(Code::CONTENT, text).into()
        }),
    );
    let mut server = Server::bind_with_security("127.0.0.1:0".parse().unwrap(), cfg, router, layer)
        .await
        .unwrap();
    server
        .join_multicast_v4(group, LO)
        .expect("join 224.0.1.187 on lo");
    let port = server.local_addr().unwrap().port();
    let handle = server.handle();
    tokio::spawn(server.serve());

    let params = params_json(
        &ms,
        &ms.their_client,
        "client",
        json!({
            "server_port": port,
            "group": group.to_string(),
            "server_id": hex::encode(&ms.ours_server.sender_id),
        }),
    );
    let results = tokio::task::spawn_blocking(move || {
        let mut peer = Peer::spawn("client", &params);
        let mut results = Vec::new();
        while let Some(v) = peer.next_json() {
            results.push(v);
            if results.len() == 3 {
                break;
            }
        }
        let status = peer.wait();
        (results, status)
    })
    .await
    .unwrap();
    handle.shutdown().await;
    let (results, status) = results;
    assert_eq!(results.len(), 3, "three steps reported: {results:?}");
    // aiocoap's requests come from 0x0b; our responses use the request's mode and kid 0x01
    let expected = [
        ("group-multicast", "group"),
        ("group-unicast", "group"),
        ("pairwise", "pairwise"),
    ];
    for (r, (step, mode)) in results.iter().zip(expected) {
        assert_eq!(r["step"], step, "{r}");
        assert_eq!(r["code"], "2.05", "{r}");
        assert_eq!(r["payload"], "ours for 37cbf321/0b", "{r}");
        assert_eq!(
            r["mode"], mode,
            "aiocoap verified a {mode}-mode response: {r}"
        );
        assert_eq!(r["kid"], "01", "{r}");
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "aiocoap client exit: {status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs aiocoap: run `cargo xtask interop`"]
async fn our_client_to_aiocoap_server_group_and_pairwise() {
    let ms = members();
    let params = params_json(&ms, &ms.their_server, "peer", json!({}));
    let (peer, ready) = tokio::task::spawn_blocking(move || {
        let peer = Peer::spawn("server", &params);
        let ready = peer.next_json();
        (peer, ready)
    })
    .await
    .unwrap();
    let ready = ready.expect("aiocoap server did not report readiness within 20 s");
    assert_eq!(ready["ready"], true, "{ready}");
    let port = u16::try_from(ready["port"].as_u64().expect("port")).unwrap();
    let unicast = SocketAddr::from((LO, port));
    let group = SocketAddr::V4(SocketAddrV4::new(GROUP, port));

    let (client, driver) = Client::bind("127.0.0.1:0".parse().unwrap(), Config::default())
        .await
        .unwrap();
    driver.set_multicast_interface_v4(LO).unwrap();
    tokio::spawn(driver.run());
    let c = GroupOscoreClient::new(
        client,
        our_context(&ms, &ms.ours_client),
        MemorySequenceStore::new(),
    );
    let their_id = ms.their_server.sender_id.clone();

    // 1. group mode over multicast: aiocoap answers (in pairwise mode, as it always does)
    let got = timeout(
        LIMIT,
        c.group_request(
            group,
            Message::request(Code::GET, "/who"),
            Duration::from_millis(1500),
        ),
    )
    .await
    .expect("bounded")
    .expect("group request");
    assert!(got.rejected.is_empty(), "{:?}", got.rejected);
    assert_eq!(got.responses.len(), 1, "{got:?}");
    let r = &got.responses[0];
    assert_eq!(r.from, unicast, "answered from its unicast address");
    assert_eq!(r.sender_id, their_id);
    assert_eq!(
        r.mode,
        Mode::Pairwise,
        "aiocoap answers group requests pairwise"
    );
    assert_eq!(r.response.code, Code::CONTENT);
    assert_eq!(r.response.payload, b"aiocoap peer group for 0c");

    // 2. group mode by unicast
    let r = timeout(
        LIMIT,
        c.request(
            unicast,
            Message::request(Code::GET, "/who"),
            &RequestMode::Group,
            true,
        ),
    )
    .await
    .expect("bounded")
    .expect("group-mode unicast request");
    assert_eq!(r.sender_id, their_id);
    assert_eq!(r.response.payload, b"aiocoap peer group for 0c");

    // 3. pairwise mode by unicast
    let r = timeout(
        LIMIT,
        c.pairwise_request(unicast, &their_id, Message::request(Code::GET, "/who")),
    )
    .await
    .expect("bounded")
    .expect("pairwise request");
    assert_eq!(r.mode, Mode::Pairwise);
    assert_eq!(r.sender_id, their_id);
    assert_eq!(r.response.code, Code::CONTENT);
    assert_eq!(r.response.payload, b"aiocoap peer pairwise for 0c");

    drop(peer);
}
