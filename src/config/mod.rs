//! The configuration: [`Settings`] as given (one clap derive, [`settings`]), and
//! [`Config`], the checked result, each layer's settings in that layer's own type.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use crate::better_auth::audit::AuditPolicy;
use crate::better_auth::organizations::OrganizationRoles;
use crate::better_auth::settings::{AdminPolicy, ApiKeyPolicy, BrowserSignInPolicy};
use crate::better_auth::{
    AuthSettings, PasswordFormat, PasswordPolicy, RateLimitPolicy, Resource, Secrets, SessionPolicy,
};
use crate::mcp::http::HttpSettings;
use crate::store::{DatabaseUrl, PoolSettings, SchemaSettings, UrlError};

mod env_file;
pub mod settings;

pub use env_file::EnvOrigins;
pub use settings::Settings;

/// Where a Better Auth app serves its routes unless told otherwise (its `basePath`): its
/// OAuth provider's issuer is BETTER_AUTH_URL followed by it.
pub const DEFAULT_BASE_PATH: &str = "/api/auth";

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
    /// Serve Prometheus metrics at `http://ADDR/metrics` (either transport).
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// AUDIT_LOG_RETENTION_DAYS: audit rows older than this are deleted (None: kept).
    pub audit_retention: Option<Duration>,
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
    #[error(
        "API_KEY_DEFAULT_PERMISSIONS must be a JSON object of resources to lists of actions, \
         e.g. {{\"files\":[\"read\"]}}"
    )]
    BadApiKeyPermissions,
    #[error("BROWSER_SIGN_IN_URL must be an absolute https URL (http only for localhost)")]
    BadBrowserSignInUrl,
    #[error("ORGANIZATION_ROLES_FILE {path}: {problem}")]
    OrganizationRolesFile { path: String, problem: String },
}

/// API_KEY_DEFAULT_PERMISSIONS: a JSON object of resource → list of actions, kept as the
/// JSON text the plugin stores.
fn api_key_default_permissions(text: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(text) = text else {
        return Ok(None);
    };
    let parsed: std::collections::BTreeMap<String, Vec<String>> =
        serde_json::from_str(text.trim()).map_err(|_| ConfigError::BadApiKeyPermissions)?;
    serde_json::to_string(&parsed)
        .map(Some)
        .map_err(|_| ConfigError::BadApiKeyPermissions)
}

/// The embedded database when DATABASE_URL is unset: `<data dir>/better-auth-mcp/better-auth.db`.
pub fn default_sqlite_path() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("better-auth-mcp")
        .join("better-auth.db")
}

/// The BROWSER_SIGN_IN_* settings; the URL defaults to BETTER_AUTH_URL + `/device` (the
/// deviceAuthorization plugin's default page) and must be https (http only to localhost).
fn browser_sign_in_policy(s: &Settings) -> Result<BrowserSignInPolicy, ConfigError> {
    let given = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
    let given_url = given(&s.browser_sign_in_url).map(|u| u.trim().to_owned());
    // As the plugin's default, `new URL("/device", baseURL)`: the app's origin + /device.
    let url = given_url.clone().or_else(|| {
        given(&s.better_auth_url)
            .and_then(|u| url::Url::parse(u.trim()).ok())
            .and_then(|u| u.join("/device").ok())
            .map(String::from)
    });
    let acceptable = |u: &str| {
        url::Url::parse(u).is_ok_and(|parsed| match parsed.scheme() {
            "https" => true,
            "http" => matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")),
            _ => false,
        })
    };
    if given_url.as_deref().is_some_and(|u| !acceptable(u)) {
        return Err(ConfigError::BadBrowserSignInUrl);
    }
    let defaults = BrowserSignInPolicy::default();
    let per_minute = |max: u32| RateLimitPolicy {
        enabled: true,
        window: Duration::from_secs(60),
        max,
    };
    Ok(BrowserSignInPolicy {
        // A BETTER_AUTH_URL that is no URL, or plain http off loopback, gives no page
        // (begin then says so).
        verification_uri: url.filter(|u| acceptable(u)),
        client_id: s.browser_sign_in_client_id.trim().to_owned(),
        expires_in: Duration::from_secs(s.browser_sign_in_expires_in_seconds),
        interval: Duration::from_secs(s.browser_sign_in_interval_seconds),
        wait: Duration::from_secs(s.browser_sign_in_wait_seconds),
        per_address: per_minute(s.browser_sign_in_rate_limit_max),
        global: per_minute(s.browser_sign_in_global_rate_limit_max),
        ..defaults
    })
}

/// ADMIN_ROLES (trimmed; none given: `admin`) and
/// ADMIN_USER_IDS.
fn admin_policy(roles: &Option<Vec<String>>, ids: &Option<Vec<String>>) -> AdminPolicy {
    let listed = |l: &Option<Vec<String>>| -> Vec<String> {
        l.iter()
            .flatten()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    };
    let roles = listed(roles);
    AdminPolicy {
        roles: if roles.is_empty() {
            AdminPolicy::default().roles
        } else {
            roles
        },
        user_ids: listed(ids),
    }
}

/// The roles of ORGANIZATION_ROLES_FILE.
fn organization_roles(path: &std::path::Path) -> Result<OrganizationRoles, ConfigError> {
    let refused = |problem: String| ConfigError::OrganizationRolesFile {
        path: path.display().to_string(),
        problem,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| refused(format!("cannot be read: {e}")))?;
    OrganizationRoles::from_json(&text).map_err(refused)
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
        // What the settings leave unset (the hash limits) is the domain's default.
        let defaults = AuthSettings::default();
        let organization_roles = match &s.organization_roles_file {
            Some(path) if !path.as_os_str().is_empty() => organization_roles(path)?,
            _ => defaults.organization_roles.clone(),
        };
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
                hash_concurrency: s
                    .hash_concurrency
                    .map_or(defaults.hash_concurrency, |n| n as usize),
                hash_queue_limit: s
                    .hash_queue_limit
                    .map_or(defaults.hash_queue_limit, |n| n as usize),
                rate_limit: RateLimitPolicy {
                    enabled: s.rate_limit_enabled,
                    window: Duration::from_secs(s.rate_limit_window_seconds),
                    max: s.rate_limit_max as u32,
                },
                require_email_verification: s.require_email_verification,
                api_keys: ApiKeyPolicy {
                    hashing: !s.api_key_disable_hashing,
                    default_permissions: api_key_default_permissions(given(
                        &s.api_key_default_permissions,
                    ))?,
                    metadata: s.api_key_enable_metadata,
                    rate_limit_enabled: s.api_key_rate_limit_enabled,
                    rate_limit_max: s.api_key_rate_limit_max.into(),
                    rate_limit_window_ms: s.api_key_rate_limit_time_window_ms.into(),
                },
                organization_roles,
                admin: admin_policy(&s.admin_roles, &s.admin_user_ids),
                audit: AuditPolicy {
                    enabled: s.audit_log,
                },
                browser_sign_in: browser_sign_in_policy(s)?,
            },
            jwks_url: given(&s.jwks_url).map(|u| u.trim().to_owned()),
            jwks_refetch_interval: Duration::from_secs(s.jwks_refetch_interval_seconds),
            http,
            metrics_addr: s.metrics_addr,
            audit_retention: (s.audit_log_retention_days > 0)
                .then(|| Duration::from_secs(u64::from(s.audit_log_retention_days) * 86_400)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::better_auth::credentials::jwt::DEFAULT_LEEWAY_SECS;
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
    fn admin_roles_default_to_admin_and_given_lists_are_trimmed() {
        let plain = config(&[]).unwrap();
        assert_eq!(plain.auth.admin, AdminPolicy::default());
        let given =
            config(&["--admin-roles= support , admin,", "--admin-user-ids=u1, u2"]).unwrap();
        assert_eq!(given.auth.admin.roles, ["support", "admin"]);
        assert_eq!(given.auth.admin.user_ids, ["u1", "u2"]);
        let empty = config(&["--admin-roles="]).unwrap();
        assert_eq!(empty.auth.admin.roles, ["admin"], "empty is unset");
    }

    #[test]
    fn an_organization_roles_file_replaces_the_default_roles_and_a_bad_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roles.json");
        std::fs::write(&path, r#"{"auditor": {"project": ["read"]}}"#).unwrap();
        let arg = format!("--organization-roles-file={}", path.display());
        let c = config(&[&arg]).unwrap();
        assert_eq!(
            c.auth.organization_roles.names().collect::<Vec<_>>(),
            ["auditor"]
        );
        let defaults = config(&[]).unwrap().auth.organization_roles;
        assert_eq!(
            defaults.names().collect::<Vec<_>>(),
            ["admin", "member", "owner"]
        );
        std::fs::write(&path, r#"{"auditor": {"project": "read-secret-value"}}"#).unwrap();
        let err = refusal(&[&arg]);
        assert!(err.starts_with("ORGANIZATION_ROLES_FILE "), "{err}");
        assert!(!err.contains("read-secret-value"), "{err}");
        let missing = format!(
            "--organization-roles-file={}",
            dir.path().join("no.json").display()
        );
        assert!(refusal(&[&missing]).contains("cannot be read"));
    }
}
