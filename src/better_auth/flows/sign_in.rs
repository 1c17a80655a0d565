//! Sign-in with an email and a password, as Better Auth's `/sign-in/email`: the password
//! checked at a constant cost, who may have a session, the second factor, then a session.

use std::net::IpAddr;

use super::super::audit::Audit;
use super::super::service::now_ms;
use super::super::{
    Admission, AuthError, AuthService, AuthStore, Authenticated, Email, Password, RateLimitScope,
    SecondFactor, User,
};

/// Better Auth's path for sign-ins; part of the rate-limit bucket key.
const SIGN_IN_PATH: &str = "/sign-in/email";

/// A sign-in as a client asks for it. (No `Debug`: it holds the password and the code.)
pub struct SignIn {
    pub email: String,
    pub password: String,
    /// The TOTP or backup code of a user with two-factor on.
    pub second_factor: Option<SecondFactor>,
    /// The client's address, when known (over HTTP): attempts are also counted per address.
    pub from: Option<IpAddr>,
}

impl SignIn {
    pub fn new(email: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            password: password.into(),
            second_factor: None,
            from: None,
        }
    }

    pub fn with_second_factor(mut self, second_factor: Option<SecondFactor>) -> Self {
        self.second_factor = second_factor;
        self
    }
}

impl<S: AuthStore> AuthService<S> {
    /// Checks an email and password (and the second factor of a user with two-factor on)
    /// and opens a session. An unknown email and a wrong password cost the same (one
    /// hash) and fail the same way.
    pub async fn sign_in(&self, request: SignIn) -> Result<Authenticated, AuthError> {
        let mut audit = self.audit("sign_in", request.from);
        // An email that does not parse may be anything (a password in the wrong field).
        match Email::parse(&request.email) {
            Ok(email) => audit.text("email", email.as_str()),
            Err(_) => audit.detail("emailValid", false),
        };
        if let Some(second) = &request.second_factor {
            audit.detail("secondFactor", second.kind());
        }
        let result = self.sign_in_audited(request, &mut audit).await;
        self.audited(&audit, result).await
    }

    async fn sign_in_audited(
        &self,
        request: SignIn,
        audit: &mut Audit,
    ) -> Result<Authenticated, AuthError> {
        let password = Password::parse_existing(request.password, &self.settings.password_policy)?;
        let admission = self.hasher.admit()?;
        self.throttle_address(request.from, SIGN_IN_PATH).await?;
        // Invalid addresses share one bucket, so they cannot be used to hash without limit.
        let email = Email::parse(&request.email).ok();
        let subject = email.as_ref().map_or("invalid-email", |e| e.as_str());
        self.throttle(
            subject,
            SIGN_IN_PATH,
            self.settings.rate_limit,
            RateLimitScope::Email,
        )
        .await?;
        let found = match &email {
            Some(email) => self.store.find_user_by_email(email.as_str()).await?,
            None => None,
        };
        let (user, stored_hash) = match found {
            Some(found) => (Some(found.user), found.password_hash),
            None => (None, None),
        };
        // A failed attempt on a known user is theirs to see; the actor is known only once
        // the password checked out.
        if let Some(user) = &user {
            audit.target(&user.id);
        }
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
        audit.user(&user.id);
        let standing = self.may_have_a_session(&user).await?;
        if standing.two_factor_enabled {
            self.check_second_factor(&user, request.second_factor)
                .await?;
        }
        if check.outdated && self.settings.rehash_on_sign_in {
            self.rehash(&admission, &user, &password).await;
        }
        let signed_in = self.open_session(user, audit).await?;
        tracing::info!(user_id = %signed_in.user.id, "user signed in");
        Ok(signed_in)
    }

    /// Stores a fresh hash in the configured format; a failure is logged, not returned,
    /// since the user did sign in.
    async fn rehash(&self, admission: &Admission, user: &User, password: &Password) {
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
            Err(e) => {
                let detail = e.log_detail().unwrap_or_default();
                tracing::warn!(user_id = %user.id, code = e.code(), %detail, "rehash failed")
            }
        }
    }
}
