//! `ace as serve`, `ace rs serve`, `ace token request`, `ace client get`.

use std::net::SocketAddr;
use std::sync::Arc;

use ace_coap::{Code, Message, Router};
use ace_core::{
    AsConfig, AsEngine, ClientConfig, ClientCredential, ClientEngine, ClientInfo, CoapCode,
    CreationHints, MemoryRegistry, ResourceServerInfo, RsConfig, RsEngine, Scope, StaticPolicy,
    TokenFormat,
};
use ace_oscore::coap::{OscoreClient, OscoreLayer, SharedOscoreLayer};
use ace_oscore::profile::OscoreProfile;
use ace_oscore::{ContextParams, ContextSet};
use ace_server::{AsService, RsOscore, RsService, SecurityMode, StoreSink};
use ace_store::SqliteStore;
use ace_token::crypto::SecretBytes;
use ace_token::{AceProfile, Algorithm, KeySet, RustCrypto, TokenKey, UnixTime};

use crate::CliError;
use crate::config::Config;
use crate::keys;

pub(crate) mod persisted_oscore;

use persisted_oscore::context;

fn coap_oscore() -> AceProfile {
    AceProfile(ace_oscore::profile::COAP_OSCORE)
}

fn open_db(cfg: &Config, role: &str) -> Result<Arc<SqliteStore>, CliError> {
    let path = cfg.db(role);
    SqliteStore::open(&path)
        .map(Arc::new)
        .map_err(|e| CliError::Runtime(format!("cannot open {}: {e}", path.display())))
}

fn bind_err(e: ace_server::Error) -> CliError {
    match e {
        ace_server::Error::AddressInUse { addr } => {
            CliError::AddressInUse(format!("address {addr} is already in use"))
        }
        ace_server::Error::Bind { addr, source } => {
            CliError::AddressInUse(format!("cannot bind {addr}: {source}"))
        }
        ace_server::Error::InsecureNotLoopback { addr } => CliError::Config(format!(
            "insecure mode is only allowed on loopback addresses, not {addr}"
        )),
        other => CliError::Runtime(other.to_string()),
    }
}

async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
}

/// `ace as serve`.
pub(crate) async fn as_serve(
    cfg: &Config,
    coap: Option<SocketAddr>,
    insecure: bool,
) -> Result<(), CliError> {
    let s = cfg
        .as_
        .as_ref()
        .ok_or_else(|| CliError::Config("the configuration has no [as] table".into()))?;
    let addr = coap.unwrap_or(s.coap);
    let mode = if insecure || s.insecure {
        SecurityMode::Insecure
    } else {
        SecurityMode::Oscore
    };
    // Checked at start although RFC 9203 tokens are COSE_Encrypt0 (the key stays the AS's
    // identity key, e.g. for other token formats).
    let _signing_key = keys::read_p256_private(&cfg.path(&s.signing_key))?;
    let mut http_clients = ace_server::http::HttpClients::new();
    let mut registry = MemoryRegistry::new();
    let mut policy = StaticPolicy::new();
    let mut contexts = Vec::new();
    for c in &s.clients {
        let mut info = ClientInfo::new(c.id.clone()).with_profile(coap_oscore());
        if let Some(a) = &c.audience {
            info = info.with_default_audience(a.clone());
            if !c.scope.is_empty() {
                policy = policy.allow(&c.id, a, Scope::Text(c.scope.clone()));
            }
        }
        if c.scope.is_empty() {
            info = info.with_grant_types(&[]);
        }
        if let Some(f) = &c.secret_file {
            let k = keys::read_symmetric(&cfg.path(f))?;
            info = info.with_credential(ClientCredential::Secret(SecretBytes::from_slice(&k)));
            http_clients = http_clients.with(c.id.clone(), &k);
        }
        match (&c.oscore_sender_id, &c.oscore_secret_file) {
            (Some(id), Some(f)) => {
                let k = keys::read_symmetric(&cfg.path(f))?;
                info = info.with_credential(ClientCredential::PskIdentity(id.as_bytes().to_vec()));
                contexts.push((k, id.clone()));
            }
            (None, None) => {}
            _ => {
                return Err(CliError::Config(format!(
                    "client {}: oscore_sender_id and oscore_secret_file go together",
                    c.id
                )));
            }
        }
        if !c.introspect.is_empty() {
            let a: Vec<&str> = c.introspect.iter().map(String::as_str).collect();
            info = info.with_introspection(&a);
        }
        registry = registry.with_client(info);
    }
    for rs in &s.resource_servers {
        // The RS's own OSCORE context with the AS: it observes the TRL over it.
        match (&rs.oscore_sender_id, &rs.oscore_secret_file) {
            (Some(id), Some(f)) => contexts.push((keys::read_symmetric(&cfg.path(f))?, id.clone())),
            (None, None) => {}
            _ => {
                return Err(CliError::Config(format!(
                    "resource server {}: oscore_sender_id and oscore_secret_file go together",
                    rs.audience
                )));
            }
        }
        let token_key = keys::read_symmetric(&cfg.path(&rs.token_key))?;
        let mut info = ResourceServerInfo::new(
            rs.audience.clone(),
            coap_oscore(),
            TokenFormat::Encrypt0 {
                alg: Algorithm::AES_CCM_16_64_128,
                key: SecretBytes::from_slice(&token_key),
                kid: Some(rs.audience.as_bytes().to_vec()),
            },
        );
        info.lifetime = s.token_lifetime;
        registry = registry.with_resource_server(info);
    }
    // One AS per database: `ace as revoke` sees the lock and queues for us instead of
    // writing the TRL itself. The OS drops the lock when the process ends (also on kill -9).
    let _lock = crate::revoke::lock_as(cfg)?.ok_or_else(|| {
        CliError::Runtime(format!(
            "another AS is running on {} (lock {} is held)",
            cfg.db("as").display(),
            cfg.as_lock().display()
        ))
    })?;
    let db = open_db(cfg, "as")?;
    let trl = as_trl(cfg, s)?;
    let mut engine = AsEngine::new(
        AsConfig::new(s.issuer.clone()),
        Box::new(registry),
        Box::new(policy),
        Box::new(db.token_store()),
        Arc::new(RustCrypto),
    )
    .with_profiles(vec![Arc::new(OscoreProfile::new())]);
    for (aud, seq) in db
        .as_exi_sequences()
        .map_err(|e| CliError::Runtime(format!("SQLite: {e}")))?
    {
        engine.restore_exi_sequence(aud, seq);
    }
    let service = AsService::new(engine)
        .with_sink(Arc::new(StoreSink(db.clone())))
        .with_trl(trl);
    let config = ace_coap::Config::default();
    let maintain = tokio::spawn(service.clone().maintain(std::time::Duration::from_secs(5)));
    let queue = crate::revoke::open_trl_store(cfg)?;
    let watch = tokio::spawn(service.clone().watch_revocation_queue(
        queue,
        std::time::Duration::from_millis(s.trl.poll_ms.max(10)),
    ));
    let https = match s.https {
        None => None,
        Some(addr) => {
            let tls = match (&s.tls_cert, &s.tls_key) {
                (Some(c), Some(k)) => {
                    ace_server::http::server_config_from_pem(&cfg.path(c), &cfg.path(k))
                        .map_err(|e| CliError::KeyFile(e.to_string()))?
                }
                (None, None) => {
                    tracing::warn!(
                        "no tls_cert/tls_key: using a self-signed certificate for localhost"
                    );
                    let (c, k) = ace_server::http::self_signed(&["localhost"])
                        .map_err(|e| CliError::Runtime(e.to_string()))?;
                    ace_server::http::server_config(c, k)
                        .map_err(|e| CliError::Runtime(e.to_string()))?
                }
                _ => {
                    return Err(CliError::Config(
                        "[as]: tls_cert and tls_key go together".into(),
                    ));
                }
            };
            let listener = ace_server::http::TlsListener::bind(addr, tls)
                .await
                .map_err(bind_err)?;
            println!("AS (HTTPS) listening on https://{addr}");
            let router = ace_server::http::router(service.clone(), http_clients);
            Some(tokio::spawn(ace_server::http::serve(
                listener,
                router,
                shutdown_signal(),
            )))
        }
    };
    let result = match mode {
        SecurityMode::Insecure => {
            ace_server::check_insecure_allowed(addr, "as").map_err(bind_err)?;
            let server = ace_server::bind_coap(addr, config, service.router(), ace_coap::PlainCoap)
                .await
                .map_err(bind_err)?;
            service.attach(server.handle());
            run(server, "AS (insecure CoAP)").await
        }
        SecurityMode::Oscore => {
            let mut set = ContextSet::new();
            for (secret, id) in &contexts {
                set.insert(context(
                    &db,
                    secret,
                    s.oscore_sender_id.as_bytes(),
                    id.as_bytes(),
                )?);
            }
            let layer = OscoreLayer::new(set, db.sequence_store());
            let server = ace_server::bind_coap(addr, config, service.router(), layer)
                .await
                .map_err(bind_err)?;
            service.attach(server.handle());
            run(server, "AS (CoAP + OSCORE)").await
        }
    };
    maintain.abort();
    watch.abort();
    if let Some(h) = https {
        let _ = h.await;
    }
    result
}

/// The AS's TRL (RFC 9770) from `[as.trl]`, restored from the AS's SQLite file (the TRL,
/// the update collections and their cursors survive restarts), with every configured client
/// and RS that has an OSCORE context registered as a requester.
fn as_trl(cfg: &Config, s: &crate::config::AsSection) -> Result<ace_server::AsTrl, CliError> {
    use ace_server::revocation::Role;
    let store = crate::revoke::open_trl_store(cfg)?;
    let trl = ace_server::trl::restore_trl(
        crate::revoke::trl_config(s),
        Box::new(store),
        Arc::new(ace_server::SystemClock),
    )
    .map_err(|e| CliError::Runtime(format!("TRL: {e}")))?;
    let role = |id: &str, own: Role| {
        if s.trl.admins.iter().any(|a| a == id) {
            Role::Admin
        } else {
            own
        }
    };
    let mut requesters = Vec::new();
    for c in &s.clients {
        if let Some(id) = &c.oscore_sender_id {
            requesters.push((id.clone(), role(id, Role::Client(c.id.clone()))));
        }
    }
    for rs in &s.resource_servers {
        if let Some(id) = &rs.oscore_sender_id {
            requesters.push((
                id.clone(),
                role(id, Role::ResourceServer(rs.audience.clone())),
            ));
        }
    }
    for (id, role) in requesters {
        // Same role as persisted: no change, the update collection and its cursor stay.
        trl.register(id.into_bytes(), role, &[])
            .map_err(|e| CliError::Runtime(format!("TRL registration: {e}")))?;
    }
    Ok(trl)
}

async fn run<S: ace_coap::SecurityLayer>(
    server: ace_coap::Server<S>,
    what: &str,
) -> Result<(), CliError> {
    let addr = server
        .local_addr()
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let handle = server.handle();
    tracing::info!(%addr, "{what} listening");
    println!("{what} listening on coap://{addr}");
    let serve = tokio::spawn(server.serve());
    shutdown_signal().await;
    handle.shutdown().await;
    let _ = serve.await;
    Ok(())
}

/// `ace rs serve`.
pub(crate) async fn rs_serve(cfg: &Config, coap: Option<SocketAddr>) -> Result<(), CliError> {
    let s = cfg
        .rs
        .as_ref()
        .ok_or_else(|| CliError::Config("the configuration has no [rs] table".into()))?;
    let addr = coap.unwrap_or(s.coap);
    let token_key = keys::read_symmetric(&cfg.path(&s.token_key))?;
    let db = open_db(cfg, "rs")?;
    let mut rs_cfg = RsConfig::new(s.audience.clone(), s.as_uri.clone());
    rs_cfg.issuers = vec![s.issuer.clone()];
    rs_cfg.scope_map = ace_server::demo::scope_map();
    let keyset =
        KeySet::new().with(TokenKey::symmetric(token_key).with_kid(s.audience.as_bytes().to_vec()));
    // Accepted tokens in SQLite, purgeable by the TRL follower (RFC 9770).
    let (tokens, purge) = ace_server::revocation::rs::PurgingTokenStore::wrap(
        db.accepted_tokens()
            .map_err(|e| CliError::Runtime(format!("SQLite: {e}")))?,
    );
    let engine = RsEngine::new(
        rs_cfg,
        Box::new(keyset),
        Arc::new(RustCrypto),
        Box::new(tokens),
    )
    .with_exi_highest_expired(
        db.rs_exi_highest_expired()
            .map_err(|e| CliError::Runtime(format!("SQLite: {e}")))?,
    )
    .with_profiles(vec![Arc::new(OscoreProfile::new())]);
    // No provisioned contexts: /authz-info derives them from the tokens (RFC 9203) and they
    // are persisted, so that a restart continues them (sequence numbers per context, Echo).
    let layer = SharedOscoreLayer::new(
        OscoreLayer::new(ContextSet::new(), db.sequence_store()).allow_unprotected(true),
    );
    let oscore = RsOscore::new(layer.clone()).with_persistence(db.clone());
    let seq = db.sequence_store();
    let restored = oscore
        .restore(UnixTime::now(), |p| {
            seq.get_context(&p.sender_id, &p.recipient_id, p.id_context.as_deref())
                .map_err(|e| ace_server::Error::Tls(format!("SQLite: {e}")))
        })
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    if restored > 0 {
        tracing::info!(restored, "RFC 9203 OSCORE contexts restored");
    }
    let mut service = RsService::new(engine)
        .with_sink(Arc::new(StoreSink(db.clone())))
        .with_oscore_profile(Arc::new(oscore));
    let follower = match &s.trl {
        None => None,
        Some(t) => {
            let (rs_trl, to_as) = rs_trl(cfg, &db, t, purge).await?;
            service = service.with_trl(rs_trl.clone());
            let follow = ace_server::rs_trl::TrlFollow {
                as_addr: t.as_coap,
                registration: ace_server::revocation::RegistrationInfo {
                    trl_path: t.path.clone(),
                    trl_hash: ace_server::revocation::HashAlg::Sha256,
                    max_n: Some(ace_server::revocation::consts::DEFAULT_MAX_N as u64),
                    max_diff_batch: Some(
                        ace_server::revocation::consts::DEFAULT_MAX_DIFF_BATCH as u64,
                    ),
                },
                repoll: std::time::Duration::from_secs(t.poll_secs.max(1)),
            };
            Some(tokio::spawn(ace_server::rs_trl::follow_trl(
                rs_trl, to_as, follow,
            )))
        }
    };
    let state = ace_server::demo::DemoState::default();
    let router = ace_server::demo::mount(&service, Router::new(), &state);
    let server = ace_server::bind_coap(addr, ace_coap::Config::default(), router, layer)
        .await
        .map_err(bind_err)?;
    let counter = tokio::spawn(ace_server::demo::run_counter(
        server.handle(),
        state,
        std::time::Duration::from_secs(1),
    ));
    let maintain = tokio::spawn(service.clone().maintain(std::time::Duration::from_secs(1)));
    let r = run(server, "RS (CoAP, OSCORE profile RFC 9203)").await;
    counter.abort();
    maintain.abort();
    if let Some(f) = follower {
        f.abort();
    }
    r
}

/// The RS's revocation state (restored from its SQLite file) and its OSCORE client towards
/// the AS (the sequence number continues after the persisted one).
async fn rs_trl(
    cfg: &Config,
    db: &Arc<SqliteStore>,
    t: &crate::config::RsTrlSection,
    purge: ace_server::revocation::rs::PurgeHandle,
) -> Result<(Arc<ace_server::rs_trl::RsTrl>, OscoreClient<RustCrypto>), CliError> {
    let rs_trl = ace_server::rs_trl::RsTrl::persistent(
        ace_server::revocation::HashAlg::Sha256,
        purge,
        db.clone(),
    )
    .map_err(|e| CliError::Runtime(format!("TRL state: {e}")))?;
    let secret = keys::read_symmetric(&cfg.path(&t.oscore_secret_file))?;
    let params = ContextParams::new(
        &secret,
        b"",
        t.oscore_sender_id.as_bytes(),
        t.as_sender_id.as_bytes(),
    );
    // A client context: continue after the persisted number, no Echo state.
    let ctx = persisted_oscore::client_context(db, params)?;
    let (coap, driver) = ace_coap::Client::bind(
        if t.as_coap.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        },
        ace_coap::Config::default(),
    )
    .await
    .map_err(|e| CliError::Runtime(e.to_string()))?;
    tokio::spawn(driver.run());
    Ok((
        Arc::new(rs_trl),
        OscoreClient::new(coap, ctx, db.sequence_store()),
    ))
}

struct ClientSide {
    to_as: OscoreClient<RustCrypto>,
    coap: ace_coap::Client,
    engine: ClientEngine,
    db: Arc<SqliteStore>,
    as_addr: SocketAddr,
    rs_addr: SocketAddr,
}

async fn client_side(cfg: &Config) -> Result<ClientSide, CliError> {
    let s = cfg
        .client
        .as_ref()
        .ok_or_else(|| CliError::Config("the configuration has no [client] table".into()))?;
    let as_secret = keys::read_symmetric(&cfg.path(&s.as_oscore_secret_file))?;
    let db = open_db(cfg, "client")?;
    let to_as_ctx = context(
        &db,
        &as_secret,
        s.oscore_sender_id.as_bytes(),
        s.as_sender_id.as_bytes(),
    )?;
    let (coap, driver) = ace_coap::Client::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        ace_coap::Config::default(),
    )
    .await
    .map_err(|e| CliError::Runtime(e.to_string()))?;
    tokio::spawn(driver.run());
    let mut config = ClientConfig::new(s.id.clone());
    config.profiles = vec![coap_oscore()];
    Ok(ClientSide {
        to_as: OscoreClient::new(coap.clone(), to_as_ctx, db.sequence_store()),
        coap,
        engine: ClientEngine::new(config),
        db,
        as_addr: s.as_coap,
        rs_addr: s.rs_coap,
    })
}

/// Key of the client's RFC 9203 context with the RS of `audience` in its SQLite file.
fn rs_context_key(audience: &str) -> String {
    format!("rfc9203-client-context/{audience}")
}

fn parse_hex_id(text: &str) -> Result<Vec<u8>, CliError> {
    hex::decode(text)
        .map_err(|e| CliError::Config(format!("[client] rs_recipient_id: not hex ({e}): {text:?}")))
}

fn oscore_err(e: &ace_oscore::Error) -> CliError {
    CliError::Runtime(format!("OSCORE: {e}"))
}

/// `ace token request`: asks the AS for a token, stores it in `token_file`, and with
/// `upload` POSTs it to the RS's `/authz-info`.
pub(crate) async fn token_request(cfg: &Config, scope: &str, upload: bool) -> Result<(), CliError> {
    let s = cfg
        .client
        .as_ref()
        .ok_or_else(|| CliError::Config("the configuration has no [client] table".into()))?;
    let c = client_side(cfg).await?;
    let hints = CreationHints {
        as_uri: Some(format!("coap://{}/token", c.as_addr)),
        audience: Some(s.audience.clone()),
        ..CreationHints::default()
    };
    let step = c
        .engine
        .request_token(&hints, Some(Scope::Text(scope.to_owned())))
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let payload = step
        .payload()
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let resp = c
        .to_as
        .request(
            c.as_addr,
            Message::request(Code::POST, "/token")
                .with_payload(payload)
                .with_content_format(19),
        )
        .await
        .map_err(|e| oscore_err(&e))?;
    let info = step
        .handle_response(
            UnixTime::now(),
            CoapCode {
                class: resp.code.class(),
                detail: resp.code.detail(),
            },
            &resp.payload,
        )
        .map_err(|e| CliError::Runtime(format!("token request refused: {e}")))?;
    let path = cfg.path(&s.token_file);
    std::fs::write(&path, &info.token)
        .map_err(|e| CliError::Runtime(format!("cannot write {}: {e}", path.display())))?;
    println!(
        "token: {} bytes, expires in {} s, written to {}",
        info.token.len(),
        info.expires_at.0.saturating_sub(UnixTime::now().0),
        path.display()
    );
    if upload {
        // RFC 9203 §4.1: the token with nonce1 and our Recipient ID (ID1), unprotected.
        let id1 = parse_hex_id(&s.rs_recipient_id)?;
        let profile = OscoreProfile::new();
        let (cf, body, pending) = profile
            .client_authz_info(&info, &id1, &mut ace_token::crypto::os_rng())
            .map_err(|e| CliError::Runtime(format!("RFC 9203: {e}")))?;
        let r = c
            .coap
            .post(c.rs_addr, "/authz-info", body, Some(cf.0))
            .await
            .map_err(|e| CliError::Runtime(e.to_string()))?;
        println!("authz-info: {}", r.code);
        if r.code != Code::CREATED {
            return Err(CliError::Runtime(format!(
                "the RS refused the token: {}",
                r.code
            )));
        }
        // §4.3: the context from the token's OSCORE_Input_Material, N1, N2, ID1, ID2.
        let params = pending
            .handle_response(
                CoapCode {
                    class: r.code.class(),
                    detail: r.code.detail(),
                },
                &r.payload,
            )
            .map_err(|e| CliError::Runtime(format!("RFC 9203: {e}")))?;
        let material_id = pending.material.id.clone().unwrap_or_default();
        println!(
            "OSCORE context derived from the token's OSCORE_Input_Material (id {}): nonce1 {}, \
             Sender ID (RS's Recipient ID) {}, Recipient ID {}",
            hex::encode(&material_id),
            hex::encode(&pending.nonce1),
            hex::encode(&params.sender_id),
            hex::encode(&params.recipient_id)
        );
        // A new context has new keys: its sequence numbers start at 0 (a record of an
        // earlier context with the same IDs only makes them start later, which is safe).
        c.db.put_value(
            &rs_context_key(&s.audience),
            &ace_server::oscore_rs::encode_context(&material_id, Some(info.expires_at), &params),
        )
        .map_err(|e| CliError::Runtime(format!("SQLite: {e}")))?;
    }
    Ok(())
}

/// `ace client get PATH`: GET over the RFC 9203 OSCORE context (derived by `ace token
/// request --upload`) from the RS; prints the code and payload.
pub(crate) async fn client_get(cfg: &Config, path: &str) -> Result<Code, CliError> {
    let s = cfg
        .client
        .as_ref()
        .ok_or_else(|| CliError::Config("the configuration has no [client] table".into()))?;
    let c = client_side(cfg).await?;
    let record =
        c.db.get_value(&rs_context_key(&s.audience))
            .map_err(|e| CliError::Runtime(format!("SQLite: {e}")))?
            .ok_or_else(|| {
                CliError::Runtime(
                    "no OSCORE context with the RS: run `ace token request --upload` first".into(),
                )
            })?;
    let (_, _, params) = ace_server::oscore_rs::decode_context(&record)
        .ok_or_else(|| CliError::Runtime("malformed OSCORE context record".into()))?;
    // A client receives no requests: continue after the persisted number, no Echo state.
    let ctx = persisted_oscore::client_context(&c.db, params)?;
    let to_rs = OscoreClient::new(c.coap.clone(), ctx, c.db.sequence_store());
    let r = match to_rs
        .request(c.rs_addr, Message::request(Code::GET, path))
        .await
    {
        Ok(r) => r,
        Err(ace_oscore::Error::UnprotectedResponse(code)) => {
            // The RS has no such context (token expired or context replaced).
            println!(
                "{} (unprotected: the RS has no OSCORE context for us)",
                Code(code)
            );
            return Ok(Code(code));
        }
        Err(e) => return Err(oscore_err(&e)),
    };
    println!("{} {}", r.code, String::from_utf8_lossy(&r.payload));
    Ok(r.code)
}
