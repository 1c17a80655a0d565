//! The server as an OAuth 2.1 resource server (MCP authorization, RFC 9728, RFC 8707): its
//! metadata, the bearer-token gate in front of the tools (which records the caller in the
//! request's [`CallContext`]), and the refusal of a request with two `Authorization`
//! headers.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::super::context::CallContext;
use crate::better_auth::{AuthError, AuthService, AuthStore, Resource, TokenRejection};

/// The server as an OAuth 2.1 resource server (MCP authorization, RFC 9728, RFC 8707).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAuth {
    /// The server's public URL (the `aud` a Better Auth JWT must name) and the issuer of
    /// the Better Auth app's OAuth provider, its authorization server.
    pub resource: Resource,
    /// A scope every caller's token must grant.
    pub required_scope: Option<String>,
}

impl HttpAuth {
    /// The path of the resource URL (`/mcp`), and its origin (`https://mcp.example.com`).
    pub(super) fn split(&self) -> (&str, &str) {
        let url = &self.resource.url;
        let after_scheme = url.find("://").map_or(0, |i| i + 3);
        match url[after_scheme..].find('/') {
            Some(i) => url.split_at(after_scheme + i),
            None => (url.as_str(), ""),
        }
    }

    /// Where its Protected Resource Metadata is: the well-known path with the resource's
    /// path after it (RFC 9728, section 3.1).
    pub fn metadata_url(&self) -> String {
        let (origin, path) = self.split();
        format!("{origin}{METADATA_PATH}{}", path.trim_end_matches('/'))
    }

    /// The metadata document (RFC 9728, section 2).
    pub(super) fn metadata(&self) -> serde_json::Value {
        let mut doc = serde_json::json!({
            "resource": self.resource.url,
            "authorization_servers": [self.resource.issuer],
            "bearer_methods_supported": ["header"],
            "resource_name": "Better Auth MCP",
        });
        if let Some(scope) = &self.required_scope {
            doc["scopes_supported"] = serde_json::json!([scope]);
        }
        doc
    }

    fn challenge(&self, error: &str, description: &str) -> String {
        let scope = match (&self.required_scope, error) {
            (Some(scope), "insufficient_scope") => format!(r#", scope="{scope}""#),
            _ => String::new(),
        };
        format!(
            r#"Bearer error="{error}", error_description="{description}"{scope}, resource_metadata="{}""#,
            self.metadata_url()
        )
    }
}

/// An OAuth refusal (RFC 6750, section 3): `status`, the `WWW-Authenticate` challenge
/// (naming the metadata when the server is a resource server) and the same as JSON.
fn oauth_refusal(
    auth: Option<&HttpAuth>,
    status: StatusCode,
    error: &str,
    description: &str,
) -> Response {
    let challenge = match auth {
        Some(auth) => auth.challenge(error, description),
        None => format!(r#"Bearer error="{error}", error_description="{description}""#),
    };
    let body = serde_json::json!({"error": error, "error_description": description});
    (
        status,
        [(header::WWW_AUTHENTICATE, challenge)],
        axum::Json(body),
    )
        .into_response()
}

pub(super) const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The api-key plugin's default header for a key (`apiKeyHeaders`).
const API_KEY_HEADER: &str = "x-api-key";

/// What the bearer-token check needs.
pub(super) struct Gate<S: AuthStore> {
    pub(super) auth: Arc<AuthService<S>>,
    pub(super) settings: HttpAuth,
}

/// Lets a request through to the tools only with a bearer token (or a Better Auth API key
/// in `x-api-key`) that verifies for this resource (401 with a `WWW-Authenticate` challenge naming the metadata otherwise) and
/// grants the required scope (else 403).
pub(super) async fn require_bearer<S: AuthStore>(
    axum::extract::State(gate): axum::extract::State<Arc<Gate<S>>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let refuse = |status: StatusCode, error: &str, description: &str| {
        oauth_refusal(Some(&gate.settings), status, error, description)
    };
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        })
        // A Better Auth API key in the api-key plugin's default header.
        .or_else(|| {
            request
                .headers()
                .get(API_KEY_HEADER)
                .and_then(|v| v.to_str().ok())
        });
    let Some(token) = token else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "a bearer token is required",
        );
    };
    let authorized = gate.auth.authorize(token, &gate.settings.resource).await;
    super::super::metrics::authorization(token, authorized.as_ref().map(|_| ()));
    let claims = match authorized {
        Ok(claims) => claims,
        // A key whose budget is spent (its rate limit, its uses): 429, as the plugin
        // answers, not a challenge to authorize again.
        Err(AuthError::InvalidToken(
            reason @ (TokenRejection::KeyRateLimited | TokenRejection::UsageExceeded),
        )) => {
            tracing::info!(%reason, "a caller's API key was refused");
            let body = serde_json::json!({"error": reason.as_str(),
                "error_description": format!("the API key is not valid now ({reason})")});
            return (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        }
        Err(AuthError::InvalidToken(reason)) => {
            tracing::info!(%reason, "a caller's token was refused");
            return refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                &format!("the token is not valid ({reason})"),
            );
        }
        Err(e) => {
            super::super::log_failure(&e);
            tracing::warn!(code = e.code(), "a caller's token could not be checked");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot check the token now; retry",
            )
                .into_response();
        }
    };
    if let Some(scope) = &gate.settings.required_scope {
        let granted = claims
            .scope
            .as_deref()
            .is_some_and(|s| s.split_whitespace().any(|g| g == scope));
        if !granted {
            return refuse(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                &format!("the token does not grant {scope}"),
            );
        }
    }
    match request.extensions_mut().get_mut::<CallContext>() {
        Some(context) => context.caller = Some(claims),
        None => {
            request.extensions_mut().insert(CallContext {
                caller: Some(claims),
                ..CallContext::default()
            });
        }
    }
    next.run(request).await
}

/// Refuses a request with more than one `Authorization` header (or `x-api-key`, or one of
/// each): 400 `invalid_request`
/// (RFC 6750, section 3.1). Also without --require-auth: a gateway in front that
/// authorizes callers may read another of the headers than whatever reads them after it,
/// so a request that is ambiguous about its caller goes no further.
pub(super) async fn refuse_two_authorizations(
    axum::extract::State(auth): axum::extract::State<Option<Arc<HttpAuth>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers();
    let authorizations = headers.get_all(header::AUTHORIZATION).iter().count()
        + headers.get_all(API_KEY_HEADER).iter().count();
    if authorizations > 1 {
        return oauth_refusal(
            auth.as_deref(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "more than one Authorization (or x-api-key) header",
        );
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_url_inserts_the_resource_path() {
        let resource = |url: &str| Resource {
            url: url.into(),
            issuer: "https://app.example.com/api/auth".into(),
        };
        let auth = HttpAuth {
            resource: resource("https://mcp.example.com/mcp"),
            required_scope: None,
        };
        assert_eq!(
            auth.metadata_url(),
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        );
        let root = HttpAuth {
            resource: resource("https://mcp.example.com"),
            ..auth
        };
        assert_eq!(
            root.metadata_url(),
            "https://mcp.example.com/.well-known/oauth-protected-resource"
        );
    }
}
