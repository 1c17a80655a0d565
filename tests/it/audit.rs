//! The audit log (AUDIT_LOG=true): one row per auth event and admin call, in
//! `better_auth_mcp_audit_log`, with nothing secret in any column; on PostgreSQL beside a
//! real Better Auth 1.7.25 app (admin and api-key plugins) and on the embedded SQLite
//! store; retention deletes old rows when the server starts; `better-auth-mcp audit`
//! prints the recent ones.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::better_auth_app::{BASE_URL, BetterAuthApp};
use crate::support::pg::TestDb;
use crate::support::server::{Server, ServerEnv, code_of};
use crate::support::tempdir;

const SECRET: &str = "audit-log-secret-0123456789abcdef-0123456789";
const PASSWORD: &str = "audited-password-never-stored";
const WRONG: &str = "wrong-password-never-stored";

fn audited(env: ServerEnv) -> ServerEnv {
    env.with("BETTER_AUTH_SECRET", SECRET)
        .with("BETTER_AUTH_URL", BASE_URL)
        .with("BETTER_AUTH_MCP_TOOLSETS", "auth,api_keys,admin")
        .with("AUDIT_LOG", "true")
}

/// Every kind of event this server records, through its tools; the secrets it saw
/// (passwords, tokens, the key), for the caller to look for in the rows.
async fn every_event(server: &Server) -> (Vec<String>, String) {
    let up = server.sign_up("ann@example.com", PASSWORD).await;
    let ann = up["user"]["id"].as_str().unwrap().to_owned();
    let session = up["sessionToken"].as_str().unwrap().to_owned();
    let mut secrets = vec![
        PASSWORD.to_owned(),
        WRONG.to_owned(),
        SECRET.to_owned(),
        session.clone(),
        up["token"].as_str().unwrap().to_owned(),
    ];
    let taken = server
        .err(
            "sign_up",
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(code_of(&taken), "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    let wrong = server
        .err(
            "sign_in",
            json!({"email": "ann@example.com", "password": WRONG}),
        )
        .await;
    assert_eq!(code_of(&wrong), "INVALID_EMAIL_OR_PASSWORD");
    let inn = server
        .ok(
            "sign_in",
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    secrets.push(inn["sessionToken"].as_str().unwrap().to_owned());
    secrets.push(inn["token"].as_str().unwrap().to_owned());
    let refreshed = server
        .ok("refresh_token", json!({"sessionToken": session}))
        .await;
    secrets.push(refreshed["token"].as_str().unwrap().to_owned());
    let created = server
        .ok(
            "create_api_key",
            json!({"sessionToken": session, "name": "agent"}),
        )
        .await;
    secrets.push(created["key"].as_str().unwrap().to_owned());
    let key_id = created["apiKey"]["id"].as_str().unwrap().to_owned();
    server
        .ok(
            "revoke_api_key",
            json!({"sessionToken": session, "keyId": key_id}),
        )
        .await;
    let bob = server.sign_up("bob@example.com", PASSWORD).await;
    let bob_id = bob["user"]["id"].as_str().unwrap().to_owned();
    secrets.push(bob["sessionToken"].as_str().unwrap().to_owned());
    server.ok("list_users", json!({"searchValue": "ex"})).await;
    let user = json!({"userId": bob_id});
    server
        .ok("ban_user", json!({"userId": bob_id, "banReason": "spam"}))
        .await;
    server.ok("unban_user", user.clone()).await;
    server
        .ok("set_role", json!({"userId": bob_id, "role": "support"}))
        .await;
    server.ok("revoke_user_sessions", user.clone()).await;
    server.ok("remove_user", user.clone()).await;
    let gone = server.err("unban_user", user).await;
    assert_eq!(code_of(&gone), "USER_NOT_FOUND");
    server
        .ok("sign_out", json!({"sessionToken": session}))
        .await;
    (secrets, ann)
}

/// The rows every_event leaves, by (action, outcome): how many.
fn expected() -> BTreeMap<(String, String), usize> {
    [
        ("sign_up", "success", 2),
        ("sign_up", "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", 1),
        ("sign_in", "INVALID_EMAIL_OR_PASSWORD", 1),
        ("sign_in", "success", 1),
        ("refresh_token", "success", 1),
        ("create_api_key", "success", 1),
        ("revoke_api_key", "success", 1),
        ("list_users", "success", 1),
        ("ban_user", "success", 1),
        ("unban_user", "success", 1),
        ("unban_user", "USER_NOT_FOUND", 1),
        ("set_role", "success", 1),
        ("revoke_user_sessions", "success", 1),
        ("remove_user", "success", 1),
        ("sign_out", "success", 1),
    ]
    .into_iter()
    .map(|(a, o, n)| ((a.to_owned(), o.to_owned()), n))
    .collect()
}

fn counted(rows: &[Value]) -> BTreeMap<(String, String), usize> {
    let mut seen = BTreeMap::new();
    for row in rows {
        let key = (
            row["action"].as_str().unwrap().to_owned(),
            row["outcome"].as_str().unwrap().to_owned(),
        );
        *seen.entry(key).or_insert(0) += 1;
    }
    seen
}

/// No secret in any column of any row.
fn assert_no_secret(rows: &[Value], secrets: &[String]) {
    for row in rows {
        let text = row.to_string();
        for secret in secrets.iter().filter(|s| s.len() >= 8) {
            assert!(
                !text.contains(secret.as_str()),
                "a secret in an audit row: {text}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn on_postgres_each_event_has_its_row_with_no_secret_and_retention_trims_old_rows() {
    let db = TestDb::create();
    let app = BetterAuthApp::new(&db, SECRET, false)
        .with_admin()
        .with_api_keys(json!({}));
    app.run("migrate", json!({}));
    let home = tempdir();
    let env = audited(ServerEnv::postgres(home.path(), &db.neon_url()));
    let server = Server::start(&env).await;
    let (mut secrets, ann) = every_event(&server).await;
    let log = server.stop().await;
    // Every column of every row, as JSON.
    let all = || -> Vec<Value> {
        db.sql(r#"select row_to_json(a)::text from "better_auth_mcp_audit_log" a order by "createdAt", "id""#)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let rows = all();
    assert_eq!(counted(&rows), expected(), "{rows:#?}");
    // The hashes stored beside them are secrets too, and the database's password.
    secrets.extend(
        db.sql(r#"select "password" from "account""#)
            .lines()
            .map(str::to_owned),
    );
    secrets.extend(
        db.sql(r#"select "key" from "apikey""#)
            .lines()
            .map(str::to_owned),
    );
    let url = db.neon_url();
    let db_password = url.split(':').nth(2).unwrap().split('@').next().unwrap();
    secrets.push(db_password.to_owned());
    assert_no_secret(&rows, &secrets);
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a secret in the log");
    }
    // Who did what: ann's own events are hers; the operator's admin calls have no actor.
    let of = |action: &str| {
        let row = rows
            .iter()
            .find(|r| r["action"] == action && r["outcome"] == "success");
        row.unwrap().clone()
    };
    for action in ["sign_in", "refresh_token", "create_api_key", "sign_out"] {
        let row = of(action);
        assert_eq!(row["actorId"], ann, "{row}");
        assert_eq!(row["targetUserId"], ann, "{row}");
    }
    let ban = of("ban_user");
    assert_eq!(ban["actorId"], Value::Null, "the operator: {ban}");
    assert_eq!(ban["payload"]["banReason"], "spam", "{ban}");
    assert_eq!(of("create_api_key")["payload"]["name"], "agent");
    assert!(of("create_api_key")["payload"]["keyId"].is_string());
    assert_eq!(of("sign_in")["payload"]["email"], "ann@example.com");

    // Rows past the retention go when a server starts; the others stay.
    db.sql(
        r#"insert into "better_auth_mcp_audit_log" ("id", "createdAt", "action", "outcome", "payload")
           values ('old-row', now() - interval '40 days', 'sign_in', 'success', '{}')"#,
    );
    let again = Server::start(&env.clone().with("AUDIT_LOG_RETENTION_DAYS", "30")).await;
    again.tool_names().await;
    let left = all();
    assert!(left.iter().all(|r| r["id"] != "old-row"), "old row kept");
    assert_eq!(left.len(), rows.len());
    again.stop().await;
}

/// `better-auth-mcp audit` with `args` on the server's database: its exit code, stdout
/// and stderr.
async fn audit_command(env: &ServerEnv, args: &[&str]) -> (i32, String, String) {
    let mut cmd = env.command();
    let out = cmd
        .arg("audit")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn on_sqlite_the_rows_are_kept_and_audit_prints_the_recent_ones() {
    let home = tempdir();
    let env = audited(ServerEnv::sqlite(home.path()));
    // Before any server made the table, the command says how to have one.
    let (code, _, stderr) = audit_command(&env, &[]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("AUDIT_LOG=true"), "{stderr}");

    let server = Server::start(&env).await;
    let (secrets, ann) = every_event(&server).await;
    server.stop().await;
    let (code, stdout, stderr) = audit_command(&env, &["--since", "1h", "--json"]).await;
    assert_eq!(code, 0, "{stderr}");
    let rows: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(counted(&rows), expected(), "{stdout}");
    assert_no_secret(&rows, &secrets);
    let sign_in = rows
        .iter()
        .find(|r| r["action"] == "sign_in" && r["outcome"] == "success");
    assert_eq!(sign_in.unwrap()["actorId"], ann);
    // Tab-separated for a person; --since in the future shows nothing.
    let (_, text, _) = audit_command(&env, &["--limit", "3"]).await;
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains("\tsign_up\tsuccess\t"),
        "{text}"
    );
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (code, none, _) = audit_command(&env, &["--since", &later]).await;
    assert_eq!((code, none.as_str()), (0, ""));
    let (code, _, bad) = audit_command(&env, &["--since", "yesterday"]).await;
    assert_eq!(code, 2, "{bad}");
}
