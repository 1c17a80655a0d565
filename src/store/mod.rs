//! Persistence in Better Auth's own schema: PostgreSQL (Neon) or an embedded SQLite file.
//! This module owns all SQL and connections; the migrations of each dialect live in
//! `migrations/<dialect>/`.

mod postgres;
mod sqlite;
mod tls;
mod url;

use chrono::{DateTime, Utc};

use crate::better_auth::{
    AuthStore, JwkLookup, NewSession, NewUser, RateLimitBucket, Session, StoreError, User,
    UserWithPassword,
};

pub use postgres::{PgStore, PoolSettings};
pub use sqlite::SqliteStore;
pub use url::{DatabaseUrl, PgUrl, SslMode, UrlError};

/// The store behind the auth service.
#[derive(Clone)]
pub enum Store {
    Postgres(PgStore),
    Sqlite(SqliteStore),
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
    pub fn migrate_in_background(&self) {
        if let Self::Postgres(s) = self {
            let s = s.clone();
            tokio::spawn(async move {
                if let Err(e) = s.ensure_ready().await {
                    tracing::error!("database: {e}; calls will try again");
                }
            });
        }
    }

    /// Applies the embedded migrations that this database lacks. Idempotent, and safe
    /// when several servers start at once. Tables that exist are left as they are.
    pub async fn migrate(&self) -> Result<Vec<&'static str>, StoreError> {
        match self {
            Self::Postgres(s) => s.migrate().await,
            Self::Sqlite(s) => s.migrate().await,
        }
    }

    /// A short description for logs: never holds a password.
    pub fn describe(&self) -> String {
        match self {
            Self::Postgres(s) => s.describe(),
            Self::Sqlite(s) => s.describe(),
        }
    }
}

/// Each call goes to the backend's own implementation.
impl AuthStore for Store {
    /// Writes the user, its credential account and its first session in one transaction.
    /// Returns them as stored (ids the database made, with UUID ids).
    async fn create_user_with_password(
        &self,
        new: &NewUser,
        session: &NewSession,
    ) -> Result<(User, Session), StoreError> {
        match self {
            Self::Postgres(s) => s.create_user_with_password(new, session).await,
            Self::Sqlite(s) => s.create_user_with_password(new, session).await,
        }
    }

    async fn create_session(
        &self,
        user_id: &str,
        session: &NewSession,
    ) -> Result<Session, StoreError> {
        match self {
            Self::Postgres(s) => s.create_session(user_id, session).await,
            Self::Sqlite(s) => s.create_session(user_id, session).await,
        }
    }

    /// A session by its token, with its user.
    async fn find_session(&self, token: &str) -> Result<Option<(Session, User)>, StoreError> {
        match self {
            Self::Postgres(s) => s.find_session(token).await,
            Self::Sqlite(s) => s.find_session(token).await,
        }
    }

    /// A user by id, with the session `session_id` if it exists and is theirs.
    async fn find_user_with_session(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<Option<(User, Option<Session>)>, StoreError> {
        match self {
            Self::Postgres(s) => s.find_user_with_session(user_id, session_id).await,
            Self::Sqlite(s) => s.find_user_with_session(user_id, session_id).await,
        }
    }

    /// Moves a session's expiry (Better Auth's `updateAge` refresh).
    async fn extend_session(
        &self,
        session_id: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            Self::Postgres(s) => s.extend_session(session_id, expires_at, now).await,
            Self::Sqlite(s) => s.extend_session(session_id, expires_at, now).await,
        }
    }

    /// Deletes the session with this token; false if there was none.
    async fn delete_session(&self, token: &str) -> Result<bool, StoreError> {
        match self {
            Self::Postgres(s) => s.delete_session(token).await,
            Self::Sqlite(s) => s.delete_session(token).await,
        }
    }

    /// Replaces the password hash of a user's credential account.
    async fn update_password(
        &self,
        user_id: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            Self::Postgres(s) => s.update_password(user_id, password_hash, now).await,
            Self::Sqlite(s) => s.update_password(user_id, password_hash, now).await,
        }
    }

    /// A JWT-plugin public key by its id (the JWT's `kid`).
    async fn find_jwk(&self, kid: &str) -> Result<JwkLookup, StoreError> {
        match self {
            Self::Postgres(s) => s.find_jwk(kid).await,
            Self::Sqlite(s) => s.find_jwk(kid).await,
        }
    }

    /// Looks a user up by exact (already normalised) email.
    async fn find_user_by_email(
        &self,
        email: &str,
    ) -> Result<Option<UserWithPassword>, StoreError> {
        match self {
            Self::Postgres(s) => s.find_user_by_email(email).await,
            Self::Sqlite(s) => s.find_user_by_email(email).await,
        }
    }

    async fn find_user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        match self {
            Self::Postgres(s) => s.find_user_by_id(id).await,
            Self::Sqlite(s) => s.find_user_by_id(id).await,
        }
    }

    /// Reads the `rateLimit` bucket of `key`, lets `rule` decide, and stores what it
    /// returns, in one transaction holding the row: concurrent processes see each other.
    /// `new_id` is the row's id if the bucket is new.
    async fn update_rate_limit<T: Send + 'static>(
        &self,
        key: &str,
        new_id: &str,
        rule: impl FnOnce(Option<RateLimitBucket>) -> (Option<RateLimitBucket>, T) + Send + 'static,
    ) -> Result<T, StoreError> {
        match self {
            Self::Postgres(s) => s.update_rate_limit(key, new_id, rule).await,
            Self::Sqlite(s) => s.update_rate_limit(key, new_id, rule).await,
        }
    }
}

/// The embedded migrations of one dialect, from `migrations/<dialect>/`, in order.
macro_rules! migrations {
    ($dialect:literal) => {
        [
            Migration {
                version: 1,
                name: "better_auth_core",
                sql: include_str!(concat!(
                    "../../migrations/",
                    $dialect,
                    "/0001_better_auth_core.sql"
                )),
            },
            Migration {
                version: 2,
                name: "rate_limit",
                sql: include_str!(concat!(
                    "../../migrations/",
                    $dialect,
                    "/0002_rate_limit.sql"
                )),
            },
        ]
    };
}
pub(crate) use migrations;

/// One embedded migration.
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}
