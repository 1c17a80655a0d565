//! A Better Auth session's life after sign-in: who may have one (verification, bans),
//! the session a session credential names, refresh_token (with `updateAge`), sign_out.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::super::AuthService;
use super::super::audit::Audit;
use super::super::credentials::jwt::MAX_TOKEN_BYTES;
use super::super::credentials::session_token::session_token;
use super::super::credentials::{CredentialShape, shape_of};
use super::super::service::now_ms;
use super::super::{AuthError, AuthStore, Session, Standing, TokenRejection, User};

/// A new access token for a living session.
#[derive(Debug)]
pub struct Refreshed {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl<S: AuthStore> AuthService<S> {
    /// A new access token for a living session; the session is extended as Better
    /// Auth's `updateAge` does (once a day at most, to now + `expiresIn`).
    pub async fn refresh_token(
        &self,
        session_credential: &str,
        from: Option<IpAddr>,
    ) -> Result<Refreshed, AuthError> {
        let mut audit = self.audit("refresh_token", from);
        let result = self.refresh(session_credential, &mut audit).await;
        self.audited(&audit, result).await
    }

    async fn refresh(
        &self,
        session_credential: &str,
        audit: &mut Audit,
    ) -> Result<Refreshed, AuthError> {
        let (session, user) = self.living_session(session_credential.trim()).await?;
        audit
            .user(&user.id)
            .detail("sessionId", session.id.as_str());
        // A banned (or, when it is required, unverified) user's session is not extended,
        // nor does it get new access tokens.
        self.may_have_a_session(&user).await?;
        let now = now_ms();
        let sessions = self.settings.sessions;
        let expires_in = chrono::Duration::from_std(sessions.expires_in).unwrap_or_default();
        let update_age = chrono::Duration::from_std(sessions.update_age).unwrap_or_default();
        if session.expires_at - expires_in + update_age <= now {
            self.store
                .extend_session(&session.id, now + expires_in, now, audit.success().as_ref())
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
    pub async fn sign_out(
        &self,
        session_credential: &str,
        from: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        let audit = self.audit("sign_out", from);
        let result = async {
            let token = self.session_token_of(session_credential.trim())?;
            if self
                .store
                .delete_session(&token, audit.success().as_ref())
                .await?
            {
                tracing::info!("session signed out");
            } else {
                tracing::debug!("sign_out of a session that is already gone");
            }
            Ok(())
        }
        .await;
        self.audited(&audit, result).await
    }

    /// Better Auth's rules for who may have a session, in its order: with
    /// `requireEmailVerification` an unverified user may not (EMAIL_NOT_VERIFIED), nor
    /// may a user the admin plugin banned (BANNED_USER), unless the ban has expired,
    /// which lifts it. Checked at sign-in, refresh, and get_user with a session token.
    /// Returns the user's standing (whether a sign-in needs a second factor).
    pub(super) async fn may_have_a_session(&self, user: &User) -> Result<Standing, AuthError> {
        if self.settings.require_email_verification && !user.email_verified {
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

    /// The session a session credential names, if it exists and has not expired.
    pub(super) async fn living_session(
        &self,
        credential: &str,
    ) -> Result<(Session, User), AuthError> {
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

    /// The session token a session credential (raw, or the signed cookie value) holds;
    /// an access token or an API key there is a mistake worth naming.
    fn session_token_of(&self, credential: &str) -> Result<String, AuthError> {
        // (shape_of sorts an oversized credential as an access token, to refuse it as too
        // large: here session_token does.)
        let jwt = credential.len() <= MAX_TOKEN_BYTES
            && matches!(
                shape_of(credential),
                CredentialShape::AccessToken | CredentialShape::BetterAuthJwt(_)
            );
        if jwt {
            return Err(AuthError::NotASessionToken);
        }
        // Better Auth's session tokens have 32 characters; this has a key's shape.
        if let CredentialShape::ApiKey = shape_of(credential) {
            return Err(AuthError::ApiKeyNotASessionToken);
        }
        session_token(credential, self.secrets.current()).map_err(AuthError::InvalidToken)
    }
}
