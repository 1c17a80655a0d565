//! The auth domain: Better Auth's rules for users, passwords, sessions and tokens. It
//! knows nothing of MCP, HTTP or SQL: it owns its types and the persistence it needs
//! ([`AuthStore`], in [`ports`]), which the `store` module implements.
//!
//! - [`AuthService`] (service.rs) holds what the flows share; its [`settings`] have
//!   Better Auth's defaults.
//! - [`flows`]: one file per operation of the tool contract (sign-up, sign-in, second
//!   factor, session, verify).
//! - [`credentials`]: one file per kind of credential (access token, session token, JWKS
//!   token), the JWT reading and claim rules they share, the deployment's secrets and the
//!   two-factor plugin's codes.
//! - [`password`], [`rate_limit`], [`model`] (email, name), [`organizations`] (the
//!   organization plugin's roles and hasPermission): the rules they name.

pub mod audit;
pub mod credentials;
mod error;
pub mod flows;
mod id;
#[cfg(test)]
mod memory;
pub mod model;
pub mod organizations;
pub mod password;
pub mod ports;
pub mod rate_limit;
mod service;
pub mod settings;

pub use credentials::jwt::{AccessClaims, Resource};
pub use credentials::secret::Secrets;
pub use credentials::two_factor::SecondFactor;
pub use credentials::{CredentialKind, VerifiedToken};
pub use error::{AuthError, TokenRejection};
pub use flows::browser_sign_in::{BrowserSignInStarted, BrowserSignInWait};
pub use flows::session::Refreshed;
pub use flows::sign_in::SignIn;
pub use flows::sign_up::SignUp;
pub use id::{generate_id, random_alphanumeric};
pub use model::{Email, UserName};
pub use password::{Password, PasswordFormat, PasswordPolicy};
pub use ports::{AuthStore, Outage, Session, StoreError, User};
pub use rate_limit::{RateLimitPolicy, RateLimitScope};
pub use service::{Access, AuthService, Authenticated};
pub use settings::{AdminPolicy, AuthSettings, BrowserSignInPolicy, SessionPolicy};

// The names the domain's own modules share, through `super::`.
use credentials::two_factor::{LOCKOUT, MAX_FAILED_SECOND_FACTORS, SECOND_FACTOR_RATE_LIMIT};
use password::{Admission, PasswordHasher};
use ports::{JwkLookup, JwksSource, Lockout, NewSession, NewUser, RateLimitBucket, Standing};
use rate_limit::{RateDecision, rate_limit_key};
