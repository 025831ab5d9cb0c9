//! Debian's `mosquitto` as a child process: generated config (TLS listener on 127.0.0.1,
//! anonymous, no authorization), bounded start-up, killed on drop.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long mosquitto may take to accept TCP connections.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// The `mosquitto` binary: on `PATH`, else `/usr/sbin/mosquitto` (not on a non-root `PATH`).
pub(super) fn find() -> Result<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("mosquitto"))
            .find(|p| is_executable(p))
    });
    let sbin = Path::new("/usr/sbin/mosquitto");
    match on_path {
        Some(p) => Ok(p),
        None if is_executable(sbin) => Ok(sbin.to_path_buf()),
        None => bail!(
            "`mosquitto` not found (looked on PATH and at /usr/sbin/mosquitto). The load \
             comparison needs Debian's mosquitto 2.x: `apt-get install -y mosquitto` (the \
             package does not need its daemon running; the load tool starts its own)."
        ),
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// First line of `mosquitto -h` ("mosquitto version 2.0.11").
pub(super) fn version(bin: &Path) -> String {
    Command::new(bin)
        .arg("-h")
        .stdin(Stdio::null())
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "mosquitto (version unknown)".to_owned())
}

/// A running mosquitto; killed (and reaped) on drop.
pub(super) struct Mosquitto {
    child: Child,
    log: PathBuf,
}

impl Mosquitto {
    /// Writes `mosquitto.conf` into `dir` (which already holds `ca.pem`, `server.pem`,
    /// `server.key`) and starts mosquitto on `127.0.0.1:port`, waiting until it accepts TCP.
    /// `nodelay` adds `set_tcp_nodelay true` (the default is Nagle on).
    pub(super) fn start(bin: &Path, dir: &Path, port: u16, nodelay: bool) -> Result<Self> {
        let mut conf = String::new();
        // Started as root, mosquitto 2 drops to user `mosquitto` unless told otherwise.
        let me = std::fs::metadata(dir.join("ca.pem"))?.uid();
        if me == 0 {
            conf.push_str("user root\n");
        }
        conf.push_str(
            "per_listener_settings false\n\
             persistence false\n\
             log_dest stderr\n\
             log_type error\n\
             log_type warning\n\
             connection_messages false\n\
             allow_anonymous true\n",
        );
        let _ = writeln!(conf, "set_tcp_nodelay {nodelay}");
        let _ = writeln!(conf, "listener {port} 127.0.0.1");
        conf.push_str("protocol mqtt\n");
        for (k, f) in [
            ("cafile", "ca.pem"),
            ("certfile", "server.pem"),
            ("keyfile", "server.key"),
        ] {
            let _ = writeln!(conf, "{k} {}", dir.join(f).display());
        }
        let conf_path = dir.join("mosquitto.conf");
        std::fs::write(&conf_path, conf)?;
        let log = dir.join("mosquitto.log");
        let log_file = std::fs::File::create(&log)?;
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut m = Self { child, log };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        loop {
            if let Some(status) = m.child.try_wait()? {
                bail!("mosquitto exited at start ({status}): {}", m.log_text());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(m);
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "mosquitto did not listen on {addr} within {START_TIMEOUT:?}: {}",
                    m.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its log (errors and warnings only), for error messages.
    pub(super) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether it is still running.
    pub(super) fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
