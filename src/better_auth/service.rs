//! The four operations of the tool contract, as a library: sign_up, sign_in,
//! verify_access_token and get_user.

use chrono::{DateTime, SubsecRound, Utc};
use secrecy::SecretString;

use super::{
    AccessClaims, AccessTokens, AuthError, Email, Password, PasswordHasher, PasswordPolicy,
    RateDecision, RateLimitPolicy, SecretError, TokenRejection, generate_id, rate_limit_key,
};
use crate::store::{NewUser, Store, User};

/// The most characters a display name may have.
pub const MAX_NAME_CHARS: usize = 256;

/// A display name: at most 256 characters, no control characters. Empty is allowed,
/// as in Better Auth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub fn parse(raw: Option<&str>) -> Result<Self, AuthError> {
        let name = raw.unwrap_or("").trim();
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(AuthError::InvalidName("longer than 256 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(AuthError::InvalidName("contains control characters"));
        }
        Ok(Self(name.to_owned()))
    }
}

/// What the service is configured with.
pub struct AuthSettings {
    pub secret: SecretString,
    /// BETTER_AUTH_URL: `iss` and `aud` of access tokens.
    pub issuer: Option<String>,
    pub token_ttl_secs: u64,
    /// Clock skew tolerated when verifying (at most 60 s).
    pub token_leeway_secs: u64,
    pub password_policy: PasswordPolicy,
    /// How many password hashes may run at once.
    pub hash_concurrency: usize,
    /// How many may run or wait at once; past it sign_up and sign_in are refused at once.
    pub hash_queue_limit: usize,
    pub rate_limit: RateLimitPolicy,
}

/// A signed-in user and their new access token.
#[derive(Debug)]
pub struct Authenticated {
    pub user: User,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// A token that verified, and what kind of credential it was.
#[derive(Debug)]
pub struct VerifiedToken {
    pub kind: &'static str,
    pub claims: AccessClaims,
    pub expires_at: DateTime<Utc>,
}

pub struct AuthService {
    store: Store,
    hasher: PasswordHasher,
    tokens: AccessTokens,
    policy: PasswordPolicy,
    rate_limit: RateLimitPolicy,
}

/// Better Auth's paths for the two throttled operations; part of the bucket key.
const SIGN_IN_PATH: &str = "/sign-in/email";
const SIGN_UP_PATH: &str = "/sign-up/email";

impl AuthService {
    pub fn new(store: Store, settings: AuthSettings) -> Result<Self, SecretError> {
        Ok(Self {
            store,
            hasher: PasswordHasher::new(settings.hash_concurrency, settings.hash_queue_limit),
            tokens: AccessTokens::new(
                &settings.secret,
                settings.issuer,
                settings.token_ttl_secs,
                settings.token_leeway_secs,
            )?,
            policy: settings.password_policy,
            rate_limit: settings.rate_limit,
        })
    }

    /// How many password hashes this service has computed.
    pub fn password_hashes_computed(&self) -> usize {
        self.hasher.computed()
    }

    /// Counts an attempt on `subject` (an email) for `path`; over the limit it fails with
    /// RATE_LIMITED before any password is hashed.
    async fn throttle(&self, subject: &str, path: &str) -> Result<(), AuthError> {
        if !self.rate_limit.enabled {
            return Ok(());
        }
        let policy = self.rate_limit;
        let now_ms = Utc::now().timestamp_millis();
        let decision = self
            .store
            .update_rate_limit(&rate_limit_key(subject, path), &generate_id(), move |b| {
                policy.apply(b, now_ms)
            })
            .await?;
        match decision {
            RateDecision::Allowed => Ok(()),
            RateDecision::Denied { retry_after_ms } => {
                tracing::info!(path, "attempt throttled");
                Err(AuthError::RateLimited {
                    retry_after_secs: (retry_after_ms as u64).div_ceil(1000).max(1),
                })
            }
        }
    }

    /// Creates a user with an email/password credential and signs them in.
    pub async fn sign_up(
        &self,
        email: &str,
        password: String,
        name: Option<&str>,
    ) -> Result<Authenticated, AuthError> {
        let email = Email::parse(email)?;
        let password = Password::parse_new(password, &self.policy)?;
        let name = UserName::parse(name)?;
        // Admitted first, so a flood is refused before it costs a database round trip.
        let admission = self.hasher.admit()?;
        self.throttle(email.as_str(), SIGN_UP_PATH).await?;
        let password_hash = self.hasher.hash(&admission, &password).await?;
        // Better Auth keeps millisecond timestamps (JavaScript dates); so do we.
        let now = Utc::now().trunc_subsecs(3);
        let user = User {
            id: generate_id(),
            name: name.0,
            email: email.as_str().to_owned(),
            email_verified: false,
            image: None,
            created_at: now,
            updated_at: now,
        };
        let new_user = NewUser {
            user,
            account_id: generate_id(),
            password_hash,
        };
        let user = self.store.create_user_with_password(&new_user).await?;
        tracing::info!(user_id = %user.id, "user signed up");
        self.authenticated(user)
    }

    /// Checks an email and password. An unknown email and a wrong password cost the same
    /// (one hash) and fail the same way.
    pub async fn sign_in(&self, email: &str, password: String) -> Result<Authenticated, AuthError> {
        let password = Password::parse_existing(password, &self.policy)?;
        let admission = self.hasher.admit()?;
        // Invalid addresses share one bucket, so they cannot be used to hash without limit.
        let email = Email::parse(email).ok();
        let subject = email.as_ref().map_or("invalid-email", |e| e.as_str());
        self.throttle(subject, SIGN_IN_PATH).await?;
        let found = match &email {
            Some(email) => self.store.find_user_by_email(email.as_str()).await?,
            None => None,
        };
        let (user, stored_hash) = match found {
            Some(found) => (Some(found.user), found.password_hash),
            None => (None, None),
        };
        tracing::debug!("checking a password");
        let matched = self
            .hasher
            .verify(&admission, &password, stored_hash)
            .await?;
        match user {
            Some(user) if matched => {
                tracing::info!(user_id = %user.id, "user signed in");
                self.authenticated(user)
            }
            _ => {
                tracing::info!("sign-in failed");
                Err(AuthError::InvalidEmailOrPassword)
            }
        }
    }

    /// Verifies an access token without touching the database.
    pub fn verify_access_token(&self, token: &str) -> Result<VerifiedToken, TokenRejection> {
        let claims = self.tokens.verify(token.trim())?;
        Ok(VerifiedToken {
            kind: "access_token",
            expires_at: claims.expires_at(),
            claims,
        })
    }

    /// The user behind a valid access token.
    pub async fn get_user(&self, token: &str) -> Result<User, AuthError> {
        let verified = self
            .verify_access_token(token)
            .map_err(AuthError::InvalidToken)?;
        self.store
            .find_user_by_id(&verified.claims.sub)
            .await?
            .ok_or(AuthError::UserNotFound)
    }

    fn authenticated(&self, user: User) -> Result<Authenticated, AuthError> {
        let issued = self.tokens.issue(&user.id, &user.email)?;
        Ok(Authenticated {
            user,
            token: issued.token,
            expires_at: issued.expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_free_of_control_characters() {
        assert_eq!(UserName::parse(None).unwrap().0, "");
        assert_eq!(UserName::parse(Some("  Ada  ")).unwrap().0, "Ada");
        assert!(UserName::parse(Some(&"é".repeat(256))).is_ok());
        assert!(matches!(
            UserName::parse(Some(&"x".repeat(257))),
            Err(AuthError::InvalidName(_))
        ));
        assert!(matches!(
            UserName::parse(Some("Ada\u{0}")),
            Err(AuthError::InvalidName(_))
        ));
        assert!(matches!(
            UserName::parse(Some("Ada\nLovelace")),
            Err(AuthError::InvalidName(_))
        ));
    }
}
