//! Configuration from the environment (and `.env` / `--env-file`, loaded before this runs).

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use crate::better_auth::{
    DEFAULT_LEEWAY_SECS, MAX_LEEWAY_SECS, PasswordFormat, PasswordPolicy, RateLimitPolicy,
    SessionPolicy,
};
use crate::store::{DatabaseUrl, PoolSettings, UrlError};

/// Every setting the server reads.
pub struct Config {
    pub database: DatabaseUrl,
    /// BETTER_AUTH_SECRET; when unset with SQLite, one is generated beside the database.
    pub secret: Option<SecretString>,
    /// BETTER_AUTH_URL: issuer and audience of access tokens.
    pub base_url: Option<String>,
    pub token_ttl_secs: u64,
    pub token_leeway_secs: u64,
    pub password_policy: PasswordPolicy,
    /// PASSWORD_HASH: the format of new hashes.
    pub password_format: PasswordFormat,
    pub rehash_on_sign_in: bool,
    pub sessions: SessionPolicy,
    pub pool: PoolSettings,
    pub hash_concurrency: usize,
    pub hash_queue_limit: usize,
    pub rate_limit: RateLimitPolicy,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    DatabaseUrl(#[from] UrlError),
    #[error("{name} must be {expected}, got {value:?}")]
    BadNumber {
        name: &'static str,
        expected: &'static str,
        value: String,
    },
    #[error("PASSWORD_HASH must be argon2id or scrypt, got {0:?}")]
    BadPasswordHash(String),
    #[error("{name} must be true or false, got {value:?}")]
    BadBool { name: &'static str, value: String },
    #[error(
        "PASSWORD_MIN_LENGTH ({min}) must be at least 1 and not above PASSWORD_MAX_LENGTH ({max})"
    )]
    BadPasswordBounds { min: usize, max: usize },
    #[error(
        "DATABASE_PREPARED_STATEMENTS needs a direct connection, and DATABASE_URL names Neon's \
         pooler (a -pooler host, PgBouncer in transaction mode): use the direct host, or leave \
         prepared statements off"
    )]
    PreparedStatementsBehindPooler,
}

/// The embedded database when DATABASE_URL is unset: `<data dir>/better-auth-mcp/better-auth.db`.
pub fn default_sqlite_path() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("better-auth-mcp")
        .join("better-auth.db")
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get`, so tests need not touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let database = match get("DATABASE_URL") {
            Some(url) => DatabaseUrl::parse(&url)?,
            None => DatabaseUrl::Sqlite(default_sqlite_path()),
        };
        let number = |name: &'static str, default: u64, min: u64, max: u64| match get(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or(ConfigError::BadNumber {
                    name,
                    expected: "a whole number in range",
                    value: v,
                }),
        };
        let flag = |name: &'static str, default: bool| match get(name) {
            None => Ok(default),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(ConfigError::BadBool { name, value: v }),
            },
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
        let min = number("PASSWORD_MIN_LENGTH", 8, 1, 4096)? as usize;
        let max = number("PASSWORD_MAX_LENGTH", 128, 1, 4096)? as usize;
        if min > max {
            return Err(ConfigError::BadPasswordBounds { min, max });
        }
        let prepared_statements = flag("DATABASE_PREPARED_STATEMENTS", false)?;
        if prepared_statements
            && matches!(&database, DatabaseUrl::Postgres(pg) if pg.is_neon_pooler())
        {
            return Err(ConfigError::PreparedStatementsBehindPooler);
        }
        Ok(Self {
            database,
            secret: get("BETTER_AUTH_SECRET").map(SecretString::from),
            base_url: get("BETTER_AUTH_URL").map(|u| u.trim().trim_end_matches('/').to_owned()),
            token_ttl_secs: number("TOKEN_TTL_SECONDS", 900, 1, 86_400 * 365)?,
            token_leeway_secs: number(
                "TOKEN_LEEWAY_SECONDS",
                DEFAULT_LEEWAY_SECS,
                0,
                MAX_LEEWAY_SECS,
            )?,
            password_policy: PasswordPolicy {
                min_length: min,
                max_length: max,
            },
            password_format: match get("PASSWORD_HASH").map(|v| v.trim().to_ascii_lowercase()) {
                None => PasswordFormat::Argon2id,
                Some(v) if v == "argon2id" || v == "argon2" => PasswordFormat::Argon2id,
                Some(v) if v == "scrypt" => PasswordFormat::Scrypt,
                Some(v) => return Err(ConfigError::BadPasswordHash(v)),
            },
            rehash_on_sign_in: flag("REHASH_ON_SIGN_IN", false)?,
            sessions: SessionPolicy {
                expires_in: Duration::from_secs(number(
                    "SESSION_EXPIRES_IN_SECONDS",
                    7 * 86_400,
                    60,
                    86_400 * 3650,
                )?),
                update_age: Duration::from_secs(number(
                    "SESSION_UPDATE_AGE_SECONDS",
                    86_400,
                    0,
                    86_400 * 3650,
                )?),
            },
            pool: PoolSettings {
                max_size: number("DATABASE_POOL_SIZE", 8, 1, 1024)? as usize,
                connect_timeout: Duration::from_secs(number(
                    "DATABASE_CONNECT_TIMEOUT_SECONDS",
                    10,
                    1,
                    600,
                )?),
                wait_timeout: Duration::from_secs(number(
                    "DATABASE_POOL_TIMEOUT_SECONDS",
                    10,
                    1,
                    600,
                )?),
                prepared_statements,
            },
            hash_concurrency: number("HASH_CONCURRENCY", cores, 1, 1024)? as usize,
            hash_queue_limit: number("HASH_QUEUE_LIMIT", cores * 16, 1, 1 << 20)? as usize,
            rate_limit: RateLimitPolicy {
                enabled: flag("RATE_LIMIT_ENABLED", true)?,
                window: Duration::from_secs(number("RATE_LIMIT_WINDOW_SECONDS", 10, 1, 86_400)?),
                max: number("RATE_LIMIT_MAX", 3, 1, 1 << 30)? as u32,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = config(&[]).unwrap();
        assert!(matches!(c.database, DatabaseUrl::Sqlite(_)));
        assert!(c.secret.is_none());
        assert_eq!(c.token_ttl_secs, 900);
        assert_eq!(c.password_policy, PasswordPolicy::default());
        assert!(c.base_url.is_none());
        assert_eq!(c.rate_limit, RateLimitPolicy::default());
    }

    #[test]
    fn settings_are_read_and_checked() {
        let c = config(&[
            ("TOKEN_TTL_SECONDS", "60"),
            ("BETTER_AUTH_URL", "https://app.example.com/"),
            ("DATABASE_POOL_SIZE", "3"),
        ])
        .unwrap();
        assert_eq!(c.token_ttl_secs, 60);
        assert_eq!(c.base_url.as_deref(), Some("https://app.example.com"));
        assert_eq!(c.pool.max_size, 3);
        let off = config(&[("RATE_LIMIT_ENABLED", "false"), ("RATE_LIMIT_MAX", "100")]).unwrap();
        assert!(!off.rate_limit.enabled);
        assert_eq!(off.rate_limit.max, 100);
        assert!(matches!(
            config(&[("RATE_LIMIT_ENABLED", "maybe")]),
            Err(ConfigError::BadBool { .. })
        ));
        assert!(matches!(
            config(&[("TOKEN_TTL_SECONDS", "soon")]),
            Err(ConfigError::BadNumber { .. })
        ));
        assert!(matches!(
            config(&[("PASSWORD_MIN_LENGTH", "20"), ("PASSWORD_MAX_LENGTH", "10")]),
            Err(ConfigError::BadPasswordBounds { .. })
        ));
    }

    #[test]
    fn prepared_statements_are_off_by_default_and_refused_behind_neons_pooler() {
        let direct = "postgresql://u:p@ep-cool-1234.us-east-2.aws.neon.tech/db?sslmode=require";
        let pooled =
            "postgresql://u:p@ep-cool-1234-pooler.us-east-2.aws.neon.tech/db?sslmode=require";
        assert!(
            !config(&[("DATABASE_URL", direct)])
                .unwrap()
                .pool
                .prepared_statements
        );
        let on = [
            ("DATABASE_URL", direct),
            ("DATABASE_PREPARED_STATEMENTS", "true"),
        ];
        assert!(config(&on).unwrap().pool.prepared_statements);
        assert!(config(&[("DATABASE_URL", pooled)]).is_ok());
        assert!(matches!(
            config(&[
                ("DATABASE_URL", pooled),
                ("DATABASE_PREPARED_STATEMENTS", "true")
            ]),
            Err(ConfigError::PreparedStatementsBehindPooler)
        ));
    }
}
