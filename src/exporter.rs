//! Prometheus metrics at `http://ADDR/metrics` (`--metrics-addr`), on a listener of its own
//! whatever the transport (on stdio, stdout stays the protocol). The `metrics` facade's
//! recorder is metrics-exporter-prometheus's, without its own HTTP listener: the text is
//! served by axum over hyper, as `/mcp` is, so there is one way of serving HTTP here
//! (with limits of its own: a header timeout, one scrape a connection, a bounded life). The connection pool's gauges are read at each scrape, so
//! they cost nothing between scrapes. What is counted, and its labels, is
//! [`crate::mcp::metrics`]'s.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::mcp::metrics::{RATE_LIMITED, TOOL_CALL_DURATION, TOOL_CALLS, VERIFICATIONS};
use crate::store::Store;

pub const POOL_MAX: &str = "database_pool_max_connections";
pub const POOL_SIZE: &str = "database_pool_connections";
pub const POOL_IDLE: &str = "database_pool_idle_connections";
pub const POOL_WAITING: &str = "database_pool_waiting";

/// Seconds: from a verify_token (tens of microseconds) to a password hash under load.
const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// A scraper has this long to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a scrape's connection lives, answer written included.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
/// Scrapes served at once; a connection past it is closed at once.
const MAX_CONNECTIONS: usize = 16;
/// How often histograms are drained into their buckets between scrapes (memory stays
/// bounded when nobody scrapes).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ExporterError {
    #[error("BETTER_AUTH_MCP_METRICS_ADDR {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("metrics: {0}")]
    Recorder(String),
}

/// Installs the recorder, binds `addr` and serves `/metrics` there in the background;
/// from then on calls are measured. Returns the address bound.
pub async fn start(addr: SocketAddr, store: Store) -> Result<SocketAddr, ExporterError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ExporterError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ExporterError::Bind { addr, source })?;
    let handle = install()?;
    crate::mcp::metrics::enable();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP_EVERY);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    tokio::spawn(serve(listener, handle, store));
    tracing::info!(addr = %bound, "serving Prometheus metrics at /metrics");
    if !bound.ip().is_loopback() {
        tracing::warn!(
            addr = %bound,
            "the metrics listener is not on loopback: anyone who reaches it reads the \
             counts (no authorization, any Host header)"
        );
    }
    Ok(bound)
}

/// The Prometheus recorder as the `metrics` facade's, the duration a histogram.
fn install() -> Result<PrometheusHandle, ExporterError> {
    let fail = |e: &dyn std::fmt::Display| ExporterError::Recorder(e.to_string());
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(TOOL_CALL_DURATION.into()), DURATION_BUCKETS)
        .map_err(|e| fail(&e))?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| fail(&e))?;
    describe();
    Ok(handle)
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        TOOL_CALLS,
        "Tool calls, by tool and outcome (ok or the error code)"
    );
    describe_histogram!(
        TOOL_CALL_DURATION,
        Unit::Seconds,
        "Time to answer a tool call"
    );
    describe_counter!(
        VERIFICATIONS,
        "Credentials checked (verify_token, HTTP bearer), by kind and result"
    );
    describe_counter!(RATE_LIMITED, "Attempts refused for a limit, by bucket");
    describe_gauge!(
        POOL_MAX,
        "PostgreSQL connections at most (DATABASE_POOL_SIZE)"
    );
    describe_gauge!(POOL_SIZE, "PostgreSQL connections open");
    describe_gauge!(POOL_IDLE, "PostgreSQL connections open and idle");
    describe_gauge!(POOL_WAITING, "Calls waiting for a PostgreSQL connection");
}

/// The pool's gauges as it stands now (none for SQLite, which has no pool).
fn read_pool(store: &Store) {
    if let Some(status) = store.pool_status() {
        metrics::gauge!(POOL_MAX).set(status.max_size as f64);
        metrics::gauge!(POOL_SIZE).set(status.size as f64);
        metrics::gauge!(POOL_IDLE).set(status.idle as f64);
        metrics::gauge!(POOL_WAITING).set(status.waiting as f64);
    }
}

async fn serve(listener: TcpListener, handle: PrometheusHandle, store: Store) {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            read_pool(&store);
            let text = handle.render();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    text,
                )
            }
        }),
    );
    let connections = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("metrics: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::debug!("metrics: too many scrapes at once, a connection was closed");
            continue;
        };
        // One scrape a connection, and a bounded life: a client that never reads its
        // answers cannot hold a slot (the header timeout does not cover writes).
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .keep_alive(false)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        tokio::spawn(async move {
            match tokio::time::timeout(CONNECTION_LIFETIME, connection).await {
                Ok(Err(e)) => tracing::debug!("metrics: connection ended: {e}"),
                Err(_) => tracing::debug!("metrics: a connection outlived its time, closed"),
                Ok(Ok(())) => {}
            }
            drop(permit);
        });
    }
}
