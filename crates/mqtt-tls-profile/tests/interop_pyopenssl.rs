//! Interop: an independent Python client on pyOpenSSL + `cryptography`
//! (`tests/interop/pyopenssl_client.py`) against our broker over TLS 1.3 and TLS 1.2 (with
//! Extended Master Secret). The client computes the TLS exporter itself
//! (`export_keying_material(b"EXPORTER-ACE-MQTT-Sign-Challenge", 32, b"")`), so CONNACK 0x00
//! proves both sides derive the same exporter; then PUBLISH/SUBSCRIBE are allowed or refused
//! by the token scope (RFC 9431 Figure 10). Needs `ACE_INTEROP_PYTHON` = a Python with
//! `pyOpenSSL==26.4.0` and `cryptography`; fails when it is unset.
#![cfg(feature = "broker")]

mod common;
#[path = "interop/harness.rs"]
mod harness;

use std::time::Duration;

use ace_token::testing;
use common::*;
use serde_json::Value;

fn python() -> std::path::PathBuf {
    ace_interop_peers::python("needs pyOpenSSL: run `cargo xtask interop`")
}

fn script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/pyopenssl_client.py")
}

fn code(v: &Value) -> u64 {
    v["code"]
        .as_u64()
        .unwrap_or_else(|| panic!("no code in {v}"))
}

fn codes(v: &Value) -> Vec<u64> {
    assert_eq!(v["type"], "suback", "{v}");
    v["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect()
}

fn check_v5_session(r: &Value) {
    let case = &r["case"];
    assert_eq!(r["connack"]["type"], "connack", "{case}: {r}");
    assert_eq!(code(&r["connack"]), 0, "{case}: exporter PoP refused: {r}");
    assert_eq!(codes(&r["sub_topic1"]), [1], "{case}");
    assert_eq!(
        codes(&r["sub_topic2"]),
        [0x87],
        "{case}: topic2/# is pub-only"
    );
    assert_eq!(codes(&r["sub_authz_info"]), [0x87], "{case}: authz-info");
    assert_eq!(r["pub_topic1_puback"]["type"], "puback", "{case}: {r}");
    assert_eq!(code(&r["pub_topic1_puback"]), 0, "{case}");
    assert_eq!(r["delivered"]["topic"], "topic1", "{case}: {r}");
    assert_eq!(r["delivered"]["payload"], "hello", "{case}");
    assert_eq!(code(&r["pub_topic2_a"]), 0, "{case}");
    assert_eq!(r["pub_x_topic3"]["type"], "puback", "{case}: {r}");
    assert_eq!(
        code(&r["pub_x_topic3"]),
        0x87,
        "{case}: +/topic3 is sub-only"
    );
    assert_eq!(r["pub_qos0_refused"]["type"], "disconnect", "{case}: {r}");
    assert_eq!(code(&r["pub_qos0_refused"]), 0x87, "{case}");
    assert_eq!(r["after"]["type"], "closed", "{case}");
}

fn check_v311_session(r: &Value) {
    let case = &r["case"];
    assert_eq!(code(&r["connack"]), 0, "{case}: {r}");
    assert_eq!(codes(&r["sub_topic1"]), [1], "{case}");
    assert_eq!(codes(&r["sub_topic2"]), [0x80], "{case}");
    assert_eq!(codes(&r["sub_authz_info"]), [0x80], "{case}");
    assert_eq!(code(&r["pub_topic1_puback"]), 0, "{case}: {r}");
    assert_eq!(r["delivered"]["payload"], "hello", "{case}: {r}");
    assert_eq!(code(&r["pub_topic2_a"]), 0, "{case}");
    // v3.1.1 has no PUBACK reason code: a refused PUBLISH closes the connection (§6.2).
    assert_eq!(r["pub_x_topic3"]["type"], "closed", "{case}: {r}");
}

#[tokio::test]
#[ignore = "needs pyOpenSSL: run `cargo xtask interop`"]
async fn pyopenssl_exporter_pop_tls13_and_tls12() {
    let python = python();
    let broker = harness::start(config(), NOW).await;
    let dir = harness::TempDir::new("pyopenssl");
    let exp = NOW.saturating_add(3600);
    dir.write("ca.pem", broker.pki.ca_pem.as_bytes());
    dir.write("hmac.token", &cwt_symmetric(FIG10, exp));
    dir.write("hmac.key", sym_secret().expose());
    dir.write("ed.token", &cwt_ed25519(FIG10, exp));
    dir.write("ed.seed", &testing::from_hex(testing::ED25519_SEED));

    let cases = [
        "v5-1.3-hmac",
        "v5-1.3-ed",
        "v5-1.2-hmac",
        "v5-1.2-ed",
        "v311-1.3-ed",
        "v311-1.2-hmac",
        "badpop-1.3-hmac",
        "badpop-1.2-ed",
        "tls12-no-ems",
    ];
    let mut args: Vec<std::ffi::OsString> = vec![
        script().into_os_string(),
        "127.0.0.1".into(),
        broker.addr.port().to_string().into(),
        dir.0.clone().into_os_string(),
    ];
    args.extend(cases.iter().map(std::ffi::OsString::from));
    let out = ace_interop_peers::run_peer(&python, &args, Duration::from_secs(90)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{stdout}");
    let reports: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), cases.len(), "{stdout}");
    let mut exporters = Vec::new();
    for r in &reports {
        let case = r["case"].as_str().unwrap();
        if case != "tls12-no-ems" {
            let want = if case.contains("-1.3-") {
                "TLSv1.3"
            } else {
                "TLSv1.2"
            };
            assert_eq!(r["tls"], want, "{case}");
            let e = r["exporter"].as_str().unwrap();
            assert_eq!(e.len(), 64, "{case}");
            exporters.push(e.to_owned());
        }
        match case {
            c if c.starts_with("v5-") => check_v5_session(r),
            c if c.starts_with("v311-") => check_v311_session(r),
            c if c.starts_with("badpop-") => {
                assert_eq!(code(&r["connack"]), 0x87, "{case}: {r}");
                assert_eq!(r["after"]["type"], "closed", "{case}");
            }
            "tls12-no-ems" => {
                // RFC 9431 §2.2.3: TLS 1.2 without Extended Master Secret is refused.
                assert_eq!(r["handshake"], "failed", "{r}");
            }
            other => panic!("unexpected case {other}"),
        }
    }
    // A fresh exporter per TLS session.
    exporters.sort();
    exporters.dedup();
    assert_eq!(exporters.len(), cases.len() - 1);
    broker.finish().await;
}
