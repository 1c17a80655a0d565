//! The do-nothing server: the SDK's own cost, against which ours is compared, over stdio
//! (`loadgen null-server`) and behind rmcp's Streamable HTTP service
//! (`loadgen null-http-server PORT`).

use std::sync::Arc;

use better_auth_mcp::mcp::types::VerifyResult;
use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::{Json, tool, tool_handler, tool_router};
use serde_json::json;

/// The do-nothing server: an rmcp server on the same stdio transport as ours, with one
/// tool, verify_token, whose result is a fixed verify_token answer of the same shape and
/// size. What it costs is the SDK's part of a call, so our server against it measures
/// what our code adds.
#[derive(Clone)]
pub struct NullServer {
    verified: Arc<VerifyResult>,
    tool_router: ToolRouter<Self>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct NullArgs {
    #[allow(dead_code)]
    token: String,
}

#[tool_router]
impl NullServer {
    pub fn new() -> Self {
        let verified = json!({
            "claims": {
                "email": "bench1234-0@example.com",
                "exp": 1795732557,
                "iat": 1795731657,
                "sid": "1WVAtlF4Dwrgpkyr5j4bDlePp1oOQFls",
                "sub": "W7cLwg7wel9JdfnE4a05I24HSJWXGPWO"
            },
            "expiresAt": "2026-11-26T22:35:57.000Z",
            "kind": "access_token",
            "valid": true
        });
        Self {
            verified: Arc::new(serde_json::from_value(verified).unwrap()),
            tool_router: Self::tool_router(),
        }
    }

    /// Answers every call with the same verify_token result.
    #[tool(name = "verify_token", annotations(read_only_hint = true))]
    async fn verify_token(&self, Parameters(_): Parameters<NullArgs>) -> Json<VerifyResult> {
        Json((*self.verified).clone())
    }
}

#[tool_handler(router = self.tool_router)]
impl rmcp::ServerHandler for NullServer {}

/// [`NullServer`] behind rmcp's Streamable HTTP service configured as ours (stateless,
/// JSON answers, no keep-alive stream), in axum, as rmcp's examples serve it.
pub async fn serve_null_http(listener: tokio::net::TcpListener) {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
    };
    let server = NullServer::new();
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None);
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(|| async { "ready" }));
    axum::serve(listener, app).await.unwrap();
}
