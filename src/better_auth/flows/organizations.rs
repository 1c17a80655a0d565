//! The organization plugin's view of a user: the organizations they are a member of (with
//! their roles), the session's active organization, and `hasPermission` in one of them.
//! Who asks is found as get_user finds them; the session behind the credential (for the
//! active organization) is found without a second verification's side effects.

use super::super::credentials::jwt::AccessClaims;
use super::super::credentials::{CredentialShape, shape_of};
use super::super::organizations::{PermissionRequest, member_roles};
use super::super::ports::Membership;
use super::super::{AuthError, AuthService, AuthStore, StoreError, User};
use super::verify::caller_of;

/// Who a call is about: a credential given to the tool, or the authorized HTTP caller.
/// (No Debug: it holds a credential.)
#[derive(Clone, Copy)]
pub enum Principal<'a> {
    /// A credential as get_user takes it.
    Credential(&'a str),
    /// The claims of an authorized caller's bearer token.
    Caller(&'a AccessClaims),
}

/// An organization the user is a member of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberOf {
    pub id: String,
    pub name: String,
    pub slug: String,
    /// The member's roles (its `role` column, split).
    pub roles: Vec<String>,
}

/// The organization plugin's view of a user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserOrganizations {
    /// In the order the user joined them.
    pub organizations: Vec<MemberOf>,
    /// The session's `activeOrganizationId`, for a credential bound to a session.
    pub active_organization_id: Option<String>,
}

/// A `hasPermission` question.
#[derive(Debug, Clone)]
pub struct PermissionCheck {
    /// The organization; None (or "") for the session's active one.
    pub organization_id: Option<String>,
    pub permissions: PermissionRequest,
}

/// Its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionAnswer {
    pub allowed: bool,
    pub organization_id: String,
    /// The member's roles there; none for a non-member (who is allowed nothing).
    pub roles: Vec<String>,
}

/// Neither an organizationId nor an active organization (the plugin's
/// NO_ACTIVE_ORGANIZATION), answered as the argument that is missing.
const NO_ACTIVE_ORGANIZATION: AuthError = AuthError::Refused {
    code: "INVALID_ARGUMENTS",
    message: "organizationId: missing, and the credential has no active organization (none \
              was set in the app, or it is not bound to a session); give organizationId \
              (list_organizations lists them)",
};

fn view(memberships: Vec<Membership>, active: Option<String>) -> UserOrganizations {
    UserOrganizations {
        organizations: memberships
            .into_iter()
            .map(|m| MemberOf {
                roles: member_roles(&m.role),
                id: m.organization_id,
                name: m.name,
                slug: m.slug,
            })
            .collect(),
        active_organization_id: active,
    }
}

impl<S: AuthStore> AuthService<S> {
    /// The principal's user, as get_user (or, for the caller, `caller_user`) has it.
    pub async fn user_of(&self, who: Principal<'_>) -> Result<User, AuthError> {
        match who {
            Principal::Caller(claims) => self.caller_user(claims).await,
            Principal::Credential(credential) => self.get_user(credential).await,
        }
    }

    /// The id of the session the principal (which [`Self::user_of`] accepted) is bound
    /// to: a session token's own, an access token's `sid`, a JWT-plugin token's `sid` if
    /// it has one; an API key's none. Each kind is read again only in ways without side
    /// effects.
    async fn session_of(&self, who: Principal<'_>) -> Result<Option<String>, AuthError> {
        let credential = match who {
            Principal::Caller(claims) => return Ok(claims.sid.clone()),
            Principal::Credential(credential) => credential.trim(),
        };
        Ok(match shape_of(credential) {
            CredentialShape::Session => Some(self.living_session(credential).await?.0.id),
            CredentialShape::AccessToken => {
                let verified = self.verify_access_token(credential);
                verified.map_err(AuthError::InvalidToken)?.claims.sid
            }
            CredentialShape::BetterAuthJwt(_) => self.verify(credential).await?.claims.sid,
            // A key is bound to no session (and a second verification would spend a use).
            CredentialShape::ApiKey => None,
        })
    }

    /// The principal's user (as [`Self::user_of`]) and the session it is bound to (as
    /// [`Self::session_of`]), a session credential read once for both.
    async fn user_and_session_of(
        &self,
        who: Principal<'_>,
    ) -> Result<(User, Option<String>), AuthError> {
        if let Principal::Credential(credential) = who
            && let CredentialShape::Session = shape_of(credential.trim())
        {
            let (session, user) = self.signed_in_session(credential.trim()).await?;
            return Ok((user, Some(session.id)));
        }
        let user = self.user_of(who).await?;
        Ok((user, self.session_of(who).await?))
    }

    /// The session's active organization, for a principal bound to one.
    async fn active_organization(&self, who: Principal<'_>) -> Result<Option<String>, AuthError> {
        match self.session_of(who).await? {
            Some(sid) => Ok(self.store.find_active_organization(&sid).await?),
            None => Ok(None),
        }
    }

    /// The principal's user and organizations (memberships and the active one). An
    /// access token's user, session and organizations are one read; other credentials'
    /// organizations are read once their user is known.
    async fn with_organizations(
        &self,
        who: Principal<'_>,
    ) -> Result<(User, Result<UserOrganizations, StoreError>), AuthError> {
        let verified;
        let claims = match who {
            Principal::Caller(claims) => Some(claims),
            Principal::Credential(credential) => match shape_of(credential.trim()) {
                CredentialShape::AccessToken => {
                    verified = self
                        .verify_access_token(credential)
                        .map_err(AuthError::InvalidToken)?;
                    Some(&verified.claims)
                }
                _ => None,
            },
        };
        if let Some(claims) = claims {
            let sid = claims.sid.as_deref();
            return match self
                .store
                .find_user_in_organizations(&claims.sub, sid)
                .await
            {
                Ok(found) => {
                    let found = found.map(|f| {
                        let view = view(f.memberships, f.active_organization_id);
                        ((f.user, f.session), view)
                    });
                    let (found, view) = found.unzip();
                    let user = caller_of(claims, found)?;
                    Ok((user, Ok(view.unwrap_or_default())))
                }
                Err(e @ StoreError::PluginNotEnabled(_)) => {
                    Ok((self.caller_user(claims).await?, Err(e)))
                }
                Err(e) => Err(e.into()),
            };
        }
        let (user, session_id) = self.user_and_session_of(who).await?;
        let found = self
            .store
            .find_user_in_organizations(&user.id, session_id.as_deref())
            .await
            .map(|found| {
                found.map_or_else(UserOrganizations::default, |f| {
                    view(f.memberships, f.active_organization_id)
                })
            });
        Ok((user, found))
    }

    /// The principal's organizations and active organization; PLUGIN_NOT_ENABLED without
    /// the plugin's tables.
    pub async fn organizations_of(
        &self,
        who: Principal<'_>,
    ) -> Result<UserOrganizations, AuthError> {
        Ok(self.with_organizations(who).await?.1?)
    }

    /// get_user with the organizations toolset: the principal's user, and its
    /// organizations when the deployment has the plugin's tables (None when it has not).
    pub async fn user_with_organizations(
        &self,
        who: Principal<'_>,
    ) -> Result<(User, Option<UserOrganizations>), AuthError> {
        match self.with_organizations(who).await? {
            (user, Ok(view)) => Ok((user, Some(view))),
            (user, Err(StoreError::PluginNotEnabled(_))) => Ok((user, None)),
            (_, Err(e)) => Err(e.into()),
        }
    }

    /// Better Auth's `hasPermission` for the principal in an organization (by default the
    /// session's active one): over the configured roles with the organization's
    /// `organizationRole` rows merged in. A non-member is allowed nothing.
    pub async fn check_permission(
        &self,
        who: Principal<'_>,
        check: PermissionCheck,
    ) -> Result<PermissionAnswer, AuthError> {
        let user = self.user_of(who).await?;
        // First, so that a deployment without the plugin says so whatever was asked.
        let memberships = self.store.find_memberships(&user.id).await?;
        let organization_id = match check.organization_id.filter(|id| !id.is_empty()) {
            Some(id) => id,
            None => self
                .active_organization(who)
                .await?
                .ok_or(NO_ACTIVE_ORGANIZATION)?,
        };
        let Some(member) = memberships
            .into_iter()
            .find(|m| m.organization_id == organization_id)
        else {
            return Ok(PermissionAnswer {
                allowed: false,
                organization_id,
                roles: Vec::new(),
            });
        };
        let rows = self.store.find_organization_roles(&organization_id).await?;
        let roles = self
            .settings
            .organization_roles
            .with_rows(&rows)
            .map_err(|e| AuthError::internal("an organization's roles cannot be read", e))?;
        Ok(PermissionAnswer {
            allowed: roles.has_permission(&member.role, &check.permissions),
            organization_id,
            roles: member_roles(&member.role),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::memory::MemoryStore;
    use super::super::super::{AuthSettings, Secrets, SignUp};
    use super::*;

    const SECRET: &str = "unit-test-secret-0123456789abcdef-0123456789";

    fn service() -> AuthService<MemoryStore> {
        let settings = AuthSettings {
            hash_concurrency: 2,
            ..AuthSettings::default()
        };
        AuthService::new(
            MemoryStore::default(),
            Secrets::single(SECRET.into()),
            settings,
        )
        .unwrap()
    }

    fn member_of(org: &str, role: &str) -> Membership {
        Membership {
            organization_id: org.into(),
            name: org.to_uppercase(),
            slug: org.into(),
            role: role.into(),
        }
    }

    fn ask(org: Option<&str>, permissions: serde_json::Value) -> PermissionCheck {
        PermissionCheck {
            organization_id: org.map(str::to_owned),
            permissions: serde_json::from_value(permissions).unwrap(),
        }
    }

    fn code<T>(r: Result<T, AuthError>) -> &'static str {
        r.map_or_else(|e| e.code(), |_| "OK")
    }

    #[tokio::test]
    async fn without_the_plugins_tables_get_user_has_no_organizations_and_the_rest_says_so() {
        let auth = service();
        let up = auth
            .sign_up(SignUp::new("a@example.com", "password123"))
            .await
            .unwrap();
        let token = up.access.unwrap().token;
        let (user, view) = auth
            .user_with_organizations(Principal::Credential(&token))
            .await
            .unwrap();
        assert_eq!((user.id, view), (up.user.id, None));
        let listed = auth.organizations_of(Principal::Credential(&token)).await;
        assert_eq!(code(listed), "PLUGIN_NOT_ENABLED");
        let check = ask(Some("org"), serde_json::json!({"ac": ["read"]}));
        let checked = auth
            .check_permission(Principal::Credential(&token), check)
            .await;
        assert_eq!(code(checked), "PLUGIN_NOT_ENABLED");
    }

    #[tokio::test]
    async fn the_active_organization_is_the_sessions_and_the_default_of_check_permission() {
        let auth = service();
        auth.store.enable_organizations();
        let up = auth
            .sign_up(SignUp::new("b@example.com", "password123"))
            .await
            .unwrap();
        let access = up.access.unwrap();
        auth.store
            .add_member(&up.user.id, member_of("one", "member, reviewer"));
        auth.store
            .add_member(&up.user.id, member_of("two", "owner"));
        let delete = serde_json::json!({"project": ["delete"]});
        // No active organization yet, and "" is none given, as the plugin has it.
        for org in [None, Some("")] {
            let refused = auth
                .check_permission(
                    Principal::Credential(&access.token),
                    ask(org, delete.clone()),
                )
                .await
                .unwrap_err();
            assert_eq!(refused.code(), "INVALID_ARGUMENTS");
            assert!(
                refused.to_string().starts_with("organizationId: "),
                "{refused}"
            );
        }
        auth.store
            .set_active_organization(&access.session.id, "one");
        auth.store
            .add_organization_role("one", "reviewer", r#"{"project": ["delete"]}"#);
        for token in [&access.token, &access.session.token] {
            let view = auth
                .organizations_of(Principal::Credential(token))
                .await
                .unwrap();
            assert_eq!(view.active_organization_id.as_deref(), Some("one"));
            assert_eq!(view.organizations[0].roles, ["member", "reviewer"]);
            assert_eq!(view.organizations[1].id, "two");
        }
        let claims = auth.verify_access_token(&access.token).unwrap().claims;
        let answer = auth
            .check_permission(Principal::Caller(&claims), ask(None, delete.clone()))
            .await
            .unwrap();
        assert_eq!(
            answer,
            PermissionAnswer {
                allowed: true,
                organization_id: "one".into(),
                roles: vec!["member".into(), "reviewer".into()],
            }
        );
        // The dynamic role is that organization's only; a non-member is allowed nothing.
        let there = auth
            .check_permission(Principal::Caller(&claims), ask(Some("two"), delete.clone()))
            .await
            .unwrap();
        assert!(!there.allowed && there.roles == ["owner"]);
        let outside = auth
            .check_permission(
                Principal::Caller(&claims),
                ask(Some("three"), delete.clone()),
            )
            .await
            .unwrap();
        assert!(!outside.allowed && outside.roles.is_empty());
        // A row the plugin could not read fails the check, as it fails the plugin's.
        auth.store
            .add_organization_role("one", "broken", "{not json");
        let broken = auth
            .check_permission(Principal::Caller(&claims), ask(None, delete))
            .await;
        assert_eq!(code(broken), "INTERNAL_ERROR");
    }
}
