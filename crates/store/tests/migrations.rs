//! Opening a file written at an older schema version migrates it and keeps its data.

use ace_core::{ClientInfo, IssuedToken, TokenStore};
use ace_store::{SqliteStore, schema};
use ace_token::{AceProfile, Confirmation, Scope, UnixTime};

#[test]
fn a_version_1_file_is_migrated_to_the_latest_version() {
    let dir = std::env::temp_dir().join(format!("ace-store-migrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("v1.db");
    let _ = std::fs::remove_file(&path);

    // Write a version-1 file the way version 1 of this crate did, with a token in it.
    let token = IssuedToken {
        cti: b"cti-1".to_vec(),
        token: b"token-1".to_vec(),
        client_id: "c".into(),
        audience: "rs1".into(),
        scope: Scope::Text("read".into()),
        issued_at: UnixTime(10),
        expires_at: Some(UnixTime(20)),
        exi: None,
        cnf: Confirmation::kid(b"k".to_vec()),
        ace_profile: AceProfile(1),
        cnonce: None,
        revoked: false,
    };
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let v1 = schema::MIGRATIONS.first().unwrap();
        assert_eq!(v1.version, 1);
        conn.execute_batch(v1.sql).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        // cnf {3: h'6b'} as version 1 stored it.
        conn.execute(
            "INSERT INTO as_tokens (cti, token, client_id, audience, scope_kind, scope, \
             issued_at, expires_at, exi, ends_at, cnf, ace_profile, cnonce, revoked) \
             VALUES (?1, ?2, 'c', 'rs1', 0, ?3, 10, 20, NULL, 20, ?4, 1, NULL, 0)",
            rusqlite::params![
                b"cti-1".to_vec(),
                b"token-1".to_vec(),
                b"read".to_vec(),
                vec![0xa1, 0x03, 0x41, b'k']
            ],
        )
        .unwrap();
        let has_clients: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'clients'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(has_clients, 0, "version 1 has no registry tables");
    }

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::LATEST_VERSION);
    const { assert!(schema::LATEST_VERSION >= 2) };
    // Old data is intact and readable through the trait.
    assert_eq!(
        store.token_store().find_by_token(b"token-1"),
        Some(token.clone())
    );
    // Tables of version 2 work.
    store
        .client_registry()
        .put_client(&ClientInfo::new("c"))
        .unwrap();
    assert_eq!(store.client_registry().client_ids().unwrap(), vec!["c"]);
    store.sequence_store().try_persist(b"s", None, 5).unwrap();
    store.integrity_check().unwrap();
    drop(store);

    // Reopening does not migrate again and keeps everything.
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::LATEST_VERSION);
    assert_eq!(store.issued_tokens().unwrap(), vec![token]);
    drop(store);

    // A file from a newer version is refused, not modified.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", schema::LATEST_VERSION + 1)
            .unwrap();
    }
    assert!(matches!(
        SqliteStore::open(&path),
        Err(ace_store::Error::SchemaTooNew { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A version-2 file's OSCORE sequence records (keyed by Sender ID and ID Context) migrate to
/// version 3 as records without Recipient ID: every context with that Sender ID restores at
/// least from them, and new records are per context.
#[test]
fn version_2_sequence_records_migrate_to_per_context_records() {
    let dir = std::env::temp_dir().join(format!("ace-store-mig3-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("v2.sqlite");
    let _ = std::fs::remove_file(&path);
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        let tx = conn.transaction().unwrap();
        for m in schema::MIGRATIONS.iter().filter(|m| m.version <= 2) {
            tx.execute_batch(m.sql).unwrap();
        }
        tx.execute(
            "INSERT INTO oscore_sequences (sender_id, has_context, id_context, value) \
             VALUES (X'7273', 0, X'', 96), (X'7273', 1, X'6162', 12)",
            [],
        )
        .unwrap();
        tx.pragma_update(None, "user_version", 2).unwrap();
        tx.commit().unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::LATEST_VERSION);
    const { assert!(schema::LATEST_VERSION >= 3) };
    let seq = store.sequence_store();
    assert_eq!(seq.get_context(b"rs", b"c1", None).unwrap(), Some(96));
    assert_eq!(seq.get_context(b"rs", b"c2", None).unwrap(), Some(96));
    assert_eq!(
        seq.get_context(b"rs", b"c1", Some(b"ab")).unwrap(),
        Some(12)
    );
    seq.try_persist_context(b"rs", b"c1", None, 200).unwrap();
    assert_eq!(seq.get_context(b"rs", b"c1", None).unwrap(), Some(200));
    assert_eq!(seq.get_context(b"rs", b"c2", None).unwrap(), Some(96));
    store.integrity_check().unwrap();
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
