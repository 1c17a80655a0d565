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

use crate::better_auth::ports::{
    AuthStore, JwkLookup, NewSession, NewUser, RateLimitBucket, Session, Standing, StoreError,
    TwoFactorRow, User, UserWithPassword,
};

pub use naming::{Casing, SchemaSettings, TableNames};
pub use postgres::{PgStore, PoolSettings};
pub use sqlite::{SqliteStore, files as embedded_files};
pub use url::{DatabaseUrl, PgUrl, SslMode, UrlError};

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

    /// Whether the database answers, migrated (for a load balancer's readiness probe).
    pub async fn check_ready(&self) -> Result<(), StoreError> {
        on_backend!(self, s => s.check_ready().await)
    }

    /// A short description for logs: never holds a password.
    pub fn describe(&self) -> String {
        on_backend!(self, s => s.describe())
    }
}

/// The port's methods that only pass their arguments on, each on whichever backend this
/// is: a new port method is one line here.
macro_rules! delegate {
    ($(async fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        $(async fn $name(&self $(, $arg: $ty)*) -> $ret {
            on_backend!(self, s => s.$name($($arg),*).await)
        })*
    };
}

/// Each call goes to the backend's own implementation.
impl AuthStore for Store {
    delegate! {
        async fn create_user_with_password(&self, new: &NewUser, session: Option<&NewSession>)
            -> Result<(User, Option<Session>), StoreError>;
        async fn create_session(&self, user_id: &str, session: &NewSession)
            -> Result<Session, StoreError>;
        async fn find_session(&self, token: &str) -> Result<Option<(Session, User)>, StoreError>;
        async fn find_user_with_session(&self, user_id: &str, session_id: &str)
            -> Result<Option<(User, Option<Session>)>, StoreError>;
        async fn extend_session(&self, session_id: &str, expires_at: DateTime<Utc>,
            now: DateTime<Utc>) -> Result<(), StoreError>;
        async fn delete_session(&self, token: &str) -> Result<bool, StoreError>;
        async fn update_password(&self, user_id: &str, password_hash: &str, now: DateTime<Utc>)
            -> Result<(), StoreError>;
        async fn find_jwk(&self, kid: &str) -> Result<JwkLookup, StoreError>;
        async fn find_user_by_email(&self, email: &str)
            -> Result<Option<UserWithPassword>, StoreError>;
        async fn find_user_by_id(&self, id: &str) -> Result<Option<User>, StoreError>;
        async fn find_standing(&self, user_id: &str) -> Result<Standing, StoreError>;
        async fn lift_ban(&self, user_id: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
        async fn find_two_factor(&self, user_id: &str) -> Result<Option<TwoFactorRow>, StoreError>;
        async fn record_second_factor_failure(&self, two_factor_id: &str, max_failed: i64,
            lock_until: DateTime<Utc>) -> Result<(), StoreError>;
        async fn reset_second_factor_failures(&self, two_factor_id: &str) -> Result<(), StoreError>;
        async fn replace_backup_codes(&self, two_factor_id: &str, old: &str, new: &str)
            -> Result<bool, StoreError>;
    }

    fn as_stored(&self, user: User) -> User {
        on_backend!(self, s => s.as_stored(user))
    }

    async fn update_rate_limit<T: Send + 'static>(
        &self,
        key: &str,
        new_id: &str,
        rule: impl FnOnce(Option<RateLimitBucket>) -> (Option<RateLimitBucket>, T) + Send + 'static,
    ) -> Result<T, StoreError> {
        on_backend!(self, s => s.update_rate_limit(key, new_id, rule).await)
    }
}
