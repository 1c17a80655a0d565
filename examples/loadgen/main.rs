//! Load generator: spawns the server binary over stdio as a real MCP client does, completes
//! the handshake, and measures every figure of BENCHMARKS.md, on the embedded default and
//! (with --postgres-url) on PostgreSQL. Every answer is checked; a wrong or error answer
//! fails the run and never counts as throughput.
//!
//!     cargo build --release
//!     cargo run --release --example loadgen -- [--postgres-url URL] [--smoke] [--only SCENARIO]
//!
//! `--server PATH` picks the binary (default: target/release/better-auth-mcp). `--smoke`
//! runs every scenario briefly (CI runs it that way, with no timing assertions). `--only`
//! runs one scenario (startup, sign_up, sign_in, verify_token, get_user, api_key,
//! during_sign_ins),
//! e.g. under a profiler. `--env KEY=VALUE` sets a server setting for the run (e.g.
//! `DATABASE_PREPARED_STATEMENTS=true`). `--socketpair` gives the servers a Unix
//! socketpair as stdin and stdout, as Node-based clients do, instead of pipes.
//! `--otlp-sink` exports the servers' traces to `loadgen otlp-sink PORT` (an OTLP/HTTP
//! receiver that counts the `tools/call` spans it gets) and reports, for the stdio
//! servers, the spans received against the calls sent.
//! `loadgen null-server` is the do-nothing rmcp server (one tool, on our stdio transport):
//! the SDK's own cost, against which ours is compared.
//!
//! `--http` runs the Streamable HTTP scenarios instead: the server on a loopback port,
//! verify_token over 64 keep-alive connections (with and without `--require-auth`, and
//! authorized by an access token or by a Better Auth API key) in
//! turns with `loadgen null-http-server PORT` (the do-nothing tool behind rmcp's own HTTP
//! service, configured as ours), startup to /readyz, memory with 1,000 idle keep-alive
//! connections, and with --postgres-url two instances behind HAProxy (`haproxy` on PATH).
//! `--only` takes startup, verify_token or idle_connections there. With
//! `LOADGEN_PROFILE=keys` (or `token`) in the environment, `--http --only verify_token`
//! holds the 64-connection load authorized by 64 API keys (or an access token) for 20 s,
//! prints `PROFILE START` and `PROFILE END <calls/s>` on stderr around it and ends the
//! run there, the servers' stderr shown: a window for `perf record -a`.
//!
//! The modules (`client`, `stats`, `stdio`, `http`, `haproxy`, `null`, `os`, `otlp`) name each
//! other through `super::`, so that the tests mount the ones they use (tests/it/support).

mod client;
mod haproxy;
mod http;
mod null;
mod os;
mod otlp;
mod stats;
mod stdio;

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use rmcp::ServiceExt;

use client::SOCKETPAIR;
use http::{HttpTarget, http_server_command, measure_haproxy, measure_http};
use os::free_port;
use stats::Sizes;
use stdio::{measure_null_server, measure_server, server_command, start_null_server};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("null-server") => return null_server(),
        Some("otlp-sink") => {
            let port = args.get(1).and_then(|p| p.parse().ok());
            return otlp::otlp_sink(port.expect("otlp-sink PORT"));
        }
        Some("null-http-server") => {
            let port = args.get(1).and_then(|p| p.parse().ok());
            return null_http_server(port.expect("null-http-server PORT"));
        }
        _ => {}
    }
    let mut server = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/release/better-auth-mcp"
    ));
    let mut postgres_url = None;
    let mut extra_env = Vec::new();
    let mut sizes = Sizes::FULL;
    let mut http = false;
    let mut otlp_sink = false;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--server" => server = PathBuf::from(it.next().expect("--server PATH")),
            "--postgres-url" => postgres_url = Some(it.next().expect("--postgres-url URL")),
            "--socketpair" => SOCKETPAIR.store(true, Ordering::Relaxed),
            "--http" => http = true,
            "--otlp-sink" => otlp_sink = true,
            "--smoke" => {
                sizes = Sizes {
                    only: sizes.only,
                    ..Sizes::SMOKE
                }
            }
            "--env" => {
                let pair = it.next().expect("--env KEY=VALUE");
                let (k, v) = pair.split_once('=').expect("--env KEY=VALUE");
                extra_env.push((k.to_owned(), v.to_owned()));
            }
            "--only" => {
                sizes.only = Some(it.next().expect("--only SCENARIO").leak());
            }
            other => panic!("unknown argument {other}; see the header of examples/loadgen/main.rs"),
        }
    }
    let server = std::fs::canonicalize(&server).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (build it first: cargo build --release)",
            server.display()
        )
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if otlp_sink {
        let sink = runtime.block_on(otlp::OtlpSink::start());
        extra_env.push((
            "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
            sink.endpoint.clone(),
        ));
        let _ = otlp::SINK.set(sink);
    }
    if http {
        return runtime.block_on(run_http(server, postgres_url, extra_env, sizes));
    }
    runtime.block_on(async move {
        let me = std::env::current_exe().unwrap();
        let null = start_null_server(me).await;
        let mut report = vec![(
            "do-nothing server",
            measure_null_server(null.clone(), sizes).await,
        )];
        let dir = tempfile::tempdir().unwrap();
        eprintln!("embedded (SQLite):");
        let embedded = measure_server(
            "embedded",
            server_command(server.clone(), dir.path().into(), None, extra_env.clone()),
            sizes,
            Some(null.clone()),
        )
        .await;
        report.push(("embedded (SQLite)", embedded));
        if let Some(url) = postgres_url {
            let dir = tempfile::tempdir().unwrap();
            eprintln!("PostgreSQL:");
            let pg = measure_server(
                "postgres",
                server_command(server, dir.path().into(), Some(url), extra_env),
                sizes,
                Some(null.clone()),
            )
            .await;
            report.push(("PostgreSQL", pg));
        }
        println!("| backend | figure | value |\n| --- | --- | --- |");
        for (backend, figures) in report {
            for f in figures {
                println!("| {backend} | {} | {} |", f.name, f.value);
            }
        }
    });
}

/// `--http`: the HTTP scenarios against the do-nothing service, on PostgreSQL when a URL
/// is given (then also two instances behind HAProxy), else on the embedded store.
async fn run_http(
    server: PathBuf,
    postgres_url: Option<String>,
    extra_env: Vec<(String, String)>,
    sizes: Sizes,
) {
    let null_port = free_port();
    let null = {
        let mut c = tokio::process::Command::new(std::env::current_exe().unwrap());
        c.arg("null-http-server").arg(null_port.to_string());
        HttpTarget::start(c, null_port).await.0
    };
    let dir = tempfile::tempdir().unwrap();
    let command = http_server_command(server, dir.path().into(), postgres_url.clone(), extra_env);
    let backend = if postgres_url.is_some() {
        "PostgreSQL"
    } else {
        "embedded (SQLite)"
    };
    eprintln!("HTTP, {backend}:");
    let mut report = measure_http(&command, &null.url, sizes).await;
    if postgres_url.is_some() && std::env::var_os("LOADGEN_PROFILE").is_none() {
        report.extend(measure_haproxy(|port| command(port, false), sizes).await);
    }
    println!("| backend | figure | value |\n| --- | --- | --- |");
    for f in report {
        println!("| HTTP, {backend} | {} | {} |", f.name, f.value);
    }
}

/// Serves [`null::NullServer`] on stdin/stdout until EOF (`loadgen null-server`).
fn null_server() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let running = null::NullServer::new()
            .serve(better_auth_mcp::mcp::stdio::transport())
            .await
            .expect("the client initializes");
        let _ = running.waiting().await;
    });
    std::process::exit(0);
}

/// Serves [`null::NullServer`] over Streamable HTTP at http://127.0.0.1:PORT/mcp
/// (`loadgen null-http-server PORT`).
fn null_http_server(port: u16) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        null::serve_null_http(listener).await;
    });
}
