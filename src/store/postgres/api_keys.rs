//! The api-key plugin's `apikey` rows: found by their `key` (the hash), their counters
//! replaced by one compare-and-swap UPDATE, created, listed and deleted.

use chrono::{DateTime, NaiveDateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;

use super::PgStore;
use super::errors::db_error;
use crate::better_auth::ports::{ApiKeyRow, ApiKeyUsage, ApiKeyWrite, NewApiKey, StoreError};

const PLUGIN: &str = "api-key";

/// The row's columns in [`api_key`]'s order (`k` is the table's alias).
const COLUMNS: &str = r#"cast(k."id" as text), k."configId", k."name", k."start",
    cast(k."referenceId" as text), k."prefix", k."refillInterval"::int8, k."refillAmount"::int8,
    k."enabled", k."rateLimitEnabled", k."rateLimitTimeWindow"::int8, k."rateLimitMax"::int8,
    k."remaining"::int8, k."lastRefillAt", k."requestCount"::int8, k."lastRequest",
    k."expiresAt", k."createdAt", k."updatedAt", k."permissions", k."metadata""#;

/// A nullable `timestamptz` (Better Auth's migration) or `timestamp` (Drizzle's) column.
fn opt_time(r: &Row, i: usize) -> Result<Option<DateTime<Utc>>, tokio_postgres::Error> {
    if r.columns().get(i).map(|c| c.type_()) == Some(&Type::TIMESTAMP) {
        return Ok(r
            .try_get::<_, Option<NaiveDateTime>>(i)?
            .map(|t| t.and_utc()));
    }
    r.try_get(i)
}

fn time(r: &Row, i: usize) -> Result<DateTime<Utc>, tokio_postgres::Error> {
    if r.columns().get(i).map(|c| c.type_()) == Some(&Type::TIMESTAMP) {
        return Ok(r.try_get::<_, NaiveDateTime>(i)?.and_utc());
    }
    r.try_get(i)
}

fn api_key(r: &Row) -> Result<ApiKeyRow, tokio_postgres::Error> {
    Ok(ApiKeyRow {
        id: r.try_get(0)?,
        config_id: r.try_get(1)?,
        name: r.try_get(2)?,
        start: r.try_get(3)?,
        reference_id: r.try_get(4)?,
        prefix: r.try_get(5)?,
        refill_interval: r.try_get(6)?,
        refill_amount: r.try_get(7)?,
        enabled: r.try_get(8)?,
        rate_limit_enabled: r.try_get(9)?,
        rate_limit_time_window: r.try_get(10)?,
        rate_limit_max: r.try_get(11)?,
        usage: ApiKeyUsage {
            remaining: r.try_get(12)?,
            last_refill_at: opt_time(r, 13)?,
            request_count: r.try_get(14)?,
            last_request: opt_time(r, 15)?,
        },
        expires_at: opt_time(r, 16)?,
        created_at: time(r, 17)?,
        updated_at: time(r, 18)?,
        permissions: r.try_get(19)?,
        metadata: r.try_get(20)?,
    })
}

/// The deployment has the plugin's table, or the error that says it has not.
async fn require_table(store: &PgStore) -> Result<(), StoreError> {
    if store
        .has_plugin_table(&store.plugins.api_key, "apikey")
        .await?
    {
        Ok(())
    } else {
        Err(StoreError::PluginNotEnabled(PLUGIN))
    }
}

pub(super) async fn find(
    store: &PgStore,
    stored_key: &str,
) -> Result<Option<ApiKeyRow>, StoreError> {
    require_table(store).await?;
    let sql = format!(r#"select {COLUMNS} from "apikey" k where k."key" = $1 limit 1"#);
    let row = store.read_opt(&sql, &[(&stored_key, Type::TEXT)]).await?;
    row.as_ref().map(api_key).transpose().map_err(db_error)
}

pub(super) async fn find_by_id(store: &PgStore, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
    require_table(store).await?;
    if !store.possible_id(id).await? {
        return Ok(None);
    }
    let sql = format!(r#"select {COLUMNS} from "apikey" k where k."id" = $1::{{ID}}"#);
    let row = store.read_opt(&sql, &[(&id, Type::TEXT)]).await?;
    row.as_ref().map(api_key).transpose().map_err(db_error)
}

/// A key's counters become `next` (and `updatedAt`, when given): the write of a use on a
/// row locked since it was read.
macro_rules! set_usage {
    () => {
        r#"update "apikey" set "remaining" = $2::int8, "lastRefillAt" = $3,
      "requestCount" = $4::int8, "lastRequest" = $5, "updatedAt" = coalesce($6, "updatedAt")
    where "id" = $1::{ID}"#
    };
}
const SET_USAGE: &str = set_usage!();
/// [`SET_USAGE`] as a compare-and-swap: only if the counters are still `seen`.
const SWAP_USAGE: &str = concat!(
    set_usage!(),
    r#" and "remaining" is not distinct from $7::int8
      and "lastRefillAt" is not distinct from $8
      and "requestCount" is not distinct from $9::int8
      and "lastRequest" is not distinct from $10"#
);
const DELETE: &str = r#"delete from "apikey" where "id" = $1::{ID}"#;

/// Writes `write` to the key `row` (read as it is now) through `client`; with the usage
/// compare-and-swap, whether the counters were still as read.
async fn apply(
    store: &PgStore,
    client: &impl tokio_postgres::GenericClient,
    row: &ApiKeyRow,
    write: &ApiKeyWrite,
    locked: bool,
) -> Result<bool, StoreError> {
    match write {
        ApiKeyWrite::Nothing => Ok(true),
        ApiKeyWrite::Delete => {
            client
                .execute_typed(&store.sql(DELETE), &[(&row.id, Type::TEXT)])
                .await
                .map_err(db_error)?;
            Ok(true)
        }
        ApiKeyWrite::Usage { next, updated_at } => {
            let seen = &row.usage;
            // On the row locked nothing can have changed: the guard is not needed there
            // (and a `timestamp` column read back under another session TimeZone would
            // not compare equal).
            let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 10] = [
                (&row.id, Type::TEXT),
                (&next.remaining, Type::INT8),
                (&next.last_refill_at, Type::TIMESTAMPTZ),
                (&next.request_count, Type::INT8),
                (&next.last_request, Type::TIMESTAMPTZ),
                (updated_at, Type::TIMESTAMPTZ),
                (&seen.remaining, Type::INT8),
                (&seen.last_refill_at, Type::TIMESTAMPTZ),
                (&seen.request_count, Type::INT8),
                (&seen.last_request, Type::TIMESTAMPTZ),
            ];
            let (sql, params) = if locked {
                (SET_USAGE, &params[..6])
            } else {
                (SWAP_USAGE, &params[..])
            };
            let changed = client
                .execute_typed(&store.sql(sql), params)
                .await
                .map_err(db_error)?;
            Ok(changed == 1)
        }
    }
}

/// One use of a key: read, decide, compare-and-swap (two statements, no transaction: the
/// common case, one use at a time). When another use changed the counters in between,
/// the key is read again locked (`for update`) in a transaction, decided again and
/// written: concurrent uses then queue on the row instead of retrying against each
/// other, and the app's own guarded updates wait for the lock as well.
pub(super) async fn use_key<T>(
    store: &PgStore,
    stored_key: &str,
    mut rule: impl FnMut(Option<&ApiKeyRow>) -> (ApiKeyWrite, T),
) -> Result<T, StoreError> {
    let row = find(store, stored_key).await?;
    let (write, decision) = rule(row.as_ref());
    let Some(row) = row else {
        return Ok(decision);
    };
    {
        let client = store.client().await?;
        if apply(store, &**client, &row, &write, false).await? {
            return Ok(decision);
        }
    }
    tracing::trace!("an API key's counters changed under a use; deciding again, locked");
    let mut client = store.client().await?;
    let tx = client.transaction().await.map_err(db_error)?;
    let sql = store.sql(&format!(
        r#"select {COLUMNS} from "apikey" k where k."key" = $1 limit 1 for update"#
    ));
    let row = tx
        .query_typed_opt(&sql, &[(&stored_key, Type::TEXT)])
        .await
        .map_err(db_error)?
        .as_ref()
        .map(api_key)
        .transpose()
        .map_err(db_error)?;
    let (write, decision) = rule(row.as_ref());
    if let Some(row) = &row
        && !apply(store, &*tx, row, &write, true).await?
    {
        return Err(StoreError::other("a locked API key was not written"));
    }
    tx.commit().await.map_err(db_error)?;
    Ok(decision)
}

pub(super) async fn delete(store: &PgStore, id: &str) -> Result<bool, StoreError> {
    require_table(store).await?;
    if !store.possible_id(id).await? {
        return Ok(false);
    }
    let n = store.execute(DELETE, &[(&id, Type::TEXT)]).await?;
    Ok(n > 0)
}

pub(super) async fn create(store: &PgStore, new: &NewApiKey) -> Result<String, StoreError> {
    require_table(store).await?;
    let k = &new.row;
    // A write: never repeated on a lost connection (read_opt would), or a key could be
    // stored twice.
    let client = store.client().await?;
    let row = client
        .query_typed_opt(
            &store.sql(
                r#"insert into "apikey" ("id", "configId", "name", "start", "referenceId", "prefix",
                 "key", "refillInterval", "refillAmount", "lastRefillAt", "enabled",
                 "rateLimitEnabled", "rateLimitTimeWindow", "rateLimitMax", "requestCount",
                 "remaining", "lastRequest", "expiresAt", "createdAt", "updatedAt",
                 "permissions", "metadata")
               values ({NEW_ID}, $2, $3, $4, $5, $6, $7, $8::int8, $9::int8, $10, $11, $12,
                 $13::int8, $14::int8, $15::int8, $16::int8, $17, $18, $19, $20, $21, $22)
               returning cast("id" as text)"#,
            ),
            &[
                (&k.id, Type::TEXT),
                (&k.config_id, Type::TEXT),
                (&k.name, Type::TEXT),
                (&k.start, Type::TEXT),
                (&k.reference_id, Type::TEXT),
                (&k.prefix, Type::TEXT),
                (&new.stored_key, Type::TEXT),
                (&k.refill_interval, Type::INT8),
                (&k.refill_amount, Type::INT8),
                (&k.usage.last_refill_at, Type::TIMESTAMPTZ),
                (&k.enabled, Type::BOOL),
                (&k.rate_limit_enabled, Type::BOOL),
                (&k.rate_limit_time_window, Type::INT8),
                (&k.rate_limit_max, Type::INT8),
                (&k.usage.request_count, Type::INT8),
                (&k.usage.remaining, Type::INT8),
                (&k.usage.last_request, Type::TIMESTAMPTZ),
                (&k.expires_at, Type::TIMESTAMPTZ),
                (&k.created_at, Type::TIMESTAMPTZ),
                (&k.updated_at, Type::TIMESTAMPTZ),
                (&k.permissions, Type::TEXT),
                (&k.metadata, Type::TEXT),
            ],
        )
        .await
        .map_err(db_error)?
        .ok_or_else(|| StoreError::other("api key insert returned no row"))?;
    row.try_get(0).map_err(db_error)
}

pub(super) async fn list(
    store: &PgStore,
    reference_id: &str,
) -> Result<Vec<ApiKeyRow>, StoreError> {
    require_table(store).await?;
    let sql = store.sql(&format!(
        r#"select {COLUMNS} from "apikey" k where k."referenceId" = $1
           order by k."createdAt" desc limit 100"#
    ));
    let client = store.client().await?;
    let rows = client
        .query_typed(&sql, &[(&reference_id, Type::TEXT)])
        .await
        .map_err(db_error)?;
    rows.iter()
        .map(api_key)
        .collect::<Result<_, _>>()
        .map_err(db_error)
}
