//! The api-key plugin's `apikey` rows: found by their `key` (the hash), a use decided and
//! written under SQLite's write lock, created, listed and deleted.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::errors::sql_error;
use super::values::{bool_at, iso, optional_date_at};
use super::{SqliteStore, audit};
use crate::better_auth::ports::{
    ApiKeyRow, ApiKeyUsage, ApiKeyWrite, AuditEntry, KeyUse, NewApiKey, StoreError,
};
use crate::store::rows::Columns;

/// The row's columns in [`api_key`]'s order.
const COLUMNS: &str = r#""id", "configId", "name", "start", "referenceId", "prefix",
    "refillInterval", "refillAmount", "enabled", "rateLimitEnabled", "rateLimitTimeWindow",
    "rateLimitMax", "remaining", "lastRefillAt", "requestCount", "lastRequest", "expiresAt",
    "createdAt", "updatedAt", "permissions", "metadata""#;

const DELETE: &str = r#"delete from "apikey" where "id" = ?1"#;

fn opt_flag(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<bool>> {
    match r.get_ref(i)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => bool_at(r, i).map(Some),
    }
}

fn api_key(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyRow> {
    Ok(ApiKeyRow {
        id: r.get(0)?,
        config_id: r.get(1)?,
        name: r.get(2)?,
        start: r.get(3)?,
        reference_id: r.get(4)?,
        prefix: r.get(5)?,
        refill_interval: r.get(6)?,
        refill_amount: r.get(7)?,
        enabled: opt_flag(r, 8)?,
        rate_limit_enabled: opt_flag(r, 9)?,
        rate_limit_time_window: r.get(10)?,
        rate_limit_max: r.get(11)?,
        usage: ApiKeyUsage {
            remaining: r.get(12)?,
            last_refill_at: optional_date_at(r, Some(13))?,
            request_count: r.get(14)?,
            last_request: optional_date_at(r, Some(15))?,
        },
        expires_at: optional_date_at(r, Some(16))?,
        created_at: r.time(17)?,
        updated_at: r.time(18)?,
        permissions: r.get(19)?,
        metadata: r.get(20)?,
    })
}

fn opt_iso(t: &Option<DateTime<Utc>>) -> Option<String> {
    t.as_ref().map(iso)
}

pub(super) async fn find(
    store: &SqliteStore,
    stored_key: &str,
) -> Result<Option<ApiKeyRow>, StoreError> {
    let stored_key = stored_key.to_owned();
    store
        .with_conn(move |conn| {
            conn.prepare_cached(&format!(
                r#"select {COLUMNS} from "apikey" where "key" = ?1 limit 1"#
            ))
            .map_err(sql_error)?
            .query_row([stored_key], api_key)
            .optional()
            .map_err(sql_error)
        })
        .await
}

pub(super) async fn find_by_id(
    store: &SqliteStore,
    id: &str,
) -> Result<Option<ApiKeyRow>, StoreError> {
    let id = id.to_owned();
    store
        .with_conn(move |conn| {
            conn.prepare_cached(&format!(
                r#"select {COLUMNS} from "apikey" where "id" = ?1"#
            ))
            .map_err(sql_error)?
            .query_row([id], api_key)
            .optional()
            .map_err(sql_error)
        })
        .await
}

/// One use of a key, under SQLite's write lock from the read on (a transaction begun
/// IMMEDIATE): no other process's use can come in between.
pub(super) async fn use_key<T: Send + 'static>(
    store: &SqliteStore,
    stored_key: &str,
    check_owner: bool,
    mut rule: impl FnMut(Option<&ApiKeyRow>) -> (ApiKeyWrite, T) + Send + 'static,
) -> Result<KeyUse<T>, StoreError> {
    let stored_key = stored_key.to_owned();
    store
        .with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_error)?;
            let row = tx
                .prepare_cached(&format!(
                    r#"select {COLUMNS} from "apikey" where "key" = ?1 limit 1"#
                ))
                .map_err(sql_error)?
                .query_row([&stored_key], api_key)
                .optional()
                .map_err(sql_error)?;
            let (write, decision) = rule(row.as_ref());
            let mut owner_is_user = None;
            match (&row, write) {
                (None, _) | (_, ApiKeyWrite::Nothing) => {}
                (Some(row), ApiKeyWrite::Delete) => {
                    tx.prepare_cached(DELETE)
                        .map_err(sql_error)?
                        .execute([&row.id])
                        .map_err(sql_error)?;
                }
                (Some(row), ApiKeyWrite::Usage { next, updated_at }) => {
                    tx.prepare_cached(
                        r#"update "apikey" set "remaining" = ?2, "lastRefillAt" = ?3,
                             "requestCount" = ?4, "lastRequest" = ?5,
                             "updatedAt" = coalesce(?6, "updatedAt")
                           where "id" = ?1"#,
                    )
                    .map_err(sql_error)?
                    .execute(params![
                        row.id,
                        next.remaining,
                        opt_iso(&next.last_refill_at),
                        next.request_count,
                        opt_iso(&next.last_request),
                        opt_iso(&updated_at),
                    ])
                    .map_err(sql_error)?;
                    if check_owner {
                        owner_is_user = Some(
                            tx.prepare_cached(
                                r#"select exists(select 1 from "user" where "id" = ?1)"#,
                            )
                            .map_err(sql_error)?
                            .query_row([&row.reference_id], |r| r.get(0))
                            .map_err(sql_error)?,
                        );
                    }
                }
            }
            tx.commit().map_err(sql_error)?;
            Ok(KeyUse {
                decision,
                owner_is_user,
            })
        })
        .await
}

pub(super) async fn delete(
    store: &SqliteStore,
    id: &str,
    entry: Option<&AuditEntry>,
) -> Result<bool, StoreError> {
    let id = id.to_owned();
    audit::write_with(
        store,
        entry,
        move |conn| {
            conn.prepare_cached(DELETE)
                .map_err(sql_error)?
                .execute([id])
                .map(|n| n > 0)
                .map_err(sql_error)
        },
        |deleted, _| *deleted,
    )
    .await
}

pub(super) async fn create(
    store: &SqliteStore,
    new: &NewApiKey,
    entry: Option<&AuditEntry>,
) -> Result<String, StoreError> {
    let k = new.row.clone();
    let stored_key = new.stored_key.clone();
    audit::write_with(
        store,
        entry,
        move |conn| {
            conn.prepare_cached(
                r#"insert into "apikey" ("id", "configId", "name", "start", "referenceId",
                     "prefix", "key", "refillInterval", "refillAmount", "lastRefillAt",
                     "enabled", "rateLimitEnabled", "rateLimitTimeWindow", "rateLimitMax",
                     "requestCount", "remaining", "lastRequest", "expiresAt", "createdAt",
                     "updatedAt", "permissions", "metadata")
                   values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                     ?16, ?17, ?18, ?19, ?20, ?21, ?22)"#,
            )
            .map_err(sql_error)?
            .execute(params![
                k.id,
                k.config_id,
                k.name,
                k.start,
                k.reference_id,
                k.prefix,
                stored_key,
                k.refill_interval,
                k.refill_amount,
                opt_iso(&k.usage.last_refill_at),
                k.enabled,
                k.rate_limit_enabled,
                k.rate_limit_time_window,
                k.rate_limit_max,
                k.usage.request_count,
                k.usage.remaining,
                opt_iso(&k.usage.last_request),
                opt_iso(&k.expires_at),
                iso(&k.created_at),
                iso(&k.updated_at),
                k.permissions,
                k.metadata,
            ])
            .map_err(sql_error)?;
            Ok(k.id)
        },
        |id, entry| {
            entry.add_detail("keyId", id.as_str());
            true
        },
    )
    .await
}

pub(super) async fn list(
    store: &SqliteStore,
    reference_id: &str,
) -> Result<Vec<ApiKeyRow>, StoreError> {
    let reference_id = reference_id.to_owned();
    store
        .with_conn(move |conn| {
            let mut statement = conn
                .prepare_cached(&format!(
                    r#"select {COLUMNS} from "apikey" where "referenceId" = ?1
                       order by "createdAt" desc limit 100"#
                ))
                .map_err(sql_error)?;
            let rows = statement
                .query_map([reference_id], api_key)
                .map_err(sql_error)?;
            rows.collect::<Result<_, _>>().map_err(sql_error)
        })
        .await
}
