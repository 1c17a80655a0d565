//! The organization plugin's `member`, `organization` and `organizationRole` rows, and
//! the session's `activeOrganizationId`.

use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

use super::PgStore;
use super::errors::db_error;
use crate::better_auth::ports::{Membership, StoreError};

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
    let sql = store.sql(
        r#"select cast(o."id" as text), o."name", o."slug", m."role" from "member" m
           join "organization" o on o."id" = m."organizationId"
           where m."userId" = $1::{ID} order by m."createdAt", m."id""#,
    );
    let client = store.client().await?;
    let rows = client
        .query_typed(&sql, &[(&user_id, Type::TEXT)])
        .await
        .map_err(db_error)?;
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
    let sql = store.sql(
        r#"select r."role", r."permission" from "organizationRole" r
           where r."organizationId" = $1::{ID} limit 100"#,
    );
    let client = store.client().await?;
    let rows = client
        .query_typed(&sql, &[(&organization_id, Type::TEXT)])
        .await
        .map_err(db_error)?;
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

/// SQLSTATE 42703, kept as the cause of the store error.
fn undefined_column(e: &StoreError) -> bool {
    std::error::Error::source(e)
        .and_then(|c| c.downcast_ref::<tokio_postgres::Error>())
        .is_some_and(|c| c.code() == Some(&SqlState::UNDEFINED_COLUMN))
}
