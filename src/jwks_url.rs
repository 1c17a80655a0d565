//! A JWKS URL (Neon Auth's `/.well-known/jwks.json`, or a Better Auth app's
//! `/api/auth/jwks`) fetched over HTTPS with rustls: the [`JwksSource`] of the domain's key
//! cache, which decides when to fetch.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use crate::better_auth::ports::JwksSource;

/// The largest JWKS document read (a few keys are a few KiB).
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// The longest a fetch may take, connection included: a JWKS server that is down or
/// hangs costs a call this much at most, once per refetch interval.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a JWKS URL cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwksUrlError {
    #[error("BETTER_AUTH_JWKS_URL is not a URL")]
    NotAUrl,
    #[error(
        "BETTER_AUTH_JWKS_URL must use https (http only to this machine: localhost, 127.0.0.1, ::1)"
    )]
    NotHttps,
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

pub struct HttpJwks {
    client: reqwest::Client,
    url: Url,
}

impl HttpJwks {
    pub fn new(url: &str) -> Result<Self, JwksUrlError> {
        let url = Url::parse(url).map_err(|_| JwksUrlError::NotAUrl)?;
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err(JwksUrlError::NotHttps),
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| JwksUrlError::Client(e.to_string()))?
            .with_root_certificates(rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(!loopback)
            .redirect(reqwest::redirect::Policy::limited(3))
            .connect_timeout(FETCH_TIMEOUT)
            .timeout(FETCH_TIMEOUT)
            .user_agent(concat!("better-auth-mcp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| JwksUrlError::Client(e.to_string()))?;
        Ok(Self { client, url })
    }

    async fn get(&self) -> Result<String, String> {
        if self.url.scheme() == "https" {
            crate::entropy::seeded().await;
        }
        let mut response = self
            .client
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err("the document is larger than 1 MiB".into());
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).map_err(|_| "the document is not UTF-8".into())
    }
}

/// A fetch error without the URL's query (which could carry a key).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_redirect() {
        "too many redirects"
    } else {
        "request failed"
    };
    match std::error::Error::source(e) {
        Some(cause) => format!("{kind}: {cause}"),
        None => kind.to_owned(),
    }
}

impl JwksSource for HttpJwks {
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + '_>> {
        Box::pin(self.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_required_except_to_this_machine() {
        assert!(HttpJwks::new("https://auth.example.com/.well-known/jwks.json").is_ok());
        assert!(HttpJwks::new("http://127.0.0.1:8080/jwks").is_ok());
        assert!(HttpJwks::new("http://localhost/jwks").is_ok());
        assert!(HttpJwks::new("http://[::1]:9/jwks").is_ok());
        for bad in ["http://auth.example.com/jwks", "ftp://127.0.0.1/jwks"] {
            assert_eq!(
                HttpJwks::new(bad).err(),
                Some(JwksUrlError::NotHttps),
                "{bad}"
            );
        }
        assert_eq!(
            HttpJwks::new("not a url").err(),
            Some(JwksUrlError::NotAUrl)
        );
    }
}
