//! Several OSCORE clients of one server: the server's contexts all share its Sender ID, and
//! their sequence-number records (ace-oscore `SequenceStore`, ace-store SQLite) are kept per
//! (Sender ID, Recipient ID, ID Context), so each context survives restarts on its own
//! record and never reuses a Partial IV (= an AEAD nonce under its key).

use std::collections::BTreeSet;
use std::net::SocketAddr;

use ace_coap::SecurityLayer;
use ace_oscore::coap::{OscoreLayer, SharedOscoreLayer, from_coap, to_coap};
use ace_oscore::consts::option;
use ace_oscore::{
    ContextParams, ContextSet, Message, OscoreOption, SecurityContext, SequenceConfig,
};
use ace_store::SqliteStore;
use ace_token::RustCrypto;

const SERVER: &[u8] = b"rs";

fn params(secret: &[u8], sender: &[u8], recipient: &[u8]) -> ContextParams {
    let mut p = ContextParams::new(secret, b"", sender, recipient);
    p.sequence = SequenceConfig {
        reservation_block: 4,
    };
    p
}

fn get() -> Message {
    Message::new(0x01).with_option(option::URI_PATH, b"temp".to_vec())
}

#[test]
fn two_clients_of_one_server_persist_independently_across_restarts() {
    let dir = std::env::temp_dir().join(format!("ace-server-seq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rs.sqlite");
    let _ = std::fs::remove_file(&path);
    let peer: SocketAddr = "127.0.0.1:5683".parse().unwrap();
    let clients_def: [(&[u8], [u8; 16]); 2] = [(b"c1", [1; 16]), (b"c2", [2; 16])];
    let mut clients: Vec<SecurityContext<RustCrypto>> = clients_def
        .iter()
        .map(|(id, secret)| SecurityContext::new(RustCrypto, params(secret, id, SERVER)).unwrap())
        .collect();
    // Every Partial IV the server sent, per context.
    let mut used: [BTreeSet<u64>; 2] = [BTreeSet::new(), BTreeSet::new()];
    for run in 0..5u64 {
        // "Restart": a new layer over the same file, contexts restored from their records
        // (and waiting for Echo, RFC 8613 Appendix B.1.2).
        let db = SqliteStore::open(&path).unwrap();
        let mut set = ContextSet::new();
        for (id, secret) in &clients_def {
            let start = db
                .sequence_store()
                .get_context(SERVER, id, None)
                .unwrap()
                .unwrap_or(0);
            if run > 0 {
                let i = usize::from(*id == b"c2");
                // Restored after everything the context ever sent.
                assert!(used[i].iter().all(|&p| p < start), "run {run}: {start}");
            }
            set.insert(
                SecurityContext::restore(
                    RustCrypto,
                    params(secret, SERVER, id),
                    start,
                    &[run as u8; 8],
                )
                .unwrap(),
            );
        }
        let mut layer = SharedOscoreLayer::new(OscoreLayer::new(set, db.sequence_store()));
        // c1 sends 6 requests per run, c2 one: each is answered with an Echo challenge
        // protected under a fresh Partial IV of the server's context.
        for (i, n) in [(0usize, 6), (1, 1)] {
            for _ in 0..n {
                let sent = clients[i].protect_request(&get()).unwrap();
                let answer = match layer.unprotect(peer, to_coap(sent.message)) {
                    Err(m) => m,
                    Ok(_) => panic!("a restored context must ask for Echo first"),
                };
                let outer = from_coap(&answer);
                let opt = OscoreOption::decode(outer.option(option::OSCORE).unwrap()).unwrap();
                let piv = opt.partial_iv_u64().expect("the server's own Partial IV");
                assert!(used[i].insert(piv), "context {i}: Partial IV {piv} reused");
                // Protected with this client's context (not the other one sharing "rs").
                let mut binding = sent.binding;
                let inner = clients[i].unprotect_response(&mut binding, &outer).unwrap();
                assert_eq!(inner.code, 0x81);
                assert!(inner.option(option::ECHO).is_some());
            }
        }
        // Dropped without any shutdown (as after kill -9): only what was persisted counts.
        drop(layer);
        drop(db);
    }
    let db = SqliteStore::open(&path).unwrap();
    let seq = db.sequence_store();
    let (r1, r2) = (
        seq.get_context(SERVER, b"c1", None).unwrap().unwrap(),
        seq.get_context(SERVER, b"c2", None).unwrap().unwrap(),
    );
    // Independent records: c2's is not pushed up by c1's (30 Partial IVs vs 5).
    assert_eq!(used[0].len(), 30);
    assert_eq!(used[1].len(), 5);
    assert!(r1 > *used[0].iter().max().unwrap());
    assert!(r2 > *used[1].iter().max().unwrap());
    assert!(r2 < r1, "{r2} vs {r1}");
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}
