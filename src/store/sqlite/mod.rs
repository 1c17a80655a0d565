//! The embedded default: one SQLite file (WAL, so several server processes can share it),
//! in Better Auth's schema with SQLite's types (booleans 0/1, dates as ISO-8601 text).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use super::migrate::{self, Migration, MigrationTx};
use super::rows::{self, Columns, SESSION_COLUMNS, SESSION_WIDTH, USER_COLUMNS, USER_WIDTH};
use crate::better_auth::{
    Ban, JwkLookup, JwkRow, Lockout, NewSession, NewUser, RateLimitBucket, Session, Standing,
    StoreError, TwoFactorRow, User, UserWithPassword,
};

/// File modes of the embedded store: the database and its `-wal`/`-shm` are the user's
/// alone (0600), the folder made for them too (0700). SQLite gives the `-wal` and `-shm`
/// files the database file's mode, so creating that file 0600 first covers them.
pub mod private {
    use std::path::Path;

    /// Creates `dir` (and its missing parents) with mode 0700.
    pub fn create_dir(dir: &Path) -> std::io::Result<()> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir)
    }

    /// Options that write a file the user alone may read when they create it (0600).
    pub fn file_options() -> std::fs::OpenOptions {
        let mut options = std::fs::OpenOptions::new();
        options.write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options
    }

    /// Creates the database file 0600 when it is missing (SQLite then gives its `-wal`
    /// and `-shm` files the same mode). An existing file keeps its mode: a database the
    /// user named may be shared on purpose (see [`tighten_store`] for the default one).
    pub fn create_file(db: &Path) -> std::io::Result<()> {
        drop(file_options().create(true).truncate(false).open(db)?);
        Ok(())
    }

    /// Tightens the embedded default store, its `-wal` and `-shm` files (0600) and its
    /// folder (0700) where they are open to the group or others (logged): it is this
    /// server's alone.
    pub fn tighten_store(db: &Path) -> std::io::Result<()> {
        if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
            tighten(dir, 0o700)?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            tighten(Path::new(&name), 0o600)?;
        }
        Ok(())
    }

    /// Removes the group's and others' access to `path` when it exists and has some.
    #[cfg(unix)]
    pub fn tighten(path: &Path, mode: u32) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let was = meta.permissions().mode() & 0o777;
        if was & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            tracing::warn!(
                path = %path.display(),
                was = format!("{was:o}"),
                now = format!("{mode:o}"),
                "the embedded store was readable by other users: its mode is tightened"
            );
        }
        Ok(())
    }

    /// On Windows a file in the user's profile is private to the user by its ACL.
    #[cfg(not(unix))]
    pub fn tighten(_path: &Path, _mode: u32) -> std::io::Result<()> {
        Ok(())
    }
}

const MIGRATIONS: &[Migration] = &migrate::migrations!("sqlite");

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
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its folder, both private to the
    /// user: the file holds password hashes and session tokens.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        let opened = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection, StoreError> {
            if let Some(dir) = opened.parent().filter(|d| !d.as_os_str().is_empty()) {
                private::create_dir(dir).map_err(|e| {
                    StoreError::other(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            private::create_file(&opened).map_err(|e| {
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
            Ok(conn)
        })
        .await
        .map_err(|e| StoreError::other(format!("sqlite open task failed: {e}")))??;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            turn: Arc::new(tokio::sync::Semaphore::new(1)),
            path,
            role_column: Arc::default(),
        })
    }

    pub fn describe(&self) -> String {
        format!("sqlite {}", self.path.display())
    }

    /// SQL with the `role` column's placeholders filled ([`rows::role_sql`]).
    fn sql(&self, template: &str) -> String {
        rows::role_sql(template, self.role_column.load(Ordering::Relaxed))
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        let _turn = self
            .turn
            .acquire()
            .await
            .map_err(|_| StoreError::other("sqlite store closed"))?;
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::other("sqlite connection poisoned"))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::other(format!("sqlite task failed: {e}")))?
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
        self.with_conn(|conn| {
            // IMMEDIATE takes the write lock first: concurrent starters wait, then see the work done.
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_error)?;
            let done = migrate::run_now(migrate::run(&mut SqliteMigration(&tx), MIGRATIONS))?;
            let role = tx
                .prepare(r#"select 1 from pragma_table_info('user') where name = 'role'"#)
                .and_then(|mut s| s.exists([]))
                .map_err(sql_error)?;
            tx.commit().map_err(sql_error)?;
            Ok((done, role))
        })
        .await
        .map(|(done, role)| {
            self.role_column.store(role, Ordering::Relaxed);
            done
        })
    }

    pub async fn create_user_with_password(
        &self,
        new: &NewUser,
        session: Option<&NewSession>,
    ) -> Result<(User, Option<Session>), StoreError> {
        let u = new.user.clone();
        let account_id = new.account_id.clone();
        let hash = new.password_hash.clone();
        let session = session.cloned();
        let insert_user = self.sql(
            r#"insert into "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt"{ROLE_COLUMN})
               values (?1, ?2, ?3, ?4, ?5, ?6, ?7{ROLE_VALUE})"#,
        );
        let role = rows::new_user_role(self.role_column.load(Ordering::Relaxed));
        self.with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_error)?;
            let created = iso(&u.created_at);
            let updated = iso(&u.updated_at);
            tx.execute(
                &insert_user,
                params![u.id, u.name, u.email, u.email_verified, u.image, created, updated],
            )
            .map_err(insert_error)?;
            tx.execute(
                r#"insert into "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt")
                   values (?1, ?2, 'credential', ?2, ?3, ?4, ?5)"#,
                params![account_id, u.id, hash, created, updated],
            )
            .map_err(insert_error)?;
            let session = match &session {
                Some(s) => Some(insert_session(&tx, &u.id, s)?),
                None => None,
            };
            tx.commit().map_err(sql_error)?;
            Ok((User { role, ..u }, session))
        })
        .await
    }

    pub fn as_stored(&self, user: User) -> User {
        User {
            role: rows::new_user_role(self.role_column.load(Ordering::Relaxed)),
            ..user
        }
    }

    pub async fn create_session(
        &self,
        user_id: &str,
        session: &NewSession,
    ) -> Result<Session, StoreError> {
        let user_id = user_id.to_owned();
        let session = session.clone();
        self.with_conn(move |conn| insert_session(conn, &user_id, &session))
            .await
    }

    pub async fn find_session(&self, token: &str) -> Result<Option<(Session, User)>, StoreError> {
        let token = token.to_owned();
        let sql = self.sql(&format!(
            r#"select {SESSION_COLUMNS}, {USER_COLUMNS} from "session" s
                   join "user" u on u."id" = s."userId" where s."token" = ?1"#
        ));
        self.with_conn(move |conn| {
            conn.prepare_cached(&sql)
                .map_err(sql_error)?
                .query_row([token], |r| {
                    Ok((rows::session(r, 0)?, rows::user(r, SESSION_WIDTH)?))
                })
                .optional()
                .map_err(sql_error)
        })
        .await
    }

    pub async fn find_user_with_session(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<Option<(User, Option<Session>)>, StoreError> {
        let (user_id, session_id) = (user_id.to_owned(), session_id.to_owned());
        let sql = self.sql(&format!(
            r#"select {USER_COLUMNS}, {SESSION_COLUMNS} from "user" u
                   left join "session" s on s."id" = ?2 and s."userId" = u."id"
                   where u."id" = ?1"#
        ));
        self.with_conn(move |conn| {
            conn.prepare_cached(&sql)
                .map_err(sql_error)?
                .query_row([user_id, session_id], |r| {
                    let session = match r.get::<_, Option<String>>(USER_WIDTH)? {
                        Some(_) => Some(rows::session(r, USER_WIDTH)?),
                        None => None,
                    };
                    Ok((rows::user(r, 0)?, session))
                })
                .optional()
                .map_err(sql_error)
        })
        .await
    }

    pub async fn extend_session(
        &self,
        session_id: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let session_id = session_id.to_owned();
        self.with_conn(move |conn| {
            conn.prepare_cached(
                r#"update "session" set "expiresAt" = ?2, "updatedAt" = ?3 where "id" = ?1"#,
            )
            .map_err(sql_error)?
            .execute(params![session_id, iso(&expires_at), iso(&now)])
            .map_err(sql_error)?;
            Ok(())
        })
        .await
    }

    pub async fn delete_session(&self, token: &str) -> Result<bool, StoreError> {
        let token = token.to_owned();
        self.with_conn(move |conn| {
            let n = conn
                .prepare_cached(r#"delete from "session" where "token" = ?1"#)
                .map_err(sql_error)?
                .execute([token])
                .map_err(sql_error)?;
            Ok(n > 0)
        })
        .await
    }

    pub async fn update_password(
        &self,
        user_id: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (user_id, hash) = (user_id.to_owned(), password_hash.to_owned());
        self.with_conn(move |conn| {
            conn.prepare_cached(
                r#"update "account" set "password" = ?2, "updatedAt" = ?3
                   where "userId" = ?1 and "providerId" = 'credential' and "accountId" = ?1"#,
            )
            .map_err(sql_error)?
            .execute(params![user_id, hash, iso(&now)])
            .map_err(sql_error)?;
            Ok(())
        })
        .await
    }

    pub async fn find_jwk(&self, kid: &str) -> Result<JwkLookup, StoreError> {
        let kid = kid.to_owned();
        self.with_conn(move |conn| {
            let exists: bool = conn
                .query_row(
                    "select exists(select 1 from sqlite_master where type = 'table' and name = 'jwks')",
                    [],
                    |r| r.get(0),
                )
                .map_err(sql_error)?;
            if !exists {
                return Ok(JwkLookup::NoKeySource);
            }
            conn.prepare_cached(r#"select "publicKey", "alg" from "jwks" where "id" = ?1"#)
                .map_err(sql_error)?
                .query_row([kid], |r| {
                    Ok(JwkRow {
                        public_key: r.get(0)?,
                        alg: r.get(1)?,
                    })
                })
                .optional()
                .map(|row| row.map_or(JwkLookup::Unknown, JwkLookup::Found))
                .map_err(sql_error)
        })
        .await
    }

    pub async fn find_user_by_email(
        &self,
        email: &str,
    ) -> Result<Option<UserWithPassword>, StoreError> {
        let email = email.to_owned();
        let sql = self.sql(&format!(
                r#"select {USER_COLUMNS}, (select a."password" from "account" a where a."userId" = u."id"
                     and a."providerId" = 'credential' and a."accountId" = u."id" limit 1)
                   from "user" u where u."email" = ?1"#
            ));
        self.with_conn(move |conn| {
            conn.prepare_cached(&sql)
                .map_err(sql_error)?
                .query_row([email], |r| {
                    Ok(UserWithPassword {
                        user: rows::user(r, 0)?,
                        password_hash: r.get(USER_WIDTH)?,
                    })
                })
                .optional()
                .map_err(sql_error)
        })
        .await
    }

    pub async fn find_user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let id = id.to_owned();
        let sql = self.sql(&format!(
            r#"select {USER_COLUMNS} from "user" u where u."id" = ?1"#
        ));
        self.with_conn(move |conn| {
            conn.prepare_cached(&sql)
                .map_err(sql_error)?
                .query_row([id], |r| rows::user(r, 0))
                .optional()
                .map_err(sql_error)
        })
        .await
    }

    pub async fn find_standing(&self, user_id: &str) -> Result<Standing, StoreError> {
        let user_id = user_id.to_owned();
        self.with_conn(move |conn| {
            // The whole row: the plugins' columns are read if the schema has them. Their
            // places are looked up on the row, once the statement has run: a cached `*`
            // is expanded again when the schema changed, its columns named anew.
            let mut stmt = conn
                .prepare_cached(r#"select * from "user" where "id" = ?1"#)
                .map_err(sql_error)?;
            stmt.query_row([user_id], |r| {
                let at = |name: &str| r.as_ref().column_index(name).ok();
                let ban = match at("banned") {
                    Some(i) if bool_at(r, i)? => Some(Ban {
                        expires_at: optional_date_at(r, at("banExpires"))?,
                    }),
                    _ => None,
                };
                let two_factor_enabled = match at("twoFactorEnabled") {
                    Some(i) => bool_at(r, i)?,
                    None => false,
                };
                Ok(Standing {
                    ban,
                    two_factor_enabled,
                })
            })
            .optional()
            .map(Option::unwrap_or_default)
            .map_err(sql_error)
        })
        .await
    }

    pub async fn lift_ban(&self, user_id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let user_id = user_id.to_owned();
        self.with_conn(move |conn| {
            conn.prepare_cached(
                r#"update "user" set "banned" = 0, "banReason" = null, "banExpires" = null,
                   "updatedAt" = ?2 where "id" = ?1"#,
            )
            .map_err(sql_error)?
            .execute(params![user_id, iso(&now)])
            .map_err(sql_error)?;
            Ok(())
        })
        .await
    }
}

impl SqliteStore {
    pub async fn find_two_factor(&self, user_id: &str) -> Result<Option<TwoFactorRow>, StoreError> {
        let user_id = user_id.to_owned();
        self.with_conn(move |conn| {
            // No two-factor plugin in this deployment: no table, no row.
            let exists = conn
                .prepare_cached(
                    "select 1 from sqlite_master where type = 'table' and name = 'twoFactor'",
                )
                .and_then(|mut s| s.exists([]))
                .map_err(sql_error)?;
            if !exists {
                return Ok(None);
            }
            let mut stmt = conn
                .prepare_cached(r#"select * from "twoFactor" where "userId" = ?1 limit 1"#)
                .map_err(sql_error)?;
            stmt.query_row([user_id], |r| {
                let at = |name: &str| r.as_ref().column_index(name).ok();
                let lockout = match at("failedVerificationCount") {
                    Some(f) => Some(Lockout {
                        failed: r.get::<_, Option<i64>>(f)?.unwrap_or(0),
                        locked_until: optional_date_at(r, at("lockedUntil"))?,
                    }),
                    None => None,
                };
                Ok(TwoFactorRow {
                    id: r.get("id")?,
                    secret: r.get("secret")?,
                    backup_codes: r.get("backupCodes")?,
                    verified: match at("verified") {
                        Some(v) if r.get_ref(v)? != ValueRef::Null => bool_at(r, v)?,
                        _ => true,
                    },
                    lockout,
                })
            })
            .optional()
            .map_err(sql_error)
        })
        .await
    }

    pub async fn record_second_factor_failure(
        &self,
        two_factor_id: &str,
        max_failed: i64,
        lock_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let two_factor_id = two_factor_id.to_owned();
        self.with_conn(move |conn| {
            conn.prepare_cached(
                r#"update "twoFactor" set
                     "failedVerificationCount" = coalesce("failedVerificationCount", 0) + 1,
                     "lockedUntil" = case when coalesce("failedVerificationCount", 0) + 1 >= ?2
                                     then ?3 else "lockedUntil" end
                   where "id" = ?1"#,
            )
            .map_err(sql_error)?
            .execute(params![two_factor_id, max_failed, iso(&lock_until)])
            .map_err(sql_error)?;
            Ok(())
        })
        .await
    }

    pub async fn reset_second_factor_failures(
        &self,
        two_factor_id: &str,
    ) -> Result<(), StoreError> {
        let two_factor_id = two_factor_id.to_owned();
        self.with_conn(move |conn| {
            conn.prepare_cached(
                r#"update "twoFactor" set "failedVerificationCount" = 0, "lockedUntil" = null
                   where "id" = ?1"#,
            )
            .map_err(sql_error)?
            .execute([two_factor_id])
            .map_err(sql_error)?;
            Ok(())
        })
        .await
    }

    pub async fn replace_backup_codes(
        &self,
        two_factor_id: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let (id, old, new) = (two_factor_id.to_owned(), old.to_owned(), new.to_owned());
        self.with_conn(move |conn| {
            let changed = conn
                .prepare_cached(
                    r#"update "twoFactor" set "backupCodes" = ?3
                       where "id" = ?1 and "backupCodes" = ?2"#,
                )
                .map_err(sql_error)?
                .execute(params![id, old, new])
                .map_err(sql_error)?;
            Ok(changed == 1)
        })
        .await
    }
}

impl SqliteStore {
    pub async fn update_rate_limit<T: Send + 'static>(
        &self,
        key: &str,
        new_id: &str,
        rule: impl FnOnce(Option<RateLimitBucket>) -> (Option<RateLimitBucket>, T) + Send + 'static,
    ) -> Result<T, StoreError> {
        let key = key.to_owned();
        let new_id = new_id.to_owned();
        self.with_conn(move |conn| {
            // IMMEDIATE: the write lock is held from the read on, across processes.
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_error)?;
            let previous = tx
                .prepare_cached(r#"select "count", "lastRequest" from "rateLimit" where "key" = ?1"#)
                .map_err(sql_error)?
                .query_row([&key], |r| {
                    Ok(RateLimitBucket {
                        count: r.get(0)?,
                        last_request_ms: r.get(1)?,
                    })
                })
                .optional()
                .map_err(sql_error)?;
            let (next, decision) = rule(previous);
            if let Some(b) = next {
                tx.prepare_cached(
                    r#"insert into "rateLimit" ("id", "key", "count", "lastRequest") values (?1, ?2, ?3, ?4)
                       on conflict ("key") do update set "count" = excluded."count", "lastRequest" = excluded."lastRequest""#,
                )
                .map_err(sql_error)?
                .execute(params![new_id, key, b.count, b.last_request_ms])
                .map_err(sql_error)?;
            }
            tx.commit().map_err(sql_error)?;
            Ok(decision)
        })
        .await
    }
}

fn insert_session(conn: &Connection, user_id: &str, s: &NewSession) -> Result<Session, StoreError> {
    // SQLite numbers `$n` parameters in the order they first appear, which is n here.
    let sql = rows::INSERT_SESSION
        .replace("{ID}", "text")
        .replace("{NEW_ID}", "$1");
    let created = iso(&s.created_at);
    let id: String = conn
        .prepare_cached(&sql)
        .map_err(sql_error)?
        .query_row(
            params![
                s.id,
                iso(&s.expires_at),
                s.token,
                created,
                s.ip_address,
                s.user_agent,
                user_id
            ],
            |r| r.get(0),
        )
        .map_err(sql_error)?;
    Ok(s.stored(id, user_id))
}

/// JavaScript's `Date.toISOString()` form, as Better Auth writes dates to SQLite.
fn iso(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
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

impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;

    fn text(&self, i: usize) -> rusqlite::Result<String> {
        self.get(i)
    }

    fn opt_text(&self, i: usize) -> rusqlite::Result<Option<String>> {
        self.get(i)
    }

    fn flag(&self, i: usize) -> rusqlite::Result<bool> {
        bool_at(self, i)
    }

    fn time(&self, i: usize) -> rusqlite::Result<DateTime<Utc>> {
        date_at(self, i)
    }
}

/// A nullable date column, if the schema has it (`i`).
fn optional_date_at(
    r: &rusqlite::Row<'_>,
    i: Option<usize>,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match i {
        Some(i) if r.get_ref(i)? != ValueRef::Null => date_at(r, i).map(Some),
        _ => Ok(None),
    }
}

fn bool_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<bool> {
    Ok(match r.get_ref(i)? {
        ValueRef::Integer(n) => n != 0,
        ValueRef::Text(t) => t == b"true" || t == b"1",
        _ => false,
    })
}

/// Dates written by Better Auth (ISO text or epoch milliseconds) or by SQLite's
/// CURRENT_TIMESTAMP (`YYYY-MM-DD HH:MM:SS`, UTC).
fn date_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<DateTime<Utc>> {
    let bad = || rusqlite::Error::InvalidColumnType(i, "date".into(), rusqlite::types::Type::Text);
    match r.get_ref(i)? {
        ValueRef::Integer(ms) => Utc.timestamp_millis_opt(ms).single().ok_or_else(bad),
        ValueRef::Real(ms) => Utc.timestamp_millis_opt(ms as i64).single().ok_or_else(bad),
        ValueRef::Text(t) => {
            let s = std::str::from_utf8(t).map_err(|_| bad())?;
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .or_else(|_| {
                    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").map(|n| n.and_utc())
                })
                .map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

fn insert_error(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, Some(msg)) = &e
        && f.code == ErrorCode::ConstraintViolation
        && msg.contains("user.email")
    {
        return StoreError::EmailTaken;
    }
    sql_error(e)
}

fn sql_error(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::CannotOpen
            ) =>
        {
            StoreError::unavailable(e.to_string()).caused_by(e)
        }
        _ => StoreError::other(e.to_string()).caused_by(e),
    }
}
