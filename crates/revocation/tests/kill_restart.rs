//! Kill -9 of the AS while it revokes, restart from SQLite: no acknowledged revocation is
//! forgotten and cursors continue without reuse (digest C.4 item 9).
#![cfg(all(feature = "sqlite", unix))]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use ace_token::UnixTime;
use revocation::*;

const N: u32 = 40;

fn record(i: u32) -> TokenRecord {
    TokenRecord {
        hash: TokenHash::compute(HashAlg::Sha256, &i.to_be_bytes()),
        cti: Some(i.to_be_bytes().to_vec()),
        client_id: "c".into(),
        audience: "rs1".into(),
        expires_at: Some(UnixTime(1_000_000)),
    }
}

fn cfg() -> TrlConfig {
    TrlConfig {
        max_n: 8,
        max_diff_batch: 4,
        ..TrlConfig::default()
    }
}

/// The child: revokes tokens forever, acknowledging each after its effects are committed.
#[test]
#[ignore = "child process of kill_minus_9_keeps_revocations_and_cursors"]
fn child_revoker() {
    let Ok(path) = std::env::var("TRL_KILL_DB") else {
        return;
    };
    let mut store = SqliteTrlStore::open(&path).unwrap();
    let mut e = TrlEngine::new(cfg()).unwrap();
    store
        .apply(
            &e.register(b"rs1".to_vec(), Role::ResourceServer("rs1".into()), &[])
                .unwrap()
                .1,
        )
        .unwrap();
    for i in 0.. {
        store.apply(&e.token_issued(record(i))).unwrap();
        let (_, eff) = e
            .revoke(
                UnixTime(10),
                &RevokeTarget::Cti(i.to_be_bytes().to_vec()),
                "kill test",
            )
            .unwrap();
        store.apply(&eff).unwrap();
        println!("ack {i} {}", e.last_index(b"rs1").unwrap());
    }
}

#[test]
fn kill_minus_9_keeps_revocations_and_cursors() {
    let dir = std::env::temp_dir().join(format!("trl-kill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("trl.sqlite");
    let _ = std::fs::remove_file(&db);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_revoker",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TRL_KILL_DB", &db)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    let mut last_cursor = 0;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("ack ") {
            let mut it = rest.split(' ');
            acked.push(it.next().unwrap().parse::<u32>().unwrap());
            last_cursor = it.next().unwrap().parse::<u64>().unwrap();
            if acked.len() as u32 >= N {
                child.kill().unwrap(); // SIGKILL
                break;
            }
        }
    }
    let _ = child.wait();
    let store = SqliteTrlStore::open(&db).unwrap();
    let mut e = TrlEngine::restore(cfg(), store.load().unwrap()).unwrap();
    for i in &acked {
        assert!(e.is_revoked(&record(*i).hash), "revocation {i} forgotten");
    }
    assert!(store.revocation_log().unwrap().len() >= acked.len());
    let restored_last = e.last_index(b"rs1").unwrap();
    assert!(restored_last >= last_cursor);
    // The old cursor is still valid and the next revocation continues the index.
    let out = e.handle_request(
        UnixTime(11),
        Requester::Peer(b"rs1"),
        &TrlRequest::get(TrlQuery::diff_cursor(0, last_cursor)),
    );
    assert_eq!(out.response.code(), consts::code::CONTENT);
    let next = restored_last + 1;
    let i = acked.last().unwrap() + 1000;
    let _ = e.token_issued(record(i));
    let _ = e
        .revoke(
            UnixTime(12),
            &RevokeTarget::Cti(i.to_be_bytes().to_vec()),
            "after restart",
        )
        .unwrap();
    assert_eq!(e.last_index(b"rs1"), Some(next), "no cursor value reused");
    let _ = std::fs::remove_dir_all(&dir);
}
