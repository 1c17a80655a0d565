//! The built binary as a child process, driven over stdio by rmcp's client.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use super::pg::TestDb;
use super::proxy::Proxy;
use super::rpc::Raw;

pub const BIN: &str = env!("CARGO_BIN_EXE_better-auth-mcp");
pub const SECRET: &str = "test-secret-7c1d0f9e2b4a48d3a5e6f7081b2c3d4e";

/// How a server is started: its environment, nothing inherited but PATH.
#[derive(Clone)]
pub struct ServerEnv {
    pub vars: HashMap<String, String>,
    /// Working directory and XDG_DATA_HOME: no stray `.env`, no shared embedded database.
    pub home: PathBuf,
    /// Command-line arguments.
    pub args: Vec<String>,
}

impl ServerEnv {
    pub fn new(home: &Path) -> Self {
        let mut vars = HashMap::new();
        vars.insert("RUST_LOG".into(), "info".into());
        vars.insert(
            "XDG_DATA_HOME".into(),
            home.join("data").display().to_string(),
        );
        vars.insert("HOME".into(), home.display().to_string());
        Self {
            vars,
            home: home.to_path_buf(),
            args: Vec::new(),
        }
    }

    pub fn sqlite(home: &Path) -> Self {
        Self::new(home)
            .with(
                "DATABASE_URL",
                &format!("sqlite://{}", home.join("auth.db").display()),
            )
            .with("BETTER_AUTH_SECRET", SECRET)
    }

    pub fn postgres(home: &Path, url: &str) -> Self {
        Self::new(home)
            .with("DATABASE_URL", url)
            .with("BETTER_AUTH_SECRET", SECRET)
    }

    /// A server on `db` through `proxy` (which plays outages), with 2 s connect and pool
    /// timeouts so that an outage is noticed quickly.
    pub fn postgres_via(home: &Path, db: &TestDb, proxy: &Proxy) -> Self {
        Self::postgres(home, &db.neon_url_via(proxy.port))
            .with("DATABASE_CONNECT_TIMEOUT_SECONDS", "2")
            .with("DATABASE_POOL_TIMEOUT_SECONDS", "2")
    }

    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.vars.insert(key.into(), value.into());
        self
    }

    pub fn without(mut self, key: &str) -> Self {
        self.vars.remove(key);
        self
    }

    /// The server with piped stdin and stdout (stderr discarded), for tests that write
    /// raw lines: the child and the raw client on its pipes (no handshake yet).
    pub fn spawn_piped(&self) -> (tokio::process::Child, Raw) {
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("server spawns");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        (child, Raw::new(stdout, stdin))
    }

    pub fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.vars)
            .args(&self.args)
            .current_dir(&self.home);
        cmd
    }
}

/// A running server with a connected client; stderr is collected.
pub struct Server {
    pub client: RunningService<RoleClient, ()>,
    stderr: tokio::task::JoinHandle<String>,
}

impl Server {
    pub async fn start(env: &ServerEnv) -> Self {
        Self::start_command(env.command()).await
    }

    /// The server as `cmd` starts it (an installed package's command, say).
    pub async fn start_command(cmd: tokio::process::Command) -> Self {
        let cmd = cmd.configure(|_| {});
        let (transport, stderr) = TokioChildProcess::builder(cmd)
            .stderr(Stdio::piped())
            .spawn()
            .expect("server spawns");
        let mut stderr = stderr.expect("stderr is piped");
        let stderr = tokio::spawn(async move {
            let mut out = String::new();
            let _ = stderr.read_to_string(&mut out).await;
            out
        });
        let client = match ().serve(transport).await {
            Ok(client) => client,
            Err(e) => {
                let log = stderr.await.unwrap_or_default();
                panic!("MCP handshake failed: {e}\nserver stderr:\n{log}");
            }
        };
        Self { client, stderr }
    }

    /// The names of the tools it lists, sorted.
    pub async fn tool_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .client
            .list_all_tools()
            .await
            .unwrap()
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        names.sort();
        names
    }

    pub async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        let Value::Object(args) = args else {
            panic!("arguments must be an object")
        };
        self.client
            .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
            .await
            .unwrap_or_else(|e| panic!("{tool} call failed at the protocol level: {e}"))
    }

    /// A successful call's structured result.
    pub async fn ok(&self, tool: &str, args: Value) -> Value {
        let r = self.call(tool, args).await;
        assert_ne!(r.is_error, Some(true), "{tool} failed: {}", text_of(&r));
        r.structured_content.clone().expect("structured content")
    }

    /// A failed call's error text `CODE: message`.
    pub async fn err(&self, tool: &str, args: Value) -> String {
        let r = self.call(tool, args).await;
        assert_eq!(r.is_error, Some(true), "{tool} should fail: {r:?}");
        assert!(r.structured_content.is_none(), "errors are text only");
        text_of(&r)
    }

    pub async fn sign_up(&self, email: &str, password: &str) -> Value {
        self.ok("sign_up", json!({"email": email, "password": password}))
            .await
    }

    /// Closes stdin and returns the server's stderr once it exits.
    pub async fn stop(self) -> String {
        let _ = self.client.cancel().await;
        self.stderr.await.unwrap_or_default()
    }
}

/// Bearer tokens for HTTP callers: the access token of a session each of `emails` (with
/// `password`) opens on a stdio server of `env`.
pub async fn access_tokens(env: &ServerEnv, emails: &[&str], password: &str) -> Vec<String> {
    let stdio = Server::start(env).await;
    let mut tokens = Vec::new();
    for email in emails {
        let inn = stdio
            .ok("sign_in", json!({"email": email, "password": password}))
            .await;
        tokens.push(inn["token"].as_str().expect("a token").to_owned());
    }
    stdio.stop().await;
    tokens
}

/// `env` serving HTTP on `port` with `--require-auth`, its public URL there, offering
/// `tools`.
pub fn requiring_auth_on(env: ServerEnv, port: u16, tools: &str) -> ServerEnv {
    env.with("BETTER_AUTH_MCP_REQUIRE_AUTH", "true")
        .with(
            "BETTER_AUTH_MCP_PUBLIC_URL",
            &format!("http://127.0.0.1:{port}/mcp"),
        )
        .with("BETTER_AUTH_MCP_TOOLS", tools)
}

pub fn text_of(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The code part of `CODE: message`.
pub fn code_of(text: &str) -> &str {
    text.split(':').next().unwrap_or("")
}

/// The peak resident memory of a running child (VmHWM), in KiB.
pub fn peak_rss_kib(child: &tokio::process::Child) -> u64 {
    let pid = child.id().expect("the child runs");
    super::loadgen::os::memory_kib(pid, "VmHWM").expect("VmHWM in /proc/PID/status")
}

/// The tool contract's six tools, sorted by name as tools/list gives them.
pub const TOOL_NAMES: [&str; 6] = [
    "get_user",
    "refresh_token",
    "sign_in",
    "sign_out",
    "sign_up",
    "verify_token",
];

/// Waits for the child to exit; fails the test past `within`.
pub async fn exit_within(
    child: &mut tokio::process::Child,
    within: std::time::Duration,
) -> std::process::ExitStatus {
    tokio::time::timeout(within, child.wait())
        .await
        .unwrap_or_else(|_| panic!("the server did not exit within {within:?}"))
        .expect("the child can be waited for")
}
