//! Fuzz target: the TRL administration queue (`trl_admin_queue`) of
//! `revocation::SqliteTrlStore` read back from the SQLite file (file input: `ace as revoke`
//! writes it from another process, anything with access to the file can).
//!
//! The input is a list of raw rows written with a second connection to the same (shared,
//! in-memory) database: `[sel:u8][kind…][value…][reason…][result…]`, each field
//! `[len:u8][bytes]`; `sel` chooses the kind (`cti`, `hash` or the bytes as text), an
//! explicit (possibly negative) id, values stored as TEXT instead of BLOB, the kind as a
//! BLOB, the reason as TEXT that need not be UTF-8, and whether the result is NULL
//! (pending). Then the AS's side runs as `AsService::apply_revocation_queue`
//! does: `pending_revocations`, `TrlEngine::revoke` on a fixed engine, `complete_revocation`.
//!
//! Invariants: no panic; errors are `Error::Store`; pending entries are exactly the rows
//! without a result, oldest first, with the row's target and reason; a written result reads
//! back equal (`revocation_result`); a row's stored result text decodes to a `QueueResult`
//! that round-trips; after completion nothing is pending.

#![no_main]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use ace_token::UnixTime;
use libfuzzer_sys::fuzz_target;
use revocation::{
    Error, HashAlg, QueueResult, RevokeTarget, SqliteTrlStore, TokenHash, TokenRecord, TrlConfig,
    TrlEngine,
};
use rusqlite::types::Value;
use rusqlite::{Connection, params};

fn engine() -> &'static TrlEngine {
    static E: OnceLock<TrlEngine> = OnceLock::new();
    E.get_or_init(|| {
        let mut e = TrlEngine::new(TrlConfig::default()).expect("valid config");
        for i in 0..6u8 {
            let _ = e.token_issued(TokenRecord {
                hash: TokenHash::compute(HashAlg::Sha256, &[i]),
                cti: Some(vec![i]),
                client_id: "c1".into(),
                audience: "rs1".into(),
                expires_at: Some(UnixTime(100 + 100 * u64::from(i % 2))),
            });
        }
        e
    })
}

fn field<'a>(input: &mut &'a [u8]) -> &'a [u8] {
    let Some((&len, rest)) = input.split_first() else {
        return &[];
    };
    let n = usize::from(len).min(rest.len());
    let (f, rest) = rest.split_at(n);
    *input = rest;
    f
}

struct Row {
    id: Option<i64>,
    kind: String,
    /// Store `kind` as a BLOB instead of TEXT.
    kind_blob: bool,
    value: Value,
    reason: String,
    /// The reason's raw bytes stored as TEXT (possibly not UTF-8), instead of `reason`.
    reason_raw: Option<Vec<u8>>,
    result: Option<String>,
}

fn rows(mut input: &[u8]) -> Vec<Row> {
    let mut out = Vec::new();
    while let Some((&sel, rest)) = input.split_first() {
        input = rest;
        let kind = field(&mut input);
        let value = field(&mut input);
        let reason = field(&mut input);
        let result = field(&mut input);
        let kind = match sel & 3 {
            0 => "cti".to_owned(),
            1 => "hash".to_owned(),
            2 => "hash".to_owned(),
            _ => String::from_utf8_lossy(kind).into_owned(),
        };
        let value = if sel & 4 == 0 {
            Value::Blob(value.to_vec())
        } else {
            Value::Text(String::from_utf8_lossy(value).into_owned())
        };
        let value = match (sel & 3, &value) {
            // A hash of a token the engine knows, so that revocations succeed too.
            (2, Value::Blob(v)) => Value::Blob(
                TokenHash::compute(HashAlg::Sha256, &[v.first().copied().unwrap_or(0) % 8])
                    .as_bytes()
                    .to_vec(),
            ),
            _ => value,
        };
        let id = (sel & 8 != 0).then(|| i64::from(i8::from_le_bytes([sel & 0xf0])));
        out.push(Row {
            id,
            kind,
            value,
            reason: String::from_utf8_lossy(reason).into_owned(),
            kind_blob: sel & 0x60 == 0x40,
            reason_raw: (sel & 0x60 == 0x60).then(|| reason.to_vec()),
            result: (sel & 0x10 != 0).then(|| String::from_utf8_lossy(result).into_owned()),
        });
    }
    out
}

fn store_error<T: core::fmt::Debug>(r: &Result<T, Error>) {
    if let Err(e) = r {
        assert!(matches!(e, Error::Store(_)), "{e:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    static N: AtomicU64 = AtomicU64::new(0);
    let uri = format!(
        "file:adminq{}?mode=memory&cache=shared",
        N.fetch_add(1, Ordering::Relaxed)
    );
    let store = SqliteTrlStore::open(&uri).expect("opens");
    let raw = Connection::open(&uri).expect("second connection");
    let mut written = Vec::new();
    for row in rows(data) {
        let reason = match &row.reason_raw {
            Some(bytes) => Value::Blob(bytes.clone()),
            None => Value::Text(row.reason.clone()),
        };
        let r = raw.execute(
            "INSERT INTO trl_admin_queue (id, kind, value, reason, result) VALUES (?1, \
             CASE WHEN ?6 THEN CAST(?2 AS BLOB) ELSE ?2 END, ?3, \
             CASE WHEN ?7 THEN CAST(?4 AS TEXT) ELSE ?4 END, ?5)",
            params![
                row.id,
                row.kind,
                row.value,
                reason,
                row.result,
                row.kind_blob,
                row.reason_raw.is_some()
            ],
        );
        if r.is_ok() {
            written.push((raw.last_insert_rowid(), row));
        }
    }
    // Stored result texts decode to a result that round-trips.
    for (id, row) in &written {
        let Ok(id) = u64::try_from(*id) else { continue };
        let got = store.revocation_result(id);
        store_error(&got);
        if let (Ok(Some(r)), Some(_)) = (&got, &row.result) {
            store.complete_revocation(id, r).expect("writes");
            assert_eq!(store.revocation_result(id).ok(), Some(Some(r.clone())));
        }
    }
    let pending = store.pending_revocations();
    store_error(&pending);
    let Ok(pending) = pending else { return };
    let expected: Vec<_> = {
        let mut v: Vec<_> = written.iter().filter(|(_, r)| r.result.is_none()).collect();
        v.sort_by_key(|(id, _)| *id);
        v
    };
    assert_eq!(pending.len(), expected.len());
    let mut engine = engine().clone();
    for (entry, (id, row)) in pending.iter().zip(expected) {
        assert_eq!(Ok(entry.id), u64::try_from(*id));
        assert_eq!(entry.reason, row.reason);
        let value = match &row.value {
            Value::Blob(b) => b.clone(),
            Value::Text(t) => t.as_bytes().to_vec(),
            v => panic!("{v:?}"),
        };
        match (&entry.target, row.kind.as_str()) {
            (RevokeTarget::Cti(c), "cti") => assert_eq!(c, &value),
            (RevokeTarget::Hash(h), "hash") => assert_eq!(h.as_bytes(), value.as_slice()),
            (t, k) => panic!("{t:?} from kind {k:?}"),
        }
        let result = match engine.revoke(UnixTime(150), &entry.target, &entry.reason) {
            Ok((status, _)) => QueueResult::Done(status),
            Err(Error::UnknownToken) => QueueResult::UnknownToken,
            Err(e) => QueueResult::Failed(e.to_string()),
        };
        store
            .complete_revocation(entry.id, &result)
            .expect("writes");
        assert_eq!(store.revocation_result(entry.id).ok(), Some(Some(result)));
    }
    assert_eq!(store.pending_revocations().ok().map(|p| p.len()), Some(0));
});
