//! Every helper of the integration tests, one copy each: the machine's needs, PostgreSQL
//! and PgBouncer, the server over stdio and over HTTP, the raw JSON-RPC client, the
//! backends macro, the Better Auth app, the SDK clients, tokens and the JWKS server, the
//! /metrics scraper, the OTLP trace receiver, and the load generator's modules (HAProxy,
//! the keep-alive client) shared with examples/loadgen/.

pub mod backend;
pub mod better_auth_app;
pub mod domain;
pub mod http;
pub mod jwks;
pub mod loadgen;
pub mod metrics;
pub mod otlp;
pub mod pg;
pub mod proxy;
pub mod python;
pub mod rpc;
pub mod server;
pub mod system;
pub mod tokens;

pub use loadgen::haproxy;
pub use loadgen::os::free_port;

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("better-auth-mcp-test-")
        .tempdir()
        .expect("temp dir")
}

/// The arguments `base` with `extra`'s added (both JSON objects).
pub fn merged(base: &serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    let mut all = base.clone();
    if let (Some(all), serde_json::Value::Object(extra)) = (all.as_object_mut(), extra) {
        all.extend(extra);
    }
    all
}

/// A one-time code that differs from `code` in every digit.
pub fn other_code(code: &str) -> String {
    code.chars()
        .map(|c| {
            if c == '9' {
                '0'
            } else {
                ((c as u8) + 1) as char
            }
        })
        .collect()
}

/// Installs the npm packages of `dir` (`npm ci`) unless every one of `packages` is there.
pub fn npm_installed(dir: &std::path::Path, packages: &[&str]) {
    system::require(&[system::Need::Node]);
    let there = packages.iter().all(|p| {
        dir.join("node_modules")
            .join(p)
            .join("package.json")
            .exists()
    });
    if there {
        return;
    }
    let out = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .output()
        .expect("npm runs (install Node.js and npm)");
    assert!(
        out.status.success(),
        "npm ci in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs tests/typescript/client.mjs (the official MCP TypeScript SDK) against `url` and
/// returns what it printed.
pub async fn typescript_client(url: &str, email: &str) -> serde_json::Value {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/typescript");
    npm_installed(&dir, &["@modelcontextprotocol/sdk"]);
    let out = tokio::process::Command::new("node")
        .arg(dir.join("client.mjs"))
        .args([url, email])
        .output()
        .await
        .expect("node runs");
    last_json_line(&out, "the TypeScript SDK client")
}

/// What a script that must succeed printed last, as JSON (our client scripts and the
/// Better Auth app print one JSON object per run).
pub fn last_json_line(out: &std::process::Output, what: &str) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{what}: {e}: {stdout}"))
}
