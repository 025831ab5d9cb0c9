//! [`EffectSink`] over `ace-store`'s SQLite store.

use std::sync::Arc;

use ace_core::{AsEffect, RsEffect};
use ace_store::SqliteStore;

use crate::sink::{EffectSink, LogEffects, PersistError};

/// Writes effects to a [`SqliteStore`] (`apply_as_effects` / `apply_rs_effects`, which also
/// report a failed write of the engine's own store calls) and logs them like [`LogEffects`].
#[derive(Clone)]
pub struct StoreSink(pub Arc<SqliteStore>);

impl core::fmt::Debug for StoreSink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StoreSink").finish_non_exhaustive()
    }
}

impl EffectSink for StoreSink {
    fn as_effects(&self, effects: &[AsEffect]) -> Result<(), PersistError> {
        self.0
            .apply_as_effects(effects)
            .map_err(|e| PersistError(e.to_string()))?;
        LogEffects.as_effects(effects)
    }

    fn rs_effects(&self, effects: &[RsEffect]) -> Result<(), PersistError> {
        self.0
            .apply_rs_effects(effects)
            .map_err(|e| PersistError(e.to_string()))?;
        LogEffects.rs_effects(effects)
    }
}
