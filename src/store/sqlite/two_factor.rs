//! The two-factor plugin's `twoFactor` rows: read whole (the lockout columns came in
//! Better Auth 1.7), the failure count and lockout, the backup codes.

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;
use rusqlite::types::ValueRef;

use super::SqliteStore;
use super::errors::sql_error;
use super::values::{bool_at, iso, optional_date_at};
use crate::better_auth::ports::{Lockout, StoreError, TwoFactorRow};

pub(super) async fn find(
    store: &SqliteStore,
    user_id: &str,
) -> Result<Option<TwoFactorRow>, StoreError> {
    let user_id = user_id.to_owned();
    store
        .with_conn(move |conn| {
            // No two-factor plugin in this deployment: no table, no row.
            let exists = conn
                .prepare_cached(
                    "select 1 from sqlite_master where type = 'table' and name = 'twoFactor'",
                )
                .and_then(|mut s| s.exists([]))
                .map_err(sql_error)?;
            if !exists {
                return Ok(None);
            }
            let mut stmt = conn
                .prepare_cached(r#"select * from "twoFactor" where "userId" = ?1 limit 1"#)
                .map_err(sql_error)?;
            stmt.query_row([user_id], |r| {
                let at = |name: &str| r.as_ref().column_index(name).ok();
                let lockout = match at("failedVerificationCount") {
                    Some(f) => Some(Lockout {
                        failed: r.get::<_, Option<i64>>(f)?.unwrap_or(0),
                        locked_until: optional_date_at(r, at("lockedUntil"))?,
                    }),
                    None => None,
                };
                Ok(TwoFactorRow {
                    id: r.get("id")?,
                    secret: r.get("secret")?,
                    backup_codes: r.get("backupCodes")?,
                    verified: match at("verified") {
                        Some(v) if r.get_ref(v)? != ValueRef::Null => bool_at(r, v)?,
                        _ => true,
                    },
                    lockout,
                })
            })
            .optional()
            .map_err(sql_error)
        })
        .await
}

pub(super) async fn record_failure(
    store: &SqliteStore,
    two_factor_id: &str,
    max_failed: i64,
    lock_until: DateTime<Utc>,
) -> Result<(), StoreError> {
    store
        .execute(
            r#"update "twoFactor" set
                 "failedVerificationCount" = coalesce("failedVerificationCount", 0) + 1,
                 "lockedUntil" = case when coalesce("failedVerificationCount", 0) + 1 >= ?2
                                 then ?3 else "lockedUntil" end
               where "id" = ?1"#,
            vec![
                two_factor_id.to_owned().into(),
                max_failed.into(),
                iso(&lock_until).into(),
            ],
        )
        .await?;
    Ok(())
}

pub(super) async fn reset_failures(
    store: &SqliteStore,
    two_factor_id: &str,
) -> Result<(), StoreError> {
    store
        .execute(
            r#"update "twoFactor" set "failedVerificationCount" = 0, "lockedUntil" = null
               where "id" = ?1"#,
            vec![two_factor_id.to_owned().into()],
        )
        .await?;
    Ok(())
}

pub(super) async fn replace_backup_codes(
    store: &SqliteStore,
    two_factor_id: &str,
    old: &str,
    new: &str,
) -> Result<bool, StoreError> {
    let changed = store
        .execute(
            r#"update "twoFactor" set "backupCodes" = ?3
               where "id" = ?1 and "backupCodes" = ?2"#,
            vec![
                two_factor_id.to_owned().into(),
                old.to_owned().into(),
                new.to_owned().into(),
            ],
        )
        .await?;
    Ok(changed == 1)
}
