//! A complete deployment on loopback, in-process: an AS and an RS (ephemeral ports) and a
//! client with its secure channels. `ace demo`, `ace bench`, the tests and the examples use
//! it; the stores are whatever the caller passes (in-memory or `ace-store`).
//!
//! Channels (architecture.md, "Secure channels"):
//! * client ↔ AS: OSCORE with a context provisioned at start (random Master Secret, client
//!   Sender ID `c1`, AS Sender ID `as`), or plain CoAP with [`SecurityMode::Insecure`];
//! * client ↔ RS: the OSCORE profile of ACE (RFC 9203). The AS and the RS share a symmetric
//!   token key; tokens for the RS are COSE_Encrypt0 with `cnf = {osc: OSCORE_Input_Material}`
//!   (the AS generates the material, the client gets it in the token response). The client
//!   POSTs the token with `nonce1` and its Recipient ID (ID1) to the unprotected
//!   `/authz-info`; the RS answers `nonce2` and its Recipient ID (ID2); both derive the
//!   OSCORE context from the material (Master Salt = salt ‖ N1 ‖ N2, RFC 9203 §4.3), and the
//!   RS installs it into its running layer ([`RsOscore`]). Requests over that context are the
//!   token's channel identity (`PskIdentity(material id)`), i.e. proof of possession of the
//!   token's key.

use std::net::SocketAddr;
use std::sync::Arc;

use ace_coap::{Client, Code, Config, Message, PeerIdentity, Router, ServerHandle};
use ace_core::{
    AcceptedTokenStore, AccessInfo, AsConfig, AsEngine, ChannelIdentity, ClientConfig,
    ClientCredential, ClientEngine, ClientInfo, CoapCode, ContentFormat, CreationHints,
    MemoryRegistry, ResourceServerInfo, RsConfig, RsEngine, Scope, StaticPolicy, TokenFormat,
    TokenStore,
};
use ace_oscore::coap::{OscoreClient, OscoreLayer, SharedOscoreLayer};
use ace_oscore::profile::OscoreProfile;
use ace_oscore::{ContextParams, ContextSet, MemorySequenceStore, SecurityContext};
use ace_token::crypto::{PrivateKey, Rng, os_rng};
use ace_token::{AceProfile, Algorithm, KeySet, RustCrypto, TokenKey};
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock};
use crate::demo::{self, DemoState};
use crate::error::{Error, Result};
use crate::identity::IdentityMap;
use crate::oscore_rs::RsOscore;
use crate::sink::{EffectSink, LogEffects};
use crate::transport::{SecurityMode, bind_coap, check_insecure_allowed};
use crate::{AsService, RsService};

/// The client id.
pub const CLIENT_ID: &str = "client1";
/// The RS audience.
pub const AUDIENCE: &str = "rs1";
/// The AS issuer name.
pub const ISSUER: &str = "as";
/// The client's OSCORE Sender ID towards the AS and the RS.
pub const CLIENT_SENDER_ID: &[u8] = b"c1";
/// The AS's OSCORE Sender ID.
pub const AS_SENDER_ID: &[u8] = b"as";
/// The RS's OSCORE Sender ID (the interim provisioned channel of [`provisioned_identity_map`];
/// with RFC 9203 the RS's Sender ID is the client's Recipient ID, [`CLIENT_RECIPIENT_ID`]).
pub const RS_SENDER_ID: &[u8] = b"rs";
/// The Recipient ID (ID1) the client asks for at `/authz-info` (RFC 9203 §4.1).
pub const CLIENT_RECIPIENT_ID: &[u8] = &[0x01];
/// `kid` of the symmetric key the AS encrypts tokens for the RS with.
pub const RS_TOKEN_KID: &[u8] = b"rs1";

/// How to build the deployment.
pub struct LocalOptions {
    /// Token lifetime in seconds.
    pub lifetime: u64,
    /// What the policy lets the client have at the RS.
    pub allowed_scope: String,
    /// The AS token store.
    pub as_store: Box<dyn TokenStore>,
    /// The RS token store.
    pub rs_store: Box<dyn AcceptedTokenStore>,
    /// The clock both services use.
    pub clock: Arc<dyn Clock>,
    /// Client ↔ AS channel.
    pub as_security: SecurityMode,
    /// CoAP settings of both servers.
    pub coap: Config,
    /// Where the AS's effects go.
    pub as_sink: Arc<dyn EffectSink>,
    /// Where the RS's effects go.
    pub rs_sink: Arc<dyn EffectSink>,
}

impl core::fmt::Debug for LocalOptions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LocalOptions")
            .field("lifetime", &self.lifetime)
            .field("allowed_scope", &self.allowed_scope)
            .field("as_security", &self.as_security)
            .finish_non_exhaustive()
    }
}

impl Default for LocalOptions {
    fn default() -> Self {
        Self {
            lifetime: 3600,
            allowed_scope: "temp:r led:r counter:r".to_owned(),
            as_store: Box::new(ace_core::MemoryTokenStore::new()),
            rs_store: Box::new(ace_core::MemoryAcceptedTokens::new()),
            clock: Arc::new(SystemClock),
            as_security: SecurityMode::Oscore,
            coap: Config::default(),
            as_sink: Arc::new(LogEffects),
            rs_sink: Arc::new(LogEffects),
        }
    }
}

fn coap_dtls() -> AceProfile {
    AceProfile(ace_core::consts::profile::COAP_DTLS)
}

fn oscore_context(
    secret: &[u8],
    sender: &[u8],
    recipient: &[u8],
) -> Result<SecurityContext<RustCrypto>> {
    SecurityContext::new(
        RustCrypto,
        ContextParams::new(secret, b"", sender, recipient),
    )
    .map_err(|e| Error::Tls(format!("OSCORE context: {e}")))
}

/// A running deployment.
pub struct Local {
    /// The AS's CoAP address.
    pub as_addr: SocketAddr,
    /// The RS's CoAP address.
    pub rs_addr: SocketAddr,
    /// The AS service (e.g. for an HTTPS front end).
    pub as_service: AsService,
    /// The RS service.
    pub rs_service: RsService,
    /// The client.
    pub client: LocalClient,
    /// How the client talks to the AS.
    pub as_security: SecurityMode,
    /// The client's `client_secret` (registered at the AS; for HTTP Basic and the insecure
    /// mode).
    pub client_secret: Vec<u8>,
    handles: Vec<ServerHandle>,
    tasks: Vec<JoinHandle<()>>,
}

impl core::fmt::Debug for Local {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Local")
            .field("as_addr", &self.as_addr)
            .field("rs_addr", &self.rs_addr)
            .finish_non_exhaustive()
    }
}

/// The AS engine of the deployment for one ACE profile and token format: the client
/// ([`CLIENT_ID`]) and the RS (which may introspect its tokens) registered, `allowed_scope`
/// granted at [`AUDIENCE`].
fn as_engine_with(
    profile: AceProfile,
    format: TokenFormat,
    client_secret: &[u8],
    lifetime: u64,
    allowed_scope: &str,
    store: Box<dyn TokenStore>,
) -> AsEngine {
    let mut rs_info = ResourceServerInfo::new(AUDIENCE, profile, format);
    rs_info.lifetime = lifetime;
    let registry = MemoryRegistry::new()
        .with_client(
            ClientInfo::new(CLIENT_ID)
                .with_credential(ClientCredential::PskIdentity(CLIENT_SENDER_ID.to_vec()))
                .with_credential(ClientCredential::Secret(
                    ace_token::crypto::SecretBytes::from_slice(client_secret),
                ))
                .with_profile(profile)
                .with_default_audience(AUDIENCE),
        )
        .with_client(
            // The RS may introspect tokens issued for it.
            ClientInfo::new(AUDIENCE)
                .with_grant_types(&[])
                .with_credential(ClientCredential::PskIdentity(RS_SENDER_ID.to_vec()))
                .with_introspection(&[AUDIENCE]),
        )
        .with_resource_server(rs_info);
    let policy =
        StaticPolicy::new().allow(CLIENT_ID, AUDIENCE, Scope::Text(allowed_scope.to_owned()));
    AsEngine::new(
        AsConfig::new(ISSUER),
        Box::new(registry),
        Box::new(policy),
        store,
        Arc::new(RustCrypto),
    )
}

/// The AS engine of the deployment (shared with the fuzz target and benches).
#[must_use]
pub fn as_engine(
    signing_key: &PrivateKey,
    client_secret: &[u8],
    lifetime: u64,
    allowed_scope: &str,
    store: Box<dyn TokenStore>,
) -> AsEngine {
    as_engine_with(
        coap_dtls(),
        TokenFormat::Sign1 {
            alg: Algorithm::ES256,
            key: signing_key.clone(),
            kid: Some(b"as-key".to_vec()),
        },
        client_secret,
        lifetime,
        allowed_scope,
        store,
    )
}

/// The RS engine of the deployment: trusts tokens signed by `as_public`.
#[must_use]
pub fn rs_engine(
    as_public: ace_token::crypto::PublicKey,
    as_uri: &str,
    store: Box<dyn AcceptedTokenStore>,
) -> RsEngine {
    let mut cfg = RsConfig::new(AUDIENCE, as_uri);
    cfg.issuers = vec![ISSUER.to_owned()];
    cfg.scope_map = demo::scope_map();
    cfg.clock_skew = 0;
    let keys = KeySet::new().with(
        TokenKey::public(as_public)
            .with_kid(*b"as-key")
            .with_issuer(ISSUER),
    );
    RsEngine::new(cfg, Box::new(keys), Arc::new(RustCrypto), store)
}

fn coap_oscore() -> AceProfile {
    AceProfile(ace_oscore::profile::COAP_OSCORE)
}

/// The AS engine of the deployment with the OSCORE profile (RFC 9203): tokens for
/// [`AUDIENCE`] are COSE_Encrypt0 (AES-CCM-16-64-128) under `rs_token_key` (kid
/// [`RS_TOKEN_KID`]) with `cnf = {osc: ..}` generated by [`OscoreProfile`].
#[must_use]
pub fn as_engine_oscore(
    rs_token_key: &[u8],
    client_secret: &[u8],
    lifetime: u64,
    allowed_scope: &str,
    store: Box<dyn TokenStore>,
) -> AsEngine {
    as_engine_with(
        coap_oscore(),
        TokenFormat::Encrypt0 {
            alg: Algorithm::AES_CCM_16_64_128,
            key: ace_token::crypto::SecretBytes::from_slice(rs_token_key),
            kid: Some(RS_TOKEN_KID.to_vec()),
        },
        client_secret,
        lifetime,
        allowed_scope,
        store,
    )
    .with_profiles(vec![Arc::new(OscoreProfile::new())])
}

/// The RS engine of the deployment with the OSCORE profile: decrypts tokens with
/// `rs_token_key` (kid [`RS_TOKEN_KID`]).
#[must_use]
pub fn rs_engine_oscore(
    rs_token_key: &[u8],
    as_uri: &str,
    store: Box<dyn AcceptedTokenStore>,
) -> RsEngine {
    let mut cfg = RsConfig::new(AUDIENCE, as_uri);
    cfg.issuers = vec![ISSUER.to_owned()];
    cfg.scope_map = demo::scope_map();
    cfg.clock_skew = 0;
    let keys =
        KeySet::new().with(TokenKey::symmetric(rs_token_key.to_vec()).with_kid(RS_TOKEN_KID));
    RsEngine::new(cfg, Box::new(keys), Arc::new(RustCrypto), store)
        .with_profiles(vec![Arc::new(OscoreProfile::new())])
}

/// The RS's view of provisioned OSCORE peers (the interim channel before RFC 9203 was wired;
/// kept for callers that provision contexts themselves): the
/// context with Sender ID [`CLIENT_SENDER_ID`] was provisioned for the holder of
/// `client_public`, so requests over it are that key's channel identity.
#[must_use]
pub fn provisioned_identity_map(client_public: ace_token::crypto::PublicKey) -> IdentityMap {
    Arc::new(move |peer: &PeerIdentity| match peer {
        PeerIdentity::Oscore { sender_id, .. } if sender_id.as_slice() == CLIENT_SENDER_ID => {
            ChannelIdentity::RawPublicKey(client_public.clone())
        }
        _ => ChannelIdentity::Anonymous,
    })
}

impl Local {
    /// Starts AS and RS on `127.0.0.1` (ephemeral ports) and sets up the client.
    ///
    /// # Errors
    /// Bind failures, key or context setup failures.
    pub async fn start(options: LocalOptions) -> Result<Self> {
        let mut rng = os_rng();
        let mut as_secret = [0u8; 16];
        rng.fill_bytes(&mut as_secret);
        let mut raw_secret = [0u8; 16];
        rng.fill_bytes(&mut raw_secret);
        // Text, so that it fits HTTP Basic and JSON (RFC 6749 secrets are strings).
        let client_secret = crate::sink::hex(&raw_secret).into_bytes();
        // The symmetric key the AS encrypts the RS's tokens with (shared AS ↔ RS).
        let mut rs_token_key = [0u8; 16];
        rng.fill_bytes(&mut rs_token_key);
        let loopback: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));

        // AS
        let as_service = AsService::new(as_engine_oscore(
            &rs_token_key,
            &client_secret,
            options.lifetime,
            &options.allowed_scope,
            options.as_store,
        ))
        .with_clock(options.clock.clone())
        .with_sink(options.as_sink.clone());
        let mut handles = Vec::new();
        let mut tasks = Vec::new();
        let as_addr = match options.as_security {
            SecurityMode::Oscore => {
                let mut set = ContextSet::new();
                set.insert(oscore_context(&as_secret, AS_SENDER_ID, CLIENT_SENDER_ID)?);
                let layer = OscoreLayer::new(set, MemorySequenceStore::default());
                let server =
                    bind_coap(loopback, options.coap.clone(), as_service.router(), layer).await?;
                let addr = server.local_addr()?;
                handles.push(server.handle());
                tasks.push(tokio::spawn(async move {
                    let _ = server.serve().await;
                }));
                addr
            }
            SecurityMode::Insecure => {
                check_insecure_allowed(loopback, "as")?;
                let server = bind_coap(
                    loopback,
                    options.coap.clone(),
                    as_service.router(),
                    ace_coap::PlainCoap,
                )
                .await?;
                let addr = server.local_addr()?;
                handles.push(server.handle());
                tasks.push(tokio::spawn(async move {
                    let _ = server.serve().await;
                }));
                addr
            }
        };

        // RS: no provisioned context; /authz-info derives them (RFC 9203).
        let as_uri = format!("coap://{as_addr}/token");
        let layer = SharedOscoreLayer::new(
            OscoreLayer::new(ContextSet::new(), MemorySequenceStore::default())
                .allow_unprotected(true),
        );
        let rs_oscore = Arc::new(RsOscore::new(layer.clone()));
        let rs_service = RsService::new(rs_engine_oscore(&rs_token_key, &as_uri, options.rs_store))
            .with_clock(options.clock.clone())
            .with_sink(options.rs_sink.clone())
            .with_oscore_profile(rs_oscore);
        let state = DemoState::default();
        let router = demo::mount(&rs_service, Router::new(), &state);
        let rs_server = bind_coap(loopback, options.coap.clone(), router, layer).await?;
        let rs_addr = rs_server.local_addr()?;
        let rs_handle = rs_server.handle();
        handles.push(rs_handle.clone());
        tasks.push(tokio::spawn(async move {
            let _ = rs_server.serve().await;
        }));
        tasks.push(tokio::spawn(demo::run_counter(
            rs_handle,
            state,
            std::time::Duration::from_millis(500),
        )));
        tasks.push(tokio::spawn(
            as_service
                .clone()
                .maintain(std::time::Duration::from_secs(1)),
        ));
        tasks.push(tokio::spawn(
            rs_service
                .clone()
                .maintain(std::time::Duration::from_secs(1)),
        ));

        // Client
        let (coap, driver) = Client::bind(loopback, options.coap.clone()).await?;
        tasks.push(tokio::spawn(async move {
            let _ = driver.run().await;
        }));
        let to_as = match options.as_security {
            SecurityMode::Oscore => Some(OscoreClient::new(
                coap.clone(),
                oscore_context(&as_secret, CLIENT_SENDER_ID, AS_SENDER_ID)?,
                MemorySequenceStore::default(),
            )),
            SecurityMode::Insecure => None,
        };
        let mut config = ClientConfig::new(CLIENT_ID);
        config.profiles = vec![coap_oscore()];
        if options.as_security == SecurityMode::Insecure {
            // No channel authentication: the client authenticates in the request body.
            config.client_secret = Some(ace_token::crypto::SecretBytes::from_slice(&client_secret));
        }
        let client = LocalClient {
            engine: ClientEngine::new(config),
            coap,
            to_as,
            to_rs: std::sync::Mutex::new(None),
            profile: OscoreProfile::new(),
            as_addr,
            rs_addr,
            clock: options.clock,
        };
        Ok(Self {
            as_addr,
            rs_addr,
            as_service,
            rs_service,
            client,
            as_security: options.as_security,
            client_secret: client_secret.clone(),
            handles,
            tasks,
        })
    }

    /// Shuts both servers down and stops the background tasks.
    pub async fn shutdown(self) {
        for h in &self.handles {
            h.shutdown().await;
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// What the client and the RS exchanged at `/authz-info` (RFC 9203 §4.1, §4.2) and derived
/// from it (§4.3), for display and tests. No secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OscoreExchange {
    /// The OSCORE Input Material identifier (the token's binding).
    pub material_id: Vec<u8>,
    /// `nonce1` (client).
    pub nonce1: Vec<u8>,
    /// `nonce2` (RS).
    pub nonce2: Vec<u8>,
    /// ID1 = `ace_client_recipientid`: the client's Recipient ID, the RS's Sender ID.
    pub client_recipient_id: Vec<u8>,
    /// ID2 = `ace_server_recipientid`: the RS's Recipient ID, the client's Sender ID.
    pub server_recipient_id: Vec<u8>,
    /// The derived Master Salt (salt ‖ N1 ‖ N2 as CBOR byte strings).
    pub master_salt: Vec<u8>,
    /// The ID Context (`contextId`), if any.
    pub id_context: Option<Vec<u8>>,
}

/// The deployment's client: the ACE client engine plus its CoAP / OSCORE channels.
pub struct LocalClient {
    engine: ClientEngine,
    coap: Client,
    to_as: Option<OscoreClient<RustCrypto>>,
    /// The RFC 9203 context with the RS (after [`LocalClient::upload`]).
    to_rs: std::sync::Mutex<Option<Arc<OscoreClient<RustCrypto>>>>,
    profile: OscoreProfile,
    as_addr: SocketAddr,
    rs_addr: SocketAddr,
    clock: Arc<dyn Clock>,
}

impl core::fmt::Debug for LocalClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LocalClient").finish_non_exhaustive()
    }
}

fn coap_code(c: Code) -> CoapCode {
    CoapCode {
        class: c.class(),
        detail: c.detail(),
    }
}

fn oscore_err(e: &ace_oscore::Error) -> Error {
    Error::Tls(format!("OSCORE: {e}"))
}

impl LocalClient {
    /// POSTs `payload` to the AS's `/token` over the client ↔ AS channel.
    ///
    /// # Errors
    /// Transport or OSCORE failures.
    pub async fn post_token(&self, payload: Vec<u8>) -> Result<Message> {
        let msg = Message::request(Code::POST, "/token")
            .with_payload(payload)
            .with_content_format(ContentFormat::ACE_CBOR.0);
        match &self.to_as {
            Some(o) => o
                .request(self.as_addr, msg)
                .await
                .map_err(|e| oscore_err(&e)),
            None => Ok(self.coap.request(self.as_addr, msg, true).await?),
        }
    }

    /// Requests a token for `scope` following `hints`; the AS's refusal comes back as
    /// `Err(Error::Engine(ace_core::Error::Refused{..}))`.
    ///
    /// # Errors
    /// Refusals, transport and OSCORE failures.
    pub async fn request_token(&self, hints: &CreationHints, scope: &str) -> Result<AccessInfo> {
        let step = self
            .engine
            .request_token(hints, Some(Scope::Text(scope.to_owned())))?;
        let resp = self.post_token(step.payload()?).await?;
        Ok(step.handle_response(self.clock.now(), coap_code(resp.code), &resp.payload)?)
    }

    /// POSTs the token to the RS's `/authz-info` (unprotected, RFC 9200 §5.10.1) as the
    /// OSCORE profile does (RFC 9203 §4.1: with `nonce1` and ID1) and, on 2.01, derives the
    /// OSCORE context with the RS from the token's material and the RS's `nonce2` / ID2
    /// (§4.3); later [`LocalClient::rs_request`]s use it. Returns the RS's answer.
    ///
    /// # Errors
    /// Transport failures; a token without OSCORE material; a 2.01 without the RS's
    /// parameters.
    pub async fn upload(&self, info: &AccessInfo) -> Result<Message> {
        self.upload_oscore(info).await.map(|(m, _)| m)
    }

    /// [`LocalClient::upload`], also returning what was exchanged (on 2.01).
    ///
    /// # Errors
    /// As [`LocalClient::upload`].
    pub async fn upload_oscore(
        &self,
        info: &AccessInfo,
    ) -> Result<(Message, Option<OscoreExchange>)> {
        let mut rng = os_rng();
        let (cf, payload, pending) = self
            .profile
            .client_authz_info(info, CLIENT_RECIPIENT_ID, &mut rng)
            .map_err(|e| Error::Tls(format!("RFC 9203: {e}")))?;
        let resp = self
            .coap
            .post(self.rs_addr, "/authz-info", payload, Some(cf.0))
            .await?;
        if resp.code != Code::CREATED {
            return Ok((resp, None));
        }
        let params = pending
            .handle_response(coap_code(resp.code), &resp.payload)
            .map_err(|e| Error::Tls(format!("RFC 9203: {e}")))?;
        let nonce2 = ace_core::AuthzInfoResponse::decode(&resp.payload)
            .ok()
            .and_then(|r| {
                r.rest
                    .iter()
                    .find(|(l, _)| *l == ace_core::Label::Int(ace_oscore::profile::NONCE2))
                    .and_then(|(_, v)| v.as_bytes().cloned())
            })
            .unwrap_or_default();
        let exchange = OscoreExchange {
            material_id: pending.material.id.clone().unwrap_or_default(),
            nonce1: pending.nonce1.clone(),
            nonce2,
            client_recipient_id: params.recipient_id.clone(),
            server_recipient_id: params.sender_id.clone(),
            master_salt: params.master_salt.clone(),
            id_context: params.id_context.clone(),
        };
        let ctx = SecurityContext::new(RustCrypto, params).map_err(|e| oscore_err(&e))?;
        let client = OscoreClient::new(self.coap.clone(), ctx, MemorySequenceStore::default());
        *self.to_rs.lock().map_err(|_| Error::Poisoned)? = Some(Arc::new(client));
        Ok((resp, Some(exchange)))
    }

    /// POSTs an update of access rights (a token whose `cnf` is `{kid: material id}`) to
    /// `/authz-info` over the existing OSCORE context (RFC 9203 §4.1); a 2.01 keeps the
    /// context.
    ///
    /// # Errors
    /// No context yet; transport or OSCORE failures.
    pub async fn update_over_oscore(&self, info: &AccessInfo) -> Result<Message> {
        let (cf, payload) = OscoreProfile::client_update_payload(info)
            .map_err(|e| Error::Tls(format!("RFC 9203: {e}")))?;
        let msg = Message::request(Code::POST, "/authz-info")
            .with_payload(payload)
            .with_content_format(cf.0);
        self.oscore_to_rs(msg).await
    }

    /// Requests a token for `scope` that updates the access rights of the current OSCORE
    /// context (`req_cnf = {kid: material id}`, RFC 9203 §3.1).
    ///
    /// # Errors
    /// Refusals, transport and OSCORE failures.
    pub async fn request_update_token(
        &self,
        hints: &CreationHints,
        scope: &str,
        material_id: &[u8],
    ) -> Result<AccessInfo> {
        let mut step = self
            .engine
            .request_token(hints, Some(Scope::Text(scope.to_owned())))?;
        OscoreProfile::request_update(&mut step, material_id);
        let resp = self.post_token(step.payload()?).await?;
        Ok(step.handle_response(self.clock.now(), coap_code(resp.code), &resp.payload)?)
    }

    async fn oscore_to_rs(&self, msg: Message) -> Result<Message> {
        let client = self
            .to_rs
            .lock()
            .map_err(|_| Error::Poisoned)?
            .clone()
            .ok_or_else(|| Error::Tls("no OSCORE context with the RS: upload a token".into()))?;
        match client.request(self.rs_addr, msg).await {
            Ok(m) => Ok(m),
            // The RS dropped the context (e.g. the token expired): an unprotected error.
            Err(ace_oscore::Error::UnprotectedResponse(code)) => {
                Ok(Message::response(Code(code), Vec::new()))
            }
            Err(e) => Err(oscore_err(&e)),
        }
    }

    /// A request to the RS over the RFC 9203 OSCORE context. An unprotected error answer
    /// (the RS no longer has the context) is returned as a message with that code and no
    /// payload.
    ///
    /// # Errors
    /// No context yet; transport or OSCORE failures.
    pub async fn rs_request(&self, method: Code, path: &str, payload: &[u8]) -> Result<Message> {
        let msg = Message::request(method, path).with_payload(payload.to_vec());
        self.oscore_to_rs(msg).await
    }

    /// A GET to the RS without OSCORE (gets 4.01 + hints for a protected resource).
    ///
    /// # Errors
    /// Transport failures.
    pub async fn rs_get_unprotected(&self, path: &str) -> Result<Message> {
        Ok(self.coap.get(self.rs_addr, path).await?)
    }
}
