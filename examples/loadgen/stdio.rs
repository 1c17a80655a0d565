//! The stdio scenarios: startup, sign_up, sign_in, verify_token, get_user and
//! verify_token during sign_ins, each against the server over stdio, and the same client
//! against the do-nothing server (`loadgen null-server`) as the yardstick.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use super::client::Client;
use super::stats::{
    Figure, Report, Sizes, TURNS, mib, ms, percentiles, samples, sequential, throughput,
};

/// Runs every scenario against the server started by `command` (a fresh database).
pub async fn measure_server(
    label: &'static str,
    command: impl Fn() -> tokio::process::Command,
    sizes: Sizes,
    reference: Option<Arc<Client>>,
) -> Vec<Figure> {
    let mut report = Report::new(label);
    let spans_before = match super::otlp::SINK.get() {
        Some(sink) => sink.spans().await.unwrap_or(0),
        None => 0,
    };
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

    if sizes.runs("api_key") {
        // verify_token of Better Auth API keys (one SELECT and one compare-and-swap UPDATE
        // a use, as the plugin writes each use) against get_user (one SELECT), taking
        // turns: one call at a time; 64 outstanding over 64 keys (a fleet of agents, one key
        // each); 64 outstanding on one key (every use queues on its row).
        let mut keys = Vec::new();
        for i in 0..64 {
            let created = client
                .tool(
                    "create_api_key",
                    json!({"sessionToken": signed["sessionToken"], "name": format!("bench-{i}")}),
                )
                .await;
            keys.push(created["key"].as_str().expect("a key").to_owned());
        }
        let keys = Arc::new(keys);
        let use_key = move |c: Arc<Client>, key: String| async move {
            let r = c.tool("verify_token", json!({"token": key})).await;
            assert_eq!(r["kind"], "better_auth_api_key", "{r}");
        };
        let (mut seq_user, mut seq_key) = (Vec::new(), Vec::new());
        let mut rates = [0.0f64; 3];
        for _ in 0..TURNS {
            seq_user.extend(samples(sizes.sequential / TURNS, |_| get_user(client.clone())).await);
            seq_key.extend(
                samples(sizes.sequential / TURNS, |_| {
                    use_key(client.clone(), keys[0].clone())
                })
                .await,
            );
            let window = sizes.window / TURNS as u32;
            let (c, g) = (client.clone(), get_user.clone());
            rates[0] += throughput(64, window, u64::MAX, move |_| g(c.clone())).await;
            let (c, k) = (client.clone(), keys.clone());
            rates[1] += throughput(64, window, u64::MAX, move |i| {
                use_key(c.clone(), k[i as usize % k.len()].clone())
            })
            .await;
            let (c, k) = (client.clone(), keys.clone());
            rates[2] += throughput(64, window, u64::MAX, move |_| {
                use_key(c.clone(), k[0].clone())
            })
            .await;
        }
        let rates = rates.map(|r| r / TURNS as f64);
        let (u50, _) = percentiles(seq_user);
        let (k50, k99) = percentiles(seq_key);
        report.add(
            format!(
                "verify_token of an API key x{} sequential p50 / p99",
                sizes.sequential
            ),
            format!("{} / {}", ms(k50), ms(k99)),
        );
        report.add(
            "API key verify_token against get_user, one call at a time (target: at most 1.5)"
                .into(),
            format!(
                "p50 time ratio {:.2}",
                k50.as_secs_f64() / u50.as_secs_f64()
            ),
        );
        report.add(
            format!(
                "verify_token over 64 API keys, 64 outstanding, {:?}",
                sizes.window
            ),
            format!(
                "{:.0} calls/s; ratio (get_user / API keys) {:.2}",
                rates[1],
                rates[0] / rates[1]
            ),
        );
        report.add(
            format!(
                "verify_token of one API key, 64 outstanding, {:?}",
                sizes.window
            ),
            format!(
                "{:.0} calls/s; ratio (get_user / one key) {:.2}",
                rates[2],
                rates[0] / rates[2]
            ),
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
    if let Some(sink) = super::otlp::SINK.get() {
        let sent = client.tool_calls();
        client.close().await;
        let received = sink
            .settled_spans(spans_before + sent)
            .await
            .saturating_sub(spans_before);
        report.add(
            "tools/call spans the OTLP sink received / calls sent".into(),
            format!("{received} / {sent}"),
        );
    }
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
            // The API-key scenarios use one key for thousands of calls: as an app with the
            // plugin's `rateLimit: { enabled: false }`.
            .env("BETTER_AUTH_MCP_TOOLSETS", "auth,api_keys")
            .env("API_KEY_RATE_LIMIT_ENABLED", "false")
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
