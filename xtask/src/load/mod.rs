//! `cargo xtask load <target>`: loopback load generators.
//!
//! ```text
//! cargo xtask load mqtt [--secs N] [--clients N] [--debug]
//! ```
//!
//! `mqtt` compares our RFC 9431 broker (TLS + ACE token + exporter PoP) with Debian's
//! `mosquitto` (TLS, anonymous) using one Rust load generator; see `mqtt.rs` and the "Load
//! comparison" section of `crates/mqtt-tls-profile/README.md`.

use std::env;
use std::process::Command;

use anyhow::{Context, Result, bail};

mod mosquitto;
mod mqtt;

const USAGE: &str = "usage: cargo xtask load mqtt [--secs N] [--clients N] [--debug]
  --secs N     seconds measured per scenario (default 5, 1..=60)
  --clients N  publishers = subscribers = N (default 100, 1..=1000)
  --debug      run in the current (debug) build instead of re-running xtask with --release";

/// Options of `load mqtt`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Seconds measured per scenario.
    pub(crate) secs: u64,
    /// Publishers = subscribers.
    pub(crate) clients: usize,
    /// Stay in this build even if it is a debug build.
    pub(crate) debug: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        secs: 5,
        clients: 100,
        debug: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--secs" => {
                let v = it.next().context("--secs needs a value")?;
                o.secs = v.parse().with_context(|| format!("--secs `{v}`"))?;
                if !(1..=60).contains(&o.secs) {
                    bail!("--secs must be 1..=60");
                }
            }
            "--clients" => {
                let v = it.next().context("--clients needs a value")?;
                o.clients = v.parse().with_context(|| format!("--clients `{v}`"))?;
                if !(1..=1000).contains(&o.clients) {
                    bail!("--clients must be 1..=1000");
                }
            }
            "--debug" => o.debug = true,
            other => bail!("unknown option `{other}`\n{USAGE}"),
        }
    }
    Ok(o)
}

/// Entry point of `cargo xtask load …`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("mqtt") => {
            let rest = args.get(1..).unwrap_or_default();
            let opts = parse(rest)?;
            // Fail early and clearly, before any release build.
            let mosquitto = mosquitto::find()?;
            if cfg!(debug_assertions) && !opts.debug {
                return rerun_release(args);
            }
            mqtt::run(opts, &mosquitto)
        }
        Some("-h" | "--help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown load target `{other}`\n{USAGE}"),
    }
}

/// A debug build of the broker (and of the generator) would not be a fair comparison with a
/// C daemon built with `-O2`: re-run this command from a `--release` build of xtask.
fn rerun_release(args: &[String]) -> Result<()> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    println!("==> load: building and running xtask with --release (`--debug` skips this)");
    let status = Command::new(&cargo)
        .args([
            "run",
            "--release",
            "--quiet",
            "--package",
            "xtask",
            "--",
            "load",
        ])
        .args(args)
        .status()
        .with_context(|| format!("running {cargo}"))?;
    if !status.success() {
        bail!("load run failed ({status})");
    }
    Ok(())
}
