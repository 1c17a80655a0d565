//! The browser_sign_in toolset's shapes: begin_browser_sign_in and
//! complete_browser_sign_in, their arguments and results (camelCase; RFC 8628's fields as
//! the deviceAuthorization plugin names them, in camelCase). No argument is a password.

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schema::portable_nullables;
use super::types::{AuthResult, UserView};
use crate::better_auth::{Authenticated, BrowserSignInStarted};

fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// begin_browser_sign_in takes nothing: the page it sends the person to is configured.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = portable_nullables)]
pub struct BeginBrowserSignInArgs {}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct CompleteBrowserSignInArgs {
    /// The deviceCode begin_browser_sign_in returned (not the userCode).
    pub device_code: String,
}

/// begin_browser_sign_in's answer: pending (show the person the URL, then call
/// complete_browser_sign_in), or approved when the client showed the URL and the person
/// approved while the call waited.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct BrowserSignInResult {
    /// "pending" or "approved".
    pub status: String,
    /// For the model: what to tell the person, and what to call next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The app's page where the person signs in and approves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_uri: Option<String>,
    /// The same page with the user code filled in: the link to show the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_uri_complete: Option<String>,
    /// The code the person checks on (or types into) the app's page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_code: Option<String>,
    /// The secret to pass to complete_browser_sign_in. Never show it to anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_code: Option<String>,
    /// Pending: when the code expires; approved: when the access token does (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Seconds to wait between two complete_browser_sign_in calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    /// Approved: the user signed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserView>,
    /// Approved: the access token. Keep it private.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Approved: always "Bearer".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Approved: the Better Auth session opened. Keep it private.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// Approved: when the session expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_expires_at: Option<String>,
}

/// What the model is told to do with a pending sign-in.
fn pending_message(started: &BrowserSignInStarted) -> String {
    format!(
        "Ask the person to open {} in their browser, sign in there and approve this sign-in; \
         the page shows the code {} (tell them to check it). Then call \
         complete_browser_sign_in with deviceCode, at most once every {} seconds, until it \
         answers approved (AUTHORIZATION_PENDING means: not yet). Never show deviceCode.",
        started.verification_uri_complete, started.user_code, started.interval_secs
    )
}

impl BrowserSignInResult {
    pub fn pending(started: BrowserSignInStarted) -> Self {
        Self {
            status: "pending".into(),
            message: Some(pending_message(&started)),
            verification_uri: Some(started.verification_uri),
            verification_uri_complete: Some(started.verification_uri_complete),
            user_code: Some(started.user_code),
            device_code: Some(started.device_code),
            expires_at: Some(rfc3339(&started.expires_at)),
            interval: Some(started.interval_secs),
            user: None,
            token: None,
            token_type: None,
            session_token: None,
            session_expires_at: None,
        }
    }

    pub fn approved(signed_in: Authenticated) -> Self {
        let auth = AuthResult::from(signed_in);
        Self {
            status: "approved".into(),
            message: None,
            verification_uri: None,
            verification_uri_complete: None,
            user_code: None,
            device_code: None,
            expires_at: auth.expires_at,
            interval: None,
            user: Some(auth.user),
            token: auth.token,
            token_type: Some(auth.token_type),
            session_token: auth.session_token,
            session_expires_at: auth.session_expires_at,
        }
    }
}

/// complete_browser_sign_in's answer: sign_in's, with status "approved".
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = portable_nullables)]
pub struct ApprovedSignInResult {
    /// Always "approved".
    pub status: String,
    #[serde(flatten)]
    pub signed_in: AuthResult,
}

impl From<Authenticated> for ApprovedSignInResult {
    fn from(a: Authenticated) -> Self {
        Self {
            status: "approved".into(),
            signed_in: a.into(),
        }
    }
}
