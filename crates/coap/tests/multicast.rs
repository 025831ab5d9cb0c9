//! Group communication over real sockets (RFC 7252 §8): three servers join
//! 224.0.1.187 on the loopback interface, sharing one group port (SO_REUSEADDR); one
//! client multicast request collects the responses of all of them. Every wait bounded.
//!
//! IPv4 multicast on `lo` works when the sender sets IP_MULTICAST_IF=127.0.0.1
//! (`ClientDriver::set_multicast_interface_v4`); if this machine's loopback does not
//! deliver multicast, the test fails with the socket error or with missing responses —
//! it does not pass silently.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use ace_coap::{
    Client, Code, Config, FnResource, Message, MulticastConfig, Router, Server, ServerHandle,
};
use tokio::time::timeout;

const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 1, 187);
const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;
const LIMIT: Duration = Duration::from_secs(10);

/// A port that is free on 127.0.0.1 right now, for the group.
fn free_port() -> u16 {
    std::net::UdpSocket::bind((LO, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn member(group: SocketAddrV4, name: &'static str) -> (SocketAddr, ServerHandle) {
    let cfg = Config {
        multicast: MulticastConfig {
            leisure: Duration::from_millis(200),
            ..MulticastConfig::default()
        },
        ..Config::default()
    };
    let router = Router::new().mount(
        "/who",
        FnResource::new(move |_| Message::response(Code::CONTENT, name).into()),
    );
    let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), cfg, router)
        .await
        .unwrap();
    server
        .join_multicast_v4(group, LO)
        .expect("join 224.0.1.187 on 127.0.0.1");
    let addr = server.local_addr().unwrap();
    let handle = server.handle();
    tokio::spawn(server.serve());
    (addr, handle)
}

#[tokio::test]
async fn one_multicast_request_collects_every_servers_response() {
    let group = SocketAddrV4::new(GROUP, free_port());
    let mut servers = Vec::new();
    for name in ["alpha", "beta", "gamma"] {
        servers.push((member(group, name).await, name));
    }
    let (client, driver) = Client::bind("127.0.0.1:0".parse().unwrap(), Config::default())
        .await
        .unwrap();
    driver.set_multicast_interface_v4(LO).unwrap();
    tokio::spawn(driver.run());

    let collect = Duration::from_millis(800);
    let started = tokio::time::Instant::now();
    let mut got = timeout(
        LIMIT,
        client.multicast_request(
            SocketAddr::V4(group),
            Message::request(Code::GET, "/who"),
            collect,
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        started.elapsed() >= collect,
        "collected for the whole period"
    );
    got.sort_by_key(|r| r.from);
    let mut expected: Vec<(SocketAddr, Vec<u8>)> = servers
        .iter()
        .map(|((addr, _), name)| (*addr, name.as_bytes().to_vec()))
        .collect();
    expected.sort();
    let got_pairs: Vec<(SocketAddr, Vec<u8>)> = got
        .iter()
        .map(|r| (r.from, r.response.payload.clone()))
        .collect();
    assert_eq!(
        got_pairs, expected,
        "one response from each server's unicast address"
    );
    assert!(got.iter().all(|r| r.response.code == Code::CONTENT));

    // 4.04 is suppressed for multicast requests: nobody answers.
    let none = timeout(
        LIMIT,
        client.multicast_request(
            SocketAddr::V4(group),
            Message::request(Code::GET, "/missing"),
            Duration::from_millis(500),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(none.is_empty(), "{none:?}");

    // The same servers still answer unicast, including errors.
    let ((first, _), _) = servers[0];
    let r = timeout(LIMIT, client.get(first, "/missing"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.code, Code::NOT_FOUND);
    for ((_, h), _) in &servers {
        h.shutdown().await;
    }
}
