//! The MCP face of the server: four tools over rmcp, each turning its arguments into
//! domain calls and every [`AuthError`] into a text-only `isError` result `CODE: message`.

pub mod types;

use std::sync::Arc;

use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{Json, tool, tool_handler, tool_router};

use crate::better_auth::{AuthError, AuthService};
use types::{AuthResult, GetUserResult, SignInArgs, SignUpArgs, TokenArgs, UserView, VerifyResult};

const INSTRUCTIONS: &str = "Auth tools of a Better Auth deployment. sign_up creates an account \
and sign_in checks a password; both return a short-lived access token. verify_token checks a \
token without side effects and is cheap enough to call on every step; get_user returns the \
account behind a token. Errors come as text 'CODE: message'.";

#[derive(Clone)]
pub struct AuthServer {
    auth: Arc<AuthService>,
    tool_router: ToolRouter<Self>,
}

/// The one place where domain errors become tool errors.
fn tool_error(e: AuthError) -> String {
    if let AuthError::Internal(detail) = &e {
        tracing::error!(%detail, "internal error");
    }
    format!("{}: {e}", e.code())
}

#[tool_router]
impl AuthServer {
    pub fn new(auth: Arc<AuthService>) -> Self {
        Self {
            auth,
            tool_router: Self::tool_router(),
        }
    }

    /// Create a new user account with an email and a password, and sign it in. Returns the
    /// user and an access token (a JWT, valid for 15 minutes by default). Fails with
    /// USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL if the email is taken, INVALID_EMAIL,
    /// PASSWORD_TOO_SHORT / PASSWORD_TOO_LONG or INVALID_NAME for bad input.
    #[tool(
        name = "sign_up",
        title = "Sign up",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn sign_up(
        &self,
        Parameters(args): Parameters<SignUpArgs>,
    ) -> Result<Json<AuthResult>, String> {
        self.auth
            .sign_up(&args.email, args.password, args.name.as_deref())
            .await
            .map(|a| Json(a.into()))
            .map_err(tool_error)
    }

    /// Sign in with an email and a password. Returns the user and a new access token (a JWT,
    /// valid for 15 minutes by default). A wrong password and an unknown email both fail
    /// with INVALID_EMAIL_OR_PASSWORD.
    #[tool(
        name = "sign_in",
        title = "Sign in",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn sign_in(
        &self,
        Parameters(args): Parameters<SignInArgs>,
    ) -> Result<Json<AuthResult>, String> {
        self.auth
            .sign_in(&args.email, args.password)
            .await
            .map(|a| Json(a.into()))
            .map_err(tool_error)
    }

    /// Check an access token: signature, algorithm, expiry, issuer and audience. Answers
    /// {valid: true, kind, claims, expiresAt} or {valid: false, reason}; an invalid token is
    /// a normal answer, not an error. Stateless and cheap: reads no database, so it is safe
    /// to call before every step.
    #[tool(
        name = "verify_token",
        title = "Verify a token",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn verify_token(&self, Parameters(args): Parameters<TokenArgs>) -> Json<VerifyResult> {
        Json(
            match self.auth.verify_access_token(strip_bearer(&args.token)) {
                Ok(v) => VerifyResult::valid(v),
                Err(reason) => VerifyResult::invalid(reason.as_str()),
            },
        )
    }

    /// Get the user behind an access token. Fails with INVALID_TOKEN (the text names why)
    /// or USER_NOT_FOUND if the account no longer exists.
    #[tool(
        name = "get_user",
        title = "Get the user of a token",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn get_user(
        &self,
        Parameters(args): Parameters<TokenArgs>,
    ) -> Result<Json<GetUserResult>, String> {
        self.auth
            .get_user(strip_bearer(&args.token))
            .await
            .map(|u| {
                Json(GetUserResult {
                    user: UserView::from(u),
                })
            })
            .map_err(tool_error)
    }
}

fn strip_bearer(token: &str) -> &str {
    let t = token.trim();
    t.strip_prefix("Bearer ").unwrap_or(t).trim()
}

#[tool_handler(router = self.tool_router)]
impl rmcp::ServerHandler for AuthServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("better-auth-mcp", env!("CARGO_PKG_VERSION"))
                    .with_title("Better Auth MCP"),
            )
            .with_instructions(INSTRUCTIONS)
    }
}
