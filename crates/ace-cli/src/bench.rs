//! `ace bench`: a loopback load tool. Starts an AS (OSCORE) and an RS in-process on
//! 127.0.0.1 (`ace_server::local`, **in-memory** token stores, effects logged only) and
//! measures, for a fixed duration each:
//!
//! * token issuance/s: the client POSTs token requests to `/token` over OSCORE, sequentially
//!   and from N concurrent tasks (one CoAP endpoint, NSTART = N);
//! * authorized requests/s: OSCORE GET `/temp` with a valid uploaded token, sequentially
//!   and from N concurrent tasks sharing the one `OscoreClient` of `local` (it hands
//!   requests to the CoAP engine in Partial IV order, so the RS's 64-entry replay window
//!   never sees them reordered by the client);
//! * the engine-only rates of the same work (`AsEngine::handle_token_bytes`,
//!   `RsEngine::authorize` called in a loop, no CoAP, no OSCORE, no sockets),
//!
//! and prints the ratio loopback / engine.
//!
//! Each loopback measurement also stops after [`MAX_OPS`] exchanges: all requests of one
//! measurement go from one client endpoint to one server, and RFC 7252 §4.4 forbids reusing a
//! Message ID towards a peer within EXCHANGE_LIFETIME (247 s), so one endpoint pair can run
//! at most 65,536 exchanges per 247 s; `ace-coap` queues requests beyond that. Two
//! measurements per server × 30,000 stay inside the ID space.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ace_coap::Code;
use ace_core::{
    Access, ChannelIdentity, ClientConfig, ClientEngine, Confirmation, CreationHints,
    MemoryAcceptedTokens, MemoryTokenStore, Scope,
};
use ace_server::local::{self, Local, LocalOptions};
use ace_token::crypto::{CryptoBackend, KeyType, PrivateKey, os_rng};
use ace_token::{PopKey, RustCrypto, UnixTime};
use indicatif::{ProgressBar, ProgressStyle};

use crate::CliError;

/// Most exchanges per loopback measurement (see the module docs).
const MAX_OPS: u64 = 30_000;

/// Options of `ace bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) duration: f64,
    /// Concurrent client tasks for the concurrent measurements.
    #[arg(long, default_value_t = 8)]
    pub(crate) concurrency: usize,
}

fn rt(e: impl core::fmt::Display) -> CliError {
    CliError::Runtime(e.to_string())
}

fn bar(what: &str, duration: Duration) -> ProgressBar {
    let pb = ProgressBar::new(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
    pb.set_style(
        ProgressStyle::with_template("{prefix:<34} [{bar:30}] {elapsed:>3} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_owned());
    pb
}

fn tick(pb: &ProgressBar, start: Instant, n: u64) {
    pb.set_position(u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX));
    pb.set_message(format!("{n} ops"));
}

/// Runs `op` in `tasks` concurrent loops until `duration` passed; returns ops/s.
async fn measure<F, Fut>(
    what: &str,
    duration: Duration,
    tasks: usize,
    op: F,
) -> Result<f64, CliError>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: core::future::Future<Output = Result<(), CliError>> + Send,
{
    let pb = bar(what, duration);
    let count = Arc::new(AtomicU64::new(0));
    let op = Arc::new(op);
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks.max(1) {
        let (op, count, pb) = (op.clone(), count.clone(), pb.clone());
        handles.push(tokio::spawn(async move {
            while start.elapsed() < duration {
                if count.fetch_add(1, Ordering::Relaxed) >= MAX_OPS {
                    count.fetch_sub(1, Ordering::Relaxed);
                    break;
                }
                op().await?;
                tick(&pb, start, count.load(Ordering::Relaxed));
            }
            Ok::<(), CliError>(())
        }));
    }
    for h in handles {
        h.await.map_err(rt)??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = count.load(Ordering::Relaxed);
    pb.finish_with_message(format!("{n} ops"));
    println!("{what:<44} {n:>8} ops in {elapsed:.2} s");
    #[allow(clippy::cast_precision_loss)]
    Ok(n as f64 / elapsed)
}

/// Runs `op` in a loop on this thread until `duration` passed; returns ops/s.
fn measure_sync(
    what: &str,
    duration: Duration,
    mut op: impl FnMut() -> Result<(), CliError>,
) -> Result<f64, CliError> {
    let pb = bar(what, duration);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < duration {
        op()?;
        n += 1;
        if n.is_multiple_of(64) {
            tick(&pb, start, n);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    pb.finish_with_message(format!("{n} ops"));
    println!("{what:<44} {n:>8} ops in {elapsed:.2} s");
    #[allow(clippy::cast_precision_loss)]
    Ok(n as f64 / elapsed)
}

struct Rates {
    token_seq: f64,
    token_conc: f64,
    authz_seq: f64,
    authz_conc: f64,
}

async fn loopback(
    duration: Duration,
    concurrency: usize,
) -> Result<(Rates, CreationHints), CliError> {
    let mut coap = ace_coap::Config::default();
    coap.transmission.nstart = concurrency.max(1);
    let local = Local::start(LocalOptions {
        lifetime: 3600,
        allowed_scope: "temp:r".to_owned(),
        as_store: Box::new(MemoryTokenStore::new()),
        rs_store: Box::new(MemoryAcceptedTokens::new()),
        coap,
        ..LocalOptions::default()
    })
    .await
    .map_err(rt)?;
    let local = Arc::new(local);
    let r = local.client.rs_get_unprotected("/temp").await.map_err(rt)?;
    if r.code != Code::UNAUTHORIZED {
        return Err(rt(format!("unprotected GET /temp answered {}", r.code)));
    }
    let hints = CreationHints::decode(&r.payload).map_err(rt)?;

    let token_op = {
        let (local, hints) = (local.clone(), hints.clone());
        move || {
            let (local, hints) = (local.clone(), hints.clone());
            async move {
                local
                    .client
                    .request_token(&hints, "temp:r")
                    .await
                    .map(|_| ())
                    .map_err(rt)
            }
        }
    };
    let token_seq = measure(
        "loopback token issuance, 1 client",
        duration,
        1,
        token_op.clone(),
    )
    .await?;
    let token_conc = measure(
        &format!("loopback token issuance, {concurrency} tasks"),
        duration,
        concurrency,
        token_op,
    )
    .await?;

    let info = local
        .client
        .request_token(&hints, "temp:r")
        .await
        .map_err(rt)?;
    let up = local.client.upload(&info).await.map_err(rt)?;
    if up.code != Code::CREATED {
        return Err(rt(format!("/authz-info answered {}", up.code)));
    }
    let get_op = {
        let local = local.clone();
        move || {
            let local = local.clone();
            async move {
                let r = local
                    .client
                    .rs_request(Code::GET, "/temp", b"")
                    .await
                    .map_err(rt)?;
                if r.code == Code::CONTENT {
                    Ok(())
                } else {
                    Err(rt(format!("GET /temp answered {}", r.code)))
                }
            }
        }
    };
    let authz_seq = measure(
        "loopback authorized GET, 1 client",
        duration,
        1,
        get_op.clone(),
    )
    .await?;
    let authz_conc = measure(
        &format!("loopback authorized GET, {concurrency} tasks"),
        duration,
        concurrency,
        get_op,
    )
    .await?;
    if let Ok(local) = Arc::try_unwrap(local) {
        local.shutdown().await;
    }
    Ok((
        Rates {
            token_seq,
            token_conc,
            authz_seq,
            authz_conc,
        },
        hints,
    ))
}

/// The same work without CoAP, OSCORE or sockets: (token issuance/s, authorize/s).
fn engine_only(duration: Duration, hints: &CreationHints) -> Result<(f64, f64), CliError> {
    let mut rng = os_rng();
    let signing_key = PrivateKey::generate(KeyType::P256, &mut rng);
    let as_public = RustCrypto.public_key(&signing_key).map_err(rt)?;
    let client_key = PrivateKey::generate(KeyType::P256, &mut rng);
    let client_public = RustCrypto.public_key(&client_key).map_err(rt)?;
    let mut as_engine = local::as_engine(
        &signing_key,
        b"bench-secret",
        3600,
        "temp:r",
        Box::new(MemoryTokenStore::new()),
    );
    let mut cfg = ClientConfig::new(local::CLIENT_ID);
    cfg.req_cnf = Some(Confirmation::cose_key(PopKey::public(
        client_public.clone(),
    )));
    let client = ClientEngine::new(cfg);
    let step = client
        .request_token(hints, Some(Scope::Text("temp:r".to_owned())))
        .map_err(rt)?;
    let payload = step.payload().map_err(rt)?;
    let channel = ChannelIdentity::PskIdentity(local::CLIENT_SENDER_ID.to_vec());

    // Issuance is measured on the same engine configuration the loopback AS runs: COSE_Encrypt0
    // tokens carrying OSCORE_Input_Material (RFC 9203), key material generated by the AS.
    let mut rs_token_key = [0u8; 16];
    ace_token::crypto::Rng::fill_bytes(&mut rng, &mut rs_token_key);
    let mut oscore_as = local::as_engine_oscore(
        &rs_token_key,
        b"bench-secret",
        3600,
        "temp:r",
        Box::new(MemoryTokenStore::new()),
    );
    let oscore_step = ClientEngine::new(ClientConfig::new(local::CLIENT_ID))
        .request_token(hints, Some(Scope::Text("temp:r".to_owned())))
        .map_err(rt)?;
    let oscore_payload = oscore_step.payload().map_err(rt)?;
    let tokens = measure_sync("engine handle_token_bytes", duration, || {
        let out = oscore_as
            .handle_token_bytes(UnixTime::now(), &channel, &oscore_payload, &mut rng)
            .map_err(rt)?;
        if out.response.code() == ace_core::consts::code::CREATED {
            Ok(())
        } else {
            Err(rt(format!("token refused: {:?}", out.response.code())))
        }
    })?;

    let out = as_engine
        .handle_token_bytes(UnixTime::now(), &channel, &payload, &mut rng)
        .map_err(rt)?;
    let info = step
        .handle_response(
            UnixTime::now(),
            out.response.code(),
            &out.response.payload().map_err(rt)?,
        )
        .map_err(rt)?;
    let mut rs = local::rs_engine(
        as_public,
        "coap://127.0.0.1/token",
        Box::new(MemoryAcceptedTokens::new()),
    );
    let (cf, req) = info.authz_info_request();
    let stored = rs
        .handle_authz_info(UnixTime::now(), Some(cf), &req.encode().map_err(rt)?)
        .map_err(rt)?;
    if !matches!(stored.response, ace_core::RsResponse::Created(_)) {
        return Err(rt("engine-only authz-info refused the token"));
    }
    let peer = ChannelIdentity::RawPublicKey(client_public);
    let authz = measure_sync("engine RsEngine::authorize", duration, || {
        match rs.authorize(UnixTime::now(), &peer, "/temp", aif::Method::Get, &mut rng) {
            Access::Allow => Ok(()),
            other => Err(rt(format!("authorize: {other:?}"))),
        }
    })?;
    Ok((tokens, authz))
}

/// `ace bench`.
pub(crate) async fn run(args: &BenchArgs) -> Result<(), CliError> {
    if !(args.duration > 0.0 && args.duration.is_finite()) || args.concurrency == 0 {
        return Err(CliError::Usage(
            "--duration must be > 0 and --concurrency ≥ 1".into(),
        ));
    }
    let duration = Duration::from_secs_f64(args.duration);
    println!(
        "ace bench: AS (OSCORE) + RS on 127.0.0.1, in-memory stores, {:.1} s per measurement, {} concurrent tasks",
        args.duration, args.concurrency
    );
    let (l, hints) = loopback(duration, args.concurrency).await?;
    let (e_tok, e_authz) = tokio::task::block_in_place(|| engine_only(duration, &hints))?;
    println!();
    println!("{:<44} {:>12} {:>12}", "", "ops/s", "vs engine");
    let row = |what: &str, v: f64, engine: f64| {
        println!("{what:<44} {v:>12.1} {:>11.4}x", v / engine);
    };
    row("token issuance, loopback, 1 client", l.token_seq, e_tok);
    row(
        &format!("token issuance, loopback, {} tasks", args.concurrency),
        l.token_conc,
        e_tok,
    );
    row("token issuance, engine only", e_tok, e_tok);
    row(
        "authorized GET /temp, loopback, 1 client",
        l.authz_seq,
        e_authz,
    );
    row(
        &format!("authorized GET /temp, loopback, {} tasks", args.concurrency),
        l.authz_conc,
        e_authz,
    );
    row("RsEngine::authorize, engine only", e_authz, e_authz);
    Ok(())
}
