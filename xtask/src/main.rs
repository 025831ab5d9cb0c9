//! Workspace automation, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! ```text
//! cargo xtask ci [--skip-fuzz]     every CI step, in the order `.ci/run` runs them
//! cargo xtask fmt | clippy | test | nostd | doc | interop
//!                                  one CI step
//! cargo xtask fuzz-smoke [runs]    build all fuzz targets once, run each for `runs` inputs from a
//!                                  fixed seed and an empty corpus (default 200000; reproducible)
//! cargo xtask fuzz <target> [secs] run one fuzz target (default 60 s)
//! cargo xtask bench [filter]       criterion benches, then the `ours / bare` ratio table
//! cargo xtask ratios               print the ratio table of the last bench run
//! cargo xtask bench-cmp [--n N]    fresh irs to `openssl cmp -port`: direct HTTP vs our CoAP
//!                                  proxy, interleaved (crates/cmp-coap/examples/bench_vs_http.rs)
//! ```
//!
//! The README's test command is `cargo test --workspace --all-features`; `cargo xtask test` runs
//! exactly that.

use std::collections::BTreeMap;
use std::env;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};

mod bench_cmp;
mod load;

/// Default number of inputs per fuzz target in the CI smoke run. The smoke run is bounded by
/// a count, not a time, and starts from a fixed seed and an empty corpus, so that a machine of
/// any speed runs the same inputs (with the same nightly) and a local run predicts CI.
const FUZZ_SMOKE_RUNS: u64 = 200_000;
/// libFuzzer seed of the smoke run.
const FUZZ_SMOKE_SEED: u64 = 20_261_123;
/// Safety cap in seconds per target in the smoke run (a slow target stops here).
const FUZZ_SMOKE_CAP_SECS: u64 = 60;
/// Default seconds for `cargo xtask fuzz <target>`.
const FUZZ_DEFAULT_SECS: u64 = 60;
/// Benchmark id of the baseline in a criterion group (see `benches/src/lib.rs`).
const BASELINE_ID: &str = "bare";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let root = workspace_root()?;
    env::set_current_dir(&root).with_context(|| format!("cd {}", root.display()))?;
    let cmd = args.first().map(String::as_str).unwrap_or("help");
    let rest = args.get(1..).unwrap_or(&[]);
    match cmd {
        "ci" => ci(rest.iter().any(|a| a == "--skip-fuzz")),
        "fmt" => step("fmt", fmt_check),
        "clippy" => step("clippy", clippy),
        "test" => step("test", test),
        "nostd" => step("no_std", nostd),
        "doc" => step("doc", doc),
        "interop" => step("interop", interop),
        "fuzz-smoke" => {
            let runs = parse_count(rest.first(), FUZZ_SMOKE_RUNS)?;
            step("fuzz smoke", || fuzz_smoke(runs))
        }
        "fuzz" => {
            let Some(target) = rest.first() else {
                bail!(
                    "usage: cargo xtask fuzz <target> [secs]; targets: {:?}",
                    fuzz_targets()?
                );
            };
            let secs = parse_count(rest.get(1), FUZZ_DEFAULT_SECS)?;
            fuzz_build()?;
            fuzz_run(target, &FuzzBound::Campaign { secs })
        }
        "bench" => {
            let mut cargo_args = vec!["bench", "-p", "ace-benches"];
            if let Some(filter) = rest.first() {
                cargo_args.extend(["--", filter.as_str()]);
            }
            cargo(&cargo_args)?;
            print_ratios()
        }
        "ratios" => print_ratios(),
        "load" => load::run(rest),
        "bench-cmp" => bench_cmp::run(rest),
        "help" | "-h" | "--help" => {
            println!("{}", HELP.trim());
            Ok(())
        }
        other => bail!("unknown command `{other}`\n{}", HELP.trim()),
    }
}

const HELP: &str = "
usage: cargo xtask <command>
  ci [--skip-fuzz]       fmt, clippy, test, interop, nostd, doc, fuzz-smoke (what .ci/run runs)
  fmt | clippy | test | interop | nostd | doc
  fuzz-smoke [runs]      build all fuzz targets, run each for runs inputs from a fixed
                         seed and an empty corpus (default 200000)
  fuzz <target> [secs]   run one fuzz target (default 60 s)
  bench [filter]         criterion benches, then the ours/bare ratio table
  ratios                 ratio table of the last bench run
  load mqtt [--secs N] [--clients N]  loopback load: our ACE broker vs mosquitto (release)
  bench-cmp [--n N] [--warmup N]  fresh irs to `openssl cmp -port`: direct HTTP vs our CoAP proxy
";

fn parse_count(arg: Option<&String>, default: u64) -> Result<u64> {
    match arg {
        None => Ok(default),
        Some(s) => s
            .parse()
            .with_context(|| format!("`{s}` is not a whole number")),
    }
}

fn ci(skip_fuzz: bool) -> Result<()> {
    let started = Instant::now();
    step("fmt", fmt_check)?;
    step("clippy", clippy)?;
    step("test", test)?;
    step("interop", interop)?;
    step("no_std", nostd)?;
    step("doc", doc)?;
    if skip_fuzz {
        println!("==> fuzz smoke skipped (--skip-fuzz)");
    } else {
        step("fuzz smoke", || fuzz_smoke(FUZZ_SMOKE_RUNS))?;
    }
    println!("==> ci: all steps passed in {:.0?}", started.elapsed());
    Ok(())
}

fn step(name: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    println!("==> {name}");
    let started = Instant::now();
    let res = f().with_context(|| format!("step `{name}` failed"));
    println!(
        "==> {name}: {} in {:.1?}",
        if res.is_ok() { "ok" } else { "FAILED" },
        started.elapsed()
    );
    res
}

fn fmt_check() -> Result<()> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    // fuzz/ is its own workspace; format-check its targets too.
    cargo_in(Path::new("fuzz"), None, &["fmt", "--all", "--", "--check"])
}

fn clippy() -> Result<()> {
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ])
}

/// The README's test command.
fn test() -> Result<()> {
    cargo(&["test", "--workspace", "--all-features"])
}

/// Interop tests against peers we did not write. Each is an `#[ignore]`d Rust integration test
/// (so the README's test command needs no peer) that finds its peer through environment variables
/// set here; a missing peer is a failure, never a skip. `(package, test target)`.
/// Environment given to them: `ACE_INTEROP_PYTHON` (the venv's python) and `ACE_INTEROP_BIN`
/// (the venv's bin directory, holding e.g. `aiocoap-client`); Debian peers (`coap-client-notls`,
/// `openssl`) are on `PATH`, installed by `.ci/run`.
const INTEROP_TESTS: &[InteropTest] = &[
    InteropTest {
        package: "ace-token",
        test: "interop_pycose",
        features: &[],
    },
    InteropTest {
        package: "ace-coap",
        test: "interop_peers",
        features: &[],
    },
    InteropTest {
        package: "ace-server",
        test: "interop_peers",
        features: &[],
    },
    InteropTest {
        package: "ace-oscore",
        test: "interop_aiocoap",
        features: &["coap"],
    },
    InteropTest {
        package: "group-oscore",
        test: "interop_aiocoap",
        features: &[],
    },
    InteropTest {
        package: "group-oscore",
        test: "interop_aiocoap_live",
        features: &["coap"],
    },
    InteropTest {
        package: "cmp-coap",
        test: "interop_openssl",
        features: &[],
    },
    InteropTest {
        package: "revocation",
        test: "interop_hashlib",
        features: &[],
    },
    InteropTest {
        package: "mqtt-tls-profile",
        test: "interop_pyopenssl",
        features: &[],
    },
    InteropTest {
        package: "mqtt-tls-profile",
        test: "interop_mosquitto",
        features: &[],
    },
    InteropTest {
        package: "ace-cli",
        test: "cmp_proxy_serve",
        features: &[],
    },
];

/// One interop test target: `cargo test -p <package> --test <test> [--features ..] -- --ignored`.
struct InteropTest {
    package: &'static str,
    test: &'static str,
    features: &'static [&'static str],
}

/// Python peers live in a venv outside the clone (`ACE_VENV`, default `/var/tmp/ace-rs-venv`),
/// created here from `.ci/requirements.txt` if missing.
fn interop() -> Result<()> {
    let venv =
        PathBuf::from(env::var("ACE_VENV").unwrap_or_else(|_| "/var/tmp/ace-rs-venv".into()));
    let python = venv.join("bin/python");
    if !python.is_file() {
        run_cmd(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    run_cmd(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(".ci/requirements.txt"),
    )?;
    for InteropTest {
        package,
        test,
        features,
    } in INTEROP_TESTS
    {
        let mut args = vec!["test", "-p", package, "--test", test];
        let features = features.join(",");
        if !features.is_empty() {
            args.extend(["--features", &features]);
        }
        args.extend(["--", "--ignored", "--test-threads=1"]);
        println!("$ cargo {}", args.join(" "));
        let status = Command::new(cargo_bin())
            .args(&args)
            .env("ACE_INTEROP_PYTHON", &python)
            .env("ACE_INTEROP_BIN", venv.join("bin"))
            .status()
            .with_context(|| format!("running interop test {package}/{test}"))?;
        if !status.success() {
            bail!("interop test {package}/{test} failed ({status})");
        }
    }
    Ok(())
}

fn run_cmd(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    println!("$ {shown}");
    let status = cmd.status().with_context(|| format!("starting {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

fn doc() -> Result<()> {
    let status = Command::new(cargo_bin())
        .args(["doc", "--workspace", "--all-features", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings")
        .status()
        .context("running cargo doc")?;
    if !status.success() {
        bail!("cargo doc failed ({status})");
    }
    Ok(())
}

/// no_std crates: the ones whose `src/lib.rs` declares `no_std`. Two checks each:
/// `cargo check --no-default-features`, and `cargo tree` must show no `std` feature enabled on a
/// normal (non-build, non-proc-macro) dependency. Only the host target is installed here, so
/// this is a feature-level proof, not a cross-compile (README says so).
fn nostd() -> Result<()> {
    let crates = nostd_crates()?;
    if crates.is_empty() {
        bail!("no no_std crate found under crates/");
    }
    for name in &crates {
        println!("--> {name}: cargo check --no-default-features");
        cargo(&["check", "-p", name, "--no-default-features"])?;
        println!("--> {name}: no `std` feature in the normal dependency graph");
        let out = Command::new(cargo_bin())
            .args([
                "tree",
                "-p",
                name,
                "--no-default-features",
                "-e",
                "normal,features,no-proc-macro",
                "--prefix",
                "none",
            ])
            .output()
            .context("running cargo tree")?;
        if !out.status.success() {
            bail!(
                "cargo tree -p {name} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let tree = String::from_utf8_lossy(&out.stdout);
        let offenders: Vec<&str> = tree
            .lines()
            .filter(|l| l.contains("feature \"std\""))
            .collect();
        if !offenders.is_empty() {
            bail!(
                "{name} pulls in std without its `std` feature:\n{}",
                offenders.join("\n")
            );
        }
    }
    println!(
        "no_std checked (feature level, host target): {}",
        crates.join(", ")
    );
    Ok(())
}

fn nostd_crates() -> Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in fs::read_dir("crates").context("reading crates/")? {
        let dir = entry?.path();
        let Ok(lib) = fs::read_to_string(dir.join("src/lib.rs")) else {
            continue;
        };
        let no_std = lib
            .lines()
            .any(|l| l.starts_with("#![no_std]") || l.contains("no_std)]"));
        if !no_std {
            continue;
        }
        let manifest = fs::read_to_string(dir.join("Cargo.toml"))?;
        let name = manifest
            .lines()
            .find_map(|l| {
                let v = l.trim().strip_prefix("name")?.trim().strip_prefix('=')?;
                Some(v.trim().trim_matches('"').to_owned())
            })
            .with_context(|| format!("no package name in {}", dir.display()))?;
        out.push(name);
    }
    out.sort();
    Ok(out)
}

fn fuzz_targets() -> Result<Vec<String>> {
    let mut targets = Vec::new();
    for entry in fs::read_dir("fuzz/fuzz_targets").context("reading fuzz/fuzz_targets")? {
        let path = entry?.path();
        if path.extension() == Some(OsStr::new("rs"))
            && let Some(stem) = path.file_stem().and_then(OsStr::to_str)
        {
            targets.push(stem.to_owned());
        }
    }
    targets.sort();
    Ok(targets)
}

/// Flags shared by build and run so that `run` reuses the build: no sanitizer (every crate
/// forbids `unsafe`), but debug assertions on, so arithmetic overflow is a crash.
const FUZZ_FLAGS: [&str; 3] = ["--sanitizer", "none", "--debug-assertions"];

fn fuzz_build() -> Result<()> {
    let mut args = vec!["fuzz", "build"];
    args.extend(FUZZ_FLAGS);
    cargo_in(Path::new("fuzz"), Some("nightly"), &args)
}

/// How long a fuzz target runs.
enum FuzzBound {
    /// A campaign: `secs` seconds on the persistent corpus `fuzz/corpus/<target>`.
    Campaign { secs: u64 },
    /// The smoke run: `runs` inputs from [`FUZZ_SMOKE_SEED`] and an empty corpus.
    Smoke { runs: u64 },
}

fn fuzz_run(target: &str, bound: &FuzzBound) -> Result<()> {
    let seeds = format!("seeds/{target}");
    let (corpus, limits) = match bound {
        FuzzBound::Campaign { secs } => (
            format!("corpus/{target}"),
            vec![format!("-max_total_time={secs}")],
        ),
        FuzzBound::Smoke { runs } => {
            let corpus = format!("target/smoke-corpus/{target}");
            let dir = Path::new("fuzz").join(&corpus);
            if dir.exists() {
                fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
            }
            (
                corpus,
                vec![
                    format!("-runs={runs}"),
                    format!("-seed={FUZZ_SMOKE_SEED}"),
                    format!("-max_total_time={FUZZ_SMOKE_CAP_SECS}"),
                ],
            )
        }
    };
    fs::create_dir_all(Path::new("fuzz").join(&corpus))?;
    let mut args = vec!["fuzz", "run"];
    args.extend(FUZZ_FLAGS);
    args.push(target);
    args.push(&corpus);
    if Path::new("fuzz").join(&seeds).is_dir() {
        args.push(&seeds);
    }
    args.extend(["--", "-rss_limit_mb=2048", "-print_final_stats=1"]);
    args.extend(limits.iter().map(String::as_str));
    cargo_in(Path::new("fuzz"), Some("nightly"), &args)
}

fn fuzz_smoke(runs: u64) -> Result<()> {
    let targets = fuzz_targets()?;
    if targets.is_empty() {
        bail!("no fuzz target in fuzz/fuzz_targets");
    }
    fuzz_build()?;
    for t in &targets {
        println!("--> fuzz {t}: {runs} inputs from seed {FUZZ_SMOKE_SEED}");
        fuzz_run(t, &FuzzBound::Smoke { runs })?;
    }
    println!(
        "fuzz smoke: {} targets ran {runs} inputs each without a crash",
        targets.len()
    );
    Ok(())
}

/// Reads criterion's `estimates.json` files and prints, for every benchmark of a group that has
/// a `bare` baseline (with the same parameter, if any), the ratio of the medians.
fn print_ratios() -> Result<()> {
    let dir = target_dir()?.join("criterion");
    if !dir.is_dir() {
        bail!(
            "no criterion results in {}; run `cargo xtask bench` first",
            dir.display()
        );
    }
    let mut medians: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    collect_estimates(&dir, &dir, &mut medians)?;
    let mut rows = Vec::new();
    for ((group, function, param), median) in &medians {
        if function == BASELINE_ID {
            continue;
        }
        let key = (group.clone(), BASELINE_ID.to_owned(), param.clone());
        if let Some(bare) = medians.get(&key) {
            let name = if param.is_empty() {
                format!("{group}/{function}")
            } else {
                format!("{group}/{function}/{param}")
            };
            rows.push((name, *median, *bare));
        }
    }
    if rows.is_empty() {
        println!(
            "no group with a `{BASELINE_ID}` baseline found in {}",
            dir.display()
        );
        return Ok(());
    }
    println!(
        "{:<48} {:>14} {:>14} {:>8}",
        "benchmark", "median", "bare median", "ratio"
    );
    for (name, ours, bare) in rows {
        println!(
            "{:<48} {:>14} {:>14} {:>7.2}x",
            name,
            fmt_ns(ours),
            fmt_ns(bare),
            ours / bare
        );
    }
    Ok(())
}

fn collect_estimates(
    root: &Path,
    dir: &Path,
    out: &mut BTreeMap<(String, String, String), f64>,
) -> Result<()> {
    let estimates = dir.join("new/estimates.json");
    if estimates.is_file() {
        let rel = dir.strip_prefix(root)?;
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if let [group, function, param @ ..] = parts.as_slice() {
            let json: serde_json::Value = serde_json::from_str(&fs::read_to_string(&estimates)?)?;
            if let Some(median) = json["median"]["point_estimate"].as_f64() {
                out.insert((group.clone(), function.clone(), param.join("/")), median);
            }
        }
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() && path.file_name() != Some(OsStr::new("report")) {
            collect_estimates(root, &path, out)?;
        }
    }
    Ok(())
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

fn cargo_bin() -> String {
    env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn cargo(args: &[&str]) -> Result<()> {
    cargo_in(Path::new("."), None, args)
}

/// Runs cargo in `dir`, optionally on a named toolchain (`cargo +nightly ...`, through rustup).
fn cargo_in(dir: &Path, toolchain: Option<&str>, args: &[&str]) -> Result<()> {
    let mut cmd = match toolchain {
        // The `+toolchain` syntax needs the rustup proxy, not the toolchain's own cargo binary.
        Some(tc) => {
            let mut c = Command::new("cargo");
            c.arg(format!("+{tc}"));
            c.env_remove("RUSTC")
                .env_remove("RUSTDOC")
                .env_remove("CARGO");
            c
        }
        None => Command::new(cargo_bin()),
    };
    cmd.args(args).current_dir(dir);
    let shown = format!(
        "cargo {}{}",
        toolchain.map(|t| format!("+{t} ")).unwrap_or_default(),
        args.join(" ")
    );
    println!("$ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("starting `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

fn workspace_root() -> Result<PathBuf> {
    // xtask/ sits directly under the workspace root.
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .context("xtask has no parent directory")
}

fn target_dir() -> Result<PathBuf> {
    let out = Command::new(cargo_bin())
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed");
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    json["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("cargo metadata has no target_directory")
}
