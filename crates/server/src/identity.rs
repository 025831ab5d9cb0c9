//! From what the CoAP security layer authenticated to what the engines decide on.

use std::sync::Arc;

use ace_coap::PeerIdentity;
use ace_core::ChannelIdentity;

/// Maps the [`PeerIdentity`] a security layer authenticated to the engines'
/// [`ChannelIdentity`].
pub type IdentityMap = Arc<dyn Fn(&PeerIdentity) -> ChannelIdentity + Send + Sync>;

/// The default mapping: an OSCORE peer is known by its Sender ID (the key identifier of the
/// context, like a DTLS PSK identity: RFC 9200 Appendix D, RFC 9203 §3.2 "the kid of the
/// OSCORE Security Context"); a DTLS PSK identity (`Other { scheme: "dtls-psk" }`) likewise.
/// Everything else, plain CoAP included, is anonymous.
#[must_use]
pub fn default_identity_map() -> IdentityMap {
    Arc::new(|peer: &PeerIdentity| match peer {
        PeerIdentity::Oscore { sender_id, .. } => ChannelIdentity::PskIdentity(sender_id.clone()),
        PeerIdentity::Other { scheme, id } if scheme == "dtls-psk" => {
            ChannelIdentity::PskIdentity(id.clone())
        }
        _ => ChannelIdentity::Anonymous,
    })
}
