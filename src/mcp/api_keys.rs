//! The api_keys toolset's shapes: create_api_key, list_api_keys, revoke_api_key, their
//! arguments and results (camelCase, as the api-key plugin's JSON).

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schema::portable_nullables;
use super::types::Permissions;
use crate::better_auth::flows::api_keys::CreateApiKey;
use crate::better_auth::ports::ApiKeyRow;

fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct CreateApiKeyArgs {
    /// The session token from sign_in or sign_up (or a Better Auth session token): the
    /// key is created for its user.
    pub session_token: String,
    /// A name for the key, at most 32 characters.
    #[serde(default)]
    pub name: Option<String>,
    /// Seconds until the key expires (1 day to 365 days). Default: never.
    #[serde(default)]
    pub expires_in: Option<f64>,
    /// Characters put before the key (letters, digits, _ and -; at most 32), e.g. "ba_".
    #[serde(default)]
    pub prefix: Option<String>,
    /// Metadata to keep with the key (a JSON object), where the app enabled metadata.
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

impl CreateApiKeyArgs {
    /// The session token, and the key asked for.
    pub fn into_request(self) -> (String, CreateApiKey) {
        (
            self.session_token,
            CreateApiKey {
                name: self.name,
                expires_in: self.expires_in,
                prefix: self.prefix,
                metadata: self.metadata.map(serde_json::Value::Object),
            },
        )
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct RevokeApiKeyArgs {
    /// The session token of the key's owner.
    pub session_token: String,
    /// The key's id (apiKey.id from create_api_key or list_api_keys; not the key itself).
    pub key_id: String,
}

/// An API key's row as the plugin's routes answer it: never the key or its hash.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct ApiKeyView {
    pub config_id: String,
    pub name: Option<String>,
    /// The key's first characters, to recognise it.
    pub start: Option<String>,
    /// The user (or organization) the key belongs to.
    pub reference_id: String,
    pub prefix: Option<String>,
    /// Milliseconds between refills of `remaining`.
    pub refill_interval: Option<i64>,
    pub refill_amount: Option<i64>,
    pub last_refill_at: Option<String>,
    pub enabled: bool,
    pub rate_limit_enabled: bool,
    /// Milliseconds.
    pub rate_limit_time_window: Option<i64>,
    pub rate_limit_max: Option<i64>,
    pub request_count: Option<i64>,
    /// Uses left; null: unlimited.
    pub remaining: Option<i64>,
    pub last_request: Option<String>,
    pub expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub permissions: Option<Permissions>,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub id: String,
}

/// JSON text as the plugin stored it, if it is of that shape (`"null"` is none).
fn json_of<T: serde::de::DeserializeOwned>(text: &Option<String>) -> Option<T> {
    text.as_deref().and_then(|t| serde_json::from_str(t).ok())
}

impl From<ApiKeyRow> for ApiKeyView {
    fn from(k: ApiKeyRow) -> Self {
        Self {
            permissions: json_of(&k.permissions),
            metadata: json_of(&k.metadata),
            config_id: k.config_id,
            name: k.name,
            start: k.start,
            reference_id: k.reference_id,
            prefix: k.prefix,
            refill_interval: k.refill_interval,
            refill_amount: k.refill_amount,
            last_refill_at: k.usage.last_refill_at.as_ref().map(rfc3339),
            enabled: k.enabled != Some(false),
            rate_limit_enabled: k.rate_limit_enabled != Some(false),
            rate_limit_time_window: k.rate_limit_time_window,
            rate_limit_max: k.rate_limit_max,
            request_count: k.usage.request_count,
            remaining: k.usage.remaining,
            last_request: k.usage.last_request.as_ref().map(rfc3339),
            expires_at: k.expires_at.as_ref().map(rfc3339),
            created_at: rfc3339(&k.created_at),
            updated_at: rfc3339(&k.updated_at),
            id: k.id,
        }
    }
}

/// create_api_key's result: the key, shown this once, and its row. (No Debug: it holds
/// the key.)
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct CreatedApiKeyResult {
    /// The API key. Shown only now: it is stored hashed and cannot be read again.
    pub key: String,
    pub api_key: ApiKeyView,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct ListApiKeysResult {
    /// The user's keys, newest first (at most 100).
    pub api_keys: Vec<ApiKeyView>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct RevokeApiKeyResult {
    /// Always true: the key is deleted.
    pub revoked: bool,
}
