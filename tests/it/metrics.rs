//! Metrics (--metrics-addr): /metrics, parsed as Prometheus text after a known mix of calls
//! over stdio and over HTTP, counts each series exactly, with bounded labels and nothing of
//! what the callers sent; PostgreSQL's pool shows in its gauges.

use rmcp::model::CallToolRequestParams;
use serde_json::json;

use crate::support::free_port;
use crate::support::http::{HttpServer, answer, tool_call};
use crate::support::metrics::{Metrics, expected};
use crate::support::pg::TestDb;
use crate::support::server::{SECRET, Server, ServerEnv, code_of};
use crate::support::tempdir;
use crate::support::tokens::{forge, issued_here};

const PASSWORD: &str = "correct horse battery";
const WRONG: &str = "not the password at all";

fn with_metrics(env: ServerEnv, port: u16) -> ServerEnv {
    env.with("BETTER_AUTH_MCP_METRICS_ADDR", &format!("127.0.0.1:{port}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_over_stdio_count_a_known_mix_of_calls_exactly() {
    let home = tempdir();
    let port = free_port();
    // A window long enough that the four sign-ins below fall in one on a busy machine.
    let env = ServerEnv::sqlite(home.path()).with("RATE_LIMIT_WINDOW_SECONDS", "300");
    let server = Server::start(&with_metrics(env, port)).await;
    let mut tokens = Vec::new();
    for who in ["ada", "bob", "cy"] {
        let up = server
            .sign_up(&format!("{who}@example.com"), PASSWORD)
            .await;
        tokens.push(up["token"].as_str().unwrap().to_owned());
        tokens.push(up["sessionToken"].as_str().unwrap().to_owned());
    }
    let short = server
        .err(
            "sign_up",
            json!({"email": "dan@example.com", "password": "short"}),
        )
        .await;
    assert_eq!(code_of(&short), "PASSWORD_TOO_SHORT");
    let no_email = server.err("sign_up", json!({"password": PASSWORD})).await;
    assert_eq!(code_of(&no_email), "INVALID_ARGUMENTS");
    // Three attempts per email and window: the fourth wrong password is refused for the limit.
    let wrong = json!({"email": "ada@example.com", "password": WRONG});
    for expected_code in [
        "INVALID_EMAIL_OR_PASSWORD",
        "INVALID_EMAIL_OR_PASSWORD",
        "INVALID_EMAIL_OR_PASSWORD",
        "RATE_LIMITED",
    ] {
        assert_eq!(
            code_of(&server.err("sign_in", wrong.clone()).await),
            expected_code
        );
    }
    for token in [&tokens[0], &tokens[2]] {
        let v = server.ok("verify_token", json!({"token": token})).await;
        assert_eq!(v["valid"], true);
    }
    let forged = forge(
        json!({"sub": "x", "iat": 1, "exp": 4_102_444_800i64}),
        "another-secret-0123456789abcdef0123456789",
    );
    for (token, reason) in [
        ("not-a-token", "session_not_found"),
        (forged.as_str(), "bad_signature"),
    ] {
        let v = server.ok("verify_token", json!({"token": token})).await;
        assert_eq!(v["reason"], reason);
    }
    let bad = server
        .err("get_user", json!({"token": "not-a-token"}))
        .await;
    assert_eq!(code_of(&bad), "INVALID_TOKEN");
    // A name no toolset has, and a tool of a toolset not offered: JSON-RPC errors.
    for name in ["drop_tables; --", "create_api_key"] {
        let refused = server
            .client
            .call_tool(CallToolRequestParams::new(name.to_owned()))
            .await;
        assert!(refused.is_err(), "{name}: {refused:?}");
    }

    let metrics = Metrics::scrape(port).await;
    assert_eq!(
        metrics.series("mcp_tool_calls_total"),
        expected(&[
            ("tool=sign_up,outcome=ok", 3.0),
            ("tool=sign_up,outcome=PASSWORD_TOO_SHORT", 1.0),
            ("tool=sign_up,outcome=INVALID_ARGUMENTS", 1.0),
            ("tool=sign_in,outcome=INVALID_EMAIL_OR_PASSWORD", 3.0),
            ("tool=sign_in,outcome=RATE_LIMITED", 1.0),
            ("tool=verify_token,outcome=ok", 4.0),
            ("tool=get_user,outcome=INVALID_TOKEN", 1.0),
            ("tool=unknown,outcome=jsonrpc_error", 1.0),
            ("tool=create_api_key,outcome=jsonrpc_error", 1.0),
        ]),
        "{}",
        metrics.text
    );
    assert_eq!(
        metrics.histogram_counts("mcp_tool_call_duration_seconds"),
        expected(&[
            ("tool=sign_up", 5.0),
            ("tool=sign_in", 4.0),
            ("tool=verify_token", 4.0),
            ("tool=get_user", 1.0),
            ("tool=unknown", 1.0),
            ("tool=create_api_key", 1.0),
        ]),
        "{}",
        metrics.text
    );
    assert_eq!(
        metrics.series("auth_verifications_total"),
        expected(&[
            ("kind=access_token,result=valid", 2.0),
            ("kind=access_token,result=bad_signature", 1.0),
            ("kind=better_auth_session,result=session_not_found", 1.0),
        ]),
        "{}",
        metrics.text
    );
    assert_eq!(
        metrics.series("auth_rate_limited_total"),
        expected(&[("bucket=email", 1.0)]),
        "{}",
        metrics.text
    );
    // SQLite has no pool.
    assert!(!metrics.text.contains("database_pool"), "{}", metrics.text);
    let sent = [
        PASSWORD,
        WRONG,
        "example.com",
        "drop_tables",
        SECRET,
        &forged,
    ];
    for secret in sent.into_iter().chain(tokens.iter().map(String::as_str)) {
        assert!(
            !metrics.text.contains(secret),
            "{secret} in:\n{}",
            metrics.text
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_over_http_count_the_calls_and_every_bearer_check() {
    let home = tempdir();
    let port = free_port();
    let metrics_port = std::iter::repeat_with(free_port)
        .find(|p| *p != port)
        .unwrap();
    let issuer = "https://app.example.com";
    let env = with_metrics(ServerEnv::sqlite(home.path()), metrics_port)
        .with("BETTER_AUTH_URL", issuer)
        .with("BETTER_AUTH_MCP_REQUIRE_AUTH", "true")
        .with(
            "BETTER_AUTH_MCP_PUBLIC_URL",
            &format!("http://127.0.0.1:{port}/mcp"),
        )
        .with("BETTER_AUTH_MCP_TOOLS", "sign_up,verify_token");
    let server = HttpServer::start_on(&env, port).await;
    let client = reqwest::Client::new();
    let caller = issued_here("operator", issuer);
    let up = answer(
        tool_call(
            &client,
            server.url(),
            "sign_up",
            json!({"email": "eve@example.com", "password": PASSWORD}),
        )
        .bearer_auth(&caller),
    )
    .await;
    let token = up["result"]["structuredContent"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = answer(
        tool_call(
            &client,
            server.url(),
            "verify_token",
            json!({"token": token}),
        )
        .bearer_auth(&caller),
    )
    .await;
    assert_eq!(v["result"]["structuredContent"]["valid"], true, "{v}");
    let forged = forge(
        json!({"sub": "x", "iat": 1, "exp": 4_102_444_800i64}),
        "another-secret-0123456789abcdef0123456789",
    );
    assert_eq!(server.list_as(Some(&forged)).await.0, 401);
    // No credential: nothing to verify, nothing counted.
    assert_eq!(server.list_as(None).await.0, 401);

    let metrics = Metrics::scrape(metrics_port).await;
    assert_eq!(
        metrics.series("mcp_tool_calls_total"),
        expected(&[
            ("tool=sign_up,outcome=ok", 1.0),
            ("tool=verify_token,outcome=ok", 1.0),
        ]),
        "{}",
        metrics.text
    );
    // Two bearer checks that passed, verify_token's own, and the forged bearer.
    assert_eq!(
        metrics.series("auth_verifications_total"),
        expected(&[
            ("kind=access_token,result=valid", 3.0),
            ("kind=access_token,result=bad_signature", 1.0),
        ]),
        "{}",
        metrics.text
    );
    for secret in [PASSWORD, "eve@", &token, &caller, &forged, SECRET] {
        assert!(
            !metrics.text.contains(secret),
            "{secret} in:\n{}",
            metrics.text
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_on_postgresql_show_the_connection_pool() {
    let db = TestDb::create();
    let home = tempdir();
    let port = free_port();
    let env = with_metrics(ServerEnv::postgres(home.path(), &db.neon_url()), port)
        .with("DATABASE_POOL_SIZE", "3");
    let server = Server::start(&env).await;
    server.sign_up("pool@example.com", PASSWORD).await;
    let metrics = Metrics::scrape(port).await;
    let gauge = |name: &str| {
        let series = metrics.series(name);
        assert_eq!(series.len(), 1, "{name}: {}", metrics.text);
        series[""]
    };
    assert_eq!(gauge("database_pool_max_connections"), 3.0);
    let open = gauge("database_pool_connections");
    assert!((1.0..=3.0).contains(&open), "{}", metrics.text);
    // Between calls every open connection is idle and nobody waits.
    assert_eq!(
        gauge("database_pool_idle_connections"),
        open,
        "{}",
        metrics.text
    );
    assert_eq!(gauge("database_pool_waiting"), 0.0);
    assert!(!metrics.text.contains(db.neon_url().as_str()));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_metrics_address_in_use_stops_the_server_at_start_naming_the_variable() {
    let home = tempdir();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = with_metrics(ServerEnv::sqlite(home.path()), port)
        .command()
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "stdout is the protocol's");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains(&format!("BETTER_AUTH_MCP_METRICS_ADDR 127.0.0.1:{port}")),
        "{log}"
    );
}
