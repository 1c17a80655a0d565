//! The organization plugin's `member`, `organization` and `organizationRole` rows, and
//! the session's `activeOrganizationId`, where an app on this SQLite file made them.

use super::SqliteStore;
use crate::better_auth::ports::{Membership, StoreError};

const PLUGIN: &str = "organization";

pub(super) async fn memberships(
    _store: &SqliteStore,
    _user_id: &str,
) -> Result<Vec<Membership>, StoreError> {
    Err(StoreError::PluginNotEnabled(PLUGIN))
}

pub(super) async fn roles(
    _store: &SqliteStore,
    _organization_id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    Err(StoreError::PluginNotEnabled(PLUGIN))
}

pub(super) async fn active(
    _store: &SqliteStore,
    _session_id: &str,
) -> Result<Option<String>, StoreError> {
    Err(StoreError::PluginNotEnabled(PLUGIN))
}
