//! The admin plugin's user administration (Better Auth 1.7's `/admin/*` routes, in
//! `dist/plugins/admin/routes.mjs`): listUsers, banUser, unbanUser, setRole,
//! revokeUserSessions, removeUser, with the same writes in the same order, and who may
//! call them: the operator (stdio), or a caller the plugin's `hasPermission` would let in.
//!
//! The audit log (`AUDIT_LOG`) records each call, allowed or not: the caller, the user
//! acted on, the outcome; an allowed call's row is written with its write.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};

use super::super::audit::Audit;
use super::super::credentials::jwt::AccessClaims;
use super::super::ports::{AdminUpdate, ManagedUser, UserPage, UserQuery};
use super::super::settings::AdminPolicy;
use super::super::{AuthError, AuthService, AuthStore};

/// Who makes an admin call.
#[derive(Clone, Copy)]
pub enum Administrator<'a> {
    /// The operator who started the server with the admin toolset (stdio).
    Operator,
    /// An authorized HTTP caller: allowed as the plugin's `hasPermission` decides.
    Caller(&'a AccessClaims),
    /// An HTTP call without an authorized caller: never allowed.
    Anonymous,
}

/// banUser's `banReason` when none is given (the plugin's, without `defaultBanReason`).
pub const DEFAULT_BAN_REASON: &str = "No reason";

const FORBIDDEN: AuthError = AuthError::Refused {
    code: "FORBIDDEN",
    message: "Only an administrator may do this: a caller whose role is in ADMIN_ROLES or \
              whose id is in ADMIN_USER_IDS",
};

const FORBIDDEN_ANONYMOUS: AuthError = AuthError::Refused {
    code: "FORBIDDEN",
    message: "Over HTTP the admin tools need an authorized caller (a bearer token of an \
              administrator; serve with --require-auth)",
};

/// The plugin's USER_NOT_FOUND (its message: "User not found").
const USER_NOT_FOUND: AuthError = AuthError::Refused {
    code: "USER_NOT_FOUND",
    message: "User not found",
};

const CANNOT_BAN_YOURSELF: AuthError = AuthError::Refused {
    code: "YOU_CANNOT_BAN_YOURSELF",
    message: "You cannot ban yourself",
};

const CANNOT_REMOVE_YOURSELF: AuthError = AuthError::Refused {
    code: "YOU_CANNOT_REMOVE_YOURSELF",
    message: "You cannot remove yourself",
};

/// The plugin's `hasPermission` for its admin routes, over its default access control
/// (where only the admin roles grant them): an id of `adminUserIds` may, else one of the
/// user's roles (`role` split on commas, not trimmed, as the plugin splits it; none is
/// the default role "user") must be an admin role.
pub fn may_administer(policy: &AdminPolicy, user_id: &str, role: Option<&str>) -> bool {
    if policy.user_ids.iter().any(|id| id == user_id) {
        return true;
    }
    let role = role.filter(|r| !r.is_empty()).unwrap_or("user");
    role.split(',')
        .any(|r| policy.roles.iter().any(|admin| admin == r))
}

/// banUser's `banExpires`: `expires_in` seconds from `now`; none (or 0, as the plugin's
/// truthiness has it) for good.
pub fn ban_end(now: DateTime<Utc>, expires_in: Option<f64>) -> Option<DateTime<Utc>> {
    let seconds = expires_in.filter(|s| *s != 0.0)?;
    Some(now + Duration::milliseconds((seconds * 1000.0) as i64))
}

/// A ban asked for: its reason and how long it lasts.
#[derive(Debug, Clone, Default)]
pub struct BanRequest {
    pub reason: Option<String>,
    /// Seconds; None or 0: for good.
    pub expires_in: Option<f64>,
}

impl<S: AuthStore> AuthService<S> {
    /// The audit row of an admin call: its caller (none for the operator) and the user it
    /// is about.
    fn admin_audit(
        &self,
        action: &'static str,
        who: Administrator<'_>,
        user_id: Option<&str>,
        from: Option<IpAddr>,
    ) -> Audit {
        let mut audit = self.audit(action, from);
        if let Administrator::Caller(claims) = who {
            audit.actor(Some(&claims.sub));
        }
        if let Some(user_id) = user_id {
            audit.target(user_id);
        }
        audit
    }

    /// The id of who calls, once allowed (None: the operator), or FORBIDDEN.
    async fn administrator(&self, who: Administrator<'_>) -> Result<Option<String>, AuthError> {
        match who {
            Administrator::Operator => Ok(None),
            Administrator::Anonymous => Err(FORBIDDEN_ANONYMOUS),
            Administrator::Caller(claims) => {
                let user = self.caller_user(claims).await?;
                // A banned caller has no session in the app and cannot get one; a key or a
                // sessionless token of theirs administers nothing either.
                self.may_have_a_session(&user).await?;
                if may_administer(&self.settings.admin, &user.id, user.role.as_deref()) {
                    Ok(Some(user.id))
                } else {
                    Err(FORBIDDEN)
                }
            }
        }
    }

    /// The user, or the plugin's USER_NOT_FOUND.
    async fn managed_user(&self, user_id: &str) -> Result<ManagedUser, AuthError> {
        self.store
            .find_managed_user(user_id)
            .await?
            .ok_or(USER_NOT_FOUND)
    }

    /// listUsers: a page of users (the plugin's default of 100) and how many match.
    pub async fn list_users(
        &self,
        who: Administrator<'_>,
        query: &UserQuery,
        from: Option<IpAddr>,
    ) -> Result<UserPage, AuthError> {
        let mut audit = self.admin_audit("list_users", who, None, from);
        if let Some((_, _, value)) = &query.search {
            audit.text("searchValue", value);
        }
        audit
            .detail("limit", query.limit)
            .detail("offset", query.offset);
        let result = async {
            self.administrator(who).await?;
            Ok(self.store.list_users(query).await?)
        }
        .await;
        self.audited(&audit, result).await
    }

    /// banUser: the user (not the caller) is banned (`banned`, `banReason` or "No reason",
    /// `banExpires`, `updatedAt`), then every session of theirs is deleted, as the plugin
    /// does in that order.
    pub async fn ban_user(
        &self,
        who: Administrator<'_>,
        user_id: &str,
        ban: BanRequest,
        from: Option<IpAddr>,
    ) -> Result<ManagedUser, AuthError> {
        let mut audit = self.admin_audit("ban_user", who, Some(user_id), from);
        let reason = ban
            .reason
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| DEFAULT_BAN_REASON.to_owned());
        audit.text("banReason", &reason);
        if let Some(secs) = ban.expires_in {
            audit.detail("banExpiresIn", secs);
        }
        let result = async {
            let actor = self.administrator(who).await?;
            // The row's own id: a UUID may be given in another case, for the same row.
            let found = self.managed_user(user_id).await?;
            audit.target(&found.user.id);
            if actor.as_deref() == Some(found.user.id.as_str()) {
                return Err(CANNOT_BAN_YOURSELF);
            }
            let now = Utc::now();
            let update = AdminUpdate::Ban {
                reason,
                expires: ban_end(now, ban.expires_in),
            };
            let user = self.update(user_id, &update, now, &audit).await?;
            self.store.delete_user_sessions(user_id, None).await?;
            Ok(user)
        }
        .await;
        self.audited(&audit, result).await
    }

    /// unbanUser: `banned` false, `banReason` and `banExpires` null, `updatedAt`.
    pub async fn unban_user(
        &self,
        who: Administrator<'_>,
        user_id: &str,
        from: Option<IpAddr>,
    ) -> Result<ManagedUser, AuthError> {
        let mut audit = self.admin_audit("unban_user", who, Some(user_id), from);
        let result = async {
            self.administrator(who).await?;
            let found = self.managed_user(user_id).await?;
            audit.target(&found.user.id);
            self.update(user_id, &AdminUpdate::Unban, Utc::now(), &audit)
                .await
        }
        .await;
        self.audited(&audit, result).await
    }

    /// setRole: the role column as given (several roles joined with commas, as the plugin
    /// joins an array), and `updatedAt`.
    pub async fn set_role(
        &self,
        who: Administrator<'_>,
        user_id: &str,
        role: String,
        from: Option<IpAddr>,
    ) -> Result<ManagedUser, AuthError> {
        let mut audit = self.admin_audit("set_role", who, Some(user_id), from);
        audit.text("role", &role);
        let result = async {
            self.administrator(who).await?;
            let found = self.managed_user(user_id).await?;
            audit.target(&found.user.id);
            self.update(user_id, &AdminUpdate::Role(role), Utc::now(), &audit)
                .await
        }
        .await;
        self.audited(&audit, result).await
    }

    /// revokeUserSessions: every session of the user is deleted; how many were.
    pub async fn revoke_user_sessions(
        &self,
        who: Administrator<'_>,
        user_id: &str,
        from: Option<IpAddr>,
    ) -> Result<u64, AuthError> {
        let mut audit = self.admin_audit("revoke_user_sessions", who, Some(user_id), from);
        let result = async {
            self.administrator(who).await?;
            let found = self.managed_user(user_id).await?;
            audit.target(&found.user.id);
            Ok(self
                .store
                .delete_user_sessions(user_id, audit.success().as_ref())
                .await?)
        }
        .await;
        self.audited(&audit, result).await
    }

    /// removeUser: not the caller; the user's sessions, then (deleteUser) their sessions,
    /// accounts and the user, in one transaction.
    pub async fn remove_user(
        &self,
        who: Administrator<'_>,
        user_id: &str,
        from: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        let mut audit = self.admin_audit("remove_user", who, Some(user_id), from);
        let result = async {
            let actor = self.administrator(who).await?;
            if actor.as_deref() == Some(user_id) {
                return Err(CANNOT_REMOVE_YOURSELF);
            }
            // (Again with the row's own id: a UUID in another case names the same row.)
            let found = self.managed_user(user_id).await?;
            audit.target(&found.user.id);
            if actor.as_deref() == Some(found.user.id.as_str()) {
                return Err(CANNOT_REMOVE_YOURSELF);
            }
            if self
                .store
                .remove_user(user_id, audit.success().as_ref())
                .await?
            {
                Ok(())
            } else {
                Err(USER_NOT_FOUND)
            }
        }
        .await;
        self.audited(&audit, result).await
    }

    /// The user's row updated, with the call's audit row.
    async fn update(
        &self,
        user_id: &str,
        update: &AdminUpdate,
        now: DateTime<Utc>,
        audit: &Audit,
    ) -> Result<ManagedUser, AuthError> {
        self.store
            .update_managed_user(user_id, update, now, audit.success().as_ref())
            .await?
            .ok_or(USER_NOT_FOUND)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(roles: &[&str], ids: &[&str]) -> AdminPolicy {
        AdminPolicy {
            roles: roles.iter().map(|r| r.to_string()).collect(),
            user_ids: ids.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn an_admin_is_who_has_an_admin_role_among_their_roles_or_a_listed_id() {
        let default = AdminPolicy::default();
        assert!(may_administer(&default, "u1", Some("admin")));
        assert!(may_administer(&default, "u1", Some("user,admin")));
        assert!(!may_administer(&default, "u1", Some("user")));
        assert!(
            !may_administer(&default, "u1", None),
            "no role is the role user"
        );
        assert!(!may_administer(&default, "u1", Some("Admin")));
        assert!(
            !may_administer(&default, "u1", Some("user, admin")),
            "the plugin does not trim the roles it splits"
        );
        let listed = policy(&["admin", "support"], &["u7"]);
        assert!(may_administer(&listed, "u7", None));
        assert!(may_administer(&listed, "u1", Some("support")));
        assert!(!may_administer(&policy(&[], &[]), "u1", Some("admin")));
    }

    #[test]
    fn a_ban_ends_after_its_seconds_or_never() {
        let now = Utc::now();
        assert_eq!(ban_end(now, None), None);
        assert_eq!(
            ban_end(now, Some(0.0)),
            None,
            "0 is no end, as in the plugin"
        );
        assert_eq!(ban_end(now, Some(60.0)), Some(now + Duration::seconds(60)));
        assert_eq!(
            ban_end(now, Some(1.5)),
            Some(now + Duration::milliseconds(1500))
        );
    }
}
