//! The organization plugin's `member`, `organization` and `organizationRole` rows, and
//! the session's `activeOrganizationId`.

use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

use super::PgStore;
use super::errors::db_error;
use crate::better_auth::ports::{AuthStore, Membership, StoreError, UserInOrganizations};
use crate::store::rows::{self, SESSION_COLUMNS, SESSION_WIDTH, USER_COLUMNS, USER_WIDTH};

const PLUGIN: &str = "organization";

/// The deployment has the plugin's tables, or the error that says it has not.
async fn require_tables(store: &PgStore) -> Result<(), StoreError> {
    if store
        .has_plugin_table(&store.plugins.organization, "member")
        .await?
    {
        Ok(())
    } else {
        Err(StoreError::PluginNotEnabled(PLUGIN))
    }
}

pub(super) async fn memberships(
    store: &PgStore,
    user_id: &str,
) -> Result<Vec<Membership>, StoreError> {
    require_tables(store).await?;
    if !store.possible_id(user_id).await? {
        return Ok(Vec::new());
    }
    let rows = store
        .read_all(
            r#"select cast(o."id" as text), o."name", o."slug", m."role" from "member" m
           join "organization" o on o."id" = m."organizationId"
           where m."userId" = $1::{ID} order by m."createdAt", m."id""#,
            &[(&user_id, Type::TEXT)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Membership {
                organization_id: r.try_get(0)?,
                name: r.try_get(1)?,
                slug: r.try_get(2)?,
                role: r.try_get(3)?,
            })
        })
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(db_error)
}

pub(super) async fn exists(store: &PgStore, id: &str) -> Result<bool, StoreError> {
    require_tables(store).await?;
    if !store.possible_id(id).await? {
        return Ok(false);
    }
    let row = store
        .read_opt(
            r#"select 1 from "organization" where "id" = $1::{ID}"#,
            &[(&id, Type::TEXT)],
        )
        .await?;
    Ok(row.is_some())
}

/// At most 100 rows, in the database's order: the plugin's adapter reads no more.
pub(super) async fn roles(
    store: &PgStore,
    organization_id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    require_tables(store).await?;
    // Without dynamic access control the app made no such table: no rows.
    let dynamic = store
        .has_plugin_table(&store.plugins.organization_role, "organizationRole")
        .await?;
    if !dynamic || !store.possible_id(organization_id).await? {
        return Ok(Vec::new());
    }
    let rows = store
        .read_all(
            r#"select r."role", r."permission" from "organizationRole" r
           where r."organizationId" = $1::{ID} limit 100"#,
            &[(&organization_id, Type::TEXT)],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(db_error)
}

pub(super) async fn active(
    store: &PgStore,
    session_id: &str,
) -> Result<Option<String>, StoreError> {
    require_tables(store).await?;
    if !store.possible_id(session_id).await? {
        return Ok(None);
    }
    // The plugin adds the column to `session`; a schema without it has no active
    // organization (asked again each time: an app may migrate while this server runs).
    match store
        .read_opt(
            r#"select cast(s."activeOrganizationId" as text) from "session" s
               where s."id" = $1::{ID}"#,
            &[(&session_id, Type::TEXT)],
        )
        .await
    {
        Ok(row) => Ok(row.and_then(|r| r.get::<_, Option<String>>(0))),
        Err(e) if undefined_column(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The user, the session (when theirs), their memberships and the session's active
/// organization in one statement and one row (the memberships as a JSON array: cheaper
/// for PostgreSQL to plan than a join of the four tables, and every statement here is
/// planned anew). Without the `activeOrganizationId` column, in two statements.
pub(super) async fn user_in(
    store: &PgStore,
    user_id: &str,
    session_id: Option<&str>,
) -> Result<Option<UserInOrganizations>, StoreError> {
    require_tables(store).await?;
    if !store.possible_id(user_id).await? {
        return Ok(None);
    }
    let session_id = match session_id {
        Some(id) if store.possible_id(id).await? => Some(id),
        _ => None,
    };
    let sql = format!(
        r#"select {USER_COLUMNS}, {SESSION_COLUMNS}, cast(s."activeOrganizationId" as text),
             cast((select json_agg(json_build_array(cast(o."id" as text), o."name", o."slug",
                     m."role") order by m."createdAt", m."id")
                   from "member" m join "organization" o on o."id" = m."organizationId"
                   where m."userId" = u."id") as text)
           from "user" u
           left join "session" s on s."id" = $2::{{ID}} and s."userId" = u."id"
           where u."id" = $1::{{ID}}"#
    );
    let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 2] =
        [(&user_id, Type::TEXT), (&session_id, Type::TEXT)];
    let r = match store.read_opt(&sql, &params).await {
        Ok(Some(r)) => r,
        Ok(None) => return Ok(None),
        Err(e) if undefined_column(&e) => {
            return without_active_column(store, user_id, session_id).await;
        }
        Err(e) => return Err(e),
    };
    let at = USER_WIDTH + SESSION_WIDTH;
    let memberships = match r.try_get::<_, Option<String>>(at + 1).map_err(db_error)? {
        Some(json) => serde_json::from_str::<Vec<(String, String, String, String)>>(&json)
            .map_err(|e| StoreError::other(format!("memberships as JSON: {e}")))?
            .into_iter()
            .map(|(organization_id, name, slug, role)| Membership {
                organization_id,
                name,
                slug,
                role,
            })
            .collect(),
        None => Vec::new(),
    };
    let session = match r
        .try_get::<_, Option<String>>(USER_WIDTH)
        .map_err(db_error)?
    {
        Some(_) => Some(rows::session(&r, USER_WIDTH).map_err(db_error)?),
        None => None,
    };
    Ok(Some(UserInOrganizations {
        user: rows::user(&r, 0).map_err(db_error)?,
        session,
        memberships,
        active_organization_id: r.try_get(at).map_err(db_error)?,
    }))
}

async fn without_active_column(
    store: &PgStore,
    user_id: &str,
    session_id: Option<&str>,
) -> Result<Option<UserInOrganizations>, StoreError> {
    let found = match session_id {
        Some(id) => store.find_user_with_session(user_id, id).await?,
        None => store.find_user_by_id(user_id).await?.map(|u| (u, None)),
    };
    let Some((user, session)) = found else {
        return Ok(None);
    };
    Ok(Some(UserInOrganizations {
        user,
        session,
        memberships: memberships(store, user_id).await?,
        active_organization_id: None,
    }))
}

/// SQLSTATE 42703, kept as the cause of the store error.
fn undefined_column(e: &StoreError) -> bool {
    std::error::Error::source(e)
        .and_then(|c| c.downcast_ref::<tokio_postgres::Error>())
        .is_some_and(|c| c.code() == Some(&SqlState::UNDEFINED_COLUMN))
}
