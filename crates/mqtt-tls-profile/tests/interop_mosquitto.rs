//! Interop: Debian `mosquitto_pub` / `mosquitto_sub` (mosquitto-clients 2.0.11) against our
//! broker over TLS on 127.0.0.1 (`--cafile` = the test CA).
//!
//! These clients cannot compute the TLS exporter and cannot answer an AUTH packet, so they
//! exercise only the flows that need no proof of possession: the anonymous
//! `TLS:Anon,MQTT:None` connection with `authz-info` token uploads (RFC 9431 §2.2.2) and
//! the anonymous scope, and the refusals (CONNACK 0x87 / 0x8C / 0x82, v3.1.1 0x04 / 0x05,
//! SUBACK 0x87, PUBACK 0x87 / 0x99, DISCONNECT 0x87 / 0x99). Fails when the binaries are
//! missing (install `mosquitto-clients`).
#![cfg(feature = "broker")]

mod common;
#[path = "interop/harness.rs"]
mod harness;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::*;

const STEP: Duration = Duration::from_secs(15);
const HOW: &str = "run `cargo xtask interop`";

struct Mosq {
    pub_bin: PathBuf,
    sub_bin: PathBuf,
    port: String,
    ca: PathBuf,
}

impl Mosq {
    fn new(broker: &harness::Running, dir: &harness::TempDir) -> Self {
        let find = |n: &str| ace_interop_peers::on_path(n, "Debian `mosquitto-clients`", HOW);
        Self {
            pub_bin: find("mosquitto_pub"),
            sub_bin: find("mosquitto_sub"),
            port: broker.addr.port().to_string(),
            ca: dir.write("ca.pem", broker.pki.ca_pem.as_bytes()),
        }
    }

    fn args(&self, id: &str, args: &[&str]) -> Vec<OsString> {
        let mut v: Vec<OsString> = ["-h", "127.0.0.1", "-p", &self.port, "--cafile"]
            .into_iter()
            .map(OsString::from)
            .collect();
        v.push(self.ca.clone().into_os_string());
        v.extend(["-i", id, "-d"].into_iter().map(OsString::from));
        v.extend(args.iter().map(OsString::from));
        v
    }

    /// A peer started in the background (a live subscriber), which `ace-interop-peers` does
    /// not offer; the caller bounds its wait and `kill_on_drop` ends it.
    fn command(&self, bin: &Path, id: &str, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(bin);
        cmd.args(self.args(id, args))
            .stdin(std::process::Stdio::null());
        cmd
    }

    async fn pub_(&self, id: &str, args: &[&str]) -> Run {
        Run::from(ace_interop_peers::run_peer(&self.pub_bin, &self.args(id, args), STEP).await)
    }

    async fn sub(&self, id: &str, args: &[&str]) -> Run {
        Run::from(ace_interop_peers::run_peer(&self.sub_bin, &self.args(id, args), STEP).await)
    }
}

/// Exit status and the combined output (the `-d` debug log names every packet and code).
struct Run {
    code: Option<i32>,
    text: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        Self {
            code: o.status.code(),
            text,
        }
    }
}

impl Run {
    #[track_caller]
    fn has(&self, needle: &str) -> &Self {
        assert!(
            self.text.contains(needle),
            "expected {needle:?} (exit {:?}) in:\n{}",
            self.code,
            self.text
        );
        self
    }
    #[track_caller]
    fn lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.text.contains(needle),
            "unexpected {needle:?} in:\n{}",
            self.text
        );
        self
    }
    #[track_caller]
    fn exit(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "{}", self.text);
        self
    }
}

const V5: [&str; 2] = ["-V", "mqttv5"];
const V311: [&str; 2] = ["-V", "mqttv311"];

fn args<'a>(version: [&'a str; 2], rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = version.to_vec();
    v.extend_from_slice(rest);
    v
}

/// Token uploads to `authz-info` on an anonymous v5 connection (RFC 9431 §2.2.2): QoS 1 →
/// PUBACK 0x00 / 0x99 (not a token) / 0x87 (invalid token); QoS 0 failure → DISCONNECT
/// 0x99 / 0x87; subscribing to `authz-info` → SUBACK 0x87.
#[tokio::test]
#[ignore = "needs mosquitto-clients: run `cargo xtask interop`"]
async fn mosquitto_authz_info_uploads() {
    let broker = harness::start(config(), NOW).await;
    let dir = harness::TempDir::new("mosquitto-authz");
    let m = Mosq::new(&broker, &dir);
    let good = dir.write(
        "good.token",
        &cwt_symmetric(FIG10, NOW.saturating_add(3600)),
    );
    let expired = dir.write("old.token", &cwt_symmetric(FIG10, NOW.saturating_sub(5)));
    let (good, expired) = (good.to_str().unwrap(), expired.to_str().unwrap());

    m.pub_(
        "up1",
        &args(V5, &["-t", "authz-info", "-q", "1", "-f", good]),
    )
    .await
    .exit(0)
    .has("received CONNACK (0)")
    .has("received PUBACK (Mid: 1, RC:0)")
    .lacks("failed");
    m.pub_(
        "up2",
        &args(V5, &["-t", "authz-info", "-q", "1", "-m", "not a token"]),
    )
    .await
    .has("received PUBACK (Mid: 1, RC:153)")
    .has("Publish 1 failed: Payload format invalid");
    m.pub_(
        "up3",
        &args(V5, &["-t", "authz-info", "-q", "1", "-f", expired]),
    )
    .await
    .has("received PUBACK (Mid: 1, RC:135)")
    .has("Publish 1 failed: Not authorized");
    // QoS 0: the broker answers a bad upload with DISCONNECT; a second PUBLISH one second
    // later keeps mosquitto_pub connected long enough to read it.
    let repeat = ["--repeat", "2", "--repeat-delay", "1"];
    let mut a = args(V5, &["-t", "authz-info", "-q", "0", "-m", "garbage"]);
    a.extend_from_slice(&repeat);
    m.pub_("up4", &a).await.has("Received DISCONNECT (153)");
    let mut a = args(V5, &["-t", "authz-info", "-q", "0", "-f", expired]);
    a.extend_from_slice(&repeat);
    m.pub_("up5", &a).await.has("Received DISCONNECT (135)");
    let mut a = args(V5, &["-t", "authz-info", "-q", "0", "-f", good]);
    a.extend_from_slice(&repeat);
    m.pub_("up6", &a).await.exit(0).lacks("DISCONNECT (");
    // authz-info is publish-only (MQ-020).
    m.sub("s1", &args(V5, &["-t", "authz-info", "-C", "1", "-W", "5"]))
        .await
        .has("Subscribed (mid: 1): 135")
        .has("All subscription requests were denied");
    broker.finish().await;
}

/// CONNECT refusals that need no PoP, v5 and v3.1.1, and the limit: a data-less
/// `authentication-method ace` CONNECT for a client id with a remembered token gets the
/// Broker's AUTH challenge, which mosquitto cannot answer.
#[tokio::test]
#[ignore = "needs mosquitto-clients: run `cargo xtask interop`"]
async fn mosquitto_connect_refusals() {
    let broker = harness::start(config(), NOW).await;
    let dir = harness::TempDir::new("mosquitto-connect");
    let m = Mosq::new(&broker, &dir);
    let msg = ["-t", "t", "-m", "x"];
    let with = |extra: &[&'static str]| {
        let mut v = args(V5, &msg);
        v.extend_from_slice(extra);
        v
    };
    // Method `ace` without data and no remembered token → 0x87 (RFC 9431 §2.4.1).
    m.pub_(
        "c1",
        &with(&["-D", "connect", "authentication-method", "ace"]),
    )
    .await
    .exit(135)
    .has("received CONNACK (135)");
    // Method `ace`, data that is not `len ‖ token ‖ PoP` → 0x87.
    m.pub_(
        "c2",
        &with(&[
            "-D",
            "connect",
            "authentication-method",
            "ace",
            "-D",
            "connect",
            "authentication-data",
            "abc",
        ]),
    )
    .await
    .exit(135)
    .has("received CONNACK (135)");
    // Another method → 0x8C (RFC 9431 §2.2.4.2).
    m.pub_(
        "c3",
        &with(&["-D", "connect", "authentication-method", "other"]),
    )
    .await
    .exit(140)
    .has("received CONNACK (140)")
    .has("Bad authentication method");
    // Authentication Data without Method → 0x82 (MQTT v5 §3.1.2.11.10).
    m.pub_(
        "c4",
        &with(&["-D", "connect", "authentication-data", "abc"]),
    )
    .await
    .exit(130)
    .has("received CONNACK (130)");
    // v5 User Name / Password without the ace method → 0x87.
    m.pub_("c5", &with(&["-u", "user", "-P", "pw"]))
        .await
        .exit(135)
        .has("received CONNACK (135)");
    // v3.1.1 (RFC 9431 §6): Username "ace" ‖ base64url(token) with a wrong PoP → 0x05;
    // a Username without the prefix → 0x04; no Username → 0x05.
    let user =
        mqtt_tls_profile::client::v311_username(&cwt_ed25519(FIG10, NOW.saturating_add(3600)));
    m.pub_(
        "c6",
        &args(V311, &["-t", "t", "-m", "x", "-u", &user, "-P", "wrong"]),
    )
    .await
    .exit(5)
    .has("received CONNACK (5)")
    .has("not authorised");
    m.pub_(
        "c7",
        &args(V311, &["-t", "t", "-m", "x", "-u", "bob", "-P", "pw"]),
    )
    .await
    .exit(4)
    .has("received CONNACK (4)");
    m.pub_("c8", &args(V311, &msg))
        .await
        .exit(5)
        .has("received CONNACK (5)");
    // Remembered token (MQ-T8): our Rust client proves possession as "known", then mosquitto
    // connects as "known" with method ace and no data; the broker sends AUTH 0x18 with its
    // nonce, and mosquitto (no extended-auth support in the CLI) drops the connection.
    let (keep, code) = harness::rust_login(
        broker.addr,
        &broker.pki.ca_der,
        "known",
        &cwt_ed25519(FIG10, NOW.saturating_add(3600)),
        &ed_client(),
    )
    .await;
    assert_eq!(code, 0);
    drop(keep);
    let r = m
        .pub_(
            "known",
            &with(&["-D", "connect", "authentication-method", "ace"]),
        )
        .await;
    r.has("received AUTH").lacks("received CONNACK");
    assert_ne!(r.code, Some(0), "{}", r.text);
    broker.finish().await;
}

/// The anonymous `TLS:Anon,MQTT:None` connection with an anonymous scope (here `public/#`,
/// pub+sub): mosquitto publishes and subscribes through our pub/sub core; outside that
/// scope PUBLISH gets PUBACK 0x87 and SUBSCRIBE SUBACK 0x87.
#[tokio::test]
#[ignore = "needs mosquitto-clients: run `cargo xtask interop`"]
async fn mosquitto_anonymous_scope_pubsub() {
    let mut auth = config();
    auth.anonymous_scope = scope(r#"[["public/#",["pub","sub"]]]"#);
    let broker = harness::start(auth, NOW).await;
    let dir = harness::TempDir::new("mosquitto-anon");
    let m = Mosq::new(&broker, &dir);
    m.pub_("p1", &args(V5, &["-t", "topic1", "-q", "1", "-m", "x"]))
        .await
        .has("received PUBACK (Mid: 1, RC:135)")
        .has("Publish 1 failed: Not authorized");
    m.sub("s1", &args(V5, &["-t", "topic1", "-C", "1", "-W", "5"]))
        .await
        .has("Subscribed (mid: 1): 135");
    // Retained QoS 1, then a subscriber (v5 and v3.1.1) gets it.
    m.pub_(
        "p2",
        &args(V5, &["-t", "public/r", "-q", "1", "-r", "-m", "kept"]),
    )
    .await
    .exit(0)
    .has("received PUBACK (Mid: 1, RC:0)");
    for (id, v) in [("s2", V5)] {
        m.sub(
            id,
            &args(
                v,
                &["-t", "public/#", "-q", "1", "-C", "1", "-W", "5", "-v"],
            ),
        )
        .await
        .exit(0)
        .has("public/r kept");
    }
    // Live delivery at every QoS: a subscriber is started, publications repeat until it has
    // one message (bounded).
    for qos in ["0", "1", "2"] {
        let topic = format!("public/live{qos}");
        let mut sub = m.command(
            &m.sub_bin,
            &format!("live{qos}"),
            &args(V5, &["-t", &topic, "-q", qos, "-C", "1", "-W", "10", "-v"]),
        );
        sub.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let child = sub.spawn().unwrap();
        let waiter = tokio::spawn(child.wait_with_output());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !waiter.is_finished() && tokio::time::Instant::now() < deadline {
            let body = format!("hello{qos}");
            m.pub_("lp", &args(V5, &["-t", &topic, "-q", qos, "-m", &body]))
                .await
                .exit(0);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let out = Run::from(
            tokio::time::timeout(Duration::from_secs(5), waiter)
                .await
                .expect("mosquitto_sub did not exit")
                .unwrap()
                .unwrap(),
        );
        out.exit(0).has(&format!("{topic} hello{qos}"));
    }
    broker.finish().await;
}
