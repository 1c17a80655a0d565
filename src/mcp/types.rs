//! What MCP clients send and receive: the tool contract's shapes (camelCase, as Better Auth's JSON).

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::args::ArgumentError;
pub use super::schema::portable_nullables;
use crate::better_auth::{
    AccessClaims, Authenticated, Refreshed, SecondFactor, User, VerifiedToken,
};

fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = portable_nullables)]
pub struct SignUpArgs {
    /// The new user's email address. It is trimmed and lowercased; at most 254 bytes.
    pub email: String,
    /// The new user's password, 8 to 128 characters by default. Used exactly as given.
    pub password: String,
    /// Optional display name, at most 256 characters, no control characters.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct SignInArgs {
    /// The user's email address (case and surrounding spaces do not matter).
    pub email: String,
    /// The user's password, exactly as it was set.
    pub password: String,
    /// For a user with two-factor authentication on: the 6-digit code their authenticator
    /// app shows now. Ignored for other users.
    #[serde(default)]
    pub totp_code: Option<String>,
    /// For a user with two-factor authentication on: one of their backup codes, instead of
    /// totpCode. It is used up. Ignored for other users.
    #[serde(default)]
    pub backup_code: Option<String>,
}

impl SignInArgs {
    /// The second factor given, if any; giving both kinds is an argument error.
    pub fn second_factor(&mut self) -> Result<Option<SecondFactor>, ArgumentError> {
        match (self.totp_code.take(), self.backup_code.take()) {
            (Some(_), Some(_)) => Err(ArgumentError {
                field: Some("backupCode".into()),
                problem: "give totpCode or backupCode, not both".into(),
            }),
            (Some(code), None) => Ok(Some(SecondFactor::Totp(code))),
            (None, Some(code)) => Ok(Some(SecondFactor::BackupCode(code))),
            (None, None) => Ok(None),
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = portable_nullables)]
pub struct TokenArgs {
    /// The credential to check: the access token from sign_up, sign_in or refresh_token; a
    /// Better Auth session token (raw, or the signed cookie value); or a token of Better
    /// Auth's JWT plugin. A leading "Bearer " is accepted.
    pub token: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = portable_nullables)]
pub struct GetUserArgs {
    /// The credential whose user to get, as verify_token takes it. Over HTTP with
    /// authorization on, leave it out to get the caller (the user of the bearer token).
    #[serde(default)]
    pub token: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct SessionArgs {
    /// The session token from sign_up or sign_in (or a Better Auth session token, raw or
    /// as the signed cookie value).
    pub session_token: String,
}

/// A user as Better Auth shows one.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct UserView {
    /// The user's id (32 alphanumeric characters).
    pub id: String,
    pub email: String,
    pub name: String,
    pub email_verified: bool,
    /// URL of the user's picture, or null.
    pub image: Option<String>,
    /// RFC 3339 timestamp.
    pub created_at: String,
    /// RFC 3339 timestamp.
    pub updated_at: String,
    /// The user's role from Better Auth's admin plugin ("user", "admin", or the app's own;
    /// several are comma-separated). Present only when the deployment has the plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            created_at: rfc3339(&u.created_at),
            updated_at: rfc3339(&u.updated_at),
            id: u.id,
            email: u.email,
            name: u.name,
            email_verified: u.email_verified,
            image: u.image,
            role: u.role,
        }
    }
}

/// The result of sign_up and sign_in. The token fields are null after a sign_up while the
/// email awaits verification (REQUIRE_EMAIL_VERIFICATION), as Better Auth answers.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct AuthResult {
    pub user: UserView,
    /// The access token: pass it to verify_token and get_user. Keep it private.
    pub token: Option<String>,
    /// Always "Bearer".
    pub token_type: String,
    /// When the access token expires (RFC 3339).
    pub expires_at: Option<String>,
    /// The Better Auth session opened: pass it to refresh_token for a new access token and
    /// to sign_out to end it. Keep it private; it lives 7 days by default.
    pub session_token: Option<String>,
    /// When the session expires (RFC 3339).
    pub session_expires_at: Option<String>,
    /// Why the token fields are null, when they are: the email awaits verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What sign_up says when it opened no session.
const AWAITS_VERIFICATION: &str = "The deployment requires email verification: the user was \
    created without a session, so token and sessionToken are null. The user signs in once \
    the email is verified (the Better Auth app sends the verification email).";

impl From<Authenticated> for AuthResult {
    fn from(a: Authenticated) -> Self {
        let access = a.access;
        Self {
            message: access.is_none().then(|| AWAITS_VERIFICATION.to_owned()),
            user: a.user.into(),
            token_type: "Bearer".into(),
            expires_at: access.as_ref().map(|x| rfc3339(&x.expires_at)),
            session_expires_at: access.as_ref().map(|x| rfc3339(&x.session.expires_at)),
            token: access.as_ref().map(|x| x.token.clone()),
            session_token: access.map(|x| x.session.token),
        }
    }
}

/// The result of refresh_token.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct RefreshResult {
    /// A new access token for the same session.
    pub token: String,
    /// Always "Bearer".
    pub token_type: String,
    /// When the access token expires (RFC 3339).
    pub expires_at: String,
}

impl From<Refreshed> for RefreshResult {
    fn from(r: Refreshed) -> Self {
        Self {
            token: r.token,
            token_type: "Bearer".into(),
            expires_at: rfc3339(&r.expires_at),
        }
    }
}

/// The result of sign_out.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct SignOutResult {
    /// Always true: the session is gone.
    pub signed_out: bool,
}

/// A token's `aud`: one audience or several (RFC 7519 §4.1.3). Typed, so its schema is
/// one every client's validator takes (a bare `true` is not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// The audience of claims the domain checked: a string or an array of strings.
    fn of(aud: serde_json::Value) -> Option<Self> {
        match aud {
            serde_json::Value::String(one) => Some(Self::One(one)),
            serde_json::Value::Array(many) => Some(Self::Many(
                many.into_iter()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect(),
            )),
            _ => None,
        }
    }
}

/// Permissions as Better Auth writes them: resource → actions.
pub type Permissions = std::collections::BTreeMap<String, Vec<String>>;

/// The claims of a verified token.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = portable_nullables)]
pub struct ClaimsView {
    /// The audience: the URL (or URLs) the token is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Expires at (seconds since the epoch); not for an API key (see expiresAt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issued at (seconds since the epoch); not for an API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// An API key's id (for revoke_api_key).
    #[serde(default, rename = "keyId", skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The organization that owns an API key (its sub), with the organizations toolset.
    #[serde(
        default,
        rename = "organizationId",
        skip_serializing_if = "Option::is_none"
    )]
    pub organization_id: Option<String>,
    /// An API key's name (null when it has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Option<String>>,
    /// An API key's permissions ({"resource": ["action", ...]}), null when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Option<Permissions>>,
    /// An API key's metadata (an object), null when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Option<serde_json::Map<String, serde_json::Value>>>,
    /// The Better Auth session id, when the credential belongs to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The user id (for an API key: its referenceId, the user or organization it belongs to).
    pub sub: String,
}

impl From<AccessClaims> for ClaimsView {
    fn from(c: AccessClaims) -> Self {
        Self {
            sub: c.sub,
            email: c.email,
            iat: Some(c.iat),
            exp: Some(c.exp),
            iss: c.iss,
            aud: c.aud.and_then(Audience::of),
            sid: c.sid,
            key_id: None,
            organization_id: None,
            name: None,
            permissions: None,
            metadata: None,
        }
    }
}

impl ClaimsView {
    /// The claims of a verified credential: an API key's are `{sub, keyId, name,
    /// permissions, metadata}`.
    fn of(v: VerifiedToken) -> Self {
        match v.api_key {
            Some(key) => Self {
                sub: v.claims.sub,
                email: None,
                iat: None,
                exp: None,
                iss: None,
                aud: None,
                sid: None,
                key_id: Some(key.key_id),
                organization_id: key.organization_id,
                name: Some(key.name),
                permissions: Some(serde_json::from_value(key.permissions).ok()),
                metadata: Some(serde_json::from_value(key.metadata).ok()),
            },
            None => v.claims.into(),
        }
    }
}

/// `{valid: true, kind, claims, expiresAt}` or `{valid: false, reason}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct VerifyResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<ClaimsView>,
    /// When the credential expires (RFC 3339); null for an API key that never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Option<String>>,
    /// What was verified: "access_token" (issued here), "better_auth_session" (a Better
    /// Auth session token), "better_auth_jwt" (a token of Better Auth's JWT plugin) or
    /// "better_auth_api_key" (a key of its api-key plugin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Why the token is not valid: malformed, bad_signature, expired, not_yet_valid,
    /// wrong_issuer, wrong_audience, unsupported_algorithm, missing_claim, too_large,
    /// session_not_found, jwks_unavailable (the JWKS URL cannot be read now); for an API
    /// key: invalid_api_key, key_disabled, key_expired, usage_exceeded, rate_limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub valid: bool,
}

impl VerifyResult {
    pub fn valid(v: VerifiedToken) -> Self {
        Self {
            valid: true,
            kind: Some(v.kind.as_str().into()),
            expires_at: Some(v.expires_at.as_ref().map(rfc3339)),
            claims: Some(ClaimsView::of(v)),
            reason: None,
        }
    }

    pub fn invalid(reason: &str) -> Self {
        Self {
            valid: false,
            kind: None,
            claims: None,
            expires_at: None,
            reason: Some(reason.into()),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = portable_nullables)]
pub struct GetUserResult {
    pub user: UserView,
    /// With the organization plugin's tables: organizations and activeOrganizationId.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub organizations: Option<super::organizations::UserOrganizationsView>,
}
