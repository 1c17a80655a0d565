//! What the domain needs from persistence, in its own terms: the rows it reads and writes
//! (Better Auth's `user`, `account`, `session`, `jwks` and `rateLimit`), the failures it
//! tells apart, and [`AuthStore`], which the `store` module implements for PostgreSQL and
//! SQLite.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};

pub use super::audit::{AuditEntry, AuditRow};

/// A row of Better Auth's `user` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub email_verified: bool,
    pub image: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The admin plugin's `role` (e.g. "user", "admin"), when the schema has the column.
    pub role: Option<String>,
}

/// A user to create, with its `credential` account (`accountId` = user id, as Better Auth).
pub struct NewUser {
    pub user: User,
    /// The `account` row's own id.
    pub account_id: String,
    pub password_hash: String,
}

/// A row of Better Auth's `session` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    /// The opaque token Better Auth puts (signed) in its cookie and bearer header.
    pub token: String,
    pub user_id: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A session to create. With UUID ids the database makes the id and `id` is not used.
#[derive(Clone)]
pub struct NewSession {
    pub id: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// What Better Auth writes when it does not know them: "".
    pub ip_address: String,
    pub user_agent: String,
}

impl NewSession {
    /// The session this became once stored under `id` (the database's, with UUID ids) for
    /// `user_id`: its `updatedAt` is its `createdAt`, as Better Auth writes it.
    pub fn stored(&self, id: String, user_id: &str) -> Session {
        Session {
            id,
            token: self.token.clone(),
            user_id: user_id.to_owned(),
            expires_at: self.expires_at,
            created_at: self.created_at,
            updated_at: self.created_at,
        }
    }
}

/// A public key of Better Auth's JWT plugin (`jwks` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwkRow {
    /// The JWK, as JSON.
    pub public_key: String,
    pub alg: Option<String>,
}

/// What the `jwks` table says of a key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwkLookup {
    Found(JwkRow),
    /// The table has no key of that id.
    Unknown,
    /// There is no `jwks` table: the deployment has no JWT plugin.
    NoKeySource,
}

/// A JWKS document served at a URL: Neon Auth's, or a Better Auth app's `/api/auth/jwks`.
/// The domain decides when to fetch and what to trust; the source only fetches.
pub trait JwksSource: Send + Sync + 'static {
    /// The document's JSON (`{"keys": [...]}`), or why it could not be had (safe to log).
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + '_>>;
}

/// A ban of Better Auth's admin plugin (`user.banned`, `user.banExpires`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ban {
    /// When the ban ends; None: it does not.
    pub expires_at: Option<DateTime<Utc>>,
}

/// What plugins' columns of the `user` row say about signing in, read when the schema
/// has them (a schema without them gives the default: no ban, no second factor).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    /// The admin plugin's ban, if the user is banned.
    pub ban: Option<Ban>,
    /// The two-factor plugin's `twoFactorEnabled`.
    pub two_factor_enabled: bool,
}

/// A row of the two-factor plugin's `twoFactor` table. `secret` and `backup_codes` are as
/// stored (encrypted under BETTER_AUTH_SECRET by default).
#[derive(Clone, PartialEq, Eq)]
pub struct TwoFactorRow {
    pub id: String,
    pub secret: String,
    pub backup_codes: String,
    /// False while a TOTP set-up awaits its first code (the column defaults to true).
    pub verified: bool,
    /// The lockout columns (`failedVerificationCount`, `lockedUntil`), if the schema has them.
    pub lockout: Option<Lockout>,
}

impl std::fmt::Debug for TwoFactorRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoFactorRow")
            .field("id", &self.id)
            .field("verified", &self.verified)
            .field("lockout", &self.lockout)
            .finish_non_exhaustive()
    }
}

/// Failed second factors in a row, and the end of a lockout they caused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lockout {
    pub failed: i64,
    pub locked_until: Option<DateTime<Utc>>,
}

/// A user found by email, with the password of its credential account if it has one.
pub struct UserWithPassword {
    pub user: User,
    pub password_hash: Option<String>,
}

/// A row of Better Auth's `rateLimit` table: attempts counted and the last one's time (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitBucket {
    pub count: i64,
    pub last_request_ms: i64,
}

/// The api-key plugin's counters of a key, which each use moves (its `remaining`,
/// `lastRefillAt`, `requestCount`, `lastRequest`): compared and replaced as one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiKeyUsage {
    /// Uses left; None: unlimited.
    pub remaining: Option<i64>,
    pub last_refill_at: Option<DateTime<Utc>>,
    pub request_count: Option<i64>,
    pub last_request: Option<DateTime<Utc>>,
}

/// A row of the api-key plugin's `apikey` table, without its `key` (the hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub id: String,
    pub config_id: String,
    pub name: Option<String>,
    /// The key's first characters, in clear.
    pub start: Option<String>,
    /// The user (or organization) the key belongs to.
    pub reference_id: String,
    pub prefix: Option<String>,
    /// Milliseconds.
    pub refill_interval: Option<i64>,
    pub refill_amount: Option<i64>,
    /// None counts as enabled, as the plugin has it.
    pub enabled: Option<bool>,
    pub rate_limit_enabled: Option<bool>,
    /// Milliseconds.
    pub rate_limit_time_window: Option<i64>,
    pub rate_limit_max: Option<i64>,
    pub usage: ApiKeyUsage,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// JSON text, as the plugin stores it.
    pub permissions: Option<String>,
    /// JSON text, as the plugin stores it (`"null"` when none was given).
    pub metadata: Option<String>,
}

/// What one use of a key writes to its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKeyWrite {
    Nothing,
    /// The key is deleted (expired, or used up).
    Delete,
    /// The counters become `next`, and `updatedAt` becomes `updated_at` when given.
    Usage {
        next: ApiKeyUsage,
        updated_at: Option<DateTime<Utc>>,
    },
}

/// What one use of a key decided, and whether the key's `referenceId` named a user when
/// its use was written (read in the same statement or transaction as the write; None when
/// nothing was written, or the caller did not ask). The plugin's session hook refuses a
/// key of no user after its use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUse<T> {
    pub decision: T,
    pub owner_is_user: Option<bool>,
}

/// A key to store: its row and the value of its `key` column (the hash, or the key itself
/// where the app disabled hashing).
pub struct NewApiKey {
    pub row: ApiKeyRow,
    pub stored_key: String,
}

/// A member row of the organization plugin, with its organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub organization_id: String,
    pub name: String,
    pub slug: String,
    /// The member's `role` column: roles, comma-separated.
    pub role: String,
}

/// A user with their memberships, and one of their sessions with its active organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInOrganizations {
    pub user: User,
    pub session: Option<Session>,
    /// In the order the user joined them.
    pub memberships: Vec<Membership>,
    /// The session's `activeOrganizationId` (None without a session, or the column).
    pub active_organization_id: Option<String>,
}

/// [`AuthStore::find_user_in_organizations`] made of the store's single reads, one after
/// the other: for a store in the process, where joining them gains nothing.
pub async fn user_in_organizations_read_apart<S: AuthStore>(
    store: &S,
    user_id: &str,
    session_id: Option<&str>,
) -> Result<Option<UserInOrganizations>, StoreError> {
    let memberships = store.find_memberships(user_id).await?;
    let found = match session_id {
        Some(id) => store.find_user_with_session(user_id, id).await?,
        None => store.find_user_by_id(user_id).await?.map(|u| (u, None)),
    };
    let Some((user, session)) = found else {
        return Ok(None);
    };
    let active_organization_id = match &session {
        Some(s) => store.find_active_organization(&s.id).await?,
        None => None,
    };
    Ok(Some(UserInOrganizations {
        user,
        session,
        memberships,
        active_organization_id,
    }))
}

/// A user as the admin plugin's routes answer it: the row with its ban columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedUser {
    pub user: User,
    /// `banned` (null counts as false, the column's default).
    pub banned: bool,
    pub ban_reason: Option<String>,
    pub ban_expires: Option<DateTime<Utc>>,
}

/// The column the admin plugin's listUsers searches (`searchField`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchField {
    Email,
    Name,
}

/// listUsers' `searchOperator`: a LIKE pattern around the value (its `%` and `_` stay
/// wildcards, as the plugin's adapter leaves them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchOperator {
    Contains,
    StartsWith,
    EndsWith,
}

/// A `user` column listUsers may sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    Id,
    Name,
    Email,
    CreatedAt,
    UpdatedAt,
}

/// A listUsers query: the search (if any), the order, the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserQuery {
    pub search: Option<(SearchField, SearchOperator, String)>,
    /// The sort column and whether it descends; None: `createdAt`, then `id`.
    pub sort: Option<(UserSort, bool)>,
    pub limit: i64,
    pub offset: i64,
}

impl UserQuery {
    /// The LIKE pattern of the search, as the plugin's adapter builds it.
    pub fn pattern(&self) -> Option<String> {
        self.search.as_ref().map(|(_, op, value)| match op {
            SearchOperator::Contains => format!("%{value}%"),
            SearchOperator::StartsWith => format!("{value}%"),
            SearchOperator::EndsWith => format!("%{value}"),
        })
    }
}

/// One page of users, and how many match the search in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    pub users: Vec<ManagedUser>,
    pub total: i64,
}

/// What an admin call writes to a `user` row (with `updatedAt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminUpdate {
    /// banUser: `banned` true, the reason, the end (None: for good).
    Ban {
        reason: String,
        expires: Option<DateTime<Utc>>,
    },
    /// unbanUser: `banned` false, `banReason` and `banExpires` null.
    Unban,
    /// setRole: the role column as given (several roles comma-separated).
    Role(String),
}

/// A row of the deviceAuthorization plugin's `deviceCode` table (RFC 8628).
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceCodeRow {
    pub id: String,
    /// The secret the device (here: the caller) polls with.
    pub device_code: String,
    /// What the person types or follows on the app's `/device` page.
    pub user_code: String,
    /// Set by the app once a signed-in person claims the code.
    pub user_id: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// `pending`, `approved` or `denied`.
    pub status: String,
    pub last_polled_at: Option<DateTime<Utc>>,
    /// Milliseconds, as the plugin stores it.
    pub polling_interval: Option<i64>,
    pub client_id: Option<String>,
    pub scope: Option<String>,
}

impl std::fmt::Debug for DeviceCodeRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCodeRow")
            .field("id", &self.id)
            .field("status", &self.status)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What a store error came from: the driver's error, kept for programs (never shown:
/// a database error's DETAIL can quote row values).
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why the database cannot serve now, in the terms of what to fix: the texts are shown to
/// callers (an agent and the person it works for cannot read the server's log), so they
/// name the setting at fault and never a value of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// Not reached: refused, unreachable, timed out, closed, shutting down, full.
    Unreachable,
    /// The server refused the user name or password (SQLSTATE 28P01, 28000).
    Credentials,
    /// No database of that name on the server (3D000).
    UnknownDatabase,
    /// The database user lacks a privilege the server needs (42501).
    PermissionDenied,
    /// The TLS handshake failed: the certificate was not trusted or did not match.
    Tls,
    /// Every pooled connection stayed busy for the pool timeout.
    Busy,
}

impl Outage {
    /// What happened and what to do, for the caller, `/readyz` and the log alike.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Unreachable => "the database in DATABASE_URL cannot be reached right now",
            Self::Credentials => {
                "the database refused the credentials in DATABASE_URL (its user name or password)"
            }
            Self::UnknownDatabase => {
                "the database named in DATABASE_URL does not exist on that server"
            }
            Self::PermissionDenied => {
                "the database user in DATABASE_URL lacks a privilege the server needs (the server log names it)"
            }
            Self::Tls => {
                "the database's TLS certificate was not accepted (check sslmode and sslrootcert in DATABASE_URL)"
            }
            Self::Busy => "every database connection stayed busy for DATABASE_POOL_TIMEOUT_SECONDS",
        }
    }
}

impl std::fmt::Display for Outage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

/// Why persistence failed, as far as the domain must tell. `detail` is safe to log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a user with this email already exists")]
    EmailTaken,
    /// The database cannot serve now; the operation did not happen.
    #[error("{outage} ({detail})")]
    Unavailable {
        outage: Outage,
        detail: String,
        #[source]
        cause: Option<Cause>,
    },
    /// The database's schema lacks what the server needs (the text says what); retrying
    /// will not help.
    #[error("the database schema cannot be used: {0}")]
    Schema(String),
    /// A Better Auth plugin's tables are not in the database (the plugin's name).
    #[error("{0} tables not found")]
    PluginNotEnabled(&'static str),
    #[error("database error: {detail}")]
    Other {
        detail: String,
        #[source]
        cause: Option<Cause>,
    },
}

impl StoreError {
    /// The database cannot be reached ([`Outage::Unreachable`]).
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::outage(Outage::Unreachable, detail)
    }

    pub fn outage(outage: Outage, detail: impl Into<String>) -> Self {
        Self::Unavailable {
            outage,
            detail: detail.into(),
            cause: None,
        }
    }

    pub fn other(detail: impl Into<String>) -> Self {
        Self::Other {
            detail: detail.into(),
            cause: None,
        }
    }

    /// The same error, keeping what it came from.
    pub fn caused_by(mut self, error: impl std::error::Error + Send + Sync + 'static) -> Self {
        if let Self::Unavailable { cause, .. } | Self::Other { cause, .. } = &mut self {
            *cause = Some(Box::new(error));
        }
        self
    }
}

/// The persistence the auth domain needs.
pub trait AuthStore: Send + Sync + 'static {
    /// Writes the user, its credential account and its first session (when there is one:
    /// none while the email awaits verification) in one transaction, with the audit row
    /// (whose actor and target become the user's id as stored). Returns them as stored
    /// (ids the database made, with UUID ids).
    fn create_user_with_password(
        &self,
        new: &NewUser,
        session: Option<&NewSession>,
        audit: Option<&AuditEntry>,
    ) -> impl Future<Output = Result<(User, Option<Session>), StoreError>> + Send;

    /// `user` as this store would have stored it, without storing it: the kind of id the
    /// database makes, the role the admin plugin gives. For answers that must not show
    /// whether a user was stored.
    fn as_stored(&self, user: User) -> User;

    /// Writes a session, and the audit row with it (in one statement or transaction, as
    /// every `audit` below).
    fn create_session(
        &self,
        user_id: &str,
        session: &NewSession,
        audit: Option<&AuditEntry>,
    ) -> impl Future<Output = Result<Session, StoreError>> + Send;

    /// A session by its token, with its user.
    fn find_session(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Option<(Session, User)>, StoreError>> + Send;

    /// A user by id, with the session `session_id` if it exists and is theirs.
    fn find_user_with_session(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> impl Future<Output = Result<Option<(User, Option<Session>)>, StoreError>> + Send;

    /// Moves a session's expiry (Better Auth's `updateAge` refresh).
    fn extend_session(
        &self,
        session_id: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        audit: Option<&AuditEntry>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes the session with this token; false if there was none. The audit row's
    /// actor and target, when it has none, are the session's user.
    fn delete_session(
        &self,
        token: &str,
        audit: Option<&AuditEntry>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Replaces the password hash of a user's credential account.
    fn update_password(
        &self,
        user_id: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A JWT-plugin public key by its id (the JWT's `kid`).
    fn find_jwk(&self, kid: &str) -> impl Future<Output = Result<JwkLookup, StoreError>> + Send;

    /// Looks a user up by exact (already normalised) email.
    fn find_user_by_email(
        &self,
        email: &str,
    ) -> impl Future<Output = Result<Option<UserWithPassword>, StoreError>> + Send;

    fn find_user_by_id(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// The user's ban and whether they have two-factor on, from the plugins' columns when
    /// the schema has them.
    fn find_standing(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Standing, StoreError>> + Send;

    /// Lifts a user's ban (`banned` false, `banReason` and `banExpires` null), as Better
    /// Auth does when an expired ban meets a sign-in.
    fn lift_ban(
        &self,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The user's `twoFactor` row, if the schema has the table and the user a row.
    fn find_two_factor(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<TwoFactorRow>, StoreError>> + Send;

    /// Counts a failed second factor on the row; the count reaching `max_failed` locks
    /// it until `lock_until`. Only called on rows with the lockout columns.
    fn record_second_factor_failure(
        &self,
        two_factor_id: &str,
        max_failed: i64,
        lock_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Clears the row's failure count and lockout.
    fn reset_second_factor_failures(
        &self,
        two_factor_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Replaces the row's backup codes if they are still `old` (another sign-in may have
    /// used one meanwhile); false if they were not.
    fn replace_backup_codes(
        &self,
        two_factor_id: &str,
        old: &str,
        new: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The `apikey` row whose `key` column holds `stored_key`.
    fn find_api_key(
        &self,
        stored_key: &str,
    ) -> impl Future<Output = Result<Option<ApiKeyRow>, StoreError>> + Send;

    /// The `apikey` row of this id.
    fn find_api_key_by_id(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<ApiKeyRow>, StoreError>> + Send;

    /// One use of the key whose `key` column holds `stored_key`: `rule` decides from the
    /// row (None: no such key) what to write, and the write is made atomically with what
    /// it was decided from, so concurrent uses here and in the app spend one budget.
    /// PostgreSQL: a compare-and-swap on the row's version (one write of a key this
    /// process used before, else one read and one write); when the row changed in
    /// between, `rule` decides again on the row locked. SQLite: under the database's write
    /// lock throughout. With the decision, when `check_owner` asks, whether the key's
    /// owner is a user ([`KeyUse`]).
    fn use_api_key<T: Send + 'static>(
        &self,
        stored_key: &str,
        check_owner: bool,
        rule: impl FnMut(Option<&ApiKeyRow>) -> (ApiKeyWrite, T) + Send + 'static,
    ) -> impl Future<Output = Result<KeyUse<T>, StoreError>> + Send;

    /// Deletes the key; false if there was none.
    fn delete_api_key(
        &self,
        id: &str,
        audit: Option<&AuditEntry>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores a new key; returns its id as stored (the database's, with UUID ids), which
    /// the audit row's payload gets as `keyId`.
    fn create_api_key(
        &self,
        key: &NewApiKey,
        audit: Option<&AuditEntry>,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// The keys of a user (or organization), newest first, at most 100 (the plugin's
    /// adapter reads no more).
    fn list_api_keys(
        &self,
        reference_id: &str,
    ) -> impl Future<Output = Result<Vec<ApiKeyRow>, StoreError>> + Send;

    /// The user's memberships, with their organizations.
    fn find_memberships(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<Membership>, StoreError>> + Send;

    /// The `organizationRole` rows of an organization (dynamic access control): role name
    /// and its `permission` JSON text. Empty when the table does not exist.
    fn find_organization_roles(
        &self,
        organization_id: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send;

    /// Whether an `organization` row has this id (an organization-owned API key's
    /// `referenceId`).
    fn organization_exists(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// A user with their memberships, and the session `session_id` (when it is theirs)
    /// with its `activeOrganizationId`, in one read: get_user with the organizations
    /// toolset. None: no such user.
    fn find_user_in_organizations(
        &self,
        user_id: &str,
        session_id: Option<&str>,
    ) -> impl Future<Output = Result<Option<UserInOrganizations>, StoreError>> + Send;

    /// The session's `activeOrganizationId`, when the column exists.
    fn find_active_organization(
        &self,
        session_id: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// A user with the admin plugin's columns; PluginNotEnabled("admin") without them.
    fn find_managed_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<ManagedUser>, StoreError>> + Send;

    /// The admin plugin's listUsers: a page of users and the count of those matching.
    fn list_users(
        &self,
        query: &UserQuery,
    ) -> impl Future<Output = Result<UserPage, StoreError>> + Send;

    /// Writes `update` and `updatedAt` = `now` to the user's row; the row as it is then
    /// (None: no such user).
    fn update_managed_user(
        &self,
        user_id: &str,
        update: &AdminUpdate,
        now: DateTime<Utc>,
        audit: Option<&AuditEntry>,
    ) -> impl Future<Output = Result<Option<ManagedUser>, StoreError>> + Send;

    /// Deletes every session of the user (Better Auth's deleteUserSessions); how many.
    fn delete_user_sessions(
        &self,
        user_id: &str,
        audit: Option<&AuditEntry>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Better Auth's deleteUser, in one transaction: the user's sessions, accounts, and
    /// the user (rows of plugins' tables go by their foreign keys). False: no such user.
    fn remove_user(
        &self,
        user_id: &str,
        audit: Option<&AuditEntry>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Reads the `rateLimit` bucket of `key`, lets `rule` decide, and stores what it
    /// returns, in one transaction holding the row: concurrent processes see each other.
    /// `new_id` is the row's id if the bucket is new.
    fn update_rate_limit<T: Send + 'static>(
        &self,
        key: &str,
        new_id: &str,
        rule: impl FnOnce(Option<RateLimitBucket>) -> (Option<RateLimitBucket>, T) + Send + 'static,
    ) -> impl Future<Output = Result<T, StoreError>> + Send;

    /// Writes an audit row of an event that wrote nothing else (a refusal, a read).
    fn record_audit(
        &self,
        entry: &AuditEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes the audit rows older than `before` (retention); how many.
    fn delete_audit_before(
        &self,
        before: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The audit rows since `since`, oldest first, at most `limit`.
    fn list_audit(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AuditRow>, StoreError>> + Send;
    /// Stores a new `deviceCode` row (its id: the database's, with UUID ids); false when
    /// its device or user code is taken (the caller draws new ones, as the plugin does).
    fn create_device_code(
        &self,
        row: &DeviceCodeRow,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The `deviceCode` row of this device code.
    fn find_device_code(
        &self,
        device_code: &str,
    ) -> impl Future<Output = Result<Option<DeviceCodeRow>, StoreError>> + Send;

    /// Sets the row's `lastPolledAt` (what the plugin's `slow_down` rule reads).
    fn mark_device_code_polled(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes the row; false if there was none.
    fn delete_device_code(&self, id: &str)
    -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The plugin's one-time claim: deletes the row if it is still `approved` for
    /// `client_id`, and returns it as it was; None when another exchange took it first.
    fn consume_device_code(
        &self,
        id: &str,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<DeviceCodeRow>, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_error_keeps_its_cause_and_shows_only_its_detail() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset: row value");
        let e = StoreError::unavailable("connection lost").caused_by(io);
        assert_eq!(
            e.to_string(),
            "the database in DATABASE_URL cannot be reached right now (connection lost)"
        );
        let cause = std::error::Error::source(&e).expect("the cause is kept");
        let io = cause.downcast_ref::<std::io::Error>().expect("as it was");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset);
        assert!(std::error::Error::source(&StoreError::EmailTaken).is_none());
    }
}
