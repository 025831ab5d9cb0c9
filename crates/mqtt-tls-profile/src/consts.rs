//! Code points and fixed values of RFC 9431 and the MQTT v5 / v3.1.1 values the profile uses
//! (digest Part A, §A.2.15-A.2.16).

/// TLS exporter label for the PoP challenge (RFC 9431 §2.2.4.2.1, §7.1; MQ-042, MQ-140).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-ACE-MQTT-Sign-Challenge";
/// Length of the TLS exporter output in bytes (RFC 9431 §2.2.4.2.1; MQ-042).
pub const EXPORTER_LEN: usize = 32;
/// Exporter context: present and empty (RFC 9431 §2.2.4.2.1; errata MQTT-TLS, MQ-T1).
pub const EXPORTER_CONTEXT: &[u8] = &[];
/// The Authentication Method value (RFC 9431 §2.2.4.2; MQ-032).
pub const AUTH_METHOD: &str = "ace";
/// The token-upload topic (RFC 9431 §2.2.2; MQ-020).
pub const AUTHZ_INFO_TOPIC: &str = "authz-info";
/// Length of the Broker (RS) nonce (RFC 9431 §2.2.4.2.2, Figure 6; MQ-050).
pub const RS_NONCE_LEN: usize = 8;
/// Length of the client nonce (RFC 9431 §2.2.4.2.2, Figure 7; MQ-052, MQ-T4).
pub const CLIENT_NONCE_LEN: usize = 8;
/// Length of the token-length prefix inside Authentication Data (RFC 9431 Figures 4-5).
pub const TOKEN_LEN_PREFIX: usize = 2;
/// The CONNACK User Property name for AS discovery (RFC 9431 §2.4.1; MQ-082).
pub const AS_HINT_PROPERTY: &str = "ace_as_hint";
/// The v3.1.1 Username prefix (RFC 9431 §6.1, Figure 13; MQ-133).
pub const V311_USERNAME_PREFIX: &str = "ace";
/// HMAC-SHA-256 PoP length in bytes (MQ-045, MQ-T2).
pub const HMAC_SHA256_LEN: usize = 32;
/// Ed25519 / ES256 (raw r‖s) PoP length in bytes (MQ-045, MQ-T2).
pub const SIGNATURE_LEN: usize = 64;

/// MQTT protocol levels (MQTT v5 §3.1.2.2, MQTT 3.1.1 §3.1.2.2).
pub mod protocol_level {
    /// MQTT 3.1.1.
    pub const V311: u8 = 4;
    /// MQTT 5.0.
    pub const V5: u8 = 5;
}

/// MQTT v5 reason codes used by the profile (MQTT v5 §2.4; digest §A.2.16).
pub mod reason {
    /// Success / normal disconnection / granted QoS 0.
    pub const SUCCESS: u8 = 0x00;
    /// Disconnect with Will message (client DISCONNECT).
    pub const DISCONNECT_WITH_WILL: u8 = 0x04;
    /// No subscription existed (UNSUBACK).
    pub const NO_SUBSCRIPTION_EXISTED: u8 = 0x11;
    /// Continue authentication (AUTH; RFC 9431 §2.2.4.2.2).
    pub const CONTINUE_AUTHENTICATION: u8 = 0x18;
    /// Re-authenticate (AUTH, client only; RFC 9431 §4).
    pub const RE_AUTHENTICATE: u8 = 0x19;
    /// Unspecified error; v3.1.1 SUBACK failure (RFC 9431 §6.2).
    pub const UNSPECIFIED_ERROR: u8 = 0x80;
    /// Malformed packet.
    pub const MALFORMED_PACKET: u8 = 0x81;
    /// Protocol error (MQ-T6: Authentication Data without Authentication Method).
    pub const PROTOCOL_ERROR: u8 = 0x82;
    /// Unsupported protocol version (CONNACK).
    pub const UNSUPPORTED_PROTOCOL_VERSION: u8 = 0x84;
    /// Not authorized (RFC 9431 §2.4.1, §3, §4, §5).
    pub const NOT_AUTHORIZED: u8 = 0x87;
    /// Server shutting down (DISCONNECT).
    pub const SERVER_SHUTTING_DOWN: u8 = 0x8B;
    /// Server unavailable (MQTT v5 §3.2.2.2): the AS could not be asked (introspection).
    pub const SERVER_UNAVAILABLE: u8 = 0x88;
    /// Bad authentication method (CONNACK; RFC 9431 §2.2.4.2, MQ-032).
    pub const BAD_AUTHENTICATION_METHOD: u8 = 0x8C;
    /// Keep alive timeout (DISCONNECT).
    pub const KEEP_ALIVE_TIMEOUT: u8 = 0x8D;
    /// Session taken over (DISCONNECT; MQ-037).
    pub const SESSION_TAKEN_OVER: u8 = 0x8E;
    /// Topic filter invalid (SUBACK).
    pub const TOPIC_FILTER_INVALID: u8 = 0x8F;
    /// Topic name invalid.
    pub const TOPIC_NAME_INVALID: u8 = 0x90;
    /// Packet identifier not found (PUBREL / PUBCOMP for an unknown QoS 2 exchange).
    pub const PACKET_IDENTIFIER_NOT_FOUND: u8 = 0x92;
    /// Receive maximum exceeded (DISCONNECT).
    pub const RECEIVE_MAXIMUM_EXCEEDED: u8 = 0x93;
    /// Topic alias invalid (DISCONNECT).
    pub const TOPIC_ALIAS_INVALID: u8 = 0x94;
    /// Packet too large (DISCONNECT).
    pub const PACKET_TOO_LARGE: u8 = 0x95;
    /// Quota exceeded (DISCONNECT: the per-client queue overflowed).
    pub const QUOTA_EXCEEDED: u8 = 0x97;
    /// Payload format invalid (`authz-info` payload that is not a token; RFC 9431 §2.2.2).
    pub const PAYLOAD_FORMAT_INVALID: u8 = 0x99;
    /// Shared subscriptions not supported (SUBACK).
    pub const SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: u8 = 0x9E;
    /// Subscription identifiers not supported.
    pub const SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED: u8 = 0xA1;
}

/// MQTT 3.1.1 CONNACK return codes (MQTT 3.1.1 §3.2.2.3; picks MQ-T10).
pub mod v311_return {
    /// Connection accepted.
    pub const ACCEPTED: u8 = 0x00;
    /// Unacceptable protocol version.
    pub const UNACCEPTABLE_PROTOCOL_VERSION: u8 = 0x01;
    /// Bad user name or password (MQ-T10: Username without the `ace` prefix or not base64url).
    pub const BAD_USERNAME_OR_PASSWORD: u8 = 0x04;
    /// Not authorized (MQ-T10: missing or invalid token, bad PoP).
    pub const NOT_AUTHORIZED: u8 = 0x05;
    /// SUBACK failure return code (MQTT 3.1.1 §3.9.3; RFC 9431 §6.2).
    pub const SUBACK_FAILURE: u8 = 0x80;
}
