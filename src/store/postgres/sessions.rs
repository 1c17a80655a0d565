//! Better Auth's `session` rows: created at sign-in (or with the user), found by token
//! or with their user, extended, deleted.

use chrono::{DateTime, Utc};
use tokio_postgres::types::{ToSql, Type};

use super::PgStore;
use super::audit::{self, Alongside};
use super::errors::db_error;
use crate::better_auth::ports::{AuditEntry, NewSession, Session, StoreError, User};
use crate::store::rows::{self, SESSION_COLUMNS, SESSION_WIDTH, USER_COLUMNS, USER_WIDTH};

/// Inserts a session row (in a transaction or not), with the audit row in the same
/// statement, and returns it as stored.
pub(super) async fn insert(
    store: &PgStore,
    client: &impl tokio_postgres::GenericClient,
    user_id: &str,
    s: &NewSession,
    entry: Option<&AuditEntry>,
) -> Result<Session, StoreError> {
    let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![
        (&s.id, Type::TEXT),
        (&s.expires_at, Type::TIMESTAMPTZ),
        (&s.token, Type::TEXT),
        (&s.created_at, Type::TIMESTAMPTZ),
        (&s.ip_address, Type::TEXT),
        (&s.user_agent, Type::TEXT),
        (&user_id, Type::TEXT),
    ];
    let sql = match entry {
        Some(entry) => {
            let sql = audit::with_row(rows::INSERT_SESSION, params.len(), Alongside::ALWAYS);
            params.extend(audit::params(entry));
            store.sql(&sql)
        }
        None => store.sql(rows::INSERT_SESSION),
    };
    let row = client
        .query_typed_opt(&sql, &params)
        .await
        .map_err(db_error)?
        .ok_or_else(|| StoreError::other("session insert returned no row"))?;
    Ok(s.stored(row.get(0), user_id))
}

pub(super) async fn create(
    store: &PgStore,
    user_id: &str,
    session: &NewSession,
    entry: Option<&AuditEntry>,
) -> Result<Session, StoreError> {
    super::traced("insert", async move {
        let client = store.client().await?;
        insert(store, &**client, user_id, session, entry).await
    })
    .await
}

pub(super) async fn find(
    store: &PgStore,
    token: &str,
) -> Result<Option<(Session, User)>, StoreError> {
    let sql = format!(
        r#"select {SESSION_COLUMNS}, {USER_COLUMNS} from "session" s
           join "user" u on u."id" = s."userId" where s."token" = $1"#
    );
    let row = store.read_opt(&sql, &[(&token, Type::TEXT)]).await?;
    row.map(|r| Ok((rows::session(&r, 0)?, rows::user(&r, SESSION_WIDTH)?)))
        .transpose()
        .map_err(db_error)
}

pub(super) async fn find_with_user(
    store: &PgStore,
    user_id: &str,
    session_id: &str,
) -> Result<Option<(User, Option<Session>)>, StoreError> {
    if !store.possible_id(user_id).await? {
        return Ok(None);
    }
    // A session id that cannot exist still looks the user up (USER_NOT_FOUND first).
    let session_id = if store.possible_id(session_id).await? {
        Some(session_id)
    } else {
        None
    };
    let sql = format!(
        r#"select {USER_COLUMNS}, {SESSION_COLUMNS} from "user" u
           left join "session" s on s."id" = $2::{{ID}} and s."userId" = u."id"
           where u."id" = $1::{{ID}}"#
    );
    let row = store
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

pub(super) async fn extend(
    store: &PgStore,
    session_id: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
    entry: Option<&AuditEntry>,
) -> Result<(), StoreError> {
    const EXTEND: &str = r#"update "session" set "expiresAt" = $2, "updatedAt" = $3 where "id" = $1::{ID} returning 1"#;
    store
        .write(
            EXTEND,
            vec![
                (&session_id, Type::TEXT),
                (&expires_at, Type::TIMESTAMPTZ),
                (&now, Type::TIMESTAMPTZ),
            ],
            entry.map(|e| (e, Alongside::ALWAYS)),
        )
        .await?;
    Ok(())
}

pub(super) async fn delete(
    store: &PgStore,
    token: &str,
    entry: Option<&AuditEntry>,
) -> Result<bool, StoreError> {
    const DELETE: &str =
        r#"delete from "session" where "token" = $1 returning cast("userId" as text)"#;
    // The row's actor and target, unless it has them: the session's user.
    let how = Alongside {
        user: "(select * from w limit 1)",
        ..Alongside::ALWAYS
    };
    let deleted = store
        .write(DELETE, vec![(&token, Type::TEXT)], entry.map(|e| (e, how)))
        .await?;
    Ok(!deleted.is_empty())
}
