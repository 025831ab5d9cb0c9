//! `ace`: the command line tool of the ACE workspace (see the crate README for the commands,
//! the configuration reference and the exit codes).

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod bench;
mod broker;
mod cmp_proxy;
mod config;
mod demo;
mod inspect;
mod keys;
mod revoke;
mod serve;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Errors, each with its exit code.
#[derive(Debug)]
pub(crate) enum CliError {
    /// 1: a runtime failure.
    Runtime(String),
    /// 2: bad command line.
    Usage(String),
    /// 2: bad configuration (TOML, unknown field, invalid value).
    Config(String),
    /// 3: the address is in use or cannot be bound.
    AddressInUse(String),
    /// 4: a key file is missing, unreadable or not the expected key.
    KeyFile(String),
}

impl CliError {
    fn code(&self) -> u8 {
        match self {
            Self::Runtime(_) => 1,
            Self::Usage(_) | Self::Config(_) => 2,
            Self::AddressInUse(_) => 3,
            Self::KeyFile(_) => 4,
        }
    }

    fn message(&self) -> &str {
        match self {
            Self::Runtime(m)
            | Self::Usage(m)
            | Self::Config(m)
            | Self::AddressInUse(m)
            | Self::KeyFile(m) => m,
        }
    }
}

/// ACE (RFC 9200) for constrained IoT: run the AS and RS, request and inspect tokens.
#[derive(Debug, Parser)]
#[command(name = "ace", version, about)]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax, e.g. `info`, `ace_server=debug`); `RUST_LOG`
    /// wins when set.
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The Authorization Server.
    #[command(name = "as", subcommand)]
    As(AsCmd),
    /// The Resource Server.
    #[command(subcommand)]
    Rs(ServeCmd),
    /// Tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// The MQTT broker of RFC 9431 (ACE for MQTT over TLS).
    #[command(subcommand)]
    Broker(BrokerCmd),
    /// A client of the configured RS.
    #[command(subcommand)]
    Client(ClientCmd),
    /// AS + RS on loopback with SQLite in a temp dir, and a client walked through token
    /// request, upload, access, refusals and expiry. Exit 0 only if every step is as expected.
    Demo(demo::DemoArgs),
    /// Loopback load tool: token issuance/s and authorized requests/s (AS + RS in-process), and the engine-only rates.
    Bench(bench::BenchArgs),
    /// CMP over CoAP (RFC 9482): the CoAP-to-HTTP CMP proxy.
    #[command(name = "cmp-proxy", subcommand)]
    CmpProxy(cmp_proxy::CmpProxyCmd),
}

/// `ace as …`: serving, and administration of the running (or stopped) AS.
#[derive(Debug, Subcommand)]
enum AsCmd {
    #[command(flatten)]
    Serve(ServeCmd),
    /// Revoke a token (RFC 9770 TRL): queued for the running AS, or written to its
    /// database when it is not running. Logs the cti / token hash, never the token.
    Revoke(revoke::RevokeArgs),
}

#[derive(Debug, Subcommand)]
enum ServeCmd {
    /// Serve until ctrl-c.
    Serve {
        /// The TOML configuration.
        #[arg(long, short)]
        config: PathBuf,
        /// CoAP address (overrides the file).
        #[arg(long)]
        coap: Option<SocketAddr>,
        /// Plain CoAP without OSCORE (AS only; loopback only).
        #[arg(long)]
        insecure: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BrokerCmd {
    /// Serve MQTT over TLS until ctrl-c (graceful: DISCONNECT 0x8B).
    Serve {
        /// The TOML configuration (`[broker]` table).
        #[arg(long, short)]
        config: PathBuf,
        /// Listen address (overrides the file).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCmd {
    /// Request a token from the AS of the `[client]` table (over OSCORE).
    Request {
        /// The TOML configuration.
        #[arg(long, short)]
        config: PathBuf,
        /// Scope (space-separated scope tokens).
        #[arg(long)]
        scope: String,
        /// Also POST it to the RS's /authz-info.
        #[arg(long)]
        upload: bool,
    },
    /// Pretty-print a CWT or JWT and its checks.
    Inspect(inspect::InspectArgs),
}

#[derive(Debug, Subcommand)]
enum KeysCmd {
    /// Write a new key as a COSE_Key CBOR file (never overwrites).
    Generate {
        /// Key kind.
        #[arg(long, value_enum)]
        kind: keys::KeyKind,
        /// Output file (a P-256 key also writes `<out>.pub.cose`).
        #[arg(long, short)]
        out: PathBuf,
        /// `kid`.
        #[arg(long)]
        kid: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ClientCmd {
    /// GET a resource over OSCORE from the RS of the `[client]` table.
    Get {
        /// The TOML configuration.
        #[arg(long, short)]
        config: PathBuf,
        /// Path, e.g. `/temp`.
        path: String,
    },
}

fn init_logs(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::As(AsCmd::Revoke(args)) => revoke::run(&args).await?,
        Command::As(AsCmd::Serve(ServeCmd::Serve {
            config,
            coap,
            insecure,
        })) => {
            let cfg = config::Config::load(&config)?;
            serve::as_serve(&cfg, coap, insecure).await?;
        }
        Command::Rs(ServeCmd::Serve {
            config,
            coap,
            insecure,
        }) => {
            if insecure {
                return Err(CliError::Usage(
                    "the RS has no insecure mode (its resources need the OSCORE identity)".into(),
                ));
            }
            let cfg = config::Config::load(&config)?;
            serve::rs_serve(&cfg, coap).await?;
        }
        Command::Token(TokenCmd::Request {
            config,
            scope,
            upload,
        }) => {
            let cfg = config::Config::load(&config)?;
            serve::token_request(&cfg, &scope, upload).await?;
        }
        Command::Token(TokenCmd::Inspect(args)) => {
            let (text, ok) = inspect::inspect(&args)?;
            print!("{text}");
            if !ok {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Keys(KeysCmd::Generate { kind, out, kid }) => {
            for f in keys::generate(kind, &out, kid.as_deref())? {
                println!("wrote {f}");
            }
        }
        Command::Client(ClientCmd::Get { config, path }) => {
            let cfg = config::Config::load(&config)?;
            let code = serve::client_get(&cfg, &path).await?;
            if !code.is_success() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Broker(BrokerCmd::Serve { config, listen }) => {
            let file = broker::BrokerFile::load(&config)?;
            broker::serve(&file, listen).await?;
        }
        Command::Bench(args) => bench::run(&args).await?,
        Command::CmpProxy(cmd) => cmp_proxy::run(cmd).await?,
        Command::Demo(args) => {
            if !demo::run(&args).await? {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(&cli.log);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ace: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ace: {}", e.message());
            ExitCode::from(e.code())
        }
    }
}
