//! kill -9 test: issued tokens (AS) and accepted tokens (RS) survive a SIGKILL.
//!
//! The parent writes the AS registry and policy into a fresh file, then re-executes this test
//! binary with `ACE_STORE_CHILD_DB=<file>`. The child runs the real engines on the SQLite
//! stores: `AsEngine::handle_token` → `apply_as_effects` → `RsEngine::handle_authz_info` →
//! `apply_rs_effects`, and only then prints `durable <cti> <token> <kid>` for that token;
//! after `READY_AFTER` tokens it prints `ready` and keeps going. The parent reads until
//! `ready` plus a few more lines, sends SIGKILL mid-stream (`Child::kill`), drains what the
//! child printed, and reopens the file: it must pass `integrity_check`, and every token
//! reported durable must be in the AS store (intact, byte for byte) and in the RS store (and
//! grant access through a restarted `RsEngine`).
//!
//! `harness = false`: `main` is the test (one process image for parent and child). Every wait
//! is bounded; the child stops by itself after `CHILD_LIMIT`.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ace_core::{
    Access, AsConfig, AsEngine, AsResponse, ChannelIdentity, ClientCredential, ClientInfo,
    PopBinding, ResourceServerInfo, RsConfig, RsEngine, RsResponse, ScopeMap, TokenFormat,
    TokenRequest, TokenStore as _,
};
use ace_store::SqliteStore;
use ace_token::{
    AceProfile, Algorithm, KeySet, RustCrypto, Scope, SecretBytes, TokenKey, UnixTime,
};
use aif::{LocalPart, Method, RestAif, RestMethods};

const ENV: &str = "ACE_STORE_CHILD_DB";
const NOW: UnixTime = UnixTime(1_800_000_000);
const RS_KEY: [u8; 16] = [0x42; 16];
const READY_AFTER: usize = 20;
const KILL_AFTER_MORE: usize = 7;
const CHILD_LIMIT: Duration = Duration::from_secs(25);
const DEADLINE: Duration = Duration::from_secs(20);

type Failure = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    // libtest flags (`--nocapture`, filters) are accepted and ignored.
    let res = match std::env::var_os(ENV) {
        Some(db) => child(std::path::Path::new(&db)),
        None => parent(),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kill_restart: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn rs_engine(store: &SqliteStore) -> Result<RsEngine, Failure> {
    let mut cfg = RsConfig::new("rs1", "coaps://as.example/token");
    cfg.issuers = vec!["as".into()];
    cfg.max_tokens_per_client = 1_000_000;
    cfg.max_tokens = 1_000_000;
    cfg.scope_map = ScopeMap::new().with_text(
        "read",
        RestAif::new().with(LocalPart::new("/s")?, RestMethods::GET),
    );
    let keys = KeySet::new().with(TokenKey::symmetric(RS_KEY.to_vec()).with_kid(*b"rs1"));
    Ok(RsEngine::new(
        cfg,
        Box::new(keys),
        Arc::new(RustCrypto),
        Box::new(store.accepted_tokens()?),
    )
    .with_exi_highest_expired(store.rs_exi_highest_expired()?))
}

fn child(db: &std::path::Path) -> Result<(), Failure> {
    let store = SqliteStore::open(db)?;
    let mut as_engine = AsEngine::new(
        AsConfig::new("as"),
        Box::new(store.client_registry()),
        Box::new(store.policy()),
        Box::new(store.token_store()),
        Arc::new(RustCrypto),
    );
    let mut rs = rs_engine(&store)?;
    // Test RNG: seeded per run (the AS checks every cti against the store anyway).
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as u64
        ^ u64::from(std::process::id());
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let request = TokenRequest {
        client_id: Some("client".into()),
        client_secret: Some(b"secret".to_vec()),
        audience: Some("rs1".into()),
        scope: Some(Scope::Text("read".into())),
        ..TokenRequest::default()
    };
    let started = Instant::now();
    let mut out = std::io::stdout().lock();
    let mut n = 0usize;
    while started.elapsed() < CHILD_LIMIT {
        let issued =
            as_engine.handle_token(NOW, &ChannelIdentity::Anonymous, &request, &mut rng)?;
        let AsResponse::Token(resp) = &issued.response else {
            return Err(format!("token request refused: {:?}", issued.response).into());
        };
        store.apply_as_effects(&issued.effects)?;
        let cti = issued
            .effects
            .iter()
            .find_map(|e| match e {
                ace_core::AsEffect::TokenIssued(t) => Some(t.cti.clone()),
                _ => None,
            })
            .ok_or("no TokenIssued effect")?;
        let stored = rs.handle_authz_info(NOW, None, &resp.access_token)?;
        if !matches!(stored.response, RsResponse::Created(_)) {
            return Err(format!("authz-info refused: {:?}", stored.response).into());
        }
        store.apply_rs_effects(&stored.effects)?;
        let kid = stored
            .effects
            .iter()
            .find_map(|e| match e {
                ace_core::RsEffect::TokenStored {
                    binding: PopBinding::Kid(k),
                    ..
                } => Some(k.clone()),
                _ => None,
            })
            .ok_or("no TokenStored effect with a kid binding")?;
        // Both stores committed (synchronous=FULL): only now is the token reported.
        writeln!(
            out,
            "durable {} {} {}",
            hex::encode(&cti),
            hex::encode(&resp.access_token),
            hex::encode(&kid)
        )?;
        n += 1;
        if n == READY_AFTER {
            writeln!(out, "ready")?;
        }
        out.flush()?;
    }
    Err("child ran out of time without being killed".into())
}

struct Durable {
    cti: Vec<u8>,
    token: Vec<u8>,
    kid: Vec<u8>,
}

fn parse(line: &str) -> Result<Durable, Failure> {
    let mut it = line.split(' ');
    let (Some("durable"), Some(c), Some(t), Some(k), None) =
        (it.next(), it.next(), it.next(), it.next(), it.next())
    else {
        return Err(format!("unexpected child line: {line:?}").into());
    };
    Ok(Durable {
        cti: hex::decode(c)?,
        token: hex::decode(t)?,
        kid: hex::decode(k)?,
    })
}

fn setup(store: &SqliteStore) -> Result<(), Failure> {
    let dtls = AceProfile(1);
    let reg = store.client_registry();
    reg.put_client(
        &ClientInfo::new("client")
            .with_credential(ClientCredential::Secret(SecretBytes::from_slice(b"secret")))
            .with_profile(dtls),
    )?;
    reg.put_resource_server(&ResourceServerInfo::new(
        "rs1",
        dtls,
        TokenFormat::Encrypt0 {
            alg: Algorithm::AES_CCM_16_64_128,
            key: SecretBytes::from_slice(&RS_KEY),
            kid: Some(b"rs1".to_vec()),
        },
    ))?;
    store
        .policy()
        .allow("client", "rs1", &Scope::Text("read write".into()))?;
    Ok(())
}

fn parent() -> Result<(), Failure> {
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("ace-store-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("ace.db");
    setup(&SqliteStore::open(&db)?)?;

    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .env(ENV, &db)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut lines = Vec::new();
    let mut ready_at = None;
    let outcome: Result<(), Failure> = loop {
        let left = DEADLINE.saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if line == "ready" {
                    ready_at = Some(lines.len());
                } else {
                    lines.push(line);
                }
                if ready_at.is_some_and(|r| lines.len() >= r + KILL_AFTER_MORE) {
                    break Ok(());
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => break Err("child too slow".into()),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err("child exited before it was killed".into());
            }
        }
    };
    // SIGKILL on Unix: no destructor, no flush, no checkpoint runs in the child.
    child.kill()?;
    let status = child.wait()?;
    outcome?;
    reader.join().map_err(|_| "reader thread panicked")?;
    // Lines the child printed before it died were printed after their commits.
    lines.extend(rx.try_iter().filter(|l| l != "ready"));
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if status.signal() != Some(9) {
            return Err(format!("child was not killed by SIGKILL: {status:?}").into());
        }
    }
    let durable = lines
        .iter()
        .map(|l| parse(l))
        .collect::<Result<Vec<_>, _>>()?;
    if durable.len() < READY_AFTER + KILL_AFTER_MORE {
        return Err(format!("only {} durable tokens reported", durable.len()).into());
    }

    // Restart: the file is consistent and holds every reported token.
    let store = SqliteStore::open(&db)?;
    store.integrity_check()?;
    let tokens = store.token_store();
    let all = store.issued_tokens()?;
    // At most one token more than reported: committed, killed before its line was written.
    if all.len() < durable.len() || all.len() > durable.len() + 1 {
        return Err(format!(
            "{} tokens in the file, {} reported",
            all.len(),
            durable.len()
        )
        .into());
    }
    let accepted = store.accepted_tokens()?;
    let mut rs = rs_engine(&store)?;
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
    for d in &durable {
        let t = tokens
            .find_by_token(&d.token)
            .ok_or("a durable issued token is missing after the kill")?;
        if t.cti != d.cti || t.token != d.token || t.revoked || t.client_id != "client" {
            return Err("a durable issued token changed".into());
        }
        if !tokens.contains_cti(&d.cti) {
            return Err("cti index lost".into());
        }
        let binding = PopBinding::Kid(d.kid.clone());
        let a = ace_core::AcceptedTokenStore::get(&accepted, &binding)
            .ok_or("a durable accepted token is missing after the kill")?;
        if a.cti.as_deref() != Some(&d.cti[..]) || a.pop_key.is_none() {
            return Err("a durable accepted token changed".into());
        }
        // The restarted RS grants access to the token's PoP key holder.
        let peer = ChannelIdentity::PskIdentity(d.kid.clone());
        if rs.authorize(NOW, &peer, "/s", Method::Get, &mut rng) != Access::Allow {
            return Err("restarted RS refuses a durable token".into());
        }
        if rs.authorize(NOW, &peer, "/s", Method::Put, &mut rng) != Access::MethodNotAllowed {
            return Err("restarted RS grants more than the token's scope".into());
        }
    }
    let elapsed = started.elapsed();
    drop((store, tokens, accepted, rs));
    std::fs::remove_dir_all(&dir)?;
    println!(
        "kill_restart: ok: {} durable tokens survived SIGKILL ({} ms)",
        durable.len(),
        elapsed.as_millis()
    );
    Ok(())
}
