//! The crate's error type and its mapping to the error types of the traits it implements.

/// A boxed source error (the SQLite error, kept out of the public API).
pub type BoxError = Box<dyn core::error::Error + Send + Sync + 'static>;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// SQLite reported an error (I/O, locking, constraint, a full disk).
    #[error("database error")]
    Database(#[source] BoxError),
    /// The database file was written by a newer version of this crate.
    #[error("schema version {found} is newer than the supported version {supported}")]
    SchemaTooNew {
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// The last migration this build knows.
        supported: i64,
    },
    /// A migration failed (the transaction was rolled back; the file is unchanged).
    #[error("migration to schema version {version} failed")]
    Migration {
        /// The version whose migration failed.
        version: i64,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// A stored value does not decode (the file was changed outside this crate).
    #[error("stored value does not decode: {0}")]
    Corrupt(&'static str),
    /// A value cannot be encoded for storage (a variant this version does not know how to
    /// store, or an unencodable nested value).
    #[error("value cannot be stored: {0}")]
    Unencodable(&'static str),
    /// A number does not fit SQLite's signed 64-bit integers.
    #[error("number out of range: {0}")]
    OutOfRange(&'static str),
    /// An issued token with this `cti` is already stored.
    #[error("duplicate cti")]
    DuplicateCti,
    /// An effect refers to data that is not in the store, and the effect alone does not carry
    /// enough to write it (an `RsEffect::TokenStored` whose token was not written through a
    /// [`crate::SqliteAcceptedTokens`]).
    #[error("not persisted: {0}")]
    NotPersisted(&'static str),
    /// An earlier write made through a trait method that cannot return errors
    /// (`TokenStore::revoke`, `AcceptedTokenStore::insert`, …) failed; reported by the next
    /// [`crate::SqliteStore::check`] / `apply_*_effects` call.
    #[error("an earlier write-through failed")]
    WriteThroughFailed(#[source] Box<Error>),
}

impl Error {
    /// A short static description (for [`ace_core::Error::Store`], which carries a
    /// `&'static str`). Never contains stored data.
    #[must_use]
    pub fn as_static_str(&self) -> &'static str {
        match self {
            Self::Database(_) => "sqlite error",
            Self::SchemaTooNew { .. } => "schema too new",
            Self::Migration { .. } => "migration failed",
            Self::Corrupt(_) => "stored value does not decode",
            Self::Unencodable(_) => "value cannot be stored",
            Self::OutOfRange(_) => "number out of range",
            Self::DuplicateCti => "duplicate cti",
            Self::NotPersisted(_) => "effect not persisted",
            Self::WriteThroughFailed(_) => "earlier write-through failed",
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Self::Database(Box::new(e))
    }
}

impl From<Error> for ace_core::Error {
    fn from(e: Error) -> Self {
        ace_core::Error::Store(e.as_static_str())
    }
}

impl From<Error> for ace_oscore::sequence::PersistError {
    fn from(_: Error) -> Self {
        ace_oscore::sequence::PersistError
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_ace_core_store_error() {
        let all = [
            Error::Database("x".into()),
            Error::SchemaTooNew {
                found: 9,
                supported: 2,
            },
            Error::Migration {
                version: 2,
                source: "x".into(),
            },
            Error::Corrupt("scope"),
            Error::Unencodable("credential"),
            Error::OutOfRange("exp"),
            Error::DuplicateCti,
            Error::NotPersisted("rs token"),
            Error::WriteThroughFailed(Box::new(Error::DuplicateCti)),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for e in all {
            let s = e.as_static_str();
            assert!(seen.insert(s), "two variants map to {s}");
            assert_eq!(ace_core::Error::from(e), ace_core::Error::Store(s));
        }
        assert_eq!(
            ace_oscore::sequence::PersistError::from(Error::DuplicateCti),
            ace_oscore::sequence::PersistError
        );
    }
}
