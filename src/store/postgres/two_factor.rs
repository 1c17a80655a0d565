//! The two-factor plugin's `twoFactor` rows: read as JSON (the lockout columns came in
//! Better Auth 1.7), the failure count and lockout, the backup codes.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;

use super::errors::db_error;
use super::{PgStore, json_timestamp};
use crate::better_auth::ports::{Lockout, StoreError, TwoFactorRow};

pub(super) async fn find(
    store: &PgStore,
    user_id: &str,
) -> Result<Option<TwoFactorRow>, StoreError> {
    if !store.possible_id(user_id).await? {
        return Ok(None);
    }
    // No two-factor plugin in this deployment: no table, no row.
    if !store.has_table("twoFactor").await? {
        return Ok(None);
    }
    // As JSON, so the lockout columns (added in Better Auth 1.7) are optional.
    let row = store
        .read_opt(
            r#"select to_jsonb(t)::text from "twoFactor" t where t."userId" = $1::{ID}
                   limit 1"#,
            &[(&user_id, Type::TEXT)],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let json: String = row.try_get(0).map_err(db_error)?;
    let unreadable = || StoreError::other("a twoFactor row has no id, secret or backupCodes");
    let fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&json).map_err(|_| unreadable())?;
    // The keys are the columns' names in this schema.
    let naming = store.naming();
    let field = |name: &str| fields.get(&naming.column(name));
    let text = |name: &str| field(name).and_then(|v| v.as_str()).map(str::to_owned);
    let lockout = field("failedVerificationCount").map(|failed| Lockout {
        failed: failed.as_i64().unwrap_or(0),
        locked_until: text("lockedUntil").and_then(|t| json_timestamp(&t)),
    });
    Ok(Some(TwoFactorRow {
        id: text("id").ok_or_else(unreadable)?,
        secret: text("secret").ok_or_else(unreadable)?,
        backup_codes: text("backupCodes").ok_or_else(unreadable)?,
        verified: field("verified").and_then(|v| v.as_bool()) != Some(false),
        lockout,
    }))
}

pub(super) async fn record_failure(
    store: &PgStore,
    two_factor_id: &str,
    max_failed: i64,
    lock_until: DateTime<Utc>,
) -> Result<(), StoreError> {
    store
        .execute(
            r#"update "twoFactor" set
                     "failedVerificationCount" = coalesce("failedVerificationCount", 0) + 1,
                     "lockedUntil" = case when coalesce("failedVerificationCount", 0) + 1 >= $2
                                     then $3 else "lockedUntil" end
                   where "id" = $1::{ID}"#,
            &[
                (&two_factor_id, Type::TEXT),
                (&max_failed, Type::INT8),
                (&lock_until, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
    Ok(())
}

pub(super) async fn reset_failures(store: &PgStore, two_factor_id: &str) -> Result<(), StoreError> {
    store
        .execute(
            r#"update "twoFactor" set "failedVerificationCount" = 0, "lockedUntil" = null
                   where "id" = $1::{ID}"#,
            &[(&two_factor_id, Type::TEXT)],
        )
        .await?;
    Ok(())
}

pub(super) async fn replace_backup_codes(
    store: &PgStore,
    two_factor_id: &str,
    old: &str,
    new: &str,
) -> Result<bool, StoreError> {
    let changed = store
        .execute(
            r#"update "twoFactor" set "backupCodes" = $3
                   where "id" = $1::{ID} and "backupCodes" = $2"#,
            &[
                (&two_factor_id, Type::TEXT),
                (&old, Type::TEXT),
                (&new, Type::TEXT),
            ],
        )
        .await?;
    Ok(changed == 1)
}
