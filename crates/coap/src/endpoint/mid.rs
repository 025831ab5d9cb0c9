//! Message ID allocation (RFC 7252 §4.4): a Message ID must not be reused for the same
//! peer within EXCHANGE_LIFETIME (CON) or NON_LIFETIME (NON).
//!
//! Each peer gets its own 16-bit counter (random start). IDs are handed out in order, so
//! the ID about to be handed out was last used exactly 65,536 allocations ago. The
//! allocator remembers the allocations that are still inside their lifetime as *runs*
//! in allocation order: `(first allocation instant, latest expiry, count)`. Allocations
//! within `granularity` of a run's start join it and push its expiry to the latest
//! member's, so a run frees its IDs only when its youngest member's lifetime is over —
//! never early, at most `granularity` late. The next ID is free iff fewer than 65,536
//! allocations are still counted. Memory per peer is bounded by the number of runs,
//! about `EXCHANGE_LIFETIME / granularity + 1` (≈ 257 × 40 bytes with the defaults),
//! whatever the rate; a peer whose runs all expired is forgotten.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use core::time::Duration;

/// Size of the Message ID space.
pub(crate) const MID_SPACE: u32 = 1 << 16;

#[derive(Debug)]
struct Run {
    started: Instant,
    expires: Instant,
    count: u32,
}

#[derive(Debug)]
struct PeerMids {
    next: u16,
    runs: VecDeque<Run>,
    /// Sum of `count` over `runs`.
    in_use: u32,
}

impl PeerMids {
    fn expire(&mut self, now: Instant) {
        while let Some(r) = self.runs.front() {
            if r.expires > now {
                break;
            }
            self.in_use = self.in_use.saturating_sub(r.count);
            self.runs.pop_front();
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct MidAllocator {
    peers: HashMap<SocketAddr, PeerMids>,
}

/// Why no Message ID could be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoMid {
    /// All 65,536 IDs for this peer are within their lifetime; the first ones free up
    /// at this instant.
    Exhausted(Instant),
    /// The table of peers with Message ID state is full; the first peer entry may free
    /// up at this instant (or later, if that peer sends again).
    PeerTableFull(Option<Instant>),
}

impl NoMid {
    pub(crate) fn retry_at(self) -> Option<Instant> {
        match self {
            Self::Exhausted(t) => Some(t),
            Self::PeerTableFull(t) => t,
        }
    }
}

impl MidAllocator {
    /// Whether an ID for `peer` is available at `now`, and if not, when to retry.
    pub(crate) fn check(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        max_peers: usize,
    ) -> Result<(), NoMid> {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.expire(now);
            if p.in_use >= MID_SPACE {
                let at = p.runs.front().map_or(now, |r| r.expires);
                return Err(NoMid::Exhausted(at));
            }
            return Ok(());
        }
        if self.peers.len() >= max_peers.max(1) {
            self.expire(now);
            if self.peers.len() >= max_peers.max(1) {
                return Err(NoMid::PeerTableFull(self.next_expiry()));
            }
        }
        Ok(())
    }

    /// Hands out the next Message ID for `peer`, to be used until `now + lifetime`.
    /// `start` seeds the counter of a peer without state (random, RFC 7252 §4.4).
    pub(crate) fn allocate(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        lifetime: Duration,
        granularity: Duration,
        max_peers: usize,
        start: impl FnOnce() -> u16,
    ) -> Result<u16, NoMid> {
        self.check(now, peer, max_peers)?;
        let p = self.peers.entry(peer).or_insert_with(|| PeerMids {
            next: start(),
            runs: VecDeque::new(),
            in_use: 0,
        });
        let mid = p.next;
        p.next = p.next.wrapping_add(1);
        p.in_use += 1;
        let expires = crate::config::later(now, lifetime);
        match p.runs.back_mut() {
            Some(r) if now < crate::config::later(r.started, granularity) => {
                r.count += 1;
                r.expires = r.expires.max(expires);
            }
            _ => p.runs.push_back(Run {
                started: now,
                expires,
                count: 1,
            }),
        }
        Ok(mid)
    }

    /// Drops runs (and peers) whose lifetime is over.
    pub(crate) fn expire(&mut self, now: Instant) {
        self.peers.retain(|_, p| {
            p.expire(now);
            !p.runs.is_empty()
        });
    }

    /// The earliest instant at which some run expires.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.peers
            .values()
            .filter_map(|p| p.runs.front().map(|r| r.expires))
            .min()
    }

    /// IDs still within their lifetime for `peer`.
    pub(crate) fn in_use(&self, peer: SocketAddr) -> u32 {
        self.peers.get(&peer).map_or(0, |p| p.in_use)
    }

    /// Peers with Message ID state.
    pub(crate) fn peers(&self) -> usize {
        self.peers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_not_reused_within_their_lifetime() {
        let mut m = MidAllocator::default();
        let t0 = Instant::now();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let life = Duration::from_secs(247);
        let g = Duration::from_secs(1);
        let mut seen = std::collections::HashSet::new();
        for i in 0..MID_SPACE {
            // 30 000 per second of virtual time
            let now = t0 + Duration::from_micros(u64::from(i) * 33);
            let mid = m.allocate(now, a, life, g, 8, || 100).unwrap();
            assert!(seen.insert(mid), "MID {mid} handed out twice");
        }
        assert_eq!(m.in_use(a), MID_SPACE);
        let t3 = t0 + Duration::from_secs(3);
        let Err(NoMid::Exhausted(at)) = m.allocate(t3, a, life, g, 8, || 0) else {
            panic!("the 65,537th ID must not be handed out");
        };
        // the first run started at t0 and took allocations for 1 s (granularity)
        assert!(at >= t0 + life && at <= t0 + life + Duration::from_secs(3));
        // another peer is independent
        assert_eq!(m.allocate(t3, b, life, g, 8, || 7), Ok(7));
        // still exhausted just before the run's expiry, free at it
        assert!(m.check(at - Duration::from_millis(1), a, 8).is_err());
        assert_eq!(m.allocate(at, a, life, g, 8, || 0), Ok(100));
        // runs stay few whatever the rate
        assert!(m.peers.get(&a).unwrap().runs.len() <= 5);
        // everything expires
        m.expire(at + life + Duration::from_secs(10));
        assert_eq!(m.peers(), 0);
        assert_eq!(m.next_expiry(), None);
    }

    #[test]
    fn peer_table_bound() {
        let mut m = MidAllocator::default();
        let t0 = Instant::now();
        let life = Duration::from_secs(10);
        let g = Duration::from_millis(40);
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        m.allocate(t0, a, life, g, 1, || 0).unwrap();
        assert_eq!(
            m.allocate(t0, b, life, g, 1, || 0),
            Err(NoMid::PeerTableFull(Some(t0 + life)))
        );
        assert_eq!(m.allocate(t0 + life, b, life, g, 1, || 5), Ok(5));
    }
}
