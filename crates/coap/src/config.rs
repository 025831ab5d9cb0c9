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
    /// peers beyond this are dropped. Also bounds the peers (and groups) with outgoing
    /// Message ID state; beyond it messages to new peers wait like exhausted IDs.
    pub max_peers: usize,
    /// Deduplication entries (message IDs) per peer (default 65,536: the whole 16-bit ID
    /// space, so a peer using every ID within EXCHANGE_LIFETIME, the most RFC 7252 §4.4
    /// allows, is never refused). Beyond it a CON request gets 5.03 with Max-Age.
    pub max_dedup_per_peer: usize,
    /// Deduplication entries in total, all peers (default 262,144 ≈ 4 peers at the RFC's
    /// maximum rate, or ~1,060 requests/s sustained in aggregate; about 100 bytes each
    /// plus the cached reply while it is kept). Beyond it a CON request gets 5.03 with
    /// Max-Age. Entries are never evicted before their lifetime ends (exactly-once).
    pub max_dedup_total: usize,
    /// Bytes of cached replies (the piggybacked response, empty ACK or RST resent for a
    /// duplicate CON) in total (default 16 MiB). A reply is kept for MAX_TRANSMIT_SPAN +
    /// MAX_LATENCY (145 s) after the request arrived — as long as the sender can still be
    /// retransmitting; the ID alone is kept until EXCHANGE_LIFETIME. While the budget is
    /// used up, new CON requests get 5.03 with Max-Age.
    pub max_dedup_reply_bytes: usize,
    /// How long a client request may wait for a free Message ID towards its peer
    /// (RFC 7252 §4.4: an ID is not reused within EXCHANGE_LIFETIME / NON_LIFETIME)
    /// before it fails with [`crate::Error::MessageIdsExhausted`]. `None` (default)
    /// waits as long as needed (at most about EXCHANGE_LIFETIME); `Some(Duration::ZERO)`
    /// makes `Endpoint::request` refuse at once (back-pressure).
    pub message_id_wait: Option<Duration>,
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
    /// Group communication (RFC 7252 §8) settings for requests received via multicast.
    pub multicast: MulticastConfig,
    /// Piggyback window for deferred responses (default 100 ms). When a resource answers
    /// a CON request with [`crate::Handled::Deferred`], the engine holds the empty ACK back
    /// for this long (RFC 7252 §5.2.2: "the server may wait a short time"): a response
    /// given to [`crate::Endpoint::respond`] within the window is piggybacked on the ACK
    /// (one datagram); otherwise the empty ACK goes out when the window ends and the
    /// response follows as a separate CON. Duplicates of the request that arrive during
    /// the window are ignored (the handler does not run again; the one ACK still comes).
    /// `Duration::ZERO` sends the empty ACK at once. The window is capped at half of
    /// ACK_TIMEOUT, so the client's first retransmission (after at least ACK_TIMEOUT) is
    /// not provoked.
    pub piggyback_window: Duration,
}

/// How a server answers requests that arrived via multicast (RFC 7252 §8.2,
/// draft-ietf-core-groupcomm-bis §3.1).
#[derive(Debug, Clone, PartialEq)]
pub struct MulticastConfig {
    /// Leisure: each response is sent at a random instant within this period after the
    /// request arrived (default 5 s, RFC 7252 §8.2 DEFAULT_LEISURE).
    pub leisure: Duration,
    /// Send 4.xx/5.xx responses to multicast requests (default `false`: suppressed, as
    /// RFC 7252 §8.2 and groupcomm-bis §3.1.2 recommend). A No-Response option
    /// (RFC 7967) in the request overrides this for its classes.
    pub error_responses: bool,
    /// Responses waiting for their leisure instant (default 256); beyond it new
    /// responses to multicast requests are dropped.
    pub max_pending: usize,
}

impl Default for MulticastConfig {
    fn default() -> Self {
        Self {
            leisure: Duration::from_secs(5),
            error_responses: false,
            max_pending: 256,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            transmission: TransmissionParams::default(),
            max_message_size: 1152,
            block_szx: 6,
            max_body_size: 64 * 1024,
            max_peers: 1024,
            max_dedup_per_peer: 1 << 16,
            max_dedup_total: 1 << 18,
            max_dedup_reply_bytes: 16 << 20,
            message_id_wait: None,
            max_client_exchanges: 256,
            max_observers: 256,
            max_observers_per_peer: 16,
            max_block1_assemblies: 32,
            max_block1_per_peer: 4,
            max_block2_cache: 32,
            max_deferred: 256,
            block_lifetime: None,
            notification_con_interval: Duration::from_secs(24 * 3600),
            multicast: MulticastConfig::default(),
            piggyback_window: DEFAULT_PIGGYBACK_WINDOW,
        }
    }
}

/// Default of [`Config::piggyback_window`]: 100 ms, well below ACK_TIMEOUT (2 s).
pub const DEFAULT_PIGGYBACK_WINDOW: Duration = Duration::from_millis(100);

impl Config {
    pub(crate) fn szx(&self) -> u8 {
        self.block_szx.min(6)
    }
    /// How long a cached reply is kept for duplicates: MAX_TRANSMIT_SPAN + MAX_LATENCY.
    pub(crate) fn reply_lifetime(&self) -> Duration {
        let p = &self.transmission;
        p.max_transmit_span().saturating_add(p.max_latency)
    }
    /// Granularity of the Message ID allocator's runs (EXCHANGE_LIFETIME / 256, ≥ 1 ms).
    pub(crate) fn mid_granularity(&self) -> Duration {
        (self.transmission.exchange_lifetime() / 256).max(Duration::from_millis(1))
    }
    /// [`Config::piggyback_window`], at most ACK_TIMEOUT / 2.
    pub(crate) fn effective_piggyback_window(&self) -> Duration {
        self.piggyback_window.min(self.transmission.ack_timeout / 2)
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
