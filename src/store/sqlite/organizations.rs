//! The organization plugin's `member`, `organization` and `organizationRole` rows, and
//! the session's `activeOrganizationId`, where an app on this SQLite file made them (the
//! embedded store's migrations do not: without them the plugin is not enabled).

use rusqlite::{Connection, OptionalExtension};

use super::SqliteStore;
use super::errors::sql_error;
use crate::better_auth::ports::{
    Membership, StoreError, UserInOrganizations, user_in_organizations_read_apart,
};

const PLUGIN: &str = "organization";

fn has_table(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    conn.prepare_cached("select 1 from sqlite_master where type = 'table' and name = ?1")
        .and_then(|mut s| s.exists([name]))
        .map_err(sql_error)
}

fn require_tables(conn: &Connection) -> Result<(), StoreError> {
    if has_table(conn, "member")? {
        Ok(())
    } else {
        Err(StoreError::PluginNotEnabled(PLUGIN))
    }
}

pub(super) async fn memberships(
    store: &SqliteStore,
    user_id: &str,
) -> Result<Vec<Membership>, StoreError> {
    let user_id = user_id.to_owned();
    store
        .with_conn(move |conn| {
            require_tables(conn)?;
            let mut statement = conn
                .prepare_cached(
                    r#"select o."id", o."name", o."slug", m."role" from "member" m
                       join "organization" o on o."id" = m."organizationId"
                       where m."userId" = ?1 order by m."createdAt", m."id""#,
                )
                .map_err(sql_error)?;
            statement
                .query_map([user_id], |r| {
                    Ok(Membership {
                        organization_id: r.get(0)?,
                        name: r.get(1)?,
                        slug: r.get(2)?,
                        role: r.get(3)?,
                    })
                })
                .map_err(sql_error)?
                .collect::<Result<_, _>>()
                .map_err(sql_error)
        })
        .await
}

pub(super) async fn exists(store: &SqliteStore, id: &str) -> Result<bool, StoreError> {
    let id = id.to_owned();
    store
        .with_conn(move |conn| {
            require_tables(conn)?;
            conn.prepare_cached(r#"select 1 from "organization" where "id" = ?1"#)
                .and_then(|mut s| s.exists([id]))
                .map_err(sql_error)
        })
        .await
}

/// At most 100 rows, in the database's order: the plugin's adapter reads no more.
pub(super) async fn roles(
    store: &SqliteStore,
    organization_id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let organization_id = organization_id.to_owned();
    store
        .with_conn(move |conn| {
            require_tables(conn)?;
            if !has_table(conn, "organizationRole")? {
                return Ok(Vec::new());
            }
            let mut statement = conn
                .prepare_cached(
                    r#"select "role", "permission" from "organizationRole"
                       where "organizationId" = ?1 limit 100"#,
                )
                .map_err(sql_error)?;
            statement
                .query_map([organization_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(sql_error)?
                .collect::<Result<_, _>>()
                .map_err(sql_error)
        })
        .await
}

pub(super) async fn active(
    store: &SqliteStore,
    session_id: &str,
) -> Result<Option<String>, StoreError> {
    let session_id = session_id.to_owned();
    store
        .with_conn(move |conn| {
            require_tables(conn)?;
            let column = conn
                .prepare_cached(
                    "select 1 from pragma_table_info('session') where name = 'activeOrganizationId'",
                )
                .and_then(|mut s| s.exists([]))
                .map_err(sql_error)?;
            if !column {
                return Ok(None);
            }
            conn.prepare_cached(r#"select "activeOrganizationId" from "session" where "id" = ?1"#)
                .map_err(sql_error)?
                .query_row([session_id], |r| r.get::<_, Option<String>>(0))
                .optional()
                .map(Option::flatten)
                .map_err(sql_error)
        })
        .await
}

pub(super) async fn user_in(
    store: &SqliteStore,
    user_id: &str,
    session_id: Option<&str>,
) -> Result<Option<UserInOrganizations>, StoreError> {
    user_in_organizations_read_apart(store, user_id, session_id).await
}
