//! Test support for the interop tests of the workspace (a dev-dependency only; never linked
//! into a library or binary). It finds the peers we did not write and runs them bounded in
//! time:
//!
//! * Debian peers on `PATH` ([`on_path`], e.g. libcoap's `coap-client-notls`);
//! * Python peers from the interop venv that `cargo xtask interop` prepares and announces in
//!   `ACE_INTEROP_BIN` (its `bin` directory) and `ACE_INTEROP_PYTHON` ([`venv_bin`], [`python`]);
//! * [`run_peer`] / [`run_ok`]: a child process with null stdin and captured output, killed
//!   when it overruns its limit.
//!
//! A missing peer is a test failure, never a skip: every lookup panics with a message saying
//! how to run the tests (`how_to_run`). Panicking is the purpose of this crate (it reports test
//! failures), which is why it does not deny `panic!` like the library crates do.

#![forbid(unsafe_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::Command;
use tokio::time::timeout;

/// Default time limit for one peer invocation.
pub const PEER_LIMIT: Duration = Duration::from_secs(20);

/// The executable `name` on `PATH`; `install` says which package provides it.
///
/// # Panics
/// When it is missing (a missing peer fails the test).
#[must_use]
pub fn on_path(name: &str, install: &str, how_to_run: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "interop peer missing: `{name}` is not on PATH (install {install}; .ci/run does); \
                 {how_to_run}"
            )
        })
}

/// libcoap's client without DTLS (Debian names it `coap-client-notls`; there is no plain
/// `coap-client`).
///
/// # Panics
/// When it is missing.
#[must_use]
pub fn libcoap_client(how_to_run: &str) -> PathBuf {
    on_path("coap-client-notls", "Debian `libcoap3-bin`", how_to_run)
}

fn env_path(var: &str, how_to_run: &str) -> PathBuf {
    let value = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("interop environment missing: ${var} is not set; {how_to_run}"));
    PathBuf::from(value)
}

/// The executable `name` in the interop venv's `bin` directory (`$ACE_INTEROP_BIN`).
///
/// # Panics
/// When the variable is unset or the file does not exist.
#[must_use]
pub fn venv_bin(name: &str, how_to_run: &str) -> PathBuf {
    let bin = env_path("ACE_INTEROP_BIN", how_to_run).join(name);
    assert!(
        bin.is_file(),
        "interop peer missing: {} does not exist (pip install -r .ci/requirements.txt into the \
         venv); {how_to_run}",
        bin.display()
    );
    bin
}

/// `aiocoap-client` from the interop venv.
///
/// # Panics
/// When it is missing.
#[must_use]
pub fn aiocoap_client(how_to_run: &str) -> PathBuf {
    venv_bin("aiocoap-client", how_to_run)
}

/// The interop venv's python (`$ACE_INTEROP_PYTHON`).
///
/// # Panics
/// When the variable is unset or not a file.
#[must_use]
pub fn python(how_to_run: &str) -> PathBuf {
    let py = env_path("ACE_INTEROP_PYTHON", how_to_run);
    assert!(
        py.is_file(),
        "interop peer missing: ACE_INTEROP_PYTHON={} is not a file; {how_to_run}",
        py.display()
    );
    py
}

/// Runs `program args…` to completion within `limit` (killing it otherwise) and returns its
/// output, whatever its exit status.
///
/// # Panics
/// When the child cannot be started, or overruns `limit`.
pub async fn run_peer<A: AsRef<OsStr>>(program: &Path, args: &[A], limit: Duration) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let shown = format!("{cmd:?}");
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start interop peer {shown}: {e}"));
    // On timeout the future (and with it the child) is dropped: `kill_on_drop` kills it.
    match timeout(limit, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => panic!("waiting for {shown}: {e}"),
        Err(_) => panic!("{shown} did not finish within {limit:?}; killed"),
    }
}

/// [`run_peer`], then requires exit status 0.
///
/// # Panics
/// As [`run_peer`], and when the exit status is not 0 (with both output streams).
pub async fn run_ok<A: AsRef<OsStr> + core::fmt::Debug>(
    program: &Path,
    args: &[A],
    limit: Duration,
) -> Output {
    let out = run_peer(program, args, limit).await;
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        program.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
