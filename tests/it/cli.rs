//! The binary as a user meets it: zero-configuration start, refusals, help, and stopping.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use crate::support::http::HttpServer;
use crate::support::server::{SECRET, Server, ServerEnv, TOOL_NAMES, exit_within};
use crate::support::{free_port, tempdir};

#[tokio::test(flavor = "multi_thread")]
async fn the_embedded_default_needs_no_configuration_and_keeps_its_secret() {
    let home = tempdir();
    let env = ServerEnv::new(home.path());
    let first = Server::start(&env).await;
    let up = first.sign_up("zero@example.com", "password123").await;
    let log = first.stop().await;
    assert!(log.contains("generated one"), "{log}");

    let dir = home.path().join("data/better-auth-mcp");
    assert!(dir.join("better-auth.db").exists());
    let secret = dir.join("better-auth.db.secret");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let secret_value = std::fs::read_to_string(&secret).unwrap();
    assert!(secret_value.len() >= 32);
    assert!(!log.contains(secret_value.trim()));

    // The next start reuses the database and the secret: the old token still verifies.
    let second = Server::start(&env).await;
    let got = second.ok("get_user", json!({"token": up["token"]})).await;
    assert_eq!(got["user"]["email"], "zero@example.com");
    second.stop().await;
}

/// The file's permission bits.
fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The embedded store holds password hashes and session tokens: its file, `-wal` and
/// `-shm` are 0600 and its folder 0700 from the first start, and a store left open to
/// others (by an older version, a copy, a umask) is closed on the next start, logged.
#[tokio::test(flavor = "multi_thread")]
async fn the_embedded_store_is_private_to_the_user_and_a_looser_one_is_tightened() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempdir();
    let env = ServerEnv::new(home.path());
    let dir = home.path().join("data/better-auth-mcp");
    let db = dir.join("better-auth.db");
    let files = ["better-auth.db", "better-auth.db-wal", "better-auth.db-shm"];
    let server = Server::start(&env).await;
    server.sign_up("private@example.com", "password123").await;
    // While it serves, SQLite keeps its -wal and -shm files.
    assert_eq!(mode_of(&dir), 0o700);
    for file in files {
        assert_eq!(mode_of(&dir.join(file)), 0o600, "{file}");
    }
    server.stop().await;

    let open = |path: &std::path::Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    open(&dir, 0o755);
    open(&db, 0o644);
    let server = Server::start(&env).await;
    server
        .ok("verify_token", json!({"token": "x".repeat(40)}))
        .await;
    assert_eq!(mode_of(&dir), 0o700);
    for file in files {
        assert_eq!(mode_of(&dir.join(file)), 0o600, "{file}");
    }
    let log = server.stop().await;
    assert!(log.contains("its mode is tightened"), "{log}");
}

/// The server as `env` starts it, with `args`, run to its end (no runtime needed).
fn run_to_end(env: &ServerEnv, args: &[&str]) -> std::process::Output {
    let mut cmd = env.command();
    let cmd = cmd.as_std_mut().args(args).stdin(Stdio::null());
    cmd.output().expect("binary runs")
}

#[test]
fn a_short_or_placeholder_secret_refuses_to_start_and_says_why() {
    let home = tempdir();
    for secret in [
        "too-short-secret",
        "better-auth-secret-12345678901234567890",
    ] {
        let env = ServerEnv::sqlite(home.path()).with("BETTER_AUTH_SECRET", secret);
        let out = run_to_end(&env, &[]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("BETTER_AUTH_SECRET"), "{stderr}");
        assert!(
            !stderr.contains(secret),
            "the secret is not echoed: {stderr}"
        );
        assert!(out.stdout.is_empty(), "stdout stays clean");
    }
}

#[test]
fn postgres_without_a_secret_refuses_to_start() {
    let home = tempdir();
    let env = ServerEnv::postgres(
        home.path(),
        "postgresql://u:p@localhost:1/db?sslmode=require",
    )
    .without("BETTER_AUTH_SECRET");
    let out = run_to_end(&env, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("BETTER_AUTH_SECRET is required"),
        "{stderr}"
    );
}

#[test]
fn help_and_version_describe_the_server() {
    let home = tempdir();
    let env = ServerEnv::new(home.path());
    let help = run_to_end(&env, &["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for word in [
        "migrate",
        "--env-file",
        "RUST_LOG",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ] {
        assert!(text.contains(word), "--help mentions {word}: {text}");
    }
    // Every variable .env.example documents is listed, each with its default where it has one.
    let example = include_str!("../../.env.example");
    let variables: Vec<&str> = example
        .lines()
        .filter_map(|l| l.strip_prefix('#')?.split_once('=').map(|(k, _)| k))
        .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        .collect();
    assert!(variables.len() >= 20, "{variables:?}");
    // RUST_LOG and OpenTelemetry's OTEL_* are read as their libraries read them, not flags.
    for var in variables
        .iter()
        .filter(|v| **v != "RUST_LOG" && !v.starts_with("OTEL_"))
    {
        assert!(text.contains(&format!("[env: {var}")), "--help lists {var}");
    }
    for default in [
        "[default: 900]",
        "[default: 30]",
        "[default: scrypt]",
        "[default: 604800]",
    ] {
        assert!(text.contains(default), "--help shows {default}");
    }
    let version = run_to_end(&env, &["--version"]);
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("better-auth-mcp {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_malformed_env_file_or_setting_refuses_to_start_naming_the_line_not_its_text() {
    let home = tempdir();
    let env = ServerEnv::sqlite(home.path());
    std::fs::write(
        home.path().join("bad.env"),
        "TOKEN_TTL_SECONDS=60\nnot a setting s3cr3t-in-the-line\n",
    )
    .unwrap();
    let out = run_to_end(&env, &["--env-file", "bad.env"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.env: line 2"), "{stderr}");
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
    // The same for `.env` in the working directory.
    std::fs::write(home.path().join(".env"), "=oops\n").unwrap();
    let out = run_to_end(&env, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".env: line 1"));
    std::fs::remove_file(home.path().join(".env")).unwrap();
    // A setting out of its range, and a boolean spelled otherwise, from the environment.
    for (var, value) in [("TOKEN_TTL_SECONDS", "0"), ("RATE_LIMIT_ENABLED", "maybe")] {
        let out = run_to_end(&env.clone().with(var, value), &[]);
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_env_file_provides_the_configuration() {
    let home = tempdir();
    let env_file = home.path().join("server.env");
    std::fs::write(
        &env_file,
        format!(
            "DATABASE_URL=sqlite://{}\nBETTER_AUTH_SECRET={SECRET}\nTOKEN_TTL_SECONDS=120\n",
            home.path().join("from-env-file.db").display()
        ),
    )
    .unwrap();
    let env = ServerEnv::new(home.path());
    let mut cmd = env.command();
    cmd.arg("--env-file").arg(&env_file);
    let (transport, _) = rmcp::transport::TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use rmcp::ServiceExt;
    let client = ().serve(transport).await.unwrap();
    let r = client
        .call_tool(
            rmcp::model::CallToolRequestParams::new("sign_up").with_arguments(
                json!({"email": "envfile@example.com", "password": "password123"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap();
    let out = r.structured_content.unwrap();
    let v = client
        .call_tool(
            rmcp::model::CallToolRequestParams::new("verify_token")
                .with_arguments(json!({"token": out["token"]}).as_object().unwrap().clone()),
        )
        .await
        .unwrap()
        .structured_content
        .unwrap();
    let claims = &v["claims"];
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
    let _ = client.cancel().await;
    assert!(home.path().join("from-env-file.db").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn stdin_eof_stops_the_server_cleanly() {
    let home = tempdir();
    let (mut child, mut raw) = ServerEnv::sqlite(home.path()).spawn_piped();
    raw.handshake().await;
    raw.close();
    let status = exit_within(&mut child, Duration::from_secs(2)).await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_server_within_two_seconds() {
    let home = tempdir();
    let (mut child, mut raw) = ServerEnv::sqlite(home.path()).spawn_piped();
    raw.handshake().await;
    // SAFETY: kill with a valid pid of our own child.
    unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGTERM) };
    let status = exit_within(&mut child, Duration::from_secs(2)).await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_migrations_are_safe_when_servers_start_at_once() {
    let home = tempdir();
    let env = ServerEnv::sqlite(home.path());
    let runs = (0..4).map(|_| {
        let mut cmd = env.command();
        cmd.arg("migrate");
        cmd.output()
    });
    for out in futures::future::join_all(runs).await {
        let out = out.unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let conn = rusqlite::Connection::open(home.path().join("auth.db")).unwrap();
    let (n, max): (i64, i64) = conn
        .query_row(
            r#"select count(*), max("version") from "better_auth_mcp_migrations""#,
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(n, max, "each migration applied once, none missing");
}

async fn listed_tools(env: &ServerEnv, args: &[&str]) -> (Server, Vec<String>) {
    let mut env = env.clone();
    env.args = args.iter().map(|a| a.to_string()).collect();
    let server = Server::start(&env).await;
    let names = server.tool_names().await;
    (server, names)
}

#[tokio::test(flavor = "multi_thread")]
async fn read_only_offers_only_verify_token_and_get_user() {
    let home = tempdir();
    let env = ServerEnv::sqlite(home.path());
    let writer = Server::start(&env).await;
    let up = writer.sign_up("ro@example.com", "password123").await;
    writer.stop().await;

    let (server, names) = listed_tools(&env, &["--read-only"]).await;
    assert_eq!(names, ["get_user", "verify_token"]);
    let refused = server
        .client
        .call_tool(
            rmcp::model::CallToolRequestParams::new("sign_in").with_arguments(
                json!({"email": "ro@example.com", "password": "password123"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await;
    assert!(
        refused.is_err(),
        "a gated tool cannot be called: {refused:?}"
    );
    let got = server.ok("get_user", json!({"token": up["token"]})).await;
    assert_eq!(got["user"]["email"], "ro@example.com");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tools_allowlist_offers_just_those_tools() {
    let home = tempdir();
    let env = ServerEnv::sqlite(home.path());
    let (server, names) = listed_tools(&env, &["--tools", "sign_in,verify_token"]).await;
    assert_eq!(names, ["sign_in", "verify_token"]);
    server.stop().await;
    let env = env.with("BETTER_AUTH_MCP_TOOLS", "get_user");
    let (server, names) = listed_tools(&env, &[]).await;
    assert_eq!(names, ["get_user"]);
    server.stop().await;
    // Empty is unset, as an MCP Bundle passes an optional field left blank; with
    // --read-only it is the read-only pair.
    let env = env.with("BETTER_AUTH_MCP_TOOLS", "");
    let (server, names) = listed_tools(&env, &[]).await;
    assert_eq!(names, TOOL_NAMES);
    server.stop().await;
    let (server, names) = listed_tools(&env, &["--read-only"]).await;
    assert_eq!(names, ["get_user", "verify_token"]);
    server.stop().await;
    // Toolsets: the api_keys set adds its three; --tools narrows inside the sets chosen,
    // --read-only to their read-only tools.
    let env = env.with("BETTER_AUTH_MCP_TOOLSETS", "auth,api_keys");
    let (server, names) = listed_tools(&env, &[]).await;
    assert_eq!(names.len(), 9, "{names:?}");
    assert!(names.iter().any(|n| n == "create_api_key"), "{names:?}");
    server.stop().await;
    let (server, names) = listed_tools(&env, &["--read-only"]).await;
    assert_eq!(names, ["get_user", "list_api_keys", "verify_token"]);
    server.stop().await;
    let (server, names) = listed_tools(&env, &["--tools", "verify_token,revoke_api_key"]).await;
    assert_eq!(names, ["revoke_api_key", "verify_token"]);
    server.stop().await;
}

#[test]
fn an_unknown_toolset_or_tool_or_a_writing_tool_under_read_only_refuses_to_start() {
    let home = tempdir();
    let env = ServerEnv::sqlite(home.path());
    let out = run_to_end(&env, &["--tools", "sign_in,drop_database"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("drop_database"));
    let out = run_to_end(&env, &["--read-only", "--tools", "sign_up"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("read-only"));
    let out = run_to_end(&env, &["--toolsets", "auth,everything"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("everything"));
    // A tool of a toolset not chosen: the error names the toolset that has it.
    let out = run_to_end(&env, &["--tools", "verify_token,create_api_key"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("api_keys") && err.contains("--toolsets"),
        "{err}"
    );
}

/// Settings are accepted before or after the subcommand, `migrate --help` lists what
/// migrate uses (the database's settings, not HTTP's), and `--http` takes a host name.
#[tokio::test(flavor = "multi_thread")]
async fn settings_go_before_or_after_the_subcommand_and_http_takes_a_host_name() {
    let home = tempdir();
    let env = ServerEnv::new(home.path());
    let db = home.path().join("after.db");
    let url = format!("sqlite://{}", db.display());
    for args in [
        vec!["migrate", "--database-url", &url],
        vec!["--database-url", &url, "migrate"],
    ] {
        let _ = std::fs::remove_file(&db);
        let out = run_to_end(&env, &args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert!(db.exists(), "{args:?} migrated the database it names");
    }

    let help =
        String::from_utf8_lossy(&run_to_end(&env, &["migrate", "--help"]).stdout).to_string();
    assert!(help.contains("--database-url"), "{help}");
    assert!(help.contains("--database-schema"), "{help}");
    for unused in [
        "--http",
        "--tools",
        "--token-ttl-seconds",
        "--better-auth-secret",
    ] {
        assert!(
            !help.contains(&format!("{unused} ")),
            "migrate --help lists {unused}: {help}"
        );
    }
    let serve_help =
        String::from_utf8_lossy(&run_to_end(&env, &["serve", "--help"]).stdout).to_string();
    for used in ["--http", "--tools", "--read-only", "--database-url"] {
        assert!(serve_help.contains(used), "serve --help lacks {used}");
    }

    let port = free_port();
    let mut command = env
        .clone()
        .with("DATABASE_URL", &url)
        .with("BETTER_AUTH_SECRET", SECRET)
        .command();
    command
        .args(["serve", "--http", &format!("localhost:{port}")])
        .args(["--tools", "sign_up,verify_token"]);
    // Returns once /healthz answers 200 on 127.0.0.1:PORT: serving on localhost:PORT.
    HttpServer::spawn(command, home.path(), port).await;
}

/// A bad value names its variable and where it was set (the environment, or the env
/// file and line), not a flag the user never passed; with --env-file, `./.env` is not read.
#[test]
fn a_bad_setting_names_its_variable_and_where_it_came_from() {
    let home = tempdir();
    let env = ServerEnv::sqlite(home.path());
    std::fs::write(
        home.path().join("server.env"),
        "# the server's settings\nTOKEN_TTL_SECONDS=60\nHTTP_MAX_BODY_BYTES=12\n",
    )
    .unwrap();
    let out = run_to_end(&env, &["--env-file", "server.env"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("HTTP_MAX_BODY_BYTES (set in server.env:3) has an invalid value '12'"),
        "{stderr}"
    );
    assert!(!stderr.contains("--http-max-body-bytes"), "{stderr}");
    let out = run_to_end(&env.clone().with("RATE_LIMIT_ENABLED", "maybe"), &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("RATE_LIMIT_ENABLED (set in the environment) has an invalid value"),
        "{stderr}"
    );
    // A value checked against others names where it came from too.
    std::fs::write(
        home.path().join("http.env"),
        "BETTER_AUTH_MCP_HTTP=0.0.0.0:0\n",
    )
    .unwrap();
    let out = run_to_end(&env, &["--env-file", "http.env"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("BETTER_AUTH_MCP_HTTP is set in http.env:1"),
        "{stderr}"
    );

    // ./.env is read without --env-file, and not with it.
    std::fs::write(home.path().join(".env"), "HTTP_HEADER_TIMEOUT_SECONDS=0\n").unwrap();
    let out = run_to_end(&env, &["migrate"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(set in .env:1)"), "{stderr}");
    std::fs::write(home.path().join("good.env"), "TOKEN_TTL_SECONDS=60\n").unwrap();
    let out = run_to_end(&env, &["migrate", "--env-file", "good.env"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
