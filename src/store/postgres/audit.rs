//! This server's audit log, `better_auth_mcp_audit_log` (AUDIT_LOG): made when missing,
//! written with the event it records (a one-statement write gets the row in the same
//! statement, as a data-modifying CTE; a transaction gets it as one more INSERT), read
//! back for `better-auth-mcp audit`, and trimmed to its retention.

use chrono::{DateTime, Utc};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

use super::errors::db_error;
use super::{PgStore, schema};
use crate::better_auth::audit::{AuditEntry, AuditRow};
use crate::better_auth::ports::StoreError;
use crate::store::NO_AUDIT_TABLE;

/// The table and its index, in Better Auth's names (rendered in the deployment's).
const CREATE: &str = r#"create table if not exists "better_auth_mcp_audit_log" (
    "id" text not null primary key,
    "createdAt" timestamptz not null,
    "action" text not null,
    "actorId" text,
    "targetUserId" text,
    "ipAddress" text,
    "outcome" text not null,
    "payload" jsonb not null);
create index if not exists "better_auth_mcp_audit_log_createdAt_idx"
    on "better_auth_mcp_audit_log" ("createdAt")"#;

const COLUMNS: &str =
    r#""id", "createdAt", "action", "actorId", "targetUserId", "ipAddress", "outcome", "payload""#;

/// Serialises the table's creation across server processes (as the migrations are).
const LOCK_KEY: i64 = 0x6261_6d63_705f_616c; // "bamcp_al"

/// How a write's audit row goes with it in one statement.
#[derive(Clone, Copy)]
pub(super) struct Alongside {
    /// Write the row only if the statement returned a row (a write that found nothing to
    /// change records nothing: the flow records its refusal).
    pub if_written: bool,
    /// SQL (over the write's rows, `w`) of the actor and target when the row has none.
    pub user: &'static str,
    /// SQL (over `w`) of a JSON object merged into the payload.
    pub payload: &'static str,
}

impl Alongside {
    pub const ALWAYS: Self = Self {
        if_written: false,
        user: "null",
        payload: "'{}'::jsonb",
    };
    pub const IF_WRITTEN: Self = Self {
        if_written: true,
        ..Self::ALWAYS
    };
}

/// The parameters of a row, in [`COLUMNS`]' order.
pub(super) fn params(e: &AuditEntry) -> [(&(dyn ToSql + Sync), Type); 8] {
    [
        (&e.id, Type::TEXT),
        (&e.created_at, Type::TIMESTAMPTZ),
        (&e.action, Type::TEXT),
        (&e.actor_id, Type::TEXT),
        (&e.target_user_id, Type::TEXT),
        (&e.ip_address, Type::TEXT),
        (&e.outcome, Type::TEXT),
        (&e.payload, Type::TEXT),
    ]
}

/// `write` (a statement with RETURNING, of `n` parameters) and the audit row, whose
/// parameters follow (`$n+1`...), in one statement answering what `write` returns.
pub(super) fn with_row(write: &str, n: usize, how: Alongside) -> String {
    let p = |i: usize| format!("${}", n + i);
    let Alongside {
        if_written,
        user,
        payload,
    } = how;
    let filter = if if_written {
        " where exists (select 1 from w)"
    } else {
        ""
    };
    format!(
        r#"with w as ({write}),
           a as (insert into "better_auth_mcp_audit_log" ({COLUMNS})
                 select {}, {}, {}, coalesce({}, {user}), coalesce({}, {user}), {}, {},
                        {}::jsonb || {payload}{filter})
           select * from w"#,
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7),
        p(8)
    )
}

/// The row as one more statement of a transaction.
pub(super) async fn insert(
    store: &PgStore,
    client: &impl tokio_postgres::GenericClient,
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    client
        .execute_typed(
            &store.sql(&format!(
                r#"insert into "better_auth_mcp_audit_log" ({COLUMNS})
                   values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)"#
            )),
            &params(entry),
        )
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Makes the table where it is missing: idempotent, and safe when servers start at once.
pub(super) async fn prepare(store: &PgStore) -> Result<(), StoreError> {
    let mut client = store.client().await?;
    let tx = schema::locked_transaction(&mut client, LOCK_KEY).await?;
    tx.batch_execute(&store.sql(CREATE))
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)
}

pub(super) async fn record(store: &PgStore, entry: &AuditEntry) -> Result<(), StoreError> {
    let client = store.client().await?;
    insert(store, &**client, entry).await
}

pub(super) async fn delete_before(
    store: &PgStore,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    store
        .execute(
            r#"delete from "better_auth_mcp_audit_log" where "createdAt" < $1"#,
            &[(&before, Type::TIMESTAMPTZ)],
        )
        .await
}

pub(super) async fn list(
    store: &PgStore,
    since: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<AuditRow>, StoreError> {
    let client = store.client().await?;
    let rows = client
        .query_typed(
            &store.sql(
                r#"select "id", "createdAt", "action", "actorId", "targetUserId", "ipAddress",
                     "outcome", cast("payload" as text)
                   from "better_auth_mcp_audit_log" where "createdAt" >= $1
                   order by "createdAt", "id" limit $2"#,
            ),
            &[(&since, Type::TIMESTAMPTZ), (&i64::from(limit), Type::INT8)],
        )
        .await
        .map_err(|e| match e.code() {
            Some(&SqlState::UNDEFINED_TABLE) => StoreError::Schema(NO_AUDIT_TABLE.to_owned()),
            _ => db_error(e),
        })?;
    rows.iter()
        .map(|r| {
            Ok(AuditRow {
                id: r.try_get(0)?,
                created_at: r.try_get(1)?,
                action: r.try_get(2)?,
                actor_id: r.try_get(3)?,
                target_user_id: r.try_get(4)?,
                ip_address: r.try_get(5)?,
                outcome: r.try_get(6)?,
                payload: r.try_get(7)?,
            })
        })
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(db_error)
}
