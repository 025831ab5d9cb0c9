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
        } else if got.content_format() == Some(19) && got.code == Code::UNAUTHORIZED {
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
        } else if got.content_format() == Some(19) {
            format!(" ({} bytes ace+cbor)", got.payload.len())
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
///
/// The client ↔ RS channel is the OSCORE profile of ACE (RFC 9203): the token request
/// returns OSCORE Input Material, the unprotected `/authz-info` exchanges nonces and
/// Recipient IDs, and both sides derive the context that protects the resource requests.
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
        "  client <-> RS: OSCORE profile of ACE (RFC 9203): COSE_Encrypt0 token with \
         cnf.osc (AS <-> RS share the token key); /authz-info unprotected (nonce1/nonce2, \
         Recipient IDs); resources over the OSCORE context derived from the token"
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
            let envelope = match ace_token::cose::parse_token(&info.token) {
                Ok((_, ace_token::cose::CoseMessage::Encrypt0(_))) => {
                    "COSE_Encrypt0 (claims readable by the RS only)"
                }
                Ok(_) => "not COSE_Encrypt0",
                Err(_) => "unparsable",
            };
            let material = info.osc.clone();
            let ok = envelope.starts_with("COSE_Encrypt0")
                && material
                    .as_ref()
                    .is_some_and(|m| m.id.is_some() && m.ms.is_some());
            if !ok {
                steps.failed += 1;
            }
            println!(
                "[{}] {:<52} -> 2.01 token {} bytes, {envelope}, scope \"temp:r led:r\", \
                 expires in {} s   {}",
                steps.n,
                "POST /token (scope \"temp:r led:r\", aud rs1)",
                info.token.len(),
                info.expires_at.0.saturating_sub(UnixTime::now().0),
                if ok { "ok" } else { "UNEXPECTED" }
            );
            if let Some(m) = &material {
                println!(
                    "      cnf.osc OSCORE_Input_Material: id {}, ms {} bytes (not shown), \
                     salt {}, alg {}, contextId {}",
                    m.id.as_deref().map(hex::encode).unwrap_or_default(),
                    m.ms.as_ref().map_or(0, |k| k.expose().len()),
                    m.salt.as_deref().map_or_else(|| "none".into(), hex::encode),
                    m.alg.as_ref().map_or_else(
                        || "default (AES-CCM-16-64-128)".into(),
                        |a| format!("{a:?}")
                    ),
                    m.context_id
                        .as_deref()
                        .map_or_else(|| "none".into(), hex::encode),
                );
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

    match c.upload_oscore(&info).await {
        Ok((m, ex)) => {
            if steps.check(
                "POST /authz-info {token, nonce1, ace_client_recipientid}",
                &m,
                Code::CREATED,
            ) {
                match ex {
                    Some(ex) => {
                        println!(
                            "      client: nonce1 {}, ID1 (client Recipient ID) {}",
                            hex::encode(&ex.nonce1),
                            hex::encode(&ex.client_recipient_id)
                        );
                        println!(
                            "      RS:     nonce2 {}, ID2 (RS Recipient ID) {}",
                            hex::encode(&ex.nonce2),
                            hex::encode(&ex.server_recipient_id)
                        );
                        println!(
                            "      context derived from the token's OSCORE_Input_Material \
                             (id {}): Master Salt = bstr(N1) || bstr(N2) = {}; client \
                             Sender ID {} / Recipient ID {}",
                            hex::encode(&ex.material_id),
                            hex::encode(&ex.master_salt),
                            hex::encode(&ex.server_recipient_id),
                            hex::encode(&ex.client_recipient_id)
                        );
                        let bound = local.rs_service.oscore_profile().and_then(|o| {
                            o.channel_identity(&ex.server_recipient_id, None, UnixTime::now())
                        });
                        let want = Some(ace_core::ChannelIdentity::PskIdentity(
                            ex.material_id.clone(),
                        ));
                        let ok = bound == want && ex.nonce1 != ex.nonce2;
                        if !ok {
                            steps.failed += 1;
                        }
                        println!(
                            "      RS installed the context; requests over it are bound to \
                             the token (material id {})   {}",
                            hex::encode(&ex.material_id),
                            if ok { "ok" } else { "UNEXPECTED" }
                        );
                    }
                    None => {
                        steps.failed += 1;
                        println!("      no RFC 9203 parameters in the answer   UNEXPECTED");
                    }
                }
            }
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
    // The RS's maintenance drops expired tokens and their OSCORE contexts (every second).
    let drop_deadline = Instant::now() + Duration::from_secs(3);
    let channels = || {
        local
            .rs_service
            .oscore_profile()
            .map_or(usize::MAX, |o| o.channel_count())
    };
    while channels() != 0 && Instant::now() < drop_deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    steps.n += 1;
    let dropped = channels() == 0;
    if !dropped {
        steps.failed += 1;
    }
    println!(
        "[{}] {:<52} -> {} OSCORE context(s) left   {}",
        steps.n,
        "RS drops the context of the expired token",
        channels(),
        if dropped { "ok" } else { "UNEXPECTED" }
    );
    match c.rs_request(Code::GET, "/temp", b"").await {
        Ok(m) => {
            steps.check(
                "GET /temp after expiry (context dropped with the token)",
                &m,
                Code::UNAUTHORIZED,
            );
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
