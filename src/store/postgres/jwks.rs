//! The JWT plugin's `jwks` table: a public key by its id.

use tokio_postgres::types::Type;

use super::PgStore;
use crate::better_auth::ports::{JwkLookup, JwkRow, StoreError};

pub(super) async fn find(store: &PgStore, kid: &str) -> Result<JwkLookup, StoreError> {
    // No JWT plugin in this deployment: no table, no key.
    if !store.has_table("jwks").await? {
        return Ok(JwkLookup::NoKeySource);
    }
    let row = store
        .read_opt(
            r#"select "publicKey", "alg" from "jwks" where "id"::text = $1"#,
            &[(&kid, Type::TEXT)],
        )
        .await?;
    Ok(row.map_or(JwkLookup::Unknown, |r| {
        JwkLookup::Found(JwkRow {
            public_key: r.get(0),
            alg: r.get(1),
        })
    }))
}
