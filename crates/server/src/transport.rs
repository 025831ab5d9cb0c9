//! Binding CoAP servers, and the rule for unprotected CoAP.

use std::net::SocketAddr;

use ace_coap::{Config, Endpoint, Router, SecurityLayer, Server};
use ace_token::crypto::Rng;

use crate::error::{Error, Result};

/// How a CoAP service protects its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityMode {
    /// OSCORE with contexts from the registry / configuration (the default).
    #[default]
    Oscore,
    /// Plain CoAP: no protection and no client authentication by the channel. Only on
    /// loopback, logged as a warning (architecture.md, "Secure channels").
    Insecure,
}

/// Refuses the insecure mode on a non-loopback address and logs the warning otherwise.
///
/// # Errors
/// [`Error::InsecureNotLoopback`].
pub fn check_insecure_allowed(addr: SocketAddr, service: &str) -> Result<()> {
    if !addr.ip().is_loopback() {
        return Err(Error::InsecureNotLoopback { addr });
    }
    tracing::warn!(
        %addr,
        service,
        "INSECURE mode: plain CoAP without OSCORE; clients are not authenticated by the channel"
    );
    Ok(())
}

/// Binds a UDP socket and wraps it in an `ace-coap` [`Server`] with `security` (constructors
/// never spawn: run [`Server::serve`]). The endpoint's RNG is seeded from the OS.
///
/// # Errors
/// [`Error::AddressInUse`], [`Error::Bind`].
pub async fn bind_coap<S: SecurityLayer>(
    addr: SocketAddr,
    config: Config,
    router: Router,
    security: S,
) -> Result<Server<S>> {
    let socket = tokio::net::UdpSocket::bind(addr)
        .await
        .map_err(|e| Error::bind(addr, e))?;
    let mut seed = [0u8; 32];
    ace_token::crypto::os_rng().fill_bytes(&mut seed);
    Ok(Server::from_socket(
        socket,
        Endpoint::with_security(config, router, security, seed),
    ))
}
