//! Who a credential names: verify_token (any credential of the deployment, sorted by its
//! shape into its kind), get_user, and the authorization of an HTTP caller's bearer token
//! for this server as a protected resource.

use chrono::Utc;

use super::super::credentials::jwt::{AccessClaims, Resource};
use super::super::credentials::{CredentialKind, CredentialShape, VerifiedToken, shape_of};
use super::super::{AuthError, AuthService, AuthStore, Session, TokenRejection, User};

impl<S: AuthStore> AuthService<S> {
    /// Verifies an access token issued here, without touching the database.
    pub fn verify_access_token(&self, token: &str) -> Result<VerifiedToken, TokenRejection> {
        let claims = self.tokens.verify(token.trim())?;
        Ok(VerifiedToken {
            kind: CredentialKind::AccessToken,
            expires_at: Some(claims.expires_at()),
            claims,
            api_key: None,
        })
    }

    /// Verifies any credential of the deployment: an access token (stateless), a Better
    /// Auth session token (raw or signed; looked up), a JWT-plugin token (key from `jwks`
    /// or the JWKS URL), or an API key (one use of it, as the plugin counts uses). A
    /// credential that does not verify is `AuthError::InvalidToken`.
    pub async fn verify(&self, credential: &str) -> Result<VerifiedToken, AuthError> {
        let credential = credential.trim();
        match shape_of(credential) {
            CredentialShape::AccessToken => self
                .verify_access_token(credential)
                .map_err(AuthError::InvalidToken),
            CredentialShape::BetterAuthJwt(alg) => {
                let claims = self
                    .jwks
                    .verify(&self.store, &self.rules, credential, alg, None)
                    .await?;
                Ok(VerifiedToken {
                    kind: CredentialKind::BetterAuthJwt,
                    expires_at: Some(claims.expires_at()),
                    claims,
                    api_key: None,
                })
            }
            CredentialShape::ApiKey => match self.verify_api_key(credential, false).await {
                // No api-key plugin here, and no session token has this shape.
                Err(AuthError::PluginNotEnabled(_)) => {
                    Err(AuthError::InvalidToken(TokenRejection::SessionNotFound))
                }
                verified => verified.map(|(verified, _)| verified),
            },
            CredentialShape::Session => self.verify_session(credential).await,
        }
    }

    /// A Better Auth session token (raw or signed) as a credential.
    async fn verify_session(&self, credential: &str) -> Result<VerifiedToken, AuthError> {
        let (session, user) = self.living_session(credential).await?;
        Ok(VerifiedToken {
            kind: CredentialKind::BetterAuthSession,
            expires_at: Some(session.expires_at),
            claims: session_claims(&session, &user),
            api_key: None,
        })
    }

    /// Who an HTTP caller is, from its bearer token: an access token issued here (HS256,
    /// checked statelessly), or a Better Auth JWT (JWT plugin or OAuth provider; key from
    /// `jwks` or the JWKS URL) whose `aud` names `resource`, this server's public URL
    /// (RFC 8707), and whose `iss` is BETTER_AUTH_URL or the resource's authorization
    /// server; or a Better Auth API key (one use of it). Session tokens are not bearer
    /// tokens here: they are the web app's long-lived cookies.
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
                    .verify(&self.store, &self.rules, bearer, alg, Some(resource))
                    .await
            }
            CredentialShape::ApiKey => match self.verify_api_key(bearer, true).await {
                Err(AuthError::PluginNotEnabled(_)) => {
                    Err(AuthError::InvalidToken(TokenRejection::Malformed))
                }
                // As the plugin's session hook: after the use, a key whose reference is
                // no user (a deleted user's key; an organization's) authorizes nobody. The
                // store says so from the use's own statement, where it can.
                Ok((verified, owner_is_user)) => {
                    let is_user = match owner_is_user {
                        Some(known) => known,
                        None => self
                            .store
                            .find_user_by_id(&verified.claims.sub)
                            .await?
                            .is_some(),
                    };
                    if is_user {
                        Ok(verified.claims)
                    } else {
                        Err(AuthError::InvalidToken(TokenRejection::InvalidApiKey))
                    }
                }
                Err(e) => Err(e),
            },
            CredentialShape::Session => Err(AuthError::InvalidToken(TokenRejection::Malformed)),
        }
    }

    /// The user an authorized HTTP caller's token names ([`Self::authorize`]): for a token
    /// that names a session (`sid`), only while that session lives, as get_user has it.
    pub async fn caller_user(&self, claims: &AccessClaims) -> Result<User, AuthError> {
        let found = match claims.sid.as_deref() {
            Some(sid) => self.store.find_user_with_session(&claims.sub, sid).await?,
            None => self
                .store
                .find_user_by_id(&claims.sub)
                .await?
                .map(|user| (user, None)),
        };
        caller_of(claims, found)
    }

    /// A session credential's living session and its user, who may have one (not banned,
    /// verified where the deployment requires it): get_user of a session.
    pub(super) async fn signed_in_session(
        &self,
        credential: &str,
    ) -> Result<(Session, User), AuthError> {
        let (session, user) = self.living_session(credential).await?;
        self.may_have_a_session(&user).await?;
        Ok((session, user))
    }

    /// The user behind any credential. An access token of a session that was signed out
    /// (or expired) no longer gets its user.
    pub async fn get_user(&self, credential: &str) -> Result<User, AuthError> {
        let credential = credential.trim();
        if let CredentialShape::Session = shape_of(credential) {
            return Ok(self.signed_in_session(credential).await?.1);
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
}

/// The caller's user, from the user and the session its claims name (as read): a token
/// bound to a session gets its user only while that session lives.
pub(super) fn caller_of(
    claims: &AccessClaims,
    found: Option<(User, Option<Session>)>,
) -> Result<User, AuthError> {
    let (user, session) = found.ok_or(AuthError::UserNotFound)?;
    match (&claims.sid, session) {
        (None, _) => Ok(user),
        (Some(_), Some(s)) if s.expires_at > Utc::now() => Ok(user),
        (Some(_), _) => Err(AuthError::InvalidToken(TokenRejection::SessionNotFound)),
    }
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
