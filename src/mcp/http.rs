//! MCP over Streamable HTTP: rmcp's `StreamableHttpService`, stateless (no protocol
//! session, JSON answers), at `/mcp` in an axum router with `/healthz` and `/readyz`, served
//! by hyper with the guard rails a public endpoint needs: allowed Host names and Origins,
//! a body limit, header and request timeouts, a cap on requests in flight, and a graceful
//! drain on shutdown. The tools are the same [`AuthServer`] as on stdio.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;

use super::AuthServer;
use crate::better_auth::{AuthError, AuthService, AuthStore, Resource};

/// How the HTTP endpoint is guarded.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub addr: SocketAddr,
    /// Host names (or `host:port`) requests may name; loopback names by default.
    pub allowed_hosts: Vec<String>,
    /// Browser Origins allowed; a request with any other `Origin` gets 403.
    pub allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
    /// How long a client may take to send its request headers.
    pub header_timeout: Duration,
    /// How long a request may take from its headers to its answer.
    pub request_timeout: Duration,
    /// Requests handled at once; past it a request gets 503 at once.
    pub max_in_flight: usize,
    /// Connections open at once (idle keep-alive ones included); past it a new
    /// connection is closed at once, so file descriptors cannot run out.
    pub max_connections: usize,
    /// How long a shutdown waits for requests in flight.
    pub drain: Duration,
    /// Callers must bring a bearer token (None: anyone who reaches the server may call).
    pub auth: Option<HttpAuth>,
    /// Proxies whose `X-Forwarded-For` names the client (else the socket's peer is it).
    pub trusted_proxies: Vec<IpAddr>,
}

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
    fn split(&self) -> (&str, &str) {
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
    fn metadata(&self) -> serde_json::Value {
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

const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The caller, as its bearer token says (in the request's extensions for the tools).
#[derive(Debug, Clone)]
pub struct Caller(pub crate::better_auth::AccessClaims);

/// The address of the client of an HTTP request (in its extensions for the tools).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub IpAddr);

/// The client's address: the socket's peer, or, when the peer is a trusted proxy, the last
/// address of `X-Forwarded-For` that is not a trusted proxy (the ones before it could be
/// anything the client sent).
fn client_address(peer: IpAddr, headers: &axum::http::HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

/// The client address of the HTTP request of this tool call, if it came over HTTP.
pub fn client(context: &rmcp::service::RequestContext<rmcp::RoleServer>) -> Option<IpAddr> {
    of_http_request::<ClientAddress>(context).map(|c| c.0)
}

/// The claims of an authorized HTTP caller, if this tool call came from one.
pub fn caller(
    context: &rmcp::service::RequestContext<rmcp::RoleServer>,
) -> Option<&crate::better_auth::AccessClaims> {
    of_http_request::<Caller>(context).map(|c| &c.0)
}

/// What the HTTP layer put in the extensions of the request a tool call came in (rmcp
/// hands the tools the request's parts); None on stdio.
fn of_http_request<T: Send + Sync + 'static>(
    context: &rmcp::service::RequestContext<rmcp::RoleServer>,
) -> Option<&T> {
    context
        .extensions
        .get::<axum::http::request::Parts>()?
        .extensions
        .get::<T>()
}

impl HttpSettings {
    /// The Host names a server on `addr` answers to by default: the loopback names (and
    /// with the port), as rmcp's DNS-rebinding guard has them.
    pub fn loopback_hosts(addr: SocketAddr) -> Vec<String> {
        let port = addr.port();
        ["localhost", "127.0.0.1", "[::1]", "::1"]
            .iter()
            .flat_map(|h| [h.to_string(), format!("{h}:{port}")])
            .collect()
    }
}

/// Whether the database answers, for `/readyz`.
pub trait Readiness: Send + Sync + 'static {
    fn ready(&self) -> impl Future<Output = Result<(), String>> + Send;
}

/// What the bearer-token check needs.
struct Gate<S: AuthStore> {
    auth: Arc<AuthService<S>>,
    settings: HttpAuth,
}

/// Lets a request through to the tools only with a bearer token that verifies for this
/// resource (401 with a `WWW-Authenticate` challenge naming the metadata otherwise) and
/// grants the required scope (else 403).
async fn require_bearer<S: AuthStore>(
    axum::extract::State(gate): axum::extract::State<Arc<Gate<S>>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let refuse = |status: StatusCode, error: &str, description: &str| {
        let challenge = gate.settings.challenge(error, description);
        let body = serde_json::json!({"error": error, "error_description": description});
        (
            status,
            [(axum::http::header::WWW_AUTHENTICATE, challenge)],
            axum::Json(body),
        )
            .into_response()
    };
    let token = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        });
    let Some(token) = token else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "a bearer token is required",
        );
    };
    let claims = match gate.auth.authorize(token, &gate.settings.resource).await {
        Ok(claims) => claims,
        Err(AuthError::InvalidToken(reason)) => {
            tracing::info!(%reason, "a caller's token was refused");
            return refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                &format!("the token is not valid ({reason})"),
            );
        }
        Err(e) => {
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
    request.extensions_mut().insert(Caller(claims));
    next.run(request).await
}

/// Serves MCP at `http://addr/mcp` until `shutdown` is cancelled; then stops accepting,
/// answers the requests in flight (for at most the drain time) and returns.
pub async fn serve<S: AuthStore, R: Readiness>(
    server: AuthServer<S>,
    readiness: Arc<R>,
    settings: HttpSettings,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(settings.addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "serving MCP over HTTP at /mcp");
    serve_on(listener, server, readiness, settings, shutdown).await
}

/// [`serve`] on a listener already bound.
pub async fn serve_on<S: AuthStore, R: Readiness>(
    listener: TcpListener,
    server: AuthServer<S>,
    readiness: Arc<R>,
    settings: HttpSettings,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let auth_service = server.service().clone();
    // rmcp's own token ends its streams: cancelled only once the drain is over.
    let mcp_stopped = CancellationToken::new();
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_allowed_hosts(settings.allowed_hosts.clone())
        .with_allowed_origins(settings.allowed_origins.clone())
        .enforce_origin_validation()
        .with_max_request_body_bytes(settings.max_body_bytes)
        .with_cancellation_token(mcp_stopped.clone());
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let gate = settings.auth.clone().map(|auth| {
        Arc::new(Gate {
            auth: auth_service.clone(),
            settings: auth,
        })
    });
    let guarded = ServiceBuilder::new()
        .option_layer(
            gate.clone()
                .map(|gate| axum::middleware::from_fn_with_state(gate, require_bearer::<S>)),
        )
        .layer(axum::error_handling::HandleErrorLayer::new(overloaded))
        .load_shed()
        .concurrency_limit(settings.max_in_flight)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout,
        ))
        .service(mcp);
    let mut app = Router::new()
        .nest_service("/mcp", guarded)
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let readiness = readiness.clone();
                async move {
                    match readiness.ready().await {
                        Ok(()) => (StatusCode::OK, "ready".to_owned()),
                        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
                    }
                }
            }),
        );

    if let Some(auth) = &settings.auth {
        let metadata = axum::Json(auth.metadata());
        let (_, path) = auth.split();
        let inserted = format!("{METADATA_PATH}{}", path.trim_end_matches('/'));
        let serve_metadata = get(move || {
            let metadata = metadata.clone();
            async move { metadata }
        });
        app = app.route(METADATA_PATH, serve_metadata.clone());
        if inserted != METADATA_PATH {
            app = app.route(&inserted, serve_metadata);
        }
    }

    let trusted_proxies = Arc::new(settings.trusted_proxies.clone());
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let trusted = trusted_proxies.clone();
        let app = ServiceBuilder::new()
            .map_request(
                move |mut request: axum::http::Request<hyper::body::Incoming>| {
                    let client = client_address(peer.ip(), request.headers(), &trusted);
                    request.extensions_mut().insert(ClientAddress(client));
                    request
                },
            )
            .service(app.clone());
        let service = TowerToHyperService::new(app);
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(settings.header_timeout);
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
    drop(listener);
    tracing::info!("draining the requests in flight");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("drained"),
        () = tokio::time::sleep(settings.drain) => {
            tracing::warn!("requests still in flight after the drain time; stopping")
        }
    }
    mcp_stopped.cancel();
    Ok(())
}

/// What the load-shedding layer's refusal becomes: 503, at once.
async fn overloaded(error: tower::BoxError) -> impl IntoResponse {
    if error.is::<tower::load_shed::error::Overloaded>() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests in flight; retry",
        )
    } else {
        tracing::warn!("request failed: {error}");
        (StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_the_peer_unless_a_trusted_proxy_names_it() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, 198.51.100.7".parse().unwrap());
        assert_eq!(
            client_address(peer, &headers, &[proxy]),
            peer,
            "not a proxy"
        );
        assert_eq!(
            client_address(proxy, &headers, &[proxy]),
            "198.51.100.7".parse::<IpAddr>().unwrap(),
            "the last address the proxy added, not what the client wrote before it"
        );
        let inner: IpAddr = "10.0.0.2".parse().unwrap();
        headers.insert("x-forwarded-for", "198.51.100.7, 10.0.0.2".parse().unwrap());
        assert_eq!(
            client_address(proxy, &headers, &[proxy, inner]),
            "198.51.100.7".parse::<IpAddr>().unwrap(),
            "through two trusted proxies"
        );
        headers.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(client_address(proxy, &headers, &[proxy]), proxy);
    }

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
