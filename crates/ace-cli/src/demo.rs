//! `ace demo`: AS + RS on loopback with SQLite in a temp dir, a client walked through
//! token request → upload → authorized access → refused access → expiry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ace_coap::{Code, Message};
use ace_core::CreationHints;
use ace_server::local::{Local, LocalOptions};
use ace_server::{SecurityMode, StoreSink};
use ace_store::SqliteStore;
use ace_token::UnixTime;

use crate::CliError;

/// Options of `ace demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Token lifetime in seconds (the demo waits for it to pass).
    #[arg(long, default_value_t = 3)]
    pub(crate) lifetime: u64,
    /// Talk to the AS over plain CoAP (explicit insecure loopback mode) instead of OSCORE.
    #[arg(long)]
    pub(crate) insecure_as: bool,
}

struct Steps {
    n: usize,
    failed: usize,
}

impl Steps {
    fn check(&mut self, what: &str, got: &Message, want: Code) -> bool {
        self.n += 1;
        let ok = got.code == want;
        if !ok {
            self.failed += 1;
        }
        let body = if got.payload.is_empty() {
            String::new()
        } else if got.content_format() == Some(19) {
            CreationHints::decode(&got.payload).map_or_else(
                |_| format!(" ({} bytes ace+cbor)", got.payload.len()),
                |h| {
                    format!(
                        " creation hints: AS {}, audience {}",
                        h.as_uri.unwrap_or_default(),
                        h.audience.unwrap_or_default()
                    )
                },
            )
        } else if got.payload.len() <= 32 {
            format!(" \"{}\"", String::from_utf8_lossy(&got.payload))
        } else {
            format!(" ({} bytes)", got.payload.len())
        };
        println!(
            "[{}] {what:<52} -> {}{body}   {}",
            self.n,
            got.code,
            if ok { "ok" } else { "UNEXPECTED" }
        );
        ok
    }

    fn fail(&mut self, what: &str, e: &dyn std::fmt::Display) {
        self.n += 1;
        self.failed += 1;
        println!("[{}] {what:<52} -> error: {e}   UNEXPECTED", self.n);
    }
}

fn store_err(e: &ace_store::Error) -> CliError {
    CliError::Runtime(format!("SQLite: {e}"))
}

/// Runs the demo; `Ok(true)` when every step gave the expected result.
pub(crate) async fn run(args: &DemoArgs) -> Result<bool, CliError> {
    let started = Instant::now();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("ace-demo-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::Runtime(format!("cannot create {}: {e}", dir.display())))?;
    let result = run_in(args, &dir, started).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_in(
    args: &DemoArgs,
    dir: &std::path::Path,
    started: Instant,
) -> Result<bool, CliError> {
    let as_db = Arc::new(SqliteStore::open(&dir.join("as.sqlite")).map_err(|e| store_err(&e))?);
    let rs_db = Arc::new(SqliteStore::open(&dir.join("rs.sqlite")).map_err(|e| store_err(&e))?);
    let as_security = if args.insecure_as {
        SecurityMode::Insecure
    } else {
        SecurityMode::Oscore
    };
    let local = Local::start(LocalOptions {
        lifetime: args.lifetime,
        allowed_scope: "temp:r led:r counter:r".into(),
        as_store: Box::new(as_db.token_store()),
        rs_store: Box::new(rs_db.accepted_tokens().map_err(|e| store_err(&e))?),
        as_sink: Arc::new(StoreSink(as_db.clone())),
        rs_sink: Arc::new(StoreSink(rs_db.clone())),
        as_security,
        ..LocalOptions::default()
    })
    .await
    .map_err(|e| CliError::Runtime(e.to_string()))?;
    println!(
        "ACE demo (RFC 9200) on loopback; state in {}",
        dir.display()
    );
    println!(
        "  AS  coap://{}  /token /introspect   SQLite as.sqlite",
        local.as_addr
    );
    println!(
        "  RS  coap://{}  /authz-info /temp /led /big /counter   SQLite rs.sqlite",
        local.rs_addr
    );
    match as_security {
        SecurityMode::Oscore => {
            println!("  client <-> AS: OSCORE (context provisioned for the demo client)")
        }
        SecurityMode::Insecure => {
            println!("  client <-> AS: INSECURE plain CoAP on loopback (client_id + client_secret)")
        }
    }
    println!(
        "  client <-> RS: /authz-info unprotected; resources over OSCORE with a provisioned \
         context bound to the client's P-256 key (RFC 9203 key derivation: not yet wired)"
    );
    println!();
    let c = &local.client;
    let mut steps = Steps { n: 0, failed: 0 };

    let r = c.rs_get_unprotected("/temp").await;
    let hints = match r {
        Ok(m) => {
            steps.check("GET /temp without a token", &m, Code::UNAUTHORIZED);
            CreationHints::decode(&m.payload).unwrap_or_default()
        }
        Err(e) => {
            steps.fail("GET /temp without a token", &e);
            CreationHints::default()
        }
    };

    steps.n += 1;
    let info = match c.request_token(&hints, "temp:r led:r").await {
        Ok(info) => {
            let claims = ace_token::cose::parse_token(&info.token)
                .ok()
                .and_then(|(_, m)| match m {
                    ace_token::cose::CoseMessage::Sign1(s) => s.payload,
                    _ => None,
                })
                .and_then(|p| ace_token::Claims::from_cbor(&p).ok());
            let cti = claims
                .as_ref()
                .and_then(|c| c.cti.as_deref())
                .map(hex::encode)
                .unwrap_or_default();
            println!(
                "[{}] {:<52} -> 2.01 token {} bytes, cti {cti}, scope \"temp:r led:r\", \
                 expires in {} s   ok",
                steps.n,
                "POST /token (scope \"temp:r led:r\", aud rs1)",
                info.token.len(),
                info.expires_at.0.saturating_sub(UnixTime::now().0)
            );
            if let Some(c) = &claims {
                for line in crate::inspect::describe_claims(c) {
                    println!("      {line}");
                }
            }
            let issued = as_db.issued_tokens().map(|t| t.len()).unwrap_or_default();
            println!("      (the AS's SQLite store now holds {issued} issued token(s))");
            Some(info)
        }
        Err(e) => {
            steps.failed += 1;
            println!("[{}] POST /token -> error: {e}   UNEXPECTED", steps.n);
            None
        }
    };
    let Some(info) = info else {
        local.shutdown().await;
        return Ok(false);
    };

    match c.upload(&info).await {
        Ok(m) => {
            steps.check("POST /authz-info (the token)", &m, Code::CREATED);
        }
        Err(e) => steps.fail("POST /authz-info", &e),
    }
    for (what, method, path, payload, want) in [
        (
            "GET /temp over OSCORE (in scope)",
            Code::GET,
            "/temp",
            &b""[..],
            Code::CONTENT,
        ),
        (
            "GET /led over OSCORE (in scope)",
            Code::GET,
            "/led",
            &b""[..],
            Code::CONTENT,
        ),
        (
            "GET /big over OSCORE (not in scope)",
            Code::GET,
            "/big",
            &b""[..],
            Code::FORBIDDEN,
        ),
        (
            "PUT /led over OSCORE (scope allows GET only)",
            Code::PUT,
            "/led",
            &b"1"[..],
            Code::METHOD_NOT_ALLOWED,
        ),
    ] {
        match c.rs_request(method, path, payload).await {
            Ok(m) => {
                steps.check(what, &m, want);
            }
            Err(e) => steps.fail(what, &e),
        }
    }

    // Wait for the token to expire (bounded).
    let deadline = Instant::now() + Duration::from_secs(args.lifetime + 5);
    println!(
        "    ... waiting {} s for the token to expire",
        info.expires_at.0.saturating_sub(UnixTime::now().0)
    );
    while UnixTime::now() < info.expires_at && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    match c.rs_request(Code::GET, "/temp", b"").await {
        Ok(m) => {
            steps.check("GET /temp after expiry", &m, Code::UNAUTHORIZED);
        }
        Err(e) => steps.fail("GET /temp after expiry", &e),
    }
    println!();
    local.shutdown().await;
    let ok = steps.failed == 0;
    println!(
        "{} steps, {} unexpected, {:.1} s: {}",
        steps.n,
        steps.failed,
        started.elapsed().as_secs_f64(),
        if ok { "DEMO OK" } else { "DEMO FAILED" }
    );
    Ok(ok)
}
