//! The broker's SQLite persistence across restarts (feature `persistence`), on 127.0.0.1:
//! the file is untrusted input at start (a hostile or corrupted row neither stops nor crashes
//! the broker), and a session restored after a restart grants nothing by itself: no token is
//! persisted, so the client presents a fresh token and proves possession again, and the
//! restored state is re-authorized with that token's scope. Every test is bounded in time.
#![cfg(all(feature = "broker", feature = "client", feature = "persistence"))]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use mqtt_tls_profile::Error;
use mqtt_tls_profile::driver::{ClientOptions, MqttClient};
use mqtt_tls_profile::mqtt5_protocol::QoS;
use mqtt_tls_profile::token_source::Credentials;
use support::*;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(40);
const WIDE: &str = r#"[["room/+/temp",["pub","sub"]],["news/#",["pub","sub"]]]"#;
const NARROW: &str = r#"[["room/+/temp",["pub","sub"]]]"#;
const QUIET: Duration = Duration::from_millis(400);

fn opts(b: &TestBroker, id: &str, clean: bool, send_token: bool) -> ClientOptions {
    let mut o = ClientOptions::new(id, "localhost", b.client_tls());
    o.clean_start = clean;
    o.session_expiry = 60;
    o.send_token = send_token;
    o
}

fn db_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mqtt-persist-restart-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broker.sqlite");
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    path
}

/// The first run on `path`: `id` (Clean Start 1) subscribes to each of `filters` with `creds`
/// and disconnects, a publisher sends each of `msgs` (QoS 1), and the broker stops: the
/// session is only in the file.
async fn first_run(
    a: &TestAs,
    path: &Path,
    id: &str,
    creds: &Credentials,
    filters: &[&str],
    msgs: &[(&str, &[u8])],
) {
    let b = broker(a, path).await;
    let mut s = MqttClient::connect(b.addr, opts(&b, id, true, true), fixed(creds.clone()))
        .await
        .unwrap();
    for f in filters {
        s.subscribe(f, QoS::AtLeastOnce).await.unwrap();
    }
    s.disconnect().await.unwrap();
    let mut p = MqttClient::connect(
        b.addr,
        opts(&b, "publisher", true, true),
        fixed(local_token(a, &ed(), WIDE, 600)),
    )
    .await
    .unwrap();
    for &(topic, payload) in msgs {
        p.publish(topic, payload, QoS::AtLeastOnce, false)
            .await
            .unwrap();
    }
    p.disconnect().await.unwrap();
    b.finish().await;
}

async fn broker(a: &TestAs, path: &Path) -> TestBroker {
    let path = path.to_path_buf();
    start_broker(a.auth_config(), move |c| {
        c.max_session_expiry = 60;
        c.persistence = Some(path);
    })
    .await
}

/// A session and a queued message stored by one run; hostile rows added to the file while
/// the broker is down; the next run starts (no panic, no refusal to start), skips the bad
/// rows, and the good session resumes.
#[tokio::test]
async fn hostile_rows_neither_crash_nor_stop_the_broker() {
    timeout(LIMIT, async {
        let path = db_path("hostile");
        let a = start_as(WIDE, 600, false).await;
        let creds = local_token(&a, &ed(), WIDE, 600);
        first_run(
            &a,
            &path,
            "s1",
            &creds,
            &["room/+/temp"],
            &[("room/1/temp", b"kept")],
        )
        .await;

        {
            let db = rusqlite::Connection::open(&path).unwrap();
            db.execute_batch(
                // A Client Identifier that is not text; a live session whose Session
                // Expiry Interval is i64::MAX (overflowed `Instant + Duration`); state that
                // is not JSON; a stored end that is not a number; a truncated packet.
                "INSERT INTO sessions VALUES (X'FF00', NULL, 60, '[]', '[]', '[]');
                 INSERT INTO sessions VALUES ('forever', NULL, 9223372036854775807, '[[\"#\",2]]', '[]', '[]');
                 INSERT INTO sessions VALUES ('stored-forever', 9223372036854775807, 0, '[]', '[]', '[]');
                 INSERT INTO sessions VALUES ('bad-json', NULL, 60, '[[', '[]', '[]');
                 INSERT INTO sessions VALUES ('bad-end', 'tomorrow', 60, '[]', '[]', '[]');
                 INSERT INTO session_msgs VALUES ('s1', 1000, NULL, X'3105');
                 INSERT INTO retained VALUES ('r/1', X'31', NULL);",
            )
            .unwrap();
        }

        let b = broker(&a, &path).await;
        let mut s = MqttClient::connect(b.addr, opts(&b, "s1", false, true), fixed(creds))
            .await
            .unwrap();
        assert!(s.session_present(), "the good session survived the bad rows");
        let m = s.recv(Some(Duration::from_secs(5))).await.unwrap();
        assert_eq!(m.payload, b"kept");
        assert!(matches!(s.recv(Some(QUIET)).await, Err(Error::Timeout(_))));
        s.disconnect().await.unwrap();
        b.finish().await;
    })
    .await
    .unwrap();
}

/// After a restart the broker holds no token: resuming without presenting one is refused,
/// a thief's key cannot resume, and the owner's fresh, narrower token prunes the restored
/// subscriptions and queued messages (MQ-036 / R15 across a restart).
#[tokio::test]
async fn restored_session_grants_nothing_without_a_fresh_token() {
    timeout(LIMIT, async {
        let path = db_path("grant");
        let a = start_as(WIDE, 600, false).await;
        let creds = local_token(&a, &ed(), WIDE, 600);
        // Stopped without the client: the session is only in the file.
        first_run(
            &a,
            &path,
            "s2",
            &creds,
            &["room/+/temp", "news/#"],
            &[("news/x", b"secret"), ("room/1/temp", b"ok")],
        )
        .await;

        let b = broker(&a, &path).await;
        // No token in CONNECT: before the restart the broker remembered one for "s2"; after
        // it, nothing is remembered, so the connection is refused.
        let r =
            MqttClient::connect(b.addr, opts(&b, "s2", false, false), fixed(creds.clone())).await;
        assert!(matches!(r, Err(Error::Refused(_))), "{r:?}");
        // A thief presenting the owner's token with another key: PoP fails.
        let mut thief = creds.clone();
        thief.key = mqtt_tls_profile::pop::ClientKey::Private(ed());
        let r = MqttClient::connect(b.addr, opts(&b, "s2", false, true), fixed(thief)).await;
        assert!(matches!(r, Err(Error::Refused(0x87))), "{r:?}");

        // The owner with a fresh token of narrower scope.
        let mut s = MqttClient::connect(
            b.addr,
            opts(&b, "s2", false, true),
            fixed(local_token(&a, &ed(), NARROW, 600)),
        )
        .await
        .unwrap();
        assert!(s.session_present());
        let m = s.recv(Some(Duration::from_secs(5))).await.unwrap();
        assert_eq!(m.payload, b"ok", "only what the new token allows");
        assert!(matches!(s.recv(Some(QUIET)).await, Err(Error::Timeout(_))));
        // The restored news/# subscription is gone too.
        let mut p = MqttClient::connect(
            b.addr,
            opts(&b, "publisher", true, true),
            fixed(local_token(&a, &ed(), WIDE, 600)),
        )
        .await
        .unwrap();
        p.publish("news/y", b"later", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert!(matches!(s.recv(Some(QUIET)).await, Err(Error::Timeout(_))));
        p.disconnect().await.unwrap();
        s.disconnect().await.unwrap();
        b.finish().await;
    })
    .await
    .unwrap();
}
