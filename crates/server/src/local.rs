//! A complete deployment on loopback, in-process: an AS and an RS (ephemeral ports) and a
//! client with its secure channels. `ace demo`, `ace bench`, the tests and the examples use
//! it; the stores are whatever the caller passes (in-memory or `ace-store`).
//!
//! Channels (architecture.md, "Secure channels"):
//! * client ↔ AS: OSCORE with a context provisioned at start (random Master Secret, client
//!   Sender ID `c1`, AS Sender ID `as`), or plain CoAP with [`SecurityMode::Insecure`];
//! * client ↔ RS: `/authz-info` unprotected; resources over OSCORE. **Interim** (until the
//!   RFC 9203 profile is wired here): the client ↔ RS context is provisioned at start too
//!   (Sender ID `c1` towards the RS) for the holder of the client's P-256 key; the token
//!   binds that public key (`req_cnf` COSE_Key, RFC 9201, `coap_dtls` profile value) and the
//!   RS maps the OSCORE identity `c1` to that key ([`provisioned_identity_map`]). This is
//!   channel authentication by provisioning, not the RFC 9203 key derivation from the
//!   token.

use std::net::SocketAddr;
use std::sync::Arc;

use ace_coap::{Client, Code, Config, Message, PeerIdentity, Router, ServerHandle};
use ace_core::{
    AcceptedTokenStore, AccessInfo, AsConfig, AsEngine, ChannelIdentity, ClientConfig,
    ClientCredential, ClientEngine, ClientInfo, CoapCode, Confirmation, ContentFormat,
    CreationHints, MemoryRegistry, ResourceServerInfo, RsConfig, RsEngine, Scope, StaticPolicy,
    TokenFormat, TokenStore,
};
use ace_oscore::coap::{OscoreClient, OscoreLayer};
use ace_oscore::{ContextParams, ContextSet, MemorySequenceStore, SecurityContext};
use ace_token::crypto::{CryptoBackend, KeyType, PrivateKey, Rng, os_rng};
use ace_token::{AceProfile, Algorithm, KeySet, RustCrypto, TokenKey};
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock};
use crate::demo::{self, DemoState};
use crate::error::{Error, Result};
use crate::identity::IdentityMap;
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
/// The RS's OSCORE Sender ID.
pub const RS_SENDER_ID: &[u8] = b"rs";

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

/// The AS engine of the deployment (shared with the fuzz target and benches).
#[must_use]
pub fn as_engine(
    signing_key: &PrivateKey,
    client_secret: &[u8],
    lifetime: u64,
    allowed_scope: &str,
    store: Box<dyn TokenStore>,
) -> AsEngine {
    let mut rs_info = ResourceServerInfo::new(
        AUDIENCE,
        coap_dtls(),
        TokenFormat::Sign1 {
            alg: Algorithm::ES256,
            key: signing_key.clone(),
            kid: Some(b"as-key".to_vec()),
        },
    );
    rs_info.lifetime = lifetime;
    let registry = MemoryRegistry::new()
        .with_client(
            ClientInfo::new(CLIENT_ID)
                .with_credential(ClientCredential::PskIdentity(CLIENT_SENDER_ID.to_vec()))
                .with_credential(ClientCredential::Secret(
                    ace_token::crypto::SecretBytes::from_slice(client_secret),
                ))
                .with_profile(coap_dtls())
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

/// The RS's view of its provisioned OSCORE peers (interim, see the module docs): the
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
        let signing_key = PrivateKey::generate(KeyType::P256, &mut rng);
        let as_public = RustCrypto
            .public_key(&signing_key)
            .map_err(|e| Error::Tls(format!("AS key: {e}")))?;
        let mut as_secret = [0u8; 16];
        rng.fill_bytes(&mut as_secret);
        let mut raw_secret = [0u8; 16];
        rng.fill_bytes(&mut raw_secret);
        // Text, so that it fits HTTP Basic and JSON (RFC 6749 secrets are strings).
        let client_secret = crate::sink::hex(&raw_secret).into_bytes();
        let mut rs_secret = [0u8; 16];
        rng.fill_bytes(&mut rs_secret);
        let client_key = PrivateKey::generate(KeyType::P256, &mut rng);
        let client_public = RustCrypto
            .public_key(&client_key)
            .map_err(|e| Error::Tls(format!("client key: {e}")))?;
        let loopback: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));

        // AS
        let as_service = AsService::new(as_engine(
            &signing_key,
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

        // RS
        let as_uri = format!("coap://{as_addr}/token");
        let rs_service = RsService::new(rs_engine(as_public, &as_uri, options.rs_store))
            .with_clock(options.clock.clone())
            .with_sink(options.rs_sink.clone())
            .with_identity_map(provisioned_identity_map(client_public.clone()));
        let state = DemoState::default();
        let router = demo::mount(&rs_service, Router::new(), &state);
        let mut set = ContextSet::new();
        set.insert(oscore_context(&rs_secret, RS_SENDER_ID, CLIENT_SENDER_ID)?);
        let layer = OscoreLayer::new(set, MemorySequenceStore::default()).allow_unprotected(true);
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
        let to_rs = OscoreClient::new(
            coap.clone(),
            oscore_context(&rs_secret, CLIENT_SENDER_ID, RS_SENDER_ID)?,
            MemorySequenceStore::default(),
        );
        let mut config = ClientConfig::new(CLIENT_ID);
        config.req_cnf = Some(Confirmation::cose_key(ace_token::PopKey::public(
            client_public.clone(),
        )));
        if options.as_security == SecurityMode::Insecure {
            // No channel authentication: the client authenticates in the request body.
            config.client_secret = Some(ace_token::crypto::SecretBytes::from_slice(&client_secret));
        }
        let client = LocalClient {
            engine: ClientEngine::new(config),
            coap,
            to_as,
            to_rs,
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

/// The deployment's client: the ACE client engine plus its CoAP / OSCORE channels.
pub struct LocalClient {
    engine: ClientEngine,
    coap: Client,
    to_as: Option<OscoreClient<RustCrypto>>,
    to_rs: OscoreClient<RustCrypto>,
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

    /// POSTs the token to the RS's `/authz-info` (unprotected, RFC 9200 §5.10.1).
    ///
    /// # Errors
    /// Transport failures.
    pub async fn upload(&self, info: &AccessInfo) -> Result<Message> {
        let (cf, req) = info.authz_info_request();
        Ok(self
            .coap
            .post(self.rs_addr, "/authz-info", req.encode()?, Some(cf.0))
            .await?)
    }

    /// A request to the RS over OSCORE.
    ///
    /// # Errors
    /// Transport or OSCORE failures.
    pub async fn rs_request(&self, method: Code, path: &str, payload: &[u8]) -> Result<Message> {
        let msg = Message::request(method, path).with_payload(payload.to_vec());
        self.to_rs
            .request(self.rs_addr, msg)
            .await
            .map_err(|e| oscore_err(&e))
    }

    /// A GET to the RS without OSCORE (gets 4.01 + hints for a protected resource).
    ///
    /// # Errors
    /// Transport failures.
    pub async fn rs_get_unprotected(&self, path: &str) -> Result<Message> {
        Ok(self.coap.get(self.rs_addr, path).await?)
    }
}
