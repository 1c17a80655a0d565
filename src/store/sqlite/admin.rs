//! The admin plugin's writes and reads of `user` rows (its `role`, `banned`, `banReason`,
//! `banExpires` columns) and of the sessions and accounts they take with them; and those
//! columns themselves, which the admin toolset adds to an SQLite database that lacks them.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, TransactionBehavior};

use super::errors::sql_error;
use super::values::iso;
use super::{SqliteStore, audit};
use crate::better_auth::ports::{
    AdminUpdate, AuditEntry, ManagedUser, SearchField, StoreError, UserPage, UserQuery,
};
use crate::store::rows::{self, MANAGED_USER_COLUMNS};

const PLUGIN: &str = "admin";

/// The admin plugin's columns as its Kysely migration adds them to SQLite.
pub(super) const COLUMNS: &[(&str, &str)] = &[
    ("role", "text"),
    ("banned", "integer"),
    ("banReason", "text"),
    ("banExpires", "date"),
];

/// Adds to `user` the admin plugin's columns it lacks (as the app's migration would with
/// admin() on), in one transaction holding the write lock.
pub(super) fn add_columns(conn: &mut rusqlite::Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_error)?;
    for (name, kind) in COLUMNS {
        if !has_column(&tx, name)? {
            tx.execute_batch(&format!(r#"alter table "user" add column "{name}" {kind}"#))
                .map_err(sql_error)?;
        }
    }
    tx.commit().map_err(sql_error)
}

pub(super) fn has_column(conn: &rusqlite::Connection, name: &str) -> Result<bool, StoreError> {
    conn.prepare_cached(r#"select 1 from pragma_table_info('user') where name = ?1"#)
        .and_then(|mut s| s.exists([name]))
        .map_err(sql_error)
}

fn require_columns(store: &SqliteStore) -> Result<(), StoreError> {
    if store.admin_columns.load(Ordering::Relaxed) {
        Ok(())
    } else {
        Err(StoreError::PluginNotEnabled(PLUGIN))
    }
}

fn select_one(
    conn: &rusqlite::Connection,
    sql: &str,
    id: &str,
) -> Result<Option<ManagedUser>, StoreError> {
    conn.prepare_cached(sql)
        .map_err(sql_error)?
        .query_row([id], |r| rows::managed_user(r, 0))
        .optional()
        .map_err(sql_error)
}

pub(super) async fn find(
    store: &SqliteStore,
    user_id: &str,
) -> Result<Option<ManagedUser>, StoreError> {
    require_columns(store)?;
    let id = user_id.to_owned();
    let sql = store.sql(&format!(
        r#"select {MANAGED_USER_COLUMNS} from "user" u where u."id" = ?1"#
    ));
    store
        .with_conn(move |conn| select_one(conn, &sql, &id))
        .await
}

pub(super) async fn list(store: &SqliteStore, query: &UserQuery) -> Result<UserPage, StoreError> {
    require_columns(store)?;
    // SQLite's `like`, as the plugin's Kysely adapter uses it there (ASCII case-insensitive).
    let filter = match query.search.as_ref().map(|(field, ..)| field) {
        Some(SearchField::Email) => r#" where u."email" like ?1"#,
        Some(SearchField::Name) => r#" where u."name" like ?1"#,
        None => " where ?1 is null",
    };
    let order = rows::users_order(query);
    let page_sql = store.sql(&format!(
        r#"select {MANAGED_USER_COLUMNS} from "user" u{filter} order by {order} limit ?2 offset ?3"#
    ));
    let count_sql = format!(r#"select count(*) from "user" u{filter}"#);
    let pattern = query.pattern();
    let (limit, offset) = (query.limit, query.offset);
    store
        .with_conn(move |conn| {
            let users = conn
                .prepare_cached(&page_sql)
                .map_err(sql_error)?
                .query_map(rusqlite::params![pattern, limit, offset], |r| {
                    rows::managed_user(r, 0)
                })
                .map_err(sql_error)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sql_error)?;
            let total = conn
                .prepare_cached(&count_sql)
                .map_err(sql_error)?
                .query_row([pattern], |r| r.get(0))
                .map_err(sql_error)?;
            Ok(UserPage { users, total })
        })
        .await
}

pub(super) async fn update(
    store: &SqliteStore,
    user_id: &str,
    update: &AdminUpdate,
    now: DateTime<Utc>,
    entry: Option<&AuditEntry>,
) -> Result<Option<ManagedUser>, StoreError> {
    let entry = entry.cloned();
    require_columns(store)?;
    let id = user_id.to_owned();
    let (set, values): (&str, Vec<Value>) = match update {
        AdminUpdate::Ban { reason, expires } => (
            r#""banned" = 1, "banReason" = ?3, "banExpires" = ?4, "updatedAt" = ?2"#,
            vec![reason.clone().into(), expires.as_ref().map(iso).into()],
        ),
        AdminUpdate::Unban => (
            r#""banned" = 0, "banReason" = null, "banExpires" = null, "updatedAt" = ?2"#,
            vec![],
        ),
        AdminUpdate::Role(role) => (
            r#""role" = ?3, "updatedAt" = ?2"#,
            vec![role.clone().into()],
        ),
    };
    let write = format!(r#"update "user" set {set} where "id" = ?1"#);
    let read = store.sql(&format!(
        r#"select {MANAGED_USER_COLUMNS} from "user" u where u."id" = ?1"#
    ));
    let mut params: Vec<Value> = vec![id.clone().into(), iso(&now).into()];
    params.extend(values);
    store
        .with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_error)?;
            let changed = tx
                .prepare_cached(&write)
                .map_err(sql_error)?
                .execute(rusqlite::params_from_iter(params))
                .map_err(sql_error)?;
            let user = if changed > 0 {
                select_one(&tx, &read, &id)?
            } else {
                None
            };
            if let Some(entry) = entry.as_ref().filter(|_| user.is_some()) {
                audit::insert(&tx, entry)?;
            }
            tx.commit().map_err(sql_error)?;
            Ok(user)
        })
        .await
}

pub(super) async fn delete_sessions(
    store: &SqliteStore,
    user_id: &str,
    entry: Option<&AuditEntry>,
) -> Result<u64, StoreError> {
    require_columns(store)?;
    let id = user_id.to_owned();
    audit::write_with(
        store,
        entry,
        move |conn| {
            conn.execute(r#"delete from "session" where "userId" = ?1"#, [id])
                .map(|n| n as u64)
                .map_err(sql_error)
        },
        |_, _| true,
    )
    .await
}

pub(super) async fn remove(
    store: &SqliteStore,
    user_id: &str,
    entry: Option<&AuditEntry>,
) -> Result<bool, StoreError> {
    require_columns(store)?;
    let id = user_id.to_owned();
    let entry = entry.cloned();
    store
        .with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_error)?;
            for sql in [
                r#"delete from "session" where "userId" = ?1"#,
                r#"delete from "account" where "userId" = ?1"#,
            ] {
                tx.execute(sql, [&id]).map_err(sql_error)?;
            }
            let removed = tx
                .execute(r#"delete from "user" where "id" = ?1"#, [&id])
                .map_err(sql_error)?;
            if let Some(entry) = entry.as_ref().filter(|_| removed > 0) {
                audit::insert(&tx, entry)?;
            }
            tx.commit().map_err(sql_error)?;
            Ok(removed > 0)
        })
        .await
}
