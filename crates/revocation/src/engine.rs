//! The AS side: the TRL, the per-requester update collections and the TRL endpoint
//! (RFC 9770 §§"Token Revocation List (TRL)" to "Notification of Revoked Access Tokens").
//!
//! ```text
//!  token_issued(record) ─┐                    ┌─> TrlOutcome.response (2.05 CF 262 |
//!  revoke(now, target) ──┤                    │     4.00 CF 257 | 4.01 | 4.03 | 4.05)
//!  expire(now) ──────────┼──> TrlEngine ──────┤
//!  register(peer, role) ─┤                    └─> effects: durable writes first
//!  handle_request(..) ───┘                          (TrlEffect::*), then Notify{peers}
//! ```
//!
//! State: the TRL (hashes of revoked, not yet expired tokens), the issued-token records
//! needed to decide who a token pertains to (client id and audience, RFC 9770
//! §"Terminology", "pertaining"), the registered requesters and, per requester, an update
//! collection of at most MAX_N series items with the "Cursor" `index` (counted by an
//! absolute sequence number `seq`; `index = seq mod (MAX_INDEX + 1)`).
//!
//! Security notes. Filtering uses the authenticated peer id the shell passes in, never a
//! claimed role (§"Content Retrieval from the TRL"). Revoked entries and collections are
//! persisted through [`TrlEffect`]s before a response or notification leaves, so a restart
//! never "un-revokes" a token and cursors stay valid (digest C.4 item 9: "empty at startup"
//! means the first start only).

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

use ace_core::IssuedToken;
use ace_token::UnixTime;

use crate::consts::{self, code, content_format, error_id};
use crate::error::{Error, Result};
use crate::hash::{HashAlg, TokenHash};
use crate::msg::{DiffEntry, ProblemDetails, QueryValue, RegistrationInfo, TrlPayload, TrlQuery};

/// Authenticated identity of a requester as the secure channel established it (OSCORE kid,
/// DTLS PSK identity, a certificate-derived id…), opaque bytes.
pub type PeerId = Vec<u8>;

/// What a registered requester is, which decides the tokens that pertain to it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// A client: tokens issued to this `client_id`.
    Client(String),
    /// A resource server: tokens whose audience is this string.
    ResourceServer(String),
    /// An administrator: the whole TRL.
    Admin,
}

/// Who sends a request, as authenticated by the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester<'a> {
    /// Nothing authenticated (→ 4.01).
    Anonymous,
    /// An authenticated peer (registered → served; otherwise → 4.03).
    Peer(&'a [u8]),
}

/// A request to the TRL endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrlRequest {
    /// CoAP method code (0.01 GET = 1).
    pub method: u8,
    /// The query parameters.
    pub query: TrlQuery,
}

impl TrlRequest {
    /// A GET with this query.
    #[must_use]
    pub fn get(query: TrlQuery) -> Self {
        Self {
            method: code::GET,
            query,
        }
    }
}

/// The AS's record of one issued token, as far as the TRL needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The token hash (computed from the `access_token` as sent to the client).
    pub hash: TokenHash,
    /// `cti`, if the token has one (for `ace as revoke --cti`).
    pub cti: Option<Vec<u8>>,
    /// The client the token was issued to.
    pub client_id: String,
    /// The audience (RS) the token is for.
    pub audience: String,
    /// When the token expires (`exp`, or `iat` + `exi`); `None`: never (kept forever).
    pub expires_at: Option<UnixTime>,
}

impl TokenRecord {
    /// The record of an `ace-core` issued token. `token` is the `access_token` byte string
    /// of the CBOR AS-to-Client response; for a CWT the JSON case gives the same hash.
    #[must_use]
    pub fn from_issued(alg: HashAlg, t: &IssuedToken) -> Self {
        Self {
            hash: TokenHash::from_cbor_access_token(alg, &t.token),
            cti: Some(t.cti.clone()),
            client_id: t.client_id.clone(),
            audience: t.audience.clone(),
            expires_at: t
                .expires_at
                .or_else(|| t.exi.map(|e| t.issued_at.saturating_add(e))),
        }
    }
}

/// What to revoke (`ace as revoke --cti | --token | --hash`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeTarget {
    /// By `cti`.
    Cti(Vec<u8>),
    /// By the `access_token` bytes of the CBOR AS-to-Client response.
    Token(Vec<u8>),
    /// By token hash.
    Hash(TokenHash),
}

/// What a revocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeStatus {
    /// Added to the TRL.
    Revoked,
    /// Already in the TRL; nothing changed.
    AlreadyRevoked,
    /// The token has expired: nothing to add (RFC 9770 §"Update of the TRL").
    Expired,
}

/// One stored series item of an update collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesItem {
    /// Absolute sequence number (0 for the first item ever); `index` is derived from it.
    pub seq: u64,
    /// The diff entry.
    pub entry: DiffEntry,
}

/// A durable change (persist in order, before the response or notifications leave) or a
/// notification trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrlEffect {
    /// A token record to keep until the token expires.
    TokenRecorded(TokenRecord),
    /// A token was revoked; `reason` is the administrator's text (log it).
    Revoked {
        /// Its hash.
        hash: TokenHash,
        /// When.
        at: UnixTime,
        /// Why.
        reason: String,
    },
    /// Revoked tokens expired: their hashes left the TRL.
    Expired {
        /// The hashes.
        hashes: Vec<TokenHash>,
    },
    /// Non-revoked tokens expired: their records are no longer needed.
    Forgotten {
        /// The hashes.
        hashes: Vec<TokenHash>,
    },
    /// A requester registered.
    Registered {
        /// Its authenticated id.
        peer: PeerId,
        /// Its role.
        role: Role,
    },
    /// A series item was appended to a requester's collection; the store keeps only items
    /// with `seq >= keep_from`.
    SeriesItemAdded {
        /// The requester.
        peer: PeerId,
        /// The item.
        item: SeriesItem,
        /// Oldest `seq` still retained (MAX_N window).
        keep_from: u64,
    },
    /// Not durable: after persisting the effects above, send Observe notifications to
    /// these requesters' observations (their pertaining part changed).
    Notify {
        /// Requesters to notify.
        peers: Vec<PeerId>,
    },
}

/// The TRL endpoint's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrlResponse {
    /// 2.05 Content, `application/ace-trl+cbor`.
    Content(TrlPayload),
    /// 4.00 Bad Request, `application/concise-problem-details+cbor`.
    BadRequest(ProblemDetails),
    /// 4.01 Unauthorized, no payload (unauthenticated requester).
    Unauthorized,
    /// 4.03 Forbidden, no payload (neither registered device nor administrator).
    Forbidden,
    /// 4.05 Method Not Allowed (only GET is supported).
    MethodNotAllowed,
}

impl TrlResponse {
    /// CoAP code (`class << 5 | detail`).
    #[must_use]
    pub fn code(&self) -> u8 {
        match self {
            Self::Content(_) => code::CONTENT,
            Self::BadRequest(_) => code::BAD_REQUEST,
            Self::Unauthorized => code::UNAUTHORIZED,
            Self::Forbidden => code::FORBIDDEN,
            Self::MethodNotAllowed => code::METHOD_NOT_ALLOWED,
        }
    }

    /// Content-Format of the payload, if any.
    #[must_use]
    pub fn content_format(&self) -> Option<u16> {
        match self {
            Self::Content(_) => Some(content_format::ACE_TRL_CBOR),
            Self::BadRequest(_) => Some(content_format::CONCISE_PROBLEM_DETAILS_CBOR),
            _ => None,
        }
    }

    /// The encoded payload (empty when none).
    #[must_use]
    pub fn payload(&self) -> Vec<u8> {
        match self {
            Self::Content(p) => p.encode(),
            Self::BadRequest(p) => p.encode(),
            _ => Vec::new(),
        }
    }
}

/// An engine call's result: the response and the effects to perform first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct TrlOutcome {
    /// The response.
    pub response: TrlResponse,
    /// Effects (durable first, then `Notify`).
    pub effects: Vec<TrlEffect>,
}

/// TRL endpoint configuration (RFC 9770 §"Local Supportive Parameters of the TRL Endpoint").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrlConfig {
    /// url-path announced at registration.
    pub trl_path: String,
    /// Hash function of token hashes.
    pub hash_alg: HashAlg,
    /// Diff queries supported (otherwise `diff` is ignored).
    pub diff_queries: bool,
    /// "Cursor" extension supported (requires `diff_queries`).
    pub cursor: bool,
    /// MAX_N ≥ 1.
    pub max_n: usize,
    /// MAX_DIFF_BATCH, 1 ≤ · ≤ MAX_N.
    pub max_diff_batch: usize,
    /// MAX_INDEX ≥ MAX_N − 1.
    pub max_index: u64,
}

impl Default for TrlConfig {
    fn default() -> Self {
        Self {
            trl_path: String::from(consts::DEFAULT_TRL_PATH),
            hash_alg: HashAlg::Sha256,
            diff_queries: true,
            cursor: true,
            max_n: consts::DEFAULT_MAX_N,
            max_diff_batch: consts::DEFAULT_MAX_DIFF_BATCH,
            max_index: consts::DEFAULT_MAX_INDEX,
        }
    }
}

impl TrlConfig {
    /// Checks the RFC 9770 bounds.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`].
    pub fn validate(&self) -> Result<()> {
        if self.max_n == 0 {
            return Err(Error::InvalidConfig("MAX_N must be >= 1"));
        }
        if self.max_diff_batch == 0 || self.max_diff_batch > self.max_n {
            return Err(Error::InvalidConfig("MAX_DIFF_BATCH must be in 1..=MAX_N"));
        }
        if self.max_index < (self.max_n as u64).saturating_sub(1) {
            return Err(Error::InvalidConfig("MAX_INDEX must be >= MAX_N - 1"));
        }
        if self.cursor && !self.diff_queries {
            return Err(Error::InvalidConfig("Cursor requires diff queries"));
        }
        Ok(())
    }

    fn index_of(&self, seq: u64) -> u64 {
        match self.max_index.checked_add(1) {
            Some(m) => seq % m,
            None => seq,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Collection {
    items: VecDeque<SeriesItem>,
    /// `seq` of the next item (= number of items ever added).
    next_seq: u64,
}

#[derive(Debug, Clone)]
struct RequesterState {
    role: Role,
    collection: Collection,
}

#[derive(Debug, Clone)]
struct Entry {
    record: TokenRecord,
    revoked: bool,
}

/// A persisted state to restart from (see [`crate::TrlStore::load`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrlSnapshot {
    /// Token records with their revoked flag.
    pub tokens: Vec<(TokenRecord, bool)>,
    /// Registered requesters.
    pub requesters: Vec<(PeerId, Role)>,
    /// Series items of every requester (any order).
    pub items: Vec<(PeerId, SeriesItem)>,
    /// Highest `seq` ever persisted per requester (so `next_seq` survives even if the store
    /// trimmed items).
    pub next_seq: Vec<(PeerId, u64)>,
}

/// The AS-side TRL engine (engine shape (a)).
#[derive(Debug, Clone)]
pub struct TrlEngine {
    config: TrlConfig,
    tokens: BTreeMap<TokenHash, Entry>,
    by_cti: BTreeMap<Vec<u8>, TokenHash>,
    expiry: BTreeSet<(UnixTime, TokenHash)>,
    trl: BTreeSet<TokenHash>,
    trl_by_client: BTreeMap<String, BTreeSet<TokenHash>>,
    trl_by_audience: BTreeMap<String, BTreeSet<TokenHash>>,
    requesters: BTreeMap<PeerId, RequesterState>,
    by_role: BTreeMap<Role, BTreeSet<PeerId>>,
}

impl TrlEngine {
    /// An engine with an empty TRL (first start).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`].
    pub fn new(config: TrlConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            tokens: BTreeMap::new(),
            by_cti: BTreeMap::new(),
            expiry: BTreeSet::new(),
            trl: BTreeSet::new(),
            trl_by_client: BTreeMap::new(),
            trl_by_audience: BTreeMap::new(),
            requesters: BTreeMap::new(),
            by_role: BTreeMap::new(),
        })
    }

    /// An engine restarted from persisted state.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`].
    pub fn restore(config: TrlConfig, snapshot: TrlSnapshot) -> Result<Self> {
        let mut e = Self::new(config)?;
        for (record, revoked) in snapshot.tokens {
            let hash = e.insert_record(record);
            if revoked {
                e.mark_revoked(&hash);
            }
        }
        for (peer, role) in snapshot.requesters {
            e.add_requester(peer, role);
        }
        let mut items = snapshot.items;
        items.sort_by_key(|(_, i)| i.seq);
        for (peer, item) in items {
            if let Some(r) = e.requesters.get_mut(&peer) {
                r.collection.next_seq = r.collection.next_seq.max(item.seq.saturating_add(1));
                r.collection.items.push_back(item);
            }
        }
        for (peer, next) in snapshot.next_seq {
            if let Some(r) = e.requesters.get_mut(&peer) {
                r.collection.next_seq = r.collection.next_seq.max(next);
            }
        }
        let max_n = e.config.max_n;
        for r in e.requesters.values_mut() {
            while r.collection.items.len() > max_n {
                r.collection.items.pop_front();
            }
        }
        Ok(e)
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &TrlConfig {
        &self.config
    }

    /// Number of hashes in the TRL.
    #[must_use]
    pub fn trl_len(&self) -> usize {
        self.trl.len()
    }

    /// Whether `hash` is in the TRL.
    #[must_use]
    pub fn is_revoked(&self, hash: &TokenHash) -> bool {
        self.trl.contains(hash)
    }

    /// Every hash in the TRL (the administrator's view).
    pub fn trl(&self) -> impl Iterator<Item = &TokenHash> {
        self.trl.iter()
    }

    /// The record of the token `target` names, if the AS still knows it (revoked or not;
    /// expired tokens are forgotten at the next sweep). The administration shell uses it to
    /// log the `cti` and hash of what it revokes.
    #[must_use]
    pub fn record(&self, target: &RevokeTarget) -> Option<&TokenRecord> {
        let hash = match target {
            RevokeTarget::Cti(c) => self.by_cti.get(c).cloned(),
            RevokeTarget::Token(t) => {
                Some(TokenHash::from_cbor_access_token(self.config.hash_alg, t))
            }
            RevokeTarget::Hash(h) => Some(h.clone()),
        }?;
        self.tokens.get(&hash).map(|e| &e.record)
    }

    /// `last_index` of a requester's collection (`None` while empty or unregistered).
    #[must_use]
    pub fn last_index(&self, peer: &[u8]) -> Option<u64> {
        self.requesters
            .get(peer)
            .and_then(|r| r.collection.items.back())
            .map(|i| self.config.index_of(i.seq))
    }

    /// The registration information for a requester (and the effect to persist it).
    /// `offered` are the hash functions the device supports (empty: sha-256 only).
    ///
    /// # Errors
    /// [`Error::NoCommonHashAlgorithm`].
    pub fn register(
        &mut self,
        peer: PeerId,
        role: Role,
        offered: &[HashAlg],
    ) -> Result<(RegistrationInfo, Vec<TrlEffect>)> {
        let alg = HashAlg::negotiate(self.config.hash_alg, offered)?;
        let info = RegistrationInfo {
            trl_path: self.config.trl_path.clone(),
            trl_hash: alg,
            max_n: self.config.diff_queries.then_some(self.config.max_n as u64),
            max_diff_batch: self
                .config
                .cursor
                .then_some(self.config.max_diff_batch as u64),
        };
        let effects = if self.requesters.get(&peer).is_some_and(|r| r.role == role) {
            Vec::new()
        } else {
            self.add_requester(peer.clone(), role.clone());
            alloc::vec![TrlEffect::Registered { peer, role }]
        };
        Ok((info, effects))
    }

    fn add_requester(&mut self, peer: PeerId, role: Role) {
        if let Some(old) = self.requesters.get(&peer)
            && let Some(set) = self.by_role.get_mut(&old.role)
        {
            set.remove(&peer);
        }
        self.by_role
            .entry(role.clone())
            .or_default()
            .insert(peer.clone());
        self.requesters.insert(
            peer,
            RequesterState {
                role,
                collection: Collection::default(),
            },
        );
    }

    fn insert_record(&mut self, record: TokenRecord) -> TokenHash {
        let hash = record.hash.clone();
        if let Some(cti) = &record.cti {
            self.by_cti.insert(cti.clone(), hash.clone());
        }
        if let Some(exp) = record.expires_at {
            self.expiry.insert((exp, hash.clone()));
        }
        self.tokens.insert(
            hash.clone(),
            Entry {
                record,
                revoked: false,
            },
        );
        hash
    }

    fn mark_revoked(&mut self, hash: &TokenHash) {
        if let Some(e) = self.tokens.get_mut(hash) {
            e.revoked = true;
            self.trl.insert(hash.clone());
            self.trl_by_client
                .entry(e.record.client_id.clone())
                .or_default()
                .insert(hash.clone());
            self.trl_by_audience
                .entry(e.record.audience.clone())
                .or_default()
                .insert(hash.clone());
        }
    }

    fn forget(&mut self, hash: &TokenHash) -> Option<Entry> {
        let e = self.tokens.remove(hash)?;
        if let Some(cti) = &e.record.cti {
            self.by_cti.remove(cti);
        }
        if let Some(exp) = e.record.expires_at {
            self.expiry.remove(&(exp, hash.clone()));
        }
        if e.revoked {
            self.trl.remove(hash);
            for (map, key) in [
                (&mut self.trl_by_client, &e.record.client_id),
                (&mut self.trl_by_audience, &e.record.audience),
            ] {
                if let Some(set) = map.get_mut(key) {
                    set.remove(hash);
                    if set.is_empty() {
                        map.remove(key);
                    }
                }
            }
        }
        Some(e)
    }

    /// Records an issued token (call for every `AsEffect::TokenIssued`).
    pub fn token_issued(&mut self, record: TokenRecord) -> Vec<TrlEffect> {
        if self.tokens.contains_key(&record.hash) {
            return Vec::new();
        }
        self.insert_record(record.clone());
        alloc::vec![TrlEffect::TokenRecorded(record)]
    }

    /// Revokes a token (the library call behind `ace as revoke`), with the reason to log.
    /// Expired tokens are first swept (`expire(now)`), so their effects may come along.
    ///
    /// # Errors
    /// [`Error::UnknownToken`] when the AS has no record of the token (never issued, or
    /// already expired and forgotten).
    pub fn revoke(
        &mut self,
        now: UnixTime,
        target: &RevokeTarget,
        reason: &str,
    ) -> Result<(RevokeStatus, Vec<TrlEffect>)> {
        let hash = match target {
            RevokeTarget::Cti(c) => self.by_cti.get(c).cloned(),
            RevokeTarget::Token(t) => {
                Some(TokenHash::from_cbor_access_token(self.config.hash_alg, t))
            }
            RevokeTarget::Hash(h) => Some(h.clone()),
        }
        .ok_or(Error::UnknownToken)?;
        let entry = self.tokens.get(&hash).ok_or(Error::UnknownToken)?;
        if entry.revoked {
            return Ok((RevokeStatus::AlreadyRevoked, Vec::new()));
        }
        if entry.record.expires_at.is_some_and(|e| now >= e) {
            let effects = self.expire(now);
            return Ok((RevokeStatus::Expired, effects));
        }
        let mut effects = self.expire(now);
        self.mark_revoked(&hash);
        effects.push(TrlEffect::Revoked {
            hash: hash.clone(),
            at: now,
            reason: String::from(reason),
        });
        self.update(&[], &[hash], &mut effects);
        Ok((RevokeStatus::Revoked, effects))
    }

    /// Revokes several tokens in one TRL update (RFC 9770 §"Update of the TRL": the AS MAY
    /// add several hashes at once). Unknown, already revoked and expired tokens are skipped.
    ///
    /// # Errors
    /// [`Error::UnknownToken`] when none of the targets is known.
    pub fn revoke_many(
        &mut self,
        now: UnixTime,
        targets: &[RevokeTarget],
        reason: &str,
    ) -> Result<(Vec<RevokeStatus>, Vec<TrlEffect>)> {
        let mut effects = self.expire(now);
        let mut statuses = Vec::with_capacity(targets.len());
        let mut added = Vec::new();
        let mut known = false;
        for t in targets {
            let hash = match t {
                RevokeTarget::Cti(c) => self.by_cti.get(c).cloned(),
                RevokeTarget::Token(b) => {
                    Some(TokenHash::from_cbor_access_token(self.config.hash_alg, b))
                }
                RevokeTarget::Hash(h) => Some(h.clone()),
            };
            let Some((hash, entry)) = hash.and_then(|h| self.tokens.get(&h).map(|e| (h, e))) else {
                continue;
            };
            known = true;
            if entry.revoked || added.contains(&hash) {
                statuses.push(RevokeStatus::AlreadyRevoked);
                continue;
            }
            self.mark_revoked(&hash);
            effects.push(TrlEffect::Revoked {
                hash: hash.clone(),
                at: now,
                reason: String::from(reason),
            });
            added.push(hash);
            statuses.push(RevokeStatus::Revoked);
        }
        if !known {
            return Err(Error::UnknownToken);
        }
        self.update(&[], &added, &mut effects);
        Ok((statuses, effects))
    }

    /// Removes the hashes of revoked tokens that expired at or before `now` (one TRL update)
    /// and forgets records of non-revoked expired tokens.
    pub fn expire(&mut self, now: UnixTime) -> Vec<TrlEffect> {
        let mut removed = Vec::new();
        let mut forgotten = Vec::new();
        while let Some((exp, hash)) = self.expiry.first().cloned() {
            if exp > now {
                break;
            }
            // The entry is removed below; `forget` also drops the expiry key.
            let was_revoked = self.tokens.get(&hash).is_some_and(|e| e.revoked);
            let gone = self.forget(&hash);
            if gone.is_none() {
                self.expiry.remove(&(exp, hash.clone()));
            }
            if was_revoked {
                removed.push((hash, gone));
            } else {
                forgotten.push(hash);
            }
        }
        let mut effects = Vec::new();
        if !forgotten.is_empty() {
            effects.push(TrlEffect::Forgotten { hashes: forgotten });
        }
        if !removed.is_empty() {
            effects.push(TrlEffect::Expired {
                hashes: removed.iter().map(|(h, _)| h.clone()).collect(),
            });
            let records: Vec<(TokenHash, TokenRecord)> = removed
                .into_iter()
                .filter_map(|(h, e)| e.map(|e| (h, e.record)))
                .collect();
            self.update_with(&records, &[], &mut effects);
        }
        effects
    }

    fn update(&mut self, removed: &[TokenHash], added: &[TokenHash], effects: &mut Vec<TrlEffect>) {
        let removed: Vec<(TokenHash, TokenRecord)> = removed
            .iter()
            .filter_map(|h| self.tokens.get(h).map(|e| (h.clone(), e.record.clone())))
            .collect();
        let added: Vec<(TokenHash, TokenRecord)> = added
            .iter()
            .filter_map(|h| self.tokens.get(h).map(|e| (h.clone(), e.record.clone())))
            .collect();
        self.update_with(&removed, &added, effects);
    }

    /// One TRL update: per requester whose pertaining part changed, append a series item
    /// (RFC 9770 §"Supporting Diff Queries", steps 1-6), then `Notify` them.
    fn update_with(
        &mut self,
        removed: &[(TokenHash, TokenRecord)],
        added: &[(TokenHash, TokenRecord)],
        effects: &mut Vec<TrlEffect>,
    ) {
        let mut patches: BTreeMap<PeerId, DiffEntry> = BTreeMap::new();
        for (is_added, list) in [(false, removed), (true, added)] {
            for (hash, rec) in list {
                let roles = [
                    Role::Admin,
                    Role::Client(rec.client_id.clone()),
                    Role::ResourceServer(rec.audience.clone()),
                ];
                for role in &roles {
                    let Some(peers) = self.by_role.get(role) else {
                        continue;
                    };
                    for p in peers {
                        let e = patches.entry(p.clone()).or_default();
                        let set = if is_added {
                            &mut e.added
                        } else {
                            &mut e.removed
                        };
                        if !set.contains(hash) {
                            set.push(hash.clone());
                        }
                    }
                }
            }
        }
        if patches.is_empty() {
            return;
        }
        let max_n = self.config.max_n;
        let mut notify = Vec::with_capacity(patches.len());
        for (peer, entry) in patches {
            let Some(r) = self.requesters.get_mut(&peer) else {
                continue;
            };
            let c = &mut r.collection;
            let item = SeriesItem {
                seq: c.next_seq,
                entry,
            };
            c.next_seq = c.next_seq.saturating_add(1);
            if c.items.len() >= max_n {
                c.items.pop_front();
            }
            c.items.push_back(item.clone());
            let keep_from = c.items.front().map_or(item.seq, |i| i.seq);
            effects.push(TrlEffect::SeriesItemAdded {
                peer: peer.clone(),
                item,
                keep_from,
            });
            notify.push(peer);
        }
        effects.push(TrlEffect::Notify { peers: notify });
    }

    /// Handles a request to the TRL endpoint (also used to build each Observe notification:
    /// re-run the observer's original request after a [`TrlEffect::Notify`] naming it).
    /// Expired entries are swept first (their effects are returned too).
    pub fn handle_request(
        &mut self,
        now: UnixTime,
        requester: Requester<'_>,
        request: &TrlRequest,
    ) -> TrlOutcome {
        let effects = self.expire(now);
        let response = self.respond(requester, request);
        TrlOutcome { response, effects }
    }

    /// The response to `request` from the current state, without sweeping expired entries.
    #[must_use]
    pub fn respond(&self, requester: Requester<'_>, request: &TrlRequest) -> TrlResponse {
        let peer = match requester {
            Requester::Anonymous => return TrlResponse::Unauthorized,
            Requester::Peer(p) => p,
        };
        let Some(state) = self.requesters.get(peer) else {
            return TrlResponse::Forbidden;
        };
        if request.method != code::GET {
            return TrlResponse::MethodNotAllowed;
        }
        let q = &request.query;
        let cfg = &self.config;
        let coll = &state.collection;
        let last_index = coll.items.back().map(|i| cfg.index_of(i.seq));

        // Query parameter validation (RFC 9770 §"Query Parameters"), in the RFC's order.
        let diff = if cfg.diff_queries {
            q.diff.as_ref()
        } else {
            None
        };
        let cursor = if cfg.cursor { q.cursor.as_ref() } else { None };
        if q.repeated && (diff.is_some() || cursor.is_some()) {
            return bad(
                error_id::INVALID_SET_OF_PARAMETERS,
                "repeated 'diff' or 'cursor'",
                None,
            );
        }
        let n = match diff {
            None => None,
            Some(QueryValue::Uint(n)) => Some(*n),
            Some(QueryValue::Invalid(s)) => {
                return bad(
                    error_id::INVALID_PARAMETER_VALUE,
                    alloc::format!("Invalid value for 'diff': {s}"),
                    None,
                );
            }
        };
        let p = match (cursor, n) {
            (None, _) => None,
            (Some(_), None) => {
                return bad(
                    error_id::INVALID_SET_OF_PARAMETERS,
                    "'cursor' without 'diff'",
                    None,
                );
            }
            (Some(QueryValue::Uint(p)), Some(_)) if *p <= cfg.max_index => Some(*p),
            (Some(v), Some(_)) => {
                let shown = match v {
                    QueryValue::Uint(p) => alloc::format!("{p}"),
                    QueryValue::Invalid(s) => s.clone(),
                };
                return bad(
                    error_id::INVALID_PARAMETER_VALUE,
                    alloc::format!("Invalid value for 'cursor': {shown}"),
                    Some(last_index),
                );
            }
        };
        if let (Some(p), Some(last), Some(back)) = (p, last_index, coll.items.back()) {
            let wrapped = back.seq > cfg.max_index;
            if !wrapped && p > last {
                return bad(
                    error_id::OUT_OF_BOUND_CURSOR_VALUE,
                    alloc::format!("'cursor' {p} is beyond the last index {last}"),
                    None,
                );
            }
        }

        let Some(n) = n else {
            return TrlResponse::Content(TrlPayload::full(
                self.full_set(&state.role),
                cfg.cursor.then_some(last_index),
            ));
        };
        TrlResponse::Content(self.diff_payload(coll, n, p))
    }

    fn full_set(&self, role: &Role) -> Vec<TokenHash> {
        let set = match role {
            Role::Admin => Some(&self.trl),
            Role::Client(c) => self.trl_by_client.get(c),
            Role::ResourceServer(a) => self.trl_by_audience.get(a),
        };
        set.map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    /// Position in `coll.items` of the item with `index`.
    fn position(&self, coll: &Collection, index: u64) -> Option<usize> {
        let first = coll.items.front()?;
        let first_index = self.config.index_of(first.seq);
        let offset = match self.config.max_index.checked_add(1) {
            Some(m) => (index.wrapping_add(m).wrapping_sub(first_index)) % m,
            None => index.wrapping_sub(first_index),
        };
        let offset = usize::try_from(offset).ok()?;
        (offset < coll.items.len()).then_some(offset)
    }

    fn diff_payload(&self, coll: &Collection, n: u64, p: Option<u64>) -> TrlPayload {
        let cfg = &self.config;
        let max_n = cfg.max_n;
        let num = match usize::try_from(n) {
            Ok(0) | Err(_) => max_n,
            Ok(v) if v > max_n => max_n,
            Ok(v) => v,
        };
        let len = coll.items.len();
        let entries = |from: usize, to: usize| -> Vec<DiffEntry> {
            coll.items
                .range(from..to)
                .rev()
                .map(|i| i.entry.clone())
                .collect()
        };
        let index_at = |pos: usize| coll.items.get(pos).map(|i| cfg.index_of(i.seq));
        if !cfg.cursor {
            let u = num.min(len);
            return TrlPayload::diff(entries(len - u, len), None, None);
        }
        if len == 0 {
            return TrlPayload::diff(Vec::new(), Some(None), Some(false));
        }
        let batch = cfg.max_diff_batch;
        let (window, cursor_if_empty) = match p {
            None => (num.min(len), None),
            Some(p) => {
                let start = match self.position(coll, p) {
                    Some(x) => x + 1,
                    None => {
                        let next = match cfg.max_index.checked_add(1) {
                            Some(m) => (p + 1) % m,
                            None => p.wrapping_add(1),
                        };
                        match self.position(coll, next) {
                            Some(y) => y,
                            // Case A: items were lost.
                            None => return TrlPayload::diff(Vec::new(), Some(None), Some(true)),
                        }
                    }
                };
                let sub_size = len - start;
                (num.min(sub_size), index_at(len - 1))
            }
        };
        let l = window.min(batch);
        let (from, to) = if window <= batch {
            (len - l, len)
        } else {
            (len - window, len - window + l)
        };
        let cursor = if l == 0 {
            cursor_if_empty
        } else {
            index_at(to - 1)
        };
        TrlPayload::diff(entries(from, to), Some(cursor), Some(window > batch))
    }
}

fn bad(id: i64, detail: impl Into<String>, cursor: Option<Option<u64>>) -> TrlResponse {
    TrlResponse::BadRequest(ProblemDetails::new(id, detail, cursor))
}
