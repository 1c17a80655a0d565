//! Better Auth's `session` rows: created at sign-in (or with the user), found by token
//! or with their user, extended, deleted.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::errors::sql_error;
use super::values::iso;
use super::{SqliteStore, audit};
use crate::better_auth::ports::{AuditEntry, NewSession, Session, StoreError, User};
use crate::store::rows::{self, SESSION_COLUMNS, SESSION_WIDTH, USER_COLUMNS, USER_WIDTH};

/// Inserts a session row (in a transaction or not) and returns it as stored.
pub(super) fn insert(
    conn: &Connection,
    user_id: &str,
    s: &NewSession,
) -> Result<Session, StoreError> {
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

pub(super) async fn create(
    store: &SqliteStore,
    user_id: &str,
    session: &NewSession,
    entry: Option<&AuditEntry>,
) -> Result<Session, StoreError> {
    let user_id = user_id.to_owned();
    let session = session.clone();
    audit::write_with(
        store,
        entry,
        move |conn| insert(conn, &user_id, &session),
        |_, _| true,
    )
    .await
}

pub(super) async fn find(
    store: &SqliteStore,
    token: &str,
) -> Result<Option<(Session, User)>, StoreError> {
    let token = token.to_owned();
    let sql = store.sql(&format!(
        r#"select {SESSION_COLUMNS}, {USER_COLUMNS} from "session" s
               join "user" u on u."id" = s."userId" where s."token" = ?1"#
    ));
    store
        .with_conn(move |conn| {
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

pub(super) async fn find_with_user(
    store: &SqliteStore,
    user_id: &str,
    session_id: &str,
) -> Result<Option<(User, Option<Session>)>, StoreError> {
    let (user_id, session_id) = (user_id.to_owned(), session_id.to_owned());
    let sql = store.sql(&format!(
        r#"select {USER_COLUMNS}, {SESSION_COLUMNS} from "user" u
               left join "session" s on s."id" = ?2 and s."userId" = u."id"
               where u."id" = ?1"#
    ));
    store
        .with_conn(move |conn| {
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

pub(super) async fn extend(
    store: &SqliteStore,
    session_id: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
    entry: Option<&AuditEntry>,
) -> Result<(), StoreError> {
    let (id, expires_at, now) = (session_id.to_owned(), iso(&expires_at), iso(&now));
    audit::write_with(
        store,
        entry,
        move |conn| {
            conn.prepare_cached(
                r#"update "session" set "expiresAt" = ?2, "updatedAt" = ?3 where "id" = ?1"#,
            )
            .and_then(|mut s| s.execute(params![id, expires_at, now]))
            .map_err(sql_error)
        },
        |_, _| true,
    )
    .await?;
    Ok(())
}

pub(super) async fn delete(
    store: &SqliteStore,
    token: &str,
    entry: Option<&AuditEntry>,
) -> Result<bool, StoreError> {
    let token = token.to_owned();
    let deleted = audit::write_with(
        store,
        entry,
        move |conn| {
            conn.prepare_cached(r#"delete from "session" where "token" = ?1 returning "userId""#)
                .and_then(|mut s| {
                    s.query_map([token], |r| r.get::<_, String>(0))?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(sql_error)
        },
        // The row's actor and target, unless it has them: the session's user.
        |users: &Vec<String>, entry| {
            let user = users.first().cloned();
            entry.actor_id = entry.actor_id.take().or(user.clone());
            entry.target_user_id = entry.target_user_id.take().or(user);
            true
        },
    )
    .await?;
    Ok(!deleted.is_empty())
}
