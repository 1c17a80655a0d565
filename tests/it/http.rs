//! MCP over Streamable HTTP (`--http ADDR`): the official Python SDK as the client in both
//! its modes, the default read-only tool set, and the guard rails (Host and Origin, body
//! size, slow headers, in-flight drain on SIGTERM, health and readiness probes).

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::haproxy::HaProxy;
use crate::support::http::{
    HttpServer, answer, challenge_of, closed_at, closed_within, idle_connection, mcp_post,
    tool_call,
};
use crate::support::server::{ServerEnv, TOOL_NAMES, exit_within};
use crate::support::tokens::issued_here;
use crate::support::{free_port, tempdir};

/// Asserts a 401 with the invalid_token challenge naming the metadata URL.
fn assert_refused(answer: (u16, String), metadata: &str, why: &str) {
    let (status, challenge) = answer;
    assert_eq!(status, 401, "{why}");
    assert!(
        challenge.starts_with(r#"Bearer error="invalid_token""#),
        "{why}: {challenge}"
    );
    assert!(
        challenge.contains(&format!(r#"resource_metadata="{metadata}""#)),
        "{why}: {challenge}"
    );
}

/// `env` requiring a bearer token for `public` (this server's URL), BETTER_AUTH_URL
/// `issuer`.
fn requiring_auth(env: ServerEnv, issuer: &str, public: &str) -> ServerEnv {
    env.with("BETTER_AUTH_URL", issuer)
        .with("BETTER_AUTH_MCP_REQUIRE_AUTH", "true")
        .with("BETTER_AUTH_MCP_PUBLIC_URL", public)
}

fn all_tools(env: ServerEnv) -> ServerEnv {
    env.with(
        "BETTER_AUTH_MCP_TOOLS",
        "sign_up,sign_in,verify_token,get_user,refresh_token,sign_out",
    )
}

/// The official Python SDK (mcp 2.x) lists the tools and calls each one, its results valid
/// against their output schemas, in its legacy (initialize) mode and in 2026-07-28 mode.
#[tokio::test(flavor = "multi_thread")]
async fn the_python_sdk_calls_every_tool_over_http_in_legacy_and_2026_07_28_modes() {
    let home = tempdir();
    let server = HttpServer::start(&all_tools(ServerEnv::sqlite(home.path()))).await;
    for (mode, version) in [("legacy", "2025-11-25"), ("2026-07-28", "2026-07-28")] {
        let email = format!("py-{}@example.com", mode.replace('-', ""));
        let seen = crate::support::python::client(&server.url(), mode, &email).await;
        assert_eq!(seen["protocolVersion"], version, "{seen}");
        assert_every_tool_answered(&seen, &email, mode);
    }
}

/// What an SDK client saw (tests/python/client.py, tests/typescript/client.mjs): the six
/// tools listed, each called without error, the user found by email.
fn assert_every_tool_answered(seen: &Value, email: &str, client: &str) {
    assert_eq!(seen["tools"], json!(TOOL_NAMES), "{client}");
    let calls = &seen["calls"];
    for tool in TOOL_NAMES {
        assert_eq!(
            calls[tool]["isError"], false,
            "{client} {tool}: {}",
            calls[tool]
        );
    }
    assert_eq!(
        calls["verify_token"]["structured"]["valid"], true,
        "{client}"
    );
    assert_eq!(
        calls["get_user"]["structured"]["user"]["email"], email,
        "{client}"
    );
}

/// The official TypeScript SDK lists the tools and calls each one (checking each result
/// against its output schema itself).
#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_sdk_calls_every_tool_over_http() {
    let home = tempdir();
    let server = HttpServer::start(&all_tools(ServerEnv::sqlite(home.path()))).await;
    let seen = crate::support::typescript_client(&server.url(), "ts@example.com").await;
    assert_every_tool_answered(&seen, "ts@example.com", "typescript");
}

/// Over HTTP only verify_token and get_user are offered unless --tools names others.
#[tokio::test(flavor = "multi_thread")]
async fn over_http_the_tools_offered_by_default_are_the_read_only_ones() {
    let home = tempdir();
    let server = HttpServer::start(&ServerEnv::sqlite(home.path())).await;
    let seen = crate::support::python::client(&server.url(), "legacy", "ro@example.com").await;
    assert_eq!(seen["tools"], json!(["get_user", "verify_token"]));
    assert_eq!(seen["calls"]["verify_token"]["structured"]["valid"], false);
    let (status, body) = server
        .post(
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sign_up","arguments":{"email":"x@example.com","password":"password123"}}}"#,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        !body.contains("\"token\""),
        "sign_up is not offered: {body}"
    );
}

/// DNS rebinding (a foreign Host, a foreign Origin) gets 403, an allowed Origin passes, an
/// oversized body gets 413, and the server serves on.
#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_host_or_origin_and_an_oversized_body_are_refused_and_the_server_serves_on() {
    let home = tempdir();
    let env = ServerEnv::sqlite(home.path())
        .with("BETTER_AUTH_MCP_ALLOWED_ORIGINS", "https://app.example.com")
        .with("HTTP_MAX_BODY_BYTES", "65536");
    let server = HttpServer::start(&env).await;
    assert_eq!(server.tools_list().await.0, 200);
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let host = server.post(list, &[("host", "evil.example.com")]).await;
    assert_eq!(host.0, 403, "{host:?}");
    let origin = server
        .post(list, &[("origin", "https://evil.example.com")])
        .await;
    assert_eq!(origin.0, 403, "{origin:?}");
    let allowed = server
        .post(list, &[("origin", "https://app.example.com")])
        .await;
    assert_eq!(allowed.0, 200, "{allowed:?}");
    let padding = "x".repeat(70_000);
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"verify_token","arguments":{{"token":"{padding}"}}}}}}"#
    );
    let (status, _) = server.post(&big, &[]).await;
    assert_eq!(status, 413);
    let (status, body) = server.tools_list().await;
    assert_eq!(status, 200, "still serving: {body}");
}

/// The status of tools/list sent with `Origin: origin`.
async fn status_from(server: &HttpServer, origin: &str) -> u16 {
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    server.post(list, &[("origin", origin)]).await.0
}

/// On a loopback address, pages of this machine (localhost, 127.0.0.1, [::1], any port,
/// http or https) may call without --allowed-origins and foreign Origins still get 403;
/// on any other address only the listed Origins may.
#[tokio::test(flavor = "multi_thread")]
async fn on_a_loopback_address_loopback_origins_may_call_and_foreign_ones_get_403() {
    let home = tempdir();
    let server = HttpServer::start(&ServerEnv::sqlite(home.path())).await;
    for origin in [
        "http://localhost:5173",
        "https://localhost",
        "http://127.0.0.1:6274",
        "https://[::1]:8443",
    ] {
        assert_eq!(status_from(&server, origin).await, 200, "{origin}");
    }
    for origin in [
        "http://evil.example.com",
        "http://localhost.evil.example.com:5173",
        "http://127.0.0.2:5173",
        "null",
    ] {
        assert_eq!(status_from(&server, origin).await, 403, "{origin}");
    }
    drop(server);

    // Listening on every address: a loopback Origin is as foreign as any other.
    let home = tempdir();
    let port = free_port();
    let command = ServerEnv::sqlite(home.path())
        .with("BETTER_AUTH_MCP_HTTP", &format!("0.0.0.0:{port}"))
        .with("BETTER_AUTH_MCP_ALLOW_UNAUTHENTICATED", "true")
        .with("BETTER_AUTH_MCP_ALLOWED_ORIGINS", "https://app.example.com")
        .command();
    let server = HttpServer::spawn(command, home.path(), port).await;
    assert_eq!(status_from(&server, "https://app.example.com").await, 200);
    assert_eq!(status_from(&server, "http://localhost:5173").await, 403);
}

/// Behind a local reverse proxy or a tunnel (`--allowed-hosts mcp.example.com` on a
/// loopback address), pages of this machine are as foreign as any other: only the listed
/// Origins may call.
#[tokio::test(flavor = "multi_thread")]
async fn with_allowed_hosts_named_loopback_origins_are_foreign_too() {
    let home = tempdir();
    let env = ServerEnv::sqlite(home.path())
        .with("BETTER_AUTH_MCP_ALLOWED_HOSTS", "mcp.example.com")
        .with("BETTER_AUTH_MCP_ALLOWED_ORIGINS", "https://mcp.example.com");
    let server = HttpServer::start(&env).await;
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let server = &server;
    let from = |origin: &'static str| async move {
        let headers = [("host", "mcp.example.com"), ("origin", origin)];
        server.post(list, &headers).await
    };
    assert_eq!(from("https://mcp.example.com").await.0, 200);
    for origin in ["http://localhost:5173", "http://127.0.0.1:6274"] {
        let (status, text) = from(origin).await;
        assert_eq!(status, 403, "{origin}: {text}");
        let preflight = preflight(server, origin, "mcp.example.com").await;
        assert_eq!(preflight.allow_origin, None, "{origin}: {preflight:?}");
    }
}

/// What a CORS preflight was answered.
#[derive(Debug)]
struct Preflight {
    status: u16,
    allow_origin: Option<String>,
    allow_methods: String,
    allow_headers: String,
    /// Any `Access-Control-*` header.
    any_cors: bool,
}

/// The preflight a browser sends from `origin` before a JSON POST with a bearer token.
async fn preflight(server: &HttpServer, origin: &str, host: &str) -> Preflight {
    let response = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, server.url())
        .header("host", host)
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,mcp-protocol-version",
        )
        .send()
        .await
        .expect("the server answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
    };
    Preflight {
        status: response.status().as_u16(),
        allow_origin: header("access-control-allow-origin"),
        allow_methods: header("access-control-allow-methods").unwrap_or_default(),
        allow_headers: header("access-control-allow-headers").unwrap_or_default(),
        any_cors: response
            .headers()
            .keys()
            .any(|name| name.as_str().starts_with("access-control-")),
    }
}

/// A page of an allowed Origin (a loopback one, or one of --allowed-origins) gets its
/// preflight answered, before the bearer gate under --require-auth, with the methods and
/// headers an MCP client sends; its requests' answers (a 401 too) let it read
/// `WWW-Authenticate`. A foreign Origin's preflight gets no CORS headers at all.
#[tokio::test(flavor = "multi_thread")]
async fn browser_preflights_from_allowed_origins_are_answered_and_foreign_ones_are_not() {
    let home = tempdir();
    let port = free_port();
    let host = format!("127.0.0.1:{port}");
    let public = format!("http://{host}/mcp");
    let issuer = "https://app.example.com";
    let open = ServerEnv::sqlite(home.path())
        .with("BETTER_AUTH_MCP_ALLOWED_ORIGINS", "https://app.example.com");
    let gated = requiring_auth(open.clone(), issuer, &public);
    for (env, gated) in [(open, false), (gated, true)] {
        let server = HttpServer::start_on(&env, port).await;
        for origin in ["http://localhost:5173", "https://app.example.com"] {
            let answer = preflight(&server, origin, &host).await;
            let why = format!("{origin}, require-auth {gated}: {answer:?}");
            assert!(matches!(answer.status, 200 | 204), "{why}");
            assert_eq!(answer.allow_origin.as_deref(), Some(origin), "{why}");
            for method in ["post", "get", "delete", "options"] {
                assert!(answer.allow_methods.contains(method), "{why}");
            }
            for name in [
                "authorization",
                "content-type",
                "accept",
                "mcp-protocol-version",
                "mcp-session-id",
                "last-event-id",
            ] {
                assert!(answer.allow_headers.contains(name), "{why}");
            }
        }
        for origin in ["http://evil.example.com", "null"] {
            let answer = preflight(&server, origin, &host).await;
            assert!(
                !answer.any_cors,
                "{origin}, require-auth {gated}: {answer:?}"
            );
        }
        // The request itself: its answer names the Origin and exposes the challenge.
        let response = mcp_post(&reqwest::Client::new(), server.url())
            .header("origin", "http://localhost:5173")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            .send()
            .await
            .expect("the server answers");
        assert_eq!(response.status(), if gated { 401 } else { 200 });
        let headers = response.headers();
        assert_eq!(
            headers["access-control-allow-origin"],
            "http://localhost:5173"
        );
        let exposed = headers["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(
            exposed.contains("www-authenticate") && exposed.contains("mcp-session-id"),
            "{exposed}"
        );
        drop(server);
    }
}

/// The official MCP conformance suite's `dns-rebinding-protection` scenario passes: a
/// foreign Host and Origin get 4xx, the server's own loopback Host and Origin 2xx.
#[tokio::test(flavor = "multi_thread")]
async fn the_mcp_conformance_suites_dns_rebinding_protection_scenario_passes() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    crate::support::npm_installed(&dir, &["@modelcontextprotocol/conformance"]);
    let home = tempdir();
    let server = HttpServer::start(&ServerEnv::sqlite(home.path())).await;
    let out = tokio::process::Command::new("node")
        .arg("node_modules/@modelcontextprotocol/conformance/dist/index.js")
        .args(["server", "--url", &server.url()])
        .args(["--scenario", "dns-rebinding-protection"])
        .current_dir(&dir)
        .output()
        .await
        .expect("node runs");
    assert!(
        out.status.success(),
        "the scenario failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A request with two `Authorization` headers gets 400 `invalid_request` (RFC 6750,
/// section 3.1), with --require-auth (even when both tokens are good) and without it.
#[tokio::test(flavor = "multi_thread")]
async fn two_authorization_headers_get_400_invalid_request_with_or_without_require_auth() {
    let twice = |server: &HttpServer, first: String, second: String| {
        let request = mcp_post(&reqwest::Client::new(), server.url())
            .header("authorization", format!("Bearer {first}"))
            .header("authorization", format!("Bearer {second}"))
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
        async move {
            let response = request.send().await.expect("the server answers");
            let challenge = challenge_of(&response);
            let status = response.status().as_u16();
            let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
            (status, challenge, body)
        }
    };
    let home = tempdir();
    let server = HttpServer::start(&ServerEnv::sqlite(home.path())).await;
    let (status, challenge, body) = twice(&server, "a".into(), "b".into()).await;
    assert_eq!(status, 400);
    assert!(
        challenge.starts_with(r#"Bearer error="invalid_request""#),
        "{challenge}"
    );
    assert_eq!(body["error"], "invalid_request", "{body}");
    drop(server);

    let home = tempdir();
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}/mcp");
    let issuer = "https://app.example.com";
    let env = requiring_auth(ServerEnv::sqlite(home.path()), issuer, &public);
    let server = HttpServer::start_on(&env, port).await;
    let (a, b) = (issued_here("u1", issuer), issued_here("u2", issuer));
    assert_eq!(server.list_as(Some(&a)).await.0, 200, "one header passes");
    let (status, challenge, body) = twice(&server, a, b).await;
    assert_eq!(status, 400);
    assert!(
        challenge.starts_with(r#"Bearer error="invalid_request""#)
            && challenge.contains("resource_metadata="),
        "{challenge}"
    );
    assert_eq!(body["error"], "invalid_request", "{body}");
}

/// Connections that send nothing at all are closed once the header timeout (1 s) passes,
/// not before (0.8 s) and not long after, and the server serves on.
#[tokio::test(flavor = "multi_thread")]
async fn connections_that_send_nothing_are_closed_at_the_header_timeout() {
    let home = tempdir();
    let env = ServerEnv::sqlite(home.path()).with("HTTP_HEADER_TIMEOUT_SECONDS", "1");
    let server = HttpServer::start(&env).await;
    let mut silent = Vec::new();
    for _ in 0..20 {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .unwrap();
        silent.push((Instant::now(), stream));
    }
    for (i, (connected, stream)) in silent.iter_mut().enumerate() {
        let Some(closed) = closed_at(stream, Duration::from_secs(6)).await else {
            panic!(
                "silent connection {i} still open after {:?}",
                connected.elapsed()
            );
        };
        let open_for = closed - *connected;
        assert!(
            open_for >= Duration::from_millis(800),
            "silent connection {i} closed after {open_for:?}, before the header timeout"
        );
    }
    assert_eq!(server.tools_list().await.0, 200);
}

/// With HTTP_MAX_CONNECTIONS=5 and five idle keep-alive connections open, a sixth is closed
/// at once; once the five are closed, new connections are served.
#[tokio::test(flavor = "multi_thread")]
async fn past_http_max_connections_a_new_connection_is_closed_at_once_until_others_close() {
    let home = tempdir();
    let env = ServerEnv::sqlite(home.path())
        .with("HTTP_MAX_CONNECTIONS", "5")
        // No idle connection may be closed for its silence here.
        .with("HTTP_HEADER_TIMEOUT_SECONDS", "120");
    let server = HttpServer::start(&env).await;
    // Until the server has seen the /healthz probes' connections close, their slots are
    // taken: five idle connections are open once it has.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let idle = loop {
        let mut idle = Vec::new();
        while idle.len() < 5 {
            match idle_connection(server.port).await {
                Some(stream) => idle.push(stream),
                None => break,
            }
        }
        if idle.len() == 5 {
            break idle;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "five connections were never open at once"
        );
        drop(idle);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut sixth = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    assert!(
        closed_within(&mut sixth, Duration::from_secs(3)).await,
        "a sixth connection was kept open"
    );
    drop(idle);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let answer = mcp_post(&reqwest::Client::new(), server.url())
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            .send()
            .await;
        if answer.as_ref().is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not served after the idle connections closed: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A JSON-RPC batch, a body that is not JSON, and JSON that is no JSON-RPC message get
/// 400 with a JSON-RPC error object (-32600, -32700), not 415 with a deserializer's text.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_or_a_body_that_is_not_json_gets_400_with_a_json_rpc_error() {
    let home = tempdir();
    let server = HttpServer::start(&ServerEnv::sqlite(home.path())).await;
    for (body, code) in [
        (
            r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]"#,
            -32600,
        ),
        ("[]", -32600),
        ("{not json", -32700),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"} trailing"#,
            -32700,
        ),
        ("", -32700),
        (r#"{"hello":"world"}"#, -32600),
    ] {
        let (status, text) = server.post(body, &[]).await;
        assert_eq!(status, 400, "{body}: {text}");
        let answer: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{body}: {e}: {text}"));
        assert_eq!(answer["jsonrpc"], "2.0", "{body}: {answer}");
        assert_eq!(answer["id"], Value::Null, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
        assert!(answer["error"]["message"].is_string(), "{body}: {answer}");
    }
    // rmcp's own checks come first: a foreign Host gets 403, an Accept without
    // text/event-stream 406, whatever the body.
    let (status, text) = server
        .post("{not json", &[("host", "evil.example.com")])
        .await;
    assert_eq!(status, 403, "a foreign Host: {text}");
    let (status, text) = server
        .post("[]", &[("origin", "https://evil.example.com")])
        .await;
    assert_eq!(status, 403, "a foreign Origin: {text}");
    let response = reqwest::Client::new()
        .post(server.url())
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), 406, "a bad Accept");
    assert_eq!(server.tools_list().await.0, 200, "a message still passes");
}

/// A credential over 8 KiB is `too_large` whatever its shape: as the HTTP bearer (401),
/// and as the token of verify_token and get_user.
#[tokio::test(flavor = "multi_thread")]
async fn a_credential_over_8_kib_is_too_large_at_the_gate_and_in_verify_token_and_get_user() {
    let home = tempdir();
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}/mcp");
    let issuer = "https://app.example.com";
    let env = requiring_auth(ServerEnv::sqlite(home.path()), issuer, &public);
    let server = HttpServer::start_on(&env, port).await;
    let metadata = format!("http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp");
    // No dots (a session token's shape), and three parts with an ES256 header.
    let es256 = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsifQ";
    let oversized = [
        "a".repeat(100 * 1024),
        format!("{es256}.{}.sig", "a".repeat(9 * 1024)),
    ];
    let bearer = issued_here("u1", issuer);
    for big in &oversized {
        let (status, challenge) = server.list_as(Some(big)).await;
        assert_refused((status, challenge.clone()), &metadata, "oversized");
        assert!(challenge.contains("too_large"), "{challenge}");
        let call = |tool| {
            answer(
                tool_call(
                    &reqwest::Client::new(),
                    server.url(),
                    tool,
                    json!({"token": big}),
                )
                .bearer_auth(&bearer),
            )
        };
        let verified = call("verify_token").await;
        assert_eq!(
            verified["result"]["structuredContent"],
            json!({"valid": false, "reason": "too_large"}),
            "{verified}"
        );
        let user = call("get_user").await;
        let text = user["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(user["result"]["isError"], true, "{user}");
        assert!(
            text.starts_with("INVALID_TOKEN") && text.contains("too_large"),
            "{text}"
        );
    }
}

/// A client that sends its headers a byte a second is cut off at the header timeout, and
/// the server serves on.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_sends_headers_a_byte_a_second_is_cut_off_at_the_header_timeout() {
    let home = tempdir();
    let env = ServerEnv::sqlite(home.path()).with("HTTP_HEADER_TIMEOUT_SECONDS", "2");
    let server = HttpServer::start(&env).await;
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let request = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n";
    let mut cut_off = false;
    for byte in request {
        if slow.write_all(&[*byte]).await.is_err() {
            cut_off = true;
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        // A closed connection reads as end of stream (or a reset) at once.
        let mut buf = [0u8; 256];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(10), slow.read(&mut buf)).await
        {
            let _ = n;
            cut_off = true;
            break;
        }
    }
    assert!(cut_off, "the slow client was never cut off");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "cut off after {:?}",
        started.elapsed()
    );
    assert_eq!(server.tools_list().await.0, 200);
}

/// SIGTERM while calls are in flight: they are answered, and the server exits 0 within
/// the drain time; /readyz and /healthz answer while it serves.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_answers_the_calls_in_flight_and_exits_0() {
    let home = tempdir();
    let env = all_tools(ServerEnv::sqlite(home.path()))
        .with("RATE_LIMIT_ENABLED", "false")
        .with("HASH_CONCURRENCY", "1")
        .with("HTTP_DRAIN_SECONDS", "20");
    let mut server = HttpServer::start(&env).await;
    let (status, body) = reqwest::get(format!("{}/readyz", server.base))
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(status, 200, "{:?}", body.text().await);
    // sign_ups, one password hash at a time: once the first is answered, the others have
    // been received (each on a connection the server had already accepted) and wait.
    const CALLS: usize = 8;
    let ready = std::sync::Arc::new(tokio::sync::Barrier::new(CALLS + 1));
    let (first_tx, mut first_rx) = tokio::sync::mpsc::channel::<()>(CALLS);
    let calls: Vec<_> = (0..CALLS)
        .map(|i| {
            let (base, url) = (server.base.clone(), server.url());
            let (ready, first) = (ready.clone(), first_tx.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                client.get(format!("{base}/healthz")).send().await.unwrap();
                ready.wait().await;
                let args =
                    json!({"email": format!("drain-{i}@example.com"), "password": "password123"});
                let answer = answer(tool_call(&client, url, "sign_up", args)).await;
                let _ = first.send(()).await;
                answer
            })
        })
        .collect();
    ready.wait().await;
    first_rx.recv().await;
    let pid = server.child.id().unwrap() as i32;
    // SAFETY: kill has no preconditions; the pid is our child's.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    for call in calls {
        let answer = call.await.unwrap();
        assert!(
            answer["result"]["structuredContent"]["user"]["email"].is_string(),
            "{answer}"
        );
    }
    let status = exit_within(&mut server.child, Duration::from_secs(25)).await;
    assert_eq!(status.code(), Some(0));
}

/// On an address other than loopback, the server will not serve callers it cannot
/// authorize unless told so.
#[tokio::test(flavor = "multi_thread")]
async fn http_on_a_public_address_needs_allow_unauthenticated() {
    let home = tempdir();
    let env = ServerEnv::sqlite(home.path()).with("BETTER_AUTH_MCP_HTTP", "0.0.0.0:9");
    let out = env.command().stdin(Stdio::null()).output().await.unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("BETTER_AUTH_MCP_ALLOW_UNAUTHENTICATED=true"),
        "{stderr}"
    );
}

/// With --require-auth: no token, a token for another audience, an expired one, one signed
/// by a key the JWKS does not have, or a session token get 401 with a challenge naming the
/// metadata; an access token issued here and a Better Auth JWT for this resource reach the
/// tools; a required scope not granted gets 403; the RFC 9728 metadata is served at both
/// its paths.
#[tokio::test(flavor = "multi_thread")]
async fn with_require_auth_only_tokens_for_this_resource_reach_the_tools() {
    use crate::support::jwks::{ISSUER, Key, jwks_server, keys};
    let (key, stranger) = (Key::new("key-a"), Key::new("key-x"));
    let jwks = jwks_server(std::sync::Arc::new(std::sync::Mutex::new(keys(&[&key])))).await;
    let home = tempdir();
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}/mcp");
    let metadata = format!("http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp");
    let env = requiring_auth(ServerEnv::sqlite(home.path()), ISSUER, &public)
        .with("BETTER_AUTH_JWKS_URL", &jwks);
    let server = HttpServer::start_on(&env, port).await;
    let now = chrono::Utc::now().timestamp();
    let ours = issued_here("u1", ISSUER);
    assert_eq!(
        server.list_as(Some(&ours)).await.0,
        200,
        "an access token issued here"
    );
    for (why, iss) in [
        ("the JWT plugin's issuer", ISSUER.to_owned()),
        ("the OAuth provider's issuer", format!("{ISSUER}/api/auth")),
    ] {
        let token = key.sign(json!({"sub": "u1", "iat": now, "exp": now + 600,
            "iss": iss, "aud": public}));
        assert_eq!(server.list_as(Some(&token)).await.0, 200, "{why}");
    }
    let expired = key.sign(json!({"sub": "u1", "iat": now - 7200, "exp": now - 3600,
        "iss": ISSUER, "aud": public}));
    let foreign_issuer = key.sign(json!({"sub": "u1", "iat": now, "exp": now + 600,
        "iss": "https://elsewhere.example.com/api/auth", "aud": public}));
    for (why, token) in [
        ("none", None),
        (
            "another audience",
            Some(key.token("u1", "https://other.example.com/mcp")),
        ),
        ("expired", Some(expired)),
        ("another issuer", Some(foreign_issuer)),
        ("a key not in the JWKS", Some(stranger.token("u1", &public))),
        (
            "a session token",
            Some("aP8dZCLrnzonw3e5ju5rlRhq14rJXmVA".to_owned()),
        ),
    ] {
        assert_refused(server.list_as(token.as_deref()).await, &metadata, why);
    }
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let doc = server.metadata(path).await;
        assert_eq!(doc["resource"], public.as_str(), "{path}: {doc}");
        assert_eq!(
            doc["authorization_servers"],
            json!([format!("{ISSUER}/api/auth")]),
            "{path}: the OAuth provider's issuer by default"
        );
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]), "{path}");
    }
    drop(server);

    // A required scope: granted passes, not granted is 403 insufficient_scope.
    let home = tempdir();
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}/mcp");
    let env = env
        .clone()
        .with("BETTER_AUTH_MCP_PUBLIC_URL", &public)
        .with("BETTER_AUTH_MCP_REQUIRED_SCOPE", "mcp:tools")
        .with(
            "DATABASE_URL",
            &format!("sqlite://{}", home.path().join("auth.db").display()),
        );
    let server = HttpServer::start_on(&env, port).await;
    let scoped = |scope: &str| {
        key.sign(
            json!({"sub": "u1", "iat": now, "exp": now + 600, "iss": ISSUER,
            "aud": public, "scope": scope}),
        )
    };
    assert_eq!(
        server.list_as(Some(&scoped("openid mcp:tools"))).await.0,
        200
    );
    let (status, challenge) = server.list_as(Some(&scoped("openid"))).await;
    assert_eq!(status, 403);
    assert!(
        challenge.starts_with(r#"Bearer error="insufficient_scope""#)
            && challenge.contains(r#"scope="mcp:tools""#),
        "{challenge}"
    );
}

/// A real Better Auth app's OAuth provider (`@better-auth/oauth-provider`) issues an access
/// token for this server through the flow an MCP client runs (authorization code with
/// PKCE, the resource named as RFC 8707 asks): the token reaches the tools and get_user
/// answers for its user. The provider's tokens for another resource, expired, or signed by
/// a key that is not in this database's `jwks` (another app's) get 401 with the challenge,
/// and the metadata names the provider's issuer as its own metadata does.
#[tokio::test(flavor = "multi_thread")]
async fn a_better_auth_oauth_providers_token_for_this_resource_is_accepted_and_others_are_not() {
    use crate::support::better_auth_app::{BASE_URL, BetterAuthApp};
    const APP_SECRET: &str = "shared-secret-with-the-web-app-0123456789abcdef";
    let db = crate::support::pg::TestDb::create();
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}/mcp");
    let other = "https://other.example.com/mcp";
    let resources = [public.as_str(), other];
    let (email, password) = ("owner@example.com", "owner-password-1");
    let user = json!({"email": email, "password": password, "name": "Owner"});
    let token_for = |app: &BetterAuthApp, resource: &str| {
        app.run(
            "oauth-access-token",
            json!({"email": email, "password": password, "resource": resource}),
        )
    };
    let app = BetterAuthApp::new(&db, APP_SECRET, false).with_oauth_provider(&resources, None);
    app.run("migrate", json!({}));
    let signed_up = app.run("sign-up", user.clone());
    let granted = token_for(&app, &public);
    assert!(
        granted["claims"]["aud"]
            .as_array()
            .is_some_and(|aud| aud.contains(&json!(public))),
        "{granted}"
    );
    let for_other = token_for(&app, other);
    let short = BetterAuthApp::new(&db, APP_SECRET, false).with_oauth_provider(&resources, Some(1));
    let short_lived = token_for(&short, &public);
    // Another Better Auth app (its own tables and keys, in another schema).
    db.sql("create schema elsewhere");
    let stranger = BetterAuthApp::new(&db, APP_SECRET, false)
        .in_schema("elsewhere")
        .with_oauth_provider(&resources, None);
    stranger.run("migrate", json!({}));
    stranger.run("sign-up", user);
    let strangers = token_for(&stranger, &public);

    let home = tempdir();
    let env = requiring_auth(
        ServerEnv::postgres(home.path(), &db.neon_url()),
        BASE_URL,
        &public,
    )
    .with("BETTER_AUTH_SECRET", APP_SECRET)
    .with("TOKEN_LEEWAY_SECONDS", "0");
    let server = HttpServer::start_on(&env, port).await;
    let bearer = |v: &Value| v["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(server.list_as(Some(&bearer(&granted))).await.0, 200);
    let me = answer(
        tool_call(&reqwest::Client::new(), server.url(), "get_user", json!({}))
            .bearer_auth(bearer(&granted)),
    )
    .await;
    assert_eq!(
        me["result"]["structuredContent"]["user"]["id"], signed_up["user"]["id"],
        "{me}"
    );
    let metadata = format!("http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp");
    // Expired by now: it lived a second and the server allows no leeway.
    let wait = short_lived["claims"]["exp"].as_i64().unwrap() + 1 - chrono::Utc::now().timestamp();
    tokio::time::sleep(Duration::from_secs(wait.max(0) as u64)).await;
    for (why, token) in [
        ("for another resource", &for_other),
        ("expired", &short_lived),
        ("signed by another app's key", &strangers),
    ] {
        assert_refused(server.list_as(Some(&bearer(token))).await, &metadata, why);
    }
    let doc = server
        .metadata("/.well-known/oauth-protected-resource/mcp")
        .await;
    assert_eq!(
        doc["authorization_servers"],
        json!([granted["issuer"]]),
        "{doc}"
    );
    assert_eq!(granted["claims"]["iss"], granted["issuer"]);
}

/// Started with a soft limit of 256 open files (systemd and shells often give 1024), the
/// server raises it to the hard limit and holds 600 idle keep-alive connections, each of
/// which made a call, and still serves a new one.
#[tokio::test(flavor = "multi_thread")]
async fn hundreds_of_idle_keep_alive_connections_fit_under_a_low_soft_open_file_limit() {
    use crate::support::http::keep_alive_call;
    let home = tempdir();
    let port = free_port();
    let env = ServerEnv::sqlite(home.path())
        .with("BETTER_AUTH_URL", "http://localhost:3000")
        .with("BETTER_AUTH_MCP_HTTP", &format!("127.0.0.1:{port}"))
        // An idle connection is closed after the header timeout: none may close here.
        .with("HTTP_HEADER_TIMEOUT_SECONDS", "120");
    let mut command = env.command();
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            limit.rlim_cur = 256;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let server = HttpServer::spawn(command, home.path(), port).await;
    let token = issued_here("u1", "http://localhost:3000");
    let mut idle = Vec::new();
    for i in 0..600 {
        let connection =
            tokio::time::timeout(Duration::from_secs(5), keep_alive_call(port, &token, i))
                .await
                .unwrap_or_else(|_| panic!("connection {i} got no answer in 5 s"));
        idle.push(connection);
    }
    let (status, _) = server.list_as(None).await;
    assert_eq!(status, 200, "a new connection is served too");
}

/// /healthz answers while the process serves; /readyz says 503 (with the reason, never the
/// password) while the database cannot be reached.
#[tokio::test(flavor = "multi_thread")]
async fn readyz_is_503_while_the_database_cannot_be_reached_and_healthz_is_200() {
    let home = tempdir();
    let closed = free_port();
    let env = ServerEnv::postgres(
        home.path(),
        &format!("postgresql://app:secret-db-password@127.0.0.1:{closed}/app?sslmode=require"),
    )
    .with("DATABASE_CONNECT_TIMEOUT_SECONDS", "1")
    .with("DATABASE_POOL_TIMEOUT_SECONDS", "1");
    let server = HttpServer::start(&env).await;
    let ready = reqwest::get(format!("{}/readyz", server.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let why = ready.text().await.unwrap();
    // The reason a caller is given, and nothing of the database's own message (its
    // user, database and address go to the log only).
    assert_eq!(
        why,
        "the database in DATABASE_URL cannot be reached right now"
    );
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

/// Over authorized HTTP, get_user without a token answers for the caller: the user of an
/// access token issued here (while its session lives) or of a Better Auth JWT.
#[tokio::test(flavor = "multi_thread")]
async fn over_authorized_http_get_user_without_a_token_is_the_caller() {
    use crate::support::jwks::{ISSUER, Key, jwks_server, keys};
    let key = Key::new("key-a");
    let jwks = jwks_server(std::sync::Arc::new(std::sync::Mutex::new(keys(&[&key])))).await;
    let home = tempdir();
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}/mcp");
    let env = requiring_auth(all_tools(ServerEnv::sqlite(home.path())), ISSUER, &public)
        .with("BETTER_AUTH_JWKS_URL", &jwks);
    let server = HttpServer::start_on(&env, port).await;
    let admin = issued_here("operator", ISSUER);
    let call = |bearer: String, name: &'static str, args: Value| {
        let server = &server;
        async move {
            let request = tool_call(&reqwest::Client::new(), server.url(), name, args);
            answer(request.bearer_auth(bearer)).await["result"].clone()
        }
    };
    let up = call(
        admin,
        "sign_up",
        json!({"email": "caller@example.com", "password": "password123"}),
    )
    .await;
    let user = &up["structuredContent"]["user"];
    let token = up["structuredContent"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = call(token, "get_user", json!({})).await;
    assert_eq!(me["structuredContent"]["user"], *user, "{me}");
    let jwt = key.token(user["id"].as_str().unwrap(), &public);
    let me = call(jwt, "get_user", json!({})).await;
    assert_eq!(
        me["structuredContent"]["user"]["email"], "caller@example.com",
        "{me}"
    );
}

/// Over HTTP the password tools are also limited per client address (Better Auth's own
/// `<ip>|<path>` bucket): the socket's peer, or what a trusted proxy's X-Forwarded-For says.
#[tokio::test(flavor = "multi_thread")]
async fn sign_in_is_limited_per_client_address_behind_a_trusted_proxy_or_not() {
    let attempts = |server: &HttpServer, forwarded: Vec<&'static str>| {
        let url = server.url();
        async move {
            let mut codes = Vec::new();
            for (i, from) in forwarded.into_iter().enumerate() {
                let args =
                    json!({"email": format!("nobody-{i}@example.com"), "password": "password123"});
                let request = tool_call(&reqwest::Client::new(), &url, "sign_in", args);
                let answer = answer(request.header("x-forwarded-for", from)).await;
                let text = answer["result"]["content"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                codes.push(text.split(':').next().unwrap().to_owned());
            }
            codes
        }
    };
    let base = |home: &std::path::Path| {
        ServerEnv::sqlite(home)
            .with("BETTER_AUTH_MCP_TOOLS", "sign_in,verify_token")
            .with("RATE_LIMIT_MAX", "2")
            .with("RATE_LIMIT_WINDOW_SECONDS", "60")
    };
    // Not behind a trusted proxy: X-Forwarded-For is the client's word, ignored.
    let home = tempdir();
    let server = HttpServer::start(&base(home.path())).await;
    let codes = attempts(
        &server,
        vec!["198.51.100.1", "198.51.100.2", "198.51.100.3"],
    )
    .await;
    assert_eq!(
        codes,
        [
            "INVALID_EMAIL_OR_PASSWORD",
            "INVALID_EMAIL_OR_PASSWORD",
            "RATE_LIMITED"
        ],
        "three emails, one address"
    );
    drop(server);
    // Behind a trusted proxy (this machine): each forwarded address has its own bucket.
    let home = tempdir();
    let env = base(home.path()).with("BETTER_AUTH_MCP_TRUSTED_PROXIES", "127.0.0.1");
    let server = HttpServer::start(&env).await;
    let codes = attempts(
        &server,
        vec![
            "198.51.100.1",
            "198.51.100.2",
            "198.51.100.3",
            "198.51.100.1",
            "198.51.100.1",
        ],
    )
    .await;
    assert_eq!(
        codes,
        [
            "INVALID_EMAIL_OR_PASSWORD",
            "INVALID_EMAIL_OR_PASSWORD",
            "INVALID_EMAIL_OR_PASSWORD",
            "INVALID_EMAIL_OR_PASSWORD",
            "RATE_LIMITED"
        ]
    );
}

/// Two servers behind HAProxy in round robin on one PostgreSQL, under a mixed load; one is
/// killed with SIGKILL mid-load and restarted: no acknowledged sign_up is lost, calls fail
/// over, and the only errors are calls begun before HAProxy could see the server gone (in
/// flight on it, or sent on one of HAProxy's idle connections to it, which a SIGKILL leaves
/// dead until its checks mark the server down), none once it is back.
#[tokio::test(flavor = "multi_thread")]
async fn two_servers_behind_haproxy_fail_over_when_one_is_killed_and_lose_no_sign_up() {
    let db = crate::support::pg::TestDb::create();
    let (home_a, home_b) = (tempdir(), tempdir());
    let front = free_port();
    // Clients name the load balancer's host, which the servers must allow.
    let host = format!("127.0.0.1:{front}");
    let env = |home: &std::path::Path| {
        all_tools(ServerEnv::postgres(home, &db.neon_url()))
            .with("RATE_LIMIT_ENABLED", "false")
            .with("BETTER_AUTH_MCP_ALLOWED_HOSTS", &host)
    };
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = HttpServer::start_on(&env(home_a.path()), port_a).await;
    let _b = HttpServer::start_on(&env(home_b.path()), port_b).await;
    crate::support::system::require(&[crate::support::system::Need::HaProxy]);
    let proxy = HaProxy::start(front, &[port_a, port_b]).await;
    let url = format!("http://127.0.0.1:{}/mcp", proxy.port);

    const WORKERS: usize = 6;
    const ROUNDS: usize = 30;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (url, done) = (url.clone(), done.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let call = |name: &str, args: Value| tool_call(&client, &url, name, args).send();
                let (mut acknowledged, mut errors) = (Vec::new(), Vec::<(Instant, String)>::new());
                let describe = |r: Result<reqwest::Response, reqwest::Error>| async move {
                    match r {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let text = response.text().await.unwrap_or_default();
                            match serde_json::from_str::<Value>(&text) {
                                Ok(v) if status == 200 && v["result"]["isError"] != true => Ok(v),
                                _ => Err(format!("{status} {}", &text[..text.len().min(160)])),
                            }
                        }
                        Err(e) => Err(format!("{e}")),
                    }
                };
                for r in 0..ROUNDS {
                    let email = format!("w{w}-r{r}@example.com");
                    let began = Instant::now();
                    let up = describe(
                        call(
                            "sign_up",
                            json!({"email": email, "password": "password123"}),
                        )
                        .await,
                    )
                    .await;
                    let token = match up {
                        Ok(v) => v["result"]["structuredContent"]["token"]
                            .as_str()
                            .unwrap()
                            .to_owned(),
                        Err(e) => {
                            errors.push((began, format!("sign_up: {e}")));
                            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            continue;
                        }
                    };
                    acknowledged.push(email);
                    for name in ["verify_token", "get_user"] {
                        let began = Instant::now();
                        if let Err(e) = describe(call(name, json!({"token": token})).await).await {
                            errors.push((began, format!("{name}: {e}")));
                        }
                    }
                    done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                (acknowledged, errors)
            })
        })
        .collect();
    let reached = |n: usize| {
        let done = done.clone();
        async move {
            while done.load(std::sync::atomic::Ordering::SeqCst) < n {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    reached(WORKERS * ROUNDS / 3).await;
    let pid = a.child.id().unwrap() as i32;
    let killed = Instant::now();
    // SAFETY: kill has no preconditions; the pid is our child's.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = a.child.wait().await;
    reached(WORKERS * ROUNDS * 2 / 3).await;
    a = HttpServer::start_on(&env(home_a.path()), port_a).await;
    let back = Instant::now();
    let (mut acknowledged, mut errors) = (Vec::new(), Vec::new());
    for worker in workers {
        let (acked, errs) = worker.await.unwrap();
        acknowledged.extend(acked);
        errors.extend(errs);
    }
    let log = std::fs::read_to_string(proxy.dir.path().join("haproxy.log")).unwrap_or_default();
    // HAProxy marks a server down after two failed checks 300 ms apart; a call begun later
    // than that (with room for a loaded machine) must have gone to the live server.
    let unseen = killed + Duration::from_secs(3);
    let late: Vec<_> = errors
        .iter()
        .filter(|(began, _)| *began > unseen)
        .map(|(began, e)| format!("{:?} after the kill: {e}", *began - killed))
        .collect();
    assert!(
        late.is_empty(),
        "calls failed after HAProxy saw the server gone: {late:?}\nHAProxy: {log}"
    );
    assert!(
        errors.iter().all(|(began, _)| *began < back),
        "calls failed after the killed server was back: {errors:?}"
    );
    // Each worker has one call at a time in flight, and HAProxy keeps at most about one idle
    // connection per worker to the server; each dead one fails the one call sent on it.
    assert!(
        errors.len() <= 2 * WORKERS,
        "{} calls failed: {:?}\nHAProxy: {log}",
        errors.len(),
        &errors[..errors.len().min(8)]
    );
    assert!(acknowledged.len() >= WORKERS * ROUNDS - 2 * WORKERS);
    let stored: usize = db.sql(r#"select count(*) from "user""#).parse().unwrap();
    assert!(
        stored >= acknowledged.len(),
        "{stored} users stored, {} acknowledged",
        acknowledged.len()
    );
    db.assert_each_stored_once(&acknowledged);
    drop((a, proxy));
}

/// At RUST_LOG=trace, no bearer token, password or token argument sent over HTTP appears
/// in the server's log.
#[tokio::test(flavor = "multi_thread")]
async fn no_bearer_token_or_password_sent_over_http_reaches_the_log_even_at_trace() {
    let home = tempdir();
    let port = free_port();
    let env = requiring_auth(
        all_tools(ServerEnv::sqlite(home.path())),
        "https://app.example.com",
        &format!("http://127.0.0.1:{port}/mcp"),
    )
    .with("RUST_LOG", "trace");
    let server = HttpServer::start_on(&env, port).await;
    let bearer = issued_here("op", "https://app.example.com");
    let password = "a-password-never-logged-7f3e";
    let args = json!({"email": "logs@example.com", "password": password});
    let up = answer(
        tool_call(&reqwest::Client::new(), server.url(), "sign_up", args).bearer_auth(&bearer),
    )
    .await;
    let token = up["result"]["structuredContent"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // sign_in logs at debug ("checking a password"): the log below is at trace for sure.
    let args = json!({"email": "logs@example.com", "password": password});
    answer(tool_call(&reqwest::Client::new(), server.url(), "sign_in", args).bearer_auth(&token))
        .await;
    let bad_bearer = format!("{bearer}x");
    let refused = mcp_post(&reqwest::Client::new(), server.url())
        .bearer_auth(&bad_bearer)
        .body(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let log = std::fs::read_to_string(home.path().join(format!("server-{port}.log"))).unwrap();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "trace level is on: {log}"
    );
    for secret in [
        bearer.as_str(),
        password,
        token.as_str(),
        crate::support::server::SECRET,
    ] {
        assert!(!log.contains(secret), "a secret reached the log: {log}");
    }
}
