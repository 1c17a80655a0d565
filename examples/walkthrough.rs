//! Starts the server as a child process over stdio, the way an MCP client does, and walks
//! sign_up → sign_in → verify_token → get_user, printing what each returns.
//!
//!     cargo build && cargo run --example walkthrough
//!
//! The server binary is taken from BETTER_AUTH_MCP_BIN, else target/debug/better-auth-mcp.
//! The example uses a throwaway embedded database in a temporary folder, so it touches
//! nothing of yours; set DATABASE_URL and BETTER_AUTH_SECRET to try it on PostgreSQL.

use rmcp::model::CallToolRequestParams;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt, service::RunningService};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bin = std::env::var("BETTER_AUTH_MCP_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/better-auth-mcp").into()
    });
    let scratch = tempfile::tempdir()?;
    let db = format!("sqlite://{}", scratch.path().join("example.db").display());
    let cmd = tokio::process::Command::new(&bin).configure(|c| {
        if std::env::var("DATABASE_URL").is_err() {
            c.env("DATABASE_URL", &db);
        }
        c.env("RUST_LOG", "warn").current_dir(scratch.path());
    });
    let client = ().serve(TokioChildProcess::new(cmd)?).await?;
    if let Some(info) = client.peer_info().and_then(|i| i.server_info.clone()) {
        println!("connected to {} {}", info.name, info.version);
    }

    let email = format!("walkthrough-{}@example.com", std::process::id());
    let up = call(
        &client,
        "sign_up",
        json!({"email": email, "password": "correct horse battery staple", "name": "Walkthrough"}),
    )
    .await?;
    let inn = call(
        &client,
        "sign_in",
        json!({"email": email, "password": "correct horse battery staple"}),
    )
    .await?;
    let token = inn["token"].as_str().unwrap_or_default().to_owned();
    call(&client, "verify_token", json!({"token": token})).await?;
    call(&client, "get_user", json!({"token": token})).await?;
    call(
        &client,
        "sign_in",
        json!({"email": email, "password": "a wrong password"}),
    )
    .await?;
    let _ = up;
    client.cancel().await?;
    Ok(())
}

async fn call(
    client: &RunningService<RoleClient, ()>,
    tool: &str,
    args: Value,
) -> anyhow::Result<Value> {
    let Value::Object(args) = args else {
        anyhow::bail!("arguments must be an object")
    };
    println!("\n→ {tool} {}", Value::Object(redact(args.clone())));
    let result = client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
        .await?;
    if result.is_error == Some(true) {
        let text: Vec<String> = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect();
        println!("← error: {}", text.join(" "));
        return Ok(Value::Null);
    }
    let value = result.structured_content.unwrap_or(Value::Null);
    println!("← {}", serde_json::to_string_pretty(&value)?);
    Ok(value)
}

/// Passwords are not printed, even in an example.
fn redact(mut args: serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    if args.contains_key("password") {
        args.insert("password".into(), json!("[redacted]"));
    }
    args
}
