//! The one error type of the auth domain: a variant per code of the tool contract.

use std::fmt;

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
    #[error("The user of this token no longer exists")]
    UserNotFound,
    #[error("Too many attempts; retry after {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    /// Too many password hashes are running or waiting: refused at once, not queued.
    #[error("The server is busy checking passwords; retry after 1 second")]
    Busy,
    /// The database cannot serve now: the text says why, in terms of what to fix.
    #[error("Unavailable: {0}; nothing was changed. The next call tries again.")]
    ServiceUnavailable(super::Outage),
    /// The detail is for the log only; the caller sees a generic message.
    #[error("Internal error; see the server log")]
    Internal(String),
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
            Self::InvalidToken(_) | Self::NotASessionToken => "INVALID_TOKEN",
            Self::UserNotFound => "USER_NOT_FOUND",
            Self::RateLimited { .. } | Self::Busy => "RATE_LIMITED",
            Self::ServiceUnavailable(_) => "SERVICE_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL_ERROR",
        }
    }
}

impl From<super::StoreError> for AuthError {
    fn from(e: super::StoreError) -> Self {
        use super::StoreError;
        match e {
            StoreError::EmailTaken => Self::UserAlreadyExists,
            StoreError::Unavailable { outage, detail, .. } => {
                tracing::warn!(%detail, "database unavailable: {outage}");
                Self::ServiceUnavailable(outage)
            }
            StoreError::Other { detail, .. } => Self::Internal(detail),
            StoreError::Schema(detail) => Self::Internal(detail),
        }
    }
}
