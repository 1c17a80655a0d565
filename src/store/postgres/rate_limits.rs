//! Better Auth's `rateLimit` rows, read and written in one transaction holding the row.

use tokio_postgres::types::Type;

use super::PgStore;
use super::errors::db_error;
use crate::better_auth::ports::{RateLimitBucket, StoreError};

pub(super) async fn update<T>(
    store: &PgStore,
    key: &str,
    new_id: &str,
    rule: impl FnOnce(Option<RateLimitBucket>) -> (Option<RateLimitBucket>, T),
) -> Result<T, StoreError> {
    super::traced("insert", update_locked(store, key, new_id, rule)).await
}

/// [`update`]'s transaction.
async fn update_locked<T>(
    store: &PgStore,
    key: &str,
    new_id: &str,
    rule: impl FnOnce(Option<RateLimitBucket>) -> (Option<RateLimitBucket>, T),
) -> Result<T, StoreError> {
    let mut client = store.client().await?;
    let tx = client.transaction().await.map_err(db_error)?;
    // A (0, 0) row stands for "no bucket yet": it lets the next line lock the row.
    tx.execute_typed(
        &store.sql(
            r#"insert into "rateLimit" ("id", "key", "count", "lastRequest") values ($1, $2, 0, 0)
           on conflict ("key") do nothing"#,
        ),
        &[(&new_id, Type::TEXT), (&key, Type::TEXT)],
    )
    .await
    .map_err(db_error)?;
    let row = tx
        .query_typed_one(
            &store.sql(
                r#"select "count"::int8, "lastRequest"::int8 from "rateLimit" where "key" = $1 for update"#,
            ),
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
            &store.sql(
                r#"update "rateLimit" set "count" = $2::int8, "lastRequest" = $3 where "key" = $1"#,
            ),
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
