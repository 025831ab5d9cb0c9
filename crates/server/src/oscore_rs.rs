//! The OSCORE profile of ACE (RFC 9203) at the RS shell: [`RsOscore`] runs
//! `ace_oscore::profile::OscoreProfile::rs_authz_info` at `/authz-info`, installs the derived
//! context into the running [`OscoreLayer`](ace_oscore::coap::OscoreLayer) (through a
//! [`SharedOscoreLayer`]), maps each verified OSCORE request to the token bound to its context
//! (`RsChannels::channel_identity`) and drops contexts whose token expired.
//!
//! ```text
//!  POST /authz-info (unprotected) {access_token, nonce1, ace_client_recipientid}
//!    ─► RsService ─► OscoreProfile::rs_authz_info(engine, channels, ..) ─► effects persisted
//!    ─► SecurityContext::new(params) added to the layer (the replaced one removed)
//!    ─► 2.01 {nonce2, ace_server_recipientid}
//!  request over OSCORE ─► layer (kid = ID2) ─► channel_identity(kid, ID Context, now)
//!    ─► ChannelIdentity::PskIdentity(material id) ─► RsEngine::authorize
//!  POST /authz-info over OSCORE (token update, cnf {kid}) ─► the context stays
//!  expiry ─► RsChannels::expire ─► contexts removed from the layer
//! ```
//!
//! With [`RsOscore::with_persistence`], every derived context (its parameters, the material
//! id and the token's expiry) is also written to the SQLite key-value table, and
//! [`RsOscore::restore`] brings them back after a restart: each continues after its persisted
//! sequence number and asks for an Echo round trip first (RFC 8613 Appendix B.1). The Master
//! Secret is then in the file; protect it like the token store (which holds the same
//! secret inside the accepted tokens).

use std::sync::{Arc, Mutex};

use ace_core::{ChannelIdentity, CoapCode, ContentFormat, PopBinding, RsEffect, RsEngine};
use ace_oscore::coap::SharedOscoreLayer;
use ace_oscore::profile::{OscoreProfile, RsChannel, RsChannels};
use ace_oscore::{ContextParams, SecurityContext};
use ace_store::SqliteStore;
use ace_token::crypto::{Rng, SecretBytes};
use ace_token::{RustCrypto, UnixTime};
use coset::iana::EnumI64 as _;

use crate::error::{Error, Result};

/// A context to remove: Recipient ID, ID Context, material id.
type Gone = (Vec<u8>, Option<Vec<u8>>, Vec<u8>);

/// Key prefix of persisted contexts in the key-value table.
pub const KV_PREFIX: &str = "rfc9203-rs-context/";

/// The RS's channels: the ones derived since start, and the ones restored from SQLite
/// (which `RsChannels` cannot take back in).
#[derive(Debug, Default)]
struct Channels {
    live: RsChannels,
    restored: Vec<RsChannel>,
}

/// What `/authz-info` answered, for the CoAP response.
#[derive(Debug)]
pub struct AuthzInfoAnswer {
    /// Response code.
    pub code: CoapCode,
    /// Payload (`application/ace+cbor` when not empty).
    pub payload: Vec<u8>,
}

/// The RS side of RFC 9203 next to an [`RsService`](crate::RsService) (see the module docs).
pub struct RsOscore {
    profile: OscoreProfile,
    channels: Mutex<Channels>,
    layer: SharedOscoreLayer<RustCrypto>,
    persist: Option<Arc<SqliteStore>>,
}

impl core::fmt::Debug for RsOscore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RsOscore").finish_non_exhaustive()
    }
}

fn kv_key(material_id: &[u8]) -> String {
    format!("{KV_PREFIX}{}", crate::sink::hex(material_id))
}

fn oscore_err(e: &ace_oscore::Error) -> Error {
    Error::Tls(format!("OSCORE: {e}"))
}

fn store_err(e: &ace_store::Error) -> Error {
    Error::Tls(format!("SQLite: {e}"))
}

impl RsOscore {
    /// The profile with default material handling, installing contexts into `layer` (the
    /// server runs a clone of it).
    #[must_use]
    pub fn new(layer: SharedOscoreLayer<RustCrypto>) -> Self {
        Self {
            profile: OscoreProfile::new(),
            channels: Mutex::new(Channels {
                live: RsChannels::new(),
                restored: Vec::new(),
            }),
            layer,
            persist: None,
        }
    }

    /// Persists derived contexts in `db`'s key-value table (see the module docs).
    #[must_use]
    pub fn with_persistence(mut self, db: Arc<SqliteStore>) -> Self {
        self.persist = Some(db);
        self
    }

    /// The layer the contexts go into.
    #[must_use]
    pub fn layer(&self) -> &SharedOscoreLayer<RustCrypto> {
        &self.layer
    }

    fn channels(&self) -> Result<std::sync::MutexGuard<'_, Channels>> {
        self.channels.lock().map_err(|_| Error::Poisoned)
    }

    /// Restores the contexts persisted before a restart whose token is still valid at
    /// `now` (the others are deleted). Each restored context continues after the value
    /// `sequence_start` gives for its (Sender ID, Recipient ID, ID Context) and requires
    /// Echo. Returns how many were restored.
    ///
    /// # Errors
    /// SQLite failures, a malformed record, an unusable context.
    pub fn restore(
        &self,
        now: UnixTime,
        sequence_start: impl Fn(&ContextParams) -> Result<Option<u64>>,
    ) -> Result<usize> {
        let Some(db) = &self.persist else {
            return Ok(0);
        };
        let mut restored = Vec::new();
        for (key, value) in db
            .values_with_prefix(KV_PREFIX)
            .map_err(|e| store_err(&e))?
        {
            // The record holds the Master Secret: zeroized when dropped.
            let value = SecretBytes::new(value);
            let rec = Record::decode(value.expose())
                .ok_or_else(|| Error::Tls(format!("malformed OSCORE context record {key}")))?;
            if rec.expires_at.is_some_and(|e| now >= e) {
                db.delete_value(&key).map_err(|e| store_err(&e))?;
                continue;
            }
            let start = sequence_start(&rec.params)?.unwrap_or(0);
            let mut echo = [0u8; 8];
            ace_token::crypto::os_rng().fill_bytes(&mut echo);
            let ctx = SecurityContext::restore(RustCrypto, rec.params.clone(), start, &echo)
                .map_err(|e| oscore_err(&e))?;
            self.layer.add_context(ctx).map_err(|e| oscore_err(&e))?;
            restored.push(RsChannel {
                material_id: rec.material_id,
                recipient_id: rec.params.recipient_id.clone(),
                id_context: rec.params.id_context.clone(),
                expires_at: rec.expires_at,
            });
        }
        let n = restored.len();
        let mut ch = self.channels()?;
        let reserved = restored.iter().map(|c| c.recipient_id.clone()).collect();
        ch.live = RsChannels::new().with_reserved(reserved);
        ch.restored = restored;
        Ok(n)
    }

    /// The engines' channel identity of a request the layer verified with the context whose
    /// Recipient ID is `kid` (RFC 9203 §4.4); `None` when unknown or expired.
    #[must_use]
    pub fn channel_identity(
        &self,
        kid: &[u8],
        id_context: Option<&[u8]>,
        now: UnixTime,
    ) -> Option<ChannelIdentity> {
        let ch = self.channels.lock().ok()?;
        ch.live.channel_identity(kid, id_context, now).or_else(|| {
            ch.restored
                .iter()
                .find(|c| c.recipient_id == kid && c.id_context.as_deref() == id_context)
                .filter(|c| c.expires_at.is_none_or(|e| now < e))
                .map(|c| ChannelIdentity::PskIdentity(c.material_id.clone()))
        })
    }

    /// The channel identity of a CoAP peer: OSCORE peers through
    /// [`RsOscore::channel_identity`], everything else anonymous.
    #[must_use]
    pub fn peer_identity(&self, peer: &ace_coap::PeerIdentity, now: UnixTime) -> ChannelIdentity {
        match peer {
            ace_coap::PeerIdentity::Oscore {
                sender_id,
                id_context,
            } => self
                .channel_identity(sender_id, id_context.as_deref(), now)
                .unwrap_or(ChannelIdentity::Anonymous),
            _ => ChannelIdentity::Anonymous,
        }
    }

    /// `/authz-info` under the engine lock: the profile's processing; `sink` persists the
    /// effects before a derived context is installed and the answer leaves.
    ///
    /// # Errors
    /// Engine, persistence, OSCORE or lock failures.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn authz_info(
        &self,
        engine: &mut RsEngine,
        rng: &mut ace_token::crypto::OsRng,
        now: UnixTime,
        peer: &ChannelIdentity,
        content_format: Option<ContentFormat>,
        payload: &[u8],
        sink: &dyn Fn(&[RsEffect]) -> Result<()>,
    ) -> Result<AuthzInfoAnswer> {
        let mut ch = self.channels()?;
        let out = self
            .profile
            .rs_authz_info(
                engine,
                &mut ch.live,
                now,
                peer,
                content_format,
                payload,
                rng,
            )
            .map_err(|e| Error::Tls(format!("RFC 9203: {e}")))?;
        sink(&out.effects)?;
        if let Some(new) = out.context {
            // The context this one replaces (RFC 9203 §5): from this run or restored.
            let mut gone: Vec<(Vec<u8>, Option<Vec<u8>>)> = new.replaces.into_iter().collect();
            ch.restored.retain(|c| {
                let same = c.material_id == new.material_id;
                if same {
                    gone.push((c.recipient_id.clone(), c.id_context.clone()));
                }
                !same
            });
            for (rid, idc) in &gone {
                self.layer
                    .remove_context(rid, idc.as_deref())
                    .map_err(|e| oscore_err(&e))?;
            }
            let expires_at = ch
                .live
                .channels()
                .iter()
                .find(|c| c.material_id == new.material_id)
                .and_then(|c| c.expires_at);
            if let Some(db) = &self.persist {
                let rec = Record {
                    material_id: new.material_id.clone(),
                    expires_at,
                    params: new.params.clone(),
                };
                db.put_value(&kv_key(&new.material_id), rec.encode().expose())
                    .map_err(|e| store_err(&e))?;
            }
            let ctx = SecurityContext::new(RustCrypto, new.params).map_err(|e| oscore_err(&e))?;
            self.layer.add_context(ctx).map_err(|e| oscore_err(&e))?;
            tracing::info!(
                material = %crate::sink::hex(&new.material_id),
                "RFC 9203: OSCORE context derived at /authz-info"
            );
        } else if out.code == ace_core::consts::code::CREATED
            && let ChannelIdentity::PskIdentity(mid) = peer
        {
            // Token update over the context: it stays; its lifetime follows the new token.
            let expires_at = engine
                .tokens()
                .tokens()
                .into_iter()
                .find(|t| t.binding == PopBinding::Kid(mid.clone()))
                .and_then(|t| t.expires_at);
            for c in ch.restored.iter_mut().filter(|c| &c.material_id == mid) {
                c.expires_at = expires_at;
            }
            if let Some(db) = &self.persist {
                let key = kv_key(mid);
                if let Some(mut rec) = db
                    .get_value(&key)
                    .map_err(|e| store_err(&e))?
                    .and_then(|v| Record::decode(SecretBytes::new(v).expose()))
                {
                    rec.expires_at = expires_at;
                    db.put_value(&key, rec.encode().expose())
                        .map_err(|e| store_err(&e))?;
                }
            }
        }
        Ok(AuthzInfoAnswer {
            code: out.code,
            payload: out.payload,
        })
    }

    /// Drops the channels whose token ended at or before `now` and removes their contexts
    /// from the layer (RFC 9203 §5); returns how many.
    ///
    /// # Errors
    /// Lock, OSCORE or SQLite failures.
    pub fn expire(&self, now: UnixTime) -> Result<usize> {
        let mut ch = self.channels()?;
        let live_before: Vec<RsChannel> = ch.live.channels().to_vec();
        let mut gone: Vec<Gone> = ch
            .live
            .expire(now)
            .into_iter()
            .map(|(rid, idc)| {
                let mid = live_before
                    .iter()
                    .find(|c| c.recipient_id == rid && c.id_context == idc)
                    .map(|c| c.material_id.clone())
                    .unwrap_or_default();
                (rid, idc, mid)
            })
            .collect();
        ch.restored.retain(|c| {
            let keep = c.expires_at.is_none_or(|e| now < e);
            if !keep {
                gone.push((
                    c.recipient_id.clone(),
                    c.id_context.clone(),
                    c.material_id.clone(),
                ));
            }
            keep
        });
        for (rid, idc, mid) in &gone {
            self.layer
                .remove_context(rid, idc.as_deref())
                .map_err(|e| oscore_err(&e))?;
            if let Some(db) = &self.persist {
                db.delete_value(&kv_key(mid)).map_err(|e| store_err(&e))?;
            }
            tracing::info!(material = %crate::sink::hex(mid), "RFC 9203: OSCORE context dropped (token expired)");
        }
        Ok(gone.len())
    }

    /// Number of channels (derived and restored).
    #[must_use]
    pub fn channel_count(&self) -> usize {
        self.channels
            .lock()
            .map(|c| c.live.channels().len() + c.restored.len())
            .unwrap_or(0)
    }
}

/// Encodes a persisted RFC 9203 context (the format [`RsOscore`] keeps in SQLite; clients
/// may use it for theirs): material id, token expiry, context parameters (secret: the
/// Master Secret is included).
#[must_use]
pub fn encode_context(
    material_id: &[u8],
    expires_at: Option<UnixTime>,
    params: &ContextParams,
) -> Vec<u8> {
    Record {
        material_id: material_id.to_vec(),
        expires_at,
        params: params.clone(),
    }
    .encode()
    .expose()
    .to_vec()
}

/// Decodes [`encode_context`]; `None` when malformed.
#[must_use]
pub fn decode_context(bytes: &[u8]) -> Option<(Vec<u8>, Option<UnixTime>, ContextParams)> {
    Record::decode(bytes).map(|r| (r.material_id, r.expires_at, r.params))
}

/// A persisted context: material id, token expiry and the context parameters.
struct Record {
    material_id: Vec<u8>,
    expires_at: Option<UnixTime>,
    params: ContextParams,
}

fn put(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(b);
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take(8)
            .and_then(|b| b.try_into().ok())
            .map(i64::from_be_bytes)
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = self
            .take(4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)?;
        self.take(usize::try_from(n).ok()?).map(<[u8]>::to_vec)
    }
    fn opt_bytes(&mut self) -> Option<Option<Vec<u8>>> {
        match self.take(1)? {
            [0] => Some(None),
            [1] => self.bytes().map(Some),
            _ => None,
        }
    }
}

const RECORD_VERSION: u8 = 1;

impl Record {
    /// The encoded record (it holds the Master Secret: zeroized when dropped).
    fn encode(&self) -> SecretBytes {
        // Capacity reserved up front so that no reallocation leaves a copy behind.
        let p = &self.params;
        let cap = 64
            + self.material_id.len()
            + p.master_secret.len()
            + p.master_salt.len()
            + p.sender_id.len()
            + p.recipient_id.len()
            + p.id_context.as_ref().map_or(0, Vec::len);
        let mut out = Vec::with_capacity(cap);
        out.push(RECORD_VERSION);
        put(&mut out, &self.material_id);
        match self.expires_at {
            Some(e) => {
                out.push(1);
                out.extend_from_slice(&e.0.to_be_bytes());
            }
            None => out.push(0),
        }
        put(&mut out, &p.master_secret);
        put(&mut out, &p.master_salt);
        put(&mut out, &p.sender_id);
        put(&mut out, &p.recipient_id);
        match &p.id_context {
            Some(c) => {
                out.push(1);
                put(&mut out, c);
            }
            None => out.push(0),
        }
        out.extend_from_slice(&p.aead.to_i64().to_be_bytes());
        out.extend_from_slice(&p.hkdf.to_i64().to_be_bytes());
        out.push(u8::from(p.send_kid_context));
        SecretBytes::new(out)
    }

    fn decode(b: &[u8]) -> Option<Self> {
        let mut r = Reader(b);
        if r.take(1)? != [RECORD_VERSION] {
            return None;
        }
        let material_id = r.bytes()?;
        let expires_at = match r.take(1)? {
            [0] => None,
            [1] => Some(UnixTime(r.u64()?)),
            _ => return None,
        };
        let secret = SecretBytes::new(r.bytes()?);
        let salt = r.bytes()?;
        let sender = r.bytes()?;
        let recipient = r.bytes()?;
        let id_context = r.opt_bytes()?;
        let aead = coset::iana::Algorithm::from_i64(r.i64()?)?;
        let hkdf = coset::iana::Algorithm::from_i64(r.i64()?)?;
        let send_kid_context = r.take(1)? == [1];
        if !r.0.is_empty() {
            return None;
        }
        let mut params = ContextParams::new(secret.expose(), &salt, &sender, &recipient)
            .with_aead(aead)
            .with_hkdf(hkdf);
        if let Some(c) = id_context {
            params = params.with_id_context(&c);
        }
        params.send_kid_context = send_kid_context;
        Some(Self {
            material_id,
            expires_at,
            params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip() {
        let params =
            ContextParams::new(&[1; 16], &[2; 20], b"\x01", b"\x02\x03").with_id_context(b"ctx");
        let rec = Record {
            material_id: vec![9; 8],
            expires_at: Some(UnixTime(1_800_000_000)),
            params,
        };
        let enc = rec.encode().expose().to_vec();
        let back = Record::decode(&enc).unwrap();
        assert_eq!(back.material_id, rec.material_id);
        assert_eq!(back.expires_at, rec.expires_at);
        assert_eq!(back.params.master_secret, rec.params.master_secret);
        assert_eq!(back.params.master_salt, rec.params.master_salt);
        assert_eq!(back.params.recipient_id, rec.params.recipient_id);
        assert_eq!(back.params.id_context, rec.params.id_context);
        assert_eq!(back.params.aead, rec.params.aead);
        assert!(Record::decode(&enc[..enc.len() - 1]).is_none());
        let mut longer = enc.clone();
        longer.push(0);
        assert!(Record::decode(&longer).is_none());
    }
}
