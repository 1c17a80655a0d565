//! Sign-up with an email and a password, as Better Auth's `/sign-up/email`: a user, its
//! credential account and (unless the email must be verified first) a session.

use std::net::IpAddr;

use super::super::audit::Audit;
use super::super::service::now_ms;
use super::super::{
    AuthError, AuthService, AuthStore, Authenticated, Email, NewUser, Password, RateLimitScope,
    StoreError, User, UserName, generate_id,
};

/// Better Auth's path for sign-ups; part of the rate-limit bucket key.
const SIGN_UP_PATH: &str = "/sign-up/email";

/// A sign-up as a client asks for it. (No `Debug`: it holds the password.)
pub struct SignUp {
    pub email: String,
    pub password: String,
    pub name: Option<String>,
    /// The client's address, when known (over HTTP): attempts are also counted per address.
    pub from: Option<IpAddr>,
}

impl SignUp {
    pub fn new(email: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            password: password.into(),
            name: None,
            from: None,
        }
    }

    pub fn with_name(mut self, name: Option<&str>) -> Self {
        self.name = name.map(str::to_owned);
        self
    }
}

impl<S: AuthStore> AuthService<S> {
    /// Creates a user with an email/password credential and a session, and signs them in.
    pub async fn sign_up(&self, request: SignUp) -> Result<Authenticated, AuthError> {
        let mut audit = self.audit("sign_up", request.from);
        let email = Email::parse(&request.email);
        // An email that does not parse may be anything (a password in the wrong field).
        match &email {
            Ok(email) => audit.text("email", email.as_str()),
            Err(_) => audit.detail("emailValid", false),
        };
        let result = self.sign_up_audited(email, request, &audit).await;
        self.audited(&audit, result).await
    }

    async fn sign_up_audited(
        &self,
        email: Result<Email, AuthError>,
        request: SignUp,
        audit: &Audit,
    ) -> Result<Authenticated, AuthError> {
        let email = email?;
        let password = Password::parse_new(request.password, &self.settings.password_policy)?;
        let name = UserName::parse(request.name.as_deref())?;
        // Admitted first, so a flood is refused before it costs a database round trip.
        let admission = self.hasher.admit()?;
        self.throttle_address(request.from, SIGN_UP_PATH).await?;
        self.throttle(
            email.as_str(),
            SIGN_UP_PATH,
            self.settings.rate_limit,
            RateLimitScope::Email,
        )
        .await?;
        let password_hash = self.hasher.hash(&admission, &password).await?;
        let now = now_ms();
        let user = User {
            id: generate_id(),
            name: name.into_string(),
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
        let verification = self.settings.require_email_verification;
        let session = (!verification).then(|| self.new_session(now));
        // The new user acts and is acted on (the store writes the id as stored).
        let entry = audit.success().map(|mut e| {
            e.actor_id = Some(new_user.user.id.clone());
            e.target_user_id = Some(new_user.user.id.clone());
            e
        });
        let created = self
            .store
            .create_user_with_password(&new_user, session.as_ref(), entry.as_ref())
            .await;
        let (user, session) = match created {
            // As Better Auth while sign-ups await verification: a taken email is not
            // revealed; the answer is a new user's, with nothing stored (the password was
            // hashed all the same, so it costs what a sign-up costs).
            Err(StoreError::EmailTaken) if verification => {
                tracing::info!("sign-up of a taken email answered as a new one");
                // The row says what happened, which the answer does not.
                let mut taken = self.audit("sign_up", request.from);
                taken.text("email", email.as_str());
                let refused: Result<(), _> = Err(AuthError::from(StoreError::EmailTaken));
                let _ = self.audited(&taken, refused).await;
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
}
