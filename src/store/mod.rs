//! Persistence in Better Auth's own schema: PostgreSQL (Neon) or an embedded SQLite file.
//! This module owns all SQL and connections; the migrations of each dialect live in
//! `migrations/<dialect>/`.

mod postgres;
mod sqlite;
mod tls;
mod url;

use chrono::{DateTime, Utc};

pub use postgres::{PgStore, PoolSettings};
pub use sqlite::SqliteStore;
pub use url::{DatabaseUrl, PgUrl, SslMode, UrlError};

/// A row of Better Auth's `user` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub email_verified: bool,
    pub image: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A user to create, with its `credential` account (`accountId` = user id, as Better Auth).
pub struct NewUser {
    pub user: User,
    /// The `account` row's own id.
    pub account_id: String,
    pub password_hash: String,
}

/// A row of Better Auth's `session` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    /// The opaque token Better Auth puts (signed) in its cookie and bearer header.
    pub token: String,
    pub user_id: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A session to create. With UUID ids the database makes the id and `id` is not used.
pub struct NewSession {
    pub id: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// What Better Auth writes when it does not know them: "".
    pub ip_address: String,
    pub user_agent: String,
}

/// A public key of Better Auth's JWT plugin (`jwks` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwkRow {
    /// The JWK, as JSON.
    pub public_key: String,
    pub alg: Option<String>,
}

/// What the `jwks` table says of a key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwkLookup {
    Found(JwkRow),
    /// The table has no key of that id.
    Unknown,
    /// There is no `jwks` table: the deployment has no JWT plugin.
    NoKeySource,
}

/// A user found by email, with the password of its credential account if it has one.
pub struct UserWithPassword {
    pub user: User,
    pub password_hash: Option<String>,
}

/// A row of Better Auth's `rateLimit` table: attempts counted and the last one's time (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitBucket {
    pub count: i64,
    pub last_request_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a user with this email already exists")]
    EmailTaken,
    /// The database could not be reached in time; the operation did not happen.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(String),
}

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

    /// Writes the user, its credential account and its first session in one transaction.
    /// Returns them as stored (ids the database made, with UUID ids).
    pub async fn create_user_with_password(
        &self,
        new: &NewUser,
        session: &NewSession,
    ) -> Result<(User, Session), StoreError> {
        match self {
            Self::Postgres(s) => s.create_user_with_password(new, session).await,
            Self::Sqlite(s) => s.create_user_with_password(new, session).await,
        }
    }

    pub async fn create_session(
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
    pub async fn find_session(&self, token: &str) -> Result<Option<(Session, User)>, StoreError> {
        match self {
            Self::Postgres(s) => s.find_session(token).await,
            Self::Sqlite(s) => s.find_session(token).await,
        }
    }

    /// A user by id, with the session `session_id` if it exists and is theirs.
    pub async fn find_user_with_session(
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
    pub async fn extend_session(
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
    pub async fn delete_session(&self, token: &str) -> Result<bool, StoreError> {
        match self {
            Self::Postgres(s) => s.delete_session(token).await,
            Self::Sqlite(s) => s.delete_session(token).await,
        }
    }

    /// Replaces the password hash of a user's credential account.
    pub async fn update_password(
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
    pub async fn find_jwk(&self, kid: &str) -> Result<JwkLookup, StoreError> {
        match self {
            Self::Postgres(s) => s.find_jwk(kid).await,
            Self::Sqlite(s) => s.find_jwk(kid).await,
        }
    }

    /// Looks a user up by exact (already normalised) email.
    pub async fn find_user_by_email(
        &self,
        email: &str,
    ) -> Result<Option<UserWithPassword>, StoreError> {
        match self {
            Self::Postgres(s) => s.find_user_by_email(email).await,
            Self::Sqlite(s) => s.find_user_by_email(email).await,
        }
    }

    pub async fn find_user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        match self {
            Self::Postgres(s) => s.find_user_by_id(id).await,
            Self::Sqlite(s) => s.find_user_by_id(id).await,
        }
    }

    /// Reads the `rateLimit` bucket of `key`, lets `rule` decide, and stores what it
    /// returns, in one transaction holding the row: concurrent processes see each other.
    /// `new_id` is the row's id if the bucket is new.
    pub async fn update_rate_limit<T: Send + 'static>(
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

    /// A short description for logs: never holds a password.
    pub fn describe(&self) -> String {
        match self {
            Self::Postgres(s) => s.describe(),
            Self::Sqlite(s) => s.describe(),
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
