//! The TOML configuration (`[as]`, `[rs]`, `[client]`, `[storage]`); unknown fields are
//! errors. Paths are relative to the configuration file's directory.
//!
//! One file may hold the tables of several commands: `ace as serve`, `ace rs serve` and the
//! client commands read `[as]`, `[rs]`, `[client]`, `[storage]`; `ace cmp-proxy serve` reads
//! `[cmp_proxy]`, `ace broker serve` `[broker]`. Each command checks its own tables strictly and
//! skips the other commands' known tables without reading them; a table no command knows is an error
//! (a typo such as `[cmp-proxy]` must not be silently ignored).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::CliError;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// The AS.
    #[serde(rename = "as")]
    pub(crate) as_: Option<AsSection>,
    /// The RS.
    pub(crate) rs: Option<RsSection>,
    /// The client of `ace token request` / `ace client get`.
    pub(crate) client: Option<ClientSection>,
    /// Storage.
    #[serde(default)]
    pub(crate) storage: StorageSection,
    /// `[cmp_proxy]`: read by `ace cmp-proxy serve` (`cmp_proxy.rs`), skipped here.
    #[serde(default, rename = "cmp_proxy")]
    _cmp_proxy: Option<IgnoredAny>,
    /// `[broker]`: read by `ace broker serve` (`broker.rs`), skipped here.
    #[serde(default, rename = "broker")]
    _broker: Option<IgnoredAny>,
    /// Directory of the file (paths are relative to it).
    #[serde(skip)]
    pub(crate) dir: PathBuf,
}

/// Reads `path` as TOML into `T`; errors name the file and the line
/// (`file:line: message`).
///
/// # Errors
/// [`CliError::Config`] when the file cannot be read or does not match `T`.
pub(crate) fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Config(format!("cannot read config {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        let msg = e.message().replace('\n', " ");
        let line = e
            .span()
            .and_then(|s| text.get(..s.start))
            .map_or(0, |t| t.matches('\n').count() + 1);
        CliError::Config(format!("{}:{line}: {msg}", path.display()))
    })
}

/// `[as]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AsSection {
    /// `iss` of issued tokens.
    pub(crate) issuer: String,
    /// CoAP address.
    pub(crate) coap: SocketAddr,
    /// Plain CoAP (loopback only).
    #[serde(default)]
    pub(crate) insecure: bool,
    /// HTTPS address (optional).
    pub(crate) https: Option<SocketAddr>,
    /// TLS certificate chain (PEM); without it and `tls_key`, a self-signed certificate for
    /// `localhost` is generated at start (logged as a warning).
    pub(crate) tls_cert: Option<PathBuf>,
    /// TLS private key (PKCS#8 PEM).
    pub(crate) tls_key: Option<PathBuf>,
    /// P-256 private COSE_Key that signs tokens.
    pub(crate) signing_key: PathBuf,
    /// Token lifetime in seconds (default 3600).
    #[serde(default = "default_lifetime")]
    pub(crate) token_lifetime: u64,
    /// The AS's OSCORE Sender ID (default "as").
    #[serde(default = "default_as_id")]
    pub(crate) oscore_sender_id: String,
    /// Registered clients.
    #[serde(default)]
    pub(crate) clients: Vec<AsClient>,
    /// Audiences the AS issues for.
    #[serde(default)]
    pub(crate) resource_servers: Vec<AsResourceServer>,
    /// The RFC 9770 Token Revocation List.
    #[serde(default)]
    pub(crate) trl: TrlSection,
}

/// `[as.trl]`: the TRL endpoint the AS always hosts (RFC 9770). Registered devices are the
/// clients and resource servers with an OSCORE context (`oscore_sender_id`): a client sees
/// the tokens issued to it, an RS those for its audience, an administrator all of them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrlSection {
    /// url-path of the TRL endpoint (default `/revoke/trl`, RFC 9770 §1.1).
    #[serde(default = "default_trl_path")]
    pub(crate) path: String,
    /// How often the running AS looks for revocations queued by `ace as revoke`, in
    /// milliseconds (default 200).
    #[serde(default = "default_trl_poll_ms")]
    pub(crate) poll_ms: u64,
    /// OSCORE Sender IDs (of configured clients or resource servers) registered as
    /// administrators: they read the whole TRL.
    #[serde(default)]
    pub(crate) admins: Vec<String>,
}

impl Default for TrlSection {
    fn default() -> Self {
        Self {
            path: default_trl_path(),
            poll_ms: default_trl_poll_ms(),
            admins: Vec::new(),
        }
    }
}

fn default_trl_path() -> String {
    "/revoke/trl".into()
}
fn default_trl_poll_ms() -> u64 {
    200
}

/// `[[as.clients]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AsClient {
    /// `client_id`.
    pub(crate) id: String,
    /// What the policy allows (space-separated scope tokens).
    #[serde(default)]
    pub(crate) scope: String,
    /// Audience of `scope` (and the default audience).
    #[serde(default)]
    pub(crate) audience: Option<String>,
    /// Symmetric COSE_Key whose `k` is the client secret (insecure mode, HTTPS).
    pub(crate) secret_file: Option<PathBuf>,
    /// The client's OSCORE Sender ID towards the AS.
    pub(crate) oscore_sender_id: Option<String>,
    /// Symmetric COSE_Key whose `k` is the OSCORE Master Secret.
    pub(crate) oscore_secret_file: Option<PathBuf>,
    /// Audiences whose tokens this client may introspect.
    #[serde(default)]
    pub(crate) introspect: Vec<String>,
}

/// `[[as.resource_servers]]`: tokens for it use the OSCORE profile (RFC 9203).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AsResourceServer {
    /// Audience.
    pub(crate) audience: String,
    /// Symmetric COSE_Key shared with this RS: tokens are COSE_Encrypt0 under it
    /// (AES-CCM-16-64-128, `kid` = the audience), carrying the OSCORE Input
    /// Material in `cnf`.
    pub(crate) token_key: PathBuf,
    /// The RS's OSCORE Sender ID towards the AS (it observes the TRL over this context).
    pub(crate) oscore_sender_id: Option<String>,
    /// Symmetric COSE_Key whose `k` is the OSCORE Master Secret shared with the AS.
    pub(crate) oscore_secret_file: Option<PathBuf>,
}

/// `[rs]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RsSection {
    /// Audience.
    pub(crate) audience: String,
    /// CoAP address.
    pub(crate) coap: SocketAddr,
    /// The AS named in creation hints.
    pub(crate) as_uri: String,
    /// Accepted `iss`.
    pub(crate) issuer: String,
    /// Symmetric COSE_Key shared with the AS (its `token_key` for this audience): the RS
    /// decrypts the COSE_Encrypt0 tokens with it. OSCORE contexts with clients are derived
    /// from the tokens at `/authz-info` (RFC 9203), not provisioned.
    pub(crate) token_key: PathBuf,
    /// Follow the AS's Token Revocation List (RFC 9770).
    pub(crate) trl: Option<RsTrlSection>,
}

/// `[rs.trl]`: the RS observes the AS's TRL over its own OSCORE context with the AS, purges
/// the stored tokens it names and refuses them at `/authz-info`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RsTrlSection {
    /// The AS's CoAP address.
    pub(crate) as_coap: SocketAddr,
    /// The RS's OSCORE Sender ID towards the AS (the AS's `[[as.resource_servers]]
    /// oscore_sender_id` of this audience).
    pub(crate) oscore_sender_id: String,
    /// The AS's Sender ID (default "as").
    #[serde(default = "default_as_id")]
    pub(crate) as_sender_id: String,
    /// Symmetric COSE_Key whose `k` is the OSCORE Master Secret shared with the AS.
    pub(crate) oscore_secret_file: PathBuf,
    /// url-path of the TRL endpoint (default `/revoke/trl`; RFC 9770 registration gives it).
    #[serde(default = "default_trl_path")]
    pub(crate) path: String,
    /// Poll and renew the observation every this many seconds (default 30).
    #[serde(default = "default_trl_repoll")]
    pub(crate) poll_secs: u64,
}

fn default_trl_repoll() -> u64 {
    30
}

/// `[client]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientSection {
    /// `client_id`.
    pub(crate) id: String,
    /// The AS.
    pub(crate) as_coap: SocketAddr,
    /// The RS.
    pub(crate) rs_coap: SocketAddr,
    /// Audience to ask for.
    pub(crate) audience: String,
    /// Sender ID towards the AS.
    pub(crate) oscore_sender_id: String,
    /// The AS's Sender ID.
    #[serde(default = "default_as_id")]
    pub(crate) as_sender_id: String,
    /// Master Secret shared with the AS (symmetric COSE_Key).
    pub(crate) as_oscore_secret_file: PathBuf,
    /// The Recipient ID (ID1, hex) the client asks for at the RS's `/authz-info`
    /// (RFC 9203 §4.1; default `01`).
    #[serde(default = "default_recipient_id")]
    pub(crate) rs_recipient_id: String,
    /// Where the token is kept (default `token.cwt`).
    #[serde(default = "default_token_file")]
    pub(crate) token_file: PathBuf,
}

/// `[storage]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StorageSection {
    /// SQLite file (default `ace.sqlite` next to the configuration; each service and the
    /// client use `<stem>-as.sqlite`, `<stem>-rs.sqlite`, `<stem>-client.sqlite`).
    pub(crate) path: Option<PathBuf>,
}

fn default_lifetime() -> u64 {
    3600
}
fn default_as_id() -> String {
    "as".into()
}
fn default_recipient_id() -> String {
    "01".into()
}
fn default_token_file() -> PathBuf {
    PathBuf::from("token.cwt")
}

impl Config {
    /// Reads and checks the file.
    ///
    /// # Errors
    /// [`CliError::Config`] with the file name and the TOML error.
    pub(crate) fn load(path: &Path) -> Result<Self, CliError> {
        let mut cfg: Config = read_toml(path)?;
        cfg.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(cfg)
    }

    /// A path from the file, resolved against its directory.
    #[must_use]
    pub(crate) fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    /// The lock file a running AS holds (`<AS database>.lock`): `ace as revoke` queues its
    /// revocation for the AS while the lock is taken and applies it itself otherwise.
    #[must_use]
    pub(crate) fn as_lock(&self) -> PathBuf {
        let mut p = self.db("as").into_os_string();
        p.push(".lock");
        PathBuf::from(p)
    }

    /// The SQLite file of `role` ("as", "rs", "client").
    #[must_use]
    pub(crate) fn db(&self, role: &str) -> PathBuf {
        let base = self
            .storage
            .path
            .as_deref()
            .map_or_else(|| self.dir.join("ace.sqlite"), |p| self.path(p));
        let stem = base
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "ace".into());
        base.with_file_name(format!("{stem}-{role}.sqlite"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_commands_tables_coexist_and_unknown_tables_are_refused() {
        let dir = std::env::temp_dir().join(format!("ace-config-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("shared.toml");
        // [cmp_proxy] and [broker] belong to other commands: skipped, whatever they hold.
        std::fs::write(
            &f,
            "[rs]\naudience = \"rs1\"\ncoap = \"127.0.0.1:5684\"\nas_uri = \"coap://as/token\"\nissuer = \"as\"\ntoken_key = \"k\"\n[cmp_proxy]\nupstream = \"http://127.0.0.1:1/\"\n[cmp_proxy.oscore]\nsequence_db = \"p.sqlite\"\n[broker]\nlisten = 1\n",
        )
        .unwrap();
        let cfg = Config::load(&f).unwrap();
        assert_eq!(cfg.rs.map(|r| r.audience).as_deref(), Some("rs1"));
        // a table no command reads (a typo of [cmp_proxy]) is an error with file:line
        std::fs::write(&f, "[storage]\n\n[cmp-proxy]\nupstream = \"x\"\n").unwrap();
        let Err(CliError::Config(m)) = Config::load(&f) else {
            panic!("unknown table accepted")
        };
        assert!(
            m.contains("cmp-proxy") && m.contains("shared.toml:3"),
            "{m}"
        );
        // our own tables stay strict
        std::fs::write(&f, "[storage]\npaht = \"x\"\n").unwrap();
        let Err(CliError::Config(m)) = Config::load(&f) else {
            panic!("unknown key accepted")
        };
        assert!(m.contains("paht"), "{m}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
