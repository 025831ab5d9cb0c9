//! ace-coap server and client both using OSCORE (RFC 8613 C.1: client A = C.1.1, server
//! B = C.1.2) over UDP on 127.0.0.1: GET, inner block-wise GET, a plain client refused, and
//! a server killed and restarted from its persisted sequence number, recovering its replay
//! window with Echo (Appendix B.1).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ace_coap::{Client, Code, Config, FnResource, Message, PeerIdentity, Router, Server};
use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_oscore::coap::{OscoreClient, OscoreLayer};
use ace_oscore::{
    ContextParams, ContextSet, MemorySequenceStore, PersistError, SecurityContext, SequenceConfig,
    SequenceStore,
};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn client_params() -> ContextParams {
    ContextParams::new(
        &h("0102030405060708090a0b0c0d0e0f10"),
        &h("9e7ca92223786340"),
        b"",
        b"\x01",
    )
    .with_sequence_config(SequenceConfig {
        reservation_block: 4,
    })
}

/// A store shared with the test, so that it survives the server being killed.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<MemorySequenceStore>>);

impl SequenceStore for Shared {
    fn persist(
        &mut self,
        sender_id: &[u8],
        id_context: Option<&[u8]>,
        value: u64,
    ) -> Result<(), PersistError> {
        self.0.lock().unwrap().persist(sender_id, id_context, value)
    }
}

fn router() -> Router {
    Router::new()
        .mount(
            "/hello",
            FnResource::new(|_| Message::response(Code::CONTENT, "Hello World!").into()),
        )
        .mount(
            "/whoami",
            FnResource::new(|req| {
                let who = match &req.identity {
                    PeerIdentity::Oscore { sender_id, .. } => {
                        format!("oscore:{}", hex::encode(sender_id))
                    }
                    other => format!("{other:?}"),
                };
                Message::response(Code::CONTENT, who).into()
            }),
        )
        .mount(
            "/big",
            FnResource::new(|_| {
                Message::response(
                    Code::CONTENT,
                    (0..5000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>(),
                )
                .into()
            }),
        )
}

async fn start_server(
    ctx: SecurityContext<RustCrypto>,
    store: Shared,
    addr: SocketAddr,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let mut set = ContextSet::new();
    set.insert(ctx);
    let server = Server::bind_with_security(
        addr,
        Config::default(),
        router(),
        OscoreLayer::new(set, store),
    )
    .await
    .unwrap();
    let local = server.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = server.serve().await;
    });
    (local, task)
}

async fn oscore_client() -> OscoreClient<RustCrypto> {
    let (client, driver) = Client::bind("127.0.0.1:0".parse().unwrap(), Config::default())
        .await
        .unwrap();
    tokio::spawn(driver.run());
    let ctx = SecurityContext::new(RustCrypto, client_params()).unwrap();
    OscoreClient::new(client, ctx, MemorySequenceStore::new())
}

#[tokio::test]
async fn get_blockwise_refusal_and_restart_over_udp() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let store = Shared::default();
        let server_ctx = SecurityContext::new(RustCrypto, client_params().peer()).unwrap();
        let (addr, task) =
            start_server(server_ctx, store.clone(), "127.0.0.1:0".parse().unwrap()).await;
        let client = oscore_client().await;

        let resp = client
            .request(addr, Message::request(Code::GET, "/hello"))
            .await
            .unwrap();
        assert_eq!(resp.code, Code::CONTENT);
        assert_eq!(resp.payload, b"Hello World!");
        let who = client
            .request(addr, Message::request(Code::GET, "/whoami"))
            .await
            .unwrap();
        assert_eq!(who.payload, b"oscore:", "client A has the empty Sender ID");

        let big = client
            .request(addr, Message::request(Code::GET, "/big"))
            .await
            .unwrap();
        assert_eq!(big.code, Code::CONTENT);
        assert_eq!(
            big.payload,
            (0..5000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>()
        );
        let after_big = client.sender_sequence_number().unwrap();
        assert!(
            after_big >= 2 + 5,
            "one protected request per block: {after_big}"
        );

        // A plain CoAP client is refused with 4.01.
        let (plain, driver) = Client::bind("127.0.0.1:0".parse().unwrap(), Config::default())
            .await
            .unwrap();
        tokio::spawn(driver.run());
        let refused = plain.get(addr, "/hello").await.unwrap();
        assert_eq!(refused.code, Code(0x81));
        // An OSCORE request from an unknown context: 4.01 "Security context not found",
        // unprotected, surfaced as UnprotectedResponse.
        let stranger_params = ContextParams::new(&[9; 16], &[], b"\x33", b"\x01");
        let (c2, d2) = Client::bind("127.0.0.1:0".parse().unwrap(), Config::default())
            .await
            .unwrap();
        tokio::spawn(d2.run());
        let stranger = OscoreClient::new(
            c2,
            SecurityContext::new(RustCrypto, stranger_params).unwrap(),
            MemorySequenceStore::new(),
        );
        let err = stranger
            .request(addr, Message::request(Code::GET, "/hello"))
            .await
            .unwrap_err();
        assert_eq!(err, ace_oscore::Error::UnprotectedResponse(0x81));

        // The server used its own sequence numbers (block-wise responses after the first use
        // fresh Partial IVs); kill it without shutdown and restart from the persisted value.
        // (Responses here use the request nonce, so the server may not have persisted yet.)
        let persisted = store.0.lock().unwrap().get(b"\x01", None).unwrap_or(0);
        task.abort();
        let _ = task.await;
        let restored =
            SecurityContext::restore(RustCrypto, client_params().peer(), persisted, b"echo1234")
                .unwrap();
        let (addr2, task2) = start_server(restored, store.clone(), addr).await;
        assert_eq!(addr2, addr);
        // The client transparently answers the Echo challenge (protected 4.01 + Echo).
        let resp = client
            .request(addr, Message::request(Code::GET, "/hello"))
            .await
            .unwrap();
        assert_eq!(resp.payload, b"Hello World!");
        let after = store.0.lock().unwrap().get(b"\x01", None).unwrap();
        assert!(
            after > persisted,
            "the Echo response took a fresh, persisted Partial IV"
        );
        task2.abort();
    })
    .await
    .expect("bounded wait");
}

struct FailingStore;

impl SequenceStore for FailingStore {
    fn persist(&mut self, _: &[u8], _: Option<&[u8]>, _: u64) -> Result<(), PersistError> {
        Err(PersistError)
    }
}

/// When the reservation cannot be persisted, the protected message is never released: the
/// server answers an unprotected 5.00 instead.
#[tokio::test]
async fn failed_persistence_releases_nothing() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let restored =
            SecurityContext::restore(RustCrypto, client_params().peer(), 40, b"echo").unwrap();
        let mut set = ContextSet::new();
        set.insert(restored);
        let server = Server::bind_with_security(
            "127.0.0.1:0".parse().unwrap(),
            Config::default(),
            router(),
            OscoreLayer::new(set, FailingStore),
        )
        .await
        .unwrap();
        let addr = server.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = server.serve().await;
        });
        let client = oscore_client().await;
        let err = client
            .request(addr, Message::request(Code::GET, "/hello"))
            .await
            .unwrap_err();
        assert_eq!(err, ace_oscore::Error::UnprotectedResponse(0xA0));
        task.abort();
    })
    .await
    .expect("bounded wait");
}
