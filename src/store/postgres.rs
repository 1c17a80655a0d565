//! PostgreSQL (Neon) through deadpool-postgres, pooler-safe: every statement goes through
//! the unnamed-statement path (`*_typed`), so PgBouncer in transaction mode never sees a
//! named prepared statement, and no session state is set.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

use super::{Migration, NewUser, PgUrl, RateLimitBucket, StoreError, User, UserWithPassword, tls};

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "better_auth_core",
        sql: include_str!("../../migrations/postgres/0001_better_auth_core.sql"),
    },
    Migration {
        version: 2,
        name: "rate_limit",
        sql: include_str!("../../migrations/postgres/0002_rate_limit.sql"),
    },
];

/// Serialises migrations across server processes; a transaction-scoped lock, so it also
/// works through a transaction pooler.
const MIGRATION_LOCK_KEY: i64 = 0x6261_6d63_705f_6d67; // "bamcp_mg"

/// Pool size and timeouts.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_size: usize,
    pub connect_timeout: Duration,
    /// How long a call waits for a free connection before SERVICE_UNAVAILABLE.
    pub wait_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_size: 8,
            connect_timeout: Duration::from_secs(10),
            wait_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    description: String,
}

const USER_COLUMNS: &str =
    r#"u."id", u."name", u."email", u."emailVerified", u."image", u."createdAt", u."updatedAt""#;

impl PgStore {
    /// Builds the pool; connections are opened on first use.
    pub fn connect(url: &PgUrl, settings: &PoolSettings) -> Result<Self, StoreError> {
        let mut config = url.config.clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(settings.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("better-auth-mcp");
        }
        let tls = tls::connector(url.ssl_mode, url.root_cert.as_deref())?;
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                // A connection Neon dropped while idle is found dead here, not by the caller.
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.max_size.max(1))
            .wait_timeout(Some(settings.wait_timeout))
            .create_timeout(Some(settings.connect_timeout))
            .recycle_timeout(Some(settings.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Other(format!("cannot build the connection pool: {e}")))?;
        Ok(Self {
            pool,
            description: url.describe(),
        })
    }

    pub fn describe(&self) -> String {
        self.description.clone()
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    pub async fn migrate(&self) -> Result<Vec<&'static str>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        tx.execute_typed(
            "select pg_advisory_xact_lock($1)",
            &[(&MIGRATION_LOCK_KEY, Type::INT8)],
        )
        .await
        .map_err(db_error)?;
        tx.batch_execute(
            r#"create table if not exists "better_auth_mcp_migrations" ("version" bigint not null primary key,
                "name" text not null, "appliedAt" timestamptz not null default CURRENT_TIMESTAMP)"#,
        )
        .await
        .map_err(db_error)?;
        let applied: Vec<i64> = tx
            .query_typed(r#"select "version" from "better_auth_mcp_migrations""#, &[])
            .await
            .map_err(db_error)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut done = Vec::new();
        for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
            tx.batch_execute(m.sql).await.map_err(db_error)?;
            tx.execute_typed(
                r#"insert into "better_auth_mcp_migrations" ("version", "name") values ($1, $2)"#,
                &[(&m.version, Type::INT8), (&m.name, Type::TEXT)],
            )
            .await
            .map_err(db_error)?;
            done.push(m.name);
        }
        tx.commit().await.map_err(db_error)?;
        Ok(done)
    }

    pub async fn create_user_with_password(&self, new: &NewUser) -> Result<User, StoreError> {
        let u = &new.user;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        tx.execute_typed(
            r#"insert into "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt")
               values ($1, $2, $3, $4, $5, $6, $7)"#,
            &[
                (&u.id, Type::TEXT),
                (&u.name, Type::TEXT),
                (&u.email, Type::TEXT),
                (&u.email_verified, Type::BOOL),
                (&u.image, Type::TEXT),
                (&u.created_at, Type::TIMESTAMPTZ),
                (&u.updated_at, Type::TIMESTAMPTZ),
            ],
        )
        .await
        .map_err(insert_error)?;
        tx.execute_typed(
            r#"insert into "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt")
               values ($1, $2, 'credential', $2, $3, $4, $5)"#,
            &[
                (&new.account_id, Type::TEXT),
                (&u.id, Type::TEXT),
                (&new.password_hash, Type::TEXT),
                (&u.created_at, Type::TIMESTAMPTZ),
                (&u.updated_at, Type::TIMESTAMPTZ),
            ],
        )
        .await
        .map_err(insert_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(u.clone())
    }

    pub async fn find_user_by_email(
        &self,
        email: &str,
    ) -> Result<Option<UserWithPassword>, StoreError> {
        let sql = format!(
            r#"select {USER_COLUMNS}, (select a."password" from "account" a where a."userId" = u."id"
                 and a."providerId" = 'credential' and a."accountId" = u."id" limit 1)
               from "user" u where u."email" = $1"#
        );
        let client = self.client().await?;
        let row = client
            .query_typed_opt(&sql, &[(&email, Type::TEXT)])
            .await
            .map_err(db_error)?;
        Ok(row.map(|r| UserWithPassword {
            user: user_from_row(&r),
            password_hash: r.get(7),
        }))
    }

    pub async fn find_user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let sql = format!(r#"select {USER_COLUMNS} from "user" u where u."id" = $1"#);
        let client = self.client().await?;
        let row = client
            .query_typed_opt(&sql, &[(&id, Type::TEXT)])
            .await
            .map_err(db_error)?;
        Ok(row.as_ref().map(user_from_row))
    }
}

impl PgStore {
    pub async fn update_rate_limit<T>(
        &self,
        key: &str,
        new_id: &str,
        rule: impl FnOnce(Option<RateLimitBucket>) -> (Option<RateLimitBucket>, T),
    ) -> Result<T, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        // A (0, 0) row stands for "no bucket yet": it lets the next line lock the row.
        tx.execute_typed(
            r#"insert into "rateLimit" ("id", "key", "count", "lastRequest") values ($1, $2, 0, 0)
               on conflict ("key") do nothing"#,
            &[(&new_id, Type::TEXT), (&key, Type::TEXT)],
        )
        .await
        .map_err(db_error)?;
        let row = tx
            .query_typed_one(
                r#"select "count"::int8, "lastRequest"::int8 from "rateLimit" where "key" = $1 for update"#,
                &[(&key, Type::TEXT)],
            )
            .await
            .map_err(db_error)?;
        let previous = match (row.get::<_, i64>(0), row.get::<_, i64>(1)) {
            (0, 0) => None,
            (count, last_request_ms) => Some(RateLimitBucket {
                count,
                last_request_ms,
            }),
        };
        let (next, decision) = rule(previous);
        if let Some(b) = next {
            tx.execute_typed(
                r#"update "rateLimit" set "count" = $2::int8, "lastRequest" = $3 where "key" = $1"#,
                &[
                    (&key, Type::TEXT),
                    (&b.count, Type::INT8),
                    (&b.last_request_ms, Type::INT8),
                ],
            )
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(decision)
    }
}

fn user_from_row(r: &tokio_postgres::Row) -> User {
    User {
        id: r.get(0),
        name: r.get(1),
        email: r.get(2),
        email_verified: r.get(3),
        image: r.get(4),
        created_at: r.get::<_, DateTime<Utc>>(5),
        updated_at: r.get::<_, DateTime<Utc>>(6),
    }
}

fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => db_error(e),
        PoolError::Timeout(kind) => StoreError::Unavailable(format!("pool timeout ({kind:?})")),
        PoolError::Closed => StoreError::Unavailable("pool closed".into()),
        other => StoreError::Other(format!("pool error: {other}")),
    }
}

fn insert_error(e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        let on_email = e
            .as_db_error()
            .and_then(|d| d.constraint())
            .is_none_or(|c| c.contains("email"));
        if on_email {
            return StoreError::EmailTaken;
        }
    }
    db_error(e)
}

/// Classifies an error without its DETAIL (which could quote row values).
fn db_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            let text = format!("{code}: {}", db.message());
            // 08: connection exception; 57P0x: shutdown / cannot connect now; 53300: too many connections.
            if code.starts_with("08") || code.starts_with("57P") || code == "53300" {
                StoreError::Unavailable(text)
            } else {
                StoreError::Other(text)
            }
        }
        // A value that did not convert is our bug, not an outage.
        None if e.to_string().contains("serializ") => StoreError::Other(error_chain(&e)),
        // Otherwise no server error: the connection failed or closed (I/O, TLS, timeout).
        None => StoreError::Unavailable(error_chain(&e)),
    }
}

/// The error with its causes ("error performing TLS handshake: invalid peer certificate: ...").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
