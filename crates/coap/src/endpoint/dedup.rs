//! Message deduplication (RFC 7252 §4.5): remembers `(peer, message ID)` of received
//! CON messages for EXCHANGE_LIFETIME and NON messages for NON_LIFETIME, so that the
//! handler runs at most once per message ID within that lifetime.
//!
//! Storage is two-tier. The ID itself (~100 bytes of table space) is kept for the whole
//! lifetime. The reply to resend for a duplicate CON (piggybacked response, empty ACK or
//! RST) is kept only while a duplicate can still be a retransmission of the sender's
//! (the sender may retransmit for MAX_TRANSMIT_SPAN after the first transmission, and
//! each copy may take MAX_LATENCY: `reply_lifetime` = MAX_TRANSMIT_SPAN + MAX_LATENCY,
//! 145 s with the defaults). A duplicate arriving later than that is dropped silently —
//! still never handed to the handler twice. Bounds: IDs per peer (default the whole
//! 16-bit space, so a peer sending at the RFC's maximum rate never hits it), IDs in total,
//! peers, and bytes of cached replies in total. When a bound is hit the message is not
//! recorded (`Check::Full`): the caller answers 5.03 + Max-Age instead of risking a
//! second execution. Nothing is evicted before its lifetime is over.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

type Key = (SocketAddr, u16);

#[derive(Debug)]
struct Slot {
    expires: Instant,
    reply_until: Instant,
    reply: Option<Box<[u8]>>,
}

/// Outcome of [`Dedup::check`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// First time seen; an entry was inserted.
    New,
    /// A duplicate; the reply to resend, if one is still cached.
    Duplicate(Option<Vec<u8>>),
    /// A new peer while the peer table is full: drop the datagram.
    PeerTableFull,
    /// A budget (the peer's IDs, all IDs, or reply bytes) is used up; the message was not
    /// recorded. Room is expected at the given instant.
    Full(Instant),
}

#[derive(Debug, Default)]
pub(crate) struct Dedup {
    peers: HashMap<SocketAddr, HashMap<u16, Slot>>,
    /// Two queues because the two lifetimes differ; each is ordered by expiry.
    con_queue: VecDeque<(Instant, Key)>,
    non_queue: VecDeque<(Instant, Key)>,
    /// When cached replies may be dropped: (reply_until, key, the entry's `expires` to
    /// recognise the same entry).
    reply_queue: VecDeque<(Instant, Key, Instant)>,
    entries: usize,
    reply_bytes: usize,
}

pub(crate) struct Limits {
    pub(crate) max_peers: usize,
    pub(crate) per_peer: usize,
    pub(crate) total: usize,
    /// Bytes of cached replies in total.
    pub(crate) reply_bytes: usize,
    /// How long a reply is kept for duplicates (MAX_TRANSMIT_SPAN + MAX_LATENCY).
    pub(crate) reply_lifetime: core::time::Duration,
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
        let peer = self.peers.get(&key.0);
        if let Some(e) = peer.and_then(|p| p.get(&key.1)) {
            return Check::Duplicate(e.reply.as_deref().map(<[u8]>::to_vec));
        }
        let count = peer.map(HashMap::len);
        if count.is_none() && self.peers.len() >= limits.max_peers {
            return Check::PeerTableFull;
        }
        if count.unwrap_or(0) >= limits.per_peer {
            let at = peer
                .and_then(|p| p.values().map(|e| e.expires).min())
                .unwrap_or(now);
            return Check::Full(at);
        }
        if self.entries >= limits.total {
            return Check::Full(self.next_entry_expiry().unwrap_or(now));
        }
        if confirmable && self.reply_bytes >= limits.reply_bytes {
            let at = self.reply_queue.front().map_or(now, |r| r.0);
            return Check::Full(at);
        }
        let expires = crate::config::later(now, lifetime);
        let reply_until = crate::config::later(now, limits.reply_lifetime.min(lifetime));
        self.peers.entry(key.0).or_default().insert(
            key.1,
            Slot {
                expires,
                reply_until,
                reply: None,
            },
        );
        self.entries += 1;
        if confirmable {
            self.con_queue.push_back((expires, key));
        } else {
            self.non_queue.push_back((expires, key));
        }
        Check::New
    }

    /// Records the bytes to resend when `key` arrives again (while the reply window lasts).
    pub(crate) fn set_reply(&mut self, key: Key, reply: Vec<u8>) {
        let Some(e) = self.peers.get_mut(&key.0).and_then(|p| p.get_mut(&key.1)) else {
            return;
        };
        if let Some(old) = e.reply.take() {
            self.reply_bytes = self.reply_bytes.saturating_sub(old.len());
        } else {
            self.reply_queue.push_back((e.reply_until, key, e.expires));
        }
        self.reply_bytes += reply.len();
        e.reply = Some(reply.into_boxed_slice());
    }

    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some((at, key, expires)) = self.reply_queue.front().copied() {
            if at > now {
                break;
            }
            self.reply_queue.pop_front();
            if let Some(e) = self.peers.get_mut(&key.0).and_then(|p| p.get_mut(&key.1))
                && e.expires == expires
                && let Some(r) = e.reply.take()
            {
                self.reply_bytes = self.reply_bytes.saturating_sub(r.len());
            }
        }
        for q in 0..2 {
            let queue = if q == 0 {
                &mut self.con_queue
            } else {
                &mut self.non_queue
            };
            while let Some((at, key)) = queue.front().copied() {
                if at > now {
                    break;
                }
                queue.pop_front();
                let Some(p) = self.peers.get_mut(&key.0) else {
                    continue;
                };
                if p.get(&key.1).is_some_and(|e| e.expires == at)
                    && let Some(e) = p.remove(&key.1)
                {
                    self.entries = self.entries.saturating_sub(1);
                    if let Some(r) = e.reply {
                        self.reply_bytes = self.reply_bytes.saturating_sub(r.len());
                    }
                }
                if p.is_empty() {
                    self.peers.remove(&key.0);
                }
            }
        }
    }

    fn next_entry_expiry(&self) -> Option<Instant> {
        [self.con_queue.front(), self.non_queue.front()]
            .into_iter()
            .flatten()
            .map(|(at, _)| *at)
            .min()
    }

    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        [
            self.next_entry_expiry(),
            self.reply_queue.front().map(|r| r.0),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries
    }

    pub(crate) fn peers(&self) -> usize {
        self.peers.len()
    }

    /// Bytes held in cached replies.
    pub(crate) fn reply_bytes(&self) -> usize {
        self.reply_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    fn limits() -> Limits {
        Limits {
            max_peers: 1,
            per_peer: 2,
            total: 10,
            reply_bytes: 100,
            reply_lifetime: Duration::from_secs(4),
        }
    }

    #[test]
    fn dedup_expires_and_bounds() {
        let mut d = Dedup::default();
        let t0 = Instant::now();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let limits = limits();
        let life = Duration::from_secs(10);
        assert_eq!(d.check(t0, (a, 1), true, life, &limits), Check::New);
        d.set_reply((a, 1), vec![1]);
        assert_eq!(
            d.check(t0, (a, 1), true, life, &limits),
            Check::Duplicate(Some(vec![1]))
        );
        assert_eq!(d.check(t0, (a, 2), false, life, &limits), Check::New);
        assert_eq!(
            d.check(t0, (a, 3), true, life, &limits),
            Check::Full(t0 + life)
        );
        assert_eq!(
            d.check(t0, (b, 1), true, life, &limits),
            Check::PeerTableFull
        );
        assert_eq!(d.next_expiry(), Some(t0 + Duration::from_secs(4)));
        // nothing is evicted before its lifetime: still full at t0 + 9 s
        let t9 = t0 + Duration::from_secs(9);
        assert_eq!(
            d.check(t9, (a, 3), true, life, &limits),
            Check::Full(t0 + life)
        );
        // the reply was dropped after reply_lifetime, the ID is still remembered
        assert_eq!(d.reply_bytes(), 0);
        assert_eq!(
            d.check(t9, (a, 1), true, life, &limits),
            Check::Duplicate(None)
        );
        assert_eq!(d.len(), 2);
        d.expire(t0 + life);
        assert_eq!(d.len(), 0);
        assert_eq!(d.peers(), 0);
        assert_eq!(d.next_expiry(), None);
        assert_eq!(d.check(t0 + life, (b, 1), true, life, &limits), Check::New);
        assert_eq!(d.peers(), 1);
    }

    #[test]
    fn reply_bytes_and_total_bounds() {
        let mut d = Dedup::default();
        let t0 = Instant::now();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let limits = Limits {
            max_peers: 4,
            per_peer: 1 << 16,
            total: 5,
            ..limits()
        };
        let life = Duration::from_secs(10);
        assert_eq!(d.check(t0, (a, 1), true, life, &limits), Check::New);
        d.set_reply((a, 1), vec![0; 100]);
        // reply budget used up: a new CON is refused until the reply window ends ...
        assert_eq!(
            d.check(t0, (a, 2), true, life, &limits),
            Check::Full(t0 + Duration::from_secs(4))
        );
        // ... a NON (no reply to keep) is still recorded
        assert_eq!(d.check(t0, (a, 2), false, life, &limits), Check::New);
        let t4 = t0 + Duration::from_secs(4);
        assert_eq!(d.check(t4, (a, 3), true, life, &limits), Check::New);
        assert_eq!(d.check(t4, (a, 4), true, life, &limits), Check::New);
        assert_eq!(d.check(t4, (a, 5), true, life, &limits), Check::New);
        assert_eq!(
            d.check(t4, (a, 6), true, life, &limits),
            Check::Full(t0 + life),
            "total bound"
        );
        assert_eq!(d.len(), 5);
    }

    #[test]
    fn whole_id_space_of_one_peer_fits_by_default() {
        let cfg = crate::Config::default();
        let p = &cfg.transmission;
        let limits = Limits {
            max_peers: cfg.max_peers,
            per_peer: cfg.max_dedup_per_peer,
            total: cfg.max_dedup_total,
            reply_bytes: cfg.max_dedup_reply_bytes,
            reply_lifetime: p.max_transmit_span() + p.max_latency,
        };
        let mut d = Dedup::default();
        let t0 = Instant::now();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        // every message ID within 2 s (30 000 CON/s), each with a 40-byte reply
        for mid in 0..=u16::MAX {
            let now = t0 + Duration::from_micros(u64::from(mid) * 33);
            assert_eq!(
                d.check(now, (a, mid), true, p.exchange_lifetime(), &limits),
                Check::New
            );
            d.set_reply((a, mid), vec![0x60; 40]);
        }
        assert_eq!(d.len(), 65_536);
        assert_eq!(d.reply_bytes(), 65_536 * 40);
        // a wrapped ID is a duplicate with the same reply
        assert_eq!(
            d.check(
                t0 + Duration::from_secs(3),
                (a, 7),
                true,
                p.exchange_lifetime(),
                &limits
            ),
            Check::Duplicate(Some(vec![0x60; 40]))
        );
    }
}
