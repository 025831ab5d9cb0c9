//! Group OSCORE over ace-coap on real sockets (loopback, feature `coap`): three servers
//! joined to 224.0.1.187 on `lo` answer one group-mode request (draft §6, RFC 7252 §8),
//! a pairwise request by unicast (draft §7), a non-member gets no answer (draft §6.2:
//! no error responses to group requests; ace-coap suppresses 4.xx/5.xx to multicast),
//! replays are rejected (RFC 8613 §7.4, draft §4.4). Every wait is bounded.
//!
//! IPv4 multicast on `lo` needs IP_MULTICAST_IF=127.0.0.1 on the sender
//! (`ClientDriver::set_multicast_interface_v4`); if this machine's loopback does not deliver
//! multicast, the tests fail (missing responses), they do not pass silently.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use ace_coap::{
    Client, Code, Config, FnResource, Message, MulticastConfig, PeerIdentity, Router, Server,
    ServerHandle,
};
use ace_crypto::KeyType;
use ace_oscore::MemorySequenceStore;
use group_oscore::coap::{ClientError, GroupOscoreClient, GroupOscoreLayer};
use group_oscore::testing::{self, Member};
use group_oscore::{CredentialStore, GroupEndpoint, Mode, RequestMode};
use tokio::time::timeout;

const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 1, 187);
const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;
const LIMIT: Duration = Duration::from_secs(15);
const GID: &[u8] = b"\x37\xcb\xf3\x21";
const COLLECT: Duration = Duration::from_millis(900);

fn free_port() -> u16 {
    std::net::UdpSocket::bind((LO, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Group {
    client: Member,
    servers: Vec<Member>,
    outsider: Member,
    store: Arc<dyn CredentialStore + Send + Sync>,
}

fn group() -> Group {
    let client = testing::member(KeyType::Ed25519, b"\x0c", 11).unwrap();
    let servers: Vec<Member> = [(b"\x01", 21u8), (b"\x02", 22), (b"\x03", 23)]
        .iter()
        .map(|(id, seed)| testing::member(KeyType::Ed25519, *id, *seed).unwrap())
        .collect();
    let outsider = testing::member(KeyType::Ed25519, b"\x0e", 31).unwrap();
    let mut all: Vec<&Member> = servers.iter().collect();
    all.push(&client);
    // the outsider is not registered: no credential under the Gid
    let store = Arc::new(testing::store(GID, &all).unwrap());
    Group {
        client,
        servers,
        outsider,
        store,
    }
}

/// A member server on its own unicast port, joined to `group`; `/who` answers its name and
/// the identity the layer authenticated.
async fn server(
    g: &Group,
    m: &Member,
    group: SocketAddrV4,
    name: &'static str,
) -> (SocketAddr, ServerHandle) {
    let ctx = testing::context(m, GID, g.store.clone()).unwrap();
    let layer = GroupOscoreLayer::new(GroupEndpoint::new(ctx), MemorySequenceStore::new());
    let cfg = Config {
        multicast: MulticastConfig {
            leisure: Duration::from_millis(200),
            ..MulticastConfig::default()
        },
        ..Config::default()
    };
    let router = Router::new().mount(
        "/who",
        FnResource::new(move |req| {
            let who = match &req.identity {
                PeerIdentity::GroupOscore {
                    group_id,
                    sender_id,
                } => format!(
                    "{name} for {}/{}",
                    hex::encode(group_id),
                    hex::encode(sender_id)
                ),
                other => format!("{name} for {other:?}"),
            };
            Message::response(Code::CONTENT, who).into()
        })
        .methods(&[Code::GET, Code::POST]),
    );
    let mut server = Server::bind_with_security("127.0.0.1:0".parse().unwrap(), cfg, router, layer)
        .await
        .unwrap();
    server
        .join_multicast_v4(group, LO)
        .expect("join 224.0.1.187 on lo");
    let addr = server.local_addr().unwrap();
    let handle = server.handle();
    tokio::spawn(server.serve());
    (addr, handle)
}

async fn client(
    g: &Group,
    m: &Member,
) -> GroupOscoreClient<ace_crypto::backend::rustcrypto::RustCrypto> {
    let (client, driver) = Client::bind("127.0.0.1:0".parse().unwrap(), Config::default())
        .await
        .unwrap();
    driver.set_multicast_interface_v4(LO).unwrap();
    tokio::spawn(driver.run());
    let ctx = testing::context(m, GID, g.store.clone()).unwrap();
    GroupOscoreClient::new(client, GroupEndpoint::new(ctx), MemorySequenceStore::new())
}

async fn three_servers(g: &Group) -> (SocketAddrV4, Vec<(SocketAddr, ServerHandle)>) {
    let group = SocketAddrV4::new(GROUP, free_port());
    let mut out = Vec::new();
    for (m, name) in g.servers.iter().zip(["alpha", "beta", "gamma"]) {
        out.push(server(g, m, group, name).await);
    }
    (group, out)
}

#[tokio::test]
async fn group_request_answered_by_three_servers_and_pairwise_unicast() {
    let g = group();
    let (group, servers) = three_servers(&g).await;
    let c = client(&g, &g.client).await;

    // one group-mode request over multicast, three group-mode responses
    let started = tokio::time::Instant::now();
    let got = timeout(
        LIMIT,
        c.group_request(
            SocketAddr::V4(group),
            Message::request(Code::GET, "/who"),
            COLLECT,
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(started.elapsed() >= COLLECT);
    assert!(got.rejected.is_empty(), "{:?}", got.rejected);
    let mut seen: Vec<(Vec<u8>, SocketAddr, String)> = got
        .responses
        .iter()
        .map(|r| {
            assert_eq!(r.mode, Mode::Group, "response in the request's mode");
            assert_eq!(r.response.code, Code::CONTENT);
            (
                r.sender_id.clone(),
                r.from,
                String::from_utf8(r.response.payload.clone()).unwrap(),
            )
        })
        .collect();
    seen.sort();
    let expected: Vec<(Vec<u8>, SocketAddr, String)> = g
        .servers
        .iter()
        .zip(&servers)
        .zip(["alpha", "beta", "gamma"])
        .map(|((m, (addr, _)), name)| {
            (
                m.sender_id.clone(),
                *addr,
                format!("{name} for 37cbf321/0c"),
            )
        })
        .collect();
    assert_eq!(
        seen, expected,
        "each member answered once, identity exposed"
    );

    // pairwise request by unicast to "beta" (Sender ID 0x02), pairwise response
    let (beta, _) = servers[1];
    let r = timeout(
        LIMIT,
        c.pairwise_request(beta, b"\x02", Message::request(Code::GET, "/who")),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(r.mode, Mode::Pairwise);
    assert_eq!(r.sender_id, b"\x02");
    assert_eq!(r.response.payload, b"beta for 37cbf321/0c");

    // a pairwise request for "alpha" sent to "beta": beta cannot decrypt it (keys are
    // pairwise between the client and alpha) and answers 4.00 unprotected (unicast)
    let err = timeout(
        LIMIT,
        c.request(
            beta,
            Message::request(Code::GET, "/who"),
            &RequestMode::Pairwise(b"\x01".to_vec()),
            true,
        ),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(
        matches!(err, ClientError::UnprotectedResponse(Code::BAD_REQUEST)),
        "{err:?}"
    );

    // a group-mode request by unicast to one member
    let r = timeout(
        LIMIT,
        c.request(
            servers[2].0,
            Message::request(Code::GET, "/who"),
            &RequestMode::Group,
            false,
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        (r.mode, r.sender_id.as_slice()),
        (Mode::Group, &b"\x03"[..])
    );

    for (_, h) in &servers {
        h.shutdown().await;
    }
}

#[tokio::test]
async fn non_member_gets_no_answer_and_replays_are_rejected() {
    let g = group();
    let (group, servers) = three_servers(&g).await;

    // a non-member (valid keys, Sender ID unknown to the group's credential store)
    let outsider = client(&g, &g.outsider).await;
    let got = timeout(
        LIMIT,
        outsider.group_request(
            SocketAddr::V4(group),
            Message::request(Code::GET, "/who"),
            COLLECT,
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        got.responses.is_empty() && got.rejected.is_empty(),
        "no member answers a non-member's group request: {got:?}"
    );
    // over unicast the error is sent (5.03, credential not available), unprotected
    let err = timeout(
        LIMIT,
        outsider.request(
            servers[0].0,
            Message::request(Code::GET, "/who"),
            &RequestMode::Group,
            true,
        ),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::UnprotectedResponse(Code::SERVICE_UNAVAILABLE)
        ),
        "{err:?}"
    );

    // replay: the member's protected group request sent twice (as an attacker would)
    let c = client(&g, &g.client).await;
    let (protected, mut binding) = c
        .protect(&Message::request(Code::GET, "/who"), &RequestMode::Group)
        .unwrap();
    let first = timeout(
        LIMIT,
        c.resend_multicast(
            SocketAddr::V4(group),
            protected.clone(),
            &mut binding,
            COLLECT,
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(first.responses.len(), 3, "{first:?}");
    let again = timeout(
        LIMIT,
        c.resend_multicast(
            SocketAddr::V4(group),
            protected.clone(),
            &mut binding,
            COLLECT,
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        again.responses.is_empty() && again.rejected.is_empty(),
        "replayed group request not answered: {again:?}"
    );
    // the same replay by unicast gets 4.01 "Replay detected"
    let resp = timeout(LIMIT, c.inner().request(servers[0].0, protected, true))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.code, Code::UNAUTHORIZED);
    assert_eq!(resp.payload, b"Replay detected");

    // a pairwise request replayed by unicast
    let (p, _) = c
        .protect(
            &Message::request(Code::GET, "/who"),
            &RequestMode::Pairwise(b"\x01".to_vec()),
        )
        .unwrap();
    let ok = timeout(LIMIT, c.inner().request(servers[0].0, p.clone(), true))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ok.code,
        Code::CHANGED,
        "protected responses carry outer 2.04"
    );
    let replay = timeout(LIMIT, c.inner().request(servers[0].0, p, true))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (replay.code, replay.payload.as_slice()),
        (Code::UNAUTHORIZED, &b"Replay detected"[..])
    );

    // the member is still served normally afterwards
    let r = timeout(
        LIMIT,
        c.pairwise_request(servers[0].0, b"\x01", Message::request(Code::GET, "/who")),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(r.response.payload, b"alpha for 37cbf321/0c");

    for (_, h) in &servers {
        h.shutdown().await;
    }
}
