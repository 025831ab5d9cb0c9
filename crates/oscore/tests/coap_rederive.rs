//! RFC 8613 Appendix B.2 over ace-coap on 127.0.0.1: `OscoreLayer::with_rederivation` on
//! the server, `OscoreClient::request_with_rederivation` on the client; client-initiated
//! (fresh R1) and server-initiated (server restarted, replay state lost) runs, after which
//! ordinary requests use the new context and its sequence numbers are persisted under the
//! new ID Context.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use ace_coap::{Client, Code, Config, FnResource, Message, PeerIdentity, Router, Server};
use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_oscore::coap::{OscoreClient, OscoreLayer};
use ace_oscore::{
    ContextParams, ContextSet, Error, MemorySequenceStore, PersistError, RederiveConfig,
    SecurityContext, SequenceStore,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn params() -> ContextParams {
    ContextParams::new(
        &hex::decode("0102030405060708090a0b0c0d0e0f10").unwrap(),
        &hex::decode("9e7ca92223786340").unwrap(),
        b"",
        b"\x01",
    )
}

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

/// `/ctx` answers with the ID Context the request was verified with.
async fn server(ctx: SecurityContext<RustCrypto>, store: Shared) -> SocketAddr {
    let router = Router::new().mount(
        "/ctx",
        FnResource::new(|req| {
            let body = match &req.identity {
                PeerIdentity::Oscore { id_context, .. } => {
                    hex::encode(id_context.clone().unwrap_or_default())
                }
                other => format!("{other:?}"),
            };
            Message::response(Code::CONTENT, body).into()
        }),
    );
    let mut set = ContextSet::new();
    set.insert(ctx);
    let layer = OscoreLayer::new(set, store)
        .with_rederivation(RederiveConfig::default(), StdRng::seed_from_u64(2));
    let server = Server::bind_with_security(
        "127.0.0.1:0".parse().unwrap(),
        Config::default(),
        router,
        layer,
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = server.serve().await;
    });
    addr
}

async fn client(ctx: SecurityContext<RustCrypto>, store: Shared) -> OscoreClient<RustCrypto> {
    let (coap, driver) = Client::bind("127.0.0.1:0".parse().unwrap(), Config::default())
        .await
        .unwrap();
    tokio::spawn(driver.run());
    OscoreClient::new(coap, ctx, store)
}

fn get() -> Message {
    Message::request(Code::GET, "/ctx")
}

#[tokio::test]
async fn client_initiated_over_udp() {
    let addr = server(
        SecurityContext::new(RustCrypto, params().peer()).unwrap(),
        Shared::default(),
    )
    .await;
    let client_store = Shared::default();
    let c = client(
        SecurityContext::new(RustCrypto, params()).unwrap(),
        client_store.clone(),
    )
    .await;
    // The old context works first.
    let r = c.request(addr, get()).await.unwrap();
    assert_eq!((r.code, r.payload.as_slice()), (Code::CONTENT, &b""[..]));

    let mut rng = StdRng::seed_from_u64(1);
    let r = c
        .request_with_rederivation(addr, get(), RederiveConfig::default(), true, &mut rng)
        .await
        .unwrap();
    assert_eq!(r.code, Code::CONTENT);
    let id3 = hex::decode(&r.payload).unwrap();
    assert_eq!(id3.len(), 16, "R2 || R3, 8 bytes each");
    // Request #2 was numbered 0 on the new context: the client persisted its reservation
    // under the new ID Context before sending it.
    assert!(
        client_store
            .0
            .lock()
            .unwrap()
            .get(b"", Some(&id3))
            .is_some()
    );
    assert_eq!(c.sender_sequence_number().unwrap(), 1);

    // Ordinary requests now use the new context on both sides.
    for _ in 0..3 {
        let r = c.request(addr, get()).await.unwrap();
        assert_eq!(hex::decode(&r.payload).unwrap(), id3);
    }
}

#[tokio::test]
async fn server_initiated_after_server_restart() {
    let id1 = b"\x37\xcb\xf3\x21\x00\x17\xa2\xd3";
    let p = params()
        .with_id_context(id1)
        .with_kid_context_in_requests(true);
    // The server restarted: its context is restored and its replay window is unknown.
    let restored = SecurityContext::restore(RustCrypto, p.peer(), 128, b"echo-me!").unwrap();
    let addr = server(restored, Shared::default()).await;
    let c = client(
        SecurityContext::new(RustCrypto, p).unwrap(),
        Shared::default(),
    )
    .await;
    // A plain request cannot read response #1 (other keys than the old context).
    assert_eq!(
        c.request(addr, get()).await.unwrap_err(),
        Error::DecryptionFailed
    );
    let mut rng = StdRng::seed_from_u64(3);
    let r = c
        .request_with_rederivation(addr, get(), RederiveConfig::default(), false, &mut rng)
        .await
        .unwrap();
    let id3 = hex::decode(&r.payload).unwrap();
    assert_eq!(id3.len(), 16);
    assert_ne!(&id3[8..], &id1[..]);
    let r = c.request(addr, get()).await.unwrap();
    assert_eq!(hex::decode(&r.payload).unwrap(), id3);
    // Without a pending run, an ordinary response passes through unchanged.
    let r = c
        .request_with_rederivation(addr, get(), RederiveConfig::default(), false, &mut rng)
        .await
        .unwrap();
    assert_eq!(hex::decode(&r.payload).unwrap(), id3);
}
