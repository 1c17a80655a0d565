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
//! runs one scenario (startup, sign_up, sign_in, verify_token, get_user, during_sign_ins),
//! e.g. under a profiler. `--env KEY=VALUE` sets a server setting for the run (e.g.
//! `DATABASE_PREPARED_STATEMENTS=true`). `--socketpair` gives the servers a Unix
//! socketpair as stdin and stdout, as Node-based clients do, instead of pipes.
//! `loadgen null-server` is the do-nothing rmcp server (one tool, on our stdio transport):
//! the SDK's own cost, against which ours is compared.
//!
//! `--http` runs the Streamable HTTP scenarios instead: the server on a loopback port,
//! verify_token over 64 keep-alive connections (with and without `--require-auth`) in
//! turns with `loadgen null-http-server PORT` (the do-nothing tool behind rmcp's own HTTP
//! service, configured as ours), startup to /readyz, memory with 1,000 idle keep-alive
//! connections, and with --postgres-url two instances behind HAProxy (`haproxy` on PATH).
//! `--only` takes startup, verify_token or idle_connections there.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use better_auth_mcp::mcp::types::VerifyResult;
use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::{Json, ServiceExt, tool, tool_handler, tool_router};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Child;
use tokio::sync::{Mutex, oneshot};

type Pending = Arc<std::sync::Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// Clients give servers a Unix socketpair as stdin and stdout instead of pipes
/// (`--socketpair`).
pub static SOCKETPAIR: AtomicBool = AtomicBool::new(false);

/// A minimal JSON-RPC client over a child's stdio: requests are pipelined, answers are
/// matched by id.
pub struct Client {
    child: Child,
    stdin: Mutex<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>,
    pending: Pending,
    next_id: AtomicU64,
}

impl Client {
    /// Spawns `cmd`, completes `initialize`, and returns the client and the time from spawn
    /// to the initialize answer.
    pub async fn start(mut cmd: tokio::process::Command) -> (Self, Duration) {
        let started = Instant::now();
        cmd.stderr(Stdio::null()).kill_on_drop(true);
        let (stdin, stdout, child): (
            Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
            Box<dyn tokio::io::AsyncRead + Send + Unpin>,
            Child,
        ) = if SOCKETPAIR.load(Ordering::Relaxed) {
            // As Node-based clients (Claude Desktop, the Inspector) spawn servers: one
            // Unix socketpair end as the child's stdin and stdout.
            let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
            let theirs_out = theirs.try_clone().unwrap();
            let child = cmd
                .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
                .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs_out)))
                .spawn()
                .expect("the server starts");
            ours.set_nonblocking(true).unwrap();
            let (read, write) = tokio::net::UnixStream::from_std(ours).unwrap().into_split();
            (Box::new(write), Box::new(read), child)
        } else {
            let mut child = cmd
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("the server starts");
            let stdin = child.stdin.take().unwrap();
            let stdout = child.stdout.take().unwrap();
            (Box::new(stdin), Box::new(stdout), child)
        };
        let pending: Pending = Arc::default();
        let routes = pending.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::with_capacity(1 << 16, stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(answer) = serde_json::from_str::<Value>(&line) else {
                    panic!("the server wrote a line that is not JSON: {line}");
                };
                let Some(id) = answer.get("id").and_then(Value::as_u64) else {
                    continue;
                };
                if let Some(tx) = routes.lock().unwrap().remove(&id) {
                    let _ = tx.send(answer);
                }
            }
        });
        let client = Self {
            child,
            stdin: Mutex::new(stdin),
            pending,
            next_id: AtomicU64::new(1),
        };
        let init = client
            .request(
                "initialize",
                json!({"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"loadgen","version":"1"}}),
            )
            .await;
        assert!(init.get("result").is_some(), "initialize failed: {init}");
        let took = started.elapsed();
        client
            .send_line(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
        (client, took)
    }

    async fn send_line(&self, line: &str) {
        let mut buf = String::with_capacity(line.len() + 1);
        buf.push_str(line);
        buf.push('\n');
        self.send(buf).await;
    }

    /// Writes one whole line (ending in a newline).
    async fn send(&self, line: String) {
        let mut stdin = self.stdin.lock().await;
        stdin
            .write_all(line.as_bytes())
            .await
            .expect("the server reads");
        stdin.flush().await.expect("the server reads");
    }

    pub async fn request(&self, method: &str, params: Value) -> Value {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        let mut line = serde_json::to_string(
            &json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}),
        )
        .unwrap();
        line.push('\n');
        self.send(line).await;
        tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .expect("an answer within 60 s")
            .expect("the server is still there")
    }

    /// Calls a tool; panics unless it succeeded. Returns its structured result.
    pub async fn tool(&self, name: &str, arguments: Value) -> Value {
        let mut answer = self
            .request("tools/call", json!({"name": name, "arguments": arguments}))
            .await;
        let result = &mut answer["result"];
        assert!(
            result.is_object() && result["isError"] == false,
            "{name} failed: {answer}"
        );
        result["structuredContent"].take()
    }

    /// The server's peak resident memory so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        memory_kib(self.child.id()?, "VmHWM")
    }
}

/// A field of /proc/PID/status (VmHWM: peak resident memory, VmRSS: resident now), in KiB.
fn memory_kib(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

/// p50 and p99 of `samples`.
fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99))
}

async fn sequential<F, Fut>(n: usize, f: F) -> (Duration, Duration)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    percentiles(samples(n, f).await)
}

/// The time of each of `n` calls made one after another.
async fn samples<F, Fut>(n: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        f(i).await;
        samples.push(t.elapsed());
    }
    samples
}

/// Rounds in which the server and the do-nothing server take turns, so that both see the
/// same load from the rest of a shared machine.
const TURNS: usize = 10;

/// Calls per second with `outstanding` calls kept in flight, for `duration` or `total`
/// calls, whichever ends first.
async fn throughput<F, Fut>(outstanding: usize, duration: Duration, total: u64, f: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    under_load(outstanding, duration, total, f).await.0
}

/// [`throughput`], and the time each call took under that load.
async fn under_load<F, Fut>(
    outstanding: usize,
    duration: Duration,
    total: u64,
    f: F,
) -> (f64, Vec<Duration>)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let f = Arc::new(f);
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..outstanding)
        .map(|_| {
            let (f, issued) = (f.clone(), issued.clone());
            tokio::spawn(async move {
                let mut took = Vec::new();
                loop {
                    let i = issued.fetch_add(1, Ordering::Relaxed);
                    if i >= total || Instant::now() >= deadline {
                        break;
                    }
                    let t = Instant::now();
                    f(i).await;
                    took.push(t.elapsed());
                }
                took
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("a worker panicked: a wrong answer"));
    }
    (all.len() as f64 / started.elapsed().as_secs_f64(), all)
}

/// How long and how much each scenario runs.
#[derive(Clone, Copy)]
pub struct Sizes {
    pub startups: usize,
    pub sign_ups: usize,
    pub sign_ins: usize,
    pub sign_in_burst: u64,
    pub sequential: usize,
    pub window: Duration,
    pub during_sign_ins: usize,
    /// Keep-alive connections held open idle (HTTP).
    pub idle_connections: usize,
    /// Run only this scenario (and what it needs), e.g. to profile it: `startup`,
    /// `sign_up`, `sign_in`, `verify_token`, `get_user` or `during_sign_ins`.
    pub only: Option<&'static str>,
}

impl Sizes {
    pub const FULL: Self = Self {
        startups: 10,
        sign_ups: 100,
        sign_ins: 50,
        sign_in_burst: 200,
        sequential: 2000,
        window: Duration::from_secs(5),
        during_sign_ins: 1000,
        idle_connections: 1000,
        only: None,
    };
    pub const SMOKE: Self = Self {
        startups: 2,
        sign_ups: 5,
        sign_ins: 5,
        sign_in_burst: 16,
        sequential: 50,
        window: Duration::from_millis(300),
        during_sign_ins: 30,
        idle_connections: 20,
        only: None,
    };

    /// Whether `scenario` runs.
    pub fn runs(&self, scenario: &str) -> bool {
        self.only.is_none_or(|only| only == scenario)
    }
}

/// One line of the report.
pub struct Figure {
    pub name: String,
    pub value: String,
}

/// The figures of one run, each printed to stderr as it is measured.
struct Report {
    label: &'static str,
    figures: Vec<Figure>,
}

impl Report {
    fn new(label: &'static str) -> Self {
        Self {
            label,
            figures: Vec::new(),
        }
    }

    fn add(&mut self, name: String, value: String) {
        eprintln!("  {}: {name}: {value}", self.label);
        self.figures.push(Figure { name, value });
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// Runs every scenario against the server started by `command` (a fresh database).
pub async fn measure_server(
    label: &'static str,
    command: impl Fn() -> tokio::process::Command,
    sizes: Sizes,
    reference: Option<Arc<Client>>,
) -> Vec<Figure> {
    let mut report = Report::new(label);
    // Startup: the first start creates the database; the median of later starts is reported.
    if sizes.runs("startup") {
        let (first, _) = Client::start(command()).await;
        drop(first);
        let mut startups = Vec::new();
        for _ in 0..sizes.startups {
            let (c, took) = Client::start(command()).await;
            startups.push(took);
            drop(c);
        }
        let (p50, _) = percentiles(startups);
        report.add("startup to initialize answer (median)".into(), ms(p50));
    }

    let (client, _) = Client::start(command()).await;
    let client = Arc::new(client);
    let run = std::process::id();
    // Every other scenario needs one user.
    let sign_ups = if sizes.runs("sign_up") {
        sizes.sign_ups
    } else {
        1
    };
    let (p50, p99) = sequential(sign_ups, |i| {
        let c = client.clone();
        async move {
            let r = c
                .tool("sign_up", json!({"email": format!("bench{run}-{i}@example.com"), "password": "bench-password-1"}))
                .await;
            assert!(r["token"].is_string());
        }
    })
    .await;
    if sizes.runs("sign_up") {
        report.add(
            format!("sign_up x{} sequential p50 / p99", sizes.sign_ups),
            format!("{} / {}", ms(p50), ms(p99)),
        );
    }

    let email = format!("bench{run}-0@example.com");
    let sign_in = {
        let email = email.clone();
        move |c: Arc<Client>| {
            let email = email.clone();
            async move {
                let r = c
                    .tool(
                        "sign_in",
                        json!({"email": email, "password": "bench-password-1"}),
                    )
                    .await;
                assert!(r["token"].is_string(), "{r}");
                r
            }
        }
    };
    if sizes.runs("sign_in") {
        let (p50, p99) = sequential(sizes.sign_ins, |_| {
            let (c, s) = (client.clone(), sign_in.clone());
            async move {
                s(c).await;
            }
        })
        .await;
        report.add(
            format!("sign_in x{} sequential p50 / p99", sizes.sign_ins),
            format!("{} / {}", ms(p50), ms(p99)),
        );
        let rate = {
            let (c, s) = (client.clone(), sign_in.clone());
            throughput(
                8,
                Duration::from_secs(600),
                sizes.sign_in_burst,
                move |_| {
                    let (c, s) = (c.clone(), s.clone());
                    async move {
                        s(c).await;
                    }
                },
            )
            .await
        };
        report.add(
            format!("sign_in x{}, 8 outstanding", sizes.sign_in_burst),
            format!("{rate:.1} calls/s"),
        );
    }

    let signed = sign_in(client.clone()).await;
    let token = signed["token"].as_str().unwrap().to_owned();
    let verify = {
        let token = token.clone();
        move |c: Arc<Client>| {
            let token = token.clone();
            async move {
                let r = c.tool("verify_token", json!({"token": token})).await;
                assert_eq!(r["valid"], true, "{r}");
            }
        }
    };
    if sizes.runs("verify_token") {
        // With the do-nothing server at hand, the two take turns (see TURNS).
        let turns = if reference.is_some() { TURNS } else { 1 };
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let (mut rate, mut null_rate) = (0.0, 0.0);
        for _ in 0..turns {
            let n = sizes.sequential / turns;
            ours.extend(samples(n, |_| verify(client.clone())).await);
            if let Some(r) = &reference {
                theirs.extend(samples(n, |_| null_call(r.clone())).await);
            }
        }
        for _ in 0..turns {
            let window = sizes.window / turns as u32;
            let (c, v) = (client.clone(), verify.clone());
            rate += throughput(256, window, u64::MAX, move |_| v(c.clone())).await / turns as f64;
            if let Some(r) = &reference {
                let r = r.clone();
                null_rate += throughput(256, window, u64::MAX, move |_| null_call(r.clone())).await
                    / turns as f64;
            }
        }
        let (p50, p99) = percentiles(ours);
        report.add(
            format!("verify_token x{} sequential p50 / p99", sizes.sequential),
            format!("{} / {}", ms(p50), ms(p99)),
        );
        report.add(
            format!("verify_token, 256 outstanding, {:?}", sizes.window),
            format!("{rate:.0} calls/s"),
        );
        if reference.is_some() {
            let (n50, n99) = percentiles(theirs);
            report.add(
                "do-nothing server in turns with it: sequential p50 / p99".into(),
                format!("{} / {}", ms(n50), ms(n99)),
            );
            report.add(
                "do-nothing server in turns with it: 256 outstanding".into(),
                format!("{null_rate:.0} calls/s"),
            );
            report.add(
                "verify_token against do-nothing (target: both at most 1.3)".into(),
                format!(
                    "p50 time ratio {:.2}, calls/s ratio (do-nothing / verify_token) {:.2}",
                    p50.as_secs_f64() / n50.as_secs_f64(),
                    null_rate / rate
                ),
            );
        }
    }

    let get_user = {
        let token = token.clone();
        move |c: Arc<Client>| {
            let token = token.clone();
            async move {
                let r = c.tool("get_user", json!({"token": token})).await;
                assert!(r["user"]["email"].is_string(), "{r}");
            }
        }
    };
    if sizes.runs("get_user") {
        let (p50, p99) = sequential(sizes.sequential, |_| get_user(client.clone())).await;
        report.add(
            format!("get_user x{} sequential p50 / p99", sizes.sequential),
            format!("{} / {}", ms(p50), ms(p99)),
        );
        let rate = {
            let (c, g) = (client.clone(), get_user.clone());
            throughput(64, sizes.window, u64::MAX, move |_| g(c.clone())).await
        };
        report.add(
            format!("get_user, 64 outstanding, {:?}", sizes.window),
            format!("{rate:.0} calls/s"),
        );
    }

    if sizes.runs("during_sign_ins") {
        // verify_token while 16 sign_ins are kept outstanding.
        let stop = Arc::new(AtomicBool::new(false));
        let background: Vec<_> = (0..16)
            .map(|_| {
                let (c, s, stop) = (client.clone(), sign_in.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        s(c.clone()).await;
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (p50, p99) = sequential(sizes.during_sign_ins, |_| verify(client.clone())).await;
        stop.store(true, Ordering::Relaxed);
        for b in background {
            b.await.expect("sign_in answers stay right under load");
        }
        report.add(
            "verify_token p50 / p99 with 16 sign_ins outstanding".into(),
            format!("{} / {}", ms(p50), ms(p99)),
        );
    }

    report.add(
        "peak RSS of the server (VmHWM)".into(),
        mib(client.peak_rss_kib()),
    );
    report.figures
}

/// Starts the do-nothing server (`loadgen null-server`).
pub async fn start_null_server(loadgen: PathBuf) -> Arc<Client> {
    let (client, _) = Client::start({
        let mut c = tokio::process::Command::new(loadgen);
        c.arg("null-server");
        c
    })
    .await;
    Arc::new(client)
}

/// One call to the do-nothing server, checked as a verify_token answer is.
async fn null_call(c: Arc<Client>) {
    let r = c.tool("verify_token", json!({"token": "x"})).await;
    assert_eq!(r["valid"], true);
}

/// The client's ceiling: the same client against a server that does nothing.
pub async fn measure_null_server(client: Arc<Client>, sizes: Sizes) -> Vec<Figure> {
    let call = null_call;
    let (p50, p99) = sequential(sizes.sequential, |_| call(client.clone())).await;
    let rate = {
        let c = client.clone();
        throughput(256, sizes.window, u64::MAX, move |_| call(c.clone())).await
    };
    let mut report = Report::new("do-nothing");
    report.add(
        format!(
            "do-nothing server: x{} sequential p50 / p99",
            sizes.sequential
        ),
        format!("{} / {}", ms(p50), ms(p99)),
    );
    report.add(
        format!("do-nothing server: 256 outstanding, {:?}", sizes.window),
        format!("{rate:.0} calls/s"),
    );
    report.figures
}

/// The do-nothing server: an rmcp server on the same stdio transport as ours, with one
/// tool, verify_token, whose result is a fixed verify_token answer of the same shape and
/// size. What it costs is the SDK's part of a call, so our server against it measures
/// what our code adds.
#[derive(Clone)]
pub struct NullServer {
    verified: Arc<VerifyResult>,
    tool_router: ToolRouter<Self>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct NullArgs {
    #[allow(dead_code)]
    token: String,
}

#[tool_router]
impl NullServer {
    fn new() -> Self {
        let verified = json!({
            "claims": {
                "email": "bench1234-0@example.com",
                "exp": 1795732557,
                "iat": 1795731657,
                "sid": "1WVAtlF4Dwrgpkyr5j4bDlePp1oOQFls",
                "sub": "W7cLwg7wel9JdfnE4a05I24HSJWXGPWO"
            },
            "expiresAt": "2026-11-26T22:35:57.000Z",
            "kind": "access_token",
            "valid": true
        });
        Self {
            verified: Arc::new(serde_json::from_value(verified).unwrap()),
            tool_router: Self::tool_router(),
        }
    }

    /// Answers every call with the same verify_token result.
    #[tool(name = "verify_token", annotations(read_only_hint = true))]
    async fn verify_token(&self, Parameters(_): Parameters<NullArgs>) -> Json<VerifyResult> {
        Json((*self.verified).clone())
    }
}

#[tool_handler(router = self.tool_router)]
impl rmcp::ServerHandler for NullServer {}

/// Serves [`NullServer`] on stdin/stdout until EOF (`loadgen null-server`).
pub fn null_server() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let running = NullServer::new()
            .serve(better_auth_mcp::mcp::stdio::transport())
            .await
            .expect("the client initializes");
        let _ = running.waiting().await;
    });
    std::process::exit(0);
}

/// The server command for a backend: a fresh embedded database in `dir`, or PostgreSQL.
pub fn server_command(
    server: PathBuf,
    dir: PathBuf,
    postgres_url: Option<String>,
    extra_env: Vec<(String, String)>,
) -> impl Fn() -> tokio::process::Command {
    move || {
        let mut c = tokio::process::Command::new(&server);
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("HOME", &dir)
            .env("RUST_LOG", "warn")
            // Limits raised for the run: the benchmark measures work, not the throttle.
            .env("RATE_LIMIT_ENABLED", "false")
            .env("HASH_QUEUE_LIMIT", "1024")
            .current_dir(&dir);
        if let Some(url) = &postgres_url {
            c.env("DATABASE_URL", url).env(
                "BETTER_AUTH_SECRET",
                "benchmark-secret-0123456789abcdef-0123456789",
            );
        }
        c.envs(extra_env.iter().map(|(k, v)| (k, v)));
        c
    }
}

// Streamable HTTP (`--http`): the same server serving http://127.0.0.1:PORT/mcp, driven
// over keep-alive connections, against rmcp's own Streamable HTTP service configured as
// ours (stateless, JSON answers) serving the do-nothing tool.

/// What an HTTP client of 2025-06-18 sends with each call (no initialize is needed: the
/// servers are stateless).
fn mcp_request(http: &reqwest::Client, url: &str, body: String) -> reqwest::RequestBuilder {
    http.post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .body(body)
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
            .stderr(Stdio::null())
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
    let body = json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
        "params":{"name":name,"arguments":arguments}});
    let mut request = mcp_request(http, url, body.to_string());
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
    let (http, url) = (http.clone(), url.to_owned());
    let (bearer, token) = (bearer.map(str::to_owned), token.to_owned());
    Arc::new(move |i| {
        let (http, url, bearer, token) = (http.clone(), url.clone(), bearer.clone(), token.clone());
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
        // The three get the same bytes (the token as argument and as bearer): the servers
        // without authorization ignore the header, so what differs is the server's work.
        let ours = http_verify(&http, &open.url, Some(&token), &token);
        let theirs = http_verify(&http, null_url, Some(&token), &token);
        let gated = http_verify(&http, &authorized.url, Some(&token), &token);
        let runs = http_in_turns(&[&ours, &theirs, &gated], sizes).await;
        let names = [
            "verify_token",
            "do-nothing rmcp HTTP service",
            "verify_token with --require-auth",
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
        report.add(
            "--require-auth against none at 64 connections (target: at most 1.10)".into(),
            format!(
                "p50 time ratio {:.2}, calls/s ratio {:.2}",
                p50(2) / p50(0),
                runs[0].1 / runs[2].1
            ),
        );
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
    use tokio::io::AsyncReadExt;
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

/// A free TCP port on the loopback interface.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Serves [`NullServer`] over Streamable HTTP at http://127.0.0.1:PORT/mcp
/// (`loadgen null-http-server PORT`).
pub fn null_http_server(port: u16) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        serve_null_http(listener).await;
    });
}

/// [`NullServer`] behind rmcp's Streamable HTTP service configured as ours (stateless,
/// JSON answers, no keep-alive stream), in axum, as rmcp's examples serve it.
pub async fn serve_null_http(listener: tokio::net::TcpListener) {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
    };
    let server = NullServer::new();
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None);
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(|| async { "ready" }));
    axum::serve(listener, app).await.unwrap();
}

/// HAProxy (Debian's package, on PATH) in front of servers, round robin, checking
/// /readyz, retrying a connection that fails on another server.
pub struct HaProxy {
    _child: tokio::process::Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl HaProxy {
    /// Listening on `port` (on 127.0.0.1).
    pub async fn start(port: u16, backends: &[u16]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, p)| format!("  server s{i} 127.0.0.1:{p} check inter 300ms fall 2 rise 2\n"))
            .collect();
        let config = format!(
            "global\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 1s\n  timeout check 3s\n  \
             timeout client 30s\n  timeout server 30s\n  retries 3\n  option redispatch\n  \
             retry-on conn-failure\nfrontend mcp\n  bind 127.0.0.1:{port}\n  default_backend servers\n\
             backend servers\n  balance roundrobin\n  option httpchk GET /readyz\n{servers}"
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
        let child = tokio::process::Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("haproxy starts (apt-get install haproxy)");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            _child: child,
            port,
            dir,
        }
    }
}

/// verify_token at [`HTTP_CONNECTIONS`] through HAProxy to two instances of the server
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

#[allow(dead_code)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("null-server") => return null_server(),
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
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--server" => server = PathBuf::from(it.next().expect("--server PATH")),
            "--postgres-url" => postgres_url = Some(it.next().expect("--postgres-url URL")),
            "--socketpair" => SOCKETPAIR.store(true, Ordering::Relaxed),
            "--http" => http = true,
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
            other => panic!("unknown argument {other}; see the header of examples/loadgen.rs"),
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
    if postgres_url.is_some() {
        report.extend(measure_haproxy(|port| command(port, false), sizes).await);
    }
    println!("| backend | figure | value |\n| --- | --- | --- |");
    for f in report {
        println!("| HTTP, {backend} | {} | {} |", f.name, f.value);
    }
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
                "sign_up,sign_in,verify_token,get_user,refresh_token,sign_out",
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
