//! The deviceAuthorization plugin's `deviceCode` rows: created, found by their device
//! code, their poll recorded, deleted, and claimed once (one DELETE guarded by the status,
//! as the plugin's `consumeOne`).

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

use super::PgStore;
use super::errors::db_error;
use crate::better_auth::ports::{DeviceCodeRow, StoreError};
use crate::store::rows::Columns;

const PLUGIN: &str = "device-authorization";

/// The row's columns in [`device_code`]'s order.
const COLUMNS: &str = r#"cast("id" as text), "deviceCode", "userCode", cast("userId" as text),
    "expiresAt", "status", "lastPolledAt", "pollingInterval"::int8, "clientId", "scope""#;

fn device_code(r: &Row) -> Result<DeviceCodeRow, tokio_postgres::Error> {
    Ok(DeviceCodeRow {
        id: r.try_get(0)?,
        device_code: r.try_get(1)?,
        user_code: r.try_get(2)?,
        user_id: r.try_get(3)?,
        expires_at: r.time(4)?,
        status: r.try_get(5)?,
        last_polled_at: r.opt_time(6)?,
        polling_interval: r.try_get(7)?,
        client_id: r.try_get(8)?,
        scope: r.try_get(9)?,
    })
}

/// The deployment has the plugin's table, or the error that says it has not.
async fn require_table(store: &PgStore) -> Result<(), StoreError> {
    if store
        .has_plugin_table(&store.plugins.device_code, "deviceCode")
        .await?
    {
        Ok(())
    } else {
        Err(StoreError::PluginNotEnabled(PLUGIN))
    }
}

pub(super) async fn create(store: &PgStore, row: &DeviceCodeRow) -> Result<bool, StoreError> {
    super::traced("insert", async move {
        require_table(store).await?;
        // A write: never repeated on a lost connection.
        let client = store.client().await?;
        let inserted = client
            .execute_typed(
                &store.sql(
                    r#"insert into "deviceCode" ("id", "deviceCode", "userCode", "userId",
                     "expiresAt", "status", "lastPolledAt", "pollingInterval", "clientId",
                     "scope")
                   values ({NEW_ID}, $2, $3, $4::{ID}, $5, $6, $7, $8::int8, $9, $10)"#,
                ),
                &[
                    (&row.id, Type::TEXT),
                    (&row.device_code, Type::TEXT),
                    (&row.user_code, Type::TEXT),
                    (&row.user_id, Type::TEXT),
                    (&row.expires_at, Type::TIMESTAMPTZ),
                    (&row.status, Type::TEXT),
                    (&row.last_polled_at, Type::TIMESTAMPTZ),
                    (&row.polling_interval, Type::INT8),
                    (&row.client_id, Type::TEXT),
                    (&row.scope, Type::TEXT),
                ],
            )
            .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(false),
            Err(e) => Err(db_error(e)),
        }
    })
    .await
}

pub(super) async fn find(
    store: &PgStore,
    device_code_value: &str,
) -> Result<Option<DeviceCodeRow>, StoreError> {
    require_table(store).await?;
    let sql = format!(r#"select {COLUMNS} from "deviceCode" where "deviceCode" = $1"#);
    let row = store
        .read_opt(&sql, &[(&device_code_value, Type::TEXT)])
        .await?;
    row.as_ref().map(device_code).transpose().map_err(db_error)
}

pub(super) async fn mark_polled(
    store: &PgStore,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    require_table(store).await?;
    store
        .execute(
            r#"update "deviceCode" set "lastPolledAt" = $2 where "id" = $1::{ID}"#,
            &[(&id, Type::TEXT), (&now, Type::TIMESTAMPTZ)],
        )
        .await
        .map(drop)
}

pub(super) async fn delete(store: &PgStore, id: &str) -> Result<bool, StoreError> {
    require_table(store).await?;
    let n = store
        .execute(
            r#"delete from "deviceCode" where "id" = $1::{ID}"#,
            &[(&id, Type::TEXT)],
        )
        .await?;
    Ok(n > 0)
}

pub(super) async fn consume(
    store: &PgStore,
    id: &str,
    client_id: &str,
) -> Result<Option<DeviceCodeRow>, StoreError> {
    super::traced("delete", async move {
        require_table(store).await?;
        let client = store.client().await?;
        let row = client
            .query_typed_opt(
                &store.sql(&format!(
                    r#"delete from "deviceCode"
                   where "id" = $1::{{ID}} and "clientId" = $2 and "status" = 'approved'
                   returning {COLUMNS}"#
                )),
                &[(&id, Type::TEXT), (&client_id, Type::TEXT)],
            )
            .await
            .map_err(db_error)?;
        row.as_ref().map(device_code).transpose().map_err(db_error)
    })
    .await
}
