//! The schema and its versioned migrations.
//!
//! The version is SQLite's `PRAGMA user_version` (0 for a new file). Opening a store applies
//! every migration above the file's version, each in its own transaction together with the
//! `user_version` update, so a crash mid-migration leaves the previous version intact. A file
//! with a version above [`LATEST_VERSION`] is refused ([`crate::Error::SchemaTooNew`]).
//!
//! Columns marked **secret** hold key material; they are never logged by this crate, and the
//! database file should be readable by the service user only.

use rusqlite::Connection;

use crate::error::{Error, Result};

/// One schema migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// The `user_version` after this migration.
    pub version: i64,
    /// What it adds.
    pub description: &'static str,
    /// The SQL, run in one transaction.
    pub sql: &'static str,
}

/// Every migration, in order; the position + 1 is the version.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "AS issued tokens, RS accepted tokens, engine counters",
        sql: "
CREATE TABLE as_tokens (
    cti         BLOB PRIMARY KEY NOT NULL,
    token       BLOB NOT NULL,
    client_id   TEXT NOT NULL,
    audience    TEXT NOT NULL,
    scope_kind  INTEGER NOT NULL,          -- 0 text, 1 binary
    scope       BLOB NOT NULL,
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER,
    exi         INTEGER,
    ends_at     INTEGER,                   -- exp, or iat + exi (clamped); NULL: never
    cnf         BLOB,                      -- secret: CBOR cnf map (may hold the PoP key)
    ace_profile INTEGER NOT NULL,
    cnonce      BLOB,
    revoked     INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX as_tokens_token ON as_tokens(token);
CREATE INDEX as_tokens_ends_at ON as_tokens(ends_at) WHERE revoked = 0;

CREATE TABLE rs_tokens (
    binding_kind INTEGER NOT NULL,         -- 0 kid, 1 raw public key
    binding      BLOB NOT NULL,
    subject      BLOB NOT NULL,
    cti          BLOB,
    scope_kind   INTEGER NOT NULL,
    scope        BLOB NOT NULL,
    permissions  BLOB NOT NULL,            -- AIF-REST CBOR
    pop_key      BLOB,                     -- secret: COSE_Key (a symmetric key is the PSK)
    expires_at   INTEGER,
    exi_seq      INTEGER,
    ace_profile  INTEGER,
    received_at  INTEGER NOT NULL,
    serial       INTEGER NOT NULL,
    PRIMARY KEY (binding_kind, binding)
) STRICT;

CREATE TABLE as_exi_sequences (
    audience TEXT PRIMARY KEY NOT NULL,
    seq      INTEGER NOT NULL
) STRICT;

CREATE TABLE engine_state (
    name  TEXT PRIMARY KEY NOT NULL,       -- e.g. 'rs.exi_highest_expired'
    value INTEGER NOT NULL
) STRICT;
",
    },
    Migration {
        version: 2,
        description: "AS registry and policy, OSCORE sequence numbers, key-value table",
        sql: "
CREATE TABLE clients (
    id                   TEXT PRIMARY KEY NOT NULL,
    grant_types          BLOB NOT NULL,    -- CBOR [int]
    profiles             BLOB NOT NULL,    -- CBOR [int]
    default_audience     TEXT,
    default_scope_kind   INTEGER,
    default_scope        BLOB,
    introspect_audiences BLOB              -- CBOR [text]; NULL: may not introspect
) STRICT;

CREATE TABLE client_credentials (
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    kind      INTEGER NOT NULL,            -- 0 secret (secret), 1 PSK identity, 2 public key
    value     BLOB NOT NULL,
    PRIMARY KEY (client_id, position)
) STRICT;
CREATE INDEX client_credentials_value ON client_credentials(kind, value);

CREATE TABLE resource_servers (
    audience           TEXT PRIMARY KEY NOT NULL,
    profiles           BLOB NOT NULL,      -- CBOR [int]
    token_format       BLOB NOT NULL,      -- secret: CBOR, holds the token key
    issue_options      BLOB NOT NULL,      -- CBOR [tagging, headers, external_aad]
    pop_key_types      BLOB NOT NULL,      -- CBOR [crv]
    rs_cnf             BLOB,               -- CBOR cnf map
    lifetime           INTEGER NOT NULL,
    exi_rs_id          BLOB,
    cnf_key_encryption BLOB                -- secret: CBOR [alg, key, kid]
) STRICT;

CREATE TABLE policy (
    client_id  TEXT NOT NULL,
    audience   TEXT NOT NULL,
    scope_kind INTEGER NOT NULL,
    scope      BLOB NOT NULL,
    PRIMARY KEY (client_id, audience)
) STRICT;

CREATE TABLE oscore_sequences (
    sender_id   BLOB NOT NULL,
    has_context INTEGER NOT NULL,          -- 0: no ID Context, 1: id_context (may be empty)
    id_context  BLOB NOT NULL,
    value       INTEGER NOT NULL,
    PRIMARY KEY (sender_id, has_context, id_context)
) STRICT;

CREATE TABLE kv (
    key   TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL                    -- may be secret (e.g. a signing key): caller's choice
) STRICT;
",
    },
    Migration {
        version: 3,
        description: "OSCORE sequence numbers keyed by the full context identity",
        // The records of version 2 were keyed by (Sender ID, ID Context): all contexts of a
        // server share its Sender ID, so one record could stand for several contexts. They
        // are kept as records without Recipient ID (has_recipient = 0), which restore every
        // context with that Sender ID and ID Context at least from their value.
        sql: "
CREATE TABLE oscore_sequences_v3 (
    sender_id     BLOB NOT NULL,
    has_recipient INTEGER NOT NULL,        -- 0: a version-2 record (any Recipient ID)
    recipient_id  BLOB NOT NULL,
    has_context   INTEGER NOT NULL,        -- 0: no ID Context, 1: id_context (may be empty)
    id_context    BLOB NOT NULL,
    value         INTEGER NOT NULL,
    PRIMARY KEY (sender_id, has_recipient, recipient_id, has_context, id_context)
) STRICT;
INSERT INTO oscore_sequences_v3
    (sender_id, has_recipient, recipient_id, has_context, id_context, value)
    SELECT sender_id, 0, X'', has_context, id_context, value FROM oscore_sequences;
DROP TABLE oscore_sequences;
ALTER TABLE oscore_sequences_v3 RENAME TO oscore_sequences;
",
    },
];

/// The version a fully migrated file has.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// The file's `user_version`.
pub(crate) fn version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Applies the migrations above the file's version.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let found = version(conn)?;
    if found > LATEST_VERSION {
        return Err(Error::SchemaTooNew {
            found,
            supported: LATEST_VERSION,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        let fail = |e: rusqlite::Error| Error::Migration {
            version: m.version,
            source: Box::new(e),
        };
        let tx = conn.transaction().map_err(fail)?;
        tx.execute_batch(m.sql).map_err(fail)?;
        tx.pragma_update(None, "user_version", m.version)
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
        tracing::info!(version = m.version, what = m.description, "schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
        }
    }

    #[test]
    fn a_newer_file_is_refused_and_migration_is_idempotent() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        assert_eq!(version(&c).unwrap(), LATEST_VERSION);
        migrate(&mut c).unwrap();
        assert_eq!(version(&c).unwrap(), LATEST_VERSION);
        c.pragma_update(None, "user_version", LATEST_VERSION + 1)
            .unwrap();
        assert!(matches!(
            migrate(&mut c),
            Err(Error::SchemaTooNew { found, supported })
                if found == LATEST_VERSION + 1 && supported == LATEST_VERSION
        ));
    }

    #[test]
    fn a_failing_migration_rolls_back() {
        let mut c = Connection::open_in_memory().unwrap();
        // A table that the first migration creates: the migration fails.
        c.execute_batch("CREATE TABLE as_tokens (x INTEGER)")
            .unwrap();
        assert!(matches!(
            migrate(&mut c),
            Err(Error::Migration { version: 1, .. })
        ));
        assert_eq!(version(&c).unwrap(), 0);
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'rs_tokens'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0);
    }
}
