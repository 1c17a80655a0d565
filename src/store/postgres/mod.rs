//! PostgreSQL (Neon) through deadpool-postgres, pooler-safe: every statement goes through
//! the unnamed-statement path (`*_typed`), so PgBouncer in transaction mode never sees a
//! named prepared statement, and no session state is set.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool::managed::{Metrics, RecycleError, RecycleResult};
use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

use super::migrate::{self, Migration, MigrationTx};
use super::naming::{self, Casing, Naming, SchemaSettings, TableNames};
use super::rows::{self, Columns, SESSION_COLUMNS, SESSION_WIDTH, USER_COLUMNS, USER_WIDTH};
use super::{PgUrl, tls};
use crate::better_auth::{
    Ban, JwkLookup, JwkRow, Lockout, NewSession, NewUser, Outage, RateLimitBucket, Session,
    Standing, StoreError, TwoFactorRow, User, UserWithPassword,
};

const MIGRATIONS: &[Migration] = &migrate::migrations!("postgres");

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
    /// Reads use named prepared statements, cached per connection (the database plans
    /// each query once per connection instead of once per call). Only for a direct
    /// connection: behind a transaction pooler a statement prepared on one server
    /// connection is not there on the next.
    pub prepared_statements: bool,
    /// Where the tables are and how they are named (what is not set is detected).
    pub schema: SchemaSettings,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_size: 8,
            connect_timeout: Duration::from_secs(10),
            wait_timeout: Duration::from_secs(10),
            prepared_statements: false,
            schema: SchemaSettings::default(),
        }
    }
}

/// A connection that was idle this long is checked with a round trip before it is used;
/// one in steady use is not (that check would double the cost of every call).
const VERIFY_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// deadpool-postgres's manager, recycling as Neon needs: a closed connection is dropped,
/// an idle one is verified (Neon drops idle connections when it scales to zero), a busy
/// one is reused as it is.
struct IdleChecked(Manager);

impl deadpool::managed::Manager for IdleChecked {
    type Type = ClientWrapper;
    type Error = tokio_postgres::Error;

    async fn create(&self) -> Result<ClientWrapper, tokio_postgres::Error> {
        crate::entropy::seeded().await;
        deadpool::managed::Manager::create(&self.0).await
    }

    async fn recycle(
        &self,
        client: &mut ClientWrapper,
        metrics: &Metrics,
    ) -> RecycleResult<tokio_postgres::Error> {
        if client.is_closed() {
            return Err(RecycleError::message("connection closed"));
        }
        if metrics.last_used() >= VERIFY_IF_IDLE_FOR {
            client.simple_query("").await?;
        }
        Ok(())
    }

    fn detach(&self, client: &mut ClientWrapper) {
        deadpool::managed::Manager::detach(&self.0, client)
    }
}

type Pool = deadpool::managed::Pool<IdleChecked>;
type PooledClient = deadpool::managed::Object<IdleChecked>;
type PoolError = deadpool::managed::PoolError<tokio_postgres::Error>;

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    description: String,
    /// The deployment uses `generateId: "uuid"`: `id` columns are uuid, made by the database.
    uuid_ids: Arc<AtomicBool>,
    /// The admin plugin's `role` column exists on `user`.
    role_column: Arc<AtomicBool>,
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
}

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
        let manager = IdleChecked(Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        ));
        let pool = Pool::builder(manager)
            .max_size(settings.max_size.max(1))
            .wait_timeout(Some(settings.wait_timeout))
            .create_timeout(Some(settings.connect_timeout))
            .recycle_timeout(Some(settings.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::other(format!("cannot build the connection pool: {e}")))?;
        Ok(Self {
            pool,
            description: url.describe(),
            uuid_ids: Arc::default(),
            role_column: Arc::default(),
            issuer_column: Arc::default(),
            schema: settings.schema.clone(),
            naming: Arc::default(),
            rendered: Arc::default(),
            ready: Arc::default(),
            prepared_statements: settings.prepared_statements,
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
        let naming = self.naming.read().map(|n| n.clone()).unwrap_or_default();
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
    pub fn naming(&self) -> Naming {
        self.naming.read().map(|n| n.clone()).unwrap_or_default()
    }

    /// With UUID ids, a value that is no UUID names no row (and must not reach a cast).
    /// Waits for the migrations, which find the id type.
    async fn possible_id(&self, id: &str) -> Result<bool, StoreError> {
        self.ensure_ready().await?;
        Ok(!self.uuid_ids.load(Ordering::Relaxed) || looks_like_uuid(id))
    }

    pub fn describe(&self) -> String {
        self.description.clone()
    }

    /// A pooled connection, once the migrations have run (every data call comes here).
    async fn client(&self) -> Result<PooledClient, StoreError> {
        self.ensure_ready().await?;
        self.pool.get().await.map_err(pool_error)
    }

    /// A write of one statement; returns the rows it changed. Not repeated on a lost
    /// connection: whether it happened would be unknown.
    async fn execute(
        &self,
        template: &str,
        params: &[(&(dyn tokio_postgres::types::ToSql + Sync), Type)],
    ) -> Result<u64, StoreError> {
        let client = self.client().await?;
        client
            .execute_typed(&self.sql(template), params)
            .await
            .map_err(db_error)
    }

    /// A read of at most one row. A connection lost under it (Neon dropping it, a
    /// restart) is replaced once and the read repeated: reads can be, safely.
    async fn read_opt(
        &self,
        template: &str,
        params: &[(&(dyn tokio_postgres::types::ToSql + Sync), Type)],
    ) -> Result<Option<tokio_postgres::Row>, StoreError> {
        let mut retried = false;
        loop {
            let client = self.client().await?;
            let sql = self.sql(template);
            let read = if self.prepared_statements {
                prepared_read_opt(&client, &sql, params).await
            } else {
                client.query_typed_opt(&sql, params).await
            };
            match read {
                Ok(row) => return Ok(row),
                Err(e) if !retried && connection_lost(&e) => {
                    tracing::debug!("a connection was lost under a read; retrying on a fresh one");
                    retried = true;
                }
                Err(e) => return Err(db_error(e)),
            }
        }
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

    /// The database answers a query, once migrated.
    pub async fn check_ready(&self) -> Result<(), StoreError> {
        self.read_opt("select 1", &[]).await.map(|_| ())
    }

    pub async fn migrate(&self) -> Result<Vec<&'static str>, StoreError> {
        let applied = self.run_migrations().await?;
        let _ = self.ready.set(());
        Ok(applied)
    }

    async fn run_migrations(&self) -> Result<Vec<&'static str>, StoreError> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await.map_err(db_error)?;
        tx.execute_typed(
            "select pg_advisory_xact_lock($1)",
            &[(&MIGRATION_LOCK_KEY, Type::INT8)],
        )
        .await
        .map_err(db_error)?;
        // `create ... if not exists` of a table that exists sends a NOTICE, which
        // tokio-postgres logs at info on every start; this transaction wants warnings only.
        tx.batch_execute("set local client_min_messages = warning")
            .await
            .map_err(db_error)?;
        let naming = detect_naming(&tx, &self.schema).await?;
        if naming.schema != "public" {
            tx.batch_execute(&format!(
                "create schema if not exists {}",
                naming::quote(&naming.schema)
            ))
            .await
            .map_err(db_error)?;
        }
        let done = migrate::run(&mut PgMigration(&tx, &naming), MIGRATIONS).await?;
        let tables: Vec<String> = naming::REQUIRED
            .iter()
            .map(|(model, _)| naming.table(model))
            .collect();
        let columns = table_columns(&tx, &naming.schema, &tables).await?;
        for (model, fields) in naming::REQUIRED {
            let table = naming.table(model);
            for field in *fields {
                let column = naming.column(field);
                if !columns.contains_key(&(table.clone(), column.clone())) {
                    return Err(StoreError::Schema(format!(
                        "the table {} has no column {} (Better Auth's {model}.{field}); set \
                         DATABASE_SCHEMA, DATABASE_SCHEMA_CASING or DATABASE_SCHEMA_TABLES if the \
                         schema is named otherwise",
                        naming.qualified(model),
                        naming::quote(&column),
                    )));
                }
            }
        }
        tx.commit().await.map_err(db_error)?;
        let user_table = naming.table("user");
        let uuid = columns
            .get(&(user_table.clone(), "id".to_owned()))
            .is_some_and(|t| t == "uuid");
        if uuid {
            tracing::info!("the schema uses UUID ids: the database makes them");
        }
        let role = columns.contains_key(&(user_table, "role".to_owned()));
        let issuer = columns.contains_key(&(naming.table("account"), "issuer".to_owned()));
        tracing::info!(
            schema = %naming.schema,
            casing = ?naming.casing,
            tables = ?naming.table_names,
            role,
            account_issuer = issuer,
            "database names"
        );
        self.issuer_column.store(issuer, Ordering::Relaxed);
        self.uuid_ids.store(uuid, Ordering::Relaxed);
        self.role_column.store(role, Ordering::Relaxed);
        if let Ok(mut n) = self.naming.write() {
            *n = naming;
        }
        if let Ok(mut rendered) = self.rendered.write() {
            rendered.clear();
        }
        Ok(done)
    }

    pub async fn create_user_with_password(
        &self,
        new: &NewUser,
        session: Option<&NewSession>,
    ) -> Result<(User, Option<Session>), StoreError> {
        let u = &new.user;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let user_id: String = tx
            .query_typed_one(
                &self.sql(
                    r#"insert into "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt"{ROLE_COLUMN})
                       values ({NEW_ID}, $2, $3, $4, $5, $6, $7{ROLE_VALUE}) returning "id"::text"#,
                ),
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
            .map_err(insert_error)?
            .get(0);
        tx.execute_typed(
            &self.sql(
                r#"insert into "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt"{ISSUER_COLUMN})
                   values ({NEW_ID}, $2, 'credential', $2::{ID}, $3, $4, $5{ISSUER_VALUE})"#,
            ),
            &[
                (&new.account_id, Type::TEXT),
                (&user_id, Type::TEXT),
                (&new.password_hash, Type::TEXT),
                (&u.created_at, Type::TIMESTAMPTZ),
                (&u.updated_at, Type::TIMESTAMPTZ),
            ],
        )
        .await
        .map_err(insert_error)?;
        let session = match session {
            Some(s) => Some(insert_session(self, &*tx, &user_id, s).await?),
            None => None,
        };
        tx.commit().await.map_err(db_error)?;
        let user = User {
            id: user_id,
            role: rows::new_user_role(self.role_column.load(Ordering::Relaxed)),
            ..u.clone()
        };
        Ok((user, session))
    }

    pub fn as_stored(&self, user: User) -> User {
        let id = if self.uuid_ids.load(Ordering::Relaxed) {
            random_uuid()
        } else {
            user.id
        };
        User {
            id,
            role: rows::new_user_role(self.role_column.load(Ordering::Relaxed)),
            ..user
        }
    }

    pub async fn create_session(
        &self,
        user_id: &str,
        session: &NewSession,
    ) -> Result<Session, StoreError> {
        let client = self.client().await?;
        insert_session(self, &**client, user_id, session).await
    }

    pub async fn find_session(&self, token: &str) -> Result<Option<(Session, User)>, StoreError> {
        let sql = format!(
            r#"select {SESSION_COLUMNS}, {USER_COLUMNS} from "session" s
               join "user" u on u."id" = s."userId" where s."token" = $1"#
        );
        let row = self.read_opt(&sql, &[(&token, Type::TEXT)]).await?;
        row.map(|r| Ok((rows::session(&r, 0)?, rows::user(&r, SESSION_WIDTH)?)))
            .transpose()
            .map_err(db_error)
    }

    pub async fn find_user_with_session(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<Option<(User, Option<Session>)>, StoreError> {
        if !self.possible_id(user_id).await? {
            return Ok(None);
        }
        // A session id that cannot exist still looks the user up (USER_NOT_FOUND first).
        let session_id = if self.possible_id(session_id).await? {
            Some(session_id)
        } else {
            None
        };
        let sql = format!(
            r#"select {USER_COLUMNS}, {SESSION_COLUMNS} from "user" u
               left join "session" s on s."id" = $2::{{ID}} and s."userId" = u."id"
               where u."id" = $1::{{ID}}"#
        );
        let row = self
            .read_opt(&sql, &[(&user_id, Type::TEXT), (&session_id, Type::TEXT)])
            .await?;
        row.map(|r| {
            let session = match r.try_get::<_, Option<String>>(USER_WIDTH)? {
                Some(_) => Some(rows::session(&r, USER_WIDTH)?),
                None => None,
            };
            Ok((rows::user(&r, 0)?, session))
        })
        .transpose()
        .map_err(db_error)
    }

    pub async fn extend_session(
        &self,
        session_id: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            r#"update "session" set "expiresAt" = $2, "updatedAt" = $3 where "id" = $1::{ID}"#,
            &[
                (&session_id, Type::TEXT),
                (&expires_at, Type::TIMESTAMPTZ),
                (&now, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn delete_session(&self, token: &str) -> Result<bool, StoreError> {
        let deleted = self
            .execute(
                r#"delete from "session" where "token" = $1"#,
                &[(&token, Type::TEXT)],
            )
            .await?;
        Ok(deleted > 0)
    }

    pub async fn update_password(
        &self,
        user_id: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            r#"update "account" set "password" = $2, "updatedAt" = $3
                   where "userId" = $1::{ID} and "providerId" = 'credential' and "accountId" = $1"#,
            &[
                (&user_id, Type::TEXT),
                (&password_hash, Type::TEXT),
                (&now, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn find_jwk(&self, kid: &str) -> Result<JwkLookup, StoreError> {
        // No JWT plugin in this deployment: no table, no key.
        let table = self
            .read_opt(r#"select to_regclass('"jwks"')::text"#, &[])
            .await?;
        if table.and_then(|r| r.get::<_, Option<String>>(0)).is_none() {
            return Ok(JwkLookup::NoKeySource);
        }
        let row = self
            .read_opt(
                r#"select "publicKey", "alg" from "jwks" where "id"::text = $1"#,
                &[(&kid, Type::TEXT)],
            )
            .await?;
        Ok(row.map_or(JwkLookup::Unknown, |r| {
            JwkLookup::Found(JwkRow {
                public_key: r.get(0),
                alg: r.get(1),
            })
        }))
    }

    pub async fn find_user_by_email(
        &self,
        email: &str,
    ) -> Result<Option<UserWithPassword>, StoreError> {
        let sql = format!(
            r#"select {USER_COLUMNS}, (select a."password" from "account" a where a."userId" = u."id"
                 and a."providerId" = 'credential' and a."accountId" = u."id"::text limit 1)
               from "user" u where u."email" = $1"#
        );
        let row = self.read_opt(&sql, &[(&email, Type::TEXT)]).await?;
        row.map(|r| {
            Ok(UserWithPassword {
                user: rows::user(&r, 0)?,
                password_hash: r.try_get(USER_WIDTH)?,
            })
        })
        .transpose()
        .map_err(db_error)
    }

    pub async fn find_user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        if !self.possible_id(id).await? {
            return Ok(None);
        }
        let sql = format!(r#"select {USER_COLUMNS} from "user" u where u."id" = $1::{{ID}}"#);
        let row = self.read_opt(&sql, &[(&id, Type::TEXT)]).await?;
        row.map(|r| rows::user(&r, 0)).transpose().map_err(db_error)
    }

    pub async fn find_standing(&self, user_id: &str) -> Result<Standing, StoreError> {
        if !self.possible_id(user_id).await? {
            return Ok(Standing::default());
        }
        // The row as JSON: the plugins' columns are read if the schema has them, and a
        // schema without them is no error (Better Auth may add them while we run). The
        // keys are the columns' names in this schema.
        let naming = self.naming();
        let (banned, expires, two_factor) = (
            naming.column("banned"),
            naming.column("banExpires"),
            naming.column("twoFactorEnabled"),
        );
        let row = self
            .read_opt(
                r#"select j ->> $2, j ->> $3, j ->> $4
                       from (select to_jsonb(u) j from "user" u where u."id" = $1::{ID}) r"#,
                &[
                    (&user_id, Type::TEXT),
                    (&banned, Type::TEXT),
                    (&expires, Type::TEXT),
                    (&two_factor, Type::TEXT),
                ],
            )
            .await?;
        let Some(row) = row else {
            return Ok(Standing::default());
        };
        let text = |i: usize| row.try_get::<_, Option<String>>(i).map_err(db_error);
        let ban = match (text(0)?.as_deref(), text(1)?) {
            (Some("true"), None) => Some(Ban { expires_at: None }),
            (Some("true"), Some(end)) => Some(Ban {
                expires_at: Some(json_timestamp(&end).ok_or_else(|| {
                    StoreError::other("user.banExpires holds no timestamp PostgreSQL writes")
                })?),
            }),
            _ => None,
        };
        Ok(Standing {
            ban,
            two_factor_enabled: text(2)?.as_deref() == Some("true"),
        })
    }

    pub async fn lift_ban(&self, user_id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.execute(
            r#"update "user" set "banned" = false, "banReason" = null, "banExpires" = null,
                   "updatedAt" = $2 where "id" = $1::{ID}"#,
            &[(&user_id, Type::TEXT), (&now, Type::TIMESTAMPTZ)],
        )
        .await?;
        Ok(())
    }
}

impl PgStore {
    pub async fn find_two_factor(&self, user_id: &str) -> Result<Option<TwoFactorRow>, StoreError> {
        if !self.possible_id(user_id).await? {
            return Ok(None);
        }
        // No two-factor plugin in this deployment: no table, no row.
        let table = self
            .read_opt(r#"select to_regclass('"twoFactor"')::text"#, &[])
            .await?;
        if table.and_then(|r| r.get::<_, Option<String>>(0)).is_none() {
            return Ok(None);
        }
        // As JSON, so the lockout columns (added in Better Auth 1.7) are optional.
        let row = self
            .read_opt(
                r#"select to_jsonb(t)::text from "twoFactor" t where t."userId" = $1::{ID}
                       limit 1"#,
                &[(&user_id, Type::TEXT)],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let json: String = row.try_get(0).map_err(db_error)?;
        let unreadable = || StoreError::other("a twoFactor row has no id, secret or backupCodes");
        let fields: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&json).map_err(|_| unreadable())?;
        // The keys are the columns' names in this schema.
        let naming = self.naming();
        let field = |name: &str| fields.get(&naming.column(name));
        let text = |name: &str| field(name).and_then(|v| v.as_str()).map(str::to_owned);
        let lockout = field("failedVerificationCount").map(|failed| Lockout {
            failed: failed.as_i64().unwrap_or(0),
            locked_until: text("lockedUntil").and_then(|t| json_timestamp(&t)),
        });
        Ok(Some(TwoFactorRow {
            id: text("id").ok_or_else(unreadable)?,
            secret: text("secret").ok_or_else(unreadable)?,
            backup_codes: text("backupCodes").ok_or_else(unreadable)?,
            verified: field("verified").and_then(|v| v.as_bool()) != Some(false),
            lockout,
        }))
    }

    pub async fn record_second_factor_failure(
        &self,
        two_factor_id: &str,
        max_failed: i64,
        lock_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            r#"update "twoFactor" set
                     "failedVerificationCount" = coalesce("failedVerificationCount", 0) + 1,
                     "lockedUntil" = case when coalesce("failedVerificationCount", 0) + 1 >= $2
                                     then $3 else "lockedUntil" end
                   where "id" = $1::{ID}"#,
            &[
                (&two_factor_id, Type::TEXT),
                (&max_failed, Type::INT8),
                (&lock_until, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn reset_second_factor_failures(
        &self,
        two_factor_id: &str,
    ) -> Result<(), StoreError> {
        self.execute(
            r#"update "twoFactor" set "failedVerificationCount" = 0, "lockedUntil" = null
                   where "id" = $1::{ID}"#,
            &[(&two_factor_id, Type::TEXT)],
        )
        .await?;
        Ok(())
    }

    pub async fn replace_backup_codes(
        &self,
        two_factor_id: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let changed = self
            .execute(
                r#"update "twoFactor" set "backupCodes" = $3
                       where "id" = $1::{ID} and "backupCodes" = $2"#,
                &[
                    (&two_factor_id, Type::TEXT),
                    (&old, Type::TEXT),
                    (&new, Type::TEXT),
                ],
            )
            .await?;
        Ok(changed == 1)
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

/// Inserts a session row (in a transaction or not) and returns it as stored.
async fn insert_session(
    store: &PgStore,
    client: &impl tokio_postgres::GenericClient,
    user_id: &str,
    s: &NewSession,
) -> Result<Session, StoreError> {
    let row = client
        .query_typed_opt(
            &store.sql(rows::INSERT_SESSION),
            &[
                (&s.id, Type::TEXT),
                (&s.expires_at, Type::TIMESTAMPTZ),
                (&s.token, Type::TEXT),
                (&s.created_at, Type::TIMESTAMPTZ),
                (&s.ip_address, Type::TEXT),
                (&s.user_agent, Type::TEXT),
                (&user_id, Type::TEXT),
            ],
        )
        .await
        .map_err(db_error)?
        .ok_or_else(|| StoreError::other("session insert returned no row"))?;
    Ok(s.stored(row.get(0), user_id))
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

/// A random (version 4) UUID, as PostgreSQL's gen_random_uuid() makes them.
fn random_uuid() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn looks_like_uuid(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// The runner's steps on a PostgreSQL transaction.
struct PgMigration<'a>(&'a deadpool_postgres::Transaction<'a>, &'a Naming);

/// The columns (and their types) of `tables` in `schema`, by (table, column). From
/// pg_catalog: information_schema costs tens of milliseconds at every start.
async fn table_columns(
    tx: &deadpool_postgres::Transaction<'_>,
    schema: &str,
    tables: &[String],
) -> Result<HashMap<(String, String), String>, StoreError> {
    let rows = tx
        .query_typed(
            r#"select c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod)
               from pg_catalog.pg_class c
               join pg_catalog.pg_namespace n on n.oid = c.relnamespace
               join pg_catalog.pg_attribute a on a.attrelid = c.oid
               where n.nspname = $1 and c.relname = any($2) and c.relkind in ('r', 'p')
                 and a.attnum > 0 and not a.attisdropped"#,
            &[(&schema, Type::TEXT), (&tables, Type::TEXT_ARRAY)],
        )
        .await
        .map_err(db_error)?;
    Ok(rows
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect())
}

/// The schema's names: as configured, else as its user table shows them (`user` or
/// `users`; `emailVerified` or `email_verified`), else Better Auth's defaults (a database
/// with no user table yet gets Better Auth's own schema).
async fn detect_naming(
    tx: &deadpool_postgres::Transaction<'_>,
    settings: &SchemaSettings,
) -> Result<Naming, StoreError> {
    let candidates = ["user".to_owned(), "users".to_owned()];
    let found = table_columns(tx, &settings.schema, &candidates).await?;
    let has_table = |t: &str| found.keys().any(|(table, _)| table == t);
    let table_names = settings
        .table_names
        .unwrap_or(if has_table("users") && !has_table("user") {
            TableNames::Plural
        } else {
            TableNames::Singular
        });
    let user_table = match table_names {
        TableNames::Singular => "user",
        TableNames::Plural => "users",
    };
    let casing = settings.casing.unwrap_or(
        if found.contains_key(&(user_table.to_owned(), "email_verified".to_owned())) {
            Casing::Snake
        } else {
            Casing::Camel
        },
    );
    Ok(Naming {
        schema: settings.schema.clone(),
        casing,
        table_names,
    })
}

impl MigrationTx for PgMigration<'_> {
    async fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.0
            .batch_execute(&self.1.render(sql))
            .await
            .map_err(db_error)
    }

    async fn applied_versions(&mut self) -> Result<Vec<i64>, StoreError> {
        let rows = self
            .0
            .query_typed(
                &self
                    .1
                    .render(r#"select "version" from "better_auth_mcp_migrations""#),
                &[],
            )
            .await
            .map_err(db_error)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn record(&mut self, m: &Migration) -> Result<(), StoreError> {
        self.0
            .execute_typed(
                &self.1.render(
                    r#"insert into "better_auth_mcp_migrations" ("version", "name") values ($1, $2)"#,
                ),
                &[(&m.version, Type::INT8), (&m.name, Type::TEXT)],
            )
            .await
            .map(|_| ())
            .map_err(db_error)
    }
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
}

/// `query_typed_opt` through the connection's cache of prepared statements.
async fn prepared_read_opt(
    client: &ClientWrapper,
    sql: &str,
    params: &[(&(dyn tokio_postgres::types::ToSql + Sync), Type)],
) -> Result<Option<tokio_postgres::Row>, tokio_postgres::Error> {
    let types: Vec<Type> = params.iter().map(|(_, t)| t.clone()).collect();
    let statement = client.prepare_typed_cached(sql, &types).await?;
    let values: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        params.iter().map(|(v, _)| *v).collect();
    client.query_opt(&statement, &values).await
}

/// The connection is gone (closed, or its backend was terminated), not the query wrong.
fn connection_lost(e: &tokio_postgres::Error) -> bool {
    match e.as_db_error() {
        Some(db) => *db.code() == SqlState::ADMIN_SHUTDOWN,
        None => e.is_closed() || io_failure(e),
    }
}

/// Whether an I/O error (the socket, TLS, a timeout) is among the causes: the
/// connection failed, as opposed to a value that did not convert (our bug).
fn io_failure(e: &tokio_postgres::Error) -> bool {
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if c.is::<std::io::Error>() {
            return true;
        }
        cause = c.source();
    }
    false
}

fn pool_error(e: PoolError) -> StoreError {
    match e {
        // The pool's errors from the backend are failures to open a connection.
        PoolError::Backend(e) => connect_error(e),
        PoolError::Timeout(deadpool::managed::TimeoutType::Wait) => {
            StoreError::outage(Outage::Busy, "pool timeout (waiting for a connection)")
        }
        PoolError::Timeout(kind) => StoreError::unavailable(format!("pool timeout ({kind:?})")),
        PoolError::Closed => StoreError::unavailable("pool closed"),
        other => StoreError::other(format!("pool error: {other}")),
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

/// A connection could not be opened: always an outage, classified by SQLSTATE (the
/// server's refusal) or by the TLS error among the causes. The server's message names
/// the user or database, never the password.
fn connect_error(e: tokio_postgres::Error) -> StoreError {
    let outage = match e.as_db_error().map(|db| db.code().code()) {
        Some(code) => outage_of(code).unwrap_or(Outage::Unreachable),
        None if tls_failure(&e) => Outage::Tls,
        None => Outage::Unreachable,
    };
    let detail = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => error_chain(&e),
    };
    StoreError::outage(outage, detail).caused_by(e)
}

/// The outage a SQLSTATE means, if it is one.
fn outage_of(code: &str) -> Option<Outage> {
    match code {
        // invalid_password; invalid_authorization_specification (no such role, pg_hba).
        "28P01" | "28000" => Some(Outage::Credentials),
        "3D000" => Some(Outage::UnknownDatabase),
        "42501" => Some(Outage::PermissionDenied),
        // 08: connection exception; 57P0x: shutdown / cannot connect now; 53300: too many connections.
        c if c.starts_with("08") || c.starts_with("57P") || c == "53300" => {
            Some(Outage::Unreachable)
        }
        _ => None,
    }
}

/// Whether rustls refused the handshake (an untrusted or mismatched certificate).
fn tls_failure(e: &tokio_postgres::Error) -> bool {
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if c.is::<rustls::Error>()
            || c.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .is_some_and(|inner| inner.is::<rustls::Error>())
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Classifies an error without its DETAIL (which could quote row values).
fn db_error(e: tokio_postgres::Error) -> StoreError {
    let classified = match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            let text = format!("{code}: {}", db.message());
            match outage_of(code) {
                Some(outage) => StoreError::outage(outage, text),
                None => StoreError::other(text),
            }
        }
        // No server error: the connection failed or closed (I/O, TLS, timeout)...
        None if e.is_closed() || io_failure(&e) => StoreError::unavailable(error_chain(&e)),
        // ...or a value did not convert, which is our bug, not an outage.
        None => StoreError::other(error_chain(&e)),
    };
    classified.caused_by(e)
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
