//! Every setting, read one way: clap's derive, each with its environment variable (also
//! from `.env` and `--env-file`, loaded before this parses), so `--help` lists each one
//! with its default and range, and true/false have the same spellings everywhere
//! (true/yes/on/1, false/no/off/0). [`Config`] is the checked result.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use secrecy::SecretString;

use crate::better_auth::credentials::jwt::{DEFAULT_LEEWAY_SECS, MAX_LEEWAY_SECS};
use crate::better_auth::{
    AuthSettings, PasswordFormat, PasswordPolicy, RateLimitPolicy, Resource, Secrets, SessionPolicy,
};
use crate::mcp::http::HttpSettings;
use crate::store::{Casing, DatabaseUrl, PoolSettings, SchemaSettings, TableNames, UrlError};

/// Where a Better Auth app serves its routes unless told otherwise (its `basePath`): its
/// OAuth provider's issuer is BETTER_AUTH_URL followed by it.
pub const DEFAULT_BASE_PATH: &str = "/api/auth";

/// The settings as given: flags, or their environment variables.
#[derive(clap::Args, Debug, Clone)]
pub struct Settings {
    /// PostgreSQL URL (Neon's connection string as pasted) or sqlite://PATH. Unset: the
    /// embedded SQLite database in the user's data directory.
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,
    /// The secret of the Better Auth app (at least 32 bytes): keys access tokens and
    /// signed session cookies. Required with PostgreSQL unless BETTER_AUTH_SECRETS is set
    /// (it is then the secret of before the rotation); with SQLite one is generated.
    /// Prefer the environment or an env file to this flag.
    #[arg(
        long,
        env = "BETTER_AUTH_SECRET",
        value_name = "SECRET",
        hide_env_values = true,
        global = true
    )]
    pub better_auth_secret: Option<String>,
    /// The Better Auth app's secrets after a rotation, as its BETTER_AUTH_SECRETS:
    /// <version>:<secret>, comma-separated, the current first. BETTER_AUTH_SECRET is then
    /// the secret of before, which reads what was encrypted before the rotation.
    #[arg(
        long,
        env = "BETTER_AUTH_SECRETS",
        value_name = "LIST",
        hide_env_values = true,
        global = true
    )]
    pub better_auth_secrets: Option<String>,
    /// The Better Auth app's URL: issuer and audience of access tokens, required of the
    /// tokens verified.
    #[arg(long, env = "BETTER_AUTH_URL", value_name = "URL", global = true)]
    pub better_auth_url: Option<String>,
    /// A JWKS URL whose keys verify JWT-plugin tokens instead of the jwks table: Neon Auth's,
    /// or a Better Auth app's /api/auth/jwks. https (http only to localhost).
    #[arg(long, env = "BETTER_AUTH_JWKS_URL", value_name = "URL", global = true)]
    pub jwks_url: Option<String>,
    /// Shortest time between two fetches of the JWKS URL, in seconds (1 to 3600).
    #[arg(long, env = "JWKS_REFETCH_INTERVAL_SECONDS", value_name = "SECONDS",
          default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600), global = true)]
    pub jwks_refetch_interval_seconds: u64,
    /// Offer only these tools (comma-separated: sign_up, sign_in, verify_token, get_user,
    /// refresh_token, sign_out). Default (or empty): all six.
    #[arg(
        long,
        env = "BETTER_AUTH_MCP_TOOLS",
        value_name = "LIST",
        value_delimiter = ',',
        global = true
    )]
    pub tools: Option<Vec<String>>,
    /// Offer only verify_token and get_user: no account is created, no password handled.
    #[arg(long, env = "BETTER_AUTH_MCP_READ_ONLY", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_parser = BoolishValueParser::new(), hide_possible_values = true, global = true)]
    pub read_only: bool,
    /// Lifetime of access tokens, in seconds (1 to 31536000).
    #[arg(long, env = "TOKEN_TTL_SECONDS", value_name = "SECONDS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..=31_536_000), global = true)]
    pub token_ttl_seconds: u64,
    /// Clock skew tolerated on exp, nbf and iat, in seconds (0 to 60).
    #[arg(long, env = "TOKEN_LEEWAY_SECONDS", value_name = "SECONDS",
          default_value_t = DEFAULT_LEEWAY_SECS,
          value_parser = clap::value_parser!(u64).range(0..=MAX_LEEWAY_SECS), global = true)]
    pub token_leeway_seconds: u64,
    /// Shortest password sign_up accepts, in UTF-16 units as Better Auth counts (1 to 4096).
    #[arg(long, env = "PASSWORD_MIN_LENGTH", value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u64).range(1..=4096), global = true)]
    pub password_min_length: u64,
    /// Longest password accepted (1 to 4096, at least the minimum).
    #[arg(long, env = "PASSWORD_MAX_LENGTH", value_name = "N", default_value_t = 128,
          value_parser = clap::value_parser!(u64).range(1..=4096), global = true)]
    pub password_max_length: u64,
    /// Format of new password hashes: scrypt (Better Auth's own, which a stock Better Auth
    /// app verifies) or argon2id (for an app with a custom password.verify). Both are
    /// always verified.
    #[arg(long, env = "PASSWORD_HASH", value_name = "FORMAT", default_value = "scrypt",
          value_parser = ["argon2id", "argon2", "scrypt"], ignore_case = true, global = true)]
    pub password_hash: String,
    /// After a sign_in with a hash in the other format, store one in PASSWORD_HASH's.
    #[arg(long, env = "REHASH_ON_SIGN_IN", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_parser = BoolishValueParser::new(), hide_possible_values = true, global = true)]
    pub rehash_on_sign_in: bool,
    /// Lifetime of a session, in seconds (60 to 315360000; Better Auth's expiresIn).
    #[arg(long, env = "SESSION_EXPIRES_IN_SECONDS", value_name = "SECONDS",
          default_value_t = 7 * 86_400,
          value_parser = clap::value_parser!(u64).range(60..=315_360_000), global = true)]
    pub session_expires_in_seconds: u64,
    /// refresh_token extends a session at most this often, in seconds (0 to 315360000;
    /// Better Auth's updateAge).
    #[arg(long, env = "SESSION_UPDATE_AGE_SECONDS", value_name = "SECONDS",
          default_value_t = 86_400,
          value_parser = clap::value_parser!(u64).range(0..=315_360_000), global = true)]
    pub session_update_age_seconds: u64,
    /// PostgreSQL connections at most (1 to 1024).
    #[arg(long, env = "DATABASE_POOL_SIZE", value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u64).range(1..=1024), global = true)]
    pub database_pool_size: u64,
    /// Time to connect to PostgreSQL, TLS and authentication included, in seconds (1 to 600).
    #[arg(long, env = "DATABASE_CONNECT_TIMEOUT_SECONDS", value_name = "SECONDS",
          default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600), global = true)]
    pub database_connect_timeout_seconds: u64,
    /// Time a call waits for a pooled connection before SERVICE_UNAVAILABLE, in seconds
    /// (1 to 600).
    #[arg(long, env = "DATABASE_POOL_TIMEOUT_SECONDS", value_name = "SECONDS",
          default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600), global = true)]
    pub database_pool_timeout_seconds: u64,
    /// Reads through per-connection prepared statements. Direct connections only: refused
    /// with Neon's -pooler host.
    #[arg(long, env = "DATABASE_PREPARED_STATEMENTS", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_parser = BoolishValueParser::new(), hide_possible_values = true, global = true)]
    pub database_prepared_statements: bool,
    /// The PostgreSQL schema of Better Auth's tables, e.g. neon_auth for Neon Auth. Every
    /// statement names it (no search_path).
    #[arg(
        long,
        env = "DATABASE_SCHEMA",
        value_name = "NAME",
        default_value = "public",
        global = true
    )]
    pub database_schema: String,
    /// Column names: camelCase (Better Auth's own migration, Prisma) or snake_case
    /// (Drizzle's schema generator). Default: as the user table has them.
    #[arg(
        long,
        env = "DATABASE_SCHEMA_CASING",
        value_name = "CASING",
        global = true
    )]
    pub database_schema_casing: Option<Casing>,
    /// Table names: singular (user) or plural (users, usePlural). Default: as the database
    /// has them.
    #[arg(
        long,
        env = "DATABASE_SCHEMA_TABLES",
        value_name = "NAMES",
        global = true
    )]
    pub database_schema_tables: Option<TableNames>,
    /// Password hashes computed at once (1 to 1024). Default: the number of cores.
    #[arg(long, env = "HASH_CONCURRENCY", value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1024), global = true)]
    pub hash_concurrency: Option<u64>,
    /// sign_up/sign_in calls running or waiting at once; past it they are refused with
    /// RATE_LIMITED (1 to 1048576). Default: 16 per core.
    #[arg(long, env = "HASH_QUEUE_LIMIT", value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1_048_576), global = true)]
    pub hash_queue_limit: Option<u64>,
    /// As Better Auth's emailAndPassword.requireEmailVerification: an unverified user's
    /// sign_in is refused (EMAIL_NOT_VERIFIED) and sign_up creates the user without a
    /// session or token.
    #[arg(long, env = "REQUIRE_EMAIL_VERIFICATION", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_parser = BoolishValueParser::new(), hide_possible_values = true, global = true)]
    pub require_email_verification: bool,
    /// Throttle sign_up and sign_in per email, across processes, in Better Auth's
    /// rateLimit table.
    #[arg(long, env = "RATE_LIMIT_ENABLED", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_value = "true", default_missing_value = "true",
          value_parser = BoolishValueParser::new(), hide_possible_values = true, global = true)]
    pub rate_limit_enabled: bool,
    /// The throttle's window, in seconds (1 to 86400).
    #[arg(long, env = "RATE_LIMIT_WINDOW_SECONDS", value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=86_400), global = true)]
    pub rate_limit_window_seconds: u64,
    /// Attempts per email and window (1 to 1073741824).
    #[arg(long, env = "RATE_LIMIT_MAX", value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u64).range(1..=1_073_741_824), global = true)]
    pub rate_limit_max: u64,
    /// Serve MCP over Streamable HTTP at http://ADDR/mcp (e.g. 127.0.0.1:8080) instead of
    /// stdio; a host name is resolved (localhost:8080). The tools offered by default are
    /// then the read-only ones.
    #[arg(long, env = "BETTER_AUTH_MCP_HTTP", value_name = "ADDR", global = true,
          value_parser = listen_address)]
    pub http: Option<std::net::SocketAddr>,
    /// Host names (or host:port) HTTP requests may name (comma-separated). Default: the
    /// loopback names; a public host name must be listed.
    #[arg(
        long,
        env = "BETTER_AUTH_MCP_ALLOWED_HOSTS",
        value_name = "LIST",
        value_delimiter = ',',
        global = true
    )]
    pub allowed_hosts: Option<Vec<String>>,
    /// Browser Origins allowed over HTTP (comma-separated, with scheme, e.g.
    /// https://app.example.com); a request from any other Origin gets 403. Default: none,
    /// but on a loopback --http address the loopback Origins (http(s)://localhost,
    /// 127.0.0.1, [::1], any port) are always allowed.
    #[arg(
        long,
        env = "BETTER_AUTH_MCP_ALLOWED_ORIGINS",
        value_name = "LIST",
        value_delimiter = ',',
        global = true
    )]
    pub allowed_origins: Option<Vec<String>>,
    /// Serve HTTP on a non-loopback address without authorization (behind a gateway of
    /// your own that authorizes callers).
    #[arg(long, env = "BETTER_AUTH_MCP_ALLOW_UNAUTHENTICATED", value_name = "BOOL",
          num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_parser = BoolishValueParser::new(),
          hide_possible_values = true, global = true)]
    pub allow_unauthenticated: bool,
    /// Over HTTP, require every caller to bring a bearer token: an access token issued here,
    /// or a Better Auth JWT (JWT plugin or OAuth provider) whose aud is --public-url.
    #[arg(long, env = "BETTER_AUTH_MCP_REQUIRE_AUTH", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_parser = BoolishValueParser::new(), hide_possible_values = true, global = true)]
    pub require_auth: bool,
    /// This server's public URL as clients reach it, e.g. https://mcp.example.com/mcp: the
    /// audience callers' tokens must name, and its OAuth metadata's resource.
    #[arg(
        long,
        env = "BETTER_AUTH_MCP_PUBLIC_URL",
        value_name = "URL",
        global = true
    )]
    pub public_url: Option<String>,
    /// The issuer of the Better Auth app's OAuth provider, named in this server's OAuth
    /// metadata as its authorization server; callers' JWTs may carry it as `iss` (as well
    /// as BETTER_AUTH_URL). Default: BETTER_AUTH_URL followed by Better Auth's default
    /// basePath, /api/auth.
    #[arg(
        long,
        env = "BETTER_AUTH_MCP_AUTHORIZATION_SERVER",
        value_name = "URL",
        global = true
    )]
    pub authorization_server: Option<String>,
    /// A scope every caller's token must grant (else 403 insufficient_scope).
    #[arg(
        long,
        env = "BETTER_AUTH_MCP_REQUIRED_SCOPE",
        value_name = "SCOPE",
        global = true
    )]
    pub required_scope: Option<String>,
    /// Proxies (IP addresses, comma-separated) whose X-Forwarded-For names the client over
    /// HTTP; from any other peer the header is ignored. Default: none.
    #[arg(
        long,
        env = "BETTER_AUTH_MCP_TRUSTED_PROXIES",
        value_name = "LIST",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Option<Vec<std::net::IpAddr>>,
    /// Largest HTTP request body, in bytes (1024 to 67108864).
    #[arg(long, env = "HTTP_MAX_BODY_BYTES", value_name = "BYTES", default_value_t = 1_048_576,
          value_parser = clap::value_parser!(u64).range(1024..=67_108_864), global = true)]
    pub http_max_body_bytes: u64,
    /// Time a client has to send its request headers, in seconds (1 to 300).
    #[arg(long, env = "HTTP_HEADER_TIMEOUT_SECONDS", value_name = "SECONDS",
          default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300), global = true)]
    pub http_header_timeout_seconds: u64,
    /// Time a request may take to be answered, in seconds (1 to 600).
    #[arg(long, env = "HTTP_REQUEST_TIMEOUT_SECONDS", value_name = "SECONDS",
          default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600), global = true)]
    pub http_request_timeout_seconds: u64,
    /// HTTP requests handled at once; past it a request gets 503 at once (1 to 65536).
    #[arg(long, env = "HTTP_MAX_IN_FLIGHT", value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..=65_536), global = true)]
    pub http_max_in_flight: u64,
    /// HTTP connections open at once, idle ones included; past it a new connection is
    /// closed at once (1 to 1048576). Each holds a file descriptor.
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", value_name = "N", default_value_t = 4096,
          value_parser = clap::value_parser!(u64).range(1..=1_048_576), global = true)]
    pub http_max_connections: u64,
    /// On SIGTERM, how long HTTP requests in flight may take before the server exits, in
    /// seconds (0 to 300).
    #[arg(long, env = "HTTP_DRAIN_SECONDS", value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=300), global = true)]
    pub http_drain_seconds: u64,
}

/// Every setting the server uses, checked, each layer's in its own type.
pub struct Config {
    /// The database and its connections.
    pub store: StoreConfig,
    /// BETTER_AUTH_SECRET(S); when unset with SQLite, one is generated beside the database.
    pub secrets: SecretConfig,
    /// The auth domain's settings.
    pub auth: AuthSettings,
    /// BETTER_AUTH_JWKS_URL, and the shortest time between two of its fetches.
    pub jwks_url: Option<String>,
    pub jwks_refetch_interval: Duration,
    /// Serve over Streamable HTTP instead of stdio.
    pub http: Option<HttpSettings>,
}

/// Which database, and how it is reached.
pub struct StoreConfig {
    pub database: DatabaseUrl,
    pub pool: PoolSettings,
}

/// The deployment's secrets as configured.
pub struct SecretConfig {
    /// BETTER_AUTH_SECRET.
    pub secret: Option<SecretString>,
    /// BETTER_AUTH_SECRETS (with BETTER_AUTH_SECRET as the legacy secret), when set.
    pub rotation: Option<Secrets>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    DatabaseUrl(#[from] UrlError),
    #[error(transparent)]
    Secrets(#[from] crate::better_auth::credentials::secret::SecretsError),
    #[error("PASSWORD_MIN_LENGTH ({min}) must not be above PASSWORD_MAX_LENGTH ({max})")]
    BadPasswordBounds { min: usize, max: usize },
    #[error(
        "DATABASE_PREPARED_STATEMENTS needs a direct connection, and DATABASE_URL names Neon's \
         pooler (a -pooler host, PgBouncer in transaction mode): use the direct host, or leave \
         prepared statements off"
    )]
    PreparedStatementsBehindPooler,
    #[error(
        "BETTER_AUTH_MCP_HTTP {0} is not a loopback address: callers must then be authorized; \
         set BETTER_AUTH_MCP_REQUIRE_AUTH=true with BETTER_AUTH_MCP_PUBLIC_URL, or, behind a \
         gateway of yours that authorizes them, BETTER_AUTH_MCP_ALLOW_UNAUTHENTICATED=true"
    )]
    UnauthenticatedPublicHttp(std::net::SocketAddr),
    #[error(
        "BETTER_AUTH_MCP_REQUIRE_AUTH needs BETTER_AUTH_MCP_PUBLIC_URL (this server's URL as \
         clients reach it, https, e.g. https://mcp.example.com/mcp) and BETTER_AUTH_URL (the \
         Better Auth app that issues the tokens): {0}"
    )]
    AuthNeedsUrls(&'static str),
}

/// `ADDRESS:PORT` or `HOST:PORT` to listen on: a host name is resolved, its IPv4 address
/// preferred (what `localhost` means to most clients).
fn listen_address(value: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = value.parse() {
        return Ok(addr);
    }
    let usage = "expected ADDRESS:PORT or HOST:PORT, e.g. 127.0.0.1:8080 or localhost:8080";
    let resolved: Vec<_> = value
        .to_socket_addrs()
        .map_err(|e| format!("{usage} ({e})"))?
        .collect();
    resolved
        .iter()
        .find(|a| a.is_ipv4())
        .or(resolved.first())
        .copied()
        .ok_or_else(|| format!("{usage} (the host has no address)"))
}

/// The embedded database when DATABASE_URL is unset: `<data dir>/better-auth-mcp/better-auth.db`.
pub fn default_sqlite_path() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("better-auth-mcp")
        .join("better-auth.db")
}

/// [`Settings`] alone as a command line, for [`Config::from_args`].
#[derive(clap::Parser)]
struct SettingsOnly {
    #[command(flatten)]
    settings: Settings,
}

impl Config {
    /// The configuration that these command-line arguments give, the environment's
    /// variables serving as their fallbacks, as for the server (libraries, tests, benches).
    pub fn from_args<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        use clap::Parser;
        let argv = std::iter::once("better-auth-mcp").chain(args);
        let parsed = SettingsOnly::try_parse_from(argv).map_err(|e| e.to_string())?;
        Self::from_settings(&parsed.settings).map_err(|e| e.to_string())
    }

    /// Checks what clap could not (settings that depend on each other) and types them.
    pub fn from_settings(s: &Settings) -> Result<Self, ConfigError> {
        let given = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        let database = match given(&s.database_url) {
            Some(url) => DatabaseUrl::parse(&url)?,
            None => DatabaseUrl::Sqlite(default_sqlite_path()),
        };
        let (min, max) = (
            s.password_min_length as usize,
            s.password_max_length as usize,
        );
        if min > max {
            return Err(ConfigError::BadPasswordBounds { min, max });
        }
        if s.database_prepared_statements
            && matches!(&database, DatabaseUrl::Postgres(pg) if pg.is_neon_pooler())
        {
            return Err(ConfigError::PreparedStatementsBehindPooler);
        }
        let auth = if s.require_auth {
            let public_url = given(&s.public_url).ok_or(ConfigError::AuthNeedsUrls(
                "BETTER_AUTH_MCP_PUBLIC_URL is unset",
            ))?;
            let public_url = public_url.trim().to_owned();
            let loopback = ["http://localhost", "http://127.0.0.1", "http://[::1]"]
                .iter()
                .any(|p| public_url.starts_with(p));
            if !(public_url.starts_with("https://") || loopback) {
                return Err(ConfigError::AuthNeedsUrls(
                    "BETTER_AUTH_MCP_PUBLIC_URL must be https (http only for localhost)",
                ));
            }
            let app = given(&s.better_auth_url)
                .map(|u| u.trim().trim_end_matches('/').to_owned())
                .ok_or(ConfigError::AuthNeedsUrls("BETTER_AUTH_URL is unset"))?;
            let issuer = given(&s.authorization_server)
                .map(|u| u.trim().trim_end_matches('/').to_owned())
                .unwrap_or_else(|| format!("{app}{DEFAULT_BASE_PATH}"));
            Some(crate::mcp::http::HttpAuth {
                resource: Resource {
                    url: public_url,
                    issuer,
                },
                required_scope: given(&s.required_scope).map(|v| v.trim().to_owned()),
            })
        } else {
            None
        };
        let http = match s.http {
            None => None,
            Some(addr)
                if !addr.ip().is_loopback() && auth.is_none() && !s.allow_unauthenticated =>
            {
                return Err(ConfigError::UnauthenticatedPublicHttp(addr));
            }
            Some(addr) => {
                let listed = |l: &Option<Vec<String>>| {
                    l.iter()
                        .flatten()
                        .map(|v| v.trim().to_owned())
                        .filter(|v| !v.is_empty())
                        .collect::<Vec<_>>()
                };
                let hosts = listed(&s.allowed_hosts);
                Some(HttpSettings {
                    addr,
                    allowed_hosts: if hosts.is_empty() {
                        HttpSettings::loopback_hosts(addr)
                    } else {
                        hosts
                    },
                    allowed_origins: listed(&s.allowed_origins),
                    max_body_bytes: s.http_max_body_bytes as usize,
                    header_timeout: Duration::from_secs(s.http_header_timeout_seconds),
                    request_timeout: Duration::from_secs(s.http_request_timeout_seconds),
                    max_in_flight: s.http_max_in_flight as usize,
                    max_connections: s.http_max_connections as usize,
                    drain: Duration::from_secs(s.http_drain_seconds),
                    auth,
                    trusted_proxies: s.trusted_proxies.clone().unwrap_or_default(),
                })
            }
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let secret = given(&s.better_auth_secret).map(SecretString::from);
        Ok(Self {
            store: StoreConfig {
                database,
                pool: PoolSettings {
                    max_size: s.database_pool_size as usize,
                    connect_timeout: Duration::from_secs(s.database_connect_timeout_seconds),
                    wait_timeout: Duration::from_secs(s.database_pool_timeout_seconds),
                    prepared_statements: s.database_prepared_statements,
                    schema: SchemaSettings {
                        schema: s.database_schema.trim().to_owned(),
                        casing: s.database_schema_casing,
                        table_names: s.database_schema_tables,
                    },
                },
            },
            secrets: SecretConfig {
                // After a rotation, BETTER_AUTH_SECRET is the legacy secret.
                rotation: given(&s.better_auth_secrets)
                    .map(|list| Secrets::rotated(&list, secret.clone()))
                    .transpose()?,
                secret,
            },
            auth: AuthSettings {
                issuer: given(&s.better_auth_url)
                    .map(|u| u.trim().trim_end_matches('/').to_owned()),
                token_ttl_secs: s.token_ttl_seconds,
                token_leeway_secs: s.token_leeway_seconds,
                password_policy: PasswordPolicy {
                    min_length: min,
                    max_length: max,
                },
                password_format: match s.password_hash.to_ascii_lowercase().as_str() {
                    "scrypt" => PasswordFormat::Scrypt,
                    _ => PasswordFormat::Argon2id,
                },
                rehash_on_sign_in: s.rehash_on_sign_in,
                sessions: SessionPolicy {
                    expires_in: Duration::from_secs(s.session_expires_in_seconds),
                    update_age: Duration::from_secs(s.session_update_age_seconds),
                },
                hash_concurrency: s.hash_concurrency.map_or(cores, |n| n as usize),
                hash_queue_limit: s.hash_queue_limit.map_or(cores * 16, |n| n as usize),
                rate_limit: RateLimitPolicy {
                    enabled: s.rate_limit_enabled,
                    window: Duration::from_secs(s.rate_limit_window_seconds),
                    max: s.rate_limit_max as u32,
                },
                require_email_verification: s.require_email_verification,
            },
            jwks_url: given(&s.jwks_url).map(|u| u.trim().to_owned()),
            jwks_refetch_interval: Duration::from_secs(s.jwks_refetch_interval_seconds),
            http,
        })
    }
}

/// Where the variables of env files came from: the file and line of each one set from a
/// file. A variable not listed (but set) came from the process environment.
#[derive(Debug, Default)]
pub struct EnvOrigins(std::collections::HashMap<String, (PathBuf, usize)>);

impl EnvOrigins {
    /// Loads a dotenv file into the environment (values already set win), remembering
    /// the line of each variable it sets. A malformed line is an error naming its number,
    /// never its text (it may hold a secret).
    ///
    /// # Safety
    ///
    /// It sets environment variables: no other thread may be running (call it first in
    /// `main`).
    pub unsafe fn load(&mut self, path: &std::path::Path) -> Result<(), String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let items = dotenvy::from_path_iter(path).map_err(|e| match e {
            dotenvy::Error::Io(e) => format!("{}: {e}", path.display()),
            _ => format!("{}: cannot be read", path.display()),
        })?;
        for item in items {
            let (key, value) = match item {
                Ok(pair) => pair,
                Err(dotenvy::Error::LineParse(line, at)) => {
                    return Err(match text.find(&line) {
                        Some(i) => format!(
                            "{}: line {} is not KEY=VALUE (error at character {at})",
                            path.display(),
                            text[..i].matches('\n').count() + 1
                        ),
                        None => format!("{}: a line is not KEY=VALUE", path.display()),
                    });
                }
                Err(_) => return Err(format!("{}: cannot be read", path.display())),
            };
            if std::env::var_os(&key).is_some() {
                continue;
            }
            // SAFETY: the caller runs no other thread (this function's contract).
            unsafe { std::env::set_var(&key, &value) };
            self.0
                .insert(key.clone(), (path.to_path_buf(), line_of(&text, &key)));
        }
        Ok(())
    }

    /// Where `var`'s value came from: `PATH:LINE`, or the environment.
    pub fn origin(&self, var: &str) -> String {
        match self.0.get(var) {
            Some((path, line)) => format!("{}:{line}", path.display()),
            None => "the environment".to_owned(),
        }
    }

    /// `message` with the origin of each variable it names that came from a file, so a
    /// bad value can be found ("BETTER_AUTH_MCP_HTTP is set in server.env:3").
    pub fn annotate(&self, message: &str) -> String {
        let mut named: Vec<&String> = self
            .0
            .keys()
            .filter(|var| names_variable(message, var))
            .collect();
        named.sort();
        let mut out = message.to_owned();
        for var in named {
            out.push_str(&format!(" ({var} is set in {})", self.origin(var)));
        }
        out
    }

    /// clap's refusal of a value, told in terms of the variable when the value came from
    /// one (the user never passed the flag clap would name) and where it was set. None:
    /// the refusal is of the command line itself and clap's own text says it best.
    pub fn explain(
        &self,
        e: &clap::Error,
        cmd: &clap::Command,
        argv: &[std::ffi::OsString],
    ) -> Option<String> {
        use clap::error::{ContextKind, ContextValue};
        let flag = match e.get(ContextKind::InvalidArg)? {
            // "--name <VALUE>" or "--name[=<BOOL>]"
            ContextValue::String(flag) => flag
                .split(|c: char| c.is_whitespace() || c == '[' || c == '=')
                .next()?
                .to_owned(),
            _ => return None,
        };
        let long = flag.strip_prefix("--")?;
        let passed = argv
            .iter()
            .skip(1)
            .filter_map(|a| a.to_str())
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")));
        if passed {
            return None;
        }
        let arg = all_args(cmd).find(|a| a.get_long() == Some(long))?;
        let var = arg.get_env()?.to_str()?.to_owned();
        // A secret's value is never shown, nor the parser's reason (it could quote it).
        if arg.is_hide_env_values_set() {
            return Some(format!(
                "{var} (set in {}) has an invalid value",
                self.origin(&var)
            ));
        }
        let value = match e.get(ContextKind::InvalidValue) {
            Some(ContextValue::String(v)) => format!(" '{v}'"),
            _ => String::new(),
        };
        let why = std::error::Error::source(e)
            .map(|cause| format!(": {cause}"))
            .or_else(|| match e.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(valid)) => {
                    Some(format!(": expected one of {}", valid.join(", ")))
                }
                _ => None,
            })
            .unwrap_or_default();
        Some(format!(
            "{var} (set in {}) has an invalid value{value}{why}",
            self.origin(&var)
        ))
    }
}

/// Every argument of `cmd` and its subcommands.
fn all_args(cmd: &clap::Command) -> impl Iterator<Item = &clap::Arg> {
    cmd.get_arguments()
        .chain(cmd.get_subcommands().flat_map(|s| s.get_arguments()))
}

/// Whether `message` names `var` as a word (not as part of a longer name).
fn names_variable(message: &str, var: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    message
        .match_indices(var)
        .any(|(i, _)| !message[..i].ends_with(word) && !message[i + var.len()..].starts_with(word))
}

/// The line (from 1) where `key` is assigned in an env file's text.
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    type Cli = SettingsOnly;

    fn config(args: &[&str]) -> Result<Config, String> {
        Config::from_args(args.iter().copied())
    }

    /// (Config has no Debug: it holds the database URL with its password.)
    fn refusal(args: &[&str]) -> String {
        match config(args) {
            Ok(_) => panic!("{args:?} should be refused"),
            Err(e) => e,
        }
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = config(&[]).unwrap();
        assert!(matches!(c.store.database, DatabaseUrl::Sqlite(_)));
        assert!(c.secrets.secret.is_none());
        assert_eq!(c.auth.token_ttl_secs, 900);
        assert_eq!(c.auth.token_leeway_secs, DEFAULT_LEEWAY_SECS);
        assert_eq!(c.auth.password_policy, PasswordPolicy::default());
        assert_eq!(c.auth.password_format, PasswordFormat::Scrypt);
        assert!(c.auth.issuer.is_none());
        assert_eq!(c.auth.rate_limit, RateLimitPolicy::default());
        assert_eq!(c.auth.sessions, SessionPolicy::default());
        assert!(!c.store.pool.prepared_statements);
    }

    #[test]
    fn settings_are_read_and_checked() {
        let c = config(&[
            "--token-ttl-seconds=60",
            "--better-auth-url=https://app.example.com/",
            "--database-pool-size=3",
            "--password-hash=ARGON2ID",
        ])
        .unwrap();
        assert_eq!(c.auth.token_ttl_secs, 60);
        assert_eq!(c.auth.issuer.as_deref(), Some("https://app.example.com"));
        assert_eq!(c.store.pool.max_size, 3);
        assert_eq!(c.auth.password_format, PasswordFormat::Argon2id);
        let off = config(&["--rate-limit-enabled=false", "--rate-limit-max=100"]).unwrap();
        assert!(!off.auth.rate_limit.enabled);
        assert_eq!(off.auth.rate_limit.max, 100);
        for bad in [
            "--rate-limit-enabled=maybe",
            "--token-ttl-seconds=soon",
            "--token-ttl-seconds=0",
            "--token-leeway-seconds=61",
            "--password-hash=md5",
        ] {
            assert!(config(&[bad]).is_err(), "{bad}");
        }
        let err = refusal(&["--password-min-length=20", "--password-max-length=10"]);
        assert!(err.contains("PASSWORD_MIN_LENGTH"), "{err}");
    }

    #[test]
    fn http_listens_on_an_address_or_a_host_name() {
        assert_eq!(
            listen_address("127.0.0.1:8080").unwrap().to_string(),
            "127.0.0.1:8080"
        );
        assert_eq!(listen_address("[::1]:9").unwrap().to_string(), "[::1]:9");
        let named = listen_address("localhost:8080").unwrap();
        assert!(named.ip().is_loopback() && named.port() == 8080, "{named}");
        for bad in ["localhost", "8080", "localhost:port"] {
            assert!(listen_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_boolean_takes_the_same_spellings() {
        for (spelling, value) in [
            ("true", true),
            ("yes", true),
            ("on", true),
            ("1", true),
            ("false", false),
            ("no", false),
            ("off", false),
            ("0", false),
        ] {
            for flag in [
                "--read-only",
                "--rehash-on-sign-in",
                "--database-prepared-statements",
                "--rate-limit-enabled",
            ] {
                let cli = Cli::try_parse_from(["b", &format!("{flag}={spelling}")]).unwrap();
                let s = &cli.settings;
                let got = match flag {
                    "--read-only" => s.read_only,
                    "--rehash-on-sign-in" => s.rehash_on_sign_in,
                    "--database-prepared-statements" => s.database_prepared_statements,
                    _ => s.rate_limit_enabled,
                };
                assert_eq!(got, value, "{flag}={spelling}");
            }
        }
        let bare = Cli::try_parse_from(["b", "--read-only"]).unwrap();
        assert!(bare.settings.read_only);
    }

    #[test]
    fn prepared_statements_are_off_by_default_and_refused_behind_neons_pooler() {
        let direct = "--database-url=postgresql://u:p@ep-cool-1234.us-east-2.aws.neon.tech/db?sslmode=require";
        let pooled = "--database-url=postgresql://u:p@ep-cool-1234-pooler.us-east-2.aws.neon.tech/db?sslmode=require";
        assert!(!config(&[direct]).unwrap().store.pool.prepared_statements);
        let on = config(&[direct, "--database-prepared-statements"]).unwrap();
        assert!(on.store.pool.prepared_statements);
        assert!(config(&[pooled]).is_ok());
        let err = refusal(&[pooled, "--database-prepared-statements=true"]);
        assert!(err.contains("pooler"), "{err}");
    }

    #[test]
    fn a_malformed_env_file_names_the_line_and_not_its_text() {
        let dir = std::env::temp_dir().join(format!("bam-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.env");
        // The bad line comes before any variable: nothing is set in the test runner's
        // (multi-threaded) environment.
        std::fs::write(
            &path,
            "# comment\n\nthis line has a s3cr3t-value in it\nBAM_ENV_FILE_TEST=1\n",
        )
        .unwrap();
        // SAFETY: the file's first variable line is malformed, so no variable is set.
        let err = unsafe { EnvOrigins::default().load(&path) }.unwrap_err();
        assert!(err.contains("line 3"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
