//! The admin toolset's shapes: list_users, ban_user, unban_user, set_role,
//! revoke_user_sessions, remove_user, their arguments (as the admin plugin's routes take
//! them) and results (its user, with the ban columns).

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::args::ArgumentError;
use super::schema::portable_nullables;
use super::types::UserView;
use crate::better_auth::flows::admin::BanRequest;
use crate::better_auth::ports::{
    ManagedUser, SearchField, SearchOperator, UserPage, UserQuery, UserSort,
};

/// list_users' largest page (the contract's bound), and the plugin's default page.
pub const MAX_LIMIT: i64 = 200;
pub const DEFAULT_LIMIT: i64 = 100;
/// The longest ban: about 100 years, in seconds.
const MAX_BAN_SECONDS: f64 = 100.0 * 366.0 * 86_400.0;

fn refused(field: &str, problem: &'static str) -> ArgumentError {
    ArgumentError {
        field: Some(field.to_owned()),
        problem: problem.into(),
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct ListUsersArgs {
    /// Text to search for in searchField (a pattern as the app's SQL LIKE reads it).
    #[serde(default)]
    pub search_value: Option<String>,
    /// "email" (default) or "name".
    #[serde(default)]
    pub search_field: Option<String>,
    /// "contains" (default), "starts_with" or "ends_with".
    #[serde(default)]
    pub search_operator: Option<String>,
    /// Users per page, 1 to 200 (default 100, as the app's listUsers).
    #[serde(default)]
    pub limit: Option<i64>,
    /// Users to skip (default 0).
    #[serde(default)]
    pub offset: Option<i64>,
    /// "createdAt" (default, then id), "updatedAt", "name", "email" or "id".
    #[serde(default)]
    pub sort_by: Option<String>,
    /// "asc" (default) or "desc".
    #[serde(default)]
    pub sort_direction: Option<String>,
}

impl ListUsersArgs {
    /// The query; a value out of its set or range is refused by field.
    pub fn query(self) -> Result<UserQuery, ArgumentError> {
        let field = match self.search_field.as_deref() {
            None | Some("email") => SearchField::Email,
            Some("name") => SearchField::Name,
            Some(_) => return Err(refused("searchField", "expected \"email\" or \"name\"")),
        };
        let operator = match self.search_operator.as_deref() {
            None | Some("contains") => SearchOperator::Contains,
            Some("starts_with") => SearchOperator::StartsWith,
            Some("ends_with") => SearchOperator::EndsWith,
            Some(_) => {
                return Err(refused(
                    "searchOperator",
                    "expected \"contains\", \"starts_with\" or \"ends_with\"",
                ));
            }
        };
        let sort = match self.sort_by.as_deref() {
            None => None,
            Some(by) => Some(match by {
                "id" => UserSort::Id,
                "name" => UserSort::Name,
                "email" => UserSort::Email,
                "createdAt" => UserSort::CreatedAt,
                "updatedAt" => UserSort::UpdatedAt,
                _ => {
                    return Err(refused(
                        "sortBy",
                        "expected \"createdAt\", \"updatedAt\", \"name\", \"email\" or \"id\"",
                    ));
                }
            }),
        };
        let descending = match self.sort_direction.as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Err(refused("sortDirection", "expected \"asc\" or \"desc\"")),
        };
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(refused("limit", "expected 1 to 200"));
        }
        let offset = self.offset.unwrap_or(0);
        if offset < 0 {
            return Err(refused("offset", "expected 0 or more"));
        }
        // `%value` ending in an unpaired `\` is a LIKE pattern ending in its escape
        // character, which PostgreSQL refuses (the app's own search fails there too).
        let trailing = |v: &str| v.chars().rev().take_while(|c| *c == '\\').count();
        if operator == SearchOperator::EndsWith
            && self
                .search_value
                .as_deref()
                .is_some_and(|v| trailing(v) % 2 == 1)
        {
            return Err(refused(
                "searchValue",
                "must not end with an unpaired backslash for ends_with (LIKE's escape \
                 character); double it to match a backslash",
            ));
        }
        Ok(UserQuery {
            // An empty searchValue searches nothing, as the plugin's truthiness has it.
            search: self
                .search_value
                .filter(|v| !v.is_empty())
                .map(|v| (field, operator, v)),
            sort: sort.map(|s| (s, descending)),
            limit,
            offset,
        })
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct BanUserArgs {
    /// The id of the user to ban (from list_users).
    pub user_id: String,
    /// Why; shown to no one but admins. Default "No reason".
    #[serde(default)]
    pub ban_reason: Option<String>,
    /// Seconds until the ban ends by itself. Default (or 0): never.
    #[serde(default)]
    pub ban_expires_in: Option<f64>,
}

impl BanUserArgs {
    pub fn request(self) -> Result<(String, BanRequest), ArgumentError> {
        if let Some(s) = self.ban_expires_in
            && !(0.0..=MAX_BAN_SECONDS).contains(&s)
        {
            return Err(refused(
                "banExpiresIn",
                "expected 0 to 3162240000 seconds (0: the ban does not end)",
            ));
        }
        Ok((
            self.user_id,
            BanRequest {
                reason: self.ban_reason,
                expires_in: self.ban_expires_in,
            },
        ))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct UserIdArgs {
    /// The user's id (from list_users).
    pub user_id: String,
}

/// A role, or several.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(inline)]
pub enum RoleArg {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct SetRoleArgs {
    /// The user's id (from list_users).
    pub user_id: String,
    /// The role to give, e.g. "admin" or "user", or several (["admin", "support"]), which
    /// are stored comma-separated as the app stores them. It replaces the user's roles.
    pub role: RoleArg,
}

impl SetRoleArgs {
    /// The user id and the role column's new value.
    pub fn request(self) -> Result<(String, String), ArgumentError> {
        let roles = match self.role {
            RoleArg::One(role) => vec![role],
            RoleArg::Many(roles) => roles,
        };
        if roles.is_empty() || roles.iter().any(|r| r.trim().is_empty()) {
            return Err(refused("role", "expected a role name, or a list of them"));
        }
        Ok((self.user_id, roles.join(",")))
    }
}

fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A user as an admin sees them: the user, and the admin plugin's ban.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct ManagedUserView {
    #[serde(flatten)]
    pub user: UserView,
    pub banned: bool,
    pub ban_reason: Option<String>,
    /// When the ban ends (RFC 3339); null: it does not, or there is none.
    pub ban_expires: Option<String>,
}

impl From<ManagedUser> for ManagedUserView {
    fn from(u: ManagedUser) -> Self {
        Self {
            user: u.user.into(),
            banned: u.banned,
            ban_reason: u.ban_reason,
            ban_expires: u.ban_expires.as_ref().map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = portable_nullables)]
pub struct ListUsersResult {
    pub users: Vec<ManagedUserView>,
    /// How many users match the search, on all pages.
    pub total: i64,
}

impl From<UserPage> for ListUsersResult {
    fn from(p: UserPage) -> Self {
        Self {
            users: p.users.into_iter().map(Into::into).collect(),
            total: p.total,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = portable_nullables)]
pub struct ManagedUserResult {
    pub user: ManagedUserView,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = portable_nullables)]
pub struct RevokeUserSessionsResult {
    /// How many sessions were ended.
    pub revoked: u64,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = portable_nullables)]
pub struct RemoveUserResult {
    /// Always true: the user, their sessions and accounts are deleted.
    pub removed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::args::check;
    use serde_json::{Value, json};

    fn args<T: serde::de::DeserializeOwned + JsonSchema + 'static>(v: Value) -> Result<T, String> {
        let Value::Object(map) = v else { panic!() };
        check::<T>(map).map_err(|e| e.to_string())
    }

    #[test]
    fn list_users_takes_the_plugins_query_and_refuses_values_out_of_range_by_field() {
        let q = args::<ListUsersArgs>(json!({"searchValue": "ada", "searchField": "name"}))
            .unwrap()
            .query()
            .unwrap();
        assert_eq!(q.pattern().as_deref(), Some("%ada%"));
        assert_eq!((q.limit, q.offset, q.sort), (100, 0, None));
        let q = args::<ListUsersArgs>(json!({"searchValue": "", "limit": 5}))
            .unwrap()
            .query()
            .unwrap();
        assert!(q.search.is_none() && q.limit == 5);
        let err = |v: Value| {
            args::<ListUsersArgs>(v)
                .and_then(|a| a.query().map_err(|e| e.to_string()))
                .unwrap_err()
        };
        assert!(err(json!({"limit": 201})).starts_with("limit: "));
        assert!(err(json!({"limit": 0})).starts_with("limit: "));
        assert!(err(json!({"offset": -1})).starts_with("offset: "));
        assert!(err(json!({"searchField": "password"})).starts_with("searchField: "));
        assert!(err(json!({"sortBy": "banned"})).starts_with("sortBy: "));
        let ends = |v: &str| json!({"searchValue": v, "searchOperator": "ends_with"});
        assert!(err(ends("ada\\")).starts_with("searchValue: "));
        assert!(err(ends("ada\\\\\\")).starts_with("searchValue: "));
        for fine in ["ada\\\\", "ada", "\\x"] {
            let q = args::<ListUsersArgs>(ends(fine)).unwrap().query().unwrap();
            assert_eq!(q.pattern(), Some(format!("%{fine}")));
        }
        let q = args::<ListUsersArgs>(json!({"searchValue": "ada\\"}))
            .unwrap()
            .query()
            .unwrap();
        assert_eq!(q.pattern().as_deref(), Some("%ada\\%"));
        assert_eq!(
            err(json!({"limit": "5"})),
            "limit: expected an integer or null"
        );
    }

    #[test]
    fn set_role_joins_several_roles_with_commas_and_refuses_none() {
        let role = |v: Value| {
            args::<SetRoleArgs>(json!({"userId": "u1", "role": v}))
                .and_then(|a| a.request().map_err(|e| e.to_string()))
        };
        assert_eq!(role(json!("admin")).unwrap().1, "admin");
        assert_eq!(
            role(json!(["admin", "support"])).unwrap().1,
            "admin,support"
        );
        assert!(role(json!([])).unwrap_err().starts_with("role: "));
        assert!(role(json!("")).unwrap_err().starts_with("role: "));
        assert!(role(json!(5)).unwrap_err().starts_with("role: "));
    }

    #[test]
    fn a_ban_lasts_zero_or_more_seconds() {
        let ban = |v: Value| {
            args::<BanUserArgs>(json!({"userId": "u1", "banExpiresIn": v}))
                .and_then(|a| a.request().map_err(|e| e.to_string()))
        };
        assert_eq!(ban(json!(60)).unwrap().1.expires_in, Some(60.0));
        assert!(ban(json!(-1)).unwrap_err().starts_with("banExpiresIn: "));
        assert!(ban(json!(1e300)).unwrap_err().starts_with("banExpiresIn: "));
    }
}
