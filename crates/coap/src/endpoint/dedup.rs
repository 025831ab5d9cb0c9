//! Message deduplication (RFC 7252 §4.5): remembers `(peer, message ID)` of received
//! CON messages for EXCHANGE_LIFETIME and NON messages for NON_LIFETIME, with the
//! reply to resend when a CON arrives again.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

type Key = (SocketAddr, u16);

#[derive(Debug)]
struct Entry {
    created: Instant,
    /// Insertion order: breaks ties between entries created at the same instant, so that
    /// eviction does not depend on the `HashMap`'s (randomly seeded) iteration order.
    seq: u64,
    expires: Instant,
    reply: Option<Vec<u8>>,
}

/// Outcome of [`Dedup::check`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// First time seen; an entry was inserted.
    New,
    /// A duplicate; the reply to resend, if one was recorded.
    Duplicate(Option<Vec<u8>>),
    /// A new peer while the peer table is full: drop the datagram.
    PeerTableFull,
    /// The peer's (or the total) entry budget is used up; the message was not recorded.
    Full,
}

#[derive(Debug, Default)]
pub(crate) struct Dedup {
    map: HashMap<Key, Entry>,
    /// Two queues because the two lifetimes differ; each is ordered by expiry.
    con_queue: VecDeque<(Instant, Key)>,
    non_queue: VecDeque<(Instant, Key)>,
    per_peer: HashMap<SocketAddr, usize>,
    next_seq: u64,
}

pub(crate) struct Limits {
    pub(crate) max_peers: usize,
    pub(crate) per_peer: usize,
    pub(crate) total: usize,
    /// When a budget is used up, an entry at least this old may be evicted to make room:
    /// its sender stopped retransmitting long ago (MAX_TRANSMIT_WAIT).
    pub(crate) evict_after: core::time::Duration,
}

impl Dedup {
    pub(crate) fn check(
        &mut self,
        now: Instant,
        key: Key,
        confirmable: bool,
        lifetime: core::time::Duration,
        limits: &Limits,
    ) -> Check {
        self.expire(now);
        if let Some(e) = self.map.get(&key) {
            return Check::Duplicate(e.reply.clone());
        }
        let count = self.per_peer.get(&key.0).copied();
        if count.is_none() && self.per_peer.len() >= limits.max_peers {
            return Check::PeerTableFull;
        }
        if count.unwrap_or(0) >= limits.per_peer && !self.evict_oldest(now, Some(key.0), limits) {
            return Check::Full;
        }
        if self.map.len() >= limits.total && !self.evict_oldest(now, None, limits) {
            return Check::Full;
        }
        let expires = crate::config::later(now, lifetime);
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.map.insert(
            key,
            Entry {
                created: now,
                seq,
                expires,
                reply: None,
            },
        );
        *self.per_peer.entry(key.0).or_insert(0) += 1;
        if confirmable {
            self.con_queue.push_back((expires, key));
        } else {
            self.non_queue.push_back((expires, key));
        }
        Check::New
    }

    /// Evicts the oldest entry (of `peer`, or of anyone) if it is older than
    /// `limits.evict_after`. Its queue slot is skipped later because the map no longer
    /// holds it.
    fn evict_oldest(&mut self, now: Instant, peer: Option<SocketAddr>, limits: &Limits) -> bool {
        let oldest = self
            .map
            .iter()
            .filter(|(k, _)| peer.is_none_or(|p| k.0 == p))
            .min_by_key(|(_, e)| (e.created, e.seq))
            .map(|(k, e)| (*k, e.created));
        match oldest {
            Some((key, created))
                if now.saturating_duration_since(created) >= limits.evict_after =>
            {
                self.map.remove(&key);
                self.decrement(key.0);
                true
            }
            _ => false,
        }
    }

    fn decrement(&mut self, peer: SocketAddr) {
        if let Some(c) = self.per_peer.get_mut(&peer) {
            *c = c.saturating_sub(1);
            if *c == 0 {
                self.per_peer.remove(&peer);
            }
        }
    }

    /// Records the bytes to resend when `key` arrives again.
    pub(crate) fn set_reply(&mut self, key: Key, reply: Vec<u8>) {
        if let Some(e) = self.map.get_mut(&key) {
            e.reply = Some(reply);
        }
    }

    pub(crate) fn expire(&mut self, now: Instant) {
        let mut gone = Vec::new();
        for queue in [&mut self.con_queue, &mut self.non_queue] {
            while let Some((at, key)) = queue.front().copied() {
                if at > now {
                    break;
                }
                queue.pop_front();
                gone.push((at, key));
            }
        }
        for (at, key) in gone {
            if self.map.get(&key).is_some_and(|e| e.expires == at) {
                self.map.remove(&key);
                self.decrement(key.0);
            }
        }
    }

    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        [self.con_queue.front(), self.non_queue.front()]
            .into_iter()
            .flatten()
            .map(|(at, _)| *at)
            .min()
    }

    /// How long until the oldest entry of `peer` expires (for a Max-Age hint).
    pub(crate) fn oldest_for(&self, peer: SocketAddr) -> Option<Instant> {
        self.map
            .iter()
            .filter(|(k, _)| k.0 == peer)
            .map(|(_, e)| e.expires)
            .min()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn peers(&self) -> usize {
        self.per_peer.len()
    }

    /// Bytes held in cached replies.
    pub(crate) fn reply_bytes(&self) -> usize {
        self.map
            .values()
            .filter_map(|e| e.reply.as_ref())
            .map(Vec::len)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    #[test]
    fn dedup_expires_and_bounds() {
        let mut d = Dedup::default();
        let t0 = Instant::now();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let limits = Limits {
            max_peers: 1,
            per_peer: 2,
            total: 10,
            evict_after: Duration::from_secs(5),
        };
        let life = Duration::from_secs(10);
        assert_eq!(d.check(t0, (a, 1), true, life, &limits), Check::New);
        d.set_reply((a, 1), vec![1]);
        assert_eq!(
            d.check(t0, (a, 1), true, life, &limits),
            Check::Duplicate(Some(vec![1]))
        );
        assert_eq!(d.check(t0, (a, 2), false, life, &limits), Check::New);
        assert_eq!(d.check(t0, (a, 3), true, life, &limits), Check::Full);
        assert_eq!(
            d.check(t0, (b, 1), true, life, &limits),
            Check::PeerTableFull
        );
        assert_eq!(d.next_expiry(), Some(t0 + life));
        // once the oldest entry is old enough it makes room
        let t5 = t0 + Duration::from_secs(5);
        assert_eq!(d.check(t5, (a, 3), true, life, &limits), Check::New);
        assert_eq!(
            d.check(t5, (a, 1), true, life, &limits),
            Check::New,
            "(a, 1) was evicted"
        );
        assert_eq!(d.len(), 2);
        d.expire(t0 + life);
        assert_eq!(
            d.len(),
            2,
            "stale queue slots of evicted entries do not remove new ones"
        );
        d.expire(t5 + life);
        assert_eq!(d.len(), 0);
        d.check(t0, (a, 1), true, life, &limits);
        d.check(t0, (a, 2), true, life, &limits);
        let later = t0 + life;
        assert_eq!(d.check(later, (b, 1), true, life, &limits), Check::New);
        assert_eq!(d.len(), 1);
        assert_eq!(d.peers(), 1);
    }
}
