//! DATABASE_URL: `postgres://`/`postgresql://` (Neon's string as pasted) or `sqlite://PATH`.
//!
//! tokio-postgres knows only `sslmode=disable|prefer|require` and no `sslrootcert`, so the
//! libpq options it lacks are taken out here and given their libpq meaning by our TLS setup.

use std::path::PathBuf;
use std::str::FromStr;

use percent_encoding::percent_decode_str;

/// libpq's `sslmode`, with libpq's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    /// Encrypt; verify the chain only when `sslrootcert` is given (as libpq does).
    Require,
    /// Encrypt and verify the certificate chain.
    VerifyCa,
    /// Encrypt, verify the chain and the host name.
    VerifyFull,
}

#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("DATABASE_URL must start with postgres://, postgresql:// or sqlite://")]
    UnsupportedScheme,
    #[error("DATABASE_URL has an unknown sslmode {0:?}")]
    BadSslMode(String),
    #[error("DATABASE_URL is not a valid PostgreSQL URL: {0}")]
    Invalid(String),
    #[error("DATABASE_URL names no SQLite file")]
    EmptySqlitePath,
}

/// A parsed PostgreSQL URL.
#[derive(Clone)]
pub struct PgUrl {
    pub config: tokio_postgres::Config,
    pub ssl_mode: SslMode,
    pub root_cert: Option<PathBuf>,
}

impl std::fmt::Debug for PgUrl {
    // The config holds the password: print only where it points.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl PgUrl {
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let (base, query) = raw.split_once('?').unwrap_or((raw, ""));
        let mut ssl_mode = None;
        let mut root_cert = None;
        let mut kept: Vec<&str> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode_str(value).decode_utf8_lossy().into_owned();
            match percent_decode_str(key).decode_utf8_lossy().as_ref() {
                "sslmode" => {
                    ssl_mode = Some(match value.as_str() {
                        "disable" => SslMode::Disable,
                        "allow" | "prefer" => SslMode::Prefer,
                        "require" => SslMode::Require,
                        "verify-ca" => SslMode::VerifyCa,
                        "verify-full" => SslMode::VerifyFull,
                        other => return Err(UrlError::BadSslMode(other.to_owned())),
                    })
                }
                "sslrootcert" if !value.is_empty() && value != "system" => {
                    root_cert = Some(PathBuf::from(value))
                }
                "sslrootcert" => {}
                _ => kept.push(pair),
            }
        }
        let mut ssl_mode = ssl_mode.unwrap_or(SslMode::Prefer);
        if ssl_mode == SslMode::Require && root_cert.is_some() {
            ssl_mode = SslMode::VerifyCa;
        }
        kept.push(match ssl_mode {
            SslMode::Disable => "sslmode=disable",
            SslMode::Prefer => "sslmode=prefer",
            _ => "sslmode=require",
        });
        let rebuilt = format!("{base}?{}", kept.join("&"));
        let config = tokio_postgres::Config::from_str(&rebuilt)
            .map_err(|e| UrlError::Invalid(e.to_string()))?;
        Ok(Self {
            config,
            ssl_mode,
            root_cert,
        })
    }

    /// Whether the URL names Neon's pooler (a `-pooler` host: PgBouncer in transaction
    /// mode).
    pub fn is_neon_pooler(&self) -> bool {
        use tokio_postgres::config::Host;
        self.config
            .get_hosts()
            .iter()
            .any(|h| matches!(h, Host::Tcp(name) if name.split('.').next().is_some_and(|first| first.ends_with("-pooler"))))
    }

    /// `host:port/dbname (sslmode)` for logs: no user, no password.
    pub fn describe(&self) -> String {
        use tokio_postgres::config::Host;
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let db = self.config.get_dbname().unwrap_or("");
        format!(
            "postgresql {host}:{port}/{db} (sslmode {:?})",
            self.ssl_mode
        )
    }
}

/// Where the users live.
#[derive(Debug, Clone)]
pub enum DatabaseUrl {
    Postgres(Box<PgUrl>),
    Sqlite(PathBuf),
}

/// `sqlite:///C:/data/auth.db` names `C:/data/auth.db` on Windows (a URL's path starts
/// with a slash; a drive letter path does not).
fn windows_drive(path: &str) -> &str {
    let b = path.as_bytes();
    let drive =
        cfg!(windows) && b.len() >= 3 && b[0] == b'/' && b[1].is_ascii_alphabetic() && b[2] == b':';
    if drive { &path[1..] } else { path }
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(Box::new(PgUrl::parse(raw)?)));
        }
        if let Some(path) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            let path = percent_decode_str(path).decode_utf8_lossy();
            if path.is_empty() {
                return Err(UrlError::EmptySqlitePath);
            }
            return Ok(Self::Sqlite(PathBuf::from(windows_drive(&path))));
        }
        Err(UrlError::UnsupportedScheme)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_postgres::config::{ChannelBinding, Host, SslMode as PgSsl};

    #[test]
    fn a_neon_pooled_url_parses_as_pasted() {
        let url = "postgresql://neondb_owner:npg_s3cr3t@ep-cool-darkness-a1b2c3d4-pooler.eu-central-1.aws.neon.tech/neondb?sslmode=require&channel_binding=require";
        let DatabaseUrl::Postgres(pg) = DatabaseUrl::parse(url).unwrap() else {
            panic!("not postgres")
        };
        assert_eq!(pg.ssl_mode, SslMode::Require);
        assert_eq!(pg.config.get_ssl_mode(), PgSsl::Require);
        assert_eq!(pg.config.get_channel_binding(), ChannelBinding::Require);
        assert_eq!(pg.config.get_dbname(), Some("neondb"));
        assert!(matches!(&pg.config.get_hosts()[0], Host::Tcp(h) if h.ends_with("neon.tech")));
        let shown = format!("{pg:?}");
        assert!(
            !shown.contains("npg_s3cr3t") && !shown.contains("neondb_owner"),
            "{shown}"
        );
    }

    #[test]
    fn verify_full_and_sslrootcert_are_understood() {
        let url = "postgres://u:p@localhost:5433/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&channel_binding=require";
        let DatabaseUrl::Postgres(pg) = DatabaseUrl::parse(url).unwrap() else {
            panic!()
        };
        assert_eq!(pg.ssl_mode, SslMode::VerifyFull);
        assert_eq!(
            pg.root_cert.as_deref(),
            Some(std::path::Path::new("/tmp/ca.pem"))
        );
        assert_eq!(pg.config.get_ssl_mode(), PgSsl::Require);
        assert_eq!(pg.config.get_ports(), &[5433]);
    }

    #[test]
    fn require_with_a_root_cert_verifies_the_chain_like_libpq() {
        let DatabaseUrl::Postgres(pg) =
            DatabaseUrl::parse("postgres://u@h/db?sslmode=require&sslrootcert=ca.pem").unwrap()
        else {
            panic!()
        };
        assert_eq!(pg.ssl_mode, SslMode::VerifyCa);
    }

    #[test]
    fn sqlite_urls_name_a_file() {
        assert!(
            matches!(DatabaseUrl::parse("sqlite:///var/lib/x.db").unwrap(), DatabaseUrl::Sqlite(p) if p == std::path::Path::new("/var/lib/x.db"))
        );
        assert!(
            matches!(DatabaseUrl::parse("sqlite://data/x.db").unwrap(), DatabaseUrl::Sqlite(p) if p == std::path::Path::new("data/x.db"))
        );
        assert!(matches!(
            DatabaseUrl::parse("sqlite://"),
            Err(UrlError::EmptySqlitePath)
        ));
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        assert!(matches!(
            DatabaseUrl::parse("mysql://u:p@h/db"),
            Err(UrlError::UnsupportedScheme)
        ));
        assert!(matches!(
            DatabaseUrl::parse("postgres://u:p@h/db?sslmode=bogus"),
            Err(UrlError::BadSslMode(_))
        ));
        let err = DatabaseUrl::parse("postgres://u:hunter2secret@h/db?bogus_option=1")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2secret"), "{err}");
    }
}
