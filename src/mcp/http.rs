//! MCP over Streamable HTTP: rmcp's `StreamableHttpService`, stateless (no protocol
//! session, JSON answers), at `/mcp` in an axum router with `/healthz` and `/readyz`, served
//! by hyper with the guard rails a public endpoint needs: allowed Host names and Origins
//! (with CORS for the allowed ones), a body limit, header and request timeouts, caps on
//! requests in flight and on open connections, JSON-RPC errors for bodies rmcp cannot
//! read, and a graceful drain on shutdown. The tools are the same [`AuthServer`] as on stdio.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;

use super::AuthServer;
use super::context::CallContext;
use crate::better_auth::{AuthError, AuthService, AuthStore, Resource};

/// How the HTTP endpoint is guarded.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub addr: SocketAddr,
    /// Host names (or `host:port`) requests may name; loopback names by default.
    pub allowed_hosts: Vec<String>,
    /// Browser Origins allowed (on a loopback address answering to loopback Host names,
    /// the [`HttpSettings::loopback_origins`] too), CORS included; a request with any
    /// other `Origin` gets 403.
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

const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

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

impl HttpSettings {
    /// The Host names a server on `addr` answers to by default: the loopback names (and
    /// with the port), as rmcp's DNS-rebinding guard has them.
    pub fn loopback_hosts(addr: SocketAddr) -> Vec<String> {
        let port = addr.port();
        LOOPBACK_NAMES
            .iter()
            .flat_map(|h| [h.to_string(), format!("{h}:{port}")])
            .collect()
    }

    /// The Origins of pages served from this machine, any port, http or https: allowed
    /// besides `allowed_origins` when the server listens on a loopback address and answers
    /// only to loopback Host names, where only this machine's processes reach it anyway
    /// (a foreign page still gets 403).
    pub fn loopback_origins() -> Vec<String> {
        LOOPBACK_NAMES
            .iter()
            .flat_map(|h| ["http", "https"].map(|scheme| format!("{scheme}://{h}:*")))
            .collect()
    }

    /// The Origins allowed on `listening`: `allowed_origins`, and the
    /// [`HttpSettings::loopback_origins`] when `listening` is a loopback address and every
    /// allowed Host is a loopback name (behind a local reverse proxy or a tunnel, with
    /// `--allowed-hosts mcp.example.com`, pages from anywhere reach the server).
    fn origins_on(&self, listening: SocketAddr) -> Vec<String> {
        let mut origins = self.allowed_origins.clone();
        if listening.ip().is_loopback() && only_loopback_names(&self.allowed_hosts) {
            origins.extend(Self::loopback_origins());
        }
        origins
    }
}

/// The names of this machine, as Host names and in Origins.
const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// Whether `hosts` names only loopback hosts (with or without a port); an empty list lets
/// every Host through, so it does not.
fn only_loopback_names(hosts: &[String]) -> bool {
    let host_of = |entry: &str| {
        let entry = entry.trim();
        let host = axum::http::uri::Authority::try_from(entry)
            .map(|a| a.host().to_owned())
            .unwrap_or_else(|_| entry.to_owned());
        host.trim_matches(['[', ']']).to_ascii_lowercase()
    };
    !hosts.is_empty()
        && hosts.iter().all(|entry| {
            let host = host_of(entry);
            LOOPBACK_NAMES
                .iter()
                .any(|name| name.trim_matches(['[', ']']) == host)
        })
}

/// An entry of the allowed-Origin list, matched as rmcp's Origin check matches it:
/// `null`, or a scheme and host with a port (`:*`, or none, for any port; an Origin
/// without a port has its scheme's default one).
#[derive(Debug, PartialEq, Eq)]
enum OriginRule {
    Null,
    Tuple {
        scheme: String,
        host: String,
        port: Option<u16>,
    },
}

/// An Origin (or an allowed-Origin entry): `null`, or scheme, host and port if any.
fn parse_origin(value: &str) -> Option<OriginRule> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("null") {
        return Some(OriginRule::Null);
    }
    let uri = axum::http::Uri::try_from(value).ok()?;
    let authority = uri.authority()?;
    Some(OriginRule::Tuple {
        scheme: uri.scheme_str()?.to_ascii_lowercase(),
        host: authority
            .host()
            .trim_matches(['[', ']'])
            .to_ascii_lowercase(),
        port: authority.port_u16(),
    })
}

impl OriginRule {
    fn parse(entry: &str) -> Option<Self> {
        match entry.trim().strip_suffix(":*") {
            Some(base) => match parse_origin(base)? {
                rule @ Self::Tuple { port: None, .. } => Some(rule),
                _ => None,
            },
            None => parse_origin(entry),
        }
    }

    fn matches(&self, origin: &OriginRule) -> bool {
        match (self, origin) {
            (Self::Null, Self::Null) => true,
            (
                Self::Tuple { scheme, host, port },
                Self::Tuple {
                    scheme: o_scheme,
                    host: o_host,
                    port: o_port,
                },
            ) => {
                let default = match o_scheme.as_str() {
                    "http" => Some(80),
                    "https" => Some(443),
                    _ => None,
                };
                scheme == o_scheme
                    && host == o_host
                    && port.is_none_or(|port| o_port.or(default) == Some(port))
            }
            _ => false,
        }
    }
}

/// Whether a browser page of `origin` may call, by the allowed-Origin `rules`.
fn origin_allowed(origin: &str, rules: &[OriginRule]) -> bool {
    parse_origin(origin).is_some_and(|origin| rules.iter().any(|rule| rule.matches(&origin)))
}

/// CORS for the allowed Origins: their preflights are answered here, before any other
/// layer (no bearer token is asked of a preflight), with the methods and headers an MCP
/// client sends, and their answers expose `WWW-Authenticate` and `Mcp-Session-Id`.
/// Another Origin's preflight gets no `Access-Control-Allow-*` headers (see
/// [`without_partial_cors`]) and its requests still get 403 from rmcp.
fn cors(allowed_origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, Method};
    let rules: Arc<Vec<OriginRule>> = Arc::new(
        allowed_origins
            .iter()
            .filter_map(|entry| OriginRule::parse(entry))
            .collect(),
    );
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::AllowOrigin::predicate(
            move |origin, _parts| {
                origin
                    .to_str()
                    .is_ok_and(|origin| origin_allowed(origin, &rules))
            },
        ))
        .allow_methods([Method::POST, Method::GET, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("mcp-protocol-version"),
            HeaderName::from_static("mcp-session-id"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::WWW_AUTHENTICATE,
            HeaderName::from_static("mcp-session-id"),
        ])
}

/// Drops the `Access-Control-*` headers the CORS layer adds whatever the Origin (the
/// methods, the headers) from an answer that allows no Origin.
async fn without_partial_cors(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        let partial: Vec<_> = headers
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in partial {
            headers.remove(name);
        }
    }
    response
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
        oauth_refusal(Some(&gate.settings), status, error, description)
    };
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
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
            super::log_failure(&e);
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

/// Refuses a request with more than one `Authorization` header: 400 `invalid_request`
/// (RFC 6750, section 3.1). Also without --require-auth: a gateway in front that
/// authorizes callers may read another of the headers than whatever reads them after it,
/// so a request that is ambiguous about its caller goes no further.
async fn refuse_two_authorizations(
    axum::extract::State(auth): axum::extract::State<Option<Arc<HttpAuth>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if request
        .headers()
        .get_all(header::AUTHORIZATION)
        .iter()
        .nth(1)
        .is_some()
    {
        return oauth_refusal(
            auth.as_deref(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "more than one Authorization header",
        );
    }
    next.run(request).await
}

/// Answers, as JSON-RPC asks (400 with an error object), a POSTed JSON body rmcp refuses
/// with 415 and its deserializer's text: one that is not JSON (-32700), a batch (-32600;
/// Streamable HTTP has no batches since 2025-06-18), or JSON that is no JSON-RPC message
/// (-32600). The body is read here (413 past the limit) and handed to rmcp, which does
/// every check (Host, Origin, Accept first) and parses it; only its 415 is replaced, from
/// the bytes read.
async fn refuse_unreadable_messages(
    axum::extract::State(max_bytes): axum::extract::State<usize>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if request.method() != axum::http::Method::POST || !is_json(request.headers()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match read_body(body, max_bytes).await {
        Ok(bytes) => bytes,
        Err(refusal) => return refusal,
    };
    let answer = next
        .run(axum::extract::Request::from_parts(
            parts,
            Body::from(bytes.clone()),
        ))
        .await;
    if answer.status() != StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return answer;
    }
    let (code, message) = unreadable(&bytes);
    // Not rmcp's text: it can quote the body, arguments and all.
    tracing::debug!(code, "an unreadable JSON-RPC message was refused");
    let answer = serde_json::json!({"jsonrpc": "2.0", "id": readable_id(&bytes),
        "error": {"code": code, "message": message}});
    (StatusCode::BAD_REQUEST, axum::Json(answer)).into_response()
}

/// Whether the request says its body is JSON (else rmcp answers 415 itself, rightly).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// The whole body (axum's limited read), or the answer rmcp gives a body over its limit
/// (413).
async fn read_body(body: Body, max_bytes: usize) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, max_bytes).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|cause| cause.is::<http_body_util::LengthLimitError>());
        if too_large {
            let refusal = format!("Payload Too Large: request body exceeds {max_bytes} bytes");
            return (StatusCode::PAYLOAD_TOO_LARGE, refusal).into_response();
        }
        tracing::debug!("a request body could not be read: {e}");
        (
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        )
            .into_response()
    })
}

/// The JSON-RPC error code and message for a body that is not a JSON-RPC message: not
/// JSON at all (the message's own error may be found first, as in `{"id":1} {"id":2}`), a
/// batch, or any other JSON.
fn unreadable(body: &[u8]) -> (i64, &'static str) {
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
        (-32700, "Parse error: the body is not JSON")
    } else if body.trim_ascii_start().starts_with(b"[") {
        (-32600, "Invalid Request: batches are not supported")
    } else {
        (-32600, "Invalid Request: not a JSON-RPC 2.0 message")
    }
}

/// The `id` of a JSON object that is not a valid message, if it has a valid one (JSON-RPC:
/// null when it cannot be told).
fn readable_id(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("id").cloned())
        .filter(|id| id.is_string() || id.is_i64() || id.is_u64())
        .unwrap_or(serde_json::Value::Null)
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
    let allowed_origins = settings.origins_on(listener.local_addr()?);
    let cors = cors(&allowed_origins);
    // rmcp's own token ends its streams: cancelled only once the drain is over.
    let mcp_stopped = CancellationToken::new();
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_allowed_hosts(settings.allowed_hosts.clone())
        .with_allowed_origins(allowed_origins)
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
        .layer(axum::middleware::from_fn_with_state(
            settings.auth.clone().map(Arc::new),
            refuse_two_authorizations,
        ))
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
        .layer(axum::middleware::from_fn_with_state(
            settings.max_body_bytes,
            refuse_unreadable_messages,
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
    // Outermost: a preflight is answered before the gate and the limits.
    let app = app
        .layer(cors)
        .layer(axum::middleware::map_response(without_partial_cors));

    let trusted_proxies = Arc::new(settings.trusted_proxies.clone());
    let graceful = GracefulShutdown::new();
    // One permit per open connection, held by its task until the connection ends.
    let max_connections = settings
        .max_connections
        .min(tokio::sync::Semaphore::MAX_PERMITS);
    let connections = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let mut refusals = Refusals::default();
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
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            drop(stream);
            refusals.note(peer, max_connections);
            continue;
        };
        let trusted = trusted_proxies.clone();
        let app = ServiceBuilder::new()
            .map_request(
                move |mut request: axum::http::Request<hyper::body::Incoming>| {
                    let client = client_address(peer.ip(), request.headers(), &trusted);
                    request.extensions_mut().insert(CallContext {
                        client: Some(client),
                        ..CallContext::default()
                    });
                    request
                },
            )
            .service(app.clone());
        let service = TowerToHyperService::new(app);
        // HTTP/1 only, served at once: hyper's header timer then runs from the accept, so
        // a connection that sends nothing is closed at the header timeout too (the version
        // sniffing of hyper-util's auto builder would wait for a first byte forever).
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(settings.header_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection ended: {e}");
            }
            drop(permit);
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

/// Connections closed at once because HTTP_MAX_CONNECTIONS were open: the first is
/// logged at warn, then one warning a minute at most (with the count), the rest at debug.
#[derive(Default)]
struct Refusals {
    since_warning: u64,
    last_warning: Option<Instant>,
}

impl Refusals {
    const WARN_EVERY: Duration = Duration::from_secs(60);

    fn note(&mut self, peer: SocketAddr, max_connections: usize) {
        self.since_warning += 1;
        if self
            .last_warning
            .is_some_and(|at| at.elapsed() < Self::WARN_EVERY)
        {
            tracing::debug!(%peer, "a connection was closed at once: too many are open");
            return;
        }
        tracing::warn!(
            max_connections,
            closed = self.since_warning,
            "HTTP_MAX_CONNECTIONS connections are open: new ones are closed at once"
        );
        self.since_warning = 0;
        self.last_warning = Some(Instant::now());
    }
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
    fn a_body_rmcp_cannot_read_is_a_parse_error_or_an_invalid_request() {
        let code_of = |body: &str| {
            serde_json::from_str::<rmcp::model::ClientJsonRpcMessage>(body).expect_err(body);
            (unreadable(body.as_bytes()).0, readable_id(body.as_bytes()))
        };
        let null = serde_json::Value::Null;
        assert_eq!(code_of("{not json"), (-32700, null.clone()));
        assert_eq!(code_of(""), (-32700, null.clone()));
        assert_eq!(code_of(r#"{"id":1} {"id":2}"#), (-32700, null.clone()));
        assert_eq!(
            code_of(r#" [{"jsonrpc":"2.0","id":1,"method":"ping"}]"#),
            (-32600, null.clone())
        );
        assert_eq!(code_of("5"), (-32600, null.clone()));
        assert_eq!(code_of(r#"{"id":7,"hello":"world"}"#), (-32600, 7.into()));
        assert_eq!(
            code_of(r#"{"id":{"no":1},"hello":"world"}"#),
            (-32600, null)
        );
        serde_json::from_str::<rmcp::model::ClientJsonRpcMessage>(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        )
        .expect("a message goes on to rmcp");
    }

    #[test]
    fn the_loopback_origins_are_the_three_loopback_names_on_any_port() {
        let origins = HttpSettings::loopback_origins();
        assert_eq!(origins.len(), 6);
        assert!(origins.contains(&"http://localhost:*".to_owned()));
        assert!(origins.contains(&"https://[::1]:*".to_owned()));
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let hosts = HttpSettings::loopback_hosts(addr);
        assert_eq!(hosts.len(), 6);
        assert!(hosts.contains(&"[::1]:8080".to_owned()));
    }

    fn settings(addr: &str, hosts: &[&str]) -> HttpSettings {
        let addr: SocketAddr = addr.parse().unwrap();
        HttpSettings {
            addr,
            allowed_hosts: if hosts.is_empty() {
                HttpSettings::loopback_hosts(addr)
            } else {
                hosts.iter().map(|h| h.to_string()).collect()
            },
            allowed_origins: vec!["https://app.example.com".into()],
            max_body_bytes: 1 << 20,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_in_flight: 256,
            max_connections: 4096,
            drain: Duration::from_secs(10),
            auth: None,
            trusted_proxies: vec![],
        }
    }

    #[test]
    fn loopback_origins_are_added_only_on_loopback_answering_to_loopback_names() {
        let with_loopback = |addr: &str, hosts: &[&str]| {
            let s = settings(addr, hosts);
            let origins = s.origins_on(s.addr);
            assert!(origins.contains(&"https://app.example.com".to_owned()));
            origins.contains(&"http://localhost:*".to_owned())
        };
        assert!(with_loopback("127.0.0.1:8080", &[]), "the default hosts");
        assert!(with_loopback("[::1]:8080", &[]));
        assert!(with_loopback(
            "127.0.0.1:8080",
            &["localhost:8080", "[::1]", "::1"]
        ));
        assert!(!with_loopback("127.0.0.1:8080", &["mcp.example.com"]));
        assert!(!with_loopback(
            "127.0.0.1:8080",
            &["localhost", "mcp.example.com"]
        ));
        assert!(!with_loopback("127.0.0.1:8080", &["localhost.example.com"]));
        assert!(
            !with_loopback("0.0.0.0:8080", &[]),
            "not a loopback address"
        );
        assert!(!only_loopback_names(&[]), "no list lets every Host through");
    }

    #[test]
    fn cors_allows_the_origins_rmcp_allows() {
        let rules: Vec<OriginRule> = HttpSettings::loopback_origins()
            .iter()
            .chain(&[
                "https://app.example.com".to_owned(),
                "http://exact.example.com:8080".to_owned(),
                "https://implied.example.com:443".to_owned(),
                "not an origin".to_owned(),
            ])
            .filter_map(|entry| OriginRule::parse(entry))
            .collect();
        assert_eq!(rules.len(), 9);
        for origin in [
            "http://localhost:5173",
            "https://localhost",
            "http://127.0.0.1:6274",
            "https://[::1]:8443",
            "HTTP://LocalHost:5173",
            "https://app.example.com",
            "https://app.example.com:8443",
            "http://exact.example.com:8080",
            "https://implied.example.com",
        ] {
            assert!(origin_allowed(origin, &rules), "{origin}");
        }
        for origin in [
            "http://evil.example.com",
            "http://localhost.evil.example.com:5173",
            "http://127.0.0.2:5173",
            "null",
            "http://app.example.com",
            "http://exact.example.com:8081",
            "http://exact.example.com",
            "garbage",
        ] {
            assert!(!origin_allowed(origin, &rules), "{origin}");
        }
        assert_eq!(OriginRule::parse("https://a.example:443:*"), None);
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
