//! The auth domain: Better Auth's rules for users, passwords and access tokens.
//! It knows nothing of MCP or SQL: it owns its types and the persistence it needs
//! ([`AuthStore`]), which the `store` module implements.

mod credentials;
mod email;
mod error;
mod id;
#[cfg(test)]
mod memory;
mod password;
mod ports;
mod rate_limit;
mod secrets;
mod service;
mod token;
mod two_factor;

pub use credentials::{session_token, sign_session_token};
pub use email::{Email, MAX_EMAIL_BYTES};
pub use error::{AuthError, TokenRejection};
pub use id::{generate_id, random_alphanumeric};
pub use password::{
    Admission, Password, PasswordCheck, PasswordFormat, PasswordHasher, PasswordPolicy,
};
pub use ports::{
    AuthStore, Ban, JwkLookup, JwkRow, JwksSource, Lockout, NewSession, NewUser, Outage,
    RateLimitBucket, Session, Standing, StoreError, TwoFactorRow, User, UserWithPassword,
};
pub use rate_limit::{RateDecision, RateLimitPolicy, rate_limit_key};
pub use secrets::{Secrets, SecretsError};
pub use service::{
    Access, AuthService, AuthSettings, Authenticated, CredentialKind, Refreshed, SessionPolicy,
    UserName, VerifiedToken,
};
pub use token::{
    AccessClaims, AccessTokens, DEFAULT_LEEWAY_SECS, IssuedToken, MAX_LEEWAY_SECS, MAX_TOKEN_BYTES,
    MIN_SECRET_BYTES, Resource, SecretError, check_secret,
};
pub use two_factor::{
    BackupCodes, CipherError, LOCKOUT, MAX_FAILED_SECOND_FACTORS, SECOND_FACTOR_RATE_LIMIT,
    SecondFactor, decrypt, encrypt, totp, totp_matches,
};
