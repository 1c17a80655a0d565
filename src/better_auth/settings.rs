//! What the auth service is configured with, and Better Auth's defaults for each of it.

use std::time::Duration;

use super::credentials::api_key::{DEFAULT_RATE_LIMIT_MAX, DEFAULT_RATE_LIMIT_WINDOW_MS};
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
    pub api_keys: ApiKeyPolicy,
    /// The organization plugin's roles in code: its defaults (owner, admin, member), or
    /// the app's `roles` option as ORGANIZATION_ROLES_FILE mirrors it (replacing them).
    pub organization_roles: OrganizationRoles,
    /// Who may call the admin toolset over HTTP, as the admin plugin's options say.
    pub admin: AdminPolicy,
    /// AUDIT_LOG: whether auth events and admin calls are recorded.
    pub audit: super::audit::AuditPolicy,
    /// The deviceAuthorization plugin's options, as browser sign-in mirrors them.
    pub browser_sign_in: BrowserSignInPolicy,
}

/// The deviceAuthorization plugin's options (its defaults), and this server's own: the
/// app's verification page, the client id it writes, and how often a sign-in may begin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSignInPolicy {
    /// The app's verification page (BROWSER_SIGN_IN_URL, else BETTER_AUTH_URL + `/device`);
    /// None: browser sign-in cannot begin.
    pub verification_uri: Option<String>,
    /// The `clientId` written in each row (the app's `validateClient` may restrict it).
    pub client_id: String,
    /// The plugin's `expiresIn` (30 minutes) and `interval` (5 s).
    pub expires_in: Duration,
    pub interval: Duration,
    /// How long begin waits for the person when the client shows them the URL itself.
    pub wait: Duration,
    /// The plugin's `deviceCodeLength` (40) and `userCodeLength` (8).
    pub device_code_length: usize,
    pub user_code_length: usize,
    /// Sign-ins begun per client address, and by everyone together: each a row in the
    /// shared table, which these keep from being flooded.
    pub per_address: RateLimitPolicy,
    pub global: RateLimitPolicy,
}

impl Default for BrowserSignInPolicy {
    fn default() -> Self {
        Self {
            verification_uri: None,
            client_id: "better-auth-mcp".to_owned(),
            expires_in: Duration::from_secs(30 * 60),
            interval: Duration::from_secs(5),
            wait: Duration::from_secs(120),
            device_code_length: 40,
            user_code_length: 8,
            per_address: RateLimitPolicy {
                enabled: true,
                window: Duration::from_secs(60),
                max: 5,
            },
            global: RateLimitPolicy {
                enabled: true,
                window: Duration::from_secs(60),
                max: 60,
            },
        }
    }
}

/// The admin plugin's `adminRoles` and `adminUserIds`: a caller with one of the roles, or
/// one of the ids, may administer users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminPolicy {
    pub roles: Vec<String>,
    pub user_ids: Vec<String>,
}

impl Default for AdminPolicy {
    /// The plugin's defaults: the role "admin", no ids.
    fn default() -> Self {
        Self {
            roles: vec!["admin".to_owned()],
            user_ids: Vec::new(),
        }
    }
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
            api_keys: ApiKeyPolicy::default(),
            organization_roles: OrganizationRoles::default(),
            admin: AdminPolicy::default(),
            audit: Default::default(),
            browser_sign_in: BrowserSignInPolicy::default(),
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

/// How the app's api-key plugin is configured, as far as this server must know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyPolicy {
    /// Keys are stored hashed (the plugin's default); false where the app set
    /// `disableKeyHashing`.
    pub hashing: bool,
    /// The app's `permissions.defaultPermissions`, as JSON text, given to new keys.
    pub default_permissions: Option<String>,
    /// The app's `enableMetadata`: new keys may carry metadata (off by default, as there).
    pub metadata: bool,
    /// The app's `rateLimit` option: `enabled` (false: no key is rate-limited, and new keys
    /// are made without a limit), and what new keys get: `maxRequests` per `timeWindow`
    /// (milliseconds).
    pub rate_limit_enabled: bool,
    pub rate_limit_max: i64,
    pub rate_limit_window_ms: i64,
}

impl Default for ApiKeyPolicy {
    fn default() -> Self {
        Self {
            hashing: true,
            default_permissions: None,
            metadata: false,
            rate_limit_enabled: true,
            rate_limit_max: DEFAULT_RATE_LIMIT_MAX,
            rate_limit_window_ms: DEFAULT_RATE_LIMIT_WINDOW_MS,
        }
    }
}
