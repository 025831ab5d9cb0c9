//! Without the `persistence` feature: no database (a configured
//! [`super::BrokerConfig::persistence`] makes [`super::Broker::bind`] fail).

use std::path::Path;

use ace_token::UnixTime;

use super::{Msg, StoredSession};

/// What a load reads at most (unused without the feature).
#[allow(dead_code)] // read by the SQLite implementation only
pub(super) struct Limits {
    pub(super) max_session_expiry: u32,
    pub(super) max_sessions: usize,
    pub(super) queue_len: usize,
    pub(super) max_packet_size: usize,
}

/// Never constructed.
pub(super) enum Persist {}

/// A retained message as loaded.
pub(super) struct LoadedRetained {
    pub(super) msg: Msg,
    pub(super) expires_at: Option<UnixTime>,
}

/// A session as loaded.
pub(super) struct LoadedSession {
    pub(super) client_id: String,
    pub(super) session: StoredSession,
    pub(super) ends_at: UnixTime,
}

impl Persist {
    pub(super) fn open(_: &Path) -> std::io::Result<Self> {
        Err(std::io::Error::other(
            "broker persistence needs the `persistence` feature",
        ))
    }
    pub(super) fn load(
        &self,
        _: UnixTime,
        _: &Limits,
    ) -> std::io::Result<(Vec<LoadedRetained>, Vec<LoadedSession>)> {
        match *self {}
    }
    pub(super) fn put_retained(&self, _: &Msg, _: Option<UnixTime>) {
        match *self {}
    }
    pub(super) fn delete_retained(&self, _: &str) {
        match *self {}
    }
    pub(super) fn delete_expired_retained(&self, _: UnixTime) {
        match *self {}
    }
    pub(super) fn save_session(&self, _: &str, _: &StoredSession, _: UnixTime) {
        match *self {}
    }
    pub(super) fn save_live(&self, _: &str, _: &[(String, u8)], _: u32) {
        match *self {}
    }
    pub(super) fn update_subs(&self, _: &str, _: &[(String, u8)]) {
        match *self {}
    }
    pub(super) fn push_pending(&self, _: &str, _: &Msg) {
        match *self {}
    }
    pub(super) fn delete_session(&self, _: &str) {
        match *self {}
    }
}
