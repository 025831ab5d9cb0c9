//! The device side (client or RS): follows the TRL through full and diff responses,
//! tracks the cursor, catches up with the "more" series, and detects lost notifications.
//!
//! ```text
//!  response payload ──> TrlClient::process ──> TrlUpdate { revoked, expired, mentioned,
//!                                                          next: None | Diff{..} | Full }
//! ```
//!
//! The device MUST expunge every stored token whose hash appears in a response
//! ([`TrlUpdate::mentioned`]; RFC 9770 §"Handling of Revoked Access Tokens and Token
//! Hashes"), and an RS keeps the hashes (see [`crate::rs`]). Errors or silence never mean
//! "not revoked": the device keeps polling (§"Notification of Revoked Access Tokens").

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::hash::TokenHash;
use crate::msg::RegistrationInfo;
use crate::msg::{TrlPayload, TrlQuery};

/// What the device should send next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextQuery {
    /// Nothing: the view is current.
    None,
    /// A diff query (the "more" series, or recovery after a cursor gap).
    Diff(TrlQuery),
    /// A full query (items were lost: "Case A", or a gap the history cannot cover).
    Full,
}

/// The result of processing one TRL response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrlUpdate {
    /// Hashes newly known as revoked (not in the previous view).
    pub revoked: Vec<TokenHash>,
    /// Hashes that left the TRL (their tokens expired).
    pub expired: Vec<TokenHash>,
    /// Every hash in the response (all must be expunged from the token store).
    pub mentioned: Vec<TokenHash>,
    /// Follow-up to send.
    pub next: NextQuery,
}

/// The device-side TRL follower.
#[derive(Debug, Clone)]
pub struct TrlClient {
    info: RegistrationInfo,
    view: BTreeSet<TokenHash>,
    cursor: Option<u64>,
    synced: bool,
    diff_n: u64,
}

impl TrlClient {
    /// A client for the registration it received. `diff_n` is the `diff` value it uses for
    /// catch-up queries (0: as many as the AS can give).
    #[must_use]
    pub fn new(info: RegistrationInfo, diff_n: u64) -> Self {
        Self {
            info,
            view: BTreeSet::new(),
            cursor: None,
            synced: false,
            diff_n,
        }
    }

    /// The registration information.
    #[must_use]
    pub fn registration(&self) -> &RegistrationInfo {
        &self.info
    }

    /// The pertaining TRL as currently known.
    #[must_use]
    pub fn view(&self) -> &BTreeSet<TokenHash> {
        &self.view
    }

    /// Whether `h` is known to be revoked.
    #[must_use]
    pub fn is_revoked(&self, h: &TokenHash) -> bool {
        self.view.contains(h)
    }

    /// The last cursor the AS gave ("Cursor" extension).
    #[must_use]
    pub fn cursor(&self) -> Option<u64> {
        self.cursor
    }

    /// The query to poll with (RFC 9770 §"Security Considerations": do not rely on Observe
    /// alone): a diff query from the cursor when one is known, else a full query.
    #[must_use]
    pub fn poll_query(&self) -> TrlQuery {
        match (self.synced, self.cursor, self.info.max_diff_batch) {
            (true, Some(c), Some(_)) => TrlQuery::diff_cursor(self.diff_n, c),
            _ => TrlQuery::full(),
        }
    }

    /// Processes a 2.05 payload answering `query` (or a notification of an observation made
    /// with `query`).
    ///
    /// # Errors
    /// Decoding errors of [`TrlPayload::decode`]; [`Error::UnexpectedResponse`] when the
    /// payload kind does not match the query.
    pub fn process(&mut self, query: &TrlQuery, payload: &[u8]) -> Result<TrlUpdate> {
        let p = TrlPayload::decode(payload)?;
        self.process_payload(query, p)
    }

    /// As [`TrlClient::process`] with a decoded payload.
    ///
    /// # Errors
    /// [`Error::UnexpectedResponse`].
    pub fn process_payload(&mut self, query: &TrlQuery, p: TrlPayload) -> Result<TrlUpdate> {
        let cursor_ext = self.info.max_diff_batch.is_some();
        let new_cursor = if cursor_ext { p.cursor.flatten() } else { None };
        let mut revoked = Vec::new();
        let mut expired = Vec::new();
        let mut mentioned = Vec::new();
        if let Some(full) = p.full_set {
            let new: BTreeSet<TokenHash> = full.into_iter().collect();
            revoked.extend(new.difference(&self.view).cloned());
            expired.extend(self.view.difference(&new).cloned());
            mentioned.extend(new.iter().cloned());
            self.view = new;
            self.synced = true;
            self.cursor = new_cursor;
            return Ok(TrlUpdate {
                revoked,
                expired,
                mentioned,
                next: NextQuery::None,
            });
        }
        let Some(diff) = p.diff_set else {
            return Err(Error::UnexpectedResponse("no full_set or diff_set"));
        };
        if !cursor_ext {
            // Without the Cursor extension a diff answer cannot prove completeness: apply it;
            // the application's periodic full query bounds any loss.
            self.apply_entries(&diff, &mut revoked, &mut expired, &mut mentioned);
            return Ok(TrlUpdate {
                revoked,
                expired,
                mentioned,
                next: NextQuery::None,
            });
        }
        let more = p.more.unwrap_or(false);
        if diff.is_empty() && new_cursor.is_none() {
            if more {
                // Case A: series items were lost; only a full query resynchronises.
                self.synced = false;
                return Ok(TrlUpdate {
                    revoked,
                    expired,
                    mentioned,
                    next: NextQuery::Full,
                });
            }
            // Empty collection: nothing pertaining happened since registration.
            self.synced = true;
            self.cursor = None;
            return Ok(TrlUpdate {
                revoked,
                expired,
                mentioned,
                next: NextQuery::None,
            });
        }
        // The point up to which this device's view is complete.
        let asked = match &query.cursor {
            Some(crate::msg::QueryValue::Uint(c)) => Some(Some(*c)),
            _ => None,
        };
        let reference: Option<Option<u64>> = asked.or(self.synced.then_some(self.cursor));
        let returned = diff.len() as u64;
        // Entries cover the indexes (C - L, C]; a gap is anything after the reference
        // and before them. Index wrap-around is treated as a gap (full resync).
        let gap = match (reference, new_cursor) {
            (None, _) => true,
            (Some(_), None) => true,
            (Some(None), Some(c)) => c.checked_add(1).is_none_or(|span| span > returned),
            (Some(Some(r)), Some(c)) => c.checked_sub(r).is_none_or(|span| span > returned),
        };
        self.apply_entries(&diff, &mut revoked, &mut expired, &mut mentioned);
        let next = match (gap, reference) {
            // After a cursor query a gap means the window was narrowed by `diff`: resync.
            (true, _) if asked.is_some() => NextQuery::Full,
            (true, Some(Some(r))) => NextQuery::Diff(TrlQuery::diff_cursor(self.diff_n, r)),
            (true, _) => NextQuery::Full,
            (false, _) if more => new_cursor.map_or(NextQuery::Full, |c| {
                NextQuery::Diff(TrlQuery::diff_cursor(self.diff_n, c))
            }),
            (false, _) => NextQuery::None,
        };
        if gap {
            if matches!(next, NextQuery::Full) {
                self.synced = false;
            }
        } else {
            self.cursor = new_cursor;
            self.synced = true;
        }
        Ok(TrlUpdate {
            revoked,
            expired,
            mentioned,
            next,
        })
    }

    fn apply_entries(
        &mut self,
        diff: &[crate::msg::DiffEntry],
        revoked: &mut Vec<TokenHash>,
        expired: &mut Vec<TokenHash>,
        mentioned: &mut Vec<TokenHash>,
    ) {
        // Most recent first on the wire: apply oldest first.
        for e in diff.iter().rev() {
            for h in &e.added {
                if self.view.insert(h.clone()) {
                    revoked.push(h.clone());
                }
                mentioned.push(h.clone());
            }
            for h in &e.removed {
                if self.view.remove(h) {
                    expired.push(h.clone());
                }
                mentioned.push(h.clone());
            }
        }
    }
}
