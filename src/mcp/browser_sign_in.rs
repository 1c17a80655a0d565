//! The browser_sign_in toolset's shapes: begin_browser_sign_in and
//! complete_browser_sign_in, their arguments and results (camelCase; RFC 8628's fields as
//! the deviceAuthorization plugin names them, in camelCase). No argument is a password.
//! And the URL-mode elicitation of begin: a client that declares it is shown the app's
//! page (`elicitation/create` on 2025-11-25, an input-required result on 2026-07-28), and
//! the call (or its retry) waits, bounded, for the person.

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::context::CallContext;
use super::schema::portable_nullables;
use super::types::{AuthResult, UserView};
use crate::better_auth::{
    AccessClaims, AuthError, AuthService, AuthStore, Authenticated, BrowserSignInStarted,
    BrowserSignInWait, generate_id,
};

/// How often a waiting begin looks at the row (a read, not a poll of the plugin's).
const LOOK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

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

/// Shows the person the app's page by URL-mode elicitation, if the client declared it, and
/// waits (at most BROWSER_SIGN_IN_WAIT_SECONDS) for their decision, with a progress
/// notification each second when the client sent a progress token. None: nothing to
/// answer but pending (no URL mode, declined, cancelled, not decided in time).
pub(super) async fn shown_and_awaited<S: AuthStore>(
    auth: &AuthService<S>,
    started: &BrowserSignInStarted,
    caller: Option<&AccessClaims>,
    context: &rmcp::service::RequestContext<rmcp::RoleServer>,
) -> Option<Result<Authenticated, AuthError>> {
    let wait = auth.browser_sign_in_wait_limit();
    let url_mode = context
        .peer
        .supported_elicitation_modes()
        .contains(&rmcp::service::ElicitationMode::Url);
    if wait.is_zero() || !url_mode {
        return None;
    }
    let url = url::Url::parse(&started.verification_uri_complete).ok()?;
    let message = format!(
        "Sign in on {} and approve this sign-in there; the page shows the code {}.",
        url.host_str().unwrap_or("the app"),
        started.user_code
    );
    let began = tokio::time::Instant::now();
    let elicited = context
        .peer
        .elicit_url_with_timeout(message, url, generate_id(), Some(wait));
    let action = tokio::select! {
        action = elicited => action,
        () = context.ct.cancelled() => return None,
    };
    match action {
        Ok(rmcp::model::ElicitationAction::Accept) => {}
        Ok(other) => {
            tracing::debug!(?other, "the browser sign-in's URL was not accepted");
            return None;
        }
        Err(e) => {
            tracing::debug!(error = %e, "URL-mode elicitation failed");
            return None;
        }
    }
    awaited(auth, &started.device_code, caller, context, (began, wait)).await
}

/// Waits (until `wait` has passed since `began`) for the person to decide on the sign-in
/// of `device_code`, with a progress notification each second when the client sent a
/// progress token; then completes it. None: not decided in time, or the call was
/// cancelled.
async fn awaited<S: AuthStore>(
    auth: &AuthService<S>,
    device_code: &str,
    caller: Option<&AccessClaims>,
    context: &rmcp::service::RequestContext<rmcp::RoleServer>,
    (began, wait): (tokio::time::Instant, std::time::Duration),
) -> Option<Result<Authenticated, AuthError>> {
    let progress_token = context.meta.get_progress_token();
    loop {
        match auth.browser_sign_in_wait(device_code).await {
            Ok(BrowserSignInWait::Decided) => {
                let from = CallContext::of(context).client;
                return Some(
                    auth.complete_browser_sign_in(device_code, caller, from)
                        .await,
                );
            }
            Ok(BrowserSignInWait::Pending) => {}
            Err(e) => return Some(Err(e)),
        }
        let waited = began.elapsed();
        if waited >= wait {
            return None;
        }
        if let Some(token) = &progress_token {
            let progress = rmcp::model::ProgressNotificationParam::new(
                token.clone(),
                waited.as_secs_f64().floor(),
            )
            .with_total(wait.as_secs_f64())
            .with_message("Waiting for the person to approve the sign-in in their browser");
            let _ = context.peer.notify_progress(progress).await;
        }
        tokio::select! {
            _ = context.ct.cancelled() => return None,
            _ = tokio::time::sleep(LOOK_EVERY) => {}
        }
    }
}

/// The key of the browser sign-in's URL elicitation among an input-required result's
/// requests (2026-07-28).
const INPUT_KEY: &str = "browser_sign_in";

/// Whether a 2026-07-28 client declared URL-mode elicitation in this request's metadata.
pub(super) fn declares_url_input(
    context: &rmcp::service::RequestContext<rmcp::RoleServer>,
) -> bool {
    context
        .meta
        .client_capabilities()
        .and_then(|c| c.elicitation)
        .is_some_and(|e| e.url.is_some())
}

/// The 2026-07-28 round trip's first answer: the app's page as a URL elicitation, and the
/// device code as the request state (it is bound to the caller, so a forged or altered
/// one is an unknown code; the retry's answer is rebuilt from its row, never read from
/// the state).
pub(super) fn input_required(started: BrowserSignInStarted) -> rmcp::model::CallToolResponse {
    let host = url::Url::parse(&started.verification_uri_complete)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "the app".into());
    let message = format!(
        "Sign in on {host} and approve this sign-in there; the page shows the code {}.",
        started.user_code
    );
    let params = rmcp::model::ElicitRequestParams::UrlElicitationParams {
        meta: None,
        message,
        url: started.verification_uri_complete.clone(),
        elicitation_id: generate_id(),
    };
    let request = rmcp::model::InputRequest::Elicitation(rmcp::model::ElicitRequest::new(params));
    let state = serde_json::to_string(&RetryState {
        device_code: started.device_code,
    })
    .ok();
    let requests = std::collections::BTreeMap::from([(INPUT_KEY.to_owned(), request)]);
    rmcp::model::InputRequiredResult::new(Some(requests), state).into()
}

/// What a 2026-07-28 retry sends back: the device code alone.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetryState {
    device_code: String,
}

/// The 2026-07-28 retry: the sign-in of the request state's code (the caller's, still
/// stored, its answer rebuilt from the row) and whether the client accepted the URL; the
/// person's decision awaited as on 2025-11-25. Err: a state that is not ours.
pub(super) async fn retried<S: AuthStore>(
    auth: &AuthService<S>,
    state: &str,
    responses: Option<&rmcp::model::InputResponses>,
    caller: Option<&AccessClaims>,
    context: &rmcp::service::RequestContext<rmcp::RoleServer>,
) -> Result<BrowserSignInResult, AuthError> {
    let RetryState { device_code } =
        serde_json::from_str(state).map_err(|_| AuthError::InvalidDeviceCode)?;
    let pending =
        BrowserSignInResult::pending(auth.begun_browser_sign_in(&device_code, caller).await?);
    let accepted = responses
        .and_then(|r| r.get(INPUT_KEY))
        .and_then(|v| v.get("action"))
        .is_some_and(|a| a == "accept");
    let wait = auth.browser_sign_in_wait_limit();
    if !accepted || wait.is_zero() {
        return Ok(pending);
    }
    let began = tokio::time::Instant::now();
    match awaited(auth, &device_code, caller, context, (began, wait)).await {
        Some(Ok(signed_in)) => Ok(BrowserSignInResult::approved(signed_in)),
        Some(Err(e)) => Err(e),
        None => Ok(pending),
    }
}
