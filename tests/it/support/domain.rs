//! The domain (`better_auth::AuthService`) over an embedded store, as a library: for the
//! tests that call it without MCP or drive its tools in-process.

use better_auth_mcp::better_auth::{AuthService, AuthSettings, RateLimitPolicy, Secrets};
use better_auth_mcp::store::{DatabaseUrl, PoolSettings, Store};

use super::server::SECRET;

/// The service over a fresh SQLite database in `dir`, with `rate_limit`.
pub async fn service(dir: &std::path::Path, rate_limit: RateLimitPolicy) -> AuthService<Store> {
    let url = DatabaseUrl::parse(&format!("sqlite://{}", dir.join("lib.db").display())).unwrap();
    let store = Store::open(&url, &PoolSettings::default()).await.unwrap();
    store.migrate().await.unwrap();
    let settings = AuthSettings {
        issuer: Some("https://app.example.com".into()),
        hash_concurrency: 2,
        rate_limit,
        ..AuthSettings::default()
    };
    AuthService::new(store, Secrets::single(SECRET.into()), settings).unwrap()
}
