//! The settings as given: one clap derive, each setting with its environment variable
//! (also from `.env` and `--env-file`, loaded before this parses), so `--help` lists each
//! one with its default and range, and true/false have the same spellings everywhere
//! (true/yes/on/1, false/no/off/0).

use clap::builder::{
    BoolishValueParser, PossibleValue, PossibleValuesParser, TypedValueParser as _,
};

use crate::better_auth::credentials::jwt::{DEFAULT_LEEWAY_SECS, MAX_LEEWAY_SECS};
use crate::store::{Casing, TableNames};

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
    /// The toolsets to offer (comma-separated: auth, browser_sign_in, api_keys,
    /// organizations, admin).
    /// Default (or empty): auth.
    #[arg(
        long,
        env = "BETTER_AUTH_MCP_TOOLSETS",
        value_name = "LIST",
        value_delimiter = ',',
        global = true
    )]
    pub toolsets: Option<Vec<String>>,
    /// Offer only these tools of the toolsets (comma-separated, e.g. sign_in,verify_token).
    /// Default (or empty): all of them.
    #[arg(
        long,
        env = "BETTER_AUTH_MCP_TOOLS",
        value_name = "LIST",
        value_delimiter = ',',
        global = true
    )]
    pub tools: Option<Vec<String>>,
    /// Offer only the read-only tools (of auth: verify_token and get_user): no account or
    /// key is created, no password handled.
    #[arg(long, env = "BETTER_AUTH_MCP_READ_ONLY", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_parser = BoolishValueParser::new(), hide_possible_values = true, global = true)]
    pub read_only: bool,
    /// The organization plugin's roles as the app defines them in code (its `roles`
    /// option): a JSON file {"<role>": {"<resource>": ["<action>", ...]}}. Given, it
    /// replaces the plugin's default roles (owner, admin, member), as that option does.
    #[arg(
        long,
        env = "ORGANIZATION_ROLES_FILE",
        value_name = "PATH",
        global = true
    )]
    pub organization_roles_file: Option<std::path::PathBuf>,
    /// The roles granted the admin toolset: over HTTP, callers with one of these roles
    /// (comma-separated) may use it. Default (or empty): admin.
    #[arg(
        long,
        env = "ADMIN_ROLES",
        value_name = "LIST",
        value_delimiter = ',',
        global = true
    )]
    pub admin_roles: Option<Vec<String>>,
    /// As the app's admin plugin's `adminUserIds`: over HTTP, these users (comma-separated
    /// ids) may use the admin toolset whatever their role. Default: none.
    #[arg(
        long,
        env = "ADMIN_USER_IDS",
        value_name = "LIST",
        value_delimiter = ',',
        global = true
    )]
    pub admin_user_ids: Option<Vec<String>>,
    /// The Better Auth app's device verification page, where browser sign-in sends the
    /// person (https; http only for localhost). Default: /device on BETTER_AUTH_URL's origin.
    #[arg(long, env = "BROWSER_SIGN_IN_URL", value_name = "URL", global = true)]
    pub browser_sign_in_url: Option<String>,
    /// The client id browser sign-in writes in each deviceCode row (the app's
    /// deviceAuthorization validateClient may restrict client ids).
    #[arg(
        long,
        env = "BROWSER_SIGN_IN_CLIENT_ID",
        value_name = "ID",
        default_value = "better-auth-mcp",
        global = true
    )]
    pub browser_sign_in_client_id: String,
    /// As the app's deviceAuthorization expiresIn, in seconds: how long a browser sign-in
    /// may wait for the person (1 to 86400).
    #[arg(long, env = "BROWSER_SIGN_IN_EXPIRES_IN_SECONDS", value_name = "SECONDS",
          default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..=86_400),
          global = true)]
    pub browser_sign_in_expires_in_seconds: u64,
    /// As the app's deviceAuthorization interval, in seconds: the shortest time between
    /// two complete_browser_sign_in calls (1 to 600).
    #[arg(long, env = "BROWSER_SIGN_IN_INTERVAL_SECONDS", value_name = "SECONDS",
          default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600),
          global = true)]
    pub browser_sign_in_interval_seconds: u64,
    /// How long begin_browser_sign_in waits for the person's approval when the client
    /// showed the URL itself (URL-mode elicitation), in seconds (0 to 600).
    #[arg(long, env = "BROWSER_SIGN_IN_WAIT_SECONDS", value_name = "SECONDS",
          default_value_t = 120, value_parser = clap::value_parser!(u64).range(0..=600),
          global = true)]
    pub browser_sign_in_wait_seconds: u64,
    /// Browser sign-ins a client address may begin per minute (over HTTP; 1 to 10000).
    #[arg(long, env = "BROWSER_SIGN_IN_RATE_LIMIT_MAX", value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=10_000), global = true)]
    pub browser_sign_in_rate_limit_max: u32,
    /// Browser sign-ins everyone together may begin per minute (1 to 100000).
    #[arg(long, env = "BROWSER_SIGN_IN_GLOBAL_RATE_LIMIT_MAX", value_name = "N",
          default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=100_000),
          global = true)]
    pub browser_sign_in_global_rate_limit_max: u32,
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
        value_parser = PossibleValuesParser::new([
            PossibleValue::new("camelCase").help("`emailVerified`: Better Auth's own migration, Prisma"),
            PossibleValue::new("snake_case").help("`email_verified`: Drizzle's schema generator"),
        ])
        .map(|v| if v == "camelCase" { Casing::Camel } else { Casing::Snake }),
        global = true
    )]
    pub database_schema_casing: Option<Casing>,
    /// Table names: singular (user) or plural (users, usePlural). Default: as the database
    /// has them.
    #[arg(
        long,
        env = "DATABASE_SCHEMA_TABLES",
        value_name = "NAMES",
        value_parser = PossibleValuesParser::new([
            PossibleValue::new("singular").help("`user`, `session`: Better Auth's default"),
            PossibleValue::new("plural").help("`users`, `sessions`: `usePlural: true`"),
        ])
        .map(|v| if v == "singular" { TableNames::Singular } else { TableNames::Plural }),
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
    /// As the app's api-key plugin's `disableKeyHashing`: keys are stored in clear in
    /// `apikey.key` (the plugin's default, false, stores their SHA-256).
    #[arg(long, env = "API_KEY_DISABLE_HASHING", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_parser = BoolishValueParser::new(), hide_possible_values = true, global = true)]
    pub api_key_disable_hashing: bool,
    /// Permissions new API keys get (JSON, e.g. {"files":["read"]}), as the app's
    /// api-key plugin's `permissions.defaultPermissions`. Default: none.
    #[arg(
        long,
        env = "API_KEY_DEFAULT_PERMISSIONS",
        value_name = "JSON",
        global = true
    )]
    pub api_key_default_permissions: Option<String>,
    /// As the app's api-key plugin's `enableMetadata`: create_api_key accepts metadata.
    #[arg(long, env = "API_KEY_ENABLE_METADATA", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_parser = BoolishValueParser::new(), hide_possible_values = true, global = true)]
    pub api_key_enable_metadata: bool,
    /// As the app's api-key plugin's `rateLimit.enabled`: false, no key is rate-limited
    /// (and new keys are made without a limit).
    #[arg(long, env = "API_KEY_RATE_LIMIT_ENABLED", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_value = "true", default_missing_value = "true",
          value_parser = BoolishValueParser::new(), hide_possible_values = true, global = true)]
    pub api_key_rate_limit_enabled: bool,
    /// As the plugin's `rateLimit.maxRequests`: requests a new key may make per window.
    #[arg(long, env = "API_KEY_RATE_LIMIT_MAX", value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=2_147_483_647), global = true)]
    pub api_key_rate_limit_max: u32,
    /// As the plugin's `rateLimit.timeWindow`, in milliseconds: a new key's window.
    #[arg(long, env = "API_KEY_RATE_LIMIT_TIME_WINDOW_MS", value_name = "MS",
          default_value_t = 86_400_000,
          value_parser = clap::value_parser!(u32).range(1..=2_147_483_647), global = true)]
    pub api_key_rate_limit_time_window_ms: u32,
    /// Record every auth event and admin call in the table better_auth_mcp_audit_log
    /// (created when missing); `better-auth-mcp audit` prints its recent rows.
    #[arg(long, env = "AUDIT_LOG", value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_parser = BoolishValueParser::new(), hide_possible_values = true, global = true)]
    pub audit_log: bool,
    /// Days audit rows are kept (0: for good); older ones are deleted at start and hourly.
    #[arg(long, env = "AUDIT_LOG_RETENTION_DAYS", value_name = "DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u32).range(0..=36_500), global = true)]
    pub audit_log_retention_days: u32,
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
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464), on a listener
    /// of its own, with stdio and HTTP alike. Default: off. No authorization: keep ADDR
    /// where only your scraper reaches it.
    #[arg(long, env = "BETTER_AUTH_MCP_METRICS_ADDR", value_name = "ADDR", global = true,
          value_parser = listen_address)]
    pub metrics_addr: Option<std::net::SocketAddr>,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
