//! The auth service: what every flow shares (the store, the password hasher, the token
//! issuer, the deployment's secrets and keys, the settings), how it is built, and the
//! pieces the flows have in common: throttling, new sessions, issuing access tokens.
//! The flows themselves are in [`super::flows`], one file each.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

use super::credentials::access_token::AccessTokens;
use super::credentials::jwks::JwksCache;
use super::credentials::jwt::ClaimRules;
use super::credentials::secret::{SecretError, Secrets};
use super::{
    AuthError, AuthSettings, AuthStore, NewSession, PasswordHasher, RateDecision, RateLimitPolicy,
    RateLimitScope, Session, User, generate_id, random_alphanumeric, rate_limit_key,
};

/// A signed-in (or signed-up) user: their new access token and their Better Auth session;
/// none after a sign-up while the email awaits verification.
#[derive(Debug)]
pub struct Authenticated {
    pub user: User,
    pub access: Option<Access>,
}

/// An access token and the session it belongs to.
#[derive(Debug)]
pub struct Access {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub session: Session,
}

/// The tool contract's operations over a store `S` (PostgreSQL or SQLite in the server;
/// anything that implements [`AuthStore`]).
pub struct AuthService<S> {
    pub(super) store: S,
    pub(super) hasher: PasswordHasher,
    pub(super) tokens: AccessTokens,
    /// The claim rules of every JWT accepted here: the access tokens issued here and the
    /// JWT plugin's tokens alike.
    pub(super) rules: ClaimRules,
    pub(super) secrets: Secrets,
    pub(super) jwks: JwksCache,
    pub(super) settings: AuthSettings,
}

impl<S: AuthStore> AuthService<S> {
    /// The service on `store`, signing with the current of `secrets`.
    pub fn new(store: S, secrets: Secrets, settings: AuthSettings) -> Result<Self, SecretError> {
        let rules = ClaimRules::new(settings.issuer.clone(), settings.token_leeway_secs);
        Ok(Self {
            store,
            hasher: PasswordHasher::new(
                settings.hash_concurrency,
                settings.hash_queue_limit,
                settings.password_format,
            ),
            tokens: AccessTokens::with_rules(
                secrets.current(),
                rules.clone(),
                settings.token_ttl_secs,
            )?,
            rules,
            secrets,
            jwks: JwksCache::default(),
            settings,
        })
    }

    /// Verifies JWT-plugin tokens with the keys of a JWKS URL (Neon Auth's, or an app's
    /// `/api/auth/jwks`) instead of the `jwks` table; fetched at most once per
    /// `refetch_interval`.
    pub fn with_jwks_url(
        mut self,
        source: std::sync::Arc<dyn super::JwksSource>,
        refetch_interval: Duration,
    ) -> Self {
        self.jwks = JwksCache::from_url(source, refetch_interval);
        self
    }

    /// The store this service works on.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// How many password hashes this service has computed.
    pub fn password_hashes_computed(&self) -> usize {
        self.hasher.computed()
    }

    /// Counts an attempt on `subject` (an email, or what `scope` says) for `path` under
    /// `policy` (when rate limiting is on); over the limit it fails with RATE_LIMITED
    /// before any password is hashed.
    pub(super) async fn throttle(
        &self,
        subject: &str,
        path: &str,
        policy: RateLimitPolicy,
        scope: RateLimitScope,
    ) -> Result<(), AuthError> {
        if !self.settings.rate_limit.enabled {
            return Ok(());
        }
        self.count_attempt(subject, path, policy, scope).await
    }

    /// Counts an attempt under `policy` whatever RATE_LIMIT_ENABLED says (for limits that
    /// guard a table rather than a password: browser sign-in's begins).
    pub(super) async fn count_attempt(
        &self,
        subject: &str,
        path: &str,
        policy: RateLimitPolicy,
        scope: RateLimitScope,
    ) -> Result<(), AuthError> {
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
                    scope,
                })
            }
        }
    }

    /// Counts an attempt of the client at `from`, if known, for `path`, in Better Auth's
    /// own bucket for it (`<ip>|<path>`).
    pub(super) async fn throttle_address(
        &self,
        from: Option<IpAddr>,
        path: &str,
    ) -> Result<(), AuthError> {
        match from {
            Some(ip) => {
                let policy = self.settings.rate_limit;
                self.throttle(&ip.to_string(), path, policy, RateLimitScope::ClientAddress)
                    .await
            }
            None => Ok(()),
        }
    }

    /// A session as Better Auth makes one for a client it knows nothing of.
    pub(super) fn new_session(&self, now: DateTime<Utc>) -> NewSession {
        let expires_in =
            chrono::Duration::from_std(self.settings.sessions.expires_in).unwrap_or_default();
        NewSession {
            id: generate_id(),
            token: random_alphanumeric(32),
            expires_at: now + expires_in,
            created_at: now,
            ip_address: String::new(),
            user_agent: String::new(),
        }
    }

    /// Opens a Better Auth session for `user` (with the call's audit row) and answers as a
    /// sign-in does: sign_in's and browser sign-in's last step.
    pub(super) async fn open_session(
        &self,
        user: User,
        audit: &super::audit::Audit,
    ) -> Result<Authenticated, AuthError> {
        let session = self
            .store
            .create_session(
                &user.id,
                &self.new_session(now_ms()),
                audit.success().as_ref(),
            )
            .await?;
        self.authenticated(user, session)
    }

    /// The answer of a sign-up or sign-in that opened `session`: a new access token for it.
    pub(super) fn authenticated(
        &self,
        user: User,
        session: Session,
    ) -> Result<Authenticated, AuthError> {
        let issued = self
            .tokens
            .issue(&user.id, &user.email, Some(&session.id))?;
        Ok(Authenticated {
            user,
            access: Some(Access {
                token: issued.token,
                expires_at: issued.expires_at,
                session,
            }),
        })
    }
}

/// Better Auth keeps millisecond timestamps (JavaScript dates); so do we.
pub(super) fn now_ms() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

impl<S: AuthStore> AuthService<S> {
    /// Whether the tables of a Better Auth plugin whose tools this server offers
    /// ("api-key", "organization") are in the database; asked once at start, to say so.
    pub async fn has_plugin_tables(&self, plugin: &str) -> Result<bool, AuthError> {
        let probe = match plugin {
            "api-key" => self.store.find_api_key("").await.map(drop),
            "organization" => self.store.find_memberships("").await.map(drop),
            "admin" => self.store.find_managed_user("").await.map(drop),
            "device-authorization" => self.store.find_device_code("").await.map(drop),
            _ => Ok(()),
        };
        match probe {
            Ok(()) => Ok(true),
            Err(super::StoreError::PluginNotEnabled(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
