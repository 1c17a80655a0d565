//! Logs go to stderr (stdout is the protocol). Other crates are held at `info` whatever
//! RUST_LOG says: rmcp logs whole requests (passwords) and tokio-postgres query
//! parameters (hashes) at debug. rmcp is held at `warn`: over HTTP it logs three lines
//! at info for every request (a session set up and torn down per stateless call).

use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, FilterFn};
use tracing_subscriber::prelude::*;

const OWN_TARGET: &str = "better_auth_mcp";

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let no_third_party_debug = FilterFn::new(|meta| {
        let target = meta.target();
        if target.starts_with(OWN_TARGET) {
            true
        } else if target.starts_with("rmcp") {
            *meta.level() <= Level::WARN
        } else {
            *meta.level() <= Level::INFO
        }
    });
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .with_filter(no_third_party_debug)
                .with_filter(filter),
        )
        .try_init();
}
