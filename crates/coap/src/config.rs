//! Endpoint configuration: RFC 7252 transmission parameters and memory bounds.

use core::time::Duration;

use crate::consts::transmission as tx;

/// Transmission parameters (RFC 7252 §4.8) and the derived times of §4.8.2.
#[derive(Debug, Clone, PartialEq)]
pub struct TransmissionParams {
    /// ACK_TIMEOUT (default 2 s).
    pub ack_timeout: Duration,
    /// ACK_RANDOM_FACTOR (default 1.5; values below 1.0 are treated as 1.0).
    pub ack_random_factor: f64,
    /// MAX_RETRANSMIT (default 4).
    pub max_retransmit: u32,
    /// NSTART: outstanding interactions per peer (default 1).
    pub nstart: usize,
    /// MAX_LATENCY (default 100 s).
    pub max_latency: Duration,
}

impl Default for TransmissionParams {
    fn default() -> Self {
        Self {
            ack_timeout: tx::ACK_TIMEOUT,
            ack_random_factor: tx::ACK_RANDOM_FACTOR,
            max_retransmit: tx::MAX_RETRANSMIT,
            nstart: tx::NSTART,
            max_latency: tx::MAX_LATENCY,
        }
    }
}

impl TransmissionParams {
    fn factor(&self) -> f64 {
        if self.ack_random_factor.is_finite() && self.ack_random_factor >= 1.0 {
            self.ack_random_factor
        } else {
            1.0
        }
    }
    fn pow2(&self, extra: u32) -> u32 {
        1u32.checked_shl(self.max_retransmit.saturating_add(extra).min(30))
            .unwrap_or(1 << 30)
    }
    /// MAX_TRANSMIT_SPAN = ACK_TIMEOUT × (2^MAX_RETRANSMIT − 1) × ACK_RANDOM_FACTOR (45 s).
    #[must_use]
    pub fn max_transmit_span(&self) -> Duration {
        scale(
            self.ack_timeout,
            f64::from(self.pow2(0) - 1) * self.factor(),
        )
    }
    /// MAX_TRANSMIT_WAIT = ACK_TIMEOUT × (2^(MAX_RETRANSMIT+1) − 1) × ACK_RANDOM_FACTOR (93 s).
    #[must_use]
    pub fn max_transmit_wait(&self) -> Duration {
        scale(
            self.ack_timeout,
            f64::from(self.pow2(1) - 1) * self.factor(),
        )
    }
    /// PROCESSING_DELAY = ACK_TIMEOUT.
    #[must_use]
    pub fn processing_delay(&self) -> Duration {
        self.ack_timeout
    }
    /// EXCHANGE_LIFETIME = MAX_TRANSMIT_SPAN + 2 × MAX_LATENCY + PROCESSING_DELAY (247 s).
    #[must_use]
    pub fn exchange_lifetime(&self) -> Duration {
        self.max_transmit_span()
            .saturating_add(self.max_latency.saturating_mul(2))
            .saturating_add(self.processing_delay())
    }
    /// NON_LIFETIME = MAX_TRANSMIT_SPAN + MAX_LATENCY (145 s).
    #[must_use]
    pub fn non_lifetime(&self) -> Duration {
        self.max_transmit_span().saturating_add(self.max_latency)
    }
    /// The initial retransmission timeout for a random `r` in [0, 1]:
    /// ACK_TIMEOUT × (1 + r × (ACK_RANDOM_FACTOR − 1)).
    #[must_use]
    pub fn initial_timeout(&self, r: f64) -> Duration {
        let r = if r.is_finite() {
            r.clamp(0.0, 1.0)
        } else {
            0.0
        };
        scale(self.ack_timeout, 1.0 + r * (self.factor() - 1.0))
    }
}

/// `d × k` without the panics of `Duration::mul_f64` (saturates instead).
fn scale(d: Duration, k: f64) -> Duration {
    Duration::try_from_secs_f64(d.as_secs_f64() * k).unwrap_or(Duration::MAX)
}

/// `now + d`, saturating far in the future instead of panicking on overflow.
pub(crate) fn later(now: std::time::Instant, d: Duration) -> std::time::Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(d.min(FAR)).unwrap_or(now)
}

/// Everything an [`crate::Endpoint`] can be tuned with. Every table the engine keeps is
/// bounded by one of these, so memory is bounded per peer and in total (see the README).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// RFC 7252 §4.8 parameters.
    pub transmission: TransmissionParams,
    /// Largest datagram sent (and accepted) in bytes (default 1152, RFC 7252 §4.6).
    pub max_message_size: usize,
    /// Preferred block size exponent for Block1/Block2 (default 6 = 1024 bytes; 0..=6).
    pub block_szx: u8,
    /// Largest body reassembled from Block1 (server) or Block2 (client) (default 64 KiB).
    pub max_body_size: usize,
    /// Peers with state in the deduplication cache (default 1024). Datagrams from new
    /// peers beyond this are dropped.
    pub max_peers: usize,
    /// Deduplication entries per peer (default 1024: a block-wise transfer of 64 KiB in
    /// 64-byte blocks). When full, an entry older than MAX_TRANSMIT_WAIT is evicted;
    /// otherwise a CON request gets 5.03 with Max-Age.
    pub max_dedup_per_peer: usize,
    /// Deduplication entries in total (default 16384).
    pub max_dedup_total: usize,
    /// Client exchanges in flight or queued (default 256).
    pub max_client_exchanges: usize,
    /// Observers (server side) in total (default 256).
    pub max_observers: usize,
    /// Observers per peer (default 16).
    pub max_observers_per_peer: usize,
    /// Concurrent Block1 reassemblies (default 32; 4 per peer).
    pub max_block1_assemblies: usize,
    /// Block1 reassemblies per peer (default 4).
    pub max_block1_per_peer: usize,
    /// Cached block-wise responses served to Block2 follow-ups (default 32).
    pub max_block2_cache: usize,
    /// Responses the resources may defer at once (default 256).
    pub max_deferred: usize,
    /// How long partial block-wise state and deferred requests live (default EXCHANGE_LIFETIME).
    pub block_lifetime: Option<core::time::Duration>,
    /// Send a confirmable notification at least this often per observer (RFC 7641 §4.5;
    /// default 24 h).
    pub notification_con_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            transmission: TransmissionParams::default(),
            max_message_size: 1152,
            block_szx: 6,
            max_body_size: 64 * 1024,
            max_peers: 1024,
            max_dedup_per_peer: 1024,
            max_dedup_total: 16 * 1024,
            max_client_exchanges: 256,
            max_observers: 256,
            max_observers_per_peer: 16,
            max_block1_assemblies: 32,
            max_block1_per_peer: 4,
            max_block2_cache: 32,
            max_deferred: 256,
            block_lifetime: None,
            notification_con_interval: Duration::from_secs(24 * 3600),
        }
    }
}

impl Config {
    pub(crate) fn szx(&self) -> u8 {
        self.block_szx.min(6)
    }
    pub(crate) fn block_lifetime(&self) -> Duration {
        self.block_lifetime
            .unwrap_or_else(|| self.transmission.exchange_lifetime())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_times_match_rfc7252_4_8_2() {
        let p = TransmissionParams::default();
        assert_eq!(p.max_transmit_span(), Duration::from_secs(45));
        assert_eq!(p.max_transmit_wait(), Duration::from_secs(93));
        assert_eq!(p.exchange_lifetime(), Duration::from_secs(247));
        assert_eq!(p.non_lifetime(), Duration::from_secs(145));
        assert_eq!(p.initial_timeout(0.0), Duration::from_secs(2));
        assert_eq!(p.initial_timeout(1.0), Duration::from_secs(3));
    }
}
