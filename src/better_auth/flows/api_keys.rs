//! Better Auth's API keys: a use of a key (what verify_token, get_user and the HTTP gate
//! do with one, the plugin's `verifyApiKey`), and a user's keys over their session
//! (create, list, revoke, as the plugin's routes do).

use std::net::IpAddr;

use chrono::Duration;

use super::super::audit::Audit;
use super::super::credentials::api_key::{
    self, Claim, MAX_EXPIRES_IN_DAYS, MAX_NAME_LENGTH, MAX_PREFIX_LENGTH, MIN_EXPIRES_IN_DAYS,
    START_LENGTH,
};
use super::super::credentials::jwt::AccessClaims;
use super::super::credentials::{ApiKeyClaims, CredentialKind, VerifiedToken};
use super::super::ports::{ApiKeyRow, ApiKeyUsage, ApiKeyWrite, NewApiKey};
use super::super::service::now_ms;
use super::super::{AuthError, AuthService, AuthStore, StoreError, TokenRejection, generate_id};

/// A new key as create_api_key asks for it (the plugin's create body, as a client may
/// send it: no server-only fields).
#[derive(Debug, Default)]
pub struct CreateApiKey {
    pub name: Option<String>,
    /// Seconds.
    pub expires_in: Option<f64>,
    pub prefix: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

/// A key just created: the key itself (shown once, never stored) and its row.
pub struct CreatedApiKey {
    pub key: String,
    pub row: ApiKeyRow,
}

fn refused(code: &'static str, message: &'static str) -> AuthError {
    AuthError::Refused { code, message }
}

impl<S: AuthStore> AuthService<S> {
    /// One use of an API key, as the plugin's `verifyApiKey` makes it: its checks in its
    /// order and its writes, decided from the row and written atomically with it (see
    /// [`AuthStore::use_api_key`]), so this server's processes and the app spend one
    /// budget. Returns the row after the use, and, when `check_owner` asks, whether the
    /// key's owner is a user as the use was written (None: the store did not say).
    pub(crate) async fn use_api_key(
        &self,
        key: &str,
        check_owner: bool,
    ) -> Result<(ApiKeyRow, Option<bool>), AuthError> {
        let stored = api_key::stored_key(key, self.settings.api_keys.hashing);
        let rate_limits = self.settings.api_keys.rate_limit_enabled;
        let used = self
            .store
            .use_api_key(&stored, check_owner, move |row| {
                // Decided again after a lost race, it is decided at that time.
                let now = now_ms();
                let Some(row) = row else {
                    return (
                        ApiKeyWrite::Nothing,
                        Err((TokenRejection::InvalidApiKey, None)),
                    );
                };
                match api_key::claim(row, now, rate_limits) {
                    Claim::Refuse(reason) => (ApiKeyWrite::Nothing, Err((reason, None))),
                    Claim::Delete(reason) => {
                        (ApiKeyWrite::Delete, Err((reason, Some(row.id.clone()))))
                    }
                    Claim::Write {
                        next,
                        updated_at,
                        outcome,
                    } => {
                        let after = ApiKeyRow {
                            usage: next.clone(),
                            updated_at: updated_at.unwrap_or(row.updated_at),
                            ..row.clone()
                        };
                        let answer = outcome.map(|()| after).map_err(|r| (r, None));
                        (ApiKeyWrite::Usage { next, updated_at }, answer)
                    }
                }
            })
            .await?;
        let row = used.decision.map_err(|(reason, deleted)| {
            if let Some(key_id) = deleted {
                tracing::info!(%key_id, %reason, "an API key was deleted");
            }
            AuthError::InvalidToken(reason)
        })?;
        Ok((row, used.owner_is_user))
    }

    /// An API key verified as a credential (one use of it), and, when `check_owner` asks,
    /// whether its owner is a user (None: not known from the use).
    pub(super) async fn verify_api_key(
        &self,
        key: &str,
        check_owner: bool,
    ) -> Result<(VerifiedToken, Option<bool>), AuthError> {
        let (row, owner_is_user) = self.use_api_key(key, check_owner).await?;
        Ok((verified_key(row), owner_is_user))
    }

    /// An API key's claims with the organization that owns it, when its `referenceId`
    /// names an organization (the organization plugin's); other credentials unchanged.
    pub async fn with_key_organization(
        &self,
        mut verified: VerifiedToken,
    ) -> Result<VerifiedToken, AuthError> {
        if let Some(key) = verified.api_key.as_mut() {
            match self.store.organization_exists(&verified.claims.sub).await {
                Ok(true) => key.organization_id = Some(verified.claims.sub.clone()),
                Ok(false) | Err(StoreError::PluginNotEnabled(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(verified)
    }

    /// Creates a key for the user of a session, as the plugin's create route does for a
    /// signed-in user: its checks in its order, its defaults (no prefix, 64 letters, the
    /// app's rate limit, by default 10 requests a day; no expiry), the key stored hashed.
    pub async fn create_api_key(
        &self,
        session_credential: &str,
        request: CreateApiKey,
        from: Option<IpAddr>,
    ) -> Result<CreatedApiKey, AuthError> {
        let mut audit = self.audit("create_api_key", from);
        if let Some(name) = &request.name {
            audit.text("name", name);
        }
        if let Some(secs) = request.expires_in {
            audit.detail("expiresIn", secs);
        }
        let result = self
            .create_key(session_credential, request, &mut audit)
            .await;
        self.audited(&audit, result).await
    }

    async fn create_key(
        &self,
        session_credential: &str,
        request: CreateApiKey,
        audit: &mut Audit,
    ) -> Result<CreatedApiKey, AuthError> {
        // The plugin's body validation comes first.
        if request.prefix.as_deref().is_some_and(|p| {
            p.is_empty()
                || !p
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        }) {
            return Err(refused(
                "INVALID_ARGUMENTS",
                "prefix: Invalid prefix format, must be alphanumeric and contain only underscores and hyphens.",
            ));
        }
        if request.expires_in.is_some_and(|s| s.is_nan() || s < 1.0) {
            return Err(refused(
                "INVALID_ARGUMENTS",
                "expiresIn: at least 1 (seconds)",
            ));
        }
        let (_, user) = self.living_session(session_credential.trim()).await?;
        audit.user(&user.id);
        let policy = &self.settings.api_keys;
        let metadata = match request.metadata {
            None | Some(serde_json::Value::Null) => None,
            Some(_) if !policy.metadata => {
                return Err(refused("METADATA_DISABLED", "Metadata is disabled."));
            }
            Some(m) if !m.is_object() && !m.is_array() => {
                return Err(refused(
                    "INVALID_METADATA_TYPE",
                    "metadata must be an object or undefined",
                ));
            }
            Some(m) => Some(m),
        };
        let expires_in = request.expires_in;
        if let Some(secs) = expires_in {
            let days = secs / 86_400.0;
            if days < MIN_EXPIRES_IN_DAYS {
                return Err(refused(
                    "EXPIRES_IN_IS_TOO_SMALL",
                    "The expiresIn is smaller than the predefined minimum value.",
                ));
            }
            if days > MAX_EXPIRES_IN_DAYS {
                return Err(refused(
                    "EXPIRES_IN_IS_TOO_LARGE",
                    "The expiresIn is larger than the predefined maximum value.",
                ));
            }
        }
        // (An empty prefix was refused above.)
        let prefix = request.prefix;
        if prefix.as_ref().is_some_and(|p| p.len() > MAX_PREFIX_LENGTH) {
            return Err(refused(
                "INVALID_PREFIX_LENGTH",
                "The prefix length is either too large or too small.",
            ));
        }
        // As the plugin: a name is checked when not empty, and stored as given (UTF-16
        // units counted, as JavaScript's length).
        let name = request.name;
        if name
            .as_ref()
            .is_some_and(|n| n.encode_utf16().count() > MAX_NAME_LENGTH)
        {
            return Err(refused(
                "INVALID_NAME_LENGTH",
                "The name length is either too large or too small.",
            ));
        }
        let key = api_key::generate_key(prefix.as_deref());
        let now = now_ms();
        let mut row = ApiKeyRow {
            id: generate_id(),
            config_id: "default".into(),
            name,
            start: Some(key.chars().take(START_LENGTH).collect()),
            reference_id: user.id,
            prefix,
            refill_interval: None,
            refill_amount: None,
            enabled: Some(true),
            rate_limit_enabled: Some(policy.rate_limit_enabled),
            rate_limit_time_window: Some(policy.rate_limit_window_ms),
            rate_limit_max: Some(policy.rate_limit_max),
            usage: ApiKeyUsage {
                remaining: None,
                last_refill_at: None,
                request_count: Some(0),
                last_request: None,
            },
            expires_at: expires_in.map(|s| now + Duration::milliseconds((s * 1000.0) as i64)),
            created_at: now,
            updated_at: now,
            permissions: policy.default_permissions.clone(),
            metadata: Some(metadata.as_ref().map_or("null".into(), |m| m.to_string())),
        };
        let new = NewApiKey {
            stored_key: api_key::stored_key(&key, policy.hashing),
            row: row.clone(),
        };
        row.id = self
            .store
            .create_api_key(&new, audit.success().as_ref())
            .await?;
        tracing::info!(key_id = %row.id, user_id = %row.reference_id, "an API key was created");
        Ok(CreatedApiKey { key, row })
    }

    /// The keys of the user of a session (never a key or its hash).
    pub async fn list_api_keys(
        &self,
        session_credential: &str,
    ) -> Result<Vec<ApiKeyRow>, AuthError> {
        let (_, user) = self.living_session(session_credential.trim()).await?;
        Ok(self.store.list_api_keys(&user.id).await?)
    }

    /// Deletes a key of the user of a session; another user's key (or none) is
    /// INVALID_API_KEY.
    pub async fn revoke_api_key(
        &self,
        session_credential: &str,
        key_id: &str,
        from: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        let mut audit = self.audit("revoke_api_key", from);
        let result = self
            .revoke_key(session_credential, key_id, &mut audit)
            .await;
        self.audited(&audit, result).await
    }

    async fn revoke_key(
        &self,
        session_credential: &str,
        key_id: &str,
        audit: &mut Audit,
    ) -> Result<(), AuthError> {
        let (_, user) = self.living_session(session_credential.trim()).await?;
        audit.user(&user.id);
        match self.store.find_api_key_by_id(key_id).await? {
            Some(row) if row.reference_id == user.id => {
                // (The key's id as stored, never the argument: an agent may pass the key.)
                audit.detail("keyId", row.id.as_str());
                if !self
                    .store
                    .delete_api_key(&row.id, audit.success().as_ref())
                    .await?
                {
                    // Revoked meanwhile, elsewhere.
                    return Err(AuthError::InvalidApiKey);
                }
                tracing::info!(key_id = %row.id, user_id = %user.id, "an API key was revoked");
                Ok(())
            }
            _ => Err(AuthError::InvalidApiKey),
        }
    }
}

/// JSON text as the plugin stored it; null when none or not JSON.
fn json_of(text: &Option<String>) -> serde_json::Value {
    text.as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// A key that verified, as a credential: whom it names and what it says of itself.
fn verified_key(row: ApiKeyRow) -> VerifiedToken {
    VerifiedToken {
        kind: CredentialKind::BetterAuthApiKey,
        claims: AccessClaims {
            sub: row.reference_id.clone(),
            email: None,
            iat: row.created_at.timestamp(),
            exp: row.expires_at.map_or(i64::MAX, |t| t.timestamp()),
            nbf: None,
            iss: None,
            aud: None,
            sid: None,
            scope: None,
        },
        expires_at: row.expires_at,
        api_key: Some(ApiKeyClaims {
            permissions: json_of(&row.permissions),
            metadata: json_of(&row.metadata),
            key_id: row.id,
            organization_id: None,
            name: row.name,
        }),
    }
}
