//! The deviceAuthorization plugin's `deviceCode` rows: created, found by their device
//! code, their poll recorded, deleted, and claimed once (deleted while still approved).

use chrono::{DateTime, Utc};
use rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE;
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use super::errors::sql_error;
use super::values::{iso, optional_date_at};
use crate::better_auth::ports::{DeviceCodeRow, StoreError};
use crate::store::rows::Columns;

/// The row's columns in [`device_code`]'s order.
const COLUMNS: &str = r#""id", "deviceCode", "userCode", "userId", "expiresAt", "status",
    "lastPolledAt", "pollingInterval", "clientId", "scope""#;

fn device_code(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceCodeRow> {
    Ok(DeviceCodeRow {
        id: r.get(0)?,
        device_code: r.get(1)?,
        user_code: r.get(2)?,
        user_id: r.get(3)?,
        expires_at: r.time(4)?,
        status: r.get(5)?,
        last_polled_at: optional_date_at(r, Some(6))?,
        polling_interval: r.get(7)?,
        client_id: r.get(8)?,
        scope: r.get(9)?,
    })
}

pub(super) async fn create(store: &SqliteStore, row: &DeviceCodeRow) -> Result<bool, StoreError> {
    let row = row.clone();
    store
        .with_conn(move |conn| {
            let inserted = conn
                .prepare_cached(&format!(
                    r#"insert into "deviceCode" ({COLUMNS})
                       values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"#
                ))
                .map_err(sql_error)?
                .execute(params![
                    row.id,
                    row.device_code,
                    row.user_code,
                    row.user_id,
                    iso(&row.expires_at),
                    row.status,
                    row.last_polled_at.as_ref().map(iso),
                    row.polling_interval,
                    row.client_id,
                    row.scope,
                ]);
            match inserted {
                Ok(_) => Ok(true),
                Err(e) if e.sqlite_extended_error_code() == Some(SQLITE_CONSTRAINT_UNIQUE) => {
                    Ok(false)
                }
                Err(e) => Err(sql_error(e)),
            }
        })
        .await
}

pub(super) async fn find(
    store: &SqliteStore,
    device_code_value: &str,
) -> Result<Option<DeviceCodeRow>, StoreError> {
    let value = device_code_value.to_owned();
    store
        .with_conn(move |conn| {
            conn.prepare_cached(&format!(
                r#"select {COLUMNS} from "deviceCode" where "deviceCode" = ?1"#
            ))
            .map_err(sql_error)?
            .query_row([value], device_code)
            .optional()
            .map_err(sql_error)
        })
        .await
}

pub(super) async fn mark_polled(
    store: &SqliteStore,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let id = id.to_owned();
    store
        .with_conn(move |conn| {
            conn.prepare_cached(r#"update "deviceCode" set "lastPolledAt" = ?2 where "id" = ?1"#)
                .map_err(sql_error)?
                .execute(params![id, iso(&now)])
                .map(drop)
                .map_err(sql_error)
        })
        .await
}

pub(super) async fn delete(store: &SqliteStore, id: &str) -> Result<bool, StoreError> {
    let id = id.to_owned();
    store
        .with_conn(move |conn| {
            conn.prepare_cached(r#"delete from "deviceCode" where "id" = ?1"#)
                .map_err(sql_error)?
                .execute([id])
                .map(|n| n > 0)
                .map_err(sql_error)
        })
        .await
}

pub(super) async fn consume(
    store: &SqliteStore,
    id: &str,
    client_id: &str,
) -> Result<Option<DeviceCodeRow>, StoreError> {
    let (id, client_id) = (id.to_owned(), client_id.to_owned());
    store
        .with_conn(move |conn| {
            conn.prepare_cached(&format!(
                r#"delete from "deviceCode"
                   where "id" = ?1 and "clientId" = ?2 and "status" = 'approved'
                   returning {COLUMNS}"#
            ))
            .map_err(sql_error)?
            .query_row(params![id, client_id], device_code)
            .optional()
            .map_err(sql_error)
        })
        .await
}
