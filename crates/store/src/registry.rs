//! [`SqliteRegistry`] (`ace_core::ClientRegistry`) and [`SqlitePolicy`] (`ace_core::Policy`):
//! the AS's configuration, read from the file on every call so that changes made by an admin
//! tool take effect without a restart.

use std::sync::Arc;

use ace_core::policy::intersect;
use ace_core::{ChannelIdentity, ClientInfo, ClientRegistry, Grant, Policy, ResourceServerInfo};
use ace_token::Scope;
use rusqlite::{OptionalExtension as _, Row, Transaction, params};

use crate::codec::{self, to_i64, to_u64};
use crate::error::{Error, Result};
use crate::store::Shared;

/// Clients and resource servers in SQLite. The trait methods answer "unknown" on a database
/// error (the AS then refuses the request) and record the error for
/// [`crate::SqliteStore::check`]; the `try_*` forms return it.
pub struct SqliteRegistry {
    shared: Arc<Shared>,
}

impl core::fmt::Debug for SqliteRegistry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SqliteRegistry").finish_non_exhaustive()
    }
}

const CLIENT_COLUMNS: &str = "id, grant_types, profiles, default_audience, default_scope_kind, default_scope, \
     introspect_audiences";

const RS_COLUMNS: &str = "audience, profiles, token_format, issue_options, pop_key_types, \
                          rs_cnf, lifetime, exi_rs_id, cnf_key_encryption";

impl SqliteRegistry {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Adds or replaces a client (with all its credentials), in one transaction.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Unencodable`].
    pub fn put_client(&self, c: &ClientInfo) -> Result<()> {
        let mut conn = self.shared.conn();
        let tx = conn.transaction()?;
        write_client(&tx, c)?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a client; `true` if it existed.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn remove_client(&self, id: &str) -> Result<bool> {
        Ok(self
            .shared
            .conn()
            .execute("DELETE FROM clients WHERE id = ?1", [id])?
            > 0)
    }

    /// The ids of every client, sorted.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn client_ids(&self) -> Result<Vec<String>> {
        let conn = self.shared.conn();
        let mut st = conn.prepare("SELECT id FROM clients ORDER BY id")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Adds or replaces a resource server.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Unencodable`], [`Error::OutOfRange`].
    pub fn put_resource_server(&self, rs: &ResourceServerInfo) -> Result<()> {
        let rs_cnf = codec::cnf_to_bytes(rs.rs_cnf.as_ref().unwrap_or(&Default::default()))?;
        let rs_cnf = if rs.rs_cnf.is_some() && rs_cnf.is_none() {
            // `Some(empty cnf)` cannot be told from `None` after a round trip; refuse it.
            return Err(Error::Unencodable("empty rs_cnf"));
        } else {
            rs_cnf
        };
        let pop_key_types = rs
            .pop_key_types
            .iter()
            .map(|k| codec::key_type_to_i64(*k))
            .collect::<Result<Vec<_>>>()?;
        self.shared.conn().execute(
            &format!(
                "INSERT OR REPLACE INTO resource_servers ({RS_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            params![
                rs.audience,
                codec::profiles_to_bytes(&rs.profiles)?,
                codec::token_format_to_bytes(&rs.token_format)?,
                codec::issue_options_to_bytes(&rs.issue_options)?,
                codec::ints_to_bytes(pop_key_types)?,
                rs_cnf,
                to_i64(rs.lifetime, "lifetime")?,
                rs.exi_rs_id,
                rs.cnf_key_encryption
                    .as_ref()
                    .map(codec::kek_to_bytes)
                    .transpose()?,
            ],
        )?;
        Ok(())
    }

    /// Removes a resource server; `true` if it existed.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn remove_resource_server(&self, audience: &str) -> Result<bool> {
        Ok(self.shared.conn().execute(
            "DELETE FROM resource_servers WHERE audience = ?1",
            [audience],
        )? > 0)
    }

    /// The audiences of every resource server, sorted.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn resource_server_audiences(&self) -> Result<Vec<String>> {
        let conn = self.shared.conn();
        let mut st = conn.prepare("SELECT audience FROM resource_servers ORDER BY audience")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The client registered as `id` (fallible form of `ClientRegistry::client`).
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub fn try_client(&self, id: &str) -> Result<Option<ClientInfo>> {
        let conn = self.shared.conn();
        let tx = conn.unchecked_transaction()?;
        let c = read_client(&tx, id)?;
        tx.commit()?;
        Ok(c)
    }

    /// The client a channel identity belongs to (fallible form of
    /// `ClientRegistry::client_for_channel`).
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`], [`Error::Unencodable`].
    pub fn try_client_for_channel(&self, identity: &ChannelIdentity) -> Result<Option<ClientInfo>> {
        let (kind, value) = match identity {
            ChannelIdentity::ClientId(id) => return self.try_client(id),
            ChannelIdentity::PskIdentity(i) => (1i64, i.clone()),
            ChannelIdentity::RawPublicKey(pk) => (2i64, codec::public_key_to_bytes(pk)?),
            _ => return Ok(None),
        };
        let conn = self.shared.conn();
        let tx = conn.unchecked_transaction()?;
        let id: Option<String> = tx
            .query_row(
                "SELECT client_id FROM client_credentials WHERE kind = ?1 AND value = ?2 \
                 ORDER BY client_id LIMIT 1",
                params![kind, value],
                |r| r.get(0),
            )
            .optional()?;
        let c = match id {
            Some(id) => read_client(&tx, &id)?,
            None => None,
        };
        tx.commit()?;
        Ok(c)
    }

    /// The resource server known as `audience` (fallible form of
    /// `ClientRegistry::resource_server`).
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub fn try_resource_server(&self, audience: &str) -> Result<Option<ResourceServerInfo>> {
        let conn = self.shared.conn();
        conn.query_row(
            &format!("SELECT {RS_COLUMNS} FROM resource_servers WHERE audience = ?1"),
            [audience],
            |r| Ok(read_rs(r)),
        )
        .optional()?
        .transpose()
    }
}

fn write_client(tx: &Transaction<'_>, c: &ClientInfo) -> Result<()> {
    let (skind, scope) = match &c.default_scope {
        Some(s) => {
            let (k, b) = codec::scope_to_columns(s);
            (Some(k), Some(b))
        }
        None => (None, None),
    };
    let introspect = c
        .introspect_audiences
        .as_deref()
        .map(codec::texts_to_bytes)
        .transpose()?;
    // Replacing the row cascades to the old credentials.
    tx.execute("DELETE FROM clients WHERE id = ?1", [&c.id])?;
    tx.execute(
        &format!("INSERT INTO clients ({CLIENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            c.id,
            codec::grant_types_to_bytes(&c.grant_types)?,
            codec::profiles_to_bytes(&c.profiles)?,
            c.default_audience,
            skind,
            scope,
            introspect,
        ],
    )?;
    for (pos, cred) in c.credentials.iter().enumerate() {
        let (kind, value) = codec::credential_to_columns(cred)?;
        tx.execute(
            "INSERT INTO client_credentials (client_id, position, kind, value) \
             VALUES (?1, ?2, ?3, ?4)",
            params![
                c.id,
                to_i64(pos as u64, "credential position")?,
                kind,
                value
            ],
        )?;
    }
    Ok(())
}

fn read_client(tx: &Transaction<'_>, id: &str) -> Result<Option<ClientInfo>> {
    let row = tx
        .query_row(
            &format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE id = ?1"),
            [id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<Vec<u8>>>(5)?,
                    r.get::<_, Option<Vec<u8>>>(6)?,
                ))
            },
        )
        .optional()?;
    let Some((id, grants, profiles, default_audience, skind, scope, introspect)) = row else {
        return Ok(None);
    };
    let default_scope = match (skind, scope) {
        (Some(k), Some(b)) => Some(codec::scope_from_columns(k, b)?),
        (None, None) => None,
        _ => return Err(Error::Corrupt("default scope")),
    };
    let mut st = tx.prepare(
        "SELECT kind, value FROM client_credentials WHERE client_id = ?1 ORDER BY position",
    )?;
    let creds = st
        .query_map([&id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?
        .map(|r| {
            let (k, v) = r?;
            codec::credential_from_columns(k, v)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut c = ClientInfo::new(id);
    c.credentials = creds;
    c.grant_types = codec::grant_types_from_bytes(&grants)?;
    c.profiles = codec::profiles_from_bytes(&profiles)?;
    c.default_audience = default_audience;
    c.default_scope = default_scope;
    c.introspect_audiences = introspect
        .map(|b| codec::texts_from_bytes(&b, "introspect audiences"))
        .transpose()?;
    Ok(Some(c))
}

fn read_rs(r: &Row<'_>) -> Result<ResourceServerInfo> {
    let audience: String = r.get(0)?;
    let profiles = codec::profiles_from_bytes(&r.get::<_, Vec<u8>>(1)?)?;
    let format = codec::token_format_from_bytes(&r.get::<_, Vec<u8>>(2)?)?;
    let options = codec::issue_options_from_bytes(&r.get::<_, Vec<u8>>(3)?)?;
    let key_types = codec::ints_from_bytes(&r.get::<_, Vec<u8>>(4)?, "pop key types")?
        .into_iter()
        .map(codec::key_type_from_i64)
        .collect::<Result<Vec<_>>>()?;
    let rs_cnf: Option<Vec<u8>> = r.get(5)?;
    let kek: Option<Vec<u8>> = r.get(8)?;
    let profile = profiles
        .first()
        .copied()
        .ok_or(Error::Corrupt("resource server without profile"))?;
    let mut rs = ResourceServerInfo::new(audience, profile, format);
    rs.profiles = profiles;
    rs.issue_options = options;
    rs.pop_key_types = key_types;
    rs.rs_cnf = rs_cnf.map(|b| codec::cnf_from_bytes(Some(b))).transpose()?;
    rs.lifetime = to_u64(r.get(6)?, "lifetime")?;
    rs.exi_rs_id = r.get(7)?;
    rs.cnf_key_encryption = kek.map(|b| codec::kek_from_bytes(&b)).transpose()?;
    Ok(rs)
}

impl ClientRegistry for SqliteRegistry {
    fn client(&self, id: &str) -> Option<ClientInfo> {
        self.try_client(id).unwrap_or_else(|e| {
            self.shared.defer("client", e);
            None
        })
    }

    fn client_for_channel(&self, identity: &ChannelIdentity) -> Option<ClientInfo> {
        self.try_client_for_channel(identity).unwrap_or_else(|e| {
            self.shared.defer("client_for_channel", e);
            None
        })
    }

    fn resource_server(&self, audience: &str) -> Option<ResourceServerInfo> {
        self.try_resource_server(audience).unwrap_or_else(|e| {
            self.shared.defer("resource_server", e);
            None
        })
    }
}

/// The AS's grant table in SQLite: `(client, audience) → allowed scope`, granted as the
/// intersection with the request exactly as [`ace_core::StaticPolicy`] does
/// ([`ace_core::policy::intersect`]). A database error refuses (`AudienceNotAllowed`) and is
/// recorded for [`crate::SqliteStore::check`].
pub struct SqlitePolicy {
    shared: Arc<Shared>,
}

impl core::fmt::Debug for SqlitePolicy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SqlitePolicy").finish_non_exhaustive()
    }
}

impl SqlitePolicy {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Allows `client` the `scope` at `audience` (replacing an earlier rule).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn allow(&self, client: &str, audience: &str, scope: &Scope) -> Result<()> {
        let (k, b) = codec::scope_to_columns(scope);
        self.shared.conn().execute(
            "INSERT OR REPLACE INTO policy (client_id, audience, scope_kind, scope) \
             VALUES (?1, ?2, ?3, ?4)",
            params![client, audience, k, b],
        )?;
        Ok(())
    }

    /// Removes the rule for `client` at `audience`; `true` if there was one.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn disallow(&self, client: &str, audience: &str) -> Result<bool> {
        Ok(self.shared.conn().execute(
            "DELETE FROM policy WHERE client_id = ?1 AND audience = ?2",
            params![client, audience],
        )? > 0)
    }

    /// The allowed scope of `client` at `audience`.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub fn allowed(&self, client: &str, audience: &str) -> Result<Option<Scope>> {
        let row: Option<(i64, Vec<u8>)> = self
            .shared
            .conn()
            .query_row(
                "SELECT scope_kind, scope FROM policy WHERE client_id = ?1 AND audience = ?2",
                params![client, audience],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(k, b)| codec::scope_from_columns(k, b))
            .transpose()
    }

    /// Every rule as `(client, audience, scope)`, sorted.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub fn rules(&self) -> Result<Vec<(String, String, Scope)>> {
        let conn = self.shared.conn();
        let mut st = conn.prepare(
            "SELECT client_id, audience, scope_kind, scope FROM policy ORDER BY client_id, audience",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })?;
        rows.map(|r| {
            let (c, a, k, b) = r?;
            Ok((c, a, codec::scope_from_columns(k, b)?))
        })
        .collect()
    }
}

impl Policy for SqlitePolicy {
    fn grant(&self, client: &ClientInfo, audience: &str, requested: &Scope) -> Grant {
        match self.allowed(&client.id, audience) {
            Ok(Some(allowed)) => match intersect(requested, &allowed) {
                Some(s) => Grant::Granted(s),
                None => Grant::InvalidScope,
            },
            Ok(None) => Grant::AudienceNotAllowed,
            Err(e) => {
                self.shared.defer("policy", e);
                Grant::AudienceNotAllowed
            }
        }
    }
}
