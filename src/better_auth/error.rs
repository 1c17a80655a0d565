//! The one error type of the auth domain: a variant per code of the tool contract.

use std::fmt;

use super::ports::{Cause, Outage, StoreError};
use super::rate_limit::RateLimitScope;

/// Why a token did not verify. The `as_str` names are the contract's `reason` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    Malformed,
    BadSignature,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    UnsupportedAlgorithm,
    MissingClaim,
    TooLarge,
    SessionNotFound,
    /// The configured JWKS URL could not be read, and no key it served is known.
    JwksUnavailable,
    /// An API key the `apikey` table does not have (the plugin's INVALID_API_KEY).
    InvalidApiKey,
    /// The plugin's KEY_DISABLED.
    KeyDisabled,
    /// The plugin's KEY_EXPIRED (the key is deleted, as the plugin does).
    KeyExpired,
    /// The plugin's USAGE_EXCEEDED: no use left.
    UsageExceeded,
    /// The plugin's RATE_LIMITED: the key's own rate limit.
    KeyRateLimited,
}

impl TokenRejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::MissingClaim => "missing_claim",
            Self::TooLarge => "too_large",
            Self::SessionNotFound => "session_not_found",
            Self::JwksUnavailable => "jwks_unavailable",
            Self::InvalidApiKey => "invalid_api_key",
            Self::KeyDisabled => "key_disabled",
            Self::KeyExpired => "key_expired",
            Self::UsageExceeded => "usage_exceeded",
            Self::KeyRateLimited => "rate_limited",
        }
    }
}

impl fmt::Display for TokenRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure the caller can act on. Messages never hold a password, hash, token or secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("Invalid email address")]
    InvalidEmail,
    #[error("Password too short: at least {min} characters")]
    PasswordTooShort { min: usize },
    #[error("Password too long: at most {max} characters")]
    PasswordTooLong { max: usize },
    #[error("Invalid name: {0}")]
    InvalidName(&'static str),
    #[error("User already exists. Use another email.")]
    UserAlreadyExists,
    #[error("Invalid email or password")]
    InvalidEmailOrPassword,
    /// `emailAndPassword.requireEmailVerification` and an unverified user (Better Auth's
    /// message).
    #[error("Email not verified")]
    EmailNotVerified,
    /// Better Auth's admin plugin banned the user (its message).
    #[error(
        "You have been banned from this application. Please contact support if you believe this is an error."
    )]
    BannedUser,
    /// The two-factor plugin is on for the user and no second factor that can be checked
    /// here was given; the text says what to do.
    #[error("{0}")]
    TwoFactorRequired(&'static str),
    /// The TOTP or backup code given did not verify.
    #[error("Invalid two-factor code")]
    InvalidTwoFactorCode,
    #[error("The token is not valid ({0})")]
    InvalidToken(TokenRejection),
    /// An access token (a JWT) given where a session token is expected.
    #[error("This is an access token (a JWT), not a session token")]
    NotASessionToken,
    /// A Better Auth API key given where a session token is expected.
    #[error("This is an API key, not a session token")]
    ApiKeyNotASessionToken,
    #[error("The user of this token no longer exists")]
    UserNotFound,
    #[error("Too many attempts; retry after {retry_after_secs} seconds")]
    RateLimited {
        retry_after_secs: u64,
        /// Which limit was reached (for the metrics; not in the text).
        scope: RateLimitScope,
    },
    /// Too many password hashes are running or waiting: refused at once, not queued.
    #[error("The server is busy checking passwords; retry after 1 second")]
    Busy,
    /// A toolset's Better Auth plugin has no tables in the database.
    #[error("{0} tables not found: add the plugin to the Better Auth app and run its migration")]
    PluginNotEnabled(&'static str),
    /// An API key that is not the caller's, or none (the plugin's INVALID_API_KEY).
    #[error("Invalid API key.")]
    InvalidApiKey,
    /// A tool argument Better Auth's plugin refuses: its code and message.
    #[error("{message}")]
    Refused {
        code: &'static str,
        message: &'static str,
    },
    /// A browser sign-in the person has not approved yet (RFC 8628 `authorization_pending`).
    #[error("The person has not approved the sign-in yet; retry after {interval_secs} seconds")]
    AuthorizationPending { interval_secs: u64 },
    /// Polled again sooner than the interval (RFC 8628 `slow_down`, the plugin's message).
    #[error("Polling too frequently; wait {interval_secs} seconds between attempts")]
    SlowDown { interval_secs: u64 },
    /// The person denied the browser sign-in (the code is used up).
    #[error("Access denied: the person declined this sign-in")]
    AccessDenied,
    /// The browser sign-in's code expired (the code is used up).
    #[error("Device code has expired; begin a new browser sign-in")]
    ExpiredToken,
    /// A device code unknown here, used already, or begun by another caller.
    #[error("Invalid device code")]
    InvalidDeviceCode,
    /// The database cannot serve now: the text says why, in terms of what to fix; the
    /// store's error (safe to log) is kept for the log.
    #[error("Unavailable: {outage}; nothing was changed. The next call tries again.")]
    ServiceUnavailable {
        outage: Outage,
        #[source]
        cause: Box<StoreError>,
    },
    /// What failed is for the log only (`detail`, and its cause); the caller sees a
    /// generic message.
    #[error("Internal error; see the server log")]
    Internal {
        detail: String,
        #[source]
        cause: Option<Cause>,
    },
}

impl AuthError {
    /// The stable code of the tool contract.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidEmail => "INVALID_EMAIL",
            Self::PasswordTooShort { .. } => "PASSWORD_TOO_SHORT",
            Self::PasswordTooLong { .. } => "PASSWORD_TOO_LONG",
            Self::InvalidName(_) => "INVALID_NAME",
            Self::UserAlreadyExists => "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
            Self::InvalidEmailOrPassword => "INVALID_EMAIL_OR_PASSWORD",
            Self::BannedUser => "BANNED_USER",
            Self::EmailNotVerified => "EMAIL_NOT_VERIFIED",
            Self::TwoFactorRequired(_) => "TWO_FACTOR_REQUIRED",
            Self::InvalidTwoFactorCode => "INVALID_TWO_FACTOR_CODE",
            Self::InvalidToken(_) | Self::NotASessionToken | Self::ApiKeyNotASessionToken => {
                "INVALID_TOKEN"
            }
            Self::UserNotFound => "USER_NOT_FOUND",
            Self::RateLimited { .. } | Self::Busy => "RATE_LIMITED",
            Self::PluginNotEnabled(_) => "PLUGIN_NOT_ENABLED",
            Self::InvalidApiKey => "INVALID_API_KEY",
            Self::Refused { code, .. } => code,
            Self::AuthorizationPending { .. } => "AUTHORIZATION_PENDING",
            Self::SlowDown { .. } => "SLOW_DOWN",
            Self::AccessDenied => "ACCESS_DENIED",
            Self::ExpiredToken => "EXPIRED_TOKEN",
            Self::InvalidDeviceCode => "INVALID_DEVICE_CODE",
            Self::ServiceUnavailable { .. } => "SERVICE_UNAVAILABLE",
            Self::Internal { .. } => "INTERNAL_ERROR",
        }
    }

    /// An internal failure: `detail` says what failed, `cause` why.
    pub fn internal(detail: impl Into<String>, cause: impl Into<Cause>) -> Self {
        Self::Internal {
            detail: detail.into(),
            cause: Some(cause.into()),
        }
    }

    /// What the server log should say of this error beyond its code, if anything: the
    /// store's own text of an outage, or what failed inside (with its cause's text, one
    /// level: a database error's own causes can quote row values).
    pub fn log_detail(&self) -> Option<String> {
        match self {
            Self::ServiceUnavailable { cause, .. } => Some(match cause.as_ref() {
                StoreError::Unavailable { detail, .. } => detail.clone(),
                other => other.to_string(),
            }),
            Self::Internal { detail, cause } => Some(match cause {
                Some(cause) => format!("{detail}: {cause}"),
                None => detail.clone(),
            }),
            _ => None,
        }
    }
}

/// A store error as the domain tells it; nothing is logged here (the one mapping to a
/// caller's answer logs [`AuthError::log_detail`]).
impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::EmailTaken => Self::UserAlreadyExists,
            StoreError::Unavailable { outage, .. } => Self::ServiceUnavailable {
                outage,
                cause: Box::new(e),
            },
            StoreError::PluginNotEnabled(plugin) => Self::PluginNotEnabled(plugin),
            e @ (StoreError::Other { .. } | StoreError::Schema(_)) => Self::Internal {
                detail: "the database failed".into(),
                cause: Some(Box::new(e)),
            },
        }
    }
}
