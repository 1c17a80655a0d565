//! The browser_sign_in toolset beside a real Better Auth 1.7.25 app with the
//! deviceAuthorization plugin (tests/better-auth/app.mjs, `device: true`), served over HTTP
//! on loopback, on one PostgreSQL: begin here writes the plugin's row; the person, signed
//! in on the app, approves (or denies) with the app's own /device routes; complete here
//! opens a session the app accepts; expiry, reuse, unknown codes, slow_down, banned users;
//! the toolset on the embedded SQLite store; no tool of it takes a password.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::better_auth_app::{BASE_URL, BetterAuthApp};
use crate::support::http::{HttpServer, answer, tool_call};
use crate::support::pg::TestDb;
use crate::support::server::{Server, ServerEnv, access_tokens, code_of, requiring_auth_on};
use crate::support::{free_port, tempdir};

const SECRET: &str = "browser-sign-in-secret-0123456789abcdef-01";
const PASSWORD: &str = "correct horse battery";

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn with_browser_sign_in(env: ServerEnv) -> ServerEnv {
    env.with("BETTER_AUTH_SECRET", SECRET)
        .with("BETTER_AUTH_URL", BASE_URL)
        .with("BETTER_AUTH_MCP_TOOLSETS", "auth,browser_sign_in")
        .with("BROWSER_SIGN_IN_INTERVAL_SECONDS", "1")
}

/// An app with the deviceAuthorization and admin plugins, migrated, and a person signed
/// up in it: the app, their id and their session token (their browser's).
fn app_with_a_person(db: &TestDb, email: &str) -> (BetterAuthApp, String, String) {
    let app = BetterAuthApp::new(db, SECRET, false)
        .with_admin()
        .with_device_authorization();
    app.run("migrate", json!({}));
    let up = app.run(
        "sign-up",
        json!({"email": email, "password": PASSWORD, "name": "Person"}),
    );
    (
        app,
        str_of(&up["user"]["id"]).into(),
        str_of(&up["token"]).into(),
    )
}

/// The code of a failed complete_browser_sign_in.
async fn complete_code(server: &Server, device_code: &str) -> String {
    let text = server
        .err(
            "complete_browser_sign_in",
            json!({"deviceCode": device_code}),
        )
        .await;
    code_of(&text).to_owned()
}

/// Waits out the polling interval (1 s here), so the next completion is no slow_down.
async fn after_the_interval() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_who_approves_on_the_app_is_signed_in_here_once_with_a_session_the_app_accepts() {
    let db = TestDb::create();
    let (app, person, browser) = app_with_a_person(&db, "pat@example.com");
    let served = app.serve();
    let home = tempdir();
    let server = Server::start(
        &with_browser_sign_in(ServerEnv::postgres(home.path(), &db.neon_url()))
            .with("AUDIT_LOG", "true"),
    )
    .await;

    let begun = server.ok("begin_browser_sign_in", json!({})).await;
    assert_eq!(begun["status"], "pending", "{begun}");
    let user_code = str_of(&begun["userCode"]).to_owned();
    let device_code = str_of(&begun["deviceCode"]).to_owned();
    assert_eq!(begun["verificationUri"], format!("{BASE_URL}/device"));
    assert_eq!(
        begun["verificationUriComplete"],
        format!("{BASE_URL}/device?user_code={user_code}")
    );
    assert_eq!(begun["interval"], 1);
    assert!(str_of(&begun["message"]).contains(&user_code));
    assert!(
        !str_of(&begun["message"]).contains(&device_code),
        "never shown"
    );
    // The row as the plugin's /device/code writes it.
    let row = db.sql(&format!(
        r#"select length("deviceCode"), "userCode" ~ '^[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{{8}}$',
                  coalesce("userId", '<null>'), "status", coalesce("lastPolledAt"::text, '<null>'),
                  "pollingInterval", "clientId", coalesce("scope", '<null>'),
                  round(extract(epoch from "expiresAt" - now()) / 60)
           from "deviceCode" where "userCode" = '{user_code}'"#
    ));
    assert_eq!(
        row,
        "40|t|<null>|pending|<null>|1000|better-auth-mcp|<null>|30"
    );

    assert_eq!(
        complete_code(&server, &device_code).await,
        "AUTHORIZATION_PENDING"
    );
    assert_eq!(complete_code(&server, &device_code).await, "SLOW_DOWN");
    // The person, signed in on the app, opens its /device page and approves.
    let (status, approved) = served.decide(&browser, &user_code, true).await;
    assert_eq!(
        (status, &approved["success"]),
        (200, &json!(true)),
        "{approved}"
    );
    after_the_interval().await;
    let signed_in = server
        .ok(
            "complete_browser_sign_in",
            json!({"deviceCode": device_code}),
        )
        .await;
    assert_eq!(signed_in["status"], "approved", "{signed_in}");
    assert_eq!(signed_in["user"]["id"], person.as_str());
    assert_eq!(signed_in["tokenType"], "Bearer");
    let session_token = str_of(&signed_in["sessionToken"]);
    // The session is a Better Auth session: the app's bearer plugin accepts it, and so
    // does this server.
    let session = app.run("get-session", json!({"token": session_token}));
    assert_eq!(session["user"]["id"], person.as_str(), "{session}");
    let here = server
        .ok("get_user", json!({"token": signed_in["token"]}))
        .await;
    assert_eq!(here["user"]["email"], "pat@example.com");
    // Exchanged once: the row is gone, a replay is an unknown code.
    after_the_interval().await;
    assert_eq!(
        complete_code(&server, &device_code).await,
        "INVALID_DEVICE_CODE"
    );
    assert_eq!(
        db.sql(r#"select count(*) from "deviceCode""#),
        "0",
        "the exchange deleted the row"
    );
    assert_eq!(
        complete_code(&server, &"A".repeat(40)).await,
        "INVALID_DEVICE_CODE",
        "an unknown code"
    );
    let log = server.stop().await;
    for secret in [device_code.as_str(), session_token] {
        assert!(!log.contains(secret), "a secret in the log");
    }
    // The audit log has the flow's begin and its end, not its polls, and no secret.
    let audited = db.sql(
        r#"select "action", "outcome", coalesce("actorId", '-'), coalesce("targetUserId", '-')
           from "better_auth_mcp_audit_log" order by "createdAt", "id""#,
    );
    assert_eq!(
        audited,
        format!(
            "begin_browser_sign_in|success|-|-\n\
             complete_browser_sign_in|success|{person}|{person}\n\
             complete_browser_sign_in|INVALID_DEVICE_CODE|-|-\n\
             complete_browser_sign_in|INVALID_DEVICE_CODE|-|-"
        )
    );
    let rows = db.sql(r#"select row_to_json(a)::text from "better_auth_mcp_audit_log" a"#);
    for secret in [device_code.as_str(), session_token, &user_code] {
        assert!(!rows.contains(secret), "a secret in an audit row: {rows}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn denied_expired_and_banned_sign_ins_open_no_session_and_use_the_code_up() {
    let db = TestDb::create();
    let (app, person, browser) = app_with_a_person(&db, "dee@example.com");
    let served = app.serve();
    let home = tempdir();
    let env = with_browser_sign_in(ServerEnv::postgres(home.path(), &db.neon_url()));
    let server = Server::start(&env).await;
    let sessions = || {
        db.sql(&format!(
            r#"select count(*) from "session" where "userId" = '{person}'"#
        ))
    };
    let before = sessions();

    // Denied on the app: ACCESS_DENIED once, then the code is gone.
    let begun = server.ok("begin_browser_sign_in", json!({})).await;
    let (status, denied) = served
        .decide(&browser, str_of(&begun["userCode"]), false)
        .await;
    assert_eq!(status, 200, "{denied}");
    let device_code = str_of(&begun["deviceCode"]);
    assert_eq!(complete_code(&server, device_code).await, "ACCESS_DENIED");
    assert_eq!(
        complete_code(&server, device_code).await,
        "INVALID_DEVICE_CODE"
    );

    // Approved, then banned by the app's admin before the exchange: BANNED_USER, no
    // session, and the code is used up (as the plugin's /device/token leaves it).
    let begun = server.ok("begin_browser_sign_in", json!({})).await;
    let (status, _) = served
        .decide(&browser, str_of(&begun["userCode"]), true)
        .await;
    assert_eq!(status, 200);
    db.sql(&format!(
        r#"update "user" set "banned" = true, "banReason" = 'spam' where "id" = '{person}'"#
    ));
    let device_code = str_of(&begun["deviceCode"]);
    assert_eq!(complete_code(&server, device_code).await, "BANNED_USER");
    after_the_interval().await;
    assert_eq!(
        complete_code(&server, device_code).await,
        "INVALID_DEVICE_CODE"
    );
    assert_eq!(sessions(), before, "no session for a banned user");
    db.sql(&format!(
        r#"update "user" set "banned" = false, "banReason" = null where "id" = '{person}'"#
    ));
    server.stop().await;

    // Expired (a 1 s lifetime): the app refuses to approve it, complete says so once.
    let server = Server::start(&env.with("BROWSER_SIGN_IN_EXPIRES_IN_SECONDS", "1")).await;
    let begun = server.ok("begin_browser_sign_in", json!({})).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, refused) = served
        .request(
            reqwest::Method::POST,
            "/device/approve",
            &browser,
            Some(json!({"userCode": begun["userCode"]})),
        )
        .await;
    assert_eq!(
        (status, &refused["error"]),
        (400, &json!("expired_token")),
        "{refused}"
    );
    let device_code = str_of(&begun["deviceCode"]);
    assert_eq!(complete_code(&server, device_code).await, "EXPIRED_TOKEN");
    assert_eq!(
        complete_code(&server, device_code).await,
        "INVALID_DEVICE_CODE"
    );
    assert_eq!(sessions(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_sign_in_works_on_the_embedded_store_and_takes_no_password() {
    let home = tempdir();
    let env = with_browser_sign_in(ServerEnv::sqlite(home.path()));
    let server = Server::start(&env).await;
    let up = server.sign_up("sam@example.com", PASSWORD).await;
    let begun = server.ok("begin_browser_sign_in", json!({})).await;
    assert_eq!(begun["status"], "pending");
    // What the app's /device/approve writes, on the shared file.
    let db = rusqlite::Connection::open(home.path().join("auth.db")).unwrap();
    db.execute(
        r#"update "deviceCode" set "status" = 'approved', "userId" = ?1 where "userCode" = ?2"#,
        [str_of(&up["user"]["id"]), str_of(&begun["userCode"])],
    )
    .unwrap();
    let signed_in = server
        .ok(
            "complete_browser_sign_in",
            json!({"deviceCode": begun["deviceCode"]}),
        )
        .await;
    assert_eq!(signed_in["user"]["id"], up["user"]["id"]);
    let tools = server.client.list_all_tools().await.unwrap();
    for tool in tools.iter().filter(|t| t.name.contains("browser_sign_in")) {
        let schema = serde_json::to_string(&tool.input_schema).unwrap();
        assert!(
            !schema.to_lowercase().contains("password"),
            "{}: {schema}",
            tool.name
        );
    }
    let wrong = server
        .err("begin_browser_sign_in", json!({"password": PASSWORD}))
        .await;
    assert_eq!(code_of(&wrong), "INVALID_ARGUMENTS");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_plugins_table_the_tools_answer_plugin_not_enabled() {
    let db = TestDb::create();
    let app = BetterAuthApp::new(&db, SECRET, false);
    app.run("migrate", json!({}));
    let home = tempdir();
    let server = Server::start(&with_browser_sign_in(ServerEnv::postgres(
        home.path(),
        &db.neon_url(),
    )))
    .await;
    let text = server.err("begin_browser_sign_in", json!({})).await;
    assert!(
        text.starts_with("PLUGIN_NOT_ENABLED: device-authorization tables not found"),
        "{text}"
    );
}

/// begin_browser_sign_in called by the official Python SDK over stdio in `mode` ("legacy":
/// 2025-11-25, or "2026-07-28"), with a URL elicitation callback (`elicit`) or without:
/// what it saw.
async fn python_begin(
    env: &ServerEnv,
    served_api: &str,
    browser: &str,
    elicit: bool,
    mode: &str,
) -> Value {
    let mut vars = env.vars.clone();
    vars.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
    let config = json!({
        "command": crate::support::server::BIN,
        "env": vars,
        "cwd": env.home,
        "api": served_api,
        "origin": BASE_URL,
        "token": browser,
        "elicit": elicit,
        "mode": mode,
    });
    crate::support::python::script("browser_sign_in.py", &[&config.to_string()]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_with_url_elicitation_shows_the_page_and_begin_answers_approved_once_approved() {
    let db = TestDb::create();
    let (app, person, browser) = app_with_a_person(&db, "eli@example.com");
    let served = app.serve();
    let home = tempdir();
    let env = with_browser_sign_in(ServerEnv::postgres(home.path(), &db.neon_url()))
        .with("BROWSER_SIGN_IN_WAIT_SECONDS", "20");

    let seen = python_begin(&env, &served.api, &browser, true, "legacy").await;
    assert_eq!(seen["isError"], false, "{seen}");
    let shown = &seen["shown"][0];
    assert_eq!(shown["mode"], "url", "{seen}");
    let url = str_of(&shown["url"]);
    assert!(
        url.starts_with(&format!("{BASE_URL}/device?user_code=")),
        "{url}"
    );
    assert!(
        str_of(&shown["message"]).contains("localhost"),
        "the domain is shown"
    );
    let result = &seen["structured"];
    assert_eq!(result["status"], "approved", "{seen}");
    assert_eq!(result["user"]["id"], person.as_str());
    assert!(
        result.get("deviceCode").is_none(),
        "nothing left to poll with"
    );
    let session = app.run("get-session", json!({"token": result["sessionToken"]}));
    assert_eq!(session["user"]["id"], person.as_str(), "{session}");
    let progress = seen["progress"].as_array().unwrap();
    assert!(!progress.is_empty(), "progress while waiting: {seen}");
    assert_eq!(progress[0]["total"], 20.0);

    // A client without elicitation gets the pending answer at once, with what to do.
    let seen = python_begin(&env, &served.api, &browser, false, "legacy").await;
    assert_eq!(seen["shown"], json!([]));
    assert_eq!(seen["structured"]["status"], "pending", "{seen}");
    assert!(str_of(&seen["structured"]["message"]).contains("complete_browser_sign_in"));
}

/// One tools/call over HTTP as the caller of `bearer`: the structured result, or the error.
async fn http_call(
    http: &HttpServer,
    bearer: &str,
    tool: &str,
    args: Value,
) -> Result<Value, String> {
    let request = tool_call(&reqwest::Client::new(), http.url(), tool, args).bearer_auth(bearer);
    let r = answer(request).await;
    let result = &r["result"];
    assert!(result.is_object(), "{tool}: {r}");
    if result["isError"] == true {
        Err(str_of(&result["content"][0]["text"]).to_owned())
    } else {
        Ok(result["structuredContent"].clone())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn over_http_a_code_completes_only_for_its_caller_and_begins_are_limited_per_address() {
    let db = TestDb::create();
    let (app, _, ada_browser) = app_with_a_person(&db, "ada@example.com");
    app.run(
        "sign-up",
        json!({"email": "bob@example.com", "password": PASSWORD, "name": "Bob"}),
    );
    let served = app.serve();
    let home = tempdir();
    let stdio_env = with_browser_sign_in(ServerEnv::postgres(home.path(), &db.neon_url()));
    // The callers' bearer tokens: access tokens of sessions they open here.
    let emails = ["ada@example.com", "bob@example.com"];
    let tokens = access_tokens(&stdio_env, &emails, PASSWORD).await;
    let (ada, bob) = (tokens[0].clone(), tokens[1].clone());
    let port = free_port();
    let tools = "begin_browser_sign_in,complete_browser_sign_in";
    let env = requiring_auth_on(stdio_env, port, tools).with("BROWSER_SIGN_IN_RATE_LIMIT_MAX", "2");
    let http = HttpServer::start_on(&env, port).await;

    let begun = http_call(&http, &ada, "begin_browser_sign_in", json!({}))
        .await
        .unwrap();
    assert_eq!(begun["status"], "pending", "{begun}");
    let complete = json!({"deviceCode": begun["deviceCode"]});
    let by_bob = http_call(&http, &bob, "complete_browser_sign_in", complete.clone()).await;
    assert_eq!(code_of(&by_bob.unwrap_err()), "INVALID_DEVICE_CODE");
    let by_ada = http_call(&http, &ada, "complete_browser_sign_in", complete).await;
    assert_eq!(code_of(&by_ada.unwrap_err()), "AUTHORIZATION_PENDING");

    // Two begins a minute from this address, whoever calls.
    let bobs = http_call(&http, &bob, "begin_browser_sign_in", json!({}))
        .await
        .unwrap();
    let third = http_call(&http, &ada, "begin_browser_sign_in", json!({})).await;
    let third = third.unwrap_err();
    assert_eq!(code_of(&third), "RATE_LIMITED", "{third}");
    assert_eq!(db.sql(r#"select count(*) from "deviceCode""#), "2");

    // An authorized caller signs in as themselves only: Bob's page approved by Ada (sent
    // the link) gives Bob no session of hers, and the code is used up.
    let (status, _) = served
        .decide(&ada_browser, str_of(&bobs["userCode"]), true)
        .await;
    assert_eq!(status, 200);
    after_the_interval().await;
    let complete = json!({"deviceCode": bobs["deviceCode"]});
    let phished = http_call(&http, &bob, "complete_browser_sign_in", complete).await;
    assert_eq!(code_of(&phished.unwrap_err()), "ACCESS_DENIED");
    assert_eq!(db.sql(r#"select count(*) from "deviceCode""#), "1");
}

#[tokio::test(flavor = "multi_thread")]
async fn over_stateless_http_a_2026_07_28_client_gets_the_page_and_its_retry_answers_approved() {
    let db = TestDb::create();
    let (app, person, browser) = app_with_a_person(&db, "http-mrtr@example.com");
    let served = app.serve();
    let home = tempdir();
    let port = free_port();
    let env = with_browser_sign_in(ServerEnv::postgres(home.path(), &db.neon_url()))
        .with("BROWSER_SIGN_IN_WAIT_SECONDS", "20")
        .with(
            "BETTER_AUTH_MCP_TOOLS",
            "begin_browser_sign_in,complete_browser_sign_in",
        );
    let http = HttpServer::start_on(&env, port).await;
    let config = json!({
        "url": http.url(),
        "api": served.api,
        "origin": BASE_URL,
        "token": browser,
        "elicit": true,
        "mode": "2026-07-28",
    });
    let seen = crate::support::python::script("browser_sign_in.py", &[&config.to_string()]).await;
    assert_eq!(seen["isError"], false, "{seen}");
    assert_eq!(seen["shown"][0]["mode"], "url", "{seen}");
    let result = &seen["structured"];
    assert_eq!(result["status"], "approved", "{seen}");
    assert_eq!(result["user"]["id"], person.as_str());
    assert_eq!(db.sql(r#"select count(*) from "deviceCode""#), "0");

    // A retry's state is the code alone, the answer rebuilt from its row: a forged state
    // (an answer with a page of the client's choosing, or a code not begun here) is an
    // unknown code, never echoed as this server's answer.
    let forged = json!({"status": "pending", "verificationUri": "https://evil.example/device",
        "deviceCode": "A".repeat(40)});
    for state in [
        forged.to_string(),
        json!({"deviceCode": "A".repeat(40)}).to_string(),
    ] {
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
            "name": "begin_browser_sign_in", "arguments": {}, "requestState": state,
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "forger", "version": "1"}},
            "inputResponses": {"browser_sign_in": {"action": "decline"}}}});
        let text = reqwest::Client::new()
            .post(http.url())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "begin_browser_sign_in")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!text.contains("evil.example"), "{text}");
        assert!(text.contains("INVALID_DEVICE_CODE"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_2026_07_28_client_gets_the_page_as_an_input_request_and_its_retry_answers_approved() {
    let db = TestDb::create();
    let (app, person, browser) = app_with_a_person(&db, "mrtr@example.com");
    let served = app.serve();
    let home = tempdir();
    let env = with_browser_sign_in(ServerEnv::postgres(home.path(), &db.neon_url()))
        .with("BROWSER_SIGN_IN_WAIT_SECONDS", "20");

    let seen = python_begin(&env, &served.api, &browser, true, "2026-07-28").await;
    assert_eq!(seen["isError"], false, "{seen}");
    let shown = &seen["shown"][0];
    assert_eq!(shown["mode"], "url", "{seen}");
    assert!(str_of(&shown["url"]).starts_with(&format!("{BASE_URL}/device?user_code=")));
    let result = &seen["structured"];
    assert_eq!(result["status"], "approved", "{seen}");
    assert_eq!(result["user"]["id"], person.as_str());
    assert_eq!(
        db.sql(r#"select count(*) from "deviceCode""#),
        "0",
        "one row, exchanged"
    );

    // Without elicitation, the pending answer at once.
    let seen = python_begin(&env, &served.api, &browser, false, "2026-07-28").await;
    assert_eq!(seen["structured"]["status"], "pending", "{seen}");
}
