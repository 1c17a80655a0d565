//! The server serving Streamable HTTP as a child process, and the HTTP client side of the
//! tests: MCP POSTs (the load generator's, shared), answers, and raw connections that
//! stay idle or watch for the server's close.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::free_port;
pub use super::loadgen::http::{keep_alive_call, mcp_post};
use super::server::ServerEnv;

/// The server serving HTTP on a free loopback port, once /healthz answers.
pub struct HttpServer {
    pub child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub port: u16,
}

impl HttpServer {
    pub async fn start(env: &ServerEnv) -> Self {
        Self::start_on(env, free_port()).await
    }

    pub async fn start_on(env: &ServerEnv, port: u16) -> Self {
        let command = env
            .clone()
            .with("BETTER_AUTH_MCP_HTTP", &format!("127.0.0.1:{port}"))
            .command();
        Self::spawn(command, &env.home, port).await
    }

    /// Spawns `command` (a server serving HTTP on `port`, its home `home`).
    pub async fn spawn(
        mut command: tokio::process::Command,
        home: &std::path::Path,
        port: u16,
    ) -> Self {
        // Its log goes to a file: a pipe nobody reads would fill and stop the server.
        let log_path = home.join(format!("server-{port}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("server spawns");
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..200 {
            if let Ok(r) = reqwest::get(format!("{base}/healthz")).await
                && r.status() == 200
            {
                return Self { child, base, port };
            }
            if let Ok(Some(status)) = child.try_wait() {
                let err = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("the server exited ({status}): {err}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not answer /healthz");
    }

    pub fn url(&self) -> String {
        format!("{}/mcp", self.base)
    }

    /// A raw JSON-RPC POST to /mcp as a client of 2025-06-18 sends it after initialize.
    pub async fn post(&self, body: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let mut request = mcp_post(&reqwest::Client::new(), self.url()).body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    pub async fn tools_list(&self) -> (u16, String) {
        self.post(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, &[])
            .await
    }

    /// tools/list with `bearer` (or none): the status and the `WWW-Authenticate` header.
    pub async fn list_as(&self, bearer: Option<&str>) -> (u16, String) {
        let mut request = mcp_post(&reqwest::Client::new(), self.url())
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        (response.status().as_u16(), challenge_of(&response))
    }

    /// The Protected Resource Metadata document at `path`.
    pub async fn metadata(&self, path: &str) -> Value {
        let text = reqwest::get(format!("{}{path}", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }
}

/// The `WWW-Authenticate` header of `response` (empty when it has none).
pub fn challenge_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A tools/call of `name` with `args` (id 1), POSTed to /mcp (more headers may follow).
pub fn tool_call(
    client: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    name: &str,
    args: Value,
) -> reqwest::RequestBuilder {
    super::loadgen::http::tool_call(client, url, 1, name, args)
}

/// The JSON-RPC answer to a request that must get one.
pub async fn answer(request: reqwest::RequestBuilder) -> Value {
    let text = request
        .send()
        .await
        .expect("the server answers")
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// When the server closes `stream` (end of stream or a reset), if within `within`: the
/// moment it was seen closed, never before the close itself.
pub async fn closed_at(
    stream: &mut tokio::net::TcpStream,
    within: Duration,
) -> Option<std::time::Instant> {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(std::time::Instant::now()),
            // A 408 or the like before the close.
            Ok(Ok(_)) => continue,
        }
    }
}

/// Whether the server closes `stream` (end of stream or a reset) within `within`.
pub async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    closed_at(stream, within).await.is_some()
}

/// A connection that got `GET /healthz` answered and is left open (keep-alive), or None
/// when the server closed it instead.
pub async fn idle_connection(port: u16) -> Option<tokio::net::TcpStream> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!("GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    // The answer's body is `ok`.
    while !got.ends_with(b"\r\n\r\nok") {
        let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf));
        let n = read.await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
    }
    got.starts_with(b"HTTP/1.1 200").then_some(stream)
}
