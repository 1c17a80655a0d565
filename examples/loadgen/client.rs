//! The MCP client of the stdio runs: the server spawned as a child over pipes (or a
//! socketpair, `--socketpair`), requests pipelined and answers matched by id.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Child;
use tokio::sync::{Mutex, oneshot};

use super::os::memory_kib;

type Pending = Arc<std::sync::Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// Clients give servers a Unix socketpair as stdin and stdout instead of pipes
/// (`--socketpair`).
pub static SOCKETPAIR: AtomicBool = AtomicBool::new(false);

/// A minimal JSON-RPC client over a child's stdio: requests are pipelined, answers are
/// matched by id.
pub struct Client {
    child: Child,
    /// None once `close` has dropped it.
    stdin: Mutex<Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>>,
    pending: Pending,
    next_id: AtomicU64,
    tool_calls: AtomicU64,
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
            stdin: Mutex::new(Some(stdin)),
            pending,
            next_id: AtomicU64::new(1),
            tool_calls: AtomicU64::new(0),
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
        let stdin = stdin.as_mut().expect("the client is not closed");
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
        self.tool_calls.fetch_add(1, Ordering::Relaxed);
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

    /// The tools/call requests sent so far.
    pub fn tool_calls(&self) -> u64 {
        self.tool_calls.load(Ordering::Relaxed)
    }

    /// Ends the server's stdin: it stops as at a client's exit (sending its last spans).
    /// The write end is dropped, not shut down: `shutdown` on a child's stdin pipe only
    /// flushes, and the server would never read its end.
    pub async fn close(&self) {
        drop(self.stdin.lock().await.take());
    }

    /// The server's peak resident memory so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        memory_kib(self.child.id()?, "VmHWM")
    }
}
