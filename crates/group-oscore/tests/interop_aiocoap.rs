//! Cross-check of our vector files (`tests/vectors/*.json`) with aiocoap 0.4.17, a second
//! Group OSCORE implementation (draft -23; differences are the README's compatibility
//! options). Run by `cargo xtask interop`, which sets `ACE_INTEROP_PYTHON` to a Python with
//! aiocoap installed; without it the test fails (a missing peer is a failure, not a skip).

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
#[ignore = "needs aiocoap: run `cargo xtask interop`"]
fn aiocoap_verifies_our_vectors() {
    let python = std::env::var("ACE_INTEROP_PYTHON")
        .expect("ACE_INTEROP_PYTHON must name a Python interpreter with aiocoap 0.4.17");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/aiocoap_vectors.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    // bounded wait: the script does no I/O beyond reading the files
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("aiocoap_vectors.py did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "aiocoap cross-check failed:\n{stdout}\n{stderr}"
    );
    for f in [
        "group_mode_eddsa.json",
        "group_mode_es256.json",
        "pairwise_mode_p256.json",
        "pairwise_mode_ed25519.json",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(f) && l.ends_with(": ok")),
            "{f} not verified by aiocoap:\n{stdout}"
        );
    }
}
