//! The embedded default: one SQLite file (WAL, so several server processes can share it),
//! in Better Auth's schema with SQLite's types (booleans 0/1, dates as ISO-8601 text).
//!
//! This file holds the store, its one connection, the migration and the port's
//! implementation; each table's SQL is in its own file.

mod admin;
mod api_keys;
mod audit;
mod device_codes;
mod errors;
pub mod files;
mod jwks;
mod organizations;
mod rate_limits;
mod sessions;
mod two_factor;
mod users;
mod values;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, TransactionBehavior, params};
use tracing::Instrument;

use self::errors::sql_error;
use super::migrate::{self, Migration, MigrationTx};
use super::{by_table, port_methods, rows};
use crate::better_auth::ports::{
    AdminUpdate, ApiKeyRow, ApiKeyWrite, AuditEntry, AuditRow, AuthStore, DeviceCodeRow, JwkLookup,
    KeyUse, ManagedUser, Membership, NewApiKey, NewSession, NewUser, RateLimitBucket, Session,
    Standing, StoreError, TwoFactorRow, User, UserInOrganizations, UserPage, UserQuery,
    UserWithPassword,
};
use crate::telemetry::{DbSystem, db_operation, db_span, record_db_operation, traces_enabled};

const MIGRATIONS: &[Migration] = &migrate::migrations!("sqlite", [
    1 => "better_auth_core" in "0001_better_auth_core.sql",
    2 => "rate_limit" in "0002_rate_limit.sql",
    3 => "api_key" in "0003_api_key.sql",
    4 => "device_code" in "0004_device_code.sql",
]);

/// How long a writer waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// One blocking task at a time uses the connection; the others wait here, as futures,
    /// not as parked blocking-pool threads (each of which would cost memory).
    turn: Arc<tokio::sync::Semaphore>,
    path: PathBuf,
    /// The admin plugin's `role` column exists on `user` (found at migration).
    role_column: Arc<AtomicBool>,
    /// All the admin plugin's columns exist on `user` (found at migration, or added for the
    /// admin toolset).
    admin_columns: Arc<AtomicBool>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its folder, both private to the
    /// user: the file holds password hashes and session tokens.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        let opened = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection, StoreError> {
            if let Some(dir) = opened.parent().filter(|d| !d.as_os_str().is_empty()) {
                files::create_dir(dir).map_err(|e| {
                    StoreError::other(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            files::create_file(&opened).map_err(|e| {
                StoreError::other(format!("cannot make {} private: {e}", opened.display()))
            })?;
            let conn = Connection::open(&opened)
                .map_err(|e| StoreError::other(format!("cannot open {}: {e}", opened.display())))?;
            conn.busy_timeout(BUSY_TIMEOUT).map_err(sql_error)?;
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(sql_error)?;
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(sql_error)?;
            conn.pragma_update(None, "foreign_keys", "ON")
                .map_err(sql_error)?;
            if traces_enabled() {
                conn.trace_v2(
                    rusqlite::trace::TraceEventCodes::SQLITE_TRACE_STMT,
                    Some(statements::note),
                );
            }
            Ok(conn)
        })
        .await
        .map_err(|e| StoreError::other(format!("sqlite open task failed: {e}")))??;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            turn: Arc::new(tokio::sync::Semaphore::new(1)),
            path,
            role_column: Arc::default(),
            admin_columns: Arc::default(),
        })
    }

    pub fn describe(&self) -> String {
        format!("sqlite {}", self.path.display())
    }

    /// SQL with the `role` column's placeholders filled ([`rows::role_sql`]).
    fn sql(&self, template: &str) -> String {
        rows::role_sql(template, self.role_column.load(Ordering::Relaxed))
    }

    /// Runs `f` with the connection on the blocking pool, in a database span (traced: its
    /// operation is that of the first statement `f` runs).
    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let span = db_span(DbSystem::Sqlite, None);
        let traced = span.clone();
        let conn = self.conn.clone();
        async {
            let _turn = self
                .turn
                .acquire()
                .await
                .map_err(|_| StoreError::other("sqlite store closed"))?;
            tokio::task::spawn_blocking(move || {
                let mut guard = conn
                    .lock()
                    .map_err(|_| StoreError::other("sqlite connection poisoned"))?;
                if traced.is_disabled() {
                    return f(&mut guard);
                }
                statements::watch();
                let done = f(&mut guard);
                if let Some(operation) = statements::first_operation() {
                    record_db_operation(&traced, operation);
                }
                done
            })
            .await
            .map_err(|e| StoreError::other(format!("sqlite task failed: {e}")))?
        }
        .instrument(span)
        .await
    }

    /// A write of one (cached) statement; returns the rows it changed.
    async fn execute(&self, sql: &'static str, params: Vec<Value>) -> Result<usize, StoreError> {
        self.with_conn(move |conn| {
            conn.prepare_cached(sql)
                .map_err(sql_error)?
                .execute(rusqlite::params_from_iter(params))
                .map_err(sql_error)
        })
        .await
    }

    /// Makes the audit log's table where it is missing (AUDIT_LOG).
    pub async fn prepare_audit(&self) -> Result<(), StoreError> {
        audit::prepare(self).await
    }

    /// The database file answers a query.
    pub async fn check_ready(&self) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            conn.query_row("select 1", [], |_| Ok(()))
                .map_err(sql_error)
        })
        .await
    }

    pub async fn migrate(&self) -> Result<Vec<&'static str>, StoreError> {
        let done = self
            .with_conn(|conn| {
                // IMMEDIATE takes the write lock first: concurrent starters wait, then see the work done.
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(sql_error)?;
                let done = migrate::run_now(migrate::run(&mut SqliteMigration(&tx), MIGRATIONS))?;
                tx.commit().map_err(sql_error)?;
                Ok(done)
            })
            .await?;
        self.find_admin_columns().await?;
        Ok(done)
    }

    /// Adds the admin plugin's columns to `user` where they are missing (the admin
    /// toolset's, as the app's migration with admin() on would): idempotent.
    pub async fn add_admin_columns(&self) -> Result<(), StoreError> {
        self.with_conn(admin::add_columns).await?;
        self.find_admin_columns().await
    }

    /// Notes which of the admin plugin's columns `user` has.
    async fn find_admin_columns(&self) -> Result<(), StoreError> {
        let (role, all) = self
            .with_conn(|conn| {
                let mut all = true;
                for (name, _) in admin::COLUMNS {
                    all &= admin::has_column(conn, name)?;
                }
                Ok((admin::has_column(conn, "role")?, all))
            })
            .await?;
        self.role_column.store(role, Ordering::Relaxed);
        self.admin_columns.store(all, Ordering::Relaxed);
        Ok(())
    }
}

/// Each operation's SQL is in the file of its table.
impl AuthStore for SqliteStore {
    port_methods!(by_table);

    fn as_stored(&self, user: User) -> User {
        users::as_stored(self, user)
    }
}

/// The runner's steps on an SQLite transaction (synchronous: see [`migrate::run_now`]).
struct SqliteMigration<'a>(&'a rusqlite::Transaction<'a>);

impl MigrationTx for SqliteMigration<'_> {
    async fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.0.execute_batch(sql).map_err(sql_error)
    }

    async fn applied_versions(&mut self) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self
            .0
            .prepare(r#"select "version" from "better_auth_mcp_migrations""#)
            .map_err(sql_error)?;
        stmt.query_map([], |r| r.get(0))
            .map_err(sql_error)?
            .collect::<Result<_, _>>()
            .map_err(sql_error)
    }

    async fn record(&mut self, m: &Migration) -> Result<(), StoreError> {
        self.0
            .execute(
                r#"insert into "better_auth_mcp_migrations" ("version", "name") values (?1, ?2)"#,
                params![m.version, m.name],
            )
            .map(|_| ())
            .map_err(sql_error)
    }
}

/// Which operation a traced [`SqliteStore::with_conn`] ran first, seen by SQLite's
/// statement trace (its unexpanded text, so never a bound value; only the operation is
/// kept). The blocking thread running the call is the one SQLite reports it on.
mod statements {
    use std::cell::Cell;

    thread_local! {
        static FIRST: Cell<Option<&'static str>> = const { Cell::new(None) };
    }

    /// Starts watching the statements this thread runs.
    pub(super) fn watch() {
        FIRST.with(|f| f.set(None));
    }

    /// The first operation run since [`watch`].
    pub(super) fn first_operation() -> Option<&'static str> {
        FIRST.with(Cell::take)
    }

    /// SQLite's statement trace: keeps the first operation (not BEGIN, COMMIT, PRAGMA).
    pub(super) fn note(event: rusqlite::trace::TraceEvent<'_>) {
        if let rusqlite::trace::TraceEvent::Stmt(_, sql) = event
            && FIRST.with(Cell::get).is_none()
        {
            FIRST.with(|f| f.set(super::db_operation(sql)));
        }
    }
}
