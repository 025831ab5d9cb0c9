//! OSCORE security contexts whose Sender Sequence Number survives restarts (RFC 8613
//! Appendix B.1), for every `ace` service that answers OSCORE requests: `ace as serve`,
//! `ace cmp-proxy serve`, and the client side of `ace token request`.
//!
//! The records live in the service's SQLite file (`ace_store::SqliteStore::sequence_store`),
//! one per (Sender ID, Recipient ID, ID Context). `OscoreLayer` / `OscoreClient` built over
//! the same store reserve blocks of sequence numbers in it before they are used, so that a
//! process killed at any point (kill -9) restarts after every number it may have sent.

use ace_oscore::{ContextParams, SecurityContext, SequenceStore as _};
use ace_store::SqliteStore;
use ace_token::RustCrypto;
use ace_token::crypto::Rng as _;

use crate::CliError;

/// A context with Master Secret `secret` (no Master Salt, no ID Context) that continues
/// after the persisted sequence number (RFC 8613 B.1.1) and asks the first request to prove
/// freshness with Echo (B.1.2) when state was persisted before. Sequence records are per
/// (Sender ID, Recipient ID, ID Context), so any number of peers of one service keep
/// separate records.
///
/// A context without a record gets one (value 0, the number it starts at) before it is
/// used: a context that has only answered requests (responses reuse the request's nonce, so
/// no sequence number is reserved) has lost its replay window at a restart as well, and
/// without the record it would come back as new and accept a replay of any request from
/// before the restart.
///
/// # Errors
/// [`CliError::Runtime`] when the SQLite file cannot be read, [`CliError::Config`] when the
/// parameters do not make a context.
pub(crate) fn context(
    db: &SqliteStore,
    secret: &[u8],
    sender: &[u8],
    recipient: &[u8],
) -> Result<SecurityContext<RustCrypto>, CliError> {
    let params = ContextParams::new(secret, b"", sender, recipient);
    let persisted = db
        .sequence_store()
        .get_context(sender, recipient, None)
        .map_err(|e| CliError::Runtime(format!("SQLite: {e}")))?;
    let ctx = match persisted {
        Some(n) => {
            let mut echo = [0u8; 8];
            ace_token::crypto::os_rng().fill_bytes(&mut echo);
            SecurityContext::restore(RustCrypto, params, n, &echo)
        }
        None => {
            db.sequence_store()
                .persist_context(sender, recipient, None, 0)
                .map_err(|e| CliError::Runtime(format!("SQLite: {e}")))?;
            SecurityContext::new(RustCrypto, params)
        }
    };
    ctx.map_err(|e| CliError::Config(format!("OSCORE context: {e}")))
}

/// A client-only context (it sends requests and never answers any, so it keeps no replay
/// window and needs no Echo): continues after the Sender Sequence Number persisted for
/// (`params.sender_id`, `params.recipient_id`, `params.id_context`) in `db` (RFC 8613
/// Appendix B.1.1), or starts at 0 when none was.
///
/// # Errors
/// [`CliError::Runtime`] when the SQLite file cannot be read, [`CliError::Config`] when the
/// parameters do not make a context.
pub(crate) fn client_context(
    db: &SqliteStore,
    params: ContextParams,
) -> Result<SecurityContext<RustCrypto>, CliError> {
    let persisted = db
        .sequence_store()
        .get_context(
            &params.sender_id,
            &params.recipient_id,
            params.id_context.as_deref(),
        )
        .map_err(|e| CliError::Runtime(format!("SQLite: {e}")))?;
    match persisted {
        Some(n) => SecurityContext::restore_without_echo(RustCrypto, params, n),
        None => SecurityContext::new(RustCrypto, params),
    }
    .map_err(|e| CliError::Config(format!("OSCORE context: {e}")))
}
