//! Code points and labels of Group OSCORE (draft-ietf-core-oscore-groupcomm, newest draft in
//! `shared/specs/latest/`). COSE algorithm values come from `coset::iana`, never copied.

/// OSCORE flag bits (draft §5.1 "Encoding of the OSCORE Option Value", IANA "OSCORE Flag
/// Bits" registry).
pub mod flags {
    /// The Group Flag (bit 2, the sixth least significant bit): 1 = group mode, 0 = pairwise
    /// mode or plain OSCORE (draft §5.1, §12.1).
    pub const GROUP: u8 = 0x20;
    /// Bits still reserved after the Group Flag: bit 0 (extension flag) and bit 1.
    pub const RESERVED: u8 = 0xC0;
}

/// HKDF labels (the `type` element of the `info` array).
pub mod labels {
    /// Sender/Recipient Keys and pairwise keys (RFC 8613 §3.2.1).
    pub const KEY: &str = "Key";
    /// Common IV (RFC 8613 §3.2.1; length per draft §2.1.4).
    pub const IV: &str = "IV";
    /// Signature Encryption Key (draft §2.1.9; "Group Encryption Key" in draft -23).
    pub const SIGNATURE_ENCRYPTION_KEY: &str = "SEKey";
}

/// The COSE header label "Countersignature0 version 2" (RFC 9338 §3.3, used by draft §4.1).
pub const COUNTERSIGNATURE0_V2: i64 = 12;
/// The COSE header label 'kid context' (RFC 8613 §5.1, COSE registry).
pub const KID_CONTEXT: i64 = 10;

/// The context string of the Countersign_structure (draft §4.1: "CounterSignature0").
pub const COUNTERSIGN_CONTEXT: &str = "CounterSignature0";

/// CWT Claims Set (RFC 8392) labels used by CCS authentication credentials (draft §2.4).
pub mod ccs {
    /// `sub` claim (RFC 8392 §3.1.2).
    pub const SUB: i64 = 2;
    /// `cnf` claim (RFC 8747 §3.1).
    pub const CNF: i64 = 8;
    /// `COSE_Key` inside `cnf` (RFC 8747 §3.2).
    pub const COSE_KEY: i64 = 1;
}

/// The signature length of the signature algorithms this crate supports (ES256 `r || s`,
/// EdDSA Ed25519): 64 bytes.
pub const SIGNATURE_LEN: usize = 64;

/// The default maximum number of Recipient Contexts of one Security Context (draft §2.2
/// lets the application choose).
pub const DEFAULT_MAX_RECIPIENTS: usize = 64;

/// How many retired Gids a [`crate::GroupEndpoint`] remembers to tell "stale keying
/// material" from "unknown group".
pub const RETIRED_GIDS_KEPT: usize = 8;
