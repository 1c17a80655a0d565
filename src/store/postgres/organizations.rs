//! The organization plugin's `member`, `organization` and `organizationRole` rows, and
//! the session's `activeOrganizationId`.

use super::PgStore;
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
    _user_id: &str,
) -> Result<Vec<Membership>, StoreError> {
    require_tables(store).await?;
    Err(StoreError::other("organizations are not read yet"))
}

pub(super) async fn roles(
    store: &PgStore,
    _organization_id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    require_tables(store).await?;
    let _ = store
        .has_plugin_table(&store.plugins.organization_role, "organizationRole")
        .await?;
    Err(StoreError::other("organization roles are not read yet"))
}

pub(super) async fn active(
    store: &PgStore,
    _session_id: &str,
) -> Result<Option<String>, StoreError> {
    require_tables(store).await?;
    Err(StoreError::other("active organizations are not read yet"))
}
