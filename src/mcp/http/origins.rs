//! Which browser pages may call: the allowed Origins (and, on a loopback listener answering
//! to loopback names, this machine's pages), matched as rmcp matches them, with CORS for
//! the allowed ones and none for the others.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::header;
use axum::response::Response;

use super::HttpSettings;

impl HttpSettings {
    /// The Host names a server on `addr` answers to by default: the loopback names (and
    /// with the port), as rmcp's DNS-rebinding guard has them.
    pub fn loopback_hosts(addr: SocketAddr) -> Vec<String> {
        let port = addr.port();
        LOOPBACK_NAMES
            .iter()
            .flat_map(|h| [h.to_string(), format!("{h}:{port}")])
            .collect()
    }

    /// The Origins of pages served from this machine, any port, http or https: allowed
    /// besides `allowed_origins` when the server listens on a loopback address and answers
    /// only to loopback Host names, where only this machine's processes reach it anyway
    /// (a foreign page still gets 403).
    pub fn loopback_origins() -> Vec<String> {
        LOOPBACK_NAMES
            .iter()
            .flat_map(|h| ["http", "https"].map(|scheme| format!("{scheme}://{h}:*")))
            .collect()
    }

    /// The Origins allowed on `listening`: `allowed_origins`, and the
    /// [`HttpSettings::loopback_origins`] when `listening` is a loopback address and every
    /// allowed Host is a loopback name (behind a local reverse proxy or a tunnel, with
    /// `--allowed-hosts mcp.example.com`, pages from anywhere reach the server).
    pub(super) fn origins_on(&self, listening: SocketAddr) -> Vec<String> {
        let mut origins = self.allowed_origins.clone();
        if listening.ip().is_loopback() && only_loopback_names(&self.allowed_hosts) {
            origins.extend(Self::loopback_origins());
        }
        origins
    }
}

/// The names of this machine, as Host names and in Origins.
const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// Whether `hosts` names only loopback hosts (with or without a port); an empty list lets
/// every Host through, so it does not.
fn only_loopback_names(hosts: &[String]) -> bool {
    let host_of = |entry: &str| {
        let entry = entry.trim();
        let host = axum::http::uri::Authority::try_from(entry)
            .map(|a| a.host().to_owned())
            .unwrap_or_else(|_| entry.to_owned());
        host.trim_matches(['[', ']']).to_ascii_lowercase()
    };
    !hosts.is_empty()
        && hosts.iter().all(|entry| {
            let host = host_of(entry);
            LOOPBACK_NAMES
                .iter()
                .any(|name| name.trim_matches(['[', ']']) == host)
        })
}

/// An entry of the allowed-Origin list, matched as rmcp's Origin check matches it:
/// `null`, or a scheme and host with a port (`:*`, or none, for any port; an Origin
/// without a port has its scheme's default one).
#[derive(Debug, PartialEq, Eq)]
enum OriginRule {
    Null,
    Tuple {
        scheme: String,
        host: String,
        port: Option<u16>,
    },
}

/// An Origin (or an allowed-Origin entry): `null`, or scheme, host and port if any.
fn parse_origin(value: &str) -> Option<OriginRule> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("null") {
        return Some(OriginRule::Null);
    }
    let uri = axum::http::Uri::try_from(value).ok()?;
    let authority = uri.authority()?;
    Some(OriginRule::Tuple {
        scheme: uri.scheme_str()?.to_ascii_lowercase(),
        host: authority
            .host()
            .trim_matches(['[', ']'])
            .to_ascii_lowercase(),
        port: authority.port_u16(),
    })
}

impl OriginRule {
    fn parse(entry: &str) -> Option<Self> {
        match entry.trim().strip_suffix(":*") {
            Some(base) => match parse_origin(base)? {
                rule @ Self::Tuple { port: None, .. } => Some(rule),
                _ => None,
            },
            None => parse_origin(entry),
        }
    }

    fn matches(&self, origin: &OriginRule) -> bool {
        match (self, origin) {
            (Self::Null, Self::Null) => true,
            (
                Self::Tuple { scheme, host, port },
                Self::Tuple {
                    scheme: o_scheme,
                    host: o_host,
                    port: o_port,
                },
            ) => {
                let default = match o_scheme.as_str() {
                    "http" => Some(80),
                    "https" => Some(443),
                    _ => None,
                };
                scheme == o_scheme
                    && host == o_host
                    && port.is_none_or(|port| o_port.or(default) == Some(port))
            }
            _ => false,
        }
    }
}

/// Whether a browser page of `origin` may call, by the allowed-Origin `rules`.
fn origin_allowed(origin: &str, rules: &[OriginRule]) -> bool {
    parse_origin(origin).is_some_and(|origin| rules.iter().any(|rule| rule.matches(&origin)))
}

/// CORS for the allowed Origins: their preflights are answered here, before any other
/// layer (no bearer token is asked of a preflight), with the methods and headers an MCP
/// client sends, and their answers expose `WWW-Authenticate` and `Mcp-Session-Id`.
/// Another Origin's preflight gets no `Access-Control-Allow-*` headers (see
/// [`without_partial_cors`]) and its requests still get 403 from rmcp.
pub(super) fn cors(allowed_origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, Method};
    let rules: Arc<Vec<OriginRule>> = Arc::new(
        allowed_origins
            .iter()
            .filter_map(|entry| OriginRule::parse(entry))
            .collect(),
    );
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::AllowOrigin::predicate(
            move |origin, _parts| {
                origin
                    .to_str()
                    .is_ok_and(|origin| origin_allowed(origin, &rules))
            },
        ))
        .allow_methods([Method::POST, Method::GET, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("mcp-protocol-version"),
            HeaderName::from_static("mcp-session-id"),
            HeaderName::from_static("last-event-id"),
            HeaderName::from_static("x-api-key"),
        ])
        .expose_headers([
            header::WWW_AUTHENTICATE,
            HeaderName::from_static("mcp-session-id"),
        ])
}

/// Drops the `Access-Control-*` headers the CORS layer adds whatever the Origin (the
/// methods, the headers) from an answer that allows no Origin.
pub(super) async fn without_partial_cors(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        let partial: Vec<_> = headers
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in partial {
            headers.remove(name);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_loopback_origins_are_the_three_loopback_names_on_any_port() {
        let origins = HttpSettings::loopback_origins();
        assert_eq!(origins.len(), 6);
        assert!(origins.contains(&"http://localhost:*".to_owned()));
        assert!(origins.contains(&"https://[::1]:*".to_owned()));
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let hosts = HttpSettings::loopback_hosts(addr);
        assert_eq!(hosts.len(), 6);
        assert!(hosts.contains(&"[::1]:8080".to_owned()));
    }

    fn settings(addr: &str, hosts: &[&str]) -> HttpSettings {
        let addr: SocketAddr = addr.parse().unwrap();
        HttpSettings {
            addr,
            allowed_hosts: if hosts.is_empty() {
                HttpSettings::loopback_hosts(addr)
            } else {
                hosts.iter().map(|h| h.to_string()).collect()
            },
            allowed_origins: vec!["https://app.example.com".into()],
            max_body_bytes: 1 << 20,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_in_flight: 256,
            max_connections: 4096,
            drain: Duration::from_secs(10),
            auth: None,
            trusted_proxies: vec![],
        }
    }

    #[test]
    fn loopback_origins_are_added_only_on_loopback_answering_to_loopback_names() {
        let with_loopback = |addr: &str, hosts: &[&str]| {
            let s = settings(addr, hosts);
            let origins = s.origins_on(s.addr);
            assert!(origins.contains(&"https://app.example.com".to_owned()));
            origins.contains(&"http://localhost:*".to_owned())
        };
        assert!(with_loopback("127.0.0.1:8080", &[]), "the default hosts");
        assert!(with_loopback("[::1]:8080", &[]));
        assert!(with_loopback(
            "127.0.0.1:8080",
            &["localhost:8080", "[::1]", "::1"]
        ));
        assert!(!with_loopback("127.0.0.1:8080", &["mcp.example.com"]));
        assert!(!with_loopback(
            "127.0.0.1:8080",
            &["localhost", "mcp.example.com"]
        ));
        assert!(!with_loopback("127.0.0.1:8080", &["localhost.example.com"]));
        assert!(
            !with_loopback("0.0.0.0:8080", &[]),
            "not a loopback address"
        );
        assert!(!only_loopback_names(&[]), "no list lets every Host through");
    }

    #[test]
    fn cors_allows_the_origins_rmcp_allows() {
        let rules: Vec<OriginRule> = HttpSettings::loopback_origins()
            .iter()
            .chain(&[
                "https://app.example.com".to_owned(),
                "http://exact.example.com:8080".to_owned(),
                "https://implied.example.com:443".to_owned(),
                "not an origin".to_owned(),
            ])
            .filter_map(|entry| OriginRule::parse(entry))
            .collect();
        assert_eq!(rules.len(), 9);
        for origin in [
            "http://localhost:5173",
            "https://localhost",
            "http://127.0.0.1:6274",
            "https://[::1]:8443",
            "HTTP://LocalHost:5173",
            "https://app.example.com",
            "https://app.example.com:8443",
            "http://exact.example.com:8080",
            "https://implied.example.com",
        ] {
            assert!(origin_allowed(origin, &rules), "{origin}");
        }
        for origin in [
            "http://evil.example.com",
            "http://localhost.evil.example.com:5173",
            "http://127.0.0.2:5173",
            "null",
            "http://app.example.com",
            "http://exact.example.com:8081",
            "http://exact.example.com",
            "garbage",
        ] {
            assert!(!origin_allowed(origin, &rules), "{origin}");
        }
        assert_eq!(OriginRule::parse("https://a.example:443:*"), None);
    }
}
