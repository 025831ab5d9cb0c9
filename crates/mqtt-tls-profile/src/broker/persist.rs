//! Sessions and retained messages in a SQLite file (feature `persistence`,
//! [`super::BrokerConfig::persistence`]), so that they survive a broker restart (MQTT v5
//! §4.1: session state with a Session Expiry Interval > 0 and retained messages are kept by
//! the Server).
//!
//! Written through on every change (WAL journal, `synchronous = NORMAL`: a committed change
//! survives the process being killed). Messages are stored as encoded v5 PUBLISH packets (the
//! crate's own codec), subscriptions and packet ids as JSON. Tokens are never stored: every
//! connection after a restart presents and proves its token again.

use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::sync::Mutex;

use ace_token::UnixTime;
use mqtt5_protocol::packet::publish::PublishPacket;
use mqtt5_protocol::{Packet, QoS};
use rusqlite::{Connection, params};

use super::{Msg, StoredSession};
use crate::consts::protocol_level;
use crate::wire;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS retained (
    topic TEXT PRIMARY KEY,
    packet BLOB NOT NULL,
    expires_at INTEGER
);
CREATE TABLE IF NOT EXISTS sessions (
    client_id TEXT PRIMARY KEY,
    ends_at INTEGER,
    expiry INTEGER NOT NULL,
    subs TEXT NOT NULL,
    released TEXT NOT NULL,
    inbound_qos2 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS session_msgs (
    client_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    pid INTEGER,
    packet BLOB NOT NULL,
    PRIMARY KEY (client_id, seq)
);
";

/// The open database.
pub(super) struct Persist {
    db: Mutex<Connection>,
}

/// A retained message as loaded.
pub(super) struct LoadedRetained {
    pub(super) msg: Msg,
    pub(super) expires_at: Option<UnixTime>,
}

/// A session as loaded, with the time it ends.
pub(super) struct LoadedSession {
    pub(super) client_id: String,
    pub(super) session: StoredSession,
    pub(super) ends_at: UnixTime,
}

fn encode_msg(m: &Msg) -> Option<Vec<u8>> {
    let qos = match m.qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    };
    let mut p = PublishPacket::new(m.topic.clone(), m.payload.to_vec(), qos);
    p.properties = m.properties.clone();
    p.retain = m.retain;
    if m.qos > 0 {
        p.packet_id = Some(1);
    }
    wire::encode_to_vec(&Packet::Publish(p)).ok()
}

fn decode_msg(bytes: &[u8]) -> Option<Msg> {
    match wire::decode_exact(bytes, protocol_level::V5) {
        Ok(Packet::Publish(p)) => Some(Msg {
            topic: p.topic_name,
            payload: p.payload.to_vec().into(),
            qos: p.qos as u8,
            retain: p.retain,
            properties: p.properties,
        }),
        _ => None,
    }
}

fn secs(t: UnixTime) -> i64 {
    i64::try_from(t.0).unwrap_or(i64::MAX)
}

fn unix(s: i64) -> UnixTime {
    UnixTime(u64::try_from(s).unwrap_or(0))
}

/// Logs a failed write (the broker keeps serving from memory).
fn logged(what: &str, r: rusqlite::Result<()>) {
    if let Err(e) = r {
        tracing::warn!(error = %e, "persistence: {what} failed");
    }
}

/// Longest JSON text read for one column of a session (subscriptions, packet ids).
const MAX_JSON: usize = 1 << 20;

/// What [`Persist::load`] reads at most (from the broker's configuration in force now).
pub(super) struct Limits {
    /// Longest Session Expiry Interval granted now, seconds.
    pub(super) max_session_expiry: u32,
    /// Most sessions.
    pub(super) max_sessions: usize,
    /// Most queued messages per session.
    pub(super) queue_len: usize,
    /// Largest stored packet.
    pub(super) max_packet_size: usize,
}

/// A row that does not have the types this schema writes (`None`, warned) versus a failing
/// database (the error).
fn skip_bad_row<T>(row: rusqlite::Result<T>, what: &str) -> rusqlite::Result<Option<T>> {
    match row {
        Ok(v) => Ok(Some(v)),
        Err(
            e @ (rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)),
        ) => {
            tracing::warn!(error = %e, "persistence: skipped a malformed {what} row");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// A JSON column as `$t`, `None` when malformed or longer than [`MAX_JSON`].
macro_rules! json_field {
    ($text:expr, $t:ty) => {{
        let text: &str = $text;
        if text.len() > MAX_JSON {
            None
        } else {
            serde_json::from_str::<$t>(text).ok()
        }
    }};
}

/// JSON text of a list (`[]` if it cannot be encoded, which plain lists always can).
macro_rules! json {
    ($v:expr) => {
        serde_json::to_string($v).unwrap_or_else(|_| String::from("[]"))
    };
}

impl Persist {
    /// Opens (creates) the database.
    pub(super) fn open(path: &Path) -> rusqlite::Result<Self> {
        let db = Connection::open(path)?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        db.execute_batch(SCHEMA)?;
        Ok(Self { db: Mutex::new(db) })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let mut db = self.db.lock().map_err(|_| rusqlite::Error::InvalidQuery)?;
        f(&mut db)
    }

    /// Drops what ended before `now`, then reads the retained messages and the sessions. A
    /// session that was in use when the broker stopped ends `expiry` seconds after `now`.
    ///
    /// The file is input like any other: a row of the wrong type, undecodable JSON or
    /// packet, a packet over [`Limits::max_packet_size`] is skipped with a warning (never a
    /// panic, never half a session); a session never ends later than
    /// [`Limits::max_session_expiry`] after `now` (the configuration in force now, not the
    /// one that wrote the row); at most [`Limits::max_sessions`] sessions and
    /// [`Limits::queue_len`] queued messages per session are read. Only a failing database
    /// (I/O, corruption) is an error.
    pub(super) fn load(
        &self,
        now: UnixTime,
        limits: &Limits,
    ) -> rusqlite::Result<(Vec<LoadedRetained>, Vec<LoadedSession>)> {
        self.with(|db| {
            let t = secs(now);
            db.execute("DELETE FROM retained WHERE expires_at <= ?1", [t])?;
            db.execute(
                "DELETE FROM session_msgs WHERE client_id IN \
                 (SELECT client_id FROM sessions WHERE ends_at <= ?1)",
                [t],
            )?;
            db.execute("DELETE FROM sessions WHERE ends_at <= ?1", [t])?;
            let max_packet = i64::try_from(limits.max_packet_size).unwrap_or(i64::MAX);
            let mut retained = Vec::new();
            // Oversized blobs are not even read (NULL instead of the packet).
            let mut q = db.prepare(
                "SELECT CASE WHEN length(packet) <= ?1 THEN packet END, expires_at FROM retained",
            )?;
            let rows = q.query_map([max_packet], |r| {
                Ok((
                    r.get::<_, Option<Vec<u8>>>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                ))
            })?;
            for row in rows {
                let Some((packet, exp)) = skip_bad_row(row, "retained message")? else {
                    continue;
                };
                match packet.as_deref().and_then(decode_msg) {
                    Some(msg) => retained.push(LoadedRetained {
                        msg,
                        expires_at: exp.map(unix),
                    }),
                    None => tracing::warn!(
                        "persistence: skipped an undecodable or oversized retained message"
                    ),
                }
            }
            let mut sessions = Vec::new();
            let mut q = db.prepare(
                "SELECT client_id, ends_at, expiry, subs, released, inbound_qos2 FROM sessions \
                 ORDER BY ends_at IS NULL DESC, ends_at DESC",
            )?;
            let rows = q.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })?;
            let mut msgs = db.prepare(
                "SELECT pid, CASE WHEN length(packet) <= ?2 THEN packet END FROM session_msgs \
                 WHERE client_id = ?1 ORDER BY seq LIMIT ?3",
            )?;
            let queue_len = i64::try_from(limits.queue_len).unwrap_or(i64::MAX);
            let latest = now.saturating_add(u64::from(limits.max_session_expiry));
            for row in rows {
                if sessions.len() >= limits.max_sessions {
                    tracing::warn!(
                        max = limits.max_sessions,
                        "persistence: more stored sessions than max_sessions; the rest is not loaded"
                    );
                    break;
                }
                let Some((client_id, ends_at, expiry, subs, released, inbound)) =
                    skip_bad_row(row, "session")?
                else {
                    continue;
                };
                let (Some(subs), Some(released), Some(inbound_qos2)) = (
                    json_field!(&subs, Vec<(String, u8)>),
                    json_field!(&released, Vec<u16>),
                    json_field!(&inbound, HashSet<u16>),
                ) else {
                    tracing::warn!("persistence: skipped a session with malformed state");
                    continue;
                };
                let mut s = StoredSession {
                    subs,
                    released,
                    inbound_qos2,
                    ..StoredSession::default()
                };
                let mut pending = VecDeque::new();
                let items = msgs.query_map(params![&client_id, max_packet, queue_len], |r| {
                    Ok((
                        r.get::<_, Option<i64>>(0)?,
                        r.get::<_, Option<Vec<u8>>>(1)?,
                    ))
                })?;
                for item in items {
                    let Some((pid, packet)) = skip_bad_row(item, "queued message")? else {
                        continue;
                    };
                    let Some(m) = packet.as_deref().and_then(decode_msg) else {
                        tracing::warn!(
                            "persistence: skipped an undecodable or oversized queued message"
                        );
                        continue;
                    };
                    match pid.and_then(|p| u16::try_from(p).ok()) {
                        Some(pid) => s.unacked.push((pid, m)),
                        None => pending.push_back(m),
                    }
                }
                s.pending = pending;
                let ends_at = ends_at
                    .map_or_else(
                        || now.saturating_add(u64::try_from(expiry).unwrap_or(0)),
                        unix,
                    )
                    .min(latest);
                if ends_at <= now {
                    continue;
                }
                sessions.push(LoadedSession {
                    client_id,
                    session: s,
                    ends_at,
                });
            }
            Ok((retained, sessions))
        })
    }

    /// Stores (replaces) the retained message of `msg.topic`.
    pub(super) fn put_retained(&self, msg: &Msg, expires_at: Option<UnixTime>) {
        let Some(packet) = encode_msg(msg) else {
            return;
        };
        logged(
            "storing a retained message",
            self.with(|db| {
                db.execute(
                    "INSERT OR REPLACE INTO retained (topic, packet, expires_at) VALUES (?1, ?2, ?3)",
                    params![msg.topic, packet, expires_at.map(secs)],
                )
                .map(drop)
            }),
        );
    }

    /// Removes the retained message of `topic`.
    pub(super) fn delete_retained(&self, topic: &str) {
        logged(
            "removing a retained message",
            self.with(|db| {
                db.execute("DELETE FROM retained WHERE topic = ?1", [topic])
                    .map(drop)
            }),
        );
    }

    /// Removes the retained messages that expired at `now`.
    pub(super) fn delete_expired_retained(&self, now: UnixTime) {
        logged(
            "removing expired retained messages",
            self.with(|db| {
                db.execute("DELETE FROM retained WHERE expires_at <= ?1", [secs(now)])
                    .map(drop)
            }),
        );
    }

    /// Stores the whole session of a disconnected client, ending at `ends_at`.
    pub(super) fn save_session(&self, client_id: &str, s: &StoredSession, ends_at: UnixTime) {
        logged(
            "storing a session",
            self.with(|db| {
                let tx = db.transaction()?;
                tx.execute("DELETE FROM session_msgs WHERE client_id = ?1", [client_id])?;
                tx.execute(
                    "INSERT OR REPLACE INTO sessions \
                     (client_id, ends_at, expiry, subs, released, inbound_qos2) \
                     VALUES (?1, ?2, 0, ?3, ?4, ?5)",
                    params![
                        client_id,
                        secs(ends_at),
                        json!(&s.subs),
                        json!(&s.released),
                        json!(&s.inbound_qos2),
                    ],
                )?;
                let mut seq: i64 = 0;
                let unacked = s.unacked.iter().map(|(pid, m)| (Some(*pid), m));
                let pending = s.pending.iter().map(|m| (None, m));
                for (pid, m) in unacked.chain(pending) {
                    let Some(packet) = encode_msg(m) else {
                        continue;
                    };
                    seq += 1;
                    tx.execute(
                        "INSERT INTO session_msgs (client_id, seq, pid, packet) \
                         VALUES (?1, ?2, ?3, ?4)",
                        params![client_id, seq, pid, packet],
                    )?;
                }
                tx.commit()
            }),
        );
    }

    /// Stores the session of a connected client (subscriptions only; its messages are with
    /// the connection): after a restart it ends `expiry` seconds after the restart.
    pub(super) fn save_live(&self, client_id: &str, subs: &[(String, u8)], expiry: u32) {
        logged(
            "storing a session",
            self.with(|db| {
                let tx = db.transaction()?;
                tx.execute("DELETE FROM session_msgs WHERE client_id = ?1", [client_id])?;
                tx.execute(
                    "INSERT OR REPLACE INTO sessions \
                     (client_id, ends_at, expiry, subs, released, inbound_qos2) \
                     VALUES (?1, NULL, ?2, ?3, '[]', '[]')",
                    params![client_id, expiry, json!(subs)],
                )?;
                tx.commit()
            }),
        );
    }

    /// Updates the subscriptions of a stored session.
    pub(super) fn update_subs(&self, client_id: &str, subs: &[(String, u8)]) {
        logged(
            "storing subscriptions",
            self.with(|db| {
                db.execute(
                    "UPDATE sessions SET subs = ?2 WHERE client_id = ?1",
                    params![client_id, json!(subs)],
                )
                .map(drop)
            }),
        );
    }

    /// Appends a message routed to a disconnected client's session.
    pub(super) fn push_pending(&self, client_id: &str, m: &Msg) {
        let Some(packet) = encode_msg(m) else {
            return;
        };
        logged(
            "queueing a message",
            self.with(|db| {
                db.execute(
                    "INSERT INTO session_msgs (client_id, seq, pid, packet) VALUES (?1, \
                     (SELECT COALESCE(MAX(seq), 0) + 1 FROM session_msgs WHERE client_id = ?1), \
                     NULL, ?2)",
                    params![client_id, packet],
                )
                .map(drop)
            }),
        );
    }

    /// Removes a session.
    pub(super) fn delete_session(&self, client_id: &str) {
        logged(
            "removing a session",
            self.with(|db| {
                let tx = db.transaction()?;
                tx.execute("DELETE FROM session_msgs WHERE client_id = ?1", [client_id])?;
                tx.execute("DELETE FROM sessions WHERE client_id = ?1", [client_id])?;
                tx.commit()
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = UnixTime(1_800_000_000);

    fn limits() -> Limits {
        Limits {
            max_session_expiry: 3600,
            max_sessions: 100,
            queue_len: 5,
            max_packet_size: 1024,
        }
    }

    fn open(name: &str) -> (Persist, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("mqtt-persist-unit-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("broker.sqlite");
        let _ = std::fs::remove_file(&path);
        (Persist::open(&path).unwrap(), path)
    }

    fn msg(topic: &str) -> Msg {
        Msg {
            topic: topic.to_owned(),
            payload: b"x".to_vec().into(),
            qos: 1,
            retain: false,
            properties: mqtt5_protocol::Properties::default(),
        }
    }

    fn exec(p: &Persist, sql: &str) {
        p.with(|db| db.execute_batch(sql)).unwrap();
    }

    /// A good session next to hostile ones: each hostile row is skipped, the good one is
    /// loaded whole, and nothing panics.
    #[test]
    fn hostile_rows_are_skipped_not_fatal() {
        let (p, _) = open("hostile");
        p.save_session(
            "good",
            &StoredSession {
                subs: vec![("a/#".to_owned(), 1)],
                pending: VecDeque::from([msg("a/1")]),
                ..StoredSession::default()
            },
            NOW.saturating_add(60),
        );
        p.put_retained(&msg("r/ok"), None);
        exec(
            &p,
            "INSERT INTO sessions VALUES (X'FF00', NULL, 60, '[]', '[]', '[]');
             INSERT INTO sessions VALUES ('wrong-type', 'soon', 60, '[]', '[]', '[]');
             INSERT INTO sessions VALUES ('bad-json', NULL, 60, '[[\"a\",', '[]', '[]');
             INSERT INTO sessions VALUES ('bad-ids', NULL, 60, '[]', '[70000]', '[]');
             INSERT INTO sessions VALUES ('blob-subs', NULL, 60, X'5B5D', '[]', '[]');
             INSERT INTO session_msgs VALUES ('good', 100, 'x', X'00');
             INSERT INTO session_msgs VALUES ('good', 101, NULL, X'3000');
             INSERT INTO retained VALUES ('r/trunc', X'3105', NULL);
             INSERT INTO retained VALUES ('r/type', 42, NULL);",
        );
        let (retained, sessions) = p.load(NOW, &limits()).unwrap();
        let ids: Vec<&str> = sessions.iter().map(|s| s.client_id.as_str()).collect();
        assert_eq!(ids, ["good"], "only the well-formed session");
        let good = &sessions[0].session;
        assert_eq!(good.subs, vec![("a/#".to_owned(), 1)]);
        assert_eq!(good.pending.len(), 1, "the bad queued rows are skipped");
        assert_eq!(sessions[0].ends_at, NOW.saturating_add(60));
        let topics: Vec<&str> = retained.iter().map(|r| r.msg.topic.as_str()).collect();
        assert_eq!(topics, ["r/ok"]);
    }

    /// A stored end (or a live session's expiry) beyond the configured maximum: capped at
    /// `now + max_session_expiry` (it once overflowed `Instant + Duration` in `Broker::bind`
    /// and panicked); with continuation switched off the session is not loaded.
    #[test]
    fn session_end_is_capped_by_the_configuration_in_force() {
        let (p, _) = open("ends");
        exec(
            &p,
            "INSERT INTO sessions VALUES ('live-huge', NULL, 9223372036854775807, '[]', '[]', '[]');
             INSERT INTO sessions VALUES ('stored-huge', 9223372036854775807, 0, '[]', '[]', '[]');
             INSERT INTO sessions VALUES ('negative', NULL, -5, '[]', '[]', '[]');",
        );
        let (_, sessions) = p.load(NOW, &limits()).unwrap();
        assert_eq!(sessions.len(), 2);
        for s in &sessions {
            assert_eq!(s.ends_at, NOW.saturating_add(3600), "{}", s.client_id);
        }
        let off = Limits {
            max_session_expiry: 0,
            ..limits()
        };
        let (_, sessions) = p.load(NOW, &off).unwrap();
        assert!(sessions.is_empty());
    }

    /// Bounded reads: queued messages per session by `queue_len`, sessions by
    /// `max_sessions`, blobs by `max_packet_size`, JSON by `MAX_JSON`.
    #[test]
    fn loading_is_bounded() {
        let (p, _) = open("bounded");
        for i in 0..3 {
            p.save_session(
                &format!("s{i}"),
                &StoredSession::default(),
                NOW.saturating_add(60 + i),
            );
        }
        for _ in 0..50 {
            p.push_pending("s2", &msg("a/1"));
        }
        let mut big = msg("r/big");
        big.payload = vec![0u8; 4096].into();
        p.put_retained(&big, None);
        let huge = format!("[{}]", vec!["[\"t\",0]"; MAX_JSON / 7].join(","));
        p.with(|db| {
            db.execute(
                "INSERT INTO sessions VALUES ('huge-json', NULL, 60, ?1, '[]', '[]')",
                [&huge],
            )
            .map(drop)
        })
        .unwrap();
        let (retained, sessions) = p.load(NOW, &limits()).unwrap();
        assert!(
            retained.is_empty(),
            "a packet over max_packet_size is not loaded"
        );
        assert!(sessions.iter().all(|s| s.client_id != "huge-json"));
        let s2 = sessions.iter().find(|s| s.client_id == "s2").unwrap();
        assert_eq!(s2.session.pending.len(), 5, "queue_len");
        let two = Limits {
            max_sessions: 2,
            ..limits()
        };
        let (_, sessions) = p.load(NOW, &two).unwrap();
        assert_eq!(sessions.len(), 2);
    }

    /// A file that is not a database is an error, not a panic.
    #[test]
    fn corrupt_file_is_an_error() {
        let dir =
            std::env::temp_dir().join(format!("mqtt-persist-unit-{}-corrupt", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("broker.sqlite");
        std::fs::write(&path, vec![0xA5u8; 8192]).unwrap();
        let r = Persist::open(&path).and_then(|p| p.load(NOW, &limits()).map(drop));
        assert!(r.is_err());
    }
}
