//! `ace broker serve`: the RFC 9431 (ACE for MQTT over TLS) broker of `mqtt-tls-profile`
//! from a TOML file with one `[broker]` table (unknown fields are errors; paths are relative
//! to the file). Keys are read with the loaders of `ace keys` (COSE_Key files), the TLS
//! certificate, key and optional client CA with `mqtt_tls_profile::tls::broker_tls_from_pem`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ace_oscore::ContextParams;
use ace_token::crypto::SecretBytes;
use ace_token::{KeySet, Policy, TokenKey, Validator};
use coset::iana;
use mqtt_tls_profile::AuthConfig;
use mqtt_tls_profile::broker::{Broker, BrokerConfig};
use mqtt_tls_profile::coap_as::CoapEndpoint;
use mqtt_tls_profile::hint::AsHint;
use mqtt_tls_profile::https::HttpsEndpoint;
use mqtt_tls_profile::introspect::{AsEndpoint, IntrospectionConfig};
use mqtt_tls_profile::tls::ClientCerts;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::CliError;
use crate::keys;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BrokerFile {
    /// The broker.
    pub(crate) broker: BrokerSection,
    /// The other commands' tables (`crate::config`): skipped here, so one file can serve
    /// several commands; any other table is still an error.
    #[serde(default, rename = "as")]
    _as: Option<IgnoredAny>,
    #[serde(default, rename = "rs")]
    _rs: Option<IgnoredAny>,
    #[serde(default, rename = "client")]
    _client: Option<IgnoredAny>,
    #[serde(default, rename = "storage")]
    _storage: Option<IgnoredAny>,
    #[serde(default, rename = "cmp_proxy")]
    _cmp_proxy: Option<IgnoredAny>,
    /// Directory of the file (paths are relative to it).
    #[serde(skip)]
    pub(crate) dir: PathBuf,
}

/// `[broker]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BrokerSection {
    /// MQTT over TLS address (e.g. `127.0.0.1:8883`).
    pub(crate) listen: SocketAddr,
    /// TLS certificate chain (PEM).
    pub(crate) tls_cert: PathBuf,
    /// TLS private key (PKCS#8, SEC1 or PKCS#1 PEM).
    pub(crate) tls_key: PathBuf,
    /// CA certificates (PEM) of TLS client certificates: clients are asked for a
    /// certificate chaining to one of them (RFC 9431 §2.2.1 `TLS:Known-Cert`; the token still
    /// decides what they may do). Default: no client certificates.
    pub(crate) client_ca: Option<PathBuf>,
    /// With `client_ca`: refuse clients without a certificate (default false: optional).
    #[serde(default)]
    pub(crate) require_client_cert: bool,
    /// Client raw public keys (RFC 7250, TLS 1.3; PEM `PUBLIC KEY` files): every client must
    /// present one of them (RFC 9431 §2.2.1 `TLS:Known-RPK`; the token still decides). Not
    /// with `client_ca`.
    #[serde(default)]
    pub(crate) client_raw_public_keys: Vec<PathBuf>,
    /// The broker's audience (`aud` of accepted tokens).
    pub(crate) audience: String,
    /// Accepted `iss` values (empty: any).
    #[serde(default)]
    pub(crate) issuers: Vec<String>,
    /// Keys that verify tokens: P-256 public COSE_Keys (COSE_Sign1 / ES256 JWT by the AS) and
    /// symmetric COSE_Keys shared with the AS (COSE_Encrypt0 / COSE_Mac0 tokens).
    #[serde(default)]
    pub(crate) as_keys: Vec<AsKeyEntry>,
    /// Clock skew tolerated on `exp` / `nbf`, seconds (default 30).
    #[serde(default = "default_skew")]
    pub(crate) clock_skew: u64,
    /// Accept ES256 PoP for P-256 `cnf` keys (default false).
    #[serde(default)]
    pub(crate) allow_es256_pop: bool,
    /// Accept v5 clients without a token (`TLS:Anon,MQTT:None`: `anonymous_scope` and
    /// `authz-info` only; default true).
    #[serde(default = "yes")]
    pub(crate) allow_anonymous: bool,
    /// AIF-MQTT JSON of what anonymous clients may do (default `[]`).
    #[serde(default = "empty_scope")]
    pub(crate) anonymous_scope: String,
    /// Accept MQTT v3.1.1 clients (RFC 9431 §6; default true).
    #[serde(default = "yes")]
    pub(crate) accept_v311: bool,
    /// The AS URI sent as `ace_as_hint` in CONNACK 0x87 (none by default).
    pub(crate) as_hint: Option<String>,
    /// Connections served at once (default 1024).
    #[serde(default = "default_max_connections")]
    pub(crate) max_connections: usize,
    /// Largest MQTT packet in bytes (default 262144).
    pub(crate) max_packet_size: Option<usize>,
    /// Per-client outbound queue (default 1000 messages).
    pub(crate) queue_len: Option<usize>,
    /// Receive Maximum / outbound window (default 32).
    pub(crate) max_inflight: Option<u16>,
    /// Seconds from TCP accept to CONNACK (default 10).
    pub(crate) connect_timeout: Option<u64>,
    /// Longest Session Expiry Interval granted (seconds); 0 (default): no session
    /// continuation.
    #[serde(default)]
    pub(crate) max_session_expiry: u32,
    /// Most sessions kept for disconnected clients (default 10000).
    pub(crate) max_sessions: Option<usize>,
    /// SQLite file that keeps sessions (Session Expiry Interval > 0) and retained messages
    /// across restarts (created if missing; default: memory only).
    pub(crate) persistence: Option<PathBuf>,
    /// Token introspection at the AS over HTTPS (RFC 9200 §5.9).
    pub(crate) introspection: Option<IntrospectionSection>,
}

/// `[broker.introspection]`: over HTTPS (`https`, `ca_cert`, `secret_file`) or over CoAP +
/// OSCORE (`coap`, `oscore_sender_id`, `oscore_secret_file`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IntrospectionSection {
    /// The AS's HTTPS address.
    pub(crate) https: Option<SocketAddr>,
    /// The name on the AS's certificate (default `localhost`).
    #[serde(default = "default_server_name")]
    pub(crate) server_name: String,
    /// HTTPS: the AS's certificate or CA (PEM): the only trust anchor.
    pub(crate) ca_cert: Option<PathBuf>,
    /// HTTPS: the broker's client id at the AS (default: the audience).
    pub(crate) client_id: Option<String>,
    /// HTTPS: symmetric COSE_Key whose `k` is the broker's client secret (HTTP Basic).
    pub(crate) secret_file: Option<PathBuf>,
    /// The AS's CoAP address (OSCORE; the AS identifies the broker by its Sender ID).
    pub(crate) coap: Option<SocketAddr>,
    /// CoAP: the broker's OSCORE Sender ID towards the AS (the AS's registration of the
    /// broker as a client with introspection rights).
    pub(crate) oscore_sender_id: Option<String>,
    /// CoAP: the AS's Sender ID (default "as").
    #[serde(default = "default_as_sender_id")]
    pub(crate) as_sender_id: String,
    /// CoAP: symmetric COSE_Key whose `k` is the OSCORE Master Secret shared with the AS.
    pub(crate) oscore_secret_file: Option<PathBuf>,
    /// CoAP: SQLite file keeping the OSCORE Sender Sequence Number across restarts (RFC 8613
    /// Appendix B.1.1; default `broker-oscore.sqlite` next to the configuration).
    pub(crate) oscore_state: Option<PathBuf>,
    /// Longest time an introspection result is cached, seconds (default 300; never past
    /// the token's `exp`).
    #[serde(default = "default_max_age")]
    pub(crate) max_age: u64,
    /// Introspect every token, not only reference tokens (default false).
    #[serde(default)]
    pub(crate) all_tokens: bool,
    /// Seconds per step towards the AS (default 5).
    #[serde(default = "default_as_timeout")]
    pub(crate) timeout: u64,
}

/// `[[broker.as_keys]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AsKeyEntry {
    /// The COSE_Key file (P-256 public or private, or symmetric).
    pub(crate) file: PathBuf,
    /// `kid` the tokens name (default: the COSE_Key's own `kid`, if any).
    pub(crate) kid: Option<String>,
}

fn default_skew() -> u64 {
    30
}
fn yes() -> bool {
    true
}
fn empty_scope() -> String {
    "[]".into()
}
fn default_max_connections() -> usize {
    1024
}
fn default_server_name() -> String {
    "localhost".into()
}
fn default_as_sender_id() -> String {
    "as".into()
}
fn default_max_age() -> u64 {
    300
}
fn default_as_timeout() -> u64 {
    5
}

impl BrokerFile {
    /// Reads and checks the file.
    ///
    /// # Errors
    /// [`CliError::Config`] with the file name, the line and the TOML error.
    pub(crate) fn load(path: &Path) -> Result<Self, CliError> {
        let mut cfg: Self = crate::config::read_toml(path)?;
        cfg.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(cfg)
    }

    fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }
}

/// The token keys of `[[broker.as_keys]]`, each read with the `ace keys` loaders.
fn key_set(file: &BrokerFile) -> Result<KeySet, CliError> {
    let mut set = KeySet::new();
    if file.broker.as_keys.is_empty() && file.broker.introspection.is_none() {
        return Err(CliError::Config(
            "[broker]: no as_keys and no introspection (no token could be verified)".into(),
        ));
    }
    for entry in &file.broker.as_keys {
        let path = file.path(&entry.file);
        let cose = keys::read_cose_key(&path)?;
        let key = if cose.kty == coset::KeyType::Assigned(iana::KeyType::Symmetric) {
            TokenKey::symmetric(keys::read_symmetric(&path)?)
        } else {
            TokenKey::public(keys::read_p256_public(&path)?)
        };
        let kid = entry
            .kid
            .as_ref()
            .map(|k| k.as_bytes().to_vec())
            .or_else(|| (!cose.key_id.is_empty()).then(|| cose.key_id.clone()));
        set = set.with(match kid {
            Some(k) => key.with_kid(k),
            None => key,
        });
    }
    Ok(set)
}

/// `[broker.introspection]` over HTTPS.
fn https_endpoint(
    file: &BrokerFile,
    i: &IntrospectionSection,
    addr: SocketAddr,
) -> Result<HttpsEndpoint, CliError> {
    let need = |v: &Option<PathBuf>, name: &str| {
        v.as_ref()
            .map(|p| file.path(p))
            .ok_or_else(|| CliError::Config(format!("[broker.introspection]: https needs {name}")))
    };
    let secret = keys::read_symmetric(&need(&i.secret_file, "secret_file")?)?;
    let tls = mqtt_tls_profile::https::client_tls_from_pem(&need(&i.ca_cert, "ca_cert")?)
        .map_err(|e| CliError::KeyFile(format!("[broker.introspection] ca_cert: {e}")))?;
    Ok(HttpsEndpoint {
        addr,
        server_name: i.server_name.clone(),
        tls,
        basic: Some((
            i.client_id
                .clone()
                .unwrap_or_else(|| file.broker.audience.clone()),
            SecretBytes::from_slice(&secret),
        )),
        timeout: Duration::from_secs(i.timeout.max(1)),
    })
}

/// `[broker.introspection]` over CoAP + OSCORE: the context continues after the Sender
/// Sequence Number persisted in `oscore_state` (RFC 8613 Appendix B.1.1; the broker is only
/// a client of this context, so no Echo exchange is needed).
async fn coap_endpoint(
    file: &BrokerFile,
    i: &IntrospectionSection,
    addr: SocketAddr,
) -> Result<CoapEndpoint, CliError> {
    let sender = i.oscore_sender_id.as_ref().ok_or_else(|| {
        CliError::Config("[broker.introspection]: coap needs oscore_sender_id".into())
    })?;
    let secret_file = i.oscore_secret_file.as_ref().ok_or_else(|| {
        CliError::Config("[broker.introspection]: coap needs oscore_secret_file".into())
    })?;
    let secret = keys::read_symmetric(&file.path(secret_file))?;
    let state = file.path(
        i.oscore_state
            .as_deref()
            .unwrap_or_else(|| Path::new("broker-oscore.sqlite")),
    );
    let db = ace_store::SqliteStore::open(&state)
        .map_err(|e| CliError::Runtime(format!("cannot open {}: {e}", state.display())))?;
    let params = ContextParams::new(&secret, b"", sender.as_bytes(), i.as_sender_id.as_bytes());
    let ctx = crate::serve::persisted_oscore::client_context(&db, params)?;
    let store = db.sequence_store();
    let mut endpoint = CoapEndpoint::oscore(addr, ctx, store)
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    endpoint.timeout = Duration::from_secs(i.timeout.max(1));
    Ok(endpoint)
}

/// TLS client authentication: `client_ca` (+ `require_client_cert`) or
/// `client_raw_public_keys`.
fn client_auth(file: &BrokerFile) -> Result<ClientCerts, CliError> {
    let b = &file.broker;
    let key_file = |e: mqtt_tls_profile::Error| CliError::KeyFile(e.to_string());
    match (&b.client_ca, b.client_raw_public_keys.is_empty()) {
        (Some(_), false) => Err(CliError::Config(
            "[broker]: client_ca and client_raw_public_keys exclude each other".into(),
        )),
        (None, true) if b.require_client_cert => Err(CliError::Config(
            "[broker]: require_client_cert needs client_ca".into(),
        )),
        (None, true) => Ok(ClientCerts::None),
        (None, false) => b
            .client_raw_public_keys
            .iter()
            .map(|p| mqtt_tls_profile::tls::public_key_from_pem(&file.path(p)))
            .collect::<Result<Vec<_>, _>>()
            .map(ClientCerts::RawPublicKeys)
            .map_err(key_file),
        (Some(ca), true) => {
            let cas = mqtt_tls_profile::tls::certs_from_pem(&file.path(ca)).map_err(key_file)?;
            Ok(if b.require_client_cert {
                ClientCerts::Required(cas)
            } else {
                ClientCerts::Optional(cas)
            })
        }
    }
}

/// The broker configuration of the file.
///
/// # Errors
/// [`CliError::Config`] for invalid values, [`CliError::KeyFile`] for unusable key, certificate
/// or private key files.
pub(crate) async fn broker_config(file: &BrokerFile) -> Result<BrokerConfig, CliError> {
    let b = &file.broker;
    let mut policy = Policy::new(b.audience.clone()).with_clock_skew(b.clock_skew);
    for iss in &b.issuers {
        policy = policy.with_issuer(iss.clone());
    }
    let mut auth = AuthConfig::new(Validator::new(policy), Arc::new(key_set(file)?));
    auth.allow_es256_pop = b.allow_es256_pop;
    auth.allow_anonymous = b.allow_anonymous;
    auth.accept_v311 = b.accept_v311;
    auth.anonymous_scope = aif::MqttAif::from_json(b.anonymous_scope.as_bytes())
        .map_err(|e| CliError::Config(format!("[broker] anonymous_scope: {e}")))?;
    auth.as_hint = b
        .as_hint
        .as_ref()
        .map(|uri| AsHint::new(uri.clone()).with_audience(b.audience.clone()));
    let client = client_auth(file)?;
    let tls = mqtt_tls_profile::tls::broker_tls_from_pem(
        &file.path(&b.tls_cert),
        &file.path(&b.tls_key),
        &client,
    )
    .map_err(|e| CliError::KeyFile(e.to_string()))?;
    let mut cfg = BrokerConfig::new(auth, tls);
    cfg.max_connections = b.max_connections.max(1);
    if let Some(n) = b.max_packet_size {
        cfg.max_packet_size = n;
    }
    if let Some(n) = b.queue_len {
        cfg.queue_len = n.max(1);
    }
    if let Some(n) = b.max_inflight {
        cfg.max_inflight = n.max(1);
    }
    if let Some(s) = b.connect_timeout {
        cfg.connect_timeout = Duration::from_secs(s.max(1));
    }
    cfg.max_session_expiry = b.max_session_expiry;
    if let Some(n) = b.max_sessions {
        cfg.max_sessions = n;
    }
    cfg.persistence = b.persistence.as_ref().map(|p| file.path(p));
    if let Some(i) = &b.introspection {
        let endpoint = match (i.https, i.coap) {
            (Some(addr), None) => AsEndpoint::Https(https_endpoint(file, i, addr)?),
            (None, Some(addr)) => AsEndpoint::Coap(coap_endpoint(file, i, addr).await?),
            _ => {
                return Err(CliError::Config(
                    "[broker.introspection]: exactly one of https and coap".into(),
                ));
            }
        };
        let mut ic = IntrospectionConfig::new(endpoint);
        ic.max_age = Duration::from_secs(i.max_age);
        ic.all_tokens = i.all_tokens;
        cfg.introspection = Some(ic);
    }
    Ok(cfg)
}

/// `ace broker serve`: binds, prints the address, serves until ctrl-c, then stops gracefully
/// (DISCONNECT 0x8B to v5 clients, at most 5 s for connections to end).
pub(crate) async fn serve(file: &BrokerFile, listen: Option<SocketAddr>) -> Result<(), CliError> {
    let cfg = broker_config(file).await?;
    let addr = listen.unwrap_or(file.broker.listen);
    let broker = Broker::bind(addr, cfg).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            CliError::AddressInUse(format!("address {addr} is already in use"))
        } else if e.kind() == std::io::ErrorKind::Other {
            // The persistence database (`persistence = ...`).
            CliError::Runtime(e.to_string())
        } else {
            CliError::AddressInUse(format!("cannot bind {addr}: {e}"))
        }
    })?;
    let local = broker
        .local_addr()
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let stop = broker.shutdown_handle();
    tracing::info!(%local, "MQTT broker (RFC 9431) listening");
    println!("MQTT broker (RFC 9431, MQTT over TLS) listening on {local}");
    let mut task = tokio::spawn(broker.serve());
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("shutting down");
            stop.shutdown();
        }
        r = &mut task => {
            return match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(CliError::Runtime(format!("broker: {e}"))),
                Err(e) => Err(CliError::Runtime(format!("broker task: {e}"))),
            };
        }
    }
    match tokio::time::timeout(Duration::from_secs(10), task).await {
        Ok(Ok(Ok(()))) => {
            println!("MQTT broker stopped");
            Ok(())
        }
        Ok(Ok(Err(e))) => Err(CliError::Runtime(format!("broker: {e}"))),
        Ok(Err(e)) => Err(CliError::Runtime(format!("broker task: {e}"))),
        Err(_) => Err(CliError::Runtime(
            "the broker did not stop within 10 s".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("ace.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn other_commands_tables_coexist_and_unknown_tables_are_refused() {
        let dir = std::env::temp_dir().join(format!("ace-broker-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let broker = "[broker]\nlisten = \"127.0.0.1:8883\"\ntls_cert = \"c.pem\"\n\
                      tls_key = \"k.pem\"\naudience = \"broker\"\n";
        let shared = format!("{broker}[as]\nissuer = \"as\"\n[cmp_proxy]\nx = 1\n[storage]\n");
        let cfg = BrokerFile::load(&write(&dir, &shared)).unwrap();
        assert_eq!(cfg.broker.audience, "broker");
        let typo = format!("{broker}[brokr]\nlisten = 1\n");
        let Err(CliError::Config(msg)) = BrokerFile::load(&write(&dir, &typo)) else {
            panic!("an unknown table must be refused");
        };
        assert!(msg.contains("ace.toml:"), "{msg}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
