//! The connection pool: its settings, deadpool's manager recycling connections as Neon
//! needs, TLS, and what a failure to get a connection means ([`Outage`]).

use std::time::Duration;

use deadpool::managed::{Metrics, RecycleError, RecycleResult};
use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, RecyclingMethod, Runtime};

use super::errors::{causes, error_chain, outage_of};
use crate::better_auth::ports::{Outage, StoreError};
use crate::store::naming::SchemaSettings;
use crate::store::{PgUrl, tls};

/// Pool size and timeouts.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_size: usize,
    pub connect_timeout: Duration,
    /// How long a call waits for a free connection before SERVICE_UNAVAILABLE.
    pub wait_timeout: Duration,
    /// Reads, and the statement writing a batch of API key uses, use named prepared
    /// statements, cached per connection (the database plans each query once per
    /// connection instead of once per call). Only for a direct
    /// connection: behind a transaction pooler a statement prepared on one server
    /// connection is not there on the next.
    pub prepared_statements: bool,
    /// Where the tables are and how they are named (what is not set is detected).
    pub schema: SchemaSettings,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_size: 8,
            connect_timeout: Duration::from_secs(10),
            wait_timeout: Duration::from_secs(10),
            prepared_statements: false,
            schema: SchemaSettings::default(),
        }
    }
}

/// A connection that was idle this long is checked with a round trip before it is used;
/// one in steady use is not (that check would double the cost of every call).
const VERIFY_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// deadpool-postgres's manager, recycling as Neon needs: a closed connection is dropped,
/// an idle one is verified (Neon drops idle connections when it scales to zero), a busy
/// one is reused as it is.
pub(super) struct IdleChecked(Manager);

impl deadpool::managed::Manager for IdleChecked {
    type Type = ClientWrapper;
    type Error = tokio_postgres::Error;

    async fn create(&self) -> Result<ClientWrapper, tokio_postgres::Error> {
        crate::entropy::seeded().await;
        deadpool::managed::Manager::create(&self.0).await
    }

    async fn recycle(
        &self,
        client: &mut ClientWrapper,
        metrics: &Metrics,
    ) -> RecycleResult<tokio_postgres::Error> {
        if client.is_closed() {
            return Err(RecycleError::message("connection closed"));
        }
        if metrics.last_used() >= VERIFY_IF_IDLE_FOR {
            client.simple_query("").await?;
        }
        Ok(())
    }

    fn detach(&self, client: &mut ClientWrapper) {
        deadpool::managed::Manager::detach(&self.0, client)
    }
}

pub(super) type Pool = deadpool::managed::Pool<IdleChecked>;
pub(super) type PooledClient = deadpool::managed::Object<IdleChecked>;
type PoolError = deadpool::managed::PoolError<tokio_postgres::Error>;

/// The pool for a URL; connections are opened on first use.
pub(super) fn build(url: &PgUrl, settings: &PoolSettings) -> Result<Pool, StoreError> {
    let mut config = url.config.clone();
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(settings.connect_timeout);
    }
    if config.get_application_name().is_none() {
        config.application_name("better-auth-mcp");
    }
    let tls = tls::connector(url.ssl_mode, url.root_cert.as_deref())?;
    let manager = IdleChecked(Manager::from_config(
        config,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    ));
    Pool::builder(manager)
        .max_size(settings.max_size.max(1))
        .wait_timeout(Some(settings.wait_timeout))
        .create_timeout(Some(settings.connect_timeout))
        .recycle_timeout(Some(settings.connect_timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::other(format!("cannot build the connection pool: {e}")))
}

/// How the pool stands now: for the metrics' gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// DATABASE_POOL_SIZE.
    pub max_size: usize,
    /// Connections open, in use or idle.
    pub size: usize,
    /// Connections open and idle.
    pub idle: usize,
    /// Calls waiting for a connection.
    pub waiting: usize,
}

pub(super) fn status(pool: &Pool) -> PoolStatus {
    let s = pool.status();
    PoolStatus {
        max_size: s.max_size,
        size: s.size,
        idle: s.available,
        waiting: s.waiting,
    }
}

/// A connection from the pool, or the outage that kept it from being had.
pub(super) async fn get(pool: &Pool) -> Result<PooledClient, StoreError> {
    pool.get().await.map_err(pool_error)
}

fn pool_error(e: PoolError) -> StoreError {
    match e {
        // The pool's errors from the backend are failures to open a connection.
        PoolError::Backend(e) => connect_error(e),
        PoolError::Timeout(deadpool::managed::TimeoutType::Wait) => {
            StoreError::outage(Outage::Busy, "pool timeout (waiting for a connection)")
        }
        PoolError::Timeout(kind) => StoreError::unavailable(format!("pool timeout ({kind:?})")),
        PoolError::Closed => StoreError::unavailable("pool closed"),
        other => StoreError::other(format!("pool error: {other}")),
    }
}

/// A connection could not be opened: always an outage, classified by SQLSTATE (the
/// server's refusal) or by the TLS error among the causes. The server's message names
/// the user or database, never the password.
fn connect_error(e: tokio_postgres::Error) -> StoreError {
    let outage = match e.as_db_error().map(|db| db.code().code()) {
        Some(code) => outage_of(code).unwrap_or(Outage::Unreachable),
        None if tls_failure(&e) => Outage::Tls,
        None => Outage::Unreachable,
    };
    let detail = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => error_chain(&e),
    };
    StoreError::outage(outage, detail).caused_by(e)
}

/// Whether rustls refused the handshake (an untrusted or mismatched certificate).
fn tls_failure(e: &tokio_postgres::Error) -> bool {
    causes(e).any(|c| {
        c.is::<rustls::Error>()
            || c.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .is_some_and(|inner| inner.is::<rustls::Error>())
    })
}
