//! Bad input on the wire: every line gets its JSON-RPC answer (or none where JSON-RPC says
//! so) and the server keeps serving the next call correctly.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::support::server::ServerEnv;
use crate::support::tempdir;

struct Raw {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    next_id: i64,
}

impl Raw {
    async fn start(env: &ServerEnv) -> Self {
        let (child, stdin, lines) = env.spawn_piped();
        let mut raw = Self {
            child,
            stdin,
            lines,
            next_id: 100,
        };
        raw.send_line(
            &json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"wire","version":"1"}}}).to_string(),
        )
        .await;
        assert_eq!(raw.answer().await["id"], 1);
        raw.send_line(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
        raw
    }

    async fn send_line(&mut self, line: &str) {
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.write_all(b"\n").await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    async fn answer(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(20), self.lines.next_line())
            .await
            .expect("an answer in time")
            .unwrap()
            .expect("the server is still there");
        serde_json::from_str(&line).unwrap()
    }

    /// Calls a tool and returns the JSON-RPC answer.
    async fn call(&mut self, tool: &str, arguments: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let line = json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":arguments}});
        self.send_line(&line.to_string()).await;
        let answer = self.answer().await;
        assert_eq!(answer["id"], id, "{answer}");
        answer
    }

    /// The server still answers a good call correctly.
    async fn still_serving(&mut self) {
        let r = self.call("verify_token", json!({"token": "x.y.z"})).await;
        assert_eq!(r["result"]["structuredContent"]["valid"], false, "{r}");
    }
}

fn tool_error(answer: &Value) -> String {
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_bad_line_is_answered_and_the_server_keeps_serving() {
    let home = tempdir();
    let mut s = Raw::start(&ServerEnv::sqlite(home.path())).await;

    // Not JSON, and JSON with a raw control character: JSON-RPC's parse error, id null.
    for bad in [
        "this is not json",
        "{\"jsonrpc\":\"2.0\",\"id\":",
        "{\"a\":\"\u{1}\"}",
    ] {
        s.send_line(bad).await;
        let a = s.answer().await;
        assert_eq!(a["error"]["code"], -32700, "{bad:?}: {a}");
        assert_eq!(a["id"], Value::Null);
        s.still_serving().await;
    }

    // JSON that is not JSON-RPC: invalid request.
    s.send_line(r#"{"hello":"world"}"#).await;
    let a = s.answer().await;
    assert_eq!(a["error"]["code"], -32600, "{a}");
    s.still_serving().await;

    // Unknown method and unknown tool: JSON-RPC errors for that id.
    s.send_line(r#"{"jsonrpc":"2.0","id":7,"method":"no/such/method"}"#)
        .await;
    let a = s.answer().await;
    assert_eq!(
        (a["id"].clone(), a["error"]["code"].clone()),
        (json!(7), json!(-32601)),
        "{a}"
    );
    let a = s.call("drop_all_users", json!({})).await;
    assert_eq!(a["error"]["code"], -32602, "{a}");
    s.still_serving().await;

    // Missing, extra and mistyped arguments: isError results naming the field.
    let text = tool_error(&s.call("sign_in", json!({"email": "a@example.com"})).await);
    assert!(text.contains("password"), "{text}");
    let text = tool_error(
        &s.call(
            "sign_in",
            json!({"email": "a@example.com", "password": "x", "otp": 1}),
        )
        .await,
    );
    assert!(text.contains("otp"), "{text}");
    let text = tool_error(
        &s.call("get_user", json!({"token": ["not", "a", "string"]}))
            .await,
    );
    assert!(text.contains("string"), "{text}");
    s.still_serving().await;

    // NUL and control characters in values, a 10 KB email, a 1 MB password.
    let text = tool_error(
        &s.call(
            "sign_up",
            json!({"email": "a\u{0}b@example.com", "password": "password123"}),
        )
        .await,
    );
    assert!(text.starts_with("INVALID_EMAIL:"), "{text}");
    let text = tool_error(
        &s.call(
            "sign_up",
            json!({"email": "ok@example.com", "password": "password123", "name": "a\u{7}b"}),
        )
        .await,
    );
    assert!(text.starts_with("INVALID_NAME:"), "{text}");
    let long_email = format!("{}@example.com", "a".repeat(10_000));
    let text = tool_error(
        &s.call(
            "sign_up",
            json!({"email": long_email, "password": "password123"}),
        )
        .await,
    );
    assert!(text.starts_with("INVALID_EMAIL:"), "{text}");
    let huge_password = "p".repeat(1_000_000);
    let text = tool_error(
        &s.call(
            "sign_in",
            json!({"email": "ok@example.com", "password": huge_password}),
        )
        .await,
    );
    assert!(text.starts_with("PASSWORD_TOO_LONG:"), "{text}");
    s.still_serving().await;

    // A 20 MB line: refused without being held whole, answered, and the next line works.
    let mut line = String::from(
        r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"sign_in","arguments":{"email":"x@example.com","password":""#,
    );
    line.push_str(&"z".repeat(20 * 1024 * 1024));
    line.push_str(r#""}}}"#);
    s.send_line(&line).await;
    let a = s.answer().await;
    assert_eq!(a["error"]["code"], -32600, "{a}");
    s.still_serving().await;

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
    drop(s.stdin);
    let status = tokio::time::timeout(Duration::from_secs(5), s.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}

/// Node-based clients (Claude Desktop, VS Code, the Inspector) give servers one Unix
/// socketpair as stdin and stdout: the server serves it without blocking threads (its
/// debug log says so), answers fast-path and rmcp calls on it, and stops at its EOF.
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
    let (read, mut write) = tokio::net::UnixStream::from_std(ours).unwrap().into_split();
    let mut lines = BufReader::new(read).lines();
    let mut ask = async |line: Value| -> Value {
        write
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        if line.get("id").is_none() {
            return Value::Null;
        }
        let answer = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("an answer within 10 s")
            .unwrap()
            .expect("the server is still there");
        serde_json::from_str(&answer).unwrap()
    };
    let init = ask(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"socket","version":"1"}}})).await;
    assert_eq!(init["result"]["serverInfo"]["name"], "better-auth-mcp");
    ask(json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await;
    let up = ask(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sign_up","arguments":{"email":"socket@example.com","password":"password123"}}})).await;
    let token = up["result"]["structuredContent"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("sign_up answered {up}"))
        .to_owned();
    let verified = ask(json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"verify_token","arguments":{"token":token}}})).await;
    assert_eq!(verified["result"]["structuredContent"]["valid"], true);
    let user = ask(json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"get_user","arguments":{"token":token}}})).await;
    assert_eq!(
        user["result"]["structuredContent"]["user"]["email"],
        "socket@example.com"
    );
    drop(write);
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("the server stops at the socket's EOF")
        .unwrap();
    assert!(status.success());
    let log = log.await.unwrap();
    assert!(
        log.contains("stdin and stdout are a Unix socket"),
        "the socket path was not taken:\n{log}"
    );
}
