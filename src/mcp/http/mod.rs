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
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;

mod authorization;
mod client_address;
mod messages;
mod origins;

pub use authorization::HttpAuth;

use super::AuthServer;
use super::context::CallContext;
use crate::better_auth::AuthStore;
use authorization::{Gate, METADATA_PATH, refuse_two_authorizations, require_bearer};
use client_address::client_address;
use messages::refuse_unreadable_messages;
use origins::{cors, without_partial_cors};

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

/// Whether the database answers, for `/readyz`.
pub trait Readiness: Send + Sync + 'static {
    fn ready(&self) -> impl Future<Output = Result<(), String>> + Send;
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
