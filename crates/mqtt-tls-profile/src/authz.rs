//! Authorization of PUBLISH, SUBSCRIBE and outbound delivery against a [`Grant`]
//! (RFC 9431 §3; MQ-090…MQ-101, MQ-110, MQ-T11, MQ-T12; truth table A.3.5).
//!
//! Matching is the `aif` crate's (`MqttAif::allows_publish` / `allows_subscribe`); this module
//! adds what the profile reserves for the broker: the publish-only `authz-info` topic, expiry
//! and the reason codes per protocol version and QoS.

use ace_token::UnixTime;

use crate::consts::{AUTHZ_INFO_TOPIC, protocol_level, reason, v311_return};
use crate::error::Error;
use crate::token::Grant;

/// What to do with an inbound PUBLISH (topic alias already resolved, MQ-T12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishCheck {
    /// Route it.
    Allow,
    /// A token upload to `authz-info`: validate and store, never forward (MQ-020, R7).
    TokenUpload,
    /// Refuse it: see [`Denial`].
    Deny(Denial),
}

/// How a refused PUBLISH is answered (MQ-091, RFC 9431 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Denial {
    /// v5 QoS ≥ 1: PUBACK (QoS 1) or PUBREC (QoS 2) with this reason code, keep going.
    Ack(u8),
    /// v5 QoS 0: DISCONNECT with this reason code and close.
    Disconnect(u8),
    /// v3.1.1: ignore the PUBLISH and close the network connection.
    Close,
}

impl Denial {
    /// The answer to a refused PUBLISH for this `version` and `qos`, with `error`'s code.
    #[must_use]
    pub fn for_publish(error: &Error, version: u8, qos: u8) -> Self {
        if version != protocol_level::V5 {
            Self::Close
        } else if qos == 0 {
            Self::Disconnect(error.reason_code())
        } else {
            Self::Ack(error.reason_code())
        }
    }
}

/// Why a PUBLISH is not allowed, or `Ok` with the decision.
///
/// # Errors
/// [`Error::SessionExpired`] (token expired, MQ-110), [`Error::NotAuthorized`] (no `pub`
/// entry covers the topic), [`Error::MalformedPacket`] (not a valid Topic Name).
pub fn publish_error(grant: &Grant, topic: &str, now: UnixTime) -> Result<bool, Error> {
    if topic == AUTHZ_INFO_TOPIC {
        return Ok(false);
    }
    if grant.is_expired(now) {
        return Err(Error::SessionExpired);
    }
    match grant.scope.allows_publish(topic) {
        Ok(true) => Ok(true),
        Ok(false) => Err(Error::NotAuthorized),
        Err(e) => Err(Error::MalformedPacket(e.to_string())),
    }
}

/// Decides an inbound PUBLISH on `topic` with `qos` from a client of `version`.
#[must_use]
pub fn check_publish(
    grant: &Grant,
    topic: &str,
    qos: u8,
    version: u8,
    now: UnixTime,
) -> PublishCheck {
    match publish_error(grant, topic, now) {
        Ok(true) => PublishCheck::Allow,
        Ok(false) => PublishCheck::TokenUpload,
        Err(e) => PublishCheck::Deny(Denial::for_publish(&e, version, qos)),
    }
}

/// Decides one SUBSCRIBE Topic Filter (MQ-100; `$share/{name}/` stripped by `aif`).
///
/// # Errors
/// [`Error::SessionExpired`], [`Error::NotAuthorized`] (also for `authz-info`, publish-only,
/// MQ-020), [`Error::MalformedPacket`] for an invalid filter.
pub fn check_subscribe(grant: &Grant, filter: &str, now: UnixTime) -> Result<(), Error> {
    let inner = aif::mqtt::strip_shared_subscription(filter)
        .map_err(|e| Error::MalformedPacket(e.to_string()))?;
    if inner == AUTHZ_INFO_TOPIC {
        return Err(Error::NotAuthorized);
    }
    if grant.is_expired(now) {
        return Err(Error::SessionExpired);
    }
    match grant.scope.allows_subscribe(filter) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::NotAuthorized),
        Err(e) => Err(Error::MalformedPacket(e.to_string())),
    }
}

/// The SUBACK code for a refused filter: 0x87 in v5 (0x8F for an invalid filter), 0x80 in
/// v3.1.1 (RFC 9431 §3.3, §6.2).
#[must_use]
pub fn suback_failure(error: &Error, version: u8) -> u8 {
    if version != protocol_level::V5 {
        return v311_return::SUBACK_FAILURE;
    }
    match error {
        Error::MalformedPacket(_) => reason::TOPIC_FILTER_INVALID,
        e => e.reason_code(),
    }
}

/// Whether a message on `topic` may still be sent to a subscriber holding `grant`
/// (MQ-092, MQ-110, MQ-T11: checked at delivery, so an expired token or a narrower scope
/// after re-authentication disconnects the subscriber instead of dropping silently).
///
/// # Errors
/// [`Error::SessionExpired`] or [`Error::NotAuthorized`].
pub fn check_delivery(grant: &Grant, topic: &str, now: UnixTime) -> Result<(), Error> {
    if topic == AUTHZ_INFO_TOPIC {
        return Err(Error::NotAuthorized);
    }
    if grant.is_expired(now) {
        return Err(Error::SessionExpired);
    }
    // A Topic Name is a filter without wildcards: covered by some `sub` entry.
    match grant.scope.allows_subscribe(topic) {
        Ok(true) => Ok(()),
        _ => Err(Error::NotAuthorized),
    }
}
