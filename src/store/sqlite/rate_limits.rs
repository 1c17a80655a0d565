//! Better Auth's `rateLimit` rows, read and written in one transaction holding SQLite's
//! write lock.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::SqliteStore;
use super::errors::sql_error;
use crate::better_auth::ports::{RateLimitBucket, StoreError};

pub(super) async fn update<T: Send + 'static>(
    store: &SqliteStore,
    key: &str,
    new_id: &str,
    rule: impl FnOnce(Option<RateLimitBucket>) -> (Option<RateLimitBucket>, T) + Send + 'static,
) -> Result<T, StoreError> {
    let key = key.to_owned();
    let new_id = new_id.to_owned();
    store
        .with_conn(move |conn| {
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
