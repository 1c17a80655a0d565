//! This server's audit log, `better_auth_mcp_audit_log` (AUDIT_LOG), in the embedded
//! database: made when missing, written in the transaction of the event it records,
//! read back for `better-auth-mcp audit`, and trimmed to its retention.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior, params};

use super::SqliteStore;
use super::errors::sql_error;
use super::values::iso;
use crate::better_auth::audit::{AuditEntry, AuditRow};
use crate::better_auth::ports::StoreError;
use crate::store::NO_AUDIT_TABLE;
use crate::store::rows::Columns;

const CREATE: &str = r#"create table if not exists "better_auth_mcp_audit_log" (
    "id" text not null primary key,
    "createdAt" date not null,
    "action" text not null,
    "actorId" text,
    "targetUserId" text,
    "ipAddress" text,
    "outcome" text not null,
    "payload" text not null);
create index if not exists "better_auth_mcp_audit_log_createdAt_idx"
    on "better_auth_mcp_audit_log" ("createdAt")"#;

/// The row, on a connection (in the event's transaction).
pub(super) fn insert(conn: &Connection, e: &AuditEntry) -> Result<(), StoreError> {
    conn.prepare_cached(
        r#"insert into "better_auth_mcp_audit_log" ("id", "createdAt", "action", "actorId",
             "targetUserId", "ipAddress", "outcome", "payload")
           values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"#,
    )
    .map_err(sql_error)?
    .execute(params![
        e.id,
        iso(&e.created_at),
        e.action,
        e.actor_id,
        e.target_user_id,
        e.ip_address,
        e.outcome,
        e.payload
    ])
    .map_err(sql_error)?;
    Ok(())
}

/// `write`, and the audit row (as `complete` finishes it from what the write returned;
/// false: no row, the write changed nothing) in one transaction holding the write lock.
/// Without a row, `write` alone.
pub(super) async fn write_with<T: Send + 'static>(
    store: &SqliteStore,
    entry: Option<&AuditEntry>,
    write: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    complete: impl FnOnce(&T, &mut AuditEntry) -> bool + Send + 'static,
) -> Result<T, StoreError> {
    let entry = entry.cloned();
    store
        .with_conn(move |conn| {
            let Some(mut entry) = entry else {
                return write(conn);
            };
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_error)?;
            let written = write(&tx)?;
            if complete(&written, &mut entry) {
                insert(&tx, &entry)?;
            }
            tx.commit().map_err(sql_error)?;
            Ok(written)
        })
        .await
}

pub(super) async fn prepare(store: &SqliteStore) -> Result<(), StoreError> {
    store
        .with_conn(|conn| conn.execute_batch(CREATE).map_err(sql_error))
        .await
}

pub(super) async fn record(store: &SqliteStore, entry: &AuditEntry) -> Result<(), StoreError> {
    let entry = entry.clone();
    store.with_conn(move |conn| insert(conn, &entry)).await
}

pub(super) async fn delete_before(
    store: &SqliteStore,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let before = iso(&before);
    store
        .with_conn(move |conn| {
            conn.execute(
                r#"delete from "better_auth_mcp_audit_log" where "createdAt" < ?1"#,
                [before],
            )
            .map(|n| n as u64)
            .map_err(sql_error)
        })
        .await
}

pub(super) async fn list(
    store: &SqliteStore,
    since: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<AuditRow>, StoreError> {
    let since = iso(&since);
    store
        .with_conn(move |conn| {
            let exists: bool = conn
                .query_row(
                    "select exists(select 1 from sqlite_master where type = 'table' \
                     and name = 'better_auth_mcp_audit_log')",
                    [],
                    |r| r.get(0),
                )
                .map_err(sql_error)?;
            if !exists {
                return Err(StoreError::Schema(NO_AUDIT_TABLE.to_owned()));
            }
            conn.prepare(
                r#"select "id", "createdAt", "action", "actorId", "targetUserId", "ipAddress",
                     "outcome", "payload"
                   from "better_auth_mcp_audit_log" where "createdAt" >= ?1
                   order by "createdAt", "id" limit ?2"#,
            )
            .map_err(sql_error)?
            .query_map(params![since, limit], |r| {
                Ok(AuditRow {
                    id: r.text(0)?,
                    created_at: r.time(1)?,
                    action: r.text(2)?,
                    actor_id: r.opt_text(3)?,
                    target_user_id: r.opt_text(4)?,
                    ip_address: r.opt_text(5)?,
                    outcome: r.text(6)?,
                    payload: r.text(7)?,
                })
            })
            .map_err(sql_error)?
            .collect::<Result<_, _>>()
            .map_err(sql_error)
        })
        .await
}
