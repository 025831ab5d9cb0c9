//! The `ace` binary: demo, errors and exit codes, keys, inspect, and a kill -9 restart with
//! SQLite state.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const ACE: &str = env!("CARGO_BIN_EXE_ace");

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ace-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `ace` with a bounded wait.
fn ace(args: &[&str]) -> Output {
    let mut child = Command::new(ACE)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ace {args:?} did not finish in 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr_line(o: &Output) -> String {
    let s = String::from_utf8_lossy(&o.stderr).trim().to_owned();
    assert_eq!(
        s.lines().count(),
        1,
        "expected one line on stderr, got {s:?}"
    );
    s
}

#[test]
fn demo_exits_zero() {
    let o = ace(&["demo"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("DEMO OK"), "{out}");
    assert!(out.contains("4.03") && out.contains("4.05") && out.contains("4.01"));
}

#[test]
fn demo_insecure_as_exits_zero() {
    let o = ace(&["demo", "--insecure-as", "--lifetime", "1"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("INSECURE"), "{out}");
}

#[test]
fn bad_config_is_exit_2_with_one_line() {
    let d = tempdir("badcfg");
    let cfg = d.join("ace.toml");
    std::fs::write(
        &cfg,
        "[as]\nissuer = \"as\"\ncoap = \"127.0.0.1:0\"\nsigning_key = \"k\"\ncolour = 1\n",
    )
    .unwrap();
    let o = ace(&["as", "serve", "-c", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let line = stderr_line(&o);
    assert!(
        line.contains("colour") && line.contains("ace.toml:5"),
        "{line}"
    );
    // Not TOML at all.
    std::fs::write(&cfg, "[as\n").unwrap();
    let o = ace(&["rs", "serve", "-c", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    stderr_line(&o);
    // Missing config file.
    let o = ace(&["as", "serve", "-c", d.join("nope.toml").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr_line(&o).contains("cannot read config"));
}

#[test]
fn missing_key_file_is_exit_4_with_one_line() {
    let d = tempdir("nokey");
    let cfg = d.join("ace.toml");
    std::fs::write(
        &cfg,
        "[as]\nissuer = \"as\"\ncoap = \"127.0.0.1:0\"\nsigning_key = \"missing.cose\"\n",
    )
    .unwrap();
    let o = ace(&["as", "serve", "-c", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4));
    let line = stderr_line(&o);
    assert!(line.contains("missing.cose"), "{line}");
}

#[test]
fn address_in_use_is_exit_3_with_one_line() {
    let d = tempdir("inuse");
    let key = d.join("as.cose");
    assert!(
        ace(&[
            "keys",
            "generate",
            "--kind",
            "p256",
            "-o",
            key.to_str().unwrap()
        ])
        .status
        .success()
    );
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let cfg = d.join("ace.toml");
    std::fs::write(
        &cfg,
        format!("[as]\nissuer = \"as\"\ncoap = \"127.0.0.1:{port}\"\nsigning_key = \"as.cose\"\n"),
    )
    .unwrap();
    let o = ace(&["as", "serve", "-c", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr_line(&o).contains("already in use"));
    // Insecure mode off loopback is a configuration error.
    let o = ace(&[
        "as",
        "serve",
        "-c",
        cfg.to_str().unwrap(),
        "--insecure",
        "--coap",
        "192.0.2.1:5683",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr_line(&o).contains("loopback"));
}

#[test]
fn keys_generate_refuses_to_overwrite_and_inspect_rejects_garbage() {
    let d = tempdir("keys");
    let k = d.join("s.cose");
    assert!(
        ace(&[
            "keys",
            "generate",
            "--kind",
            "symmetric",
            "-o",
            k.to_str().unwrap()
        ])
        .status
        .success()
    );
    assert!(std::fs::read(&k).unwrap().len() > 16);
    let o = ace(&[
        "keys",
        "generate",
        "--kind",
        "symmetric",
        "-o",
        k.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    stderr_line(&o);
    let o = ace(&["token", "inspect", "a0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr_line(&o).contains("not a CWT"));
    let o = ace(&["token", "inspect", "zz-not-hex"]);
    assert_eq!(o.status.code(), Some(2));
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `ace <role> serve` and waits for its "listening" line.
fn spawn_service(role: &str, cfg: &Path) -> Child {
    let mut child = Command::new(ACE)
        .args([role, "serve", "-c", cfg.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(line.contains("listening"), "{role}: {line}");
    child
}

#[test]
fn kill_9_keeps_issued_tokens_and_the_rs_token_store() {
    let d = tempdir("kill");
    for (kind, name) in [
        ("p256", "as.cose"),
        ("symmetric", "c-as.key"),
        ("symmetric", "c2-as.key"),
        ("symmetric", "rs-token.key"),
    ] {
        let p = d.join(name);
        assert!(
            ace(&[
                "keys",
                "generate",
                "--kind",
                kind,
                "-o",
                p.to_str().unwrap()
            ])
            .status
            .success()
        );
    }
    let (pa, pr) = (free_udp_port(), free_udp_port());
    // Two OSCORE clients of one AS (their contexts share the AS's Sender ID; sequence
    // records are per context), and the RS with the OSCORE profile (RFC 9203).
    let services = format!(
        r#"[as]
issuer = "as"
coap = "127.0.0.1:{pa}"
signing_key = "as.cose"
token_lifetime = 3600

[[as.clients]]
id = "client1"
scope = "temp:r led:r"
audience = "rs1"
oscore_sender_id = "c1"
oscore_secret_file = "c-as.key"

[[as.clients]]
id = "client2"
scope = "temp:r"
audience = "rs1"
oscore_sender_id = "c2"
oscore_secret_file = "c2-as.key"

[[as.resource_servers]]
audience = "rs1"
token_key = "rs-token.key"

[rs]
audience = "rs1"
coap = "127.0.0.1:{pr}"
as_uri = "coap://127.0.0.1:{pa}/token"
issuer = "as"
token_key = "rs-token.key"
"#
    );
    let client = |id: &str, sid: &str, secret: &str, rid: &str, state: &str| {
        format!(
            r#"
[client]
id = "{id}"
as_coap = "127.0.0.1:{pa}"
rs_coap = "127.0.0.1:{pr}"
audience = "rs1"
oscore_sender_id = "{sid}"
as_oscore_secret_file = "{secret}"
rs_recipient_id = "{rid}"
token_file = "{id}.cwt"

[storage]
path = "{state}.sqlite"
"#
        )
    };
    let cfg = d.join("ace.toml");
    std::fs::write(
        &cfg,
        services.clone() + &client("client1", "c1", "c-as.key", "01", "state"),
    )
    .unwrap();
    // client2 asks for the same ID1 as client1: the RS's contexts then share their Sender
    // ID too, and are still told apart (and persisted) by their Recipient IDs.
    let cfg2 = d.join("ace2.toml");
    std::fs::write(
        &cfg2,
        services + &client("client2", "c2", "c2-as.key", "01", "state2"),
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    let c2 = cfg2.to_str().unwrap();
    let mut as_child = spawn_service("as", &cfg);
    let mut rs_child = spawn_service("rs", &cfg);

    let o = ace(&["token", "request", "-c", c, "--scope", "temp:r", "--upload"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("authz-info: 2.01")
            && out.contains("OSCORE context derived from the token's OSCORE_Input_Material"),
        "{out}"
    );
    let o = ace(&["client", "get", "-c", c, "/temp"]);
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "2.05 21.5 C");
    let o = ace(&["client", "get", "-c", c, "/led"]);
    assert_eq!(o.status.code(), Some(1), "led:r was not requested");
    let o = ace(&[
        "token", "request", "-c", c2, "--scope", "temp:r", "--upload",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = ace(&["client", "get", "-c", c2, "/temp"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "2.05 21.5 C");

    // kill -9 both, restart.
    as_child.kill().unwrap();
    rs_child.kill().unwrap();
    let _ = as_child.wait();
    let _ = rs_child.wait();
    let mut as_child = spawn_service("as", &cfg);
    let mut rs_child = spawn_service("rs", &cfg);

    // The RS still has the tokens and the derived contexts (no new upload); OSCORE resumes
    // (Echo, RFC 8613 B.1.2) for both clients.
    for conf in [c, c2] {
        let o = ace(&["client", "get", "-c", conf, "/temp"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "2.05 21.5 C");
    }

    // The AS still has the issued token in its store.
    let token = std::fs::read(d.join("client1.cwt")).unwrap();
    let db = ace_store::SqliteStore::open(&d.join("state-as.sqlite")).unwrap();
    assert!(db.issued_tokens().unwrap().iter().any(|t| t.token == token));
    drop(db);
    // And the restarted AS keeps issuing, to both OSCORE clients (each restored context
    // answers its client's first request with an Echo challenge under its own sequence
    // record).
    let o = ace(&[
        "token",
        "request",
        "-c",
        c,
        "--scope",
        "temp:r led:r",
        "--upload",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = ace(&["client", "get", "-c", c, "/led"]);
    assert!(o.status.success());
    let o = ace(&["token", "request", "-c", c2, "--scope", "temp:r"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The RS's two restored contexts share their Sender ID (both clients chose ID1 = 01)
    // and each answered its client's first request after the restart with an Echo
    // challenge under a fresh Partial IV: two separate sequence records, keyed by the full
    // context identity.
    let db = ace_store::SqliteStore::open(&d.join("state-rs.sqlite")).unwrap();
    let contexts: Vec<_> = db
        .values_with_prefix(ace_server::oscore_rs::KV_PREFIX)
        .unwrap()
        .into_iter()
        .map(|(_, v)| ace_server::oscore_rs::decode_context(&v).unwrap().2)
        .collect();
    assert!(contexts.len() >= 2, "{}", contexts.len());
    assert!(contexts.iter().all(|p| p.sender_id == [0x01]));
    let seq = db.sequence_store();
    let mut recipients = Vec::new();
    for p in &contexts {
        let v = seq
            .get_context(&p.sender_id, &p.recipient_id, None)
            .unwrap();
        if v.is_some() {
            recipients.push(p.recipient_id.clone());
        }
    }
    recipients.sort();
    recipients.dedup();
    assert!(recipients.len() >= 2, "{recipients:?}");
    drop(db);

    // inspect: the token is a COSE_Encrypt0 for the RS.
    let o = ace(&["token", "inspect", d.join("client1.cwt").to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Encrypt0"), "{out}");

    as_child.kill().unwrap();
    rs_child.kill().unwrap();
    let _ = as_child.wait();
    let _ = rs_child.wait();
}
