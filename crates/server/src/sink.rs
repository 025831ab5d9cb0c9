//! Where engine effects go before a response leaves.

use ace_core::{AsEffect, RsEffect};

/// An effect could not be made durable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct PersistError(pub String);

/// Persists the effects an engine call returned, synchronously, before the shell answers.
///
/// The engines already applied every change to their own store (the working view; an
/// `ace-store` store writes there durably). A sink records what the stores do not hold:
/// the AS `exi` sequence numbers and the RS's highest expired `exi` number, and it is the
/// audit log.
pub trait EffectSink: Send + Sync {
    /// AS effects.
    ///
    /// # Errors
    /// [`PersistError`]: the shell answers 5.00 instead of the response.
    fn as_effects(&self, effects: &[AsEffect]) -> Result<(), PersistError>;
    /// RS effects.
    ///
    /// # Errors
    /// [`PersistError`]: the shell answers 5.00 instead of the response.
    fn rs_effects(&self, effects: &[RsEffect]) -> Result<(), PersistError>;
}

/// Logs effects (token `cti`s only, never token bytes or keys) and persists nothing beyond
/// what the engines' stores hold. `exi` sequence numbers are therefore not kept across
/// restarts with this sink.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogEffects;

pub(crate) fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn opt_hex(b: Option<&Vec<u8>>) -> String {
    b.map_or_else(|| "-".to_owned(), |b| hex(b))
}

impl EffectSink for LogEffects {
    fn as_effects(&self, effects: &[AsEffect]) -> Result<(), PersistError> {
        for e in effects {
            match e {
                AsEffect::TokenIssued(t) => tracing::info!(
                    cti = %hex(&t.cti),
                    client = %t.client_id,
                    aud = %t.audience,
                    "token issued"
                ),
                AsEffect::ExiSequence { audience, seq } => {
                    tracing::debug!(%audience, seq, "exi sequence advanced");
                }
                AsEffect::TokenRevoked { cti } => tracing::info!(cti = %hex(cti), "token revoked"),
                AsEffect::TokensExpired { ctis } => {
                    tracing::debug!(count = ctis.len(), "issued tokens expired");
                }
                _ => tracing::debug!("other AS effect"),
            }
        }
        Ok(())
    }

    fn rs_effects(&self, effects: &[RsEffect]) -> Result<(), PersistError> {
        for e in effects {
            match e {
                RsEffect::TokenStored { cti, .. } => {
                    tracing::info!(cti = %opt_hex(cti.as_ref()), "token stored");
                }
                RsEffect::TokenSuperseded { cti } => {
                    tracing::info!(cti = %opt_hex(cti.as_ref()), "token superseded");
                }
                RsEffect::TokenEvicted { cti } => {
                    tracing::info!(cti = %opt_hex(cti.as_ref()), "token evicted");
                }
                RsEffect::TokenExpired { cti } => {
                    tracing::info!(cti = %opt_hex(cti.as_ref()), "token expired");
                }
                RsEffect::ExiHighestExpired(n) => tracing::debug!(n, "exi highest expired"),
                _ => tracing::debug!("other RS effect"),
            }
        }
        Ok(())
    }
}
