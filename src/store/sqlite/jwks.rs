//! The JWT plugin's `jwks` table: a public key by its id.

use rusqlite::OptionalExtension;

use super::SqliteStore;
use super::errors::sql_error;
use crate::better_auth::ports::{JwkLookup, JwkRow, StoreError};

pub(super) async fn find(store: &SqliteStore, kid: &str) -> Result<JwkLookup, StoreError> {
    let kid = kid.to_owned();
    store
        .with_conn(move |conn| {
            // No JWT plugin in this deployment: no table, no key.
            let exists: bool = conn
                .query_row(
                    "select exists(select 1 from sqlite_master where type = 'table' and name = 'jwks')",
                    [],
                    |r| r.get(0),
                )
                .map_err(sql_error)?;
            if !exists {
                return Ok(JwkLookup::NoKeySource);
            }
            conn.prepare_cached(r#"select "publicKey", "alg" from "jwks" where "id" = ?1"#)
                .map_err(sql_error)?
                .query_row([kid], |r| {
                    Ok(JwkRow {
                        public_key: r.get(0)?,
                        alg: r.get(1)?,
                    })
                })
                .optional()
                .map(|row| row.map_or(JwkLookup::Unknown, JwkLookup::Found))
                .map_err(sql_error)
        })
        .await
}
