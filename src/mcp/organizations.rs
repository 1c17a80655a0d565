//! The organizations toolset's arguments and results (list_organizations,
//! check_permission), and the organization fields get_user adds.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::args::ArgumentError;
use super::schema::portable_nullables;
use crate::better_auth::flows::organizations::{
    MemberOf, PermissionAnswer, PermissionCheck, UserOrganizations,
};
use crate::better_auth::organizations::PermissionRequest;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct ListOrganizationsArgs {
    /// The credential whose user's organizations to list, as get_user takes it. Over
    /// HTTP with authorization on, leave it out for the caller's own.
    #[serde(default)]
    pub token: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct CheckPermissionArgs {
    /// The credential of the user to check, as get_user takes it. Over HTTP with
    /// authorization on, leave it out to check the caller.
    #[serde(default)]
    pub token: Option<String>,
    /// The organization's id (from list_organizations). Left out: the active
    /// organization of the credential's session, as the app set it.
    #[serde(default)]
    pub organization_id: Option<String>,
    /// What to check, as Better Auth's hasPermission takes it: resource → actions, e.g.
    /// {"member": ["create"], "invitation": ["cancel"]}. Every action of every resource
    /// must be granted (by one of the member's roles).
    #[schemars(with = "BTreeMap<String, Vec<String>>")]
    pub permissions: Map<String, Value>,
}

impl CheckPermissionArgs {
    /// The domain's question; a resource whose value is not a list of action names is
    /// refused by field (the value is not repeated).
    pub fn check(self) -> Result<PermissionCheck, ArgumentError> {
        let mut permissions = PermissionRequest::new();
        for (resource, actions) in self.permissions {
            let actions: Option<Vec<String>> = actions
                .as_array()
                .and_then(|list| list.iter().map(|a| a.as_str().map(str::to_owned)).collect());
            let Some(actions) = actions else {
                return Err(ArgumentError {
                    field: Some("permissions".into()),
                    problem: "each resource's value must be an array of action names (strings)"
                        .into(),
                });
            };
            permissions.insert(resource, actions);
        }
        Ok(PermissionCheck {
            organization_id: self.organization_id,
            permissions,
        })
    }
}

/// An organization the user is a member of.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct OrganizationView {
    pub id: String,
    pub name: String,
    pub slug: String,
    /// The user's roles in it (Better Auth's member role, split on commas), e.g. ["owner"].
    pub roles: Vec<String>,
}

impl From<MemberOf> for OrganizationView {
    fn from(m: MemberOf) -> Self {
        Self {
            id: m.id,
            name: m.name,
            slug: m.slug,
            roles: m.roles,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = portable_nullables)]
pub struct ListOrganizationsResult {
    /// In the order the user joined them.
    pub organizations: Vec<OrganizationView>,
}

/// What get_user adds when the deployment has the organization plugin's tables.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct UserOrganizationsView {
    /// The organizations the user is a member of.
    pub organizations: Vec<OrganizationView>,
    /// The active organization of the credential's session; null when none was set or
    /// the credential is not bound to a session.
    pub active_organization_id: Option<String>,
}

impl From<UserOrganizations> for UserOrganizationsView {
    fn from(u: UserOrganizations) -> Self {
        Self {
            organizations: u.organizations.into_iter().map(Into::into).collect(),
            active_organization_id: u.active_organization_id,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct CheckPermissionResult {
    /// Whether the user may do everything asked in the organization.
    pub allowed: bool,
    /// The organization checked (the active one when none was given).
    pub organization_id: String,
    /// The user's roles there; empty when the user is not a member.
    pub roles: Vec<String>,
}

impl From<PermissionAnswer> for CheckPermissionResult {
    fn from(a: PermissionAnswer) -> Self {
        Self {
            allowed: a.allowed,
            organization_id: a.organization_id,
            roles: a.roles,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::args::check;
    use serde_json::json;

    fn args(v: Value) -> Result<PermissionCheck, String> {
        let Value::Object(map) = v else { panic!() };
        check::<CheckPermissionArgs>(map)
            .and_then(CheckPermissionArgs::check)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn permissions_must_be_lists_of_action_names_and_are_refused_by_field() {
        let ok = args(json!({"permissions": {"member": ["create"], "ac": []}})).unwrap();
        assert_eq!(ok.permissions["member"], ["create"]);
        assert!(ok.organization_id.is_none());
        assert_eq!(args(json!({})).unwrap_err(), "permissions: missing");
        assert_eq!(
            args(json!({"permissions": ["member"]})).unwrap_err(),
            "permissions: expected an object"
        );
        let text = args(json!({"permissions": {"member": "secret-ish"}})).unwrap_err();
        assert!(
            text.starts_with("permissions: ") && !text.contains("secret-ish"),
            "{text}"
        );
        assert!(args(json!({"permissions": {"member": [1]}})).is_err());
        assert!(args(json!({"permissions": {}, "organizationId": 5})).is_err());
    }
}
