//! PostgreSQL (Neon) through deadpool-postgres, pooler-safe: every statement goes through
//! the unnamed-statement path (`*_typed`), so PgBouncer in transaction mode never sees a
//! named prepared statement, and no session state is set.
//!
//! This file holds the store, its statements in the deployment's names, and the port's
//! implementation; each table's SQL is in its own file, the pool and error
//! classification in theirs.

mod admin;
mod api_keys;
mod audit;
mod device_codes;
mod errors;
mod jwks;
mod key_uses;
mod organizations;
mod pool;
mod rate_limits;
mod schema;
mod sessions;
mod two_factor;
mod users;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use deadpool_postgres::ClientWrapper;
use tokio_postgres::types::{ToSql, Type};
use tracing::Instrument;

use self::errors::{connection_lost, db_error};
use self::pool::{Pool, PooledClient};
use super::naming::{Naming, SchemaSettings};
use super::rows::{self, Columns};
use super::{PgUrl, by_table, port_methods};
use crate::better_auth::ports::{
    AdminUpdate, ApiKeyRow, ApiKeyWrite, AuditEntry, AuditRow, AuthStore, DeviceCodeRow, JwkLookup,
    KeyUse, ManagedUser, Membership, NewApiKey, NewSession, NewUser, RateLimitBucket, Session,
    Standing, StoreError, TwoFactorRow, User, UserInOrganizations, UserPage, UserQuery,
    UserWithPassword,
};
use crate::telemetry::{DbSystem, db_span};

pub use self::pool::{PoolSettings, PoolStatus};

/// A statement's parameters, each with the type the server is told it has.
type Params<'a> = [(&'a (dyn ToSql + Sync), Type)];

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    description: String,
    /// The deployment uses `generateId: "uuid"`: `id` columns are uuid, made by the database.
    uuid_ids: Arc<AtomicBool>,
    /// The admin plugin's `role` column exists on `user`.
    role_column: Arc<AtomicBool>,
    /// The admin plugin's columns (`role`, `banned`, `banReason`, `banExpires`) exist on
    /// `user` (found at migration).
    admin_columns: Arc<AtomicBool>,
    /// `account` has Better Auth 1.7.0–1.7.2's `issuer` column (found at migration).
    issuer_column: Arc<AtomicBool>,
    /// What the configuration says of the schema, and the names found at migration.
    schema: SchemaSettings,
    naming: Arc<RwLock<Naming>>,
    /// Statements rendered in the deployment's names and id type, by template.
    rendered: Arc<RwLock<HashMap<String, Arc<str>>>>,
    /// Set once the migrations have run: every call waits for it, so a server can answer
    /// `initialize` while its first connection is still being made.
    ready: Arc<tokio::sync::OnceCell<()>>,
    prepared_statements: bool,
    /// Which plugins' tables were found (once found, never looked for again).
    plugins: Arc<PluginTables>,
    /// API keys as last used here, to write the next use in one statement.
    known_keys: Arc<api_keys::KnownKeys>,
    /// Uses of known keys waiting to be written together.
    key_uses: Arc<key_uses::KeyUses>,
}

/// Plugin tables found in the deployment. A table not found is looked for again on the
/// next call that needs it: an app may migrate while this server runs.
#[derive(Default)]
struct PluginTables {
    api_key: AtomicBool,
    organization: AtomicBool,
    organization_role: AtomicBool,
    device_code: AtomicBool,
}

/// `call`, a store operation made on a client of its own (a transaction, or a statement
/// outside [`PgStore::read_all`], [`PgStore::execute`] and [`PgStore::write`]), in a
/// database span named for its first or principal statement (`operation`), as those
/// helpers' statements are.
async fn traced<T>(operation: &'static str, call: impl std::future::Future<Output = T>) -> T {
    call.instrument(db_span(DbSystem::Postgresql, Some(operation)))
        .await
}

impl PgStore {
    /// Builds the pool; connections are opened on first use.
    pub fn connect(url: &PgUrl, settings: &PoolSettings) -> Result<Self, StoreError> {
        Ok(Self {
            pool: pool::build(url, settings)?,
            description: url.describe(),
            uuid_ids: Arc::default(),
            role_column: Arc::default(),
            admin_columns: Arc::default(),
            issuer_column: Arc::default(),
            schema: settings.schema.clone(),
            naming: Arc::default(),
            rendered: Arc::default(),
            ready: Arc::default(),
            prepared_statements: settings.prepared_statements,
            plugins: Arc::default(),
            known_keys: Arc::default(),
            key_uses: Arc::default(),
        })
    }

    /// SQL for this deployment: Better Auth's names rendered in the schema's ([`Naming`]),
    /// `{ID}` the id column type to cast parameters to, `{NEW_ID}` the value of a new
    /// row's id (`$1`, or the database's default), `{USER_ROLE}` the `role` column (or
    /// null) and `{ROLE_COLUMN}`/`{ROLE_VALUE}` its part of a user insert. Only once the
    /// migrations have run (they find all that): [`Self::read_opt`] and [`Self::execute`]
    /// take templates and call it after [`Self::client`]. Rendered once per template.
    fn sql(&self, template: &str) -> Arc<str> {
        if let Some(sql) = self
            .rendered
            .read()
            .ok()
            .and_then(|r| r.get(template).cloned())
        {
            return sql;
        }
        let naming = self.naming();
        let sql: Arc<str> = self.finish(&naming.render(template)).into();
        if let Ok(mut rendered) = self.rendered.write() {
            rendered.insert(template.to_owned(), sql.clone());
        }
        sql
    }

    /// Fills the placeholders of SQL already in the deployment's names.
    fn finish(&self, sql: &str) -> String {
        let uuid = self.uuid_ids.load(Ordering::Relaxed);
        let role = self.role_column.load(Ordering::Relaxed);
        // Better Auth 1.7.0–1.7.2 made `account.issuer` (NOT NULL) and wrote
        // `local:credential` in it for an email and password account; later versions
        // dropped it, but databases migrated then keep it.
        let (issuer_column, issuer_value) = if self.issuer_column.load(Ordering::Relaxed) {
            (r#", "issuer""#, ", 'local:credential'")
        } else {
            ("", "")
        };
        rows::role_sql(sql, role)
            .replace("{ISSUER_COLUMN}", issuer_column)
            .replace("{ISSUER_VALUE}", issuer_value)
            .replace("{ID}", if uuid { "uuid" } else { "text" })
            .replace("{NEW_ID}", if uuid { "default" } else { "$1" })
    }

    /// The names found at migration.
    fn naming(&self) -> Naming {
        self.naming.read().map(|n| n.clone()).unwrap_or_default()
    }

    /// With UUID ids, a value that is no UUID names no row (and must not reach a cast).
    /// Waits for the migrations, which find the id type.
    async fn possible_id(&self, id: &str) -> Result<bool, StoreError> {
        self.ensure_ready().await?;
        Ok(!self.uuid_ids.load(Ordering::Relaxed) || looks_like_uuid(id))
    }

    /// Whether the deployment has the table of `model` (a plugin's, which may be missing).
    async fn has_table(&self, model: &str) -> Result<bool, StoreError> {
        let template = format!(r#"select to_regclass('"{model}"')::text"#);
        let row = self.read_opt(&template, &[]).await?;
        Ok(row.and_then(|r| r.get::<_, Option<String>>(0)).is_some())
    }

    /// Whether the plugin table of `model` exists, remembered in `found` once it does.
    async fn has_plugin_table(&self, found: &AtomicBool, model: &str) -> Result<bool, StoreError> {
        if found.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let exists = self.has_table(model).await?;
        if exists {
            found.store(true, Ordering::Relaxed);
        }
        Ok(exists)
    }

    pub fn describe(&self) -> String {
        self.description.clone()
    }

    /// How the connection pool stands now.
    pub fn pool_status(&self) -> PoolStatus {
        pool::status(&self.pool)
    }

    /// How long a call waits for a pooled connection.
    fn wait_timeout(&self) -> std::time::Duration {
        self.pool
            .timeouts()
            .wait
            .unwrap_or(std::time::Duration::from_secs(10))
    }

    /// A pooled connection, once the migrations have run (every data call comes here).
    async fn client(&self) -> Result<PooledClient, StoreError> {
        self.ensure_ready().await?;
        pool::get(&self.pool).await
    }

    /// A write of one statement; returns the rows it changed. Not repeated on a lost
    /// connection: whether it happened would be unknown.
    async fn execute(&self, template: &str, params: &Params<'_>) -> Result<u64, StoreError> {
        async {
            let client = self.client().await?;
            client
                .execute_typed(&self.sql(template), params)
                .await
                .map_err(db_error)
        }
        .instrument(db_span(DbSystem::Postgresql, Some(template)))
        .await
    }

    /// A write of one statement with RETURNING and, given one, its audit row in the same
    /// statement ([`audit::with_row`]); the rows it returned. Not repeated on a lost
    /// connection.
    async fn write(
        &self,
        template: &str,
        mut params: Vec<(&(dyn ToSql + Sync), Type)>,
        audited: Option<(&AuditEntry, audit::Alongside)>,
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let statement = match audited {
            Some((entry, how)) => {
                let sql = audit::with_row(template, params.len(), how);
                params.extend(audit::params(entry));
                std::borrow::Cow::Owned(sql)
            }
            None => std::borrow::Cow::Borrowed(template),
        };
        async {
            let client = self.client().await?;
            client
                .query_typed(&self.sql(&statement), &params)
                .await
                .map_err(db_error)
        }
        // (Named by the write, not by the CTE around it.)
        .instrument(db_span(DbSystem::Postgresql, Some(template)))
        .await
    }

    /// A read of at most one row ([`Self::read_all`]).
    async fn read_opt(
        &self,
        template: &str,
        params: &Params<'_>,
    ) -> Result<Option<tokio_postgres::Row>, StoreError> {
        let mut rows = self.read_all(template, params).await?;
        if rows.len() > 1 {
            return Err(StoreError::other(format!(
                "a read of at most one row returned {}",
                rows.len()
            )));
        }
        Ok(rows.pop())
    }

    /// A read, in a database span named for its statement. A connection lost under it
    /// (Neon dropping it, a restart) is replaced once and the read repeated: reads can
    /// be, safely.
    async fn read_all(
        &self,
        template: &str,
        params: &Params<'_>,
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        async {
            let mut retried = false;
            loop {
                let client = self.client().await?;
                let sql = self.sql(template);
                let read = if self.prepared_statements {
                    prepared_query(&client, &sql, params).await
                } else {
                    client.query_typed(&sql, params).await
                };
                match read {
                    Ok(rows) => return Ok(rows),
                    Err(e) if !retried && connection_lost(&e) => {
                        tracing::debug!(
                            "a connection was lost under a read; retrying on a fresh one"
                        );
                        retried = true;
                    }
                    Err(e) => return Err(db_error(e)),
                }
            }
        }
        .instrument(db_span(DbSystem::Postgresql, Some(template)))
        .await
    }

    /// Runs the migrations once (the first caller does; the others wait for it). A failure
    /// is returned to every waiting call and tried again by the next one.
    pub async fn ensure_ready(&self) -> Result<(), StoreError> {
        self.ready
            .get_or_try_init(|| async {
                let applied = self.run_migrations().await?;
                if applied.is_empty() {
                    tracing::info!(database = %self.description, "database schema is up to date");
                } else {
                    tracing::info!(database = %self.description, ?applied, "database migrated");
                }
                Ok::<(), StoreError>(())
            })
            .await
            .map(|_| ())
    }

    /// Makes the audit log's table where it is missing (AUDIT_LOG).
    pub async fn prepare_audit(&self) -> Result<(), StoreError> {
        audit::prepare(self).await
    }

    /// The database answers a query, once migrated.
    pub async fn check_ready(&self) -> Result<(), StoreError> {
        self.read_opt("select 1", &[]).await.map(|_| ())
    }

    pub async fn migrate(&self) -> Result<Vec<&'static str>, StoreError> {
        let applied = self.run_migrations().await?;
        let _ = self.ready.set(());
        Ok(applied)
    }

    /// Migrates, and keeps what the migration found of the schema for every statement.
    async fn run_migrations(&self) -> Result<Vec<&'static str>, StoreError> {
        let mut client = pool::get(&self.pool).await?;
        let (applied, found) = schema::migrate(&mut client, &self.schema).await?;
        self.issuer_column
            .store(found.issuer_column, Ordering::Relaxed);
        self.uuid_ids.store(found.uuid_ids, Ordering::Relaxed);
        self.role_column.store(found.role_column, Ordering::Relaxed);
        self.admin_columns
            .store(found.admin_columns, Ordering::Relaxed);
        if let Ok(mut n) = self.naming.write() {
            *n = found.naming;
        }
        if let Ok(mut rendered) = self.rendered.write() {
            rendered.clear();
        }
        Ok(applied)
    }
}

/// Each operation's SQL is in the file of its table.
impl AuthStore for PgStore {
    port_methods!(by_table);

    fn as_stored(&self, user: User) -> User {
        users::as_stored(self, user)
    }
}

/// `query_typed` through the connection's cache of prepared statements.
async fn prepared_query(
    client: &ClientWrapper,
    sql: &str,
    params: &Params<'_>,
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    let types: Vec<Type> = params.iter().map(|(_, t)| t.clone()).collect();
    let statement = client.prepare_typed_cached(sql, &types).await?;
    let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(v, _)| *v).collect();
    client.query(&statement, &values).await
}

fn looks_like_uuid(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// A timestamp as `to_jsonb` writes it: with an offset (timestamptz) or without (timestamp,
/// taken as UTC).
fn json_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

impl Columns for tokio_postgres::Row {
    type Error = tokio_postgres::Error;

    fn text(&self, i: usize) -> Result<String, Self::Error> {
        self.try_get(i)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>, Self::Error> {
        self.try_get(i)
    }

    fn flag(&self, i: usize) -> Result<bool, Self::Error> {
        self.try_get(i)
    }

    /// `timestamptz` (Better Auth's own migration), or `timestamp` (Drizzle's generator),
    /// whose values are UTC as Better Auth on a UTC server writes them.
    fn time(&self, i: usize) -> Result<DateTime<Utc>, Self::Error> {
        if self.columns().get(i).map(|c| c.type_()) == Some(&Type::TIMESTAMP) {
            return self
                .try_get::<_, chrono::NaiveDateTime>(i)
                .map(|t| t.and_utc());
        }
        self.try_get(i)
    }

    fn opt_flag(&self, i: usize) -> Result<Option<bool>, Self::Error> {
        self.try_get(i)
    }

    fn opt_time(&self, i: usize) -> Result<Option<DateTime<Utc>>, Self::Error> {
        if self.columns().get(i).map(|c| c.type_()) == Some(&Type::TIMESTAMP) {
            return self
                .try_get::<_, Option<chrono::NaiveDateTime>>(i)
                .map(|t| t.map(|t| t.and_utc()));
        }
        self.try_get(i)
    }
}
