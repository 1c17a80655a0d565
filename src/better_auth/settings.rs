//! What the auth service is configured with, and Better Auth's defaults for each of it.

use std::time::Duration;

use super::credentials::jwt::DEFAULT_LEEWAY_SECS;
use super::organizations::OrganizationRoles;
use super::{PasswordFormat, PasswordPolicy, RateLimitPolicy};

/// How the service behaves; `AuthSettings::default()` is a stock Better Auth deployment's
/// behaviour with this server's defaults (15-minute access tokens, scrypt hashes).
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// BETTER_AUTH_URL: `iss` and `aud` of access tokens.
    pub issuer: Option<String>,
    pub token_ttl_secs: u64,
    /// Clock skew tolerated when verifying (at most 60 s).
    pub token_leeway_secs: u64,
    pub password_policy: PasswordPolicy,
    /// The format of new password hashes (both are always verified).
    pub password_format: PasswordFormat,
    /// After a successful sign_in with an outdated hash, store a fresh one.
    pub rehash_on_sign_in: bool,
    /// How many password hashes may run at once.
    pub hash_concurrency: usize,
    /// How many may run or wait at once; past it sign_up and sign_in are refused at once.
    pub hash_queue_limit: usize,
    pub rate_limit: RateLimitPolicy,
    pub sessions: SessionPolicy,
    /// Better Auth's `emailAndPassword.requireEmailVerification`: an unverified user gets
    /// no session (sign_up creates the user only).
    pub require_email_verification: bool,
    /// The organization plugin's roles in code: its defaults (owner, admin, member), or
    /// the app's `roles` option as ORGANIZATION_ROLES_FILE mirrors it (replacing them).
    pub organization_roles: OrganizationRoles,
}

impl Default for AuthSettings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            issuer: None,
            token_ttl_secs: 900,
            token_leeway_secs: DEFAULT_LEEWAY_SECS,
            password_policy: PasswordPolicy::default(),
            password_format: PasswordFormat::Scrypt,
            rehash_on_sign_in: false,
            hash_concurrency: cores,
            hash_queue_limit: cores * 16,
            rate_limit: RateLimitPolicy::default(),
            sessions: SessionPolicy::default(),
            require_email_verification: false,
            organization_roles: OrganizationRoles::default(),
        }
    }
}

/// Better Auth's session lifetimes: `expiresIn` (7 days) and `updateAge` (1 day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub expires_in: Duration,
    pub update_age: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            expires_in: Duration::from_secs(7 * 86_400),
            update_age: Duration::from_secs(86_400),
        }
    }
}
