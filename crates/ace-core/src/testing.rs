//! Test support (feature `test-util`): the keys of the ACE interop test plan and an
//! in-memory harness that drives client ↔ AS ↔ RS exchanges with a virtual clock.
//!
//! Every message crosses the harness as bytes (encoded by the sender, decoded by the
//! receiver), so the codecs are exercised on every leg, and a tamper hook can alter them.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use ace_token::{
    AceProfile, Algorithm, CryptoRng, KeySet, KeyType, PrivateKey, PublicKey, RustCrypto, Scope,
    SecretBytes, TokenKey, UnixTime,
};
use aif::{LocalPart, Method, RestAif, RestMethods};

use crate::auth_server::{AsConfig, AsEffect, AsEngine};
use crate::client::{AccessInfo, ClientEngine};
use crate::consts::ContentFormat;
use crate::error::{CoapCode, Error, Result};
use crate::msg::{CreationHints, IntrospectionRequest, TokenRequest};
use crate::policy::{ScopeMap, StaticPolicy};
use crate::profile::ChannelIdentity;
use crate::registry::{
    ClientCredential, ClientInfo, MemoryRegistry, ResourceServerInfo, TokenFormat,
};
use crate::resource_server::{Access, RsConfig, RsEffect, RsEngine, RsResponse};
use crate::store::{MemoryAcceptedTokens, MemoryTokenStore};

/// Keys and identities of the 2018 ACE interop test plan
/// (`shared/vectors/ace-interop/InteropTestPlan.txt`, section I).
pub mod interop {
    use super::{KeyType, PrivateKey, PublicKey};
    use crate::Result;

    /// Client1 PSK (identity "client1").
    pub const CLIENT1_PSK: [u8; 16] = [
        0x61, 0x62, 0x63, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
        0x10,
    ];
    /// Client2 PSK (identity "client2").
    pub const CLIENT2_PSK: [u8; 16] = [
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
        0x10,
    ];
    /// Client4 PSK (identity "client4").
    pub const CLIENT4_PSK: [u8; 16] = [
        0x51, 0x52, 0x53, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
        0x10,
    ];
    /// Key shared by RS1 and the AS (keyId "RS1").
    pub const RS1_KEY: [u8; 16] = [
        0xa1, 0xa2, 0xa3, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
        0x10,
    ];
    /// Key shared by RS2 and the AS (keyId "RS2").
    pub const RS2_KEY: [u8; 16] = [
        0xb1, 0xb2, 0xb3, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
        0x10,
    ];
    /// The symmetric PoP key used in the RS tests ("Octet_K").
    pub const POP_KEY: [u8; 16] = [
        0x61, 0x62, 0x63, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
        0x10,
    ];
    /// Client3 RPK `x`.
    pub const CLIENT3_X: &str = "12D6E8C4D28F83110A57D253373CAD52F01BC447E4093541F643B385E179C110";
    /// Client3 RPK `y`.
    pub const CLIENT3_Y: &str = "283B3D8D28FFA59FE5CB540412A750FA8DFA34F6DA69BCDA68400D679C1347E8";
    /// Client3 RPK `d` (the plan's 33-byte form with a leading zero).
    pub const CLIENT3_D: &str =
        "00A43BAA7ED22FF2699BA62CA4999359B146F065A95C4E46017CD25EB89A94AD29";
    /// AS RPK `x`.
    pub const AS_X: &str = "058F35F3C0D34D3DF50DEBC82208CDA9BE373AF7B8F7AAC381577B144D5FA781";
    /// AS RPK `y`.
    pub const AS_Y: &str = "364269649744067D4600A529AE12076750D90C5EFCD9835137DB1AE2B4BACCB8";
    /// AS RPK `d`.
    pub const AS_D: &str = "0089A92D07B34F1D806FABFF444AF6507C5F18F47BB2CCFAA7FBEC447303790D53";
    /// RS2 RPK `x`.
    pub const RS2_X: &str = "73B7D755827D5D59D73FD4015D47B445762F7CDB59799CD966714AB2727F1BA5";
    /// RS2 RPK `y`.
    pub const RS2_Y: &str = "1A84F5C82797643D33F7E6E6AFCF016522238CE430E1BF21A218E6B4DEEAC37A";

    /// Hex to bytes (test constants only).
    ///
    /// # Errors
    /// [`crate::Error::InvalidValue`] for non-hex input.
    pub fn hex(s: &str) -> Result<alloc::vec::Vec<u8>> {
        let digit = |c: u8| -> Result<u8> {
            match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                b'A'..=b'F' => Ok(c - b'A' + 10),
                _ => Err(crate::Error::InvalidValue("hex")),
            }
        };
        s.as_bytes()
            .chunks(2)
            .map(|p| match p {
                [a, b] => Ok(digit(*a)? << 4 | digit(*b)?),
                _ => Err(crate::Error::InvalidValue("hex")),
            })
            .collect()
    }

    fn p256_public(x: &str, y: &str) -> Result<PublicKey> {
        PublicKey::p256_from_coordinates(&hex(x)?, &hex(y)?)
            .map_err(|e| crate::Error::Token(e.into()))
    }

    fn p256_private(d: &str) -> Result<PrivateKey> {
        let d = hex(d)?;
        // The plan writes `d` as 33 bytes with a leading zero.
        let d = d.strip_prefix(&[0u8][..]).unwrap_or(&d);
        PrivateKey::from_bytes(KeyType::P256, d).map_err(|e| crate::Error::Token(e.into()))
    }

    /// Client3's public key.
    ///
    /// # Errors
    /// Never for the fixed values.
    pub fn client3_public() -> Result<PublicKey> {
        p256_public(CLIENT3_X, CLIENT3_Y)
    }

    /// Client3's private key.
    ///
    /// # Errors
    /// Never for the fixed values.
    pub fn client3_private() -> Result<PrivateKey> {
        p256_private(CLIENT3_D)
    }

    /// The AS's public key.
    ///
    /// # Errors
    /// Never for the fixed values.
    pub fn as_public() -> Result<PublicKey> {
        p256_public(AS_X, AS_Y)
    }

    /// The AS's private key.
    ///
    /// # Errors
    /// Never for the fixed values.
    pub fn as_private() -> Result<PrivateKey> {
        p256_private(AS_D)
    }

    /// RS2's public key.
    ///
    /// # Errors
    /// Never for the fixed values.
    pub fn rs2_public() -> Result<PublicKey> {
        p256_public(RS2_X, RS2_Y)
    }
}

/// The plan's resources and scopes (section I.5): `HelloWorld` = GET `/ace/helloWorld`,
/// `r_Lock` = GET `/ace/lock`, `rw_Lock` = GET+PUT `/ace/lock`.
///
/// # Errors
/// Never for the fixed values.
pub fn interop_scope_map() -> Result<ScopeMap> {
    let lp = |s: &str| LocalPart::new(s).map_err(|_| Error::InvalidValue("local part"));
    Ok(ScopeMap::new()
        .with_text(
            "HelloWorld",
            RestAif::new().with(lp("/ace/helloWorld")?, RestMethods::GET),
        )
        .with_text(
            "r_Lock",
            RestAif::new().with(lp("/ace/lock")?, RestMethods::GET),
        )
        .with_text(
            "rw_Lock",
            RestAif::new().with(lp("/ace/lock")?, RestMethods::GET | RestMethods::PUT),
        ))
}

/// The backend every harness engine uses.
#[must_use]
pub fn backend() -> Arc<dyn ace_token::FullBackend + Send + Sync> {
    Arc::new(RustCrypto)
}

/// A small deployment: AS "as" with client "client" (secret "secret", scopes "read write"
/// at "rs1"), RS "rs1" (AES-CCM-16-64-128 Encrypt0 tokens, one-hour lifetime) mapping
/// `read` → GET /s, `write` → PUT /s.
///
/// # Errors
/// Never for the fixed values.
pub fn example_deployment(now: UnixTime) -> Result<(AsEngine, RsEngine)> {
    let rs_key = [0x42u8; 16];
    let dtls = AceProfile(crate::consts::profile::COAP_DTLS);
    let registry = MemoryRegistry::new()
        .with_client(
            ClientInfo::new("client")
                .with_credential(ClientCredential::Secret(SecretBytes::from_slice(b"secret")))
                .with_profile(dtls),
        )
        .with_resource_server(ResourceServerInfo::new(
            "rs1",
            dtls,
            TokenFormat::Encrypt0 {
                alg: Algorithm::AES_CCM_16_64_128,
                key: SecretBytes::from_slice(&rs_key),
                kid: Some(b"rs1".to_vec()),
            },
        ));
    let policy = StaticPolicy::new().allow("client", "rs1", Scope::Text("read write".into()));
    let as_engine = AsEngine::new(
        AsConfig::new("as"),
        Box::new(registry),
        Box::new(policy),
        Box::new(MemoryTokenStore::new()),
        backend(),
    );
    let lp = |s: &str| LocalPart::new(s).map_err(|_| Error::InvalidValue("local part"));
    let mut cfg = RsConfig::new("rs1", "coaps://as.example/token");
    cfg.issuers = alloc::vec![String::from("as")];
    cfg.scope_map = ScopeMap::new()
        .with_text("read", RestAif::new().with(lp("/s")?, RestMethods::GET))
        .with_text("write", RestAif::new().with(lp("/s")?, RestMethods::PUT));
    let keys = KeySet::new().with(TokenKey::symmetric(rs_key.to_vec()).with_kid(*b"rs1"));
    let rs = RsEngine::new(
        cfg,
        Box::new(keys),
        backend(),
        Box::new(MemoryAcceptedTokens::new()),
    );
    let _ = now;
    Ok((as_engine, rs))
}

/// Which leg a message travels on (for the tamper hook).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    /// Client → AS `/token`.
    TokenRequest,
    /// AS → client.
    TokenResponse,
    /// Client → RS `/authz-info`.
    AuthzInfo,
    /// RS → AS `/introspect`.
    IntrospectionRequest,
}

/// Alters a message in flight.
pub type Tamper = Box<dyn FnMut(Leg, &mut Vec<u8>) + Send>;

/// Client ↔ AS ↔ RS in memory, with a virtual clock. Effects are collected in
/// `as_effects` / `rs_effects` (a real shell would persist them before answering).
pub struct Harness<R> {
    /// Virtual time.
    pub now: UnixTime,
    /// The AS.
    pub as_engine: AsEngine,
    /// The RS.
    pub rs: RsEngine,
    /// Seeded randomness.
    pub rng: R,
    /// Every AS effect so far.
    pub as_effects: Vec<AsEffect>,
    /// Every RS effect so far.
    pub rs_effects: Vec<RsEffect>,
    /// The RS's identity towards the AS's `/introspect`.
    pub rs_identity: ChannelIdentity,
    /// Optional tamper hook.
    pub tamper: Option<Tamper>,
}

impl<R: CryptoRng> Harness<R> {
    /// A harness at `now`.
    #[must_use]
    pub fn new(now: UnixTime, as_engine: AsEngine, rs: RsEngine, rng: R) -> Self {
        Self {
            now,
            as_engine,
            rs,
            rng,
            as_effects: Vec::new(),
            rs_effects: Vec::new(),
            rs_identity: ChannelIdentity::Anonymous,
            tamper: None,
        }
    }

    /// Moves the virtual clock forward and runs both engines' expiry cleanup.
    pub fn advance(&mut self, secs: u64) {
        self.now = self.now.saturating_add(secs);
        let effects = self.rs.expire(self.now);
        self.rs_effects.extend(effects);
        if let Some(e) = self.as_engine.expire(self.now) {
            self.as_effects.push(e);
        }
    }

    fn tamper(&mut self, leg: Leg, bytes: &mut Vec<u8>) {
        if let Some(t) = self.tamper.as_mut() {
            t(leg, bytes);
        }
    }

    /// POST /token: encodes `req`, runs the AS, returns the code and payload bytes.
    ///
    /// # Errors
    /// Engine failures (never refusals).
    pub fn token(
        &mut self,
        channel: &ChannelIdentity,
        req: &TokenRequest,
    ) -> Result<(CoapCode, Vec<u8>)> {
        let mut bytes = req.encode()?;
        self.tamper(Leg::TokenRequest, &mut bytes);
        let out = self
            .as_engine
            .handle_token_bytes(self.now, channel, &bytes, &mut self.rng)?;
        self.as_effects.extend(out.effects);
        let mut payload = out.response.payload()?;
        self.tamper(Leg::TokenResponse, &mut payload);
        Ok((out.response.code(), payload))
    }

    /// POST /introspect from the RS (as `rs_identity`).
    ///
    /// # Errors
    /// Engine failures.
    pub fn introspect(&mut self, token: &[u8]) -> Result<(CoapCode, Vec<u8>)> {
        let mut bytes = IntrospectionRequest::new(token.to_vec()).encode()?;
        self.tamper(Leg::IntrospectionRequest, &mut bytes);
        let identity = self.rs_identity.clone();
        let out = self
            .as_engine
            .handle_introspect_bytes(self.now, &identity, &bytes)?;
        Ok((out.response.code(), out.response.payload()?))
    }

    /// POST /authz-info; a reference token is introspected at the AS on the way.
    ///
    /// # Errors
    /// Engine failures.
    pub fn authz_info(&mut self, cf: Option<ContentFormat>, payload: &[u8]) -> Result<RsResponse> {
        let mut bytes = payload.to_vec();
        self.tamper(Leg::AuthzInfo, &mut bytes);
        let out = self.rs.handle_authz_info(self.now, cf, &bytes)?;
        self.rs_effects.extend(out.effects);
        if let RsResponse::Introspect(req) = &out.response {
            let (code, body) = self.introspect(&req.token)?;
            let resp = if code == crate::consts::code::CREATED {
                crate::msg::IntrospectionResponse::decode(&body)?
            } else {
                crate::msg::IntrospectionResponse::default()
            };
            let done = self
                .rs
                .handle_introspection_response(self.now, &req.token, &resp)?;
            self.rs_effects.extend(done.effects);
            return Ok(done.response);
        }
        Ok(out.response)
    }

    /// A resource request at the RS.
    pub fn request(&mut self, peer: &ChannelIdentity, path: &str, method: Method) -> Access {
        self.rs
            .authorize(self.now, peer, path, method, &mut self.rng)
    }

    /// The whole flow for `client`: anonymous request → 4.01 + hints → token request → token
    /// upload → the channel identity to use with the RS.
    ///
    /// # Errors
    /// [`Error::Refused`] where the AS or RS refuses; engine failures.
    pub fn client_flow(
        &mut self,
        client: &ClientEngine,
        as_channel: &ChannelIdentity,
        path: &str,
        method: Method,
        scope: Option<Scope>,
    ) -> Result<AccessInfo> {
        let hints = match self.request(&ChannelIdentity::Anonymous, path, method) {
            Access::Unauthorized(h) => CreationHints::decode(&h.encode()?)?,
            _ => return Err(Error::Misuse("resource is not protected")),
        };
        let step = client.request_token(&hints, scope)?;
        let (code, body) = self.token(as_channel, &step.request)?;
        let info = step.handle_response(self.now, code, &body)?;
        let (cf, upload) = info.authz_info_request();
        let response = self.authz_info(Some(cf), &upload.encode()?)?;
        info.handle_authz_info_response(
            response
                .code()
                .ok_or(Error::Misuse("introspection still pending"))?,
        )?;
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interop_keys_load() {
        assert!(interop::client3_public().is_ok());
        assert!(interop::client3_private().is_ok());
        assert!(interop::as_private().is_ok());
        assert!(interop::as_public().is_ok());
        assert!(interop::rs2_public().is_ok());
        assert!(interop_scope_map().is_ok());
        assert_eq!(interop::hex("0aFf").unwrap(), [0x0a, 0xff]);
        assert!(interop::hex("0g").is_err());
        // keep the import used in no-test builds honest
        let _ = KeyType::P256;
    }
}
