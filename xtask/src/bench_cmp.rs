//! `cargo xtask bench-cmp [--n N] [--warmup N]`: the RFC 9482 must-show comparison against
//! a real HTTP CMP server — N fresh `ir` transactions sent directly over HTTP to OpenSSL's
//! `openssl cmp -port` mock server and N through our CoAP-to-HTTP proxy, interleaved in one
//! run; median / p90 latency of both and their ratio.
//!
//! xtask does not depend on `cmp-coap`, so the measurement is the release-mode example
//! `crates/cmp-coap/examples/bench_vs_http.rs` (see its docs for what is timed). This
//! command builds it with `cargo build --release`, runs it with a deadline (killed after
//! it), turns its `progress <phase> <done> <total>` lines into a progress bar and prints
//! its report. Loopback only; the example bounds every openssl process itself.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

const USAGE: &str = "usage: cargo xtask bench-cmp [--n N] [--warmup N]
  --n N       fresh ir transactions per path (default 200, 1..=5000)
  --warmup N  pairs not counted at the start (default 10, 0..=1000)";

/// The example that measures.
const EXAMPLE: &str = "bench_vs_http";
/// Seconds the example may run (it stops itself at this deadline).
const DEADLINE_SECS: u64 = 600;
/// Extra seconds before xtask kills the example.
const KILL_MARGIN: Duration = Duration::from_secs(30);

fn parse(args: &[String]) -> Result<(u64, u64)> {
    let (mut n, mut warmup) = (200u64, 10u64);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<u64> {
            let v = it.next().with_context(|| format!("{name} needs a value"))?;
            v.parse().with_context(|| format!("{name} `{v}`"))
        };
        match a.as_str() {
            "--n" => n = value("--n")?,
            "--warmup" => warmup = value("--warmup")?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok((0, 0));
            }
            other => bail!("unknown option `{other}`\n{USAGE}"),
        }
    }
    if !(1..=5000).contains(&n) || warmup > 1000 {
        bail!("--n must be 1..=5000 and --warmup 0..=1000\n{USAGE}");
    }
    Ok((n, warmup))
}

/// Builds the example in release mode and returns the path of its executable.
fn build() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    println!("==> bench-cmp: cargo build --release -p cmp-coap --example {EXAMPLE}");
    let out = Command::new(&cargo)
        .args(["build", "--release", "-p", "cmp-coap", "--example", EXAMPLE])
        .args(["--message-format", "json-render-diagnostics"])
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {cargo}"))?;
    if !out.status.success() {
        bail!("building the example failed ({})", out.status);
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["target"]["name"] == EXAMPLE)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .context("cargo did not report the example's executable")
}

fn bar() -> ProgressBar {
    let pb = ProgressBar::new(1);
    pb.set_style(
        ProgressStyle::with_template("{prefix:<28} [{bar:30}] {pos}/{len} {elapsed:>3}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb
}

/// Entry point of `cargo xtask bench-cmp …`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let (n, warmup) = parse(args)?;
    if n == 0 {
        return Ok(()); // --help
    }
    // Fail early and clearly, before a release build.
    let version = Command::new("openssl")
        .arg("version")
        .stdin(Stdio::null())
        .output()
        .context("`openssl` (3.x, Debian package `openssl`) is needed on PATH")?;
    if !version.status.success() {
        bail!("`openssl version` failed");
    }
    let exe = build()?;
    let mut child = Command::new(&exe)
        .args(["--progress", "--n", &n.to_string()])
        .args(["--warmup", &warmup.to_string()])
        .args(["--deadline-secs", &DEADLINE_SECS.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("running {}", exe.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(DEADLINE_SECS) + KILL_MARGIN;
    let pb = bar();
    let mut phase = String::new();
    let mut report = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.max(Duration::from_millis(1))) {
            Ok(line) => {
                let f: Vec<&str> = line.split_whitespace().collect();
                match f.as_slice() {
                    ["progress", p, done, total] => {
                        if *p != phase {
                            phase = (*p).to_owned();
                            pb.reset();
                            pb.set_prefix(match *p {
                                "generate" => "irs made by openssl".to_owned(),
                                "measure" => "pairs (direct, via proxy)".to_owned(),
                                other => other.to_owned(),
                            });
                        }
                        pb.set_length(total.parse().unwrap_or(1));
                        pb.set_position(done.parse().unwrap_or(0));
                    }
                    _ => report.push(line),
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                pb.abandon();
                let _ = child.kill();
                let _ = child.wait();
                bail!("the benchmark did not finish within {DEADLINE_SECS} s; killed");
            }
        }
    }
    pb.finish_and_clear();
    let status = child.wait().context("waiting for the benchmark")?;
    for line in &report {
        println!("{line}");
    }
    if !status.success() {
        bail!("the benchmark failed ({status})");
    }
    Ok(())
}
