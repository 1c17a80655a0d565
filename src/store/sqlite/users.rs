//! Better Auth's `user` rows and their `credential` accounts: sign-up's insert, look-ups
//! by email and id, the plugins' standing (ban, two-factor) and the password.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::errors::{sql_error, user_insert_error};
use super::values::{bool_at, iso, optional_date_at};
use super::{SqliteStore, audit, sessions};
use crate::better_auth::ports::{
    AuditEntry, Ban, NewSession, NewUser, Session, Standing, StoreError, User, UserWithPassword,
};
use crate::store::rows::{self, USER_COLUMNS, USER_WIDTH};

pub(super) async fn create_with_password(
    store: &SqliteStore,
    new: &NewUser,
    session: Option<&NewSession>,
    entry: Option<&AuditEntry>,
) -> Result<(User, Option<Session>), StoreError> {
    let u = new.user.clone();
    let entry = entry.cloned();
    let account_id = new.account_id.clone();
    let hash = new.password_hash.clone();
    let session = session.cloned();
    let insert_user = store.sql(
        r#"insert into "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt"{ROLE_COLUMN})
           values (?1, ?2, ?3, ?4, ?5, ?6, ?7{ROLE_VALUE})"#,
    );
    let role = rows::new_user_role(store.role_column.load(Ordering::Relaxed));
    store
        .with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_error)?;
            let created = iso(&u.created_at);
            let updated = iso(&u.updated_at);
            tx.execute(
                &insert_user,
                params![u.id, u.name, u.email, u.email_verified, u.image, created, updated],
            )
            .map_err(user_insert_error)?;
            tx.execute(
                r#"insert into "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt")
                   values (?1, ?2, 'credential', ?2, ?3, ?4, ?5)"#,
                params![account_id, u.id, hash, created, updated],
            )
            .map_err(sql_error)?;
            let session = match &session {
                Some(s) => Some(sessions::insert(&tx, &u.id, s)?),
                None => None,
            };
            if let Some(entry) = &entry {
                audit::insert(&tx, entry)?;
            }
            tx.commit().map_err(sql_error)?;
            Ok((User { role, ..u }, session))
        })
        .await
}

pub(super) fn as_stored(store: &SqliteStore, user: User) -> User {
    User {
        role: rows::new_user_role(store.role_column.load(Ordering::Relaxed)),
        ..user
    }
}

pub(super) async fn find_by_email(
    store: &SqliteStore,
    email: &str,
) -> Result<Option<UserWithPassword>, StoreError> {
    let email = email.to_owned();
    let sql = store.sql(&format!(
        r#"select {USER_COLUMNS}, (select a."password" from "account" a where a."userId" = u."id"
             and a."providerId" = 'credential' and a."accountId" = u."id" limit 1)
           from "user" u where u."email" = ?1"#
    ));
    store
        .with_conn(move |conn| {
            conn.prepare_cached(&sql)
                .map_err(sql_error)?
                .query_row([email], |r| {
                    Ok(UserWithPassword {
                        user: rows::user(r, 0)?,
                        password_hash: r.get(USER_WIDTH)?,
                    })
                })
                .optional()
                .map_err(sql_error)
        })
        .await
}

pub(super) async fn find_by_id(store: &SqliteStore, id: &str) -> Result<Option<User>, StoreError> {
    let id = id.to_owned();
    let sql = store.sql(&format!(
        r#"select {USER_COLUMNS} from "user" u where u."id" = ?1"#
    ));
    store
        .with_conn(move |conn| {
            conn.prepare_cached(&sql)
                .map_err(sql_error)?
                .query_row([id], |r| rows::user(r, 0))
                .optional()
                .map_err(sql_error)
        })
        .await
}

pub(super) async fn find_standing(
    store: &SqliteStore,
    user_id: &str,
) -> Result<Standing, StoreError> {
    let user_id = user_id.to_owned();
    store
        .with_conn(move |conn| {
            // The whole row: the plugins' columns are read if the schema has them. Their
            // places are looked up on the row, once the statement has run: a cached `*`
            // is expanded again when the schema changed, its columns named anew.
            let mut stmt = conn
                .prepare_cached(r#"select * from "user" where "id" = ?1"#)
                .map_err(sql_error)?;
            stmt.query_row([user_id], |r| {
                let at = |name: &str| r.as_ref().column_index(name).ok();
                let ban = match at("banned") {
                    Some(i) if bool_at(r, i)? => Some(Ban {
                        expires_at: optional_date_at(r, at("banExpires"))?,
                    }),
                    _ => None,
                };
                let two_factor_enabled = match at("twoFactorEnabled") {
                    Some(i) => bool_at(r, i)?,
                    None => false,
                };
                Ok(Standing {
                    ban,
                    two_factor_enabled,
                })
            })
            .optional()
            .map(Option::unwrap_or_default)
            .map_err(sql_error)
        })
        .await
}

pub(super) async fn lift_ban(
    store: &SqliteStore,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    store
        .execute(
            r#"update "user" set "banned" = 0, "banReason" = null, "banExpires" = null,
               "updatedAt" = ?2 where "id" = ?1"#,
            vec![user_id.to_owned().into(), iso(&now).into()],
        )
        .await?;
    Ok(())
}

pub(super) async fn update_password(
    store: &SqliteStore,
    user_id: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    store
        .execute(
            r#"update "account" set "password" = ?2, "updatedAt" = ?3
               where "userId" = ?1 and "providerId" = 'credential' and "accountId" = ?1"#,
            vec![
                user_id.to_owned().into(),
                password_hash.to_owned().into(),
                iso(&now).into(),
            ],
        )
        .await?;
    Ok(())
}
