//! OSCORE interop with aiocoap 0.4.17 (`aiocoap-client` in `$ACE_INTEROP_BIN`, the library
//! through `$ACE_INTEROP_PYTHON` running `tests/interop/aiocoap_server.py`), with the OSCORE
//! plugtest contexts: A/B = RFC 8613 C.1 (client Sender ID empty, server 0x01), C/D = C.3
//! (the same with ID Context 0x37cbf3210017a2d3).
//!
//! * aiocoap as OSCORE client → our `OscoreLayer` server (contexts B and D in one
//!   `ContextSet`);
//! * our `OscoreClient` → aiocoap's OSCORE server (`OscoreSiteWrapper`, contexts B and D);
//! * our client's sequence numbers across two client instances (the second restored from the
//!   persisted reservation) are accepted by aiocoap, whose replay window rejects a reused one.
//!
//! Everything runs on 127.0.0.1 with ephemeral ports; every child is bounded by
//! [`PEER_LIMIT`] and killed when it overruns. The tests are `#[ignore]`d so that `cargo test`
//! needs no peer; a missing peer or variable is a **failure**, never a skip:
//! ```text
//! ACE_INTEROP_BIN=/var/tmp/ace-rs-venv/bin ACE_INTEROP_PYTHON=/var/tmp/ace-rs-venv/bin/python \
//!   cargo test -p ace-oscore --features coap --test interop_aiocoap -- --ignored --test-threads=1
//! ```

#[path = "interop/peer.rs"]
mod peer;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use ace_coap::{Client, Code, Config, Message, OuterBlockwise, PeerIdentity};
use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_oscore::coap::OscoreClient;
use ace_oscore::{Error, SecurityContext, SequenceConfig};
use peer::{
    A, AiocoapServer, B, BIG_LEN, C, D, OurServer, PEER_LIMIT, Plugtest, SharedStore,
    aiocoap_client, aiocoap_client_credentials, big_body, scratch_dir,
};
use tokio::time::timeout;

/// The longest an aiocoap server may live (it also exits when its stdin closes).
const SERVER_LIFETIME: Duration = Duration::from_secs(60);

fn dir(name: &str) -> PathBuf {
    scratch_dir(Path::new(env!("CARGO_TARGET_TMPDIR")), name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `program args…` within [`PEER_LIMIT`] (killing it otherwise), whatever its exit
/// status.
async fn run_peer<A: AsRef<OsStr>>(program: &Path, args: &[A]) -> Output {
    ace_interop_peers::run_peer(program, args, PEER_LIMIT).await
}

/// [`run_peer`], then requires exit status 0.
async fn run_ok<A: AsRef<OsStr> + core::fmt::Debug>(program: &Path, args: &[A]) -> Output {
    ace_interop_peers::run_ok(program, args, PEER_LIMIT).await
}

/// aiocoap's persisted `next-to-send` of a context directory it used.
fn aiocoap_next_to_send(context_dir: &str) -> u64 {
    let json = std::fs::read_to_string(Path::new(context_dir).join("sequence.json"))
        .unwrap_or_else(|e| panic!("aiocoap wrote no sequence.json in {context_dir}: {e}"));
    let rest = json
        .split("\"next-to-send\":")
        .nth(1)
        .unwrap_or_else(|| panic!("no next-to-send in {json}"));
    rest.trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("next-to-send is not a number in {json}"))
}

fn oscore(sender_id: &[u8], id_context: Option<&[u8]>) -> PeerIdentity {
    PeerIdentity::Oscore {
        sender_id: sender_id.to_vec(),
        id_context: id_context.map(<[u8]>::to_vec),
    }
}

async fn our_client(
    ctx: SecurityContext<RustCrypto>,
    store: SharedStore,
) -> OscoreClient<RustCrypto> {
    let (client, driver) = Client::bind("127.0.0.1:0".parse().unwrap(), Config::default())
        .await
        .unwrap();
    tokio::spawn(driver.run());
    OscoreClient::new(client, ctx, store)
}

/// One request of our client, bounded by [`PEER_LIMIT`].
async fn ask(
    client: &OscoreClient<RustCrypto>,
    server: &AiocoapServer,
    request: Message,
) -> Result<Message, Error> {
    timeout(PEER_LIMIT, client.request(server.addr, request))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no answer from the aiocoap server within {PEER_LIMIT:?}; its stderr: {}",
                server.stderr()
            )
        })
}

fn hex_id(ctx: &Plugtest) -> Vec<u8> {
    hex::decode(ctx.id_context.unwrap_or_default()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// aiocoap-client → our server
// ---------------------------------------------------------------------------------------------

/// aiocoap-client with context A against our server (B and D): small GET, 5000-byte GET
/// (inner Block2), POST, 3000-byte POST (inner Block1 + Block2); the server saw every
/// request as OSCORE from kid "" without ID Context; a client without OSCORE gets 4.01.
#[tokio::test]
#[ignore = "needs aiocoap: run `cargo xtask interop`"]
async fn aiocoap_client_to_our_server_plugtest_a() {
    let client = aiocoap_client();
    let d = dir("aiocoap-client-a");
    let server = OurServer::start(&[B, D]).await;
    let creds = aiocoap_client_credentials(&d, &A, server.addr);
    let uri = |path: &str| format!("coap://{}{path}", server.addr);
    let with_creds = |args: &[&str]| -> Vec<String> {
        ["--credentials", &creds]
            .iter()
            .chain(args)
            .map(|s| (*s).to_owned())
            .collect()
    };

    let o = run_ok(&client, &with_creds(&[&uri("/hello")])).await;
    assert_eq!(o.stdout, b"Hello World!");

    let o = run_ok(&client, &with_creds(&[&uri("/whoami")])).await;
    assert_eq!(text(&o.stdout), "oscore kid= ctx=");

    let o = run_ok(&client, &with_creds(&[&uri("/big")])).await;
    assert_eq!(o.stdout.len(), BIG_LEN, "/big length");
    assert!(o.stdout == big_body(), "/big body differs");

    let o = run_ok(
        &client,
        &with_creds(&[
            "-m",
            "POST",
            "--payload",
            "ping from aiocoap",
            &uri("/echo"),
        ]),
    )
    .await;
    assert_eq!(text(&o.stdout), "echo:ping from aiocoap");

    // 3000 bytes: aiocoap sends inner Block1 (1024-byte blocks), we answer inner Block2.
    let upload: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 256) as u8).collect();
    let file = d.join("upload.bin");
    std::fs::write(&file, &upload).unwrap();
    let at_file = format!("@{}", file.display());
    let o = run_ok(
        &client,
        &with_creds(&["-m", "POST", "--payload", &at_file, &uri("/echo")]),
    )
    .await;
    let mut expected = b"echo:".to_vec();
    expected.extend_from_slice(&upload);
    assert_eq!(o.stdout.len(), expected.len(), "large POST response length");
    assert!(o.stdout == expected, "large POST response differs");

    let seen = server.take_seen();
    let paths: Vec<(Code, &str)> = seen.iter().map(|(m, p, ..)| (*m, p.as_str())).collect();
    assert_eq!(
        paths,
        [
            (Code::GET, "/hello"),
            (Code::GET, "/whoami"),
            (Code::GET, "/big"),
            (Code::POST, "/echo"),
            (Code::POST, "/echo"),
        ],
        "every request reached its resource once (block-wise reassembled)"
    );
    assert!(
        seen.iter().all(|(.., id, _)| *id == oscore(b"", None)),
        "{seen:?}"
    );
    assert_eq!(seen[3].3, b"ping from aiocoap");
    assert!(seen[4].3 == upload, "the server saw other upload bytes");
    // Block-wise was inner (RFC 8613 §4.1.3.4.1): every block is its own OSCORE request
    // carrying the Block option inside the ciphertext; no outer Block1/Block2 appeared.
    let exchanges = server.take_exchanges();
    assert!(exchanges.iter().all(|e| !e.outer_block), "{exchanges:?}");
    let big: Vec<Option<u32>> = exchanges
        .iter()
        .filter(|e| e.path == "/big")
        .map(|e| e.inner_block2)
        .collect();
    assert!(
        big.len() >= BIG_LEN.div_ceil(1024),
        "/big exchanges: {big:?}"
    );
    assert!(
        big.iter().skip(1).all(Option::is_some),
        "/big exchanges: {big:?}"
    );
    let post_blocks: Vec<(Option<u32>, Option<u32>)> = exchanges
        .iter()
        .filter(|e| e.path == "/echo")
        .map(|e| (e.inner_block1, e.inner_block2))
        .collect();
    assert!(
        post_blocks.iter().filter_map(|(b1, _)| *b1).eq(0..3u32),
        "3000 bytes in three inner Block1 requests: {post_blocks:?}"
    );
    assert!(
        post_blocks.iter().any(|(_, b2)| b2.is_some()),
        "the 3005-byte answer was fetched with inner Block2: {post_blocks:?}"
    );
    // aiocoap protected all of that with context A (its persisted sequence number moved).
    assert!(aiocoap_next_to_send(&format!("{}/a/", d.display())) > 0);

    // Without credentials, aiocoap-client's plain request is refused with 4.01.
    let o = run_peer(&client, &[uri("/hello")]).await;
    assert_eq!(o.status.code(), Some(1), "plain GET: {o:?}");
    assert!(text(&o.stderr).contains("4.01 Unauthorized"), "{o:?}");
    assert!(server.take_seen().is_empty());

    server.stop().await;
    let _ = std::fs::remove_dir_all(&d);
}

/// aiocoap-client with context C (ID Context, sent as 'kid context') against the same
/// server: our `ContextSet` picks D by kid context; GET small and large.
#[tokio::test]
#[ignore = "needs aiocoap: run `cargo xtask interop`"]
async fn aiocoap_client_to_our_server_plugtest_c_with_id_context() {
    let client = aiocoap_client();
    let d = dir("aiocoap-client-c");
    let server = OurServer::start(&[B, D]).await;
    let creds = aiocoap_client_credentials(&d, &C, server.addr);
    let uri = |path: &str| format!("coap://{}{path}", server.addr);

    let o = run_ok(&client, &["--credentials", &creds, &uri("/whoami")]).await;
    assert_eq!(text(&o.stdout), "oscore kid= ctx=37cbf3210017a2d3");
    let o = run_ok(&client, &["--credentials", &creds, &uri("/big")]).await;
    assert!(o.stdout == big_body(), "/big body differs");

    let seen = server.take_seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let id_context = hex_id(&C);
    assert!(
        seen.iter()
            .all(|(.., id, _)| *id == oscore(b"", Some(&id_context))),
        "{seen:?}"
    );
    server.stop().await;
    let _ = std::fs::remove_dir_all(&d);
}

/// aiocoap (library, `tests/interop/aiocoap_outer_client.py`, context A) with
/// `handle_blockwise=False`: it protects the whole 5 KiB POST and its wire layer cuts the
/// OSCORE message into **outer** Block1 blocks (RFC 8613 §4.1.3.4.2). Our server (policy:
/// reassemble up to 16 KiB, fragment responses) reassembles them before the layer verifies
/// the message once, and protects the 5 KiB + 5 answer whole and cuts it into outer Block2
/// blocks, which aiocoap reassembles and then verifies. Then a GET of `/big` (outer Block2
/// only). Proof that outer block-wise happened: the layer got one protected message of more
/// than 5 KiB, and produced one, while no datagram can exceed 1152 bytes.
#[tokio::test]
#[ignore = "needs aiocoap: run `cargo xtask interop`"]
async fn aiocoap_outer_blockwise_to_our_server() {
    let python = peer::python();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/aiocoap_outer_client.py");
    let d = dir("aiocoap-outer");
    let policy = OuterBlockwise::new(16 * 1024).fragment_responses(true);
    let server = OurServer::start_with_policy(&[B, D], Config::default(), Some(policy)).await;
    let creds = aiocoap_client_credentials(&d, &A, server.addr);
    let out = d.join("response.bin");
    let uri = |path: &str| format!("coap://{}{path}", server.addr);
    let sent: Vec<u8> = (0..5120usize).map(|i| (i % 251) as u8 ^ 0x5A).collect();

    let args = |method: &str, path: &str, len: usize| -> Vec<String> {
        vec![
            script.display().to_string(),
            creds.clone(),
            method.to_owned(),
            uri(path),
            len.to_string(),
            out.display().to_string(),
        ]
    };
    let o = run_ok(&python, &args("POST", "/echo", sent.len())).await;
    assert_eq!(text(&o.stdout).trim(), "CODE 2.04", "{o:?}");
    let mut expected = b"echo:".to_vec();
    expected.extend_from_slice(&sent);
    assert!(
        std::fs::read(&out).unwrap() == expected,
        "echo of 5120 bytes differs"
    );

    let o = run_ok(&python, &args("GET", "/big", 0)).await;
    assert_eq!(text(&o.stdout).trim(), "CODE 2.05", "{o:?}");
    assert!(std::fs::read(&out).unwrap() == big_body(), "/big differs");

    let seen = server.take_seen();
    assert_eq!(
        seen.len(),
        2,
        "each request reached its resource once: {seen:?}"
    );
    assert!(seen[0].3 == sent, "the server saw other upload bytes");
    assert!(seen.iter().all(|(.., id, _)| *id == oscore(b"", None)));
    let exchanges = server.take_exchanges();
    assert_eq!(
        exchanges.len(),
        2,
        "one verification per message: {exchanges:?}"
    );
    assert!(
        exchanges[0].outer_len > 5120 && !exchanges[0].outer_block,
        "the layer got the whole reassembled POST: {exchanges:?}"
    );
    assert!(
        exchanges
            .iter()
            .all(|e| e.inner_block1.is_none() && e.inner_block2.is_none())
    );
    let responses = std::mem::take(&mut *server.responses.lock().unwrap());
    assert_eq!(responses.len(), 2, "{responses:?}");
    assert!(
        responses[0] > 5125 && responses[1] > BIG_LEN,
        "each answer protected whole (then cut into outer Block2): {responses:?}"
    );
    server.stop().await;
    let _ = std::fs::remove_dir_all(&d);
}

// ---------------------------------------------------------------------------------------------
// our OscoreClient → aiocoap server
// ---------------------------------------------------------------------------------------------

/// A 5000-byte POST from our client to aiocoap's OSCORE server. With the client's
/// MAX_UNFRAGMENTED_SIZE at 0 it goes as **inner** Block1 (each 512-byte block its own
/// protected request, 2.31 Continue verified per block; RFC 8613 §4.1.3.4.1), and the
/// 5005-byte answer comes back in inner Block2 blocks fetched without request payload
/// (aiocoap's `Block2Cache` serves them): byte-exact. Control: protected whole, the request
/// goes as **outer** Block1, which aiocoap 0.4.17's `OscoreSiteWrapper` does not reassemble
/// (it unprotects block 0 alone): refused, not a wrong answer.
#[tokio::test]
#[ignore = "needs aiocoap: run `cargo xtask interop`"]
async fn our_client_inner_block1_to_aiocoap_server() {
    let d = dir("our-client-inner-block1");
    let server = AiocoapServer::start(&d, &[B], SERVER_LIFETIME).await;
    let upload: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
    let mut expected = b"echo:".to_vec();
    expected.extend_from_slice(&upload);

    let a = our_client(A.context(), SharedStore::default())
        .await
        .with_max_unfragmented_size(0, ace_oscore::coap::DEFAULT_INNER_SZX);
    let before = a.sender_sequence_number().unwrap();
    let r = ask(
        &a,
        &server,
        Message::request(Code::POST, "/echo").with_payload(upload.clone()),
    )
    .await
    .unwrap();
    assert_eq!(r.code, Code::CHANGED);
    assert_eq!(r.payload.len(), expected.len());
    assert!(r.payload == expected, "echo of 5000 bytes differs");
    let used = a.sender_sequence_number().unwrap() - before;
    assert_eq!(
        used, 14,
        "10 inner Block1 requests + 4 inner Block2 follow-ups, each with its own Partial IV"
    );

    let whole = our_client(A.context(), SharedStore::default()).await;
    let refused = ask(
        &whole,
        &server,
        Message::request(Code::POST, "/echo").with_payload(upload),
    )
    .await;
    assert!(
        matches!(refused, Err(Error::UnprotectedResponse(_))),
        "aiocoap cannot take outer Block1: {refused:?}; stderr: {}",
        server.stderr()
    );
    server.stop().await;
    let _ = std::fs::remove_dir_all(&d);
}

/// Our client with A and with C against aiocoap's `OscoreSiteWrapper` (B and D): small GET,
/// 5000-byte GET (aiocoap answers with inner Block2, which our client follows), POST.
#[tokio::test]
#[ignore = "needs aiocoap: run `cargo xtask interop`"]
async fn our_client_to_aiocoap_server_plugtest_a_and_c() {
    let d = dir("our-client");
    let server = AiocoapServer::start(&d, &[B, D], SERVER_LIFETIME).await;

    let a = our_client(A.context(), SharedStore::default()).await;
    let r = ask(&a, &server, Message::request(Code::GET, "/hello"))
        .await
        .unwrap();
    assert_eq!(
        (r.code, r.payload.as_slice()),
        (Code::CONTENT, &b"Hello World!"[..])
    );

    let r = ask(&a, &server, Message::request(Code::GET, "/big"))
        .await
        .unwrap();
    assert_eq!(r.code, Code::CONTENT);
    assert_eq!(r.payload.len(), BIG_LEN, "/big length");
    assert!(r.payload == big_body(), "/big body differs");
    let after_big = a.sender_sequence_number().unwrap();
    assert!(
        after_big > BIG_LEN.div_ceil(1024) as u64,
        "/hello, then one protected request per inner block of /big: {after_big}"
    );

    let r = ask(
        &a,
        &server,
        Message::request(Code::POST, "/echo").with_payload("ping from ace-oscore"),
    )
    .await
    .unwrap();
    assert_eq!(r.code, Code::CHANGED);
    assert_eq!(r.payload, b"echo:ping from ace-oscore");

    // C (with ID Context in 'kid context'): aiocoap finds D.
    let c = our_client(C.context(), SharedStore::default()).await;
    let r = ask(&c, &server, Message::request(Code::GET, "/hello"))
        .await
        .unwrap();
    assert_eq!(
        (r.code, r.payload.as_slice()),
        (Code::CONTENT, &b"Hello World!"[..])
    );

    server.stop().await;
    let _ = std::fs::remove_dir_all(&d);
}

/// Freshness across a client restart: instance 1 (reservation block 4) sends 6 requests and
/// is dropped without shutdown; instance 2 is restored from the persisted reservation and
/// continues above every number instance 1 used. aiocoap accepts all of them — and, as the
/// control, rejects a third instance that starts again at 0 (a replay) with 4.01, so the
/// acceptance shows that no sequence number was reused.
#[tokio::test]
#[ignore = "needs aiocoap: run `cargo xtask interop`"]
async fn our_client_sequence_numbers_stay_fresh_across_restore() {
    let d = dir("our-client-restore");
    let server = AiocoapServer::start(&d, &[B], SERVER_LIFETIME).await;
    let sequence = SequenceConfig {
        reservation_block: 4,
    };
    let store = SharedStore::default();
    let persisted = |store: &SharedStore| store.0.lock().unwrap().get(b"", None);

    let first = our_client(
        SecurityContext::new(RustCrypto, A.params(sequence)).unwrap(),
        store.clone(),
    )
    .await;
    for _ in 0..6 {
        let r = ask(&first, &server, Message::request(Code::GET, "/hello"))
            .await
            .unwrap();
        assert_eq!(r.payload, b"Hello World!");
    }
    let used_up_to = first.sender_sequence_number().unwrap();
    assert_eq!(used_up_to, 6, "sequence numbers 0..=5 went out");
    let saved = persisted(&store).expect("instance 1 persisted a reservation");
    assert!(
        saved >= used_up_to,
        "persisted {saved} covers all sent numbers"
    );
    drop(first);

    let second = our_client(
        SecurityContext::restore_without_echo(RustCrypto, A.params(sequence), saved).unwrap(),
        store.clone(),
    )
    .await;
    assert_eq!(second.sender_sequence_number().unwrap(), saved);
    for _ in 0..3 {
        let r = ask(&second, &server, Message::request(Code::GET, "/hello"))
            .await
            .unwrap();
        assert_eq!(
            r.payload, b"Hello World!",
            "aiocoap accepted the restored client"
        );
    }
    assert_eq!(second.sender_sequence_number().unwrap(), saved + 3);
    assert!(persisted(&store).unwrap() >= saved + 3);
    drop(second);

    // Control: a context that starts at 0 again replays sequence number 0.
    let replaying = our_client(A.context(), SharedStore::default()).await;
    let err = ask(&replaying, &server, Message::request(Code::GET, "/hello"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::UnprotectedResponse(Code::UNAUTHORIZED.0),
        "aiocoap must reject the replayed sequence number with 4.01"
    );

    server.stop().await;
    let _ = std::fs::remove_dir_all(&d);
}
