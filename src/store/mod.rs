//! Persistence in Better Auth's own schema: PostgreSQL (Neon) or an embedded SQLite file.
//! This module owns all SQL and connections; the migrations of each dialect live in
//! `migrations/<dialect>/`.

mod migrate;
mod naming;
mod postgres;
mod rows;
mod sqlite;
mod tls;
mod url;

use chrono::{DateTime, Utc};

use crate::better_auth::audit::{AuditEntry, AuditRow};
use crate::better_auth::ports::{
    AdminUpdate, ApiKeyRow, ApiKeyWrite, AuthStore, DeviceCodeRow, JwkLookup, KeyUse, ManagedUser,
    Membership, NewApiKey, NewSession, NewUser, RateLimitBucket, Session, Standing, StoreError,
    TwoFactorRow, User, UserInOrganizations, UserPage, UserQuery, UserWithPassword,
};

pub use naming::{Casing, SchemaSettings, TableNames};
pub use postgres::{PgStore, PoolSettings, PoolStatus};
pub use sqlite::{SqliteStore, files as embedded_files};
pub use url::{DatabaseUrl, PgUrl, SslMode, UrlError};

/// What reading the audit log of a database without its table says.
const NO_AUDIT_TABLE: &str = "the database has no audit log (better_auth_mcp_audit_log): the \
                              server makes it when it starts with AUDIT_LOG=true";

/// The store behind the auth service.
#[derive(Clone)]
pub enum Store {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

/// The same call on whichever backend this is.
macro_rules! on_backend {
    ($store:expr, $s:ident => $call:expr) => {
        match $store {
            Store::Postgres($s) => $call,
            Store::Sqlite($s) => $call,
        }
    };
}

impl Store {
    /// Opens the database named by the URL; does not migrate.
    pub async fn open(url: &DatabaseUrl, pool: &PoolSettings) -> Result<Self, StoreError> {
        match url {
            DatabaseUrl::Postgres(pg) => Ok(Self::Postgres(PgStore::connect(pg, pool)?)),
            DatabaseUrl::Sqlite(path) => Ok(Self::Sqlite(SqliteStore::open(path).await?)),
        }
    }

    /// Makes sure the migrations have run, without waiting for them if they are under way
    /// elsewhere: for PostgreSQL they then run in the background while the server starts
    /// serving, and every call waits for them. SQLite migrates at once (milliseconds).
    /// A failure is logged and tried again by the next call, except a schema the server
    /// cannot use, which `on_unusable_schema` is told of (the server then stops).
    pub fn migrate_in_background(
        &self,
        on_unusable_schema: impl FnOnce(&StoreError) + Send + 'static,
    ) {
        if let Self::Postgres(s) = self {
            let s = s.clone();
            tokio::spawn(async move {
                match s.ensure_ready().await {
                    Ok(()) => {}
                    Err(e @ StoreError::Schema(_)) => on_unusable_schema(&e),
                    Err(e) => tracing::error!("database: {e}; calls will try again"),
                }
            });
        }
    }

    /// Applies the embedded migrations that this database lacks. Idempotent, and safe
    /// when several servers start at once. Tables that exist are left as they are.
    pub async fn migrate(&self) -> Result<Vec<&'static str>, StoreError> {
        on_backend!(self, s => s.migrate().await)
    }

    /// Prepares the database for the admin toolset: SQLite gets the admin plugin's columns
    /// where it lacks them (this server's own store has no app to migrate it); PostgreSQL
    /// is the app's to migrate, and is left as it is.
    pub async fn prepare_admin(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(s) => s.add_admin_columns().await,
            Self::Postgres(_) => Ok(()),
        }
    }

    /// Makes the audit log's table (`better_auth_mcp_audit_log`) where it is missing: the
    /// server's own table, made when it starts with AUDIT_LOG=true.
    pub async fn prepare_audit(&self) -> Result<(), StoreError> {
        on_backend!(self, s => s.prepare_audit().await)
    }

    /// Whether the database answers, migrated (for a load balancer's readiness probe).
    pub async fn check_ready(&self) -> Result<(), StoreError> {
        on_backend!(self, s => s.check_ready().await)
    }

    /// How PostgreSQL's connection pool stands now; SQLite has no pool (one connection).
    pub fn pool_status(&self) -> Option<PoolStatus> {
        match self {
            Self::Postgres(s) => Some(s.pool_status()),
            Self::Sqlite(_) => None,
        }
    }

    /// A short description for logs: never holds a password.
    pub fn describe(&self) -> String {
        on_backend!(self, s => s.describe())
    }
}

/// The port's methods that only pass their arguments on, once for all three impls: each
/// with the function (of the same name in both backends' table files) that does it.
/// `$then` is [`by_table`] for a backend, [`by_backend`] for [`Store`]; generic parameters
/// go in brackets. A new port method is a line here and a body in each backend.
macro_rules! port_methods {
    ($then:ident) => {
        $then! {
            users::create_with_password => fn create_user_with_password[](new: &NewUser,
                session: Option<&NewSession>, audit: Option<&AuditEntry>)
                -> (User, Option<Session>);
            sessions::create => fn create_session[](user_id: &str, session: &NewSession,
                audit: Option<&AuditEntry>) -> Session;
            sessions::find => fn find_session[](token: &str) -> Option<(Session, User)>;
            sessions::find_with_user => fn find_user_with_session[](user_id: &str, session_id: &str)
                -> Option<(User, Option<Session>)>;
            sessions::extend => fn extend_session[](session_id: &str, expires_at: DateTime<Utc>,
                now: DateTime<Utc>, audit: Option<&AuditEntry>) -> ();
            sessions::delete => fn delete_session[](token: &str, audit: Option<&AuditEntry>)
                -> bool;
            users::update_password => fn update_password[](user_id: &str, password_hash: &str,
                now: DateTime<Utc>) -> ();
            jwks::find => fn find_jwk[](kid: &str) -> JwkLookup;
            users::find_by_email => fn find_user_by_email[](email: &str)
                -> Option<UserWithPassword>;
            users::find_by_id => fn find_user_by_id[](id: &str) -> Option<User>;
            users::find_standing => fn find_standing[](user_id: &str) -> Standing;
            users::lift_ban => fn lift_ban[](user_id: &str, now: DateTime<Utc>) -> ();
            two_factor::find => fn find_two_factor[](user_id: &str) -> Option<TwoFactorRow>;
            two_factor::record_failure => fn record_second_factor_failure[](two_factor_id: &str,
                max_failed: i64, lock_until: DateTime<Utc>) -> ();
            two_factor::reset_failures => fn reset_second_factor_failures[](two_factor_id: &str)
                -> ();
            two_factor::replace_backup_codes => fn replace_backup_codes[](two_factor_id: &str,
                old: &str, new: &str) -> bool;
            api_keys::find => fn find_api_key[](stored_key: &str) -> Option<ApiKeyRow>;
            api_keys::find_by_id => fn find_api_key_by_id[](id: &str) -> Option<ApiKeyRow>;
            api_keys::use_key => fn use_api_key[T: Send + 'static](stored_key: &str,
                check_owner: bool,
                rule: impl FnMut(Option<&ApiKeyRow>) -> (ApiKeyWrite, T) + Send + 'static)
                -> KeyUse<T>;
            api_keys::delete => fn delete_api_key[](id: &str, audit: Option<&AuditEntry>) -> bool;
            api_keys::create => fn create_api_key[](key: &NewApiKey, audit: Option<&AuditEntry>)
                -> String;
            api_keys::list => fn list_api_keys[](reference_id: &str) -> Vec<ApiKeyRow>;
            organizations::memberships => fn find_memberships[](user_id: &str) -> Vec<Membership>;
            organizations::roles => fn find_organization_roles[](organization_id: &str)
                -> Vec<(String, String)>;
            organizations::exists => fn organization_exists[](id: &str) -> bool;
            organizations::active => fn find_active_organization[](session_id: &str)
                -> Option<String>;
            organizations::user_in => fn find_user_in_organizations[](user_id: &str,
                session_id: Option<&str>) -> Option<UserInOrganizations>;
            admin::find => fn find_managed_user[](user_id: &str) -> Option<ManagedUser>;
            admin::list => fn list_users[](query: &UserQuery) -> UserPage;
            admin::update => fn update_managed_user[](user_id: &str, update: &AdminUpdate,
                now: DateTime<Utc>, audit: Option<&AuditEntry>) -> Option<ManagedUser>;
            admin::delete_sessions => fn delete_user_sessions[](user_id: &str,
                audit: Option<&AuditEntry>) -> u64;
            admin::remove => fn remove_user[](user_id: &str, audit: Option<&AuditEntry>) -> bool;
            rate_limits::update => fn update_rate_limit[T: Send + 'static](key: &str, new_id: &str,
                rule: impl FnOnce(Option<RateLimitBucket>) -> (Option<RateLimitBucket>, T)
                    + Send + 'static) -> T;
            audit::record => fn record_audit[](entry: &AuditEntry) -> ();
            audit::delete_before => fn delete_audit_before[](before: DateTime<Utc>) -> u64;
            audit::list => fn list_audit[](since: DateTime<Utc>, limit: u32) -> Vec<AuditRow>;
            device_codes::create => fn create_device_code[](row: &DeviceCodeRow) -> bool;
            device_codes::find => fn find_device_code[](device_code: &str)
                -> Option<DeviceCodeRow>;
            device_codes::mark_polled => fn mark_device_code_polled[](id: &str,
                now: DateTime<Utc>) -> ();
            device_codes::delete => fn delete_device_code[](id: &str) -> bool;
            device_codes::consume => fn consume_device_code[](id: &str, client_id: &str)
                -> Option<DeviceCodeRow>;
        }
    };
}
use port_methods;

/// A backend's port methods, each calling its table file's function.
macro_rules! by_table {
    ($($file:ident::$body:ident => fn $name:ident[$($generics:tt)*]($($arg:ident: $ty:ty),*)
        -> $ok:ty;)*) => {
        $(async fn $name<$($generics)*>(&self, $($arg: $ty),*) -> Result<$ok, StoreError> {
            $file::$body(self, $($arg),*).await
        })*
    };
}
use by_table;

/// [`Store`]'s port methods, each on whichever backend this is.
macro_rules! by_backend {
    ($($file:ident::$body:ident => fn $name:ident[$($generics:tt)*]($($arg:ident: $ty:ty),*)
        -> $ok:ty;)*) => {
        $(async fn $name<$($generics)*>(&self, $($arg: $ty),*) -> Result<$ok, StoreError> {
            on_backend!(self, s => s.$name($($arg),*).await)
        })*
    };
}

/// Each call goes to the backend's own implementation.
impl AuthStore for Store {
    port_methods!(by_backend);

    fn as_stored(&self, user: User) -> User {
        on_backend!(self, s => s.as_stored(user))
    }
}
