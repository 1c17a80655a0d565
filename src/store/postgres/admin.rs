//! The admin plugin's writes and reads of `user` rows (its `role`, `banned`, `banReason`,
//! `banExpires` columns) and of the sessions and accounts they take with them.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use tokio_postgres::types::{ToSql, Type};

use super::PgStore;
use super::audit::{self, Alongside};
use super::errors::db_error;
use crate::better_auth::ports::{
    AdminUpdate, AuditEntry, ManagedUser, SearchField, StoreError, UserPage, UserQuery,
};
use crate::store::rows::{self, MANAGED_USER_COLUMNS};

const PLUGIN: &str = "admin";

/// The schema has the admin plugin's columns (found at migration), or the error that says
/// it has not.
async fn require_columns(store: &PgStore) -> Result<(), StoreError> {
    store.ensure_ready().await?;
    if store.admin_columns.load(Ordering::Relaxed) {
        Ok(())
    } else {
        Err(StoreError::PluginNotEnabled(PLUGIN))
    }
}

pub(super) async fn find(
    store: &PgStore,
    user_id: &str,
) -> Result<Option<ManagedUser>, StoreError> {
    require_columns(store).await?;
    if !store.possible_id(user_id).await? {
        return Ok(None);
    }
    let sql = format!(r#"select {MANAGED_USER_COLUMNS} from "user" u where u."id" = $1::{{ID}}"#);
    let row = store.read_opt(&sql, &[(&user_id, Type::TEXT)]).await?;
    row.map(|r| rows::managed_user(&r, 0))
        .transpose()
        .map_err(db_error)
}

/// The WHERE clause of a query: the plugin's `like` (case-sensitive in PostgreSQL, as its
/// Kysely adapter's), on `$1`; none without a search.
fn search_clause(query: &UserQuery) -> &'static str {
    match query.search.as_ref().map(|(field, ..)| field) {
        Some(SearchField::Email) => r#" where u."email" like $1"#,
        Some(SearchField::Name) => r#" where u."name" like $1"#,
        None => " where $1::text is null",
    }
}

pub(super) async fn list(store: &PgStore, query: &UserQuery) -> Result<UserPage, StoreError> {
    super::traced("select", async move {
        require_columns(store).await?;
        let filter = search_clause(query);
        let order = rows::users_order(query);
        let pattern = query.pattern();
        let client = store.client().await?;
        let page = client
            .query_typed(
                &store.sql(&format!(
                    r#"select {MANAGED_USER_COLUMNS} from "user" u{filter} order by {order}
                   limit $2 offset $3"#
                )),
                &[
                    (&pattern, Type::TEXT),
                    (&query.limit, Type::INT8),
                    (&query.offset, Type::INT8),
                ],
            )
            .await
            .map_err(db_error)?;
        let total: i64 = client
            .query_typed_one(
                &store.sql(&format!(r#"select count(*) from "user" u{filter}"#)),
                &[(&pattern, Type::TEXT)],
            )
            .await
            .map_err(db_error)?
            .get(0);
        let users = page
            .iter()
            .map(|r| rows::managed_user(r, 0))
            .collect::<Result<_, _>>()
            .map_err(db_error)?;
        Ok(UserPage { users, total })
    })
    .await
}

pub(super) async fn update(
    store: &PgStore,
    user_id: &str,
    update: &AdminUpdate,
    now: DateTime<Utc>,
    entry: Option<&AuditEntry>,
) -> Result<Option<ManagedUser>, StoreError> {
    require_columns(store).await?;
    if !store.possible_id(user_id).await? {
        return Ok(None);
    }
    let mut params: Vec<(&(dyn ToSql + Sync), Type)> =
        vec![(&user_id, Type::TEXT), (&now, Type::TIMESTAMPTZ)];
    let set = match update {
        AdminUpdate::Ban { reason, expires } => {
            params.extend([
                (reason as &(dyn ToSql + Sync), Type::TEXT),
                (expires, Type::TIMESTAMPTZ),
            ]);
            r#""banned" = true, "banReason" = $3, "banExpires" = $4, "updatedAt" = $2"#
        }
        AdminUpdate::Unban => {
            r#""banned" = false, "banReason" = null, "banExpires" = null, "updatedAt" = $2"#
        }
        AdminUpdate::Role(role) => {
            params.push((role, Type::TEXT));
            r#""role" = $3, "updatedAt" = $2"#
        }
    };
    let sql = format!(
        r#"update "user" u set {set} where u."id" = $1::{{ID}} returning {MANAGED_USER_COLUMNS}"#
    );
    let written = store
        .write(&sql, params, entry.map(|e| (e, Alongside::IF_WRITTEN)))
        .await?;
    written
        .first()
        .map(|r| rows::managed_user(r, 0))
        .transpose()
        .map_err(db_error)
}

pub(super) async fn delete_sessions(
    store: &PgStore,
    user_id: &str,
    entry: Option<&AuditEntry>,
) -> Result<u64, StoreError> {
    require_columns(store).await?;
    if !store.possible_id(user_id).await? {
        return Ok(0);
    }
    let deleted = store
        .write(
            r#"delete from "session" where "userId" = $1::{ID} returning 1"#,
            vec![(&user_id, Type::TEXT)],
            entry.map(|e| (e, Alongside::ALWAYS)),
        )
        .await?;
    Ok(deleted.len() as u64)
}

pub(super) async fn remove(
    store: &PgStore,
    user_id: &str,
    entry: Option<&AuditEntry>,
) -> Result<bool, StoreError> {
    super::traced("delete", async move {
        require_columns(store).await?;
        if !store.possible_id(user_id).await? {
            return Ok(false);
        }
        let mut client = store.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        for template in [
            r#"delete from "session" where "userId" = $1::{ID}"#,
            r#"delete from "account" where "userId" = $1::{ID}"#,
        ] {
            tx.execute_typed(&store.sql(template), &[(&user_id, Type::TEXT)])
                .await
                .map_err(db_error)?;
        }
        let removed = tx
            .execute_typed(
                &store.sql(r#"delete from "user" where "id" = $1::{ID}"#),
                &[(&user_id, Type::TEXT)],
            )
            .await
            .map_err(db_error)?;
        if let Some(entry) = entry.filter(|_| removed > 0) {
            audit::insert(store, &*tx, entry).await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(removed > 0)
    })
    .await
}
