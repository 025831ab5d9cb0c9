//! `ace as revoke`: AS administration that revokes a token (RFC 9770 "Update of the TRL").
//!
//! ```text
//!  ace as revoke --cti | --token-file | --hash, --reason
//!   ├─ AS running (its lock file is held) ─► trl_admin_queue row ─► AS applies it with its own
//!   │    engine (persist, Observe notifications) ─► result row ─► printed here (bounded wait)
//!   └─ AS not running ─► this process takes the lock, restores the TRL engine from the AS's
//!        SQLite file, revokes, persists (TRL + the AS token store) ─► there at next start
//! ```
//!
//! Only the `cti` and the token hash are logged, printed or written to the queue; a token
//! file is hashed here and never leaves this process.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ace_core::TokenStore as _;
use ace_server::revocation::{
    HashAlg, QueueResult, RevokeStatus, RevokeTarget, SqliteTrlStore, TokenHash, TrlConfig,
    TrlEngine, TrlStore as _,
};
use ace_token::UnixTime;
use base64::Engine as _;

use crate::CliError;
use crate::config::{AsSection, Config};

/// `ace as revoke` arguments.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["cti", "token_file", "hash"])))]
pub(crate) struct RevokeArgs {
    /// The AS's TOML configuration.
    #[arg(long, short)]
    config: PathBuf,
    /// The token's `cti` (hex).
    #[arg(long)]
    cti: Option<String>,
    /// A file with the `access_token` bytes as the AS issued them (what `ace token request`
    /// writes); it is hashed here, never sent or logged.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The token hash (RFC 9770: suite ID byte and digest), base64url without padding.
    #[arg(long)]
    hash: Option<String>,
    /// Why (logged with the `cti` and hash).
    #[arg(long)]
    reason: String,
    /// How long to wait for a running AS to apply the revocation, in seconds.
    #[arg(long, default_value_t = 10)]
    wait: u64,
}

/// The TRL configuration of the AS (`[as.trl]`; the other parameters are the RFC 9770
/// defaults of `revocation`).
pub(crate) fn trl_config(s: &AsSection) -> TrlConfig {
    TrlConfig {
        trl_path: s.trl.path.clone(),
        ..TrlConfig::default()
    }
}

/// Opens the TRL tables in the AS's SQLite file.
pub(crate) fn open_trl_store(cfg: &Config) -> Result<SqliteTrlStore, CliError> {
    let path = cfg.db("as");
    SqliteTrlStore::open(&path)
        .map_err(|e| CliError::Runtime(format!("cannot open {}: {e}", path.display())))
}

/// Takes the AS lock: `Some(file)` (held until dropped) or `None` when another process
/// holds it.
pub(crate) fn lock_as(cfg: &Config) -> Result<Option<File>, CliError> {
    let path = cfg.as_lock();
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| CliError::Runtime(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(CliError::Runtime(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

fn target(args: &RevokeArgs, alg: HashAlg) -> Result<RevokeTarget, CliError> {
    if let Some(c) = &args.cti {
        let cti = hex::decode(c).map_err(|e| CliError::Usage(format!("--cti: not hex ({e})")))?;
        if cti.is_empty() {
            return Err(CliError::Usage("--cti: empty".into()));
        }
        return Ok(RevokeTarget::Cti(cti));
    }
    if let Some(f) = &args.token_file {
        let token = std::fs::read(f)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", f.display())))?;
        return Ok(RevokeTarget::Hash(TokenHash::from_cbor_access_token(
            alg, &token,
        )));
    }
    if let Some(h) = &args.hash {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(h.trim_end_matches('='))
            .map_err(|e| CliError::Usage(format!("--hash: not base64url ({e})")))?;
        let hash = TokenHash::from_bytes(bytes)
            .map_err(|e| CliError::Usage(format!("--hash: not a token hash ({e})")))?;
        return Ok(RevokeTarget::Hash(hash));
    }
    Err(CliError::Usage(
        "one of --cti, --token-file, --hash is required".into(),
    ))
}

fn describe(target: &RevokeTarget) -> String {
    match target {
        RevokeTarget::Cti(c) => format!("cti {}", hex::encode(c)),
        RevokeTarget::Hash(h) => format!(
            "token hash {}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.as_bytes())
        ),
        RevokeTarget::Token(_) => "token".into(),
    }
}

/// Prints the outcome; `Err` (exit 1) for anything that did not leave the token revoked.
fn report(target: &RevokeTarget, result: &QueueResult) -> Result<(), CliError> {
    let what = describe(target);
    match result {
        QueueResult::Done(RevokeStatus::Revoked) => {
            println!("revoked {what}");
            Ok(())
        }
        QueueResult::Done(RevokeStatus::AlreadyRevoked) => {
            println!("{what} was already revoked");
            Ok(())
        }
        QueueResult::Done(RevokeStatus::Expired) => Err(CliError::Runtime(format!(
            "{what}: the token has already expired; nothing to revoke"
        ))),
        QueueResult::UnknownToken => Err(CliError::Runtime(format!(
            "{what}: unknown token (not issued by this AS, or expired and forgotten)"
        ))),
        QueueResult::Failed(m) => Err(CliError::Runtime(format!("{what}: {m}"))),
    }
}

/// `ace as revoke`.
pub(crate) async fn run(args: &RevokeArgs) -> Result<(), CliError> {
    let cfg = Config::load(&args.config)?;
    let s = cfg
        .as_
        .as_ref()
        .ok_or_else(|| CliError::Config("the configuration has no [as] table".into()))?;
    let trl_cfg = trl_config(s);
    let target = target(args, trl_cfg.hash_alg)?;
    if args.reason.trim().is_empty() {
        return Err(CliError::Usage("--reason must not be empty".into()));
    }
    let result = match lock_as(&cfg)? {
        Some(lock) => {
            let r = revoke_offline(&cfg, trl_cfg, &target, &args.reason);
            drop(lock);
            r?
        }
        None => revoke_online(&cfg, &target, &args.reason, args.wait).await?,
    };
    report(&target, &result)
}

/// The AS is running: queue the revocation and wait for its result.
async fn revoke_online(
    cfg: &Config,
    target: &RevokeTarget,
    reason: &str,
    wait: u64,
) -> Result<QueueResult, CliError> {
    let store = open_trl_store(cfg)?;
    let id = store
        .enqueue_revocation(target, reason)
        .map_err(|e| CliError::Runtime(format!("queueing the revocation: {e}")))?;
    tracing::info!(target = %describe(target), %reason, id, "revocation queued for the running AS");
    let deadline = Instant::now() + Duration::from_secs(wait);
    loop {
        if let Some(r) = store
            .revocation_result(id)
            .map_err(|e| CliError::Runtime(format!("reading the result: {e}")))?
        {
            return Ok(r);
        }
        if Instant::now() >= deadline {
            return Err(CliError::Runtime(format!(
                "the running AS did not apply the revocation within {wait} s; it stays queued \
                 (entry {id}) and is applied when the AS processes its queue"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The AS is not running (we hold its lock): revoke in its database directly.
fn revoke_offline(
    cfg: &Config,
    trl_cfg: TrlConfig,
    target: &RevokeTarget,
    reason: &str,
) -> Result<QueueResult, CliError> {
    let mut store = open_trl_store(cfg)?;
    let snapshot = store
        .load()
        .map_err(|e| CliError::Runtime(format!("TRL: {e}")))?;
    let mut engine = TrlEngine::restore(trl_cfg, snapshot)
        .map_err(|e| CliError::Runtime(format!("TRL: {e}")))?;
    let cti = engine.record(target).and_then(|r| r.cti.clone());
    let (status, effects) = match engine.revoke(UnixTime::now(), target, reason) {
        Ok(r) => r,
        Err(ace_server::revocation::Error::UnknownToken) => return Ok(QueueResult::UnknownToken),
        Err(e) => return Err(CliError::Runtime(format!("TRL: {e}"))),
    };
    store
        .apply(&effects)
        .map_err(|e| CliError::Runtime(format!("TRL: {e}")))?;
    if status == RevokeStatus::Revoked
        && let Some(c) = &cti
    {
        // Introspection answers `active: false` from now on.
        let db = ace_store::SqliteStore::open(&cfg.db("as"))
            .map_err(|e| CliError::Runtime(format!("SQLite: {e}")))?;
        let _ = db.token_store().revoke(c);
        db.check()
            .map_err(|e| CliError::Runtime(format!("SQLite: {e}")))?;
    }
    tracing::warn!(
        target = %describe(target),
        cti = %cti.as_deref().map_or_else(|| "-".into(), hex::encode),
        %reason,
        ?status,
        "token revocation written to the AS database (AS not running)"
    );
    Ok(QueueResult::Done(status))
}
