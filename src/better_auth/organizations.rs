//! The organization plugin's access control, as better-auth 1.7.25 decides it
//! (`plugins/organization/has-permission.mjs`, `permission.mjs`, `access/access.mjs`):
//! the roles a deployment knows ([`OrganizationRoles`]: the plugin's defaults, or the
//! app's own from `ORGANIZATION_ROLES_FILE`, which replace them as the plugin's `roles`
//! option does), an organization's `organizationRole` rows merged in (dynamic access
//! control), and [`OrganizationRoles::has_permission`].

use std::collections::{BTreeMap, BTreeSet};

/// What a role may do: resource → actions.
pub type Statements = BTreeMap<String, BTreeSet<String>>;

/// What a caller asks to do: resource → actions (every one of them is needed).
pub type PermissionRequest = BTreeMap<String, Vec<String>>;

/// A role in code: its name and its statements (resource, actions).
type RoleInCode = (
    &'static str,
    &'static [(&'static str, &'static [&'static str])],
);

/// The plugin's `defaultStatements` and `defaultRoles` (`access/statement.mjs`), verbatim.
const DEFAULT_ROLES: &[RoleInCode] = &[
    (
        "owner",
        &[
            ("organization", &["update", "delete"]),
            ("member", &["create", "update", "delete"]),
            ("invitation", &["create", "cancel"]),
            ("team", &["create", "update", "delete"]),
            ("ac", &["create", "read", "update", "delete"]),
        ],
    ),
    (
        "admin",
        &[
            ("organization", &["update"]),
            ("invitation", &["create", "cancel"]),
            ("member", &["create", "update", "delete"]),
            ("team", &["create", "update", "delete"]),
            ("ac", &["create", "read", "update", "delete"]),
        ],
    ),
    (
        "member",
        &[
            ("organization", &[]),
            ("member", &[]),
            ("invitation", &[]),
            ("team", &[]),
            ("ac", &["read"]),
        ],
    ),
];

/// Roles by name, each with its statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationRoles(BTreeMap<String, Statements>);

impl Default for OrganizationRoles {
    /// The plugin's default roles: owner, admin, member.
    fn default() -> Self {
        let roles = DEFAULT_ROLES
            .iter()
            .map(|(role, statements)| {
                let statements = statements
                    .iter()
                    .map(|(resource, actions)| {
                        let actions = actions.iter().map(|a| (*a).to_owned()).collect();
                        ((*resource).to_owned(), actions)
                    })
                    .collect();
                ((*role).to_owned(), statements)
            })
            .collect();
        Self(roles)
    }
}

/// An `organizationRole` row whose `permission` is not `{"<resource>": ["<action>"]}`
/// (the plugin fails the whole check on it too).
#[derive(Debug, thiserror::Error)]
#[error(
    "the organizationRole row of role {role:?} has a permission that is not a JSON object of action lists"
)]
pub struct BadRoleRow {
    pub role: String,
}

impl OrganizationRoles {
    /// Roles as JSON `{"<role>": {"<resource>": ["<action>", ...]}}` (the app's `roles`
    /// option, each role's `statements`). The text of a refusal names no value.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let parsed: BTreeMap<String, BTreeMap<String, Vec<String>>> = serde_json::from_str(text)
            .map_err(|e| {
                format!(
                    "expected a JSON object {{\"<role>\": {{\"<resource>\": [\"<action>\", ...]}}}} (line {}, column {})",
                    e.line(),
                    e.column()
                )
            })?;
        Ok(Self(
            parsed
                .into_iter()
                .map(|(role, statements)| (role, into_statements(statements)))
                .collect(),
        ))
    }

    /// The role names known.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// These roles with an organization's `organizationRole` rows (role name, permission
    /// JSON) merged in as the plugin does: a row's actions are added to those of the role
    /// of its name (a new role if none), resource by resource.
    pub fn with_rows(&self, rows: &[(String, String)]) -> Result<Self, BadRoleRow> {
        let mut roles = self.0.clone();
        for (role, permission) in rows {
            let parsed: BTreeMap<String, Vec<String>> =
                serde_json::from_str(permission).map_err(|_| BadRoleRow { role: role.clone() })?;
            let statements = roles.entry(role.clone()).or_default();
            for (resource, actions) in parsed {
                statements.entry(resource).or_default().extend(actions);
            }
        }
        Ok(Self(roles))
    }

    /// Better Auth's `hasPermission` for a member whose `role` column is `member_role`:
    /// true when ONE of its roles grants every action asked of every resource asked. An
    /// empty request, an empty action list, an unknown resource or role grant nothing.
    pub fn has_permission(&self, member_role: &str, permissions: &PermissionRequest) -> bool {
        member_roles(member_role).iter().any(|role| {
            self.0
                .get(role.as_str())
                .is_some_and(|statements| authorize(statements, permissions))
        })
    }
}

fn into_statements(statements: BTreeMap<String, Vec<String>>) -> Statements {
    statements
        .into_iter()
        .map(|(resource, actions)| (resource, actions.into_iter().collect()))
        .collect()
}

/// access.mjs's `authorize` with its "AND" connector: every resource asked is in the
/// role and every action asked of it is allowed; at least one resource is asked.
fn authorize(statements: &Statements, request: &PermissionRequest) -> bool {
    !request.is_empty()
        && request.iter().all(|(resource, actions)| {
            statements.get(resource).is_some_and(|allowed| {
                !actions.is_empty() && actions.iter().all(|a| allowed.contains(a))
            })
        })
}

/// The plugin's `parseRoleList`: the `role` column split on ",", trimmed, empty names
/// dropped (case kept: role names compare exactly).
pub fn member_roles(role_column: &str) -> Vec<String> {
    role_column
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ask(v: serde_json::Value) -> PermissionRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_default_roles_grant_what_the_plugin_defaults_say() {
        let roles = OrganizationRoles::default();
        let owner_only = ask(json!({"organization": ["delete"]}));
        assert!(roles.has_permission("owner", &owner_only));
        assert!(!roles.has_permission("admin", &owner_only));
        assert!(!roles.has_permission("member", &owner_only));
        let manage = ask(json!({"member": ["create", "delete"], "invitation": ["cancel"]}));
        assert!(roles.has_permission("admin", &manage));
        assert!(!roles.has_permission("member", &manage));
        assert!(roles.has_permission("member", &ask(json!({"ac": ["read"]}))));
        assert!(!roles.has_permission("member", &ask(json!({"ac": ["read", "update"]}))));
    }

    #[test]
    fn empty_asks_unknown_resources_and_unknown_roles_grant_nothing() {
        let roles = OrganizationRoles::default();
        assert!(!roles.has_permission("owner", &ask(json!({}))));
        assert!(!roles.has_permission("owner", &ask(json!({"member": []}))));
        assert!(!roles.has_permission("owner", &ask(json!({"project": ["read"]}))));
        assert!(!roles.has_permission(
            "owner",
            &ask(json!({"member": ["create"], "project": ["read"]}))
        ));
        assert!(!roles.has_permission("Owner", &ask(json!({"member": ["create"]}))));
        assert!(!roles.has_permission("", &ask(json!({"ac": ["read"]}))));
        assert!(roles.has_permission("owner", &ask(json!({"member": ["create", "create"]}))));
    }

    #[test]
    fn one_role_must_grant_the_whole_ask_and_the_list_is_split_and_trimmed() {
        let roles = OrganizationRoles::from_json(
            r#"{"member": {"ac": ["read"]}, "sales": {"project": ["read"]}}"#,
        )
        .unwrap();
        assert_eq!(member_roles(" member, ,sales "), ["member", "sales"]);
        assert!(roles.has_permission(" member, ,sales ", &ask(json!({"project": ["read"]}))));
        assert!(roles.has_permission("nobody,member", &ask(json!({"ac": ["read"]}))));
        // Roles are not unioned: neither grants both.
        assert!(!roles.has_permission(
            "member,sales",
            &ask(json!({"project": ["read"], "ac": ["read"]}))
        ));
    }

    #[test]
    fn a_roles_file_replaces_the_defaults() {
        let roles = OrganizationRoles::from_json(r#"{"auditor": {"project": ["read"]}}"#).unwrap();
        assert_eq!(roles.names().collect::<Vec<_>>(), ["auditor"]);
        assert!(!roles.has_permission("owner", &ask(json!({"member": ["create"]}))));
        assert!(OrganizationRoles::from_json(r#"{"a": {"b": "read"}}"#).is_err());
        assert!(OrganizationRoles::from_json("[]").is_err());
    }

    #[test]
    fn rows_are_merged_into_the_role_of_their_name_and_make_new_roles() {
        let roles = OrganizationRoles::default()
            .with_rows(&[
                ("member".into(), r#"{"project": ["delete"]}"#.into()),
                (
                    "member".into(),
                    r#"{"project": ["read"], "ac": ["read"]}"#.into(),
                ),
                ("editor".into(), r#"{"project": ["create"]}"#.into()),
            ])
            .unwrap();
        let both = ask(json!({"project": ["read", "delete"], "ac": ["read"]}));
        assert!(roles.has_permission("member", &both));
        assert!(roles.has_permission("editor", &ask(json!({"project": ["create"]}))));
        assert!(!roles.has_permission("editor", &ask(json!({"project": ["read"]}))));
        let bad = OrganizationRoles::default().with_rows(&[("x".into(), "{not json".into())]);
        assert_eq!(bad.unwrap_err().role, "x");
        let shape = OrganizationRoles::default().with_rows(&[("x".into(), r#"{"a": 1}"#.into())]);
        assert!(shape.is_err());
    }
}
