//! The MCP server: the tools over rmcp's router, each turning its arguments into one
//! domain call; their failures are answered by [`super::answers`].

use std::sync::Arc;

use rmcp::handler::server::tool::{InputResponses, RequestState};
use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::model::{CallToolResponse, CallToolResult};
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{Json, tool, tool_handler, tool_router};

use super::admin::{
    BanUserArgs, ListUsersArgs, ListUsersResult, ManagedUserResult, RemoveUserResult,
    RevokeUserSessionsResult, SetRoleArgs, UserIdArgs,
};
use super::answers::{invalid_arguments, strip_bearer, tool_error, verify_answer};
use super::api_keys::{
    ApiKeyView, CreateApiKeyArgs, CreatedApiKeyResult, ListApiKeysResult, RevokeApiKeyArgs,
    RevokeApiKeyResult,
};
use super::args::{Args, ArgumentError};
use super::browser_sign_in::{
    ApprovedSignInResult, BeginBrowserSignInArgs, BrowserSignInResult, CompleteBrowserSignInArgs,
    declares_url_input, input_required, retried, shown_and_awaited,
};
use super::context::CallContext;
use super::metrics;
use super::organizations::{
    CheckPermissionArgs, CheckPermissionResult, ListOrganizationsArgs, ListOrganizationsResult,
};
use super::selection::{ToolSelection, all_tools};
use super::traces;
use super::types::{
    AuthResult, GetUserArgs, GetUserResult, RefreshResult, SessionArgs, SignInArgs, SignOutResult,
    SignUpArgs, TokenArgs, UserView, VerifyResult,
};
use crate::better_auth::flows::admin::Administrator;
use crate::better_auth::flows::organizations::Principal;
use crate::better_auth::{AccessClaims, AuthError, AuthService, AuthStore, SignIn, SignUp};

const INSTRUCTIONS: &str = "Auth tools of a Better Auth deployment. sign_up creates an account \
and sign_in checks a password; both return a short-lived access token and a session token. \
verify_token checks a credential without side effects and, for access tokens, without any \
database read, so it is cheap enough to call on every step; get_user returns the account \
behind a credential. refresh_token trades the session token for a new access token; sign_out \
ends the session. With the browser_sign_in tools, prefer begin_browser_sign_in to asking \
a person for their password: they sign in on the app's own page. Errors come as text \
'CODE: message'.";

/// The MCP server: the tools over an [`AuthService`] on any [`AuthStore`].
pub struct AuthServer<S: AuthStore> {
    auth: Arc<AuthService<S>>,
    tool_router: ToolRouter<Self>,
    tools: ToolSelection,
    /// Served on stdio: a call with no authorized caller is the operator's, who started
    /// the server (an admin call's rule). Never over HTTP, whatever a request carries.
    operator: bool,
}

impl<S: AuthStore> Clone for AuthServer<S> {
    fn clone(&self) -> Self {
        Self {
            auth: self.auth.clone(),
            tool_router: self.tool_router.clone(),
            tools: self.tools.clone(),
            operator: self.operator,
        }
    }
}

#[tool_router]
impl<S: AuthStore> AuthServer<S> {
    /// Who makes an admin call: the authorized caller; else, on stdio, the operator who
    /// started the server; else no one.
    fn administrator<'c>(&self, context: &'c CallContext) -> Administrator<'c> {
        match &context.caller {
            Some(claims) => Administrator::Caller(claims),
            None if self.operator => Administrator::Operator,
            None => Administrator::Anonymous,
        }
    }

    /// Whether this server offers the toolset `name`.
    fn offers(&self, name: &str) -> bool {
        self.tools.toolsets().any(|s| s.name == name)
    }

    /// The server as stdio serves it: calls without an authorized caller are the
    /// operator's.
    pub fn for_the_operator(mut self) -> Self {
        self.operator = true;
        self
    }

    /// The auth service behind the tools.
    pub fn service(&self) -> &Arc<AuthService<S>> {
        &self.auth
    }

    /// A server offering the selected tools; the others are not listed and cannot be called.
    pub fn new(auth: Arc<AuthService<S>>, tools: &ToolSelection) -> Self {
        let mut tool_router = Self::tool_router();
        for name in all_tools().filter(|t| !tools.contains(t)) {
            tool_router.remove_route(name);
        }
        Self {
            auth,
            tool_router,
            tools: tools.clone(),
            operator: false,
        }
    }

    /// Create a new user account with an email and a password, and sign it in. Returns the
    /// user and an access token (a JWT, valid for 15 minutes by default). Fails with
    /// USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL if the email is taken, INVALID_EMAIL,
    /// PASSWORD_TOO_SHORT / PASSWORD_TOO_LONG or INVALID_NAME for bad input. When the
    /// deployment requires email verification, the user is created with no session and the
    /// token fields are null until the email is verified.
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
        Parameters(Args(args)): Parameters<Args<SignUpArgs>>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<Json<AuthResult>, String> {
        let args = args.map_err(invalid_arguments)?;
        let request = SignUp {
            email: args.email,
            password: args.password,
            name: args.name,
            from: CallContext::of(&context).client,
        };
        self.auth
            .sign_up(request)
            .await
            .map(|a| Json(a.into()))
            .map_err(tool_error)
    }

    /// Sign in with an email and a password. Returns the user and a new access token (a JWT,
    /// valid for 15 minutes by default). A wrong password and an unknown email both fail
    /// with INVALID_EMAIL_OR_PASSWORD; a user banned by the app's admin gets BANNED_USER, and
    /// an unverified user EMAIL_NOT_VERIFIED when the deployment requires verification. A
    /// user with two-factor authentication on gets TWO_FACTOR_REQUIRED unless totpCode (or a
    /// backupCode) is given with the password; a wrong one gets INVALID_TWO_FACTOR_CODE.
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
        Parameters(Args(args)): Parameters<Args<SignInArgs>>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<Json<AuthResult>, String> {
        let mut args = args.map_err(invalid_arguments)?;
        let second_factor = args.second_factor().map_err(invalid_arguments)?;
        let request = SignIn {
            email: args.email,
            password: args.password,
            second_factor,
            from: CallContext::of(&context).client,
        };
        self.auth
            .sign_in(request)
            .await
            .map(|a| Json(a.into()))
            .map_err(tool_error)
    }

    /// Sign a person in through the Better Auth app's own sign-in page, so that their
    /// password (or passkey, or social sign-in) never passes through this conversation.
    /// Takes no arguments. Answers status "pending" with verificationUriComplete (a link to
    /// show the person, on the app's configured domain), userCode (they check it on the
    /// page) and deviceCode (a secret: never show it); the person signs in there and
    /// approves; then call complete_browser_sign_in with deviceCode every `interval`
    /// seconds until it answers approved. If this client can open the link itself, the
    /// call may instead wait for the approval and answer status "approved" with
    /// sign_in's fields. Fails with RATE_LIMITED when too many sign-ins were begun.
    #[tool(
        name = "begin_browser_sign_in",
        title = "Begin a browser sign-in",
        output_schema = rmcp::handler::server::tool::schema_for_output::<BrowserSignInResult>(),
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn begin_browser_sign_in(
        &self,
        Parameters(Args(args)): Parameters<Args<BeginBrowserSignInArgs>>,
        RequestState(state): RequestState,
        InputResponses(responses): InputResponses,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<CallToolResponse, String> {
        let BeginBrowserSignInArgs {} = args.map_err(invalid_arguments)?;
        let call = CallContext::of(&context);
        let caller = call.caller.as_ref();
        let answer = |result: BrowserSignInResult| {
            serde_json::to_value(result)
                .map(|v| CallToolResult::structured(v).into())
                .map_err(|e| tool_error(AuthError::internal("an answer did not serialize", e)))
        };
        // 2026-07-28's retry of the input-required round trip: the sign-in already begun.
        if let Some(state) = state {
            return retried(&self.auth, &state, responses.as_ref(), caller, &context)
                .await
                .map_err(tool_error)
                .and_then(answer);
        }
        let started = self
            .auth
            .begin_browser_sign_in(call.client, caller)
            .await
            .map_err(tool_error)?;
        // (Only a 2026-07-28 peer can take an input-required result: rmcp makes it an
        // error for an older one, and the code just stored would be lost.)
        let round_trips = call
            .protocol_version
            .as_ref()
            .is_some_and(|v| *v >= rmcp::model::ProtocolVersion::V_2026_07_28);
        if round_trips
            && declares_url_input(&context)
            && !self.auth.browser_sign_in_wait_limit().is_zero()
        {
            return Ok(input_required(started));
        }
        match shown_and_awaited(&self.auth, &started, caller, &context).await {
            Some(Ok(signed_in)) => answer(BrowserSignInResult::approved(signed_in)),
            Some(Err(e)) => Err(tool_error(e)),
            None => answer(BrowserSignInResult::pending(started)),
        }
    }

    /// Finish a browser sign-in begun with begin_browser_sign_in, with its deviceCode, once
    /// the person approved on the app's page: answers status "approved" with sign_in's
    /// fields (user, access token, session token). Until then it fails with
    /// AUTHORIZATION_PENDING (call again after `interval` seconds); sooner than that with
    /// SLOW_DOWN; ACCESS_DENIED if the person declined, EXPIRED_TOKEN once the code
    /// expired (begin again), INVALID_DEVICE_CODE for a code unknown or already used; a
    /// banned user gets BANNED_USER. A code can be exchanged once.
    #[tool(
        name = "complete_browser_sign_in",
        title = "Complete a browser sign-in",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn complete_browser_sign_in(
        &self,
        Parameters(Args(args)): Parameters<Args<CompleteBrowserSignInArgs>>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<Json<ApprovedSignInResult>, String> {
        let args = args.map_err(invalid_arguments)?;
        let call = CallContext::of(&context);
        self.auth
            .complete_browser_sign_in(args.device_code.trim(), call.caller.as_ref(), call.client)
            .await
            .map(|a| Json(a.into()))
            .map_err(tool_error)
    }

    /// Check a credential. Access tokens (from sign_in, sign_up, refresh_token) are checked
    /// statelessly: signature, algorithm, expiry, issuer and audience, with no database
    /// read, so this is cheap enough to call before every step; a signed-out session's
    /// access token stays valid here until it expires (get_user refuses it). Better Auth
    /// session tokens and JWT-plugin tokens are looked up; a Better Auth API key is
    /// checked as the app checks it, and each check counts as one use of the key. Answers {valid: true, kind,
    /// claims, expiresAt} or {valid: false, reason}; an invalid token is a normal answer,
    /// not an error.
    #[tool(
        name = "verify_token",
        title = "Verify a token",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn verify_token(
        &self,
        Parameters(Args(args)): Parameters<Args<TokenArgs>>,
    ) -> Result<Json<VerifyResult>, String> {
        let args = args.map_err(invalid_arguments)?;
        let credential = strip_bearer(&args.token);
        let verified = self.auth.verify(credential).await;
        // With the organizations toolset, an organization's key says so.
        let verified = match verified {
            Ok(v) if v.api_key.is_some() && self.offers("organizations") => {
                self.auth.with_key_organization(v).await
            }
            other => other,
        };
        verify_answer(credential, verified)
    }

    /// Get the user behind a credential (an access token, a Better Auth session token or
    /// a JWT-plugin token). Fails with INVALID_TOKEN (the text names why; also for an
    /// access token whose session was signed out), USER_NOT_FOUND if the account no
    /// longer exists, or BANNED_USER for a banned user's session token. With the
    /// organizations tools, when the app uses Better Auth's organization plugin, the
    /// answer also has organizations (id, name, slug, the user's roles) and
    /// activeOrganizationId (the session's, or null).
    #[tool(
        name = "get_user",
        title = "Get the user of a token",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn get_user(
        &self,
        Parameters(Args(args)): Parameters<Args<GetUserArgs>>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<Json<GetUserResult>, String> {
        let args = args.map_err(invalid_arguments)?;
        let caller = CallContext::of(&context).caller;
        let who = principal(args.token.as_deref(), caller.as_ref())?;
        // Without the organizations toolset get_user reads nothing of the plugin.
        let answer = if self.offers("organizations") {
            self.auth.user_with_organizations(who).await
        } else {
            self.auth.user_of(who).await.map(|user| (user, None))
        };
        answer
            .map(|(user, organizations)| {
                Json(GetUserResult {
                    user: UserView::from(user),
                    organizations: organizations.map(Into::into),
                })
            })
            .map_err(tool_error)
    }

    /// Get a new access token for a session (the sessionToken from sign_in or sign_up, or
    /// a Better Auth session token; not the access token). Call it when an access token
    /// has expired. Extends the session the way Better Auth does (at most once a day).
    /// Fails with INVALID_TOKEN if the session was signed out or expired (then sign_in
    /// again), and with BANNED_USER if its user is banned.
    #[tool(
        name = "refresh_token",
        title = "Refresh an access token",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn refresh_token(
        &self,
        Parameters(Args(args)): Parameters<Args<SessionArgs>>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<Json<RefreshResult>, String> {
        let args = args.map_err(invalid_arguments)?;
        let from = CallContext::of(&context).client;
        self.auth
            .refresh_token(strip_bearer(&args.session_token), from)
            .await
            .map(|r| Json(r.into()))
            .map_err(tool_error)
    }

    /// End a session (sign out) with its sessionToken (not the access token). Afterwards
    /// refresh_token with it, and get_user with any access token issued for it, fail with
    /// INVALID_TOKEN. Signing out a session that already ended succeeds too, as in Better
    /// Auth.
    #[tool(
        name = "sign_out",
        title = "Sign out",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn sign_out(
        &self,
        Parameters(Args(args)): Parameters<Args<SessionArgs>>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<Json<SignOutResult>, String> {
        let args = args.map_err(invalid_arguments)?;
        let from = CallContext::of(&context).client;
        self.auth
            .sign_out(strip_bearer(&args.session_token), from)
            .await
            .map(|()| Json(SignOutResult { signed_out: true }))
            .map_err(tool_error)
    }

    /// Create a Better Auth API key for the user of a session (its sessionToken), for an
    /// agent or a job to use instead of a password: verify_token, get_user and this
    /// server over HTTP accept it (as a bearer token or in x-api-key), and so does the
    /// app. The key is shown once, in this answer; it is stored hashed. New keys follow the
    /// app's api-key plugin defaults: 10 requests a day, no expiry unless expiresIn (1 to
    /// 365 days, in seconds). Fails with PLUGIN_NOT_ENABLED when the app has no api-key
    /// plugin, INVALID_TOKEN for a session that ended.
    #[tool(
        name = "create_api_key",
        title = "Create an API key",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn create_api_key(
        &self,
        Parameters(Args(args)): Parameters<Args<CreateApiKeyArgs>>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<Json<CreatedApiKeyResult>, String> {
        let (session_token, request) = args.map_err(invalid_arguments)?.into_request();
        let from = CallContext::of(&context).client;
        self.auth
            .create_api_key(strip_bearer(&session_token), request, from)
            .await
            .map(|created| {
                Json(CreatedApiKeyResult {
                    key: created.key,
                    api_key: created.row.into(),
                })
            })
            .map_err(tool_error)
    }

    /// List the API keys of the user of a session (its sessionToken): their ids, names,
    /// first characters, limits and use counts; never a key itself.
    #[tool(
        name = "list_api_keys",
        title = "List API keys",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn list_api_keys(
        &self,
        Parameters(Args(args)): Parameters<Args<SessionArgs>>,
    ) -> Result<Json<ListApiKeysResult>, String> {
        let args = args.map_err(invalid_arguments)?;
        self.auth
            .list_api_keys(strip_bearer(&args.session_token))
            .await
            .map(|keys| {
                Json(ListApiKeysResult {
                    api_keys: keys.into_iter().map(ApiKeyView::from).collect(),
                })
            })
            .map_err(tool_error)
    }

    /// List the organizations (Better Auth's organization plugin) the user behind a
    /// credential is a member of: {organizations: [{id, name, slug, roles}]}, roles being
    /// the user's roles in each (e.g. ["owner"] or ["member", "auditor"]). Over HTTP with
    /// authorization on, leave token out for the caller's own. Fails with
    /// PLUGIN_NOT_ENABLED when the app does not use the organization plugin, and as
    /// get_user does for a bad credential.
    #[tool(
        name = "list_organizations",
        title = "List the user's organizations",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn list_organizations(
        &self,
        Parameters(Args(args)): Parameters<Args<ListOrganizationsArgs>>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<Json<ListOrganizationsResult>, String> {
        let args = args.map_err(invalid_arguments)?;
        let caller = CallContext::of(&context).caller;
        let who = principal(args.token.as_deref(), caller.as_ref())?;
        self.auth
            .organizations_of(who)
            .await
            .map(|view| {
                Json(ListOrganizationsResult {
                    organizations: view.organizations.into_iter().map(Into::into).collect(),
                })
            })
            .map_err(tool_error)
    }

    /// Revoke (delete) an API key of the user of a session, by its keyId (from
    /// create_api_key or list_api_keys). It stops working at once, here and in the app.
    /// A key of another user, or none, fails with INVALID_API_KEY.
    #[tool(
        name = "revoke_api_key",
        title = "Revoke an API key",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn revoke_api_key(
        &self,
        Parameters(Args(args)): Parameters<Args<RevokeApiKeyArgs>>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<Json<RevokeApiKeyResult>, String> {
        let args = args.map_err(invalid_arguments)?;
        let from = CallContext::of(&context).client;
        self.auth
            .revoke_api_key(strip_bearer(&args.session_token), &args.key_id, from)
            .await
            .map(|()| Json(RevokeApiKeyResult { revoked: true }))
            .map_err(tool_error)
    }

    /// Check whether the user behind a credential may do something in an organization,
    /// exactly as the Better Auth app's hasPermission decides: permissions maps resources
    /// to actions, e.g. {"member": ["create"]}, and allowed is true only when ONE of the
    /// user's roles there grants every action asked (an empty ask is not allowed). Roles
    /// are the organization plugin's (owner, admin, member, or the app's own) and the
    /// organization's dynamic roles. organizationId defaults to the session's active
    /// organization. A user who is not a member gets allowed: false and roles []. Fails
    /// with PLUGIN_NOT_ENABLED without the organization plugin, and with
    /// INVALID_ARGUMENTS when no organizationId is given and there is no active one.
    #[tool(
        name = "check_permission",
        title = "Check an organization permission",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn check_permission(
        &self,
        Parameters(Args(args)): Parameters<Args<CheckPermissionArgs>>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<Json<CheckPermissionResult>, String> {
        let mut args = args.map_err(invalid_arguments)?;
        let token = args.token.take();
        let check = args.check().map_err(invalid_arguments)?;
        let caller = CallContext::of(&context).caller;
        let who = principal(token.as_deref(), caller.as_ref())?;
        self.auth
            .check_permission(who, check)
            .await
            .map(|answer| Json(answer.into()))
            .map_err(tool_error)
    }

    /// List the users of the deployment (admin toolset), as the app's admin listUsers:
    /// {users, total}, each user with role, banned, banReason and banExpires. Search with
    /// searchValue in searchField ("email" by default, or "name"; case-sensitive in
    /// PostgreSQL); page with limit (default 100, at most 200) and offset; order with sortBy
    /// and sortDirection (default: oldest first). Over HTTP only an administrator may
    /// (FORBIDDEN otherwise).
    #[tool(
        name = "list_users",
        title = "List users",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn list_users(
        &self,
        Parameters(Args(args)): Parameters<Args<ListUsersArgs>>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<Json<ListUsersResult>, String> {
        let query = args
            .and_then(ListUsersArgs::query)
            .map_err(invalid_arguments)?;
        let context = CallContext::of(&context);
        self.auth
            .list_users(self.administrator(&context), &query, context.client)
            .await
            .map(|page| Json(page.into()))
            .map_err(tool_error)
    }

    /// Ban a user (admin toolset), as the app's admin banUser: they can no longer sign in
    /// (here or in the app: BANNED_USER) and every session of theirs ends at once. The ban
    /// lasts banExpiresIn seconds, or until unban_user when not given. You cannot ban
    /// yourself (YOU_CANNOT_BAN_YOURSELF). Answers the user as banned.
    #[tool(
        name = "ban_user",
        title = "Ban a user",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn ban_user(
        &self,
        Parameters(Args(args)): Parameters<Args<BanUserArgs>>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<Json<ManagedUserResult>, String> {
        let (user_id, ban) = args
            .and_then(BanUserArgs::request)
            .map_err(invalid_arguments)?;
        let context = CallContext::of(&context);
        self.auth
            .ban_user(self.administrator(&context), &user_id, ban, context.client)
            .await
            .map(|user| Json(ManagedUserResult { user: user.into() }))
            .map_err(tool_error)
    }

    /// Lift a user's ban (admin toolset), as the app's admin unbanUser: they may sign in
    /// again. Sessions ended by the ban stay ended.
    #[tool(
        name = "unban_user",
        title = "Unban a user",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn unban_user(
        &self,
        Parameters(Args(args)): Parameters<Args<UserIdArgs>>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<Json<ManagedUserResult>, String> {
        let args = args.map_err(invalid_arguments)?;
        let context = CallContext::of(&context);
        self.auth
            .unban_user(self.administrator(&context), &args.user_id, context.client)
            .await
            .map(|user| Json(ManagedUserResult { user: user.into() }))
            .map_err(tool_error)
    }

    /// Set a user's role (admin toolset), as the app's admin setRole: role replaces their
    /// roles ("admin", "user", or the app's own; a list is stored comma-separated). Giving
    /// "admin" makes them an administrator of the app and of these tools.
    #[tool(
        name = "set_role",
        title = "Set a user's role",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn set_role(
        &self,
        Parameters(Args(args)): Parameters<Args<SetRoleArgs>>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<Json<ManagedUserResult>, String> {
        let (user_id, role) = args
            .and_then(SetRoleArgs::request)
            .map_err(invalid_arguments)?;
        let context = CallContext::of(&context);
        self.auth
            .set_role(self.administrator(&context), &user_id, role, context.client)
            .await
            .map(|user| Json(ManagedUserResult { user: user.into() }))
            .map_err(tool_error)
    }

    /// End every session of a user (admin toolset), as the app's admin
    /// revokeUserSessions: they are signed out everywhere (their access tokens stop working
    /// for get_user and refresh_token). Answers {revoked: <how many>}.
    #[tool(
        name = "revoke_user_sessions",
        title = "Revoke a user's sessions",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn revoke_user_sessions(
        &self,
        Parameters(Args(args)): Parameters<Args<UserIdArgs>>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<Json<RevokeUserSessionsResult>, String> {
        let args = args.map_err(invalid_arguments)?;
        let context = CallContext::of(&context);
        self.auth
            .revoke_user_sessions(self.administrator(&context), &args.user_id, context.client)
            .await
            .map(|revoked| Json(RevokeUserSessionsResult { revoked }))
            .map_err(tool_error)
    }

    /// Delete a user for good (admin toolset), as the app's admin removeUser: the user,
    /// their sessions and their accounts (password included) are deleted; this cannot be
    /// undone. You cannot remove yourself (YOU_CANNOT_REMOVE_YOURSELF).
    #[tool(
        name = "remove_user",
        title = "Remove a user",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn remove_user(
        &self,
        Parameters(Args(args)): Parameters<Args<UserIdArgs>>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<Json<RemoveUserResult>, String> {
        let args = args.map_err(invalid_arguments)?;
        let context = CallContext::of(&context);
        self.auth
            .remove_user(self.administrator(&context), &args.user_id, context.client)
            .await
            .map(|()| Json(RemoveUserResult { removed: true }))
            .map_err(tool_error)
    }
}

/// Who a tool is about: the credential given, else the authorized caller; neither is a
/// missing token.
fn principal<'a>(
    token: Option<&'a str>,
    caller: Option<&'a AccessClaims>,
) -> Result<Principal<'a>, String> {
    match (token, caller) {
        (Some(token), _) => Ok(Principal::Credential(strip_bearer(token))),
        (None, Some(caller)) => Ok(Principal::Caller(caller)),
        (None, None) => Err(invalid_arguments(ArgumentError {
            field: Some("token".into()),
            problem: "missing".into(),
        })),
    }
}

#[tool_handler(router = self.tool_router)]
impl<S: AuthStore> rmcp::ServerHandler for AuthServer<S> {
    /// rmcp's router, but a tool of ours that this server does not offer is refused with
    /// the setting that would offer it (rather than as an unknown tool).
    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, rmcp::ErrorData> {
        // Counted and traced on this, the one path every transport's calls take (refusals
        // included).
        let tool = metrics::enabled().then(|| metrics::tool_label(&request.name));
        let cancelled = context.ct.clone();
        let span = traces::tools_call_span(&request, &context);
        let call = async move {
            let name: &str = &request.name;
            if all_tools().any(|t| t == name) && !self.tools.contains(name) {
                return Err(rmcp::ErrorData::invalid_params(
                    self.tools.not_offered(name),
                    None,
                ));
            }
            let call = rmcp::handler::server::tool::ToolCallContext::new(self, request, context);
            self.tool_router.call(call).await
        };
        metrics::record_call(tool, &cancelled, traces::traced_call(span, call)).await
    }

    /// The offered tools, as `#[tool_handler]` would list them (with the cache hints of
    /// 2026-07-28's clients), in a span.
    async fn list_tools(
        &self,
        _request: Option<rmcp::model::PaginatedRequestParams>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::ListToolsResult, rmcp::ErrorData> {
        let span = traces::tools_list_span(&context);
        let _in_span = span.enter();
        let cache_hints = context
            .protocol_version()
            .is_some_and(|version| version >= rmcp::model::ProtocolVersion::V_2026_07_28);
        Ok(rmcp::model::ListToolsResult {
            result_type: Some(rmcp::model::ResultType::COMPLETE),
            tools: self.tool_router.list_all(),
            meta: None,
            next_cursor: None,
            ttl_ms: cache_hints.then_some(0),
            cache_scope: cache_hints.then_some(rmcp::model::CacheScope::Public),
        })
    }

    /// rmcp's own answer (as its documentation has an override give it), in a span.
    async fn initialize(
        &self,
        request: rmcp::model::InitializeRequestParams,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::InitializeResult, rmcp::ErrorData> {
        let span = traces::initialize_span(&context);
        let _in_span = span.enter();
        context.peer.set_peer_info(request.clone());
        let answer = self.negotiate_initialize(&request);
        traces::record_initialized(&span, &answer);
        answer
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("better-auth-mcp", env!("CARGO_PKG_VERSION"))
                    .with_title("Better Auth MCP"),
            )
            .with_instructions(INSTRUCTIONS)
    }
}
