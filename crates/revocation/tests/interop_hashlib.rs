//! Cross-check of `tests/data/token_hashes.json` with Python's hashlib and base64
//! (`tests/interop/hashlib_check.py`). Run by `cargo xtask interop` with
//! `ACE_INTEROP_PYTHON` set; fails when it is not.

use std::process::Command;

#[test]
#[ignore = "needs python: run `cargo xtask interop`"]
fn token_hashes_agree_with_python_hashlib() {
    let python = std::env::var("ACE_INTEROP_PYTHON")
        .expect("ACE_INTEROP_PYTHON must point to a Python 3 interpreter");
    let dir = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(python)
        .arg(format!("{dir}/tests/interop/hashlib_check.py"))
        .arg(format!("{dir}/tests/data/token_hashes.json"))
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "hashlib check failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("checked 6 vectors"),
        "unexpected output: {stdout}"
    );
}
