//! Bad input on the wire, as rmcp's transport handles it: unparsable lines get no answer,
//! well-formed mistakes get their JSON-RPC error or tool error, an oversized line is
//! dropped without being held, and the server keeps serving the next call correctly.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use crate::support::rpc::{Raw, tool_error_text};
use crate::support::server::{ServerEnv, exit_within, peak_rss_kib};
use crate::support::tempdir;

/// The server still answers a good call correctly, and it is the next line it writes
/// (so nothing was answered for what came before).
async fn still_serving(s: &mut Raw) {
    s.send_line(r#"{"jsonrpc":"2.0","id":"probe","method":"tools/call","params":{"name":"verify_token","arguments":{"token":"x.y.z"}}}"#)
        .await;
    let a = s.answer().await;
    assert_eq!(a["id"], "probe", "the next line answers the probe: {a}");
    assert_eq!(a["result"]["structuredContent"]["valid"], false, "{a}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_lines_get_rmcps_answers_and_the_server_keeps_serving() {
    let home = tempdir();
    let (mut child, mut s) = ServerEnv::sqlite(home.path()).spawn_piped();
    s.handshake().await;

    // Not JSON, and JSON with a raw control character: ignored, as the official SDKs do.
    for bad in [
        "this is not json",
        "{\"jsonrpc\":\"2.0\",\"id\":",
        "{\"a\":\"\u{1}\"}",
    ] {
        s.send_line(bad).await;
        still_serving(&mut s).await;
    }

    // JSON that is not JSON-RPC: invalid request.
    s.send_line(r#"{"hello":"world"}"#).await;
    let a = s.answer().await;
    assert_eq!(a["error"]["code"], -32600, "{a}");
    still_serving(&mut s).await;

    // Unknown method and unknown tool: JSON-RPC errors for that id.
    let a = s.request("no/such/method", json!({})).await;
    assert_eq!(a["error"]["code"], -32601, "{a}");
    let a = s.call("drop_all_users", json!({})).await;
    assert_eq!(a["error"]["code"], -32602, "{a}");
    still_serving(&mut s).await;

    // params or arguments that are not an object: refused, never a tool result.
    for line in [
        r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":["verify_token",{"token":"x.y.z"}]}"#,
        r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"verify_token","arguments":["x.y.z"]}}"#,
        r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"verify_token","arguments":"x.y.z"}}"#,
    ] {
        s.send_line(line).await;
        let a = s.answer().await;
        assert!(
            a.get("error").is_some() && a.get("result").is_none(),
            "{line}: {a}"
        );
        still_serving(&mut s).await;
    }

    // Missing, unknown and mistyped arguments: INVALID_ARGUMENTS naming the field, never
    // the value.
    for (tool, args, want) in [
        (
            "sign_in",
            json!({"email": "a@example.com"}),
            "INVALID_ARGUMENTS: password: missing",
        ),
        (
            "sign_up",
            json!({"password": "password123"}),
            "INVALID_ARGUMENTS: email: missing",
        ),
        ("get_user", json!({}), "INVALID_ARGUMENTS: token: missing"),
        (
            "sign_out",
            json!({"token": "t"}),
            "INVALID_ARGUMENTS: token: unknown argument",
        ),
        (
            "sign_in",
            json!({"email": "a@example.com", "password": "x", "otp": 1}),
            "INVALID_ARGUMENTS: otp: unknown argument",
        ),
        (
            "get_user",
            json!({"token": ["not", "a", "string"]}),
            "INVALID_ARGUMENTS: token: expected a string",
        ),
        (
            "refresh_token",
            json!({"sessionToken": 5}),
            "INVALID_ARGUMENTS: sessionToken: expected a string",
        ),
        (
            "sign_up",
            json!({"email": "a@example.com", "password": 31415926}),
            "INVALID_ARGUMENTS: password: expected a string",
        ),
        (
            "verify_token",
            json!({"token": null}),
            "INVALID_ARGUMENTS: token: expected a string",
        ),
    ] {
        let text = tool_error_text(&s.call(tool, args).await);
        assert!(text.starts_with(want), "{tool}: {text}");
        assert!(!text.contains("31415926"), "{text}");
    }
    still_serving(&mut s).await;

    // NUL and control characters in values, a 10 KB email, a 1 MB password.
    let text = tool_error_text(
        &s.call(
            "sign_up",
            json!({"email": "a\u{0}b@example.com", "password": "password123"}),
        )
        .await,
    );
    assert!(text.starts_with("INVALID_EMAIL:"), "{text}");
    let text = tool_error_text(
        &s.call(
            "sign_up",
            json!({"email": "ok@example.com", "password": "password123", "name": "a\u{7}b"}),
        )
        .await,
    );
    assert!(text.starts_with("INVALID_NAME:"), "{text}");
    let long_email = format!("{}@example.com", "a".repeat(10_000));
    let text = tool_error_text(
        &s.call(
            "sign_up",
            json!({"email": long_email, "password": "password123"}),
        )
        .await,
    );
    assert!(text.starts_with("INVALID_EMAIL:"), "{text}");
    let huge_password = "p".repeat(1_000_000);
    let text = tool_error_text(
        &s.call(
            "sign_in",
            json!({"email": "ok@example.com", "password": huge_password}),
        )
        .await,
    );
    assert!(text.starts_with("PASSWORD_TOO_LONG:"), "{text}");
    still_serving(&mut s).await;

    // A 20 MiB line: dropped as it streams (the server's peak memory does not grow by
    // its size), not answered, and the next call is served.
    let before = peak_rss_kib(&child);
    let mut line = String::from(
        r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"sign_in","arguments":{"email":"x@example.com","password":""#,
    );
    line.push_str(&"z".repeat(20 * 1024 * 1024));
    line.push_str(r#""}}}"#);
    s.send_line(&line).await;
    drop(line);
    still_serving(&mut s).await;
    let grew = peak_rss_kib(&child).saturating_sub(before);
    assert!(
        grew < 10 * 1024,
        "peak RSS grew by {grew} KiB for a 20 MiB line"
    );

    // And a real call still succeeds end to end.
    let r = s
        .call(
            "sign_up",
            json!({"email": "wire@example.com", "password": "password123"}),
        )
        .await;
    assert_eq!(
        r["result"]["structuredContent"]["user"]["email"],
        "wire@example.com"
    );
    s.close();
    let status = exit_within(&mut child, Duration::from_secs(5)).await;
    assert!(status.success(), "{status:?}");
}

/// Node-based clients (Claude Desktop, VS Code, the Inspector) give servers one Unix
/// socketpair as stdin and stdout: the server serves it without blocking threads (its
/// debug log says so), answers calls on it, and stops at its EOF.
#[tokio::test(flavor = "multi_thread")]
async fn a_unix_socketpair_as_stdin_and_stdout_is_served_without_blocking_threads() {
    let home = tempdir();
    let env = ServerEnv::sqlite(home.path()).with("RUST_LOG", "better_auth_mcp=debug");
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let theirs_out = theirs.try_clone().unwrap();
    let mut cmd = env.command();
    cmd.stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs_out)))
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let log = tokio::spawn(async move {
        let mut out = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut out).await;
        out
    });
    ours.set_nonblocking(true).unwrap();
    let (read, write) = tokio::net::UnixStream::from_std(ours).unwrap().into_split();
    let mut s = Raw::new(read, write);
    let init = s.handshake().await;
    assert_eq!(init["result"]["serverInfo"]["name"], "better-auth-mcp");
    let up = s
        .call(
            "sign_up",
            json!({"email": "socket@example.com", "password": "password123"}),
        )
        .await;
    let token = up["result"]["structuredContent"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("sign_up answered {up}"))
        .to_owned();
    let verified = s.call("verify_token", json!({"token": token})).await;
    assert_eq!(verified["result"]["structuredContent"]["valid"], true);
    let user = s.call("get_user", json!({"token": token})).await;
    assert_eq!(
        user["result"]["structuredContent"]["user"]["email"],
        "socket@example.com"
    );
    s.close();
    let status = exit_within(&mut child, Duration::from_secs(5)).await;
    assert!(status.success(), "{status:?}");
    let log = log.await.unwrap();
    assert!(
        log.contains("stdin and stdout are a Unix socket"),
        "the socket path was not taken:\n{log}"
    );
}

/// MCP 2026-07-28 has no initialize: each request carries its protocol version in
/// `_meta`. Such a client reaches the same tools through rmcp, invalid arguments included.
#[tokio::test(flavor = "multi_thread")]
async fn a_2026_07_28_client_calls_the_tools_without_initialize() {
    let home = tempdir();
    let (mut child, mut s) = ServerEnv::sqlite(home.path()).spawn_piped();
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let call = |id: i64, tool: &str, arguments: serde_json::Value| {
        json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
               "params":{"name":tool,"arguments":arguments,"_meta":meta}})
        .to_string()
    };
    s.send_line(&call(
        1,
        "sign_up",
        json!({"email": "modern@example.com", "password": "password123"}),
    ))
    .await;
    let up = s.answer_to(&json!(1)).await;
    let token = up["result"]["structuredContent"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("sign_up answered {up}"))
        .to_owned();
    s.send_line(&call(2, "verify_token", json!({"token": token})))
        .await;
    let verified = s.answer_to(&json!(2)).await;
    assert_eq!(
        verified["result"]["structuredContent"]["valid"], true,
        "{verified}"
    );
    assert_eq!(verified["result"]["resultType"], "complete", "{verified}");
    s.send_line(&call(3, "verify_token", json!({"token": 5})))
        .await;
    let text = tool_error_text(&s.answer_to(&json!(3)).await);
    assert_eq!(text, "INVALID_ARGUMENTS: token: expected a string");
    s.close();
    let status = exit_within(&mut child, Duration::from_secs(5)).await;
    assert!(status.success(), "{status:?}");
}
