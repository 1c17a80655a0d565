//! Traces (OTEL_EXPORTER_OTLP_ENDPOINT): a local OTLP/HTTP receiver gets, for a tools/call
//! that carries the client's `traceparent` in `_meta`, a SERVER span of that trace named
//! and attributed per OpenTelemetry's MCP conventions, child of the client's span, with
//! the database calls as its children; over stdio (exported at stdin's end) and over HTTP
//! (exported at SIGTERM); the handshake is a span too, and the calls are still counted
//! in the metrics. No password, token, email or secret is in any span. With the
//! variables unset or the SDK disabled, nothing is sent.

use rmcp::model::{CallToolRequestParams, RequestMetaObject};
use serde_json::{Value, json};

use crate::support::free_port;
use crate::support::http::HttpServer;
use crate::support::metrics::{Metrics, expected};
use crate::support::otlp::{OtlpReceiver, Received};
use crate::support::pg::TestDb;
use crate::support::server::{SECRET, Server, ServerEnv, code_of, exit_within, text_of};
use crate::support::tempdir;

const PASSWORD: &str = "correct horse battery";
const WRONG: &str = "not the password at all";
/// OTLP span kinds.
const SERVER: i32 = 2;
const CLIENT: i32 = 3;
/// OTLP status code ERROR.
const STATUS_ERROR: i32 = 2;

fn traceparent(trace_id: &str, parent_id: &str) -> String {
    format!("00-{trace_id}-{parent_id}-01")
}

fn traced(env: ServerEnv, receiver: &OtlpReceiver) -> ServerEnv {
    env.with("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint())
}

/// A tools/call of `tool` over stdio whose `_meta` carries `traceparent`.
async fn call_in_trace(
    server: &Server,
    tool: &str,
    args: Value,
    traceparent: &str,
) -> rmcp::model::CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    let mut params = CallToolRequestParams::new(tool.to_owned()).with_arguments(args);
    let mut meta = RequestMetaObject::new();
    meta.set_traceparent(traceparent);
    meta.set_tracestate("vendor=opaque");
    params.meta = Some(meta);
    server
        .client
        .call_tool(params)
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

/// The one server span among `spans`, and the others.
fn server_span(spans: &[Received]) -> (&Received, Vec<&Received>) {
    let servers: Vec<&Received> = spans.iter().filter(|s| s.span.kind == SERVER).collect();
    assert_eq!(servers.len(), 1, "one server span: {spans:#?}");
    let others = spans.iter().filter(|s| s.span.kind != SERVER).collect();
    (servers[0], others)
}

/// The server span of a tools/call of `tool`, continuing the client's span `parent`.
fn assert_tool_span(span: &Received, tool: &str, parent: &str, transport: &str) {
    assert_eq!(span.span.name, format!("tools/call {tool}"), "{span:#?}");
    assert_eq!(span.parent_span_id(), parent, "{span:#?}");
    assert_eq!(span.service_name.as_deref(), Some("better-auth-mcp"));
    assert_eq!(
        span.attribute("mcp.method.name").as_deref(),
        Some("tools/call")
    );
    assert_eq!(span.attribute("gen_ai.tool.name").as_deref(), Some(tool));
    assert_eq!(
        span.attribute("network.transport").as_deref(),
        Some(transport)
    );
    assert!(
        span.attribute("jsonrpc.request.id")
            .is_some_and(|id| !id.is_empty()),
        "{span:#?}"
    );
    assert!(
        span.attribute("mcp.protocol.version")
            .is_some_and(|v| v.starts_with("20")),
        "{span:#?}"
    );
    assert!(span.span.trace_state.contains("vendor=opaque"), "{span:#?}");
}

/// The database spans among `others`, each a CLIENT child of `parent` on `system`, none
/// named for anything but its operation or its system; at least one a select.
fn assert_db_children(others: &[&Received], parent: &Received, system: &str) {
    assert!(!others.is_empty(), "a database span under the tool span");
    for db in others {
        assert_eq!(db.span.kind, CLIENT, "{db:#?}");
        assert_eq!(db.parent_span_id(), parent.span_id(), "{db:#?}");
        assert_eq!(db.attribute("db.system.name").as_deref(), Some(system));
        let operation = db.attribute("db.operation.name");
        if let Some(operation) = &operation {
            assert!(
                ["select", "insert", "update", "delete"].contains(&operation.as_str()),
                "{db:#?}"
            );
        }
        assert_eq!(
            db.span.name,
            operation.unwrap_or_else(|| system.to_owned()),
            "{db:#?}"
        );
        assert!(db.attribute("db.query.text").is_none(), "{db:#?}");
    }
    assert!(
        others
            .iter()
            .any(|db| db.attribute("db.operation.name").as_deref() == Some("select")),
        "{others:#?}"
    );
}

fn assert_nothing_secret(spans: &[Received], secrets: &[&str]) {
    for span in spans {
        let text = span.all_text();
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} in {span:#?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_call_over_stdio_is_a_server_span_of_the_clients_trace_with_its_db_calls() {
    let receiver = OtlpReceiver::start().await;
    let home = tempdir();
    let metrics_port = free_port();
    // No scheduled export (10 minutes): what arrives is the flush at stdin's end, on a
    // machine however slow.
    let env = traced(ServerEnv::sqlite(home.path()), &receiver)
        .with(
            "BETTER_AUTH_MCP_METRICS_ADDR",
            &format!("127.0.0.1:{metrics_port}"),
        )
        .with("OTEL_BSP_SCHEDULE_DELAY", "600000");
    let server = Server::start(&env).await;
    let up = server.sign_up("ada@example.com", PASSWORD).await;
    let session = up["sessionToken"].as_str().unwrap().to_owned();
    let access = up["token"].as_str().unwrap().to_owned();

    let (trace, parent) = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
    let signed_in = call_in_trace(
        &server,
        "sign_in",
        json!({"email": "ada@example.com", "password": PASSWORD}),
        &traceparent(trace, parent),
    )
    .await;
    assert_ne!(signed_in.is_error, Some(true), "{}", text_of(&signed_in));
    let new_token = signed_in.structured_content.clone().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (refused_trace, refused_parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let refused = call_in_trace(
        &server,
        "sign_in",
        json!({"email": "ada@example.com", "password": WRONG}),
        &traceparent(refused_trace, refused_parent),
    )
    .await;
    assert_eq!(code_of(&text_of(&refused)), "INVALID_EMAIL_OR_PASSWORD");
    let unknown_trace = "5bf92f3577b34da6a3ce929d0e0e4737";
    let unknown = server
        .client
        .call_tool({
            let mut params = CallToolRequestParams::new("drop_tables; --");
            let mut meta = RequestMetaObject::new();
            meta.set_traceparent(traceparent(unknown_trace, refused_parent));
            params.meta = Some(meta);
            params
        })
        .await;
    assert!(unknown.is_err(), "{unknown:?}");
    assert!(server.tool_names().await.iter().any(|t| t == "sign_in"));
    // Spans are queued in batches: these are exported when stdin ends.
    assert_eq!(receiver.requests(), 0, "exported in a batch, not per span");
    // Traced, the calls are counted as before.
    let metrics = Metrics::scrape(metrics_port).await;
    assert_eq!(
        metrics.series("mcp_tool_calls_total"),
        expected(&[
            ("tool=sign_up,outcome=ok", 1.0),
            ("tool=sign_in,outcome=ok", 1.0),
            ("tool=sign_in,outcome=INVALID_EMAIL_OR_PASSWORD", 1.0),
            ("tool=unknown,outcome=jsonrpc_error", 1.0),
        ]),
        "{}",
        metrics.text
    );
    server.stop().await;

    // The handshake, in a trace of its own (the client sent no traceparent with it).
    let spans = receiver.spans();
    let initialize: Vec<&Received> = spans
        .iter()
        .filter(|s| s.span.name == "initialize")
        .collect();
    assert_eq!(initialize.len(), 1, "{spans:#?}");
    let initialize = initialize[0];
    assert_eq!(initialize.span.kind, SERVER);
    assert_eq!(initialize.parent_span_id(), "");
    assert_eq!(
        initialize.attribute("mcp.method.name").as_deref(),
        Some("initialize")
    );
    assert!(
        initialize
            .attribute("mcp.protocol.version")
            .is_some_and(|v| v.starts_with("20")),
        "{initialize:#?}"
    );

    // The listing too, named by its method.
    let listed: Vec<&Received> = spans
        .iter()
        .filter(|s| s.span.name == "tools/list")
        .collect();
    assert_eq!(listed.len(), 1, "{spans:#?}");
    assert_eq!(listed[0].span.kind, SERVER);
    assert_eq!(
        listed[0].attribute("mcp.method.name").as_deref(),
        Some("tools/list")
    );
    assert_eq!(
        listed[0].attribute("network.transport").as_deref(),
        Some("pipe")
    );
    assert_eq!(listed[0].attribute("gen_ai.tool.name"), None);

    let spans = receiver.spans_of(trace, 2).await;
    let (call, others) = server_span(&spans);
    assert_tool_span(call, "sign_in", parent, "pipe");
    assert_eq!(call.attribute("error.type"), None, "{call:#?}");
    assert_db_children(&others, call, "sqlite");

    let spans = receiver.spans_of(refused_trace, 1).await;
    let (call, _) = server_span(&spans);
    assert_tool_span(call, "sign_in", refused_parent, "pipe");
    assert_eq!(call.attribute("error.type").as_deref(), Some("tool_error"));
    assert_eq!(
        call.attribute("better_auth_mcp.error.code").as_deref(),
        Some("INVALID_EMAIL_OR_PASSWORD")
    );
    assert_eq!(
        call.span.status.as_ref().map(|s| s.code),
        Some(STATUS_ERROR)
    );

    // A name no tool has is not a span name: it could be anything a caller typed.
    let spans = receiver.spans_of(unknown_trace, 1).await;
    let (call, _) = server_span(&spans);
    assert_eq!(call.span.name, "tools/call");
    assert_eq!(call.attribute("gen_ai.tool.name"), None);
    assert_eq!(call.attribute("error.type").as_deref(), Some("-32602"));
    assert_eq!(
        call.attribute("rpc.response.status_code").as_deref(),
        Some("-32602")
    );
    assert_ne!(
        call.span.status.as_ref().map(|s| s.code),
        Some(STATUS_ERROR),
        "invalid params is the client's mistake, not the server's error"
    );

    assert_nothing_secret(
        &receiver.spans(),
        &[
            PASSWORD,
            WRONG,
            "ada@",
            "drop_tables",
            SECRET,
            &session,
            &access,
            &new_token,
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_call_over_http_is_a_server_span_of_the_clients_trace_exported_at_sigterm() {
    let db = TestDb::create();
    let receiver = OtlpReceiver::start().await;
    let home = tempdir();
    let env = traced(ServerEnv::postgres(home.path(), &db.neon_url()), &receiver)
        .with("BETTER_AUTH_MCP_TOOLS", "sign_up,get_user")
        .with("OTEL_SERVICE_NAME", "auth-at-the-edge");
    let mut server = HttpServer::start(&env).await;
    let post_in_trace = |id: u64, tool: &str, args: Value, traceparent: String| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": tool, "arguments": args,
            "_meta": {"traceparent": traceparent, "tracestate": "vendor=opaque"}}})
        .to_string()
    };
    let (up_trace, up_parent) = ("6bf92f3577b34da6a3ce929d0e0e4738", "10f067aa0ba902b8");
    let (status, body) = server
        .post(
            &post_in_trace(
                7,
                "sign_up",
                json!({"email": "eve@example.com", "password": PASSWORD}),
                traceparent(up_trace, up_parent),
            ),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let up: Value = serde_json::from_str(&body).unwrap();
    let session = up["result"]["structuredContent"]["sessionToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{up}"))
        .to_owned();
    let (trace, parent) = ("7bf92f3577b34da6a3ce929d0e0e4739", "20f067aa0ba902b9");
    let (status, body) = server
        .post(
            &post_in_trace(
                8,
                "get_user",
                json!({"token": session}),
                traceparent(trace, parent),
            ),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("eve@example.com"), "{body}");
    // No `_meta`: the request's own `traceparent` header (an instrumented HTTP client's)
    // is the parent. With both, `_meta` is.
    let (header_trace, header_parent) = ("8cf92f3577b34da6a3ce929d0e0e4730", "30f067aa0ba902c0");
    let plain = |id: u64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "get_user", "arguments": {"token": session}}})
        .to_string()
    };
    let header = traceparent(header_trace, header_parent);
    let headers = [
        ("traceparent", header.as_str()),
        ("tracestate", "vendor=opaque"),
    ];
    let (status, body) = server.post(&plain(9), &headers).await;
    assert_eq!(status, 200, "{body}");
    let (both_trace, both_parent) = ("9cf92f3577b34da6a3ce929d0e0e4731", "40f067aa0ba902c1");
    let both = post_in_trace(
        10,
        "get_user",
        json!({"token": session}),
        traceparent(both_trace, both_parent),
    );
    let (status, body) = server.post(&both, &headers).await;
    assert_eq!(status, 200, "{body}");

    let pid = server.child.id().unwrap() as i32;
    // SAFETY: kill has no preconditions; the pid is our child's.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let exited = exit_within(&mut server.child, std::time::Duration::from_secs(20)).await;
    assert!(exited.success(), "{exited}");

    let spans = receiver.spans_of(trace, 2).await;
    let (call, others) = server_span(&spans);
    assert_tool_span_named(call, "auth-at-the-edge");
    assert_eq!(call.span.name, "tools/call get_user");
    assert_eq!(call.parent_span_id(), parent);
    assert_eq!(call.attribute("network.transport").as_deref(), Some("tcp"));
    assert_eq!(
        call.attribute("network.protocol.name").as_deref(),
        Some("http")
    );
    assert_eq!(call.attribute("jsonrpc.request.id").as_deref(), Some("8"));
    // What the client's mcp-protocol-version header said.
    assert_eq!(
        call.attribute("mcp.protocol.version").as_deref(),
        Some("2025-06-18")
    );
    assert_db_children(&others, call, "postgresql");

    let spans = receiver.spans_of(up_trace, 2).await;
    let (call, others) = server_span(&spans);
    // sign_up's transaction (the user and the account) is a span of its own.
    assert!(
        others.iter().any(|db| db.span.name == "insert"
            && db.span.kind == CLIENT
            && db.parent_span_id() == call.span_id()
            && db.attribute("db.system.name").as_deref() == Some("postgresql")),
        "{others:#?}"
    );
    assert_eq!(call.span.name, "tools/call sign_up");
    assert_eq!(call.parent_span_id(), up_parent);

    let spans = receiver.spans_of(header_trace, 2).await;
    let (call, _) = server_span(&spans);
    assert_tool_span_named(call, "auth-at-the-edge");
    assert_eq!(call.attribute("jsonrpc.request.id").as_deref(), Some("9"));
    assert_eq!(call.parent_span_id(), header_parent);
    let spans = receiver.spans_of(both_trace, 2).await;
    let (call, _) = server_span(&spans);
    assert_eq!(call.attribute("jsonrpc.request.id").as_deref(), Some("10"));
    assert_eq!(call.parent_span_id(), both_parent);

    assert_nothing_secret(
        &receiver.spans(),
        &[PASSWORD, "eve@", SECRET, &session, &db.neon_url()],
    );
}

fn assert_tool_span_named(span: &Received, service: &str) {
    assert_eq!(span.service_name.as_deref(), Some(service), "{span:#?}");
    assert_eq!(
        span.attribute("mcp.method.name").as_deref(),
        Some("tools/call")
    );
    assert!(span.span.trace_state.contains("vendor=opaque"), "{span:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_traces_off_nothing_is_sent() {
    let receiver = OtlpReceiver::start().await;
    let traceparent = traceparent("8bf92f3577b34da6a3ce929d0e0e473a", "30f067aa0ba902ba");
    for off in [
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_TRACES_SAMPLER", "always_off"),
    ] {
        let home = tempdir();
        let env = traced(ServerEnv::sqlite(home.path()), &receiver).with(off.0, off.1);
        let server = Server::start(&env).await;
        server.sign_up("ada@example.com", PASSWORD).await;
        let called = call_in_trace(
            &server,
            "verify_token",
            json!({"token": "not-a-token"}),
            &traceparent,
        )
        .await;
        assert_ne!(called.is_error, Some(true));
        let log = server.stop().await;
        if off.0 != "OTEL_TRACES_SAMPLER" {
            assert!(!log.contains("exporting traces"), "{off:?}: {log}");
        }
    }
    // The SDK's default endpoint, where a server with no OTEL_* variable would send, if
    // it sent anything.
    let default_receiver = OtlpReceiver::start_on(4318).await;
    let home = tempdir();
    let server = Server::start(&ServerEnv::sqlite(home.path())).await;
    server.sign_up("ada@example.com", PASSWORD).await;
    let log = server.stop().await;
    assert!(!log.contains("exporting traces"), "{log}");
    assert_eq!(receiver.requests(), 0, "{:#?}", receiver.spans());
    if let Some(default_receiver) = default_receiver {
        assert_eq!(default_receiver.requests(), 0);
    }
}
