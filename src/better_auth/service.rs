//! The operations of the tool contract, as a library: sign_up, sign_in, verify,
//! get_user, refresh_token and sign_out, on Better Auth's users and sessions.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

use super::credentials::{CredentialShape, JwksCache, session_token, shape_of};
use super::two_factor::{self, BackupCodes, CipherError};
use super::{
    AccessClaims, AccessTokens, AuthError, AuthStore, Email, LOCKOUT, Lockout,
    MAX_FAILED_SECOND_FACTORS, NewSession, NewUser, Password, PasswordFormat, PasswordHasher,
    PasswordPolicy, RateDecision, RateLimitPolicy, Resource, SECOND_FACTOR_RATE_LIMIT,
    SecondFactor, SecretError, Secrets, Session, Standing, StoreError, TokenRejection, User,
    generate_id, random_alphanumeric, rate_limit_key,
};

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
    /// BETTER_AUTH_SECRET, or BETTER_AUTH_SECRETS after a rotation.
    pub secrets: Secrets,
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

/// A new access token for a living session.
#[derive(Debug)]
pub struct Refreshed {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// What kind of credential verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// An access token issued here (HS256).
    AccessToken,
    /// A Better Auth session token, raw or as the signed cookie value.
    BetterAuthSession,
    /// A token of Better Auth's JWT plugin, checked against the `jwks` table.
    BetterAuthJwt,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::BetterAuthSession => "better_auth_session",
            Self::BetterAuthJwt => "better_auth_jwt",
        }
    }
}

/// A credential that verified.
#[derive(Debug)]
pub struct VerifiedToken {
    pub kind: CredentialKind,
    pub claims: AccessClaims,
    pub expires_at: DateTime<Utc>,
}

/// The tool contract's operations over a store `S` (PostgreSQL or SQLite in the server;
/// anything that implements [`AuthStore`]).
pub struct AuthService<S> {
    store: S,
    hasher: PasswordHasher,
    tokens: AccessTokens,
    secrets: Secrets,
    jwks: JwksCache,
    policy: PasswordPolicy,
    rate_limit: RateLimitPolicy,
    sessions: SessionPolicy,
    rehash_on_sign_in: bool,
    require_email_verification: bool,
}

/// Better Auth's paths for the throttled operations; part of the bucket key.
const SIGN_IN_PATH: &str = "/sign-in/email";
const SIGN_UP_PATH: &str = "/sign-up/email";
const TOTP_PATH: &str = "/two-factor/verify-totp";
const BACKUP_CODE_PATH: &str = "/two-factor/verify-backup-code";

const SECOND_FACTOR_MISSING: &str = "Two-factor authentication is on for this user: sign in \
    again with totpCode (from the authenticator app) or backupCode";
const SECOND_FACTOR_ELSEWHERE: &str = "Two-factor authentication is on for this user, with no \
    authenticator app set up: their second factor can only be used through the web app";

impl<S: AuthStore> AuthService<S> {
    pub fn new(store: S, settings: AuthSettings) -> Result<Self, SecretError> {
        Ok(Self {
            store,
            hasher: PasswordHasher::new(
                settings.hash_concurrency,
                settings.hash_queue_limit,
                settings.password_format,
            ),
            tokens: AccessTokens::new(
                settings.secrets.current(),
                settings.issuer,
                settings.token_ttl_secs,
                settings.token_leeway_secs,
            )?,
            secrets: settings.secrets,
            jwks: JwksCache::default(),
            policy: settings.password_policy,
            rate_limit: settings.rate_limit,
            sessions: settings.sessions,
            rehash_on_sign_in: settings.rehash_on_sign_in,
            require_email_verification: settings.require_email_verification,
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

    /// Counts an attempt on `subject` (an email) for `path` under `policy` (when rate
    /// limiting is on); over the limit it fails with RATE_LIMITED before any password is
    /// hashed.
    async fn throttle(
        &self,
        subject: &str,
        path: &str,
        policy: RateLimitPolicy,
    ) -> Result<(), AuthError> {
        if !self.rate_limit.enabled {
            return Ok(());
        }
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

    /// Creates a user with an email/password credential and a session, and signs them in.
    pub async fn sign_up(
        &self,
        email: &str,
        password: String,
        name: Option<&str>,
    ) -> Result<Authenticated, AuthError> {
        self.sign_up_from(None, email, password, name).await
    }

    /// [`Self::sign_up`] by a client at `from` (over HTTP): attempts are also counted per
    /// address, in Better Auth's own bucket for it (`<ip>|<path>`).
    pub async fn sign_up_from(
        &self,
        from: Option<std::net::IpAddr>,
        email: &str,
        password: String,
        name: Option<&str>,
    ) -> Result<Authenticated, AuthError> {
        let email = Email::parse(email)?;
        let password = Password::parse_new(password, &self.policy)?;
        let name = UserName::parse(name)?;
        // Admitted first, so a flood is refused before it costs a database round trip.
        let admission = self.hasher.admit()?;
        self.throttle_address(from, SIGN_UP_PATH).await?;
        self.throttle(email.as_str(), SIGN_UP_PATH, self.rate_limit)
            .await?;
        let password_hash = self.hasher.hash(&admission, &password).await?;
        let now = now_ms();
        let user = User {
            id: generate_id(),
            name: name.0,
            email: email.as_str().to_owned(),
            email_verified: false,
            image: None,
            created_at: now,
            updated_at: now,
            role: None,
        };
        let new_user = NewUser {
            user,
            account_id: generate_id(),
            password_hash,
        };
        // With verification required, the user gets no session until the email is verified.
        let session = (!self.require_email_verification).then(|| self.new_session(now));
        let created = self
            .store
            .create_user_with_password(&new_user, session.as_ref())
            .await;
        let (user, session) = match created {
            // As Better Auth while sign-ups await verification: a taken email is not
            // revealed; the answer is a new user's, with nothing stored (the password was
            // hashed all the same, so it costs what a sign-up costs).
            Err(StoreError::EmailTaken) if self.require_email_verification => {
                tracing::info!("sign-up of a taken email answered as a new one");
                let user = self.store.as_stored(new_user.user);
                return Ok(Authenticated { user, access: None });
            }
            created => created?,
        };
        tracing::info!(user_id = %user.id, "user signed up");
        match session {
            Some(session) => self.authenticated(user, session),
            None => Ok(Authenticated { user, access: None }),
        }
    }

    /// Checks an email and password (and the second factor of a user with two-factor on)
    /// and opens a session. An unknown email and a wrong password cost the same (one
    /// hash) and fail the same way.
    pub async fn sign_in(
        &self,
        email: &str,
        password: String,
        second_factor: Option<SecondFactor>,
    ) -> Result<Authenticated, AuthError> {
        self.sign_in_from(None, email, password, second_factor)
            .await
    }

    /// [`Self::sign_in`] by a client at `from` (over HTTP): attempts are also counted per
    /// address, in Better Auth's own bucket for it (`<ip>|<path>`).
    pub async fn sign_in_from(
        &self,
        from: Option<std::net::IpAddr>,
        email: &str,
        password: String,
        second_factor: Option<SecondFactor>,
    ) -> Result<Authenticated, AuthError> {
        let password = Password::parse_existing(password, &self.policy)?;
        let admission = self.hasher.admit()?;
        self.throttle_address(from, SIGN_IN_PATH).await?;
        // Invalid addresses share one bucket, so they cannot be used to hash without limit.
        let email = Email::parse(email).ok();
        let subject = email.as_ref().map_or("invalid-email", |e| e.as_str());
        self.throttle(subject, SIGN_IN_PATH, self.rate_limit)
            .await?;
        let found = match &email {
            Some(email) => self.store.find_user_by_email(email.as_str()).await?,
            None => None,
        };
        let (user, stored_hash) = match found {
            Some(found) => (Some(found.user), found.password_hash),
            None => (None, None),
        };
        tracing::debug!("checking a password");
        let check = self
            .hasher
            .verify(&admission, &password, stored_hash)
            .await?;
        let user = match user {
            Some(user) if check.matched => user,
            _ => {
                tracing::info!("sign-in failed");
                return Err(AuthError::InvalidEmailOrPassword);
            }
        };
        // Only after the password checked out: to anyone else these reveal nothing.
        let standing = self.may_have_a_session(&user).await?;
        if standing.two_factor_enabled {
            self.check_second_factor(&user, second_factor).await?;
        }
        if check.outdated && self.rehash_on_sign_in {
            self.rehash(&admission, &user, &password).await;
        }
        let session = self
            .store
            .create_session(&user.id, &self.new_session(now_ms()))
            .await?;
        tracing::info!(user_id = %user.id, "user signed in");
        self.authenticated(user, session)
    }

    /// Better Auth's rules for who may have a session, in its order: with
    /// `requireEmailVerification` an unverified user may not (EMAIL_NOT_VERIFIED), nor
    /// may a user the admin plugin banned (BANNED_USER), unless the ban has expired,
    /// which lifts it. Checked at sign-in, refresh, and get_user with a session token.
    /// Returns the user's standing (whether a sign-in needs a second factor).
    async fn may_have_a_session(&self, user: &User) -> Result<Standing, AuthError> {
        if self.require_email_verification && !user.email_verified {
            tracing::info!(user_id = %user.id, "an unverified user was refused");
            return Err(AuthError::EmailNotVerified);
        }
        let user_id = user.id.as_str();
        let standing = self.store.find_standing(user_id).await?;
        let Some(ban) = standing.ban else {
            return Ok(standing);
        };
        let now = now_ms();
        if ban.expires_at.is_some_and(|end| end < now) {
            self.store.lift_ban(user_id, now).await?;
            tracing::info!(user_id, "an expired ban was lifted");
            return Ok(Standing {
                ban: None,
                ..standing
            });
        }
        tracing::info!(user_id, "a banned user was refused");
        Err(AuthError::BannedUser)
    }

    /// Better Auth's two-factor plugin at sign-in: no session without a second factor. A
    /// TOTP code is checked against the user's `twoFactor` secret (one 30-second step
    /// either side), a backup code is used up; 3 attempts per 10 s per kind, and 10
    /// failures in a row lock the second factor for 15 minutes, as Better Auth does.
    async fn check_second_factor(
        &self,
        user: &User,
        second_factor: Option<SecondFactor>,
    ) -> Result<(), AuthError> {
        let user_id = user.id.as_str();
        let Some(second_factor) = second_factor else {
            tracing::info!(user_id, "a second factor is required");
            return Err(AuthError::TwoFactorRequired(SECOND_FACTOR_MISSING));
        };
        let path = match second_factor {
            SecondFactor::Totp(_) => TOTP_PATH,
            SecondFactor::BackupCode(_) => BACKUP_CODE_PATH,
        };
        self.throttle(&user.email, path, SECOND_FACTOR_RATE_LIMIT)
            .await?;
        let row = match self.store.find_two_factor(user_id).await? {
            Some(row) if row.verified => row,
            _ => return Err(AuthError::TwoFactorRequired(SECOND_FACTOR_ELSEWHERE)),
        };
        let now = now_ms();
        if let Some(Lockout {
            locked_until: Some(until),
            ..
        }) = row.lockout
        {
            if until > now {
                tracing::info!(user_id, "a locked second factor was refused");
                let wait = (until - now).num_milliseconds().max(0) as u64;
                return Err(AuthError::RateLimited {
                    retry_after_secs: wait.div_ceil(1000).max(1),
                });
            }
            self.store.reset_second_factor_failures(&row.id).await?;
        }
        let unreadable = |what: &str, e: CipherError| {
            AuthError::Internal(format!("the twoFactor row's {what} cannot be read: {e}"))
        };
        let matched = match &second_factor {
            SecondFactor::Totp(code) => {
                let secret = two_factor::decrypt(&self.secrets, &row.secret)
                    .map_err(|e| unreadable("secret", e))?;
                two_factor::totp_matches(&secret, code.trim(), now.timestamp())
                    .ok_or_else(|| unreadable("secret", CipherError::Malformed))?
            }
            SecondFactor::BackupCode(code) => {
                let mut codes = BackupCodes::read(&self.secrets, &row.backup_codes)
                    .map_err(|e| unreadable("backup codes", e))?;
                // Stored only if no other sign-in used a code meanwhile: each code once.
                codes.use_up(code.trim())
                    && self
                        .store
                        .replace_backup_codes(
                            &row.id,
                            &row.backup_codes,
                            &codes.store(&self.secrets),
                        )
                        .await?
            }
        };
        if !matched {
            if row.lockout.is_some() {
                let lock_until = now + chrono::Duration::from_std(LOCKOUT).unwrap_or_default();
                self.store
                    .record_second_factor_failure(&row.id, MAX_FAILED_SECOND_FACTORS, lock_until)
                    .await?;
            }
            tracing::info!(user_id, "a second factor failed");
            return Err(AuthError::InvalidTwoFactorCode);
        }
        if row.lockout.is_some_and(|l| l.failed > 0) {
            self.store.reset_second_factor_failures(&row.id).await?;
        }
        tracing::info!(user_id, "a second factor verified");
        Ok(())
    }

    /// Counts an attempt of the client at `from`, if known, for `path`.
    async fn throttle_address(
        &self,
        from: Option<std::net::IpAddr>,
        path: &str,
    ) -> Result<(), AuthError> {
        match from {
            Some(ip) => self.throttle(&ip.to_string(), path, self.rate_limit).await,
            None => Ok(()),
        }
    }

    /// Stores a fresh hash in the configured format; a failure is logged, not returned,
    /// since the user did sign in.
    async fn rehash(&self, admission: &super::Admission, user: &User, password: &Password) {
        let result = match self.hasher.hash(admission, password).await {
            Ok(hash) => self
                .store
                .update_password(&user.id, &hash, now_ms())
                .await
                .map_err(AuthError::from),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => tracing::info!(user_id = %user.id, "password rehashed"),
            Err(e) => tracing::warn!(user_id = %user.id, code = e.code(), "rehash failed"),
        }
    }

    /// Verifies an access token issued here, without touching the database.
    pub fn verify_access_token(&self, token: &str) -> Result<VerifiedToken, TokenRejection> {
        let claims = self.tokens.verify(token.trim())?;
        Ok(VerifiedToken {
            kind: CredentialKind::AccessToken,
            expires_at: claims.expires_at(),
            claims,
        })
    }

    /// Verifies any credential of the deployment: an access token (stateless), a Better
    /// Auth session token (raw or signed; looked up), or a JWT-plugin token (key from
    /// `jwks`). A credential that does not verify is `AuthError::InvalidToken`.
    pub async fn verify(&self, credential: &str) -> Result<VerifiedToken, AuthError> {
        let credential = credential.trim();
        match shape_of(credential) {
            CredentialShape::AccessToken => self
                .verify_access_token(credential)
                .map_err(AuthError::InvalidToken),
            CredentialShape::BetterAuthJwt(alg) => {
                let claims = self
                    .jwks
                    .verify(&self.store, &self.tokens, credential, alg)
                    .await?;
                Ok(VerifiedToken {
                    kind: CredentialKind::BetterAuthJwt,
                    expires_at: claims.expires_at(),
                    claims,
                })
            }
            CredentialShape::Session => {
                let (session, user) = self.living_session(credential).await?;
                Ok(VerifiedToken {
                    kind: CredentialKind::BetterAuthSession,
                    expires_at: session.expires_at,
                    claims: session_claims(&session, &user),
                })
            }
        }
    }

    /// Who an HTTP caller is, from its bearer token: an access token issued here (HS256,
    /// checked statelessly), or a Better Auth JWT (JWT plugin or OAuth provider; key from
    /// `jwks` or the JWKS URL) whose `aud` names `resource`, this server's public URL
    /// (RFC 8707), and whose `iss` is BETTER_AUTH_URL or the resource's authorization
    /// server. Session tokens are not bearer tokens here: they are the web app's
    /// long-lived cookies.
    pub async fn authorize(
        &self,
        bearer: &str,
        resource: &Resource,
    ) -> Result<AccessClaims, AuthError> {
        let bearer = bearer.trim();
        match shape_of(bearer) {
            CredentialShape::AccessToken => self
                .verify_access_token(bearer)
                .map(|v| v.claims)
                .map_err(AuthError::InvalidToken),
            CredentialShape::BetterAuthJwt(alg) => {
                self.jwks
                    .verify_for(&self.store, &self.tokens, bearer, alg, Some(resource))
                    .await
            }
            CredentialShape::Session => Err(AuthError::InvalidToken(TokenRejection::Malformed)),
        }
    }

    /// The user an authorized HTTP caller's token names ([`Self::authorize`]): for a token
    /// that names a session (`sid`), only while that session lives, as get_user has it.
    pub async fn caller_user(&self, claims: &AccessClaims) -> Result<User, AuthError> {
        match claims.sid.as_deref() {
            Some(sid) => {
                let (user, session) = self
                    .store
                    .find_user_with_session(&claims.sub, sid)
                    .await?
                    .ok_or(AuthError::UserNotFound)?;
                match session {
                    Some(s) if s.expires_at > Utc::now() => Ok(user),
                    _ => Err(AuthError::InvalidToken(TokenRejection::SessionNotFound)),
                }
            }
            None => self
                .store
                .find_user_by_id(&claims.sub)
                .await?
                .ok_or(AuthError::UserNotFound),
        }
    }

    /// The user behind any credential. An access token of a session that was signed out
    /// (or expired) no longer gets its user.
    pub async fn get_user(&self, credential: &str) -> Result<User, AuthError> {
        let credential = credential.trim();
        if let CredentialShape::Session = shape_of(credential) {
            let user = self.living_session(credential).await?.1;
            self.may_have_a_session(&user).await?;
            return Ok(user);
        }
        let verified = self.verify(credential).await?;
        match verified.kind {
            CredentialKind::AccessToken => self.caller_user(&verified.claims).await,
            _ => self
                .store
                .find_user_by_id(&verified.claims.sub)
                .await?
                .ok_or(AuthError::UserNotFound),
        }
    }

    /// A new access token for a living session; the session is extended as Better
    /// Auth's `updateAge` does (once a day at most, to now + `expiresIn`).
    pub async fn refresh_token(&self, session_credential: &str) -> Result<Refreshed, AuthError> {
        let (session, user) = self.living_session(session_credential.trim()).await?;
        // A banned (or, when it is required, unverified) user's session is not extended,
        // nor does it get new access tokens.
        self.may_have_a_session(&user).await?;
        let now = now_ms();
        let expires_in = chrono::Duration::from_std(self.sessions.expires_in).unwrap_or_default();
        let update_age = chrono::Duration::from_std(self.sessions.update_age).unwrap_or_default();
        if session.expires_at - expires_in + update_age <= now {
            self.store
                .extend_session(&session.id, now + expires_in, now)
                .await?;
        }
        let issued = self
            .tokens
            .issue(&user.id, &user.email, Some(&session.id))?;
        Ok(Refreshed {
            token: issued.token,
            expires_at: issued.expires_at,
        })
    }

    /// Ends a session: its row is deleted, so refresh_token and get_user with it (or with
    /// an access token issued for it) fail from now on. A session already gone is signed
    /// out too, as Better Auth's signOut answers success for it.
    pub async fn sign_out(&self, session_credential: &str) -> Result<(), AuthError> {
        let token = self.session_token_of(session_credential.trim())?;
        if self.store.delete_session(&token).await? {
            tracing::info!("session signed out");
        } else {
            tracing::debug!("sign_out of a session that is already gone");
        }
        Ok(())
    }

    /// The session token a session credential (raw, or the signed cookie value) holds;
    /// an access token there is a mistake worth naming.
    fn session_token_of(&self, credential: &str) -> Result<String, AuthError> {
        // (shape_of sorts an oversized credential as an access token, to refuse it as too
        // large: here session_token does.)
        let jwt = credential.len() <= super::token::MAX_TOKEN_BYTES
            && !matches!(shape_of(credential), CredentialShape::Session);
        if jwt {
            return Err(AuthError::NotASessionToken);
        }
        session_token(credential, self.secrets.current()).map_err(AuthError::InvalidToken)
    }

    /// The session a session credential names, if it exists and has not expired.
    async fn living_session(&self, credential: &str) -> Result<(Session, User), AuthError> {
        let token = self.session_token_of(credential)?;
        let (session, user) = self
            .store
            .find_session(&token)
            .await?
            .ok_or(AuthError::InvalidToken(TokenRejection::SessionNotFound))?;
        if session.expires_at <= Utc::now() {
            return Err(AuthError::InvalidToken(TokenRejection::Expired));
        }
        Ok((session, user))
    }

    /// A session as Better Auth makes one for a client it knows nothing of.
    fn new_session(&self, now: DateTime<Utc>) -> NewSession {
        let expires_in = chrono::Duration::from_std(self.sessions.expires_in).unwrap_or_default();
        NewSession {
            id: generate_id(),
            token: random_alphanumeric(32),
            expires_at: now + expires_in,
            created_at: now,
            ip_address: String::new(),
            user_agent: String::new(),
        }
    }

    fn authenticated(&self, user: User, session: Session) -> Result<Authenticated, AuthError> {
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
fn now_ms() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// Claims describing a Better Auth session, shaped like an access token's.
fn session_claims(session: &Session, user: &User) -> AccessClaims {
    AccessClaims {
        sub: user.id.clone(),
        email: Some(user.email.clone()),
        iat: session.created_at.timestamp(),
        exp: session.expires_at.timestamp(),
        nbf: None,
        iss: None,
        aud: None,
        sid: Some(session.id.clone()),
        scope: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::better_auth::memory::MemoryStore;

    const SECRET: &str = "unit-test-secret-0123456789abcdef-0123456789";

    fn service(args: &[&str]) -> AuthService<MemoryStore> {
        let mut all = vec!["--hash-concurrency=2"];
        all.extend_from_slice(args);
        let config = crate::config::Config::from_args(all).unwrap();
        AuthService::new(MemoryStore::default(), config.auth_settings(SECRET.into())).unwrap()
    }

    fn code<T>(r: Result<T, AuthError>) -> &'static str {
        match r {
            Ok(_) => "OK",
            Err(e) => e.code(),
        }
    }

    #[tokio::test]
    async fn a_refused_sign_in_opens_no_session_and_an_unknown_email_fails_the_same_way() {
        let auth = service(&[]);
        let up = auth
            .sign_up(" Ada@Example.com ", "password123".into(), Some("Ada"))
            .await
            .unwrap();
        assert_eq!(up.user.email, "ada@example.com");
        assert_eq!(auth.store.session_count(), 1);
        let wrong = auth
            .sign_in("ada@example.com", "password124".into(), None)
            .await;
        let unknown = auth
            .sign_in("bob@example.com", "password123".into(), None)
            .await;
        assert_eq!(code(wrong), "INVALID_EMAIL_OR_PASSWORD");
        assert_eq!(code(unknown), "INVALID_EMAIL_OR_PASSWORD");
        assert_eq!(
            auth.store.session_count(),
            1,
            "no session for a refused sign-in"
        );
        assert_eq!(
            auth.password_hashes_computed(),
            3,
            "one hash each, known or not"
        );
        let inn = auth
            .sign_in("ADA@example.com", "password123".into(), None)
            .await
            .unwrap();
        assert_eq!(inn.user, up.user);
        assert_eq!(auth.store.session_count(), 2);
        let again = auth
            .sign_up("ada@example.com", "password123".into(), None)
            .await;
        assert_eq!(code(again), "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    }

    #[tokio::test]
    async fn signing_out_ends_the_session_for_get_user_and_refresh_but_not_for_verify() {
        let auth = service(&[]);
        let up = auth
            .sign_up("carol@example.com", "password123".into(), None)
            .await
            .unwrap();
        let access = up.access.as_ref().unwrap();
        assert_eq!(auth.get_user(&access.token).await.unwrap(), up.user);
        assert_eq!(auth.get_user(&access.session.token).await.unwrap(), up.user);
        let refreshed = auth.refresh_token(&access.session.token).await.unwrap();
        assert_eq!(
            auth.verify(&refreshed.token)
                .await
                .unwrap()
                .claims
                .sid
                .as_deref(),
            Some(access.session.id.as_str())
        );
        auth.sign_out(&access.session.token).await.unwrap();
        assert_eq!(code(auth.get_user(&access.token).await), "INVALID_TOKEN");
        assert_eq!(
            code(auth.refresh_token(&access.session.token).await),
            "INVALID_TOKEN"
        );
        // Signing out again succeeds, as Better Auth's signOut does.
        assert_eq!(code(auth.sign_out(&access.session.token).await), "OK");
        // Access tokens are checked statelessly: valid until they expire.
        assert!(auth.verify(&access.token).await.is_ok());
        let other = auth
            .sign_up("dan@example.com", "password123".into(), None)
            .await
            .unwrap();
        auth.store.delete_user(&other.user.id);
        let token = &other.access.as_ref().unwrap().token;
        assert_eq!(code(auth.get_user(token).await), "USER_NOT_FOUND");
    }

    #[tokio::test]
    async fn a_banned_user_signs_in_with_nothing_but_a_wrong_password_error_until_the_ban_expires()
    {
        let auth = service(&[]);
        let up = auth
            .sign_up("gina@example.com", "password123".into(), None)
            .await
            .unwrap();
        let access = up.access.as_ref().unwrap();
        auth.store.ban(&up.user.id, None);
        let sessions = auth.store.session_count();
        let wrong = auth
            .sign_in("gina@example.com", "password124".into(), None)
            .await;
        assert_eq!(
            code(wrong),
            "INVALID_EMAIL_OR_PASSWORD",
            "a ban shows only to the password's holder"
        );
        let right = auth
            .sign_in("gina@example.com", "password123".into(), None)
            .await;
        assert_eq!(code(right), "BANNED_USER");
        assert_eq!(
            auth.store.session_count(),
            sessions,
            "no session for a banned user"
        );
        assert_eq!(
            code(auth.refresh_token(&access.session.token).await),
            "BANNED_USER"
        );
        assert_eq!(
            code(auth.get_user(&access.session.token).await),
            "BANNED_USER"
        );
        // An expired ban is lifted by the next sign-in, which succeeds.
        auth.store
            .ban(&up.user.id, Some(Utc::now() - chrono::Duration::minutes(1)));
        auth.sign_in("gina@example.com", "password123".into(), None)
            .await
            .unwrap();
        assert!(!auth.store.is_banned(&up.user.id));
    }

    #[tokio::test]
    async fn with_verification_required_an_unverified_user_gets_no_session_anywhere() {
        let auth = service(&["--require-email-verification"]);
        let up = auth
            .sign_up("hal@example.com", "password123".into(), None)
            .await
            .unwrap();
        assert!(up.access.is_none(), "sign_up opens no session");
        assert_eq!(auth.store.session_count(), 0);
        let wrong = auth
            .sign_in("hal@example.com", "password124".into(), None)
            .await;
        assert_eq!(code(wrong), "INVALID_EMAIL_OR_PASSWORD");
        let right = auth
            .sign_in("hal@example.com", "password123".into(), None)
            .await;
        assert_eq!(code(right), "EMAIL_NOT_VERIFIED");
        assert_eq!(auth.store.session_count(), 0);
        // A taken email is not revealed: the answer is a new user's, and nothing is stored.
        let hashed = auth.password_hashes_computed();
        let again = auth
            .sign_up("hal@example.com", "another-password".into(), Some("Hal"))
            .await
            .unwrap();
        assert!(again.access.is_none());
        assert_ne!(again.user.id, up.user.id);
        assert_eq!(
            (again.user.email.as_str(), again.user.name.as_str()),
            ("hal@example.com", "Hal")
        );
        assert_eq!(
            auth.password_hashes_computed(),
            hashed + 1,
            "it costs a hash, as a sign-up"
        );
        assert_eq!(auth.store.user_count(), 1);
    }

    /// A `twoFactor` row as Better Auth's enable + verify-totp leave it: the TOTP secret
    /// and the backup codes encrypted under the secret.
    fn two_factor_row(totp_secret: &str, backup_codes: &[&str]) -> super::super::TwoFactorRow {
        let secret = Secrets::single(SECRET.into());
        super::super::TwoFactorRow {
            id: generate_id(),
            secret: two_factor::encrypt(&secret, totp_secret),
            backup_codes: two_factor::encrypt(
                &secret,
                &serde_json::to_string(backup_codes).unwrap(),
            ),
            verified: true,
            lockout: Some(Lockout::default()),
        }
    }

    fn totp_now(secret: &str) -> String {
        two_factor::totp(secret, Utc::now().timestamp()).unwrap()
    }

    #[tokio::test]
    async fn a_two_factor_user_signs_in_with_a_totp_or_a_backup_code_used_once() {
        let auth = service(&["--rate-limit-enabled=false"]);
        let up = auth
            .sign_up("ivy@example.com", "password123".into(), None)
            .await
            .unwrap();
        let totp_secret = "Qm9uZm9ydC1zZWNyZXQtMzItY2hhcnM";
        auth.store.set_two_factor(
            &up.user.id,
            two_factor_row(totp_secret, &["aaaaa-11111", "bbbbb-22222"]),
        );
        let sessions = auth.store.session_count();
        let sign_in = |second: Option<SecondFactor>| {
            auth.sign_in("ivy@example.com", "password123".into(), second)
        };
        let wrong = auth
            .sign_in("ivy@example.com", "password124".into(), None)
            .await;
        assert_eq!(code(wrong), "INVALID_EMAIL_OR_PASSWORD");
        assert_eq!(code(sign_in(None).await), "TWO_FACTOR_REQUIRED");
        let bad = SecondFactor::Totp("000000".into());
        assert_eq!(code(sign_in(Some(bad)).await), "INVALID_TWO_FACTOR_CODE");
        let used = SecondFactor::BackupCode("zzzzz-99999".into());
        assert_eq!(code(sign_in(Some(used)).await), "INVALID_TWO_FACTOR_CODE");
        assert_eq!(auth.store.session_count(), sessions, "no session yet");
        let failed = auth.store.two_factor(&up.user.id).unwrap().lockout.unwrap();
        assert_eq!(failed.failed, 2, "failures are counted");
        let totp = SecondFactor::Totp(totp_now(totp_secret));
        sign_in(Some(totp)).await.unwrap();
        let row = auth.store.two_factor(&up.user.id).unwrap();
        assert_eq!(row.lockout.unwrap().failed, 0, "and reset by a success");
        let backup = || SecondFactor::BackupCode("aaaaa-11111".into());
        sign_in(Some(backup())).await.unwrap();
        assert_eq!(
            code(sign_in(Some(backup())).await),
            "INVALID_TWO_FACTOR_CODE"
        );
        assert_eq!(auth.store.session_count(), sessions + 2);
        let left = auth.store.two_factor(&up.user.id).unwrap().backup_codes;
        let mut left = BackupCodes::read(&Secrets::single(SECRET.into()), &left).unwrap();
        assert!(left.use_up("bbbbb-22222") && !left.use_up("aaaaa-11111"));
    }

    #[tokio::test]
    async fn second_factors_pass_three_per_ten_seconds_and_ten_failures_lock_them_for_a_while() {
        let auth = service(&["--rate-limit-max=100"]);
        let up = auth
            .sign_up("jo@example.com", "password123".into(), None)
            .await
            .unwrap();
        let user_id = up.user.id.as_str();
        auth.store.set_two_factor(
            user_id,
            two_factor_row("Sm9Cb25mb3J0LXNlY3JldC0zMi1jaGFy", &["ccccc-33333"]),
        );
        let attempt = |second: SecondFactor| {
            auth.sign_in("jo@example.com", "password123".into(), Some(second))
        };
        let totp = || SecondFactor::Totp("000000".into());
        let backup = |c: &str| SecondFactor::BackupCode(c.into());
        let mut codes = Vec::new();
        for _ in 0..4 {
            codes.push(code(attempt(totp()).await));
        }
        assert_eq!(
            codes,
            [
                "INVALID_TWO_FACTOR_CODE",
                "INVALID_TWO_FACTOR_CODE",
                "INVALID_TWO_FACTOR_CODE",
                "RATE_LIMITED"
            ],
            "Better Auth's 3 per 10 s on each kind of second factor"
        );
        let set_lockout = |failed, locked_until| {
            let mut row = auth.store.two_factor(user_id).unwrap();
            row.lockout = Some(Lockout {
                failed,
                locked_until,
            });
            auth.store.set_two_factor(user_id, row);
        };
        // The tenth failure in a row locks the second factor for 15 minutes...
        set_lockout(9, None);
        assert_eq!(
            code(attempt(backup("wrong-code")).await),
            "INVALID_TWO_FACTOR_CODE"
        );
        let lockout = auth.store.two_factor(user_id).unwrap().lockout.unwrap();
        assert_eq!(lockout.failed, 10);
        let until = lockout.locked_until.expect("locked");
        assert!(until > Utc::now() + chrono::Duration::minutes(14));
        // ...during which even the right code is refused, saying when to retry...
        let locked = attempt(backup("ccccc-33333")).await.unwrap_err();
        assert_eq!(locked.code(), "RATE_LIMITED");
        assert!(locked.to_string().contains("retry after 9"), "{locked}");
        // ...and once it has passed, the right code signs in and clears the count.
        set_lockout(10, Some(Utc::now() - chrono::Duration::seconds(1)));
        attempt(backup("ccccc-33333")).await.unwrap();
        let lockout = auth.store.two_factor(user_id).unwrap().lockout.unwrap();
        assert_eq!(lockout, Lockout::default());
    }

    #[tokio::test]
    async fn past_the_rate_limit_no_password_is_hashed() {
        let auth = service(&["--rate-limit-max=2"]);
        for _ in 0..2 {
            let r = auth
                .sign_in("eve@example.com", "password123".into(), None)
                .await;
            assert_eq!(code(r), "INVALID_EMAIL_OR_PASSWORD");
        }
        let hashed = auth.password_hashes_computed();
        let r = auth
            .sign_in("eve@example.com", "password123".into(), None)
            .await;
        assert_eq!(code(r), "RATE_LIMITED");
        assert_eq!(auth.password_hashes_computed(), hashed);
        // Another email has a bucket of its own.
        let r = auth
            .sign_in("frank@example.com", "password123".into(), None)
            .await;
        assert_eq!(code(r), "INVALID_EMAIL_OR_PASSWORD");
    }

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
