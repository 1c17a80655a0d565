//! Better Auth's `user` rows and their `credential` accounts: sign-up's insert, look-ups
//! by email and id, the plugins' standing (ban, two-factor) and the password.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;

use super::errors::{db_error, insert_error};
use super::{PgStore, audit, json_timestamp, sessions};
use crate::better_auth::ports::{
    AuditEntry, Ban, NewSession, NewUser, Session, Standing, StoreError, User, UserWithPassword,
};
use crate::store::rows::{self, USER_COLUMNS, USER_WIDTH};

pub(super) async fn create_with_password(
    store: &PgStore,
    new: &NewUser,
    session: Option<&NewSession>,
    entry: Option<&AuditEntry>,
) -> Result<(User, Option<Session>), StoreError> {
    super::traced("insert", insert_with_password(store, new, session, entry)).await
}

/// [`create_with_password`]'s transaction.
async fn insert_with_password(
    store: &PgStore,
    new: &NewUser,
    session: Option<&NewSession>,
    entry: Option<&AuditEntry>,
) -> Result<(User, Option<Session>), StoreError> {
    let u = &new.user;
    let mut client = store.client().await?;
    let tx = client.transaction().await.map_err(db_error)?;
    let user_id: String = tx
        .query_typed_one(
            &store.sql(
                r#"insert into "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt"{ROLE_COLUMN})
                   values ({NEW_ID}, $2, $3, $4, $5, $6, $7{ROLE_VALUE}) returning "id"::text"#,
            ),
            &[
                (&u.id, Type::TEXT),
                (&u.name, Type::TEXT),
                (&u.email, Type::TEXT),
                (&u.email_verified, Type::BOOL),
                (&u.image, Type::TEXT),
                (&u.created_at, Type::TIMESTAMPTZ),
                (&u.updated_at, Type::TIMESTAMPTZ),
            ],
        )
        .await
        .map_err(insert_error)?
        .get(0);
    tx.execute_typed(
        &store.sql(
            r#"insert into "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt"{ISSUER_COLUMN})
               values ({NEW_ID}, $2, 'credential', $2::{ID}, $3, $4, $5{ISSUER_VALUE})"#,
        ),
        &[
            (&new.account_id, Type::TEXT),
            (&user_id, Type::TEXT),
            (&new.password_hash, Type::TEXT),
            (&u.created_at, Type::TIMESTAMPTZ),
            (&u.updated_at, Type::TIMESTAMPTZ),
        ],
    )
    .await
    .map_err(insert_error)?;
    let session = match session {
        Some(s) => Some(sessions::insert(store, &*tx, &user_id, s, None).await?),
        None => None,
    };
    if let Some(entry) = entry {
        let entry = AuditEntry {
            actor_id: Some(user_id.clone()),
            target_user_id: Some(user_id.clone()),
            ..entry.clone()
        };
        audit::insert(store, &*tx, &entry).await?;
    }
    tx.commit().await.map_err(db_error)?;
    let user = User {
        id: user_id,
        role: rows::new_user_role(store.role_column.load(Ordering::Relaxed)),
        ..u.clone()
    };
    Ok((user, session))
}

/// With UUID ids the database would make the id: a random one stands for it.
pub(super) fn as_stored(store: &PgStore, user: User) -> User {
    let id = if store.uuid_ids.load(Ordering::Relaxed) {
        random_uuid()
    } else {
        user.id
    };
    User {
        id,
        role: rows::new_user_role(store.role_column.load(Ordering::Relaxed)),
        ..user
    }
}

pub(super) async fn find_by_email(
    store: &PgStore,
    email: &str,
) -> Result<Option<UserWithPassword>, StoreError> {
    let sql = format!(
        r#"select {USER_COLUMNS}, (select a."password" from "account" a where a."userId" = u."id"
             and a."providerId" = 'credential' and a."accountId" = u."id"::text limit 1)
           from "user" u where u."email" = $1"#
    );
    let row = store.read_opt(&sql, &[(&email, Type::TEXT)]).await?;
    row.map(|r| {
        Ok(UserWithPassword {
            user: rows::user(&r, 0)?,
            password_hash: r.try_get(USER_WIDTH)?,
        })
    })
    .transpose()
    .map_err(db_error)
}

pub(super) async fn find_by_id(store: &PgStore, id: &str) -> Result<Option<User>, StoreError> {
    if !store.possible_id(id).await? {
        return Ok(None);
    }
    let sql = format!(r#"select {USER_COLUMNS} from "user" u where u."id" = $1::{{ID}}"#);
    let row = store.read_opt(&sql, &[(&id, Type::TEXT)]).await?;
    row.map(|r| rows::user(&r, 0)).transpose().map_err(db_error)
}

pub(super) async fn find_standing(store: &PgStore, user_id: &str) -> Result<Standing, StoreError> {
    if !store.possible_id(user_id).await? {
        return Ok(Standing::default());
    }
    // The row as JSON: the plugins' columns are read if the schema has them, and a
    // schema without them is no error (Better Auth may add them while we run). The
    // keys are the columns' names in this schema.
    let naming = store.naming();
    let (banned, expires, two_factor) = (
        naming.column("banned"),
        naming.column("banExpires"),
        naming.column("twoFactorEnabled"),
    );
    let row = store
        .read_opt(
            r#"select j ->> $2, j ->> $3, j ->> $4
                   from (select to_jsonb(u) j from "user" u where u."id" = $1::{ID}) r"#,
            &[
                (&user_id, Type::TEXT),
                (&banned, Type::TEXT),
                (&expires, Type::TEXT),
                (&two_factor, Type::TEXT),
            ],
        )
        .await?;
    let Some(row) = row else {
        return Ok(Standing::default());
    };
    let text = |i: usize| row.try_get::<_, Option<String>>(i).map_err(db_error);
    let ban = match (text(0)?.as_deref(), text(1)?) {
        (Some("true"), None) => Some(Ban { expires_at: None }),
        (Some("true"), Some(end)) => Some(Ban {
            expires_at: Some(json_timestamp(&end).ok_or_else(|| {
                StoreError::other("user.banExpires holds no timestamp PostgreSQL writes")
            })?),
        }),
        _ => None,
    };
    Ok(Standing {
        ban,
        two_factor_enabled: text(2)?.as_deref() == Some("true"),
    })
}

pub(super) async fn lift_ban(
    store: &PgStore,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    store
        .execute(
            r#"update "user" set "banned" = false, "banReason" = null, "banExpires" = null,
                   "updatedAt" = $2 where "id" = $1::{ID}"#,
            &[(&user_id, Type::TEXT), (&now, Type::TIMESTAMPTZ)],
        )
        .await?;
    Ok(())
}

pub(super) async fn update_password(
    store: &PgStore,
    user_id: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    store
        .execute(
            r#"update "account" set "password" = $2, "updatedAt" = $3
                   where "userId" = $1::{ID} and "providerId" = 'credential' and "accountId" = $1"#,
            &[
                (&user_id, Type::TEXT),
                (&password_hash, Type::TEXT),
                (&now, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
    Ok(())
}

/// A random (version 4) UUID, as PostgreSQL's gen_random_uuid() makes them.
fn random_uuid() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
