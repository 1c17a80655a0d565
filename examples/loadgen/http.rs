//! The Streamable HTTP scenarios (`--http`): the same server serving
//! http://127.0.0.1:PORT/mcp, driven over keep-alive connections, against rmcp's own
//! Streamable HTTP service configured as ours (stateless, JSON answers) serving the
//! do-nothing tool; and two instances behind HAProxy.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Child;

use super::haproxy::HaProxy;
use super::os::{free_port, memory_kib};
use super::stats::{Figure, Report, Sizes, TURNS, mib, ms, percentiles, under_load};
use super::stdio::server_command;

/// A POST to /mcp as a client of 2025-06-18 sends it (no initialize is needed: the
/// servers are stateless); the body follows.
pub fn mcp_post(http: &reqwest::Client, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
    http.post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
}

/// A tools/call of `name` with `arguments`, POSTed to /mcp (more headers may follow).
pub fn tool_call(
    http: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    id: u64,
    name: &str,
    arguments: Value,
) -> reqwest::RequestBuilder {
    let body = json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
        "params":{"name":name,"arguments":arguments}});
    mcp_post(http, url).body(body.to_string())
}

/// A server process serving MCP over HTTP on a loopback port.
pub struct HttpTarget {
    child: Child,
    pub url: String,
    base: String,
    http: reqwest::Client,
    next_id: AtomicU64,
}

impl HttpTarget {
    /// Spawns `cmd` (serving on `port`) and returns it once /readyz answers 200 (the
    /// database answers and is migrated), with the times from spawn to the first 200 of
    /// /healthz (the process serves) and of /readyz.
    pub async fn start(mut cmd: tokio::process::Command, port: u16) -> (Self, Duration, Duration) {
        // The client is made before the clock starts: building it is not the server's time.
        let http = reqwest::Client::new();
        let started = Instant::now();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("LOADGEN_PROFILE").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true)
            .spawn()
            .expect("the server starts");
        let base = format!("http://127.0.0.1:{port}");
        let mut target = Self {
            child,
            url: format!("{base}/mcp"),
            base,
            http,
            next_id: AtomicU64::new(1),
        };
        target.answers("/healthz").await;
        let serving = started.elapsed();
        target.answers("/readyz").await;
        (target, serving, started.elapsed())
    }

    /// Waits (polling every millisecond) until `path` answers 200.
    async fn answers(&mut self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = self.http.get(format!("{}{path}", self.base)).send().await
                && r.status() == 200
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the server exited: {status}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("{}{path} did not answer 200 within 30 s", self.base);
    }

    /// Calls a tool (with `bearer` when given); panics unless it succeeded. Returns its
    /// structured result.
    pub async fn tool(&self, bearer: Option<&str>, name: &str, arguments: Value) -> Value {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        tool_over_http(&self.http, &self.url, bearer, id, name, arguments).await
    }

    pub fn memory_kib(&self, field: &str) -> Option<u64> {
        memory_kib(self.child.id()?, field)
    }
}

/// One checked tools/call over HTTP.
async fn tool_over_http(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    id: u64,
    name: &str,
    arguments: Value,
) -> Value {
    let mut request = tool_call(http, url, id, name, arguments);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let text = response.text().await.expect("a whole answer");
    assert_eq!(status, 200, "{name}: {text}");
    let mut answer: Value = serde_json::from_str(&text).expect("a JSON answer");
    let result = &mut answer["result"];
    assert!(
        result.is_object() && result["isError"] == false,
        "{name} failed: {text}"
    );
    result["structuredContent"].take()
}

/// One call of a load, checked.
type Call = Arc<dyn Fn(u64) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// verify_token of `token` at `url` (with `bearer` when given), its answer checked.
fn http_verify(http: &reqwest::Client, url: &str, bearer: Option<&str>, token: &str) -> Call {
    let bearers: Vec<String> = bearer.map(str::to_owned).into_iter().collect();
    http_verify_as(http, url, &bearers, token)
}

/// [`http_verify`], call `i` with the bearer `bearers[i % len]` (none when empty).
fn http_verify_as(http: &reqwest::Client, url: &str, bearers: &[String], token: &str) -> Call {
    let (http, url) = (http.clone(), url.to_owned());
    let (bearers, token) = (Arc::new(bearers.to_vec()), token.to_owned());
    Arc::new(move |i| {
        let bearer = (!bearers.is_empty()).then(|| bearers[i as usize % bearers.len()].clone());
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        Box::pin(async move {
            let r = tool_over_http(
                &http,
                &url,
                bearer.as_deref(),
                i,
                "verify_token",
                json!({"token": token}),
            )
            .await;
            assert_eq!(r["valid"], true, "{r}");
        })
    })
}

/// Concurrent connections of the HTTP load.
const HTTP_CONNECTIONS: usize = 64;

/// The issuer and secret of the HTTP run (authorization needs both).
pub const HTTP_ISSUER: &str = "http://localhost:3000";
pub const HTTP_SECRET: &str = "benchmark-secret-0123456789abcdef-0123456789";

/// Sequential p50 / p99, and calls/s with p50 / p99 at [`HTTP_CONNECTIONS`], of each of
/// `calls`, taking turns (see [`TURNS`]) so that all see the same load from the rest of
/// a shared machine.
async fn http_in_turns(calls: &[&Call], sizes: Sizes) -> Vec<(Vec<Duration>, f64, Vec<Duration>)> {
    let mut runs: Vec<(Vec<Duration>, f64, Vec<Duration>)> = vec![Default::default(); calls.len()];
    for _ in 0..TURNS {
        for (run, call) in runs.iter_mut().zip(calls) {
            for i in 0..(sizes.sequential / TURNS) {
                let t = Instant::now();
                call(i as u64).await;
                run.0.push(t.elapsed());
            }
        }
    }
    for _ in 0..TURNS {
        for (run, call) in runs.iter_mut().zip(calls) {
            let call = (*call).clone();
            let (rate, took) = under_load(
                HTTP_CONNECTIONS,
                sizes.window / TURNS as u32,
                u64::MAX,
                move |i| call(i),
            )
            .await;
            run.1 += rate / TURNS as f64;
            run.2.extend(took);
        }
    }
    runs
}

/// Runs the HTTP scenarios. `command(port, authorized)` starts the server on `port`,
/// requiring a bearer token when `authorized`; `null_url` is the do-nothing service's.
pub async fn measure_http(
    command: impl Fn(u16, bool) -> tokio::process::Command,
    null_url: &str,
    sizes: Sizes,
) -> Vec<Figure> {
    let mut report = Report::new("http");
    if sizes.runs("startup") {
        // The first start creates the database; the median of later starts is reported.
        let port = free_port();
        drop(HttpTarget::start(command(port, false), port).await);
        let (mut serving, mut ready) = (Vec::new(), Vec::new());
        for _ in 0..sizes.startups {
            let port = free_port();
            let (target, healthz, readyz) = HttpTarget::start(command(port, false), port).await;
            serving.push(healthz);
            ready.push(readyz);
            drop(target);
        }
        report.add(
            "startup to /healthz 200, serving (median)".into(),
            ms(percentiles(serving).0),
        );
        report.add(
            "startup to /readyz 200, database answering (median)".into(),
            ms(percentiles(ready).0),
        );
    }

    let (open_port, auth_port) = (free_port(), free_port());
    let (open, ..) = HttpTarget::start(command(open_port, false), open_port).await;
    let email = format!("bench{}-http@example.com", std::process::id());
    let up = open
        .tool(
            None,
            "sign_up",
            json!({"email": email, "password": "bench-password-1"}),
        )
        .await;
    let token = up["token"].as_str().expect("a token").to_owned();
    let http = reqwest::Client::new();
    if sizes.runs("verify_token") {
        let (authorized, ..) = HttpTarget::start(command(auth_port, true), auth_port).await;
        let mut keys = Vec::new();
        for i in 0..HTTP_CONNECTIONS {
            let created = open
                .tool(
                    None,
                    "create_api_key",
                    json!({"sessionToken": up["sessionToken"], "name": format!("bench-{i}")}),
                )
                .await;
            keys.push(created["key"].as_str().expect("a key").to_owned());
        }
        // The three get the same bytes (the token as argument and as bearer): the servers
        // without authorization ignore the header, so what differs is the server's work.
        let ours = http_verify(&http, &open.url, Some(&token), &token);
        let theirs = http_verify(&http, null_url, Some(&token), &token);
        let gated = http_verify(&http, &authorized.url, Some(&token), &token);
        // The same call authorized by Better Auth API keys (one use a request): 64 of
        // them (an agent each), and one shared by all (its uses queue on its row).
        let keyed = http_verify_as(&http, &authorized.url, &keys, &token);
        let one_key = http_verify(&http, &authorized.url, Some(&keys[0]), &token);
        // A profiler's window (main.rs: LOADGEN_PROFILE): one run held, and nothing else.
        if let Ok(which) = std::env::var("LOADGEN_PROFILE") {
            let call = match which.as_str() {
                "keys" => keyed.clone(),
                "token" => gated.clone(),
                other => panic!("LOADGEN_PROFILE={other}: keys or token"),
            };
            eprintln!("PROFILE START");
            let (rate, _) = under_load(
                HTTP_CONNECTIONS,
                Duration::from_secs(20),
                u64::MAX,
                move |i| call(i),
            )
            .await;
            eprintln!("PROFILE END {rate:.0} calls/s");
            // Returned, not exited: the servers are stopped as they are dropped.
            return report.figures;
        }
        let runs = http_in_turns(&[&ours, &theirs, &gated, &keyed, &one_key], sizes).await;
        let names = [
            "verify_token",
            "do-nothing rmcp HTTP service",
            "verify_token with --require-auth",
            "verify_token with --require-auth, authorized by 64 API keys",
            "verify_token with --require-auth, authorized by one API key",
        ];
        for (name, (seq, rate, loaded)) in names.iter().zip(&runs) {
            let (s50, s99) = percentiles(seq.clone());
            let (l50, l99) = percentiles(loaded.clone());
            report.add(
                format!("{name}: sequential p50 / p99"),
                format!("{} / {}", ms(s50), ms(s99)),
            );
            report.add(
                format!("{name}: {HTTP_CONNECTIONS} connections, p50 / p99"),
                format!("{} / {}", ms(l50), ms(l99)),
            );
            report.add(
                format!("{name}: {HTTP_CONNECTIONS} connections, {:?}", sizes.window),
                format!("{rate:.0} calls/s"),
            );
        }
        let p50 = |i: usize| percentiles(runs[i].2.clone()).0.as_secs_f64();
        report.add(
            "verify_token against do-nothing at 64 connections (target: both at most 1.3)".into(),
            format!(
                "p50 time ratio {:.2}, calls/s ratio (do-nothing / verify_token) {:.2}",
                p50(0) / p50(1),
                runs[1].1 / runs[0].1
            ),
        );
        // Run `of` against run `to`: how much slower, and how many fewer calls a second.
        let against = [
            (
                "--require-auth against none at 64 connections (target: at most 1.10)",
                2,
                0,
            ),
            (
                "authorized by 64 API keys against an access token (target: at most 1.5)",
                3,
                2,
            ),
            ("authorized by one API key against an access token", 4, 2),
        ];
        for (name, of, to) in against {
            report.add(
                name.into(),
                format!(
                    "p50 time ratio {:.2}, calls/s ratio {:.2}",
                    p50(of) / p50(to),
                    runs[to].1 / runs[of].1
                ),
            );
        }
    }

    if sizes.runs("idle_connections") {
        // Connections that made one call and stay open, idle, as agents' clients keep them.
        let mut idle = Vec::with_capacity(sizes.idle_connections);
        for i in 0..sizes.idle_connections {
            idle.push(keep_alive_call(open_port, &token, i as u64).await);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        report.add(
            format!(
                "RSS with {} idle keep-alive connections (VmRSS)",
                idle.len()
            ),
            mib(open.memory_kib("VmRSS")),
        );
        // Still serving, on a new connection.
        open.tool(None, "verify_token", json!({"token": token}))
            .await;
        drop(idle);
    }
    report.add(
        "peak RSS of the server over the run (VmHWM)".into(),
        mib(open.memory_kib("VmHWM")),
    );
    report.figures
}

/// A connection that made one verify_token call (HTTP/1.1, keep-alive) and is left open.
pub async fn keep_alive_call(port: u16, token: &str, id: u64) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the server accepts");
    let body = json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
        "params":{"name":"verify_token","arguments":{"token":token}}})
    .to_string();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\nmcp-protocol-version: 2025-06-18\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // The head, then as many body bytes as its content-length says.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.expect("an answer");
        assert!(n > 0, "the server closed the connection");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some(head_end) = text.find("\r\n\r\n") {
            let head = text[..head_end].to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("a content-length");
            if got.len() >= head_end + 4 + length {
                let answer: Value = serde_json::from_slice(&got[head_end + 4..]).unwrap();
                assert_eq!(answer["result"]["structuredContent"]["valid"], true);
                return stream;
            }
        }
    }
}

/// on one PostgreSQL (`command(port)`): what they serve together on shared cores.
pub async fn measure_haproxy(
    command: impl Fn(u16) -> tokio::process::Command,
    sizes: Sizes,
) -> Vec<Figure> {
    let ports = [free_port(), free_port()];
    let mut instances = Vec::new();
    for port in ports {
        instances.push(HttpTarget::start(command(port), port).await.0);
    }
    let proxy = HaProxy::start(free_port(), &ports).await;
    let url = format!("http://127.0.0.1:{}/mcp", proxy.port);
    let email = format!("bench{}-haproxy@example.com", std::process::id());
    let http = reqwest::Client::new();
    let up = tool_over_http(
        &http,
        &url,
        None,
        0,
        "sign_up",
        json!({"email": email, "password": "bench-password-1"}),
    )
    .await;
    let token = up["token"].as_str().expect("a token");
    let call = http_verify(&http, &url, None, token);
    // Both answer through the proxy before the load starts.
    for i in 0..4 {
        call(i).await;
    }
    let (rate, took) = under_load(HTTP_CONNECTIONS, sizes.window, u64::MAX, move |i| call(i)).await;
    let (p50, p99) = percentiles(took);
    let mut report = Report::new("haproxy");
    report.add(
        format!(
            "verify_token through HAProxy to 2 instances, {HTTP_CONNECTIONS} connections, {:?}: calls/s, p50 / p99",
            sizes.window
        ),
        format!("{rate:.0} calls/s, {} / {}", ms(p50), ms(p99)),
    );
    drop(instances);
    report.figures
}

/// [`server_command`] serving HTTP on a port, with every tool, BETTER_AUTH_URL and the
/// secret set; requiring a bearer token for that resource when `authorized`.
pub fn http_server_command(
    server: PathBuf,
    dir: PathBuf,
    postgres_url: Option<String>,
    mut extra_env: Vec<(String, String)>,
) -> impl Fn(u16, bool) -> tokio::process::Command {
    extra_env.extend(
        [
            ("BETTER_AUTH_URL", HTTP_ISSUER),
            ("BETTER_AUTH_SECRET", HTTP_SECRET),
            (
                "BETTER_AUTH_MCP_TOOLS",
                "sign_up,sign_in,verify_token,get_user,refresh_token,sign_out,create_api_key",
            ),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let base = server_command(server, dir, postgres_url, extra_env);
    move |port, authorized| {
        let mut c = base();
        c.env("BETTER_AUTH_MCP_HTTP", format!("127.0.0.1:{port}"));
        if authorized {
            c.env("BETTER_AUTH_MCP_REQUIRE_AUTH", "true").env(
                "BETTER_AUTH_MCP_PUBLIC_URL",
                format!("http://127.0.0.1:{port}/mcp"),
            );
        }
        c
    }
}
