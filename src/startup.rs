//! Wiring: configuration → store (migrated) → auth service → MCP server on stdio.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rmcp::ServiceExt;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use crate::better_auth::credentials::secret::{SecretError, check_secret};
use crate::better_auth::{AuthService, Secrets, random_alphanumeric};
use crate::better_auth::{AuthStore, StoreError};
use crate::config::Config;
use crate::mcp::{AuthServer, ToolSelection, stdio};
use crate::store::{DatabaseUrl, Store};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(
        "BETTER_AUTH_SECRET is required with PostgreSQL (use the same value as your Better Auth app; generate one with `openssl rand -base64 32`)"
    )]
    SecretRequired,
    #[error("cannot keep the generated secret at {path}: {reason}")]
    SecretFile { path: PathBuf, reason: String },
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    JwksUrl(#[from] crate::jwks_url::JwksUrlError),
    #[error("MCP transport: {0}")]
    Transport(String),
    #[error("cannot write the output: {0}")]
    Output(String),
    #[error(transparent)]
    Metrics(#[from] crate::exporter::ExporterError),
}

/// Resolves the secret, opens the store (migrated, or migrating) and builds the service.
pub async fn build_service(config: &Config) -> Result<AuthService<Store>, StartupError> {
    let secrets = resolve_secrets(config)?;
    // Refuse a bad secret before touching the database.
    check_secret(secrets.current())?;
    // SQLite migrates before serving; PostgreSQL connects and migrates while the client's
    // handshake is answered (a TLS + SCRAM connection costs tens of milliseconds).
    let store = match &config.store.database {
        DatabaseUrl::Sqlite(_) => open_store(config).await?,
        DatabaseUrl::Postgres(_) => {
            let store = Store::open(&config.store.database, &config.store.pool).await?;
            // A schema that cannot be mapped will not fix itself: refuse to run on it.
            store.migrate_in_background(|e| {
                tracing::error!("database: {e}");
                std::process::exit(1);
            });
            store
        }
    };
    let mut service = AuthService::new(store, secrets, config.auth.clone())?;
    if let Some(url) = &config.jwks_url {
        let source = crate::jwks_url::HttpJwks::new(url)?;
        service = service.with_jwks_url(std::sync::Arc::new(source), config.jwks_refetch_interval);
    }
    Ok(service)
}

/// With `--metrics-addr`, serves Prometheus metrics there (bound before the first call is
/// served, so that every call is counted); otherwise measures nothing.
pub async fn serve_metrics(
    config: &Config,
    service: &AuthService<Store>,
) -> Result<(), StartupError> {
    if let Some(addr) = config.metrics_addr {
        crate::exporter::start(addr, service.store().clone()).await?;
    }
    Ok(())
}

/// With AUDIT_LOG=true: the audit table made where missing and its old rows deleted
/// before the first call is served, then hourly while the server runs.
pub async fn prepare_audit(
    config: &Config,
    service: &AuthService<Store>,
) -> Result<(), StartupError> {
    if !config.auth.audit.enabled {
        return Ok(());
    }
    let store = service.store().clone();
    store.prepare_audit().await?;
    let Some(retention) = config.audit_retention else {
        return Ok(());
    };
    trim_audit(&store, retention).await;
    tokio::spawn(async move {
        let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
        hourly.tick().await;
        loop {
            hourly.tick().await;
            trim_audit(&store, retention).await;
        }
    });
    Ok(())
}

/// Deletes the audit rows older than `retention`; a failure is logged (the next hour
/// tries again).
async fn trim_audit(store: &Store, retention: std::time::Duration) {
    let Ok(kept) = chrono::Duration::from_std(retention) else {
        return;
    };
    match store.delete_audit_before(chrono::Utc::now() - kept).await {
        Ok(0) => {}
        Ok(deleted) => tracing::info!(deleted, "audit rows past their retention deleted"),
        Err(e) => tracing::warn!("audit rows past their retention not deleted: {e}"),
    }
}

/// `better-auth-mcp audit`: the audit rows since `since`, oldest first (at most `limit`),
/// on stdout, one per line: tab-separated columns, or JSON objects with `json`.
pub async fn print_audit(
    config: &Config,
    since: chrono::DateTime<chrono::Utc>,
    limit: u32,
    json: bool,
) -> Result<(), StartupError> {
    let store = open_store(config).await?;
    let rows = store.list_audit(since, limit).await?;
    let mut out = std::io::stdout().lock();
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    for row in &rows {
        let line = if json {
            serde_json::json!({
                "id": row.id,
                "createdAt": row.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "action": row.action,
                "actorId": row.actor_id,
                "targetUserId": row.target_user_id,
                "ipAddress": row.ip_address,
                "outcome": row.outcome,
                "payload": serde_json::from_str::<serde_json::Value>(&row.payload)
                    .unwrap_or(serde_json::Value::Null),
            })
            .to_string()
        } else {
            format!(
                "{}\t{}\t{}\tactor={}\ttarget={}\tip={}\t{}",
                row.created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                row.action,
                row.outcome,
                dash(&row.actor_id),
                dash(&row.target_user_id),
                dash(&row.ip_address),
                row.payload
            )
        };
        writeln!(out, "{line}").map_err(|e| StartupError::Output(e.to_string()))?;
    }
    if rows.len() as u64 == u64::from(limit) {
        tracing::info!(
            limit,
            "more rows than --limit: the oldest shown; pass a later --since or a larger --limit"
        );
    }
    Ok(())
}

/// Opens the store and applies the migrations it lacks.
pub async fn open_store(config: &Config) -> Result<Store, StartupError> {
    // The default store is this server's alone: one left open to others (by an earlier
    // version, a copy, a umask) is closed. A database the user named keeps its modes.
    if let DatabaseUrl::Sqlite(db) = &config.store.database
        && *db == crate::config::default_sqlite_path()
    {
        crate::store::embedded_files::tighten_store(db)
            .map_err(|e| StoreError::other(format!("cannot make {} private: {e}", db.display())))?;
    }
    let store = Store::open(&config.store.database, &config.store.pool).await?;
    let applied = store.migrate().await?;
    if applied.is_empty() {
        tracing::info!(database = %store.describe(), "database schema is up to date");
    } else {
        tracing::info!(database = %store.describe(), ?applied, "database migrated");
    }
    Ok(store)
}

/// The secrets as configured; with SQLite and none set, the one kept beside the database.
fn resolve_secrets(config: &Config) -> Result<Secrets, StartupError> {
    if let Some(rotated) = &config.secrets.rotation {
        return Ok(rotated.clone());
    }
    let secret = match (&config.secrets.secret, &config.store.database) {
        (Some(secret), _) => secret.clone(),
        (None, DatabaseUrl::Postgres(_)) => return Err(StartupError::SecretRequired),
        (None, DatabaseUrl::Sqlite(db)) => load_or_create_secret(&secret_path_for(db))?,
    };
    Ok(Secrets::single(secret))
}

/// The generated secret lives beside the database: `<db file>.secret`.
pub fn secret_path_for(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".secret");
    db.with_file_name(name)
}

/// Reads the kept secret, or creates it (mode 0600) without ever overwriting one that a
/// concurrently starting server wrote first.
fn load_or_create_secret(path: &Path) -> Result<SecretString, StartupError> {
    let fail = |reason: String| StartupError::SecretFile {
        path: path.to_path_buf(),
        reason,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::store::embedded_files::create_dir(dir).map_err(|e| fail(e.to_string()))?;
    }
    if !path.exists() {
        let secret = random_alphanumeric(64);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut file = crate::store::embedded_files::file_options()
            .create_new(true)
            .open(&tmp)
            .map_err(|e| fail(e.to_string()))?;
        file.write_all(secret.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| fail(e.to_string()))?;
        // A hard link never replaces an existing file: the first server to get here wins.
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => tracing::warn!(
                path = %path.display(),
                "BETTER_AUTH_SECRET is not set: generated one and kept it beside the database"
            ),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    let secret = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let secret = secret.trim();
    if secret.is_empty() {
        return Err(fail("the file is empty".into()));
    }
    tracing::info!(path = %path.display(), "using the secret kept beside the database");
    Ok(SecretString::from(secret.to_owned()))
}

/// `/readyz`: the store answers, migrated.
struct StoreReadiness(Store);

impl crate::mcp::http::Readiness for StoreReadiness {
    /// The reason a caller would be given, nothing more: /readyz answers anyone who
    /// reaches the port, so the database server's own message (user, database and host
    /// names) goes to the log only.
    async fn ready(&self) -> Result<(), String> {
        self.0.check_ready().await.map_err(|e| {
            tracing::warn!("not ready: {e}");
            match e {
                StoreError::Unavailable { outage, .. } => outage.reason().to_owned(),
                _ => "the database cannot be used (the server log says why)".to_owned(),
            }
        })
    }
}

/// What an offered toolset needs of the database before the first call: the admin
/// toolset's columns on an SQLite store ([`Store::prepare_admin`]).
async fn prepare_toolsets(
    service: &AuthService<Store>,
    tools: &ToolSelection,
) -> Result<(), StartupError> {
    if tools.toolsets().any(|set| set.name == "admin") {
        service.store().prepare_admin().await?;
    }
    Ok(())
}

/// Says once, in the log, which offered toolsets lack their Better Auth plugin's tables
/// (their tools answer PLUGIN_NOT_ENABLED), once the database answers.
fn report_missing_plugins(server: &AuthServer<Store>, tools: &ToolSelection) {
    let sets: Vec<(&'static str, &'static str)> = tools
        .toolsets()
        .filter_map(|set| set.plugin.map(|plugin| (set.name, plugin)))
        .collect();
    if sets.is_empty() {
        return;
    }
    let service = server.service().clone();
    tokio::spawn(async move {
        for (toolset, plugin) in sets {
            match service.has_plugin_tables(plugin).await {
                Ok(true) => tracing::debug!(toolset, plugin, "plugin tables found"),
                Ok(false) => tracing::warn!(
                    toolset,
                    "the {plugin} plugin's tables are not in the database: the tools of \
                     {toolset} answer PLUGIN_NOT_ENABLED until the app adds the plugin and \
                     migrates"
                ),
                Err(e) => tracing::debug!(toolset, code = e.code(), "plugin tables not checked"),
            }
        }
    });
}

/// Serves MCP over Streamable HTTP until `shutdown` is cancelled (a signal), then drains.
pub async fn serve_http(
    service: AuthService<Store>,
    tools: &ToolSelection,
    settings: &crate::mcp::http::HttpSettings,
    shutdown: CancellationToken,
) -> Result<(), StartupError> {
    // Each connection holds a file descriptor: the soft limit (often 1024) goes up to the
    // hard one, as Go's runtime does, so that a thousand idle agents do not exhaust it.
    // (Windows has no such limit on sockets.)
    #[cfg(unix)]
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(e) => tracing::warn!("could not raise the open file limit: {e}"),
    }
    prepare_toolsets(&service, tools).await?;
    let readiness = Arc::new(StoreReadiness(service.store().clone()));
    let server = AuthServer::new(Arc::new(service), tools);
    report_missing_plugins(&server, tools);
    crate::mcp::http::serve(server, readiness, settings.clone(), shutdown)
        .await
        .map_err(|e| StartupError::Transport(format!("HTTP on {}: {e}", settings.addr)))
}

/// Serves MCP on stdin/stdout until stdin closes or `shutdown` is cancelled (a signal).
pub async fn serve_stdio(
    service: AuthService<Store>,
    tools: &ToolSelection,
    shutdown: CancellationToken,
) -> Result<(), StartupError> {
    prepare_toolsets(&service, tools).await?;
    let server = AuthServer::new(Arc::new(service), tools).for_the_operator();
    report_missing_plugins(&server, tools);
    // Started by hand in a terminal, it would otherwise wait in silence.
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        tracing::info!(
            "serving MCP on stdin and stdout: an MCP client starts this command (see README, \
             Quick start, for a first call with the MCP Inspector); Ctrl-C stops it"
        );
    }
    match server.serve_with_ct(stdio::transport(), shutdown).await {
        Ok(running) => running
            .waiting()
            .await
            .map(|reason| tracing::info!(?reason, "stopped serving"))
            .map_err(|e| StartupError::Transport(e.to_string())),
        Err(rmcp::service::ServerInitializeError::Cancelled) => Ok(()),
        Err(e) => Err(StartupError::Transport(e.to_string())),
    }
}
