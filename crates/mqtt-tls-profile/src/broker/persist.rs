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
    pub(super) fn load(
        &self,
        now: UnixTime,
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
            let mut retained = Vec::new();
            let mut q = db.prepare("SELECT packet, expires_at FROM retained")?;
            let rows = q.query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Option<i64>>(1)?))
            })?;
            for row in rows {
                let (packet, exp) = row?;
                match decode_msg(&packet) {
                    Some(msg) => retained.push(LoadedRetained {
                        msg,
                        expires_at: exp.map(unix),
                    }),
                    None => tracing::warn!("persistence: skipped an undecodable retained message"),
                }
            }
            let mut sessions = Vec::new();
            let mut q = db.prepare(
                "SELECT client_id, ends_at, expiry, subs, released, inbound_qos2 FROM sessions",
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
                "SELECT pid, packet FROM session_msgs WHERE client_id = ?1 ORDER BY seq",
            )?;
            for row in rows {
                let (client_id, ends_at, expiry, subs, released, inbound) = row?;
                let mut s = StoredSession {
                    subs: serde_json::from_str(&subs).unwrap_or_default(),
                    released: serde_json::from_str(&released).unwrap_or_default(),
                    inbound_qos2: serde_json::from_str::<HashSet<u16>>(&inbound)
                        .unwrap_or_default(),
                    ..StoredSession::default()
                };
                let mut pending = VecDeque::new();
                let items = msgs.query_map([&client_id], |r| {
                    Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Vec<u8>>(1)?))
                })?;
                for item in items {
                    let (pid, packet) = item?;
                    let Some(m) = decode_msg(&packet) else {
                        tracing::warn!("persistence: skipped an undecodable queued message");
                        continue;
                    };
                    match pid.and_then(|p| u16::try_from(p).ok()) {
                        Some(pid) => s.unacked.push((pid, m)),
                        None => pending.push_back(m),
                    }
                }
                s.pending = pending;
                let ends_at = ends_at.map_or_else(
                    || now.saturating_add(u64::try_from(expiry).unwrap_or(0)),
                    unix,
                );
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
