//! `cmp_proxy`: the CoAP-to-HTTP CMP proxy from the library (the `ace` tool runs the same
//! with `ace cmp-proxy serve`, configured from flags or a `[cmp_proxy]` TOML table).
//!
//! ```sh
//! # an HTTP CMP server: the openssl 3.0 mock server (accepts only the paths "" and "pkix/")
//! openssl cmp -port 18886 -srv_secret pass:1234 -srv_ref mocksrv -rsp_cert issued.crt
//! cargo run -p cmp-coap --example cmp_proxy -- --listen 127.0.0.1:5683 \
//!     --upstream 127.0.0.1:18886 --upstream-path /pkix/ --no-map-suffix
//! coap-client-notls -m post -t 259 -b 64 -f ir.der -o ip.der coap://127.0.0.1:5683/.well-known/cmp
//! ```
//! Options: `--listen ADDR`, `--upstream ADDR`, `--upstream-path PATH` (default
//! `/.well-known/cmp`), `--no-map-suffix`, `--timeout-secs N` (upstream, default 30),
//! `--max-message-size N` (default 65536), `--max-concurrent N` (default 64),
//! `--run-secs N` (stop after N seconds; default: run until killed).

use std::process::ExitCode;
use std::time::Duration;

use cmp_coap::proxy::{self, ProxyConfig};

fn parse(args: &[String]) -> Result<(ProxyConfig, Option<u64>), String> {
    let mut c = ProxyConfig::default();
    let mut run_secs = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => c.listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--upstream" => {
                c.upstream = value()?.parse().map_err(|e| format!("--upstream: {e}"))?
            }
            "--upstream-path" => c.upstream_path = value()?,
            "--no-map-suffix" => c.map_path_suffix = false,
            "--timeout-secs" => {
                c.upstream_timeout = Duration::from_secs(
                    value()?
                        .parse()
                        .map_err(|e| format!("--timeout-secs: {e}"))?,
                );
                c.server.handler_timeout = c.upstream_timeout + c.connect_timeout;
            }
            "--max-message-size" => {
                c.server.max_message_size = value()?
                    .parse()
                    .map_err(|e| format!("--max-message-size: {e}"))?;
            }
            "--max-concurrent" => {
                c.server.max_concurrent = value()?
                    .parse()
                    .map_err(|e| format!("--max-concurrent: {e}"))?;
            }
            "--run-secs" => {
                run_secs = Some(value()?.parse().map_err(|e| format!("--run-secs: {e}"))?)
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok((c, run_secs))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (config, run_secs) = match parse(&args) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("cmp_proxy: {e}");
            return ExitCode::from(2);
        }
    };
    let upstream = config.upstream;
    let server = match proxy::bind(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cmp_proxy: {e}");
            return ExitCode::FAILURE;
        }
    };
    let handle = server.handle();
    match server.local_addr() {
        Ok(a) => {
            println!("CMP CoAP-to-HTTP proxy on coap://{a}/.well-known/cmp -> http://{upstream}")
        }
        Err(e) => eprintln!("cmp_proxy: {e}"),
    }
    if let Some(secs) = run_secs {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            handle.shutdown().await;
        });
    }
    match server.serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cmp_proxy: {e}");
            ExitCode::FAILURE
        }
    }
}
