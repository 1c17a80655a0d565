//! The one place where a tool's failures become its answers: argument errors, domain
//! errors (`CODE: message`, with what to do next), and the log line a failure deserves.

use rmcp::Json;

use super::args::ArgumentError;
use super::metrics;
use super::types::VerifyResult;
use crate::better_auth::{AuthError, VerifiedToken};

/// Arguments that do not match the tool's input schema.
pub(super) fn invalid_arguments(e: ArgumentError) -> String {
    tracing::debug!(code = "INVALID_ARGUMENTS", "tool call failed");
    metrics::note_code("INVALID_ARGUMENTS");
    format!("INVALID_ARGUMENTS: {e}")
}

/// The one place where domain errors become tool errors: `CODE: message`, and for a
/// credential the caller can replace, what to do next in terms of these tools.
pub(super) fn tool_error(e: AuthError) -> String {
    log_failure(&e);
    tracing::debug!(code = e.code(), "tool call failed");
    metrics::note_code(e.code());
    metrics::rate_limit_of(&e);
    format!("{}: {e}{}", e.code(), next_step(&e))
}

/// Logs what a failure's answer does not say: an outage's store error (warn), an internal
/// failure's detail (error). Every answer made of an [`AuthError`] passes here, once.
pub(crate) fn log_failure(e: &AuthError) {
    match (e, e.log_detail()) {
        (AuthError::ServiceUnavailable { outage, .. }, Some(detail)) => {
            tracing::warn!(%detail, "database unavailable: {outage}")
        }
        (AuthError::Internal { .. }, Some(detail)) => tracing::error!(%detail, "internal error"),
        _ => {}
    }
}

fn next_step(e: &AuthError) -> &'static str {
    use crate::better_auth::TokenRejection as R;
    match e {
        AuthError::NotASessionToken | AuthError::ApiKeyNotASessionToken => {
            "; refresh_token and sign_out take the sessionToken that sign_in or sign_up returned"
        }
        AuthError::InvalidToken(reason) => match reason {
            R::Expired => {
                ": get a new access token with refresh_token and the sessionToken (sign_in again if the session ended)"
            }
            R::SessionNotFound => ": the session was signed out or has ended; sign_in again",
            R::BadSignature => ": it was not signed with this deployment's secret or keys",
            R::WrongIssuer | R::WrongAudience => {
                ": it was issued for another deployment (BETTER_AUTH_URL)"
            }
            R::TooLarge => ": it is longer than 8 KiB",
            R::Malformed => ": give the token exactly as sign_in or sign_up returned it",
            R::NotYetValid => ": check this machine's clock",
            R::JwksUnavailable => ": the JWKS URL cannot be read now; retry later",
            R::KeyDisabled => ": the API key was disabled in the app",
            R::KeyExpired | R::InvalidApiKey => ": create a new API key",
            R::UsageExceeded => ": the API key has no uses left",
            R::KeyRateLimited => ": the API key's own rate limit was reached; retry later",
            R::UnsupportedAlgorithm | R::MissingClaim => "",
        },
        _ => "",
    }
}

/// verify_token's answer to a verification of `credential`: a token that does not verify
/// is a normal answer, not an error.
pub(super) fn verify_answer(
    credential: &str,
    verified: Result<VerifiedToken, AuthError>,
) -> Result<Json<VerifyResult>, String> {
    metrics::verification(credential, verified.as_ref().map(|v| v.kind));
    match verified {
        Ok(v) => Ok(Json(VerifyResult::valid(v))),
        Err(AuthError::InvalidToken(reason)) => {
            tracing::trace!(%reason, "token did not verify");
            Ok(Json(VerifyResult::invalid(reason.as_str())))
        }
        Err(e) => Err(tool_error(e)),
    }
}

pub(super) fn strip_bearer(token: &str) -> &str {
    let t = token.trim();
    t.strip_prefix("Bearer ").unwrap_or(t).trim()
}
