//! Better Auth API keys (@better-auth/api-key 1.7.5) shared with a real Better Auth app on
//! one PostgreSQL (TLS, SCRAM, and through PgBouncer): keys made on either side verify on
//! both, uses on both sides spend one budget, refusals are the plugin's on both sides; the
//! api_keys toolset on the embedded store; keys as HTTP credentials.

use serde_json::{Value, json};

use crate::support::better_auth_app::{BASE_URL, BetterAuthApp};
use crate::support::http::{HttpServer, challenge_of, tool_call};
use crate::support::pg::TestDb;
use crate::support::server::{Server, ServerEnv, code_of};
use crate::support::tempdir;

const SECRET: &str = "api-key-interop-secret-0123456789abcdef";

fn with_api_keys(env: ServerEnv) -> ServerEnv {
    env.with("BETTER_AUTH_SECRET", SECRET)
        .with("BETTER_AUTH_URL", BASE_URL)
        .with("BETTER_AUTH_MCP_TOOLSETS", "auth,api_keys")
}

/// A database with the app's schema and the api-key plugin's table, a user signed up on
/// the app, and the app.
fn app_with_user(db: &TestDb, email: &str) -> (BetterAuthApp, String) {
    let app = BetterAuthApp::new(db, SECRET, false).with_api_keys(json!({}));
    app.run("migrate", json!({}));
    let up = app.run(
        "sign-up",
        json!({"email": email, "password": "web-password-1", "name": "Web"}),
    );
    let user_id = up["user"]["id"].as_str().unwrap().to_owned();
    (app, user_id)
}

/// A key the app's server code creates for `user_id` with `fields` (any server-only one).
fn app_key(app: &BetterAuthApp, user_id: &str, fields: Value) -> Value {
    let mut body = json!({"userId": user_id});
    body.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    app.run("create-api-key", json!({"body": body}))["apiKey"].clone()
}

/// The app's own verification of a key: `(valid, error code)`.
fn app_verify(app: &BetterAuthApp, key: &str) -> (bool, Value) {
    let r = app.run("verify-api-key", json!({"key": key}));
    (r["valid"] == true, r["error"]["code"].clone())
}

async fn verify(server: &Server, key: &str) -> Value {
    server.ok("verify_token", json!({"token": key})).await
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_made_on_either_side_verify_on_both_and_refusals_are_the_plugins_on_both() {
    let db = TestDb::create();
    let (app, user_id) = app_with_user(&db, "keys@example.com");
    let home = tempdir();
    let env =
        with_api_keys(ServerEnv::postgres(home.path(), &db.neon_url())).with("RUST_LOG", "trace");
    let server = Server::start(&env).await;
    let mut secrets = Vec::new();

    // A key the app made verifies here; uses on both sides spend one `remaining`.
    let theirs = app_key(&app, &user_id, json!({"name": "ci", "remaining": 5}));
    let key = theirs["key"].as_str().unwrap().to_owned();
    secrets.push(key.clone());
    let ours = verify(&server, &key).await;
    assert_eq!(ours["valid"], true, "{ours}");
    assert_eq!(ours["kind"], "better_auth_api_key");
    assert_eq!(ours["claims"]["sub"], user_id.as_str());
    assert_eq!(ours["claims"]["keyId"], theirs["id"]);
    assert_eq!(ours["claims"]["name"], "ci");
    assert_eq!(ours["expiresAt"], Value::Null, "the key never expires");
    let got = server.ok("get_user", json!({"token": key})).await;
    assert_eq!(got["user"]["email"], "keys@example.com");
    let seen = app.run("verify-api-key", json!({"key": key}));
    assert_eq!(seen["valid"], true, "{seen}");
    assert_eq!(
        seen["key"]["remaining"], 2,
        "5 - 2 uses here - 1 there: {seen}"
    );
    assert_eq!(seen["key"]["requestCount"], 3, "{seen}");

    // A key made here verifies in the app, and its uses add up.
    let up = server
        .sign_up("agent@example.com", "agent-password-1")
        .await;
    let created = server
        .ok(
            "create_api_key",
            json!({"sessionToken": up["sessionToken"], "name": "agent", "prefix": "ba_"}),
        )
        .await;
    let mine = created["key"].as_str().unwrap().to_owned();
    secrets.push(mine.clone());
    assert!(mine.starts_with("ba_") && mine.len() == 67, "{created}");
    let row = &created["apiKey"];
    assert_eq!(row["start"], &mine[..6]);
    assert_eq!(row["rateLimitMax"], 10, "the plugin's default: {row}");
    assert_eq!(row["rateLimitTimeWindow"], 86_400_000);
    assert_eq!(row["remaining"], Value::Null);
    assert!(row.get("key").is_none(), "no key or hash in the row: {row}");
    let stored = db.sql(&format!(
        r#"select "key" from "apikey" where "id" = '{}'"#,
        row["id"].as_str().unwrap()
    ));
    assert_eq!(stored.len(), 43, "stored as base64url(SHA-256)");
    assert_ne!(stored, mine);
    secrets.push(stored);
    let (valid, _) = app_verify(&app, &mine);
    assert!(valid, "the app accepts a key made here");
    assert_eq!(verify(&server, &mine).await["valid"], true);
    assert_eq!(
        db.sql(&format!(
            r#"select "requestCount" from "apikey" where "id" = '{}'"#,
            row["id"].as_str().unwrap()
        )),
        "2",
        "one use on each side, one count"
    );
    let listed = server
        .ok("list_api_keys", json!({"sessionToken": up["sessionToken"]}))
        .await;
    let mistaken = server
        .err("refresh_token", json!({"sessionToken": mine}))
        .await;
    assert!(
        mistaken.starts_with("INVALID_TOKEN: This is an API key, not a session token"),
        "{mistaken}"
    );
    assert!(!mistaken.contains(&mine[3..]), "no key in an error text");
    assert_eq!(listed["apiKeys"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["apiKeys"][0]["requestCount"], 2);

    // Disabled: KEY_DISABLED on both sides.
    let off = app_key(&app, &user_id, json!({}));
    let off_key = off["key"].as_str().unwrap().to_owned();
    secrets.push(off_key.clone());
    app.run(
        "update-api-key",
        json!({"body": {"keyId": off["id"], "userId": user_id, "enabled": false}}),
    );
    assert_eq!(verify(&server, &off_key).await["reason"], "key_disabled");
    assert_eq!(app_verify(&app, &off_key).1, "KEY_DISABLED");

    // Expired: KEY_EXPIRED on both sides, and the key is deleted.
    for side in ["app", "here"] {
        let k = app_key(&app, &user_id, json!({"expiresIn": 86_400}));
        let k_key = k["key"].as_str().unwrap().to_owned();
        secrets.push(k_key.clone());
        db.sql(&format!(
            r#"update "apikey" set "expiresAt" = now() - interval '1 second' where "id" = '{}'"#,
            k["id"].as_str().unwrap()
        ));
        if side == "app" {
            assert_eq!(app_verify(&app, &k_key).1, "KEY_EXPIRED");
        } else {
            assert_eq!(verify(&server, &k_key).await["reason"], "key_expired");
        }
        assert_eq!(
            db.sql(&format!(
                r#"select count(*) from "apikey" where "id" = '{}'"#,
                k["id"].as_str().unwrap()
            )),
            "0",
            "{side} deleted the expired key"
        );
    }

    // Used up: the last use goes through, then USAGE_EXCEEDED on both sides.
    for side in ["app", "here"] {
        let k = app_key(&app, &user_id, json!({"remaining": 1}));
        let k_key = k["key"].as_str().unwrap().to_owned();
        secrets.push(k_key.clone());
        assert_eq!(verify(&server, &k_key).await["valid"], true);
        if side == "app" {
            assert_eq!(app_verify(&app, &k_key).1, "USAGE_EXCEEDED");
        } else {
            assert_eq!(verify(&server, &k_key).await["reason"], "usage_exceeded");
        }
    }

    // The key's own rate limit: two uses a day, one here and one there, then RATE_LIMITED.
    let k = app_key(&app, &user_id, json!({"rateLimitMax": 2}));
    let k_key = k["key"].as_str().unwrap().to_owned();
    secrets.push(k_key.clone());
    assert_eq!(verify(&server, &k_key).await["valid"], true);
    assert!(app_verify(&app, &k_key).0);
    assert_eq!(verify(&server, &k_key).await["reason"], "rate_limited");
    assert_eq!(app_verify(&app, &k_key).1, "RATE_LIMITED");

    // Revoked here: gone for the app too; another user's key cannot be revoked.
    let other = server
        .err(
            "revoke_api_key",
            json!({"sessionToken": up["sessionToken"], "keyId": theirs["id"]}),
        )
        .await;
    assert_eq!(code_of(&other), "INVALID_API_KEY", "{other}");
    let revoked = server
        .ok(
            "revoke_api_key",
            json!({"sessionToken": up["sessionToken"], "keyId": row["id"]}),
        )
        .await;
    assert_eq!(revoked["revoked"], true);
    assert_eq!(app_verify(&app, &mine).1, "INVALID_API_KEY");
    assert_eq!(verify(&server, &mine).await["reason"], "invalid_api_key");
    let bad = server.err("get_user", json!({"token": mine})).await;
    assert_eq!(code_of(&bad), "INVALID_TOKEN");
    assert!(!bad.contains(&mine[3..]), "no key in an error text: {bad}");

    let log = server.stop().await;
    assert!(log.contains("TRACE") || log.contains("DEBUG"), "traced");
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a key or hash in the log");
    }
}

/// This server writes a use of a key it used before in one statement, from the row as it
/// last saw it, guarded by the row's version: a change made behind its back (by SQL that
/// touches neither the counters nor `updatedAt`) is seen at the next use.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_changed_behind_the_servers_back_is_seen_at_its_next_use() {
    let db = TestDb::create();
    let (app, user_id) = app_with_user(&db, "behind@example.com");
    let home = tempdir();
    let server = Server::start(&with_api_keys(ServerEnv::postgres(
        home.path(),
        &db.neon_url(),
    )))
    .await;
    let k = app_key(&app, &user_id, json!({"remaining": 100}));
    let (id, key) = (k["id"].as_str().unwrap(), k["key"].as_str().unwrap());
    for _ in 0..2 {
        assert_eq!(verify(&server, key).await["valid"], true);
    }
    let set = |assignments: &str| {
        db.sql(&format!(
            r#"update "apikey" set {assignments} where "id" = '{id}'"#
        ))
    };
    set(r#""enabled" = false"#);
    assert_eq!(verify(&server, key).await["reason"], "key_disabled");
    set(r#""enabled" = true, "permissions" = '{"files":["read"]}'"#);
    let ours = verify(&server, key).await;
    assert_eq!(
        ours["claims"]["permissions"],
        json!({"files": ["read"]}),
        "{ours}"
    );
    set(r#""remaining" = 1"#);
    assert_eq!(verify(&server, key).await["valid"], true);
    assert_eq!(verify(&server, key).await["reason"], "usage_exceeded");
    assert_eq!(
        db.sql(&format!(
            r#"select count(*) from "apikey" where "id" = '{id}'"#
        )),
        "0",
        "used up with no refill: deleted"
    );
    server.stop().await;
}

/// 32 uses at once of a key with 10 uses left, from two server processes (one straight to
/// PostgreSQL, one through PgBouncer in transaction mode): exactly 10 go through. Then 32
/// uses here and 10 in the app at once, of a key with 20 left: never more than 20.
#[tokio::test(flavor = "multi_thread")]
async fn thirty_two_uses_at_once_of_a_ten_use_key_from_two_processes_get_exactly_ten() {
    let db = TestDb::create();
    let (app, user_id) = app_with_user(&db, "budget@example.com");
    let k = app_key(
        &app,
        &user_id,
        json!({"remaining": 10, "rateLimitEnabled": false}),
    );
    let key = k["key"].as_str().unwrap().to_owned();
    let home = tempdir();
    let direct = Server::start(&with_api_keys(ServerEnv::postgres(
        home.path(),
        &db.neon_url(),
    )))
    .await;
    let pooled = Server::start(&with_api_keys(ServerEnv::postgres(
        home.path(),
        &db.pooled_url(),
    )))
    .await;
    // Both are ready (migrated) before the uses start.
    for s in [&direct, &pooled] {
        assert_eq!(verify(s, "not-a-key").await["valid"], false);
    }
    let uses = (0..32).map(|i| {
        let server = if i % 2 == 0 { &direct } else { &pooled };
        verify(server, &key)
    });
    let answers = futures::future::join_all(uses).await;
    let valid = answers.iter().filter(|a| a["valid"] == true).count();
    let reasons: Vec<&Value> = answers.iter().map(|a| &a["reason"]).collect();
    assert_eq!(valid, 10, "refusals: {reasons:?}");
    for a in answers.iter().filter(|a| a["valid"] != true) {
        assert!(
            a["reason"] == "usage_exceeded" || a["reason"] == "invalid_api_key",
            "{a}"
        );
    }
    // Used up, the plugin deletes it at the next use: none is left.
    assert_eq!(
        db.sql(&format!(
            r#"select coalesce(max("remaining")::text, 'deleted') from "apikey" where "id" = '{}'"#,
            k["id"].as_str().unwrap()
        )),
        "deleted"
    );

    // The app and both processes at once, on one budget.
    let k = app_key(
        &app,
        &user_id,
        json!({"remaining": 20, "rateLimitEnabled": false}),
    );
    let key = k["key"].as_str().unwrap().to_owned();
    let theirs = {
        let (app, key) = (app.clone(), key.clone());
        tokio::task::spawn_blocking(move || {
            app.run("verify-api-key", json!({"key": key, "times": 10}))["valid"]
                .as_u64()
                .unwrap()
        })
    };
    // Ours spread over about three seconds (the app's process takes about one to start),
    // two at a time, one on each process.
    let mut ours = 0;
    for _ in 0..30 {
        let (a, b) = tokio::join!(verify(&direct, &key), verify(&pooled, &key));
        ours += [a, b].iter().filter(|r| r["valid"] == true).count() as u64;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let theirs = theirs.await.unwrap();
    eprintln!("one budget of 20: {ours} uses here, {theirs} in the app");
    // Never more than the budget. (Fewer is the plugin's own race: its use spends
    // `remaining` in one statement and fails at its last, `updatedAt`, when a use that
    // saw 0 deleted the key in between, as a second app process would.)
    assert!(ours + theirs <= 20, "{ours} here and {theirs} in the app");
    assert!(ours >= 10, "the app can take at most 10: {ours} here");
    let left = db.sql(&format!(
        r#"select coalesce(max("remaining")::text, 'deleted') from "apikey" where "id" = '{}'"#,
        k["id"].as_str().unwrap()
    ));
    assert!(
        left == "0" || left == "deleted",
        "the budget is spent: {left}"
    );
    direct.stop().await;
    pooled.stop().await;
}

/// Uses of many keys at once are written together (several rows in one statement, one
/// commit), each row still guarded by its own version. 12 keys with 6 to 9 uses left, each
/// used once on both processes; then all 12 at once on one process, until two rows share
/// the transaction that wrote them (their `xmin`); then 8 uses of each at once, 4 on each
/// process: exactly what was left goes through per key, none is left in the rows, and the
/// app's own verification agrees.
#[tokio::test(flavor = "multi_thread")]
async fn uses_of_many_keys_at_once_are_written_together_and_each_keeps_its_budget() {
    let db = TestDb::create();
    let (app, user_id) = app_with_user(&db, "together@example.com");
    let budget = |i: usize| 6 + i % 4;
    let keys: Vec<Value> = (0..12)
        .map(|i| {
            app_key(
                &app,
                &user_id,
                json!({"remaining": budget(i), "rateLimitEnabled": false}),
            )
        })
        .collect();
    let ids = keys
        .iter()
        .map(|k| format!("'{}'", k["id"].as_str().unwrap()))
        .collect::<Vec<_>>()
        .join(", ");
    let home = tempdir();
    let env = |url: &str| with_api_keys(ServerEnv::postgres(home.path(), url));
    // The direct process prepares its batches' statement (DATABASE_PREPARED_STATEMENTS);
    // the pooled one, behind PgBouncer in transaction mode, cannot.
    let direct =
        Server::start(&env(&db.neon_url()).with("DATABASE_PREPARED_STATEMENTS", "true")).await;
    let pooled = Server::start(&env(&db.pooled_url())).await;
    let key_of = |k: &Value| k["key"].as_str().unwrap().to_owned();
    // Known on both processes: the next uses are each one guarded UPDATE.
    for k in &keys {
        for s in [&direct, &pooled] {
            assert_eq!(verify(s, &key_of(k)).await["valid"], true);
        }
    }
    // One process, every key at once: the uses that wait for a statement in flight are
    // written by the next one, together (rows of one transaction share their xmin).
    let mut rounds = 0;
    let mut together = false;
    while rounds < 3 && !together {
        let uses = keys
            .iter()
            .map(|k| verify(&direct, k["key"].as_str().unwrap()));
        for used in futures::future::join_all(uses).await {
            assert_eq!(used["valid"], true, "{used}");
        }
        rounds += 1;
        let shared = db.sql(&format!(
            r#"select count(*) - count(distinct xmin::text) from "apikey" where "id" in ({ids})"#
        ));
        together = shared != "0";
    }
    assert!(
        together,
        "in {rounds} rounds, no statement wrote two keys' uses"
    );
    let uses = keys.iter().flat_map(|k| {
        (0..8).map(|i| {
            let server = if i % 2 == 0 { &direct } else { &pooled };
            let key = key_of(k);
            async move { (key.clone(), verify(server, &key).await) }
        })
    });
    let answers = futures::future::join_all(uses).await;
    for (i, k) in keys.iter().enumerate() {
        let key = key_of(k);
        let mine: Vec<&Value> = answers
            .iter()
            .filter(|(used, _)| *used == key)
            .map(|(_, a)| a)
            .collect();
        let valid = mine.iter().filter(|a| a["valid"] == true).count();
        assert_eq!(valid, budget(i) - 2 - rounds, "{mine:?}");
        for a in mine.iter().filter(|a| a["valid"] != true) {
            assert!(
                a["reason"] == "usage_exceeded" || a["reason"] == "invalid_api_key",
                "{a}"
            );
        }
    }
    // Each key: none left (or deleted by a use that found 0), its last use recorded.
    let counted = db.sql(&format!(
        r#"select count(*) from "apikey" where "id" in ({ids}) and ("remaining" <> 0 or "lastRequest" is null)"#
    ));
    assert_eq!(counted, "0", "every key spent exactly its budget");
    for k in &keys {
        assert!(!app_verify(&app, &key_of(k)).0, "spent, for the app too");
    }
    direct.stop().await;
    pooled.stop().await;
}

/// Neon Auth's layout (DATABASE_SCHEMA=neon_auth, through PgBouncer): the app's key in
/// that schema verifies here, and its use is counted there.
#[tokio::test(flavor = "multi_thread")]
async fn keys_in_the_neon_auth_schema_verify_through_pgbouncer() {
    let db = TestDb::create();
    db.sql("create schema neon_auth");
    let app = BetterAuthApp::new(&db, SECRET, false)
        .in_schema("neon_auth")
        .with_api_keys(json!({}));
    app.run("migrate", json!({}));
    let up = app.run(
        "sign-up",
        json!({"email": "neon@example.com", "password": "web-password-1"}),
    );
    let user_id = up["user"]["id"].as_str().unwrap().to_owned();
    let k = app_key(&app, &user_id, json!({}));
    let key = k["key"].as_str().unwrap().to_owned();
    let home = tempdir();
    let env = with_api_keys(ServerEnv::postgres(home.path(), &db.pooled_url()))
        .with("DATABASE_SCHEMA", "neon_auth");
    let server = Server::start(&env).await;
    let ours = verify(&server, &key).await;
    assert_eq!(ours["valid"], true, "{ours}");
    assert_eq!(
        db.sql(&format!(
            r#"select "requestCount" from neon_auth."apikey" where "id" = '{}'"#,
            k["id"].as_str().unwrap()
        )),
        "1"
    );
    assert_eq!(app_verify(&app, &key), (true, Value::Null));
    server.stop().await;
}

/// On the embedded store with no configuration but the toolset: a key made by
/// create_api_key is a bearer credential over HTTP (in Authorization and in x-api-key);
/// get_user without a token answers the key's user; a bad key gets 401 with the challenge.
#[tokio::test(flavor = "multi_thread")]
async fn over_http_an_api_key_authorizes_in_either_header_and_a_bad_one_gets_401() {
    let home = tempdir();
    let env = ServerEnv::sqlite(home.path()).with("BETTER_AUTH_MCP_TOOLSETS", "auth,api_keys");
    let stdio = Server::start(&env).await;
    let up = stdio.sign_up("http-key@example.com", "password123").await;
    let created = stdio
        .ok(
            "create_api_key",
            json!({"sessionToken": up["sessionToken"]}),
        )
        .await;
    let key = created["key"].as_str().unwrap().to_owned();
    // A key whose user is then removed (the table has no foreign key: the key stays).
    let gone = stdio.sign_up("gone@example.com", "password123").await;
    let orphan = stdio
        .ok(
            "create_api_key",
            json!({"sessionToken": gone["sessionToken"]}),
        )
        .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    stdio.stop().await;
    let db = rusqlite::Connection::open(home.path().join("auth.db")).unwrap();
    db.execute(
        r#"delete from "user" where "email" = 'gone@example.com'"#,
        [],
    )
    .unwrap();
    drop(db);

    let public = "https://mcp.example.com/mcp";
    let env = env
        .with("BETTER_AUTH_URL", "https://app.example.com")
        .with("BETTER_AUTH_MCP_REQUIRE_AUTH", "true")
        .with("BETTER_AUTH_MCP_PUBLIC_URL", public);
    let server = HttpServer::start(&env).await;
    let client = reqwest::Client::new();
    for (header, value) in [
        ("authorization", format!("Bearer {key}")),
        ("x-api-key", key.clone()),
    ] {
        let response = tool_call(&client, server.url(), "get_user", json!({}))
            .header(header, &value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{header}");
        let body = response.text().await.unwrap();
        assert!(body.contains("http-key@example.com"), "{header}: {body}");
    }
    // The same key with its last letter's case flipped.
    let last = key.chars().last().unwrap();
    let flipped = if last.is_ascii_lowercase() {
        last.to_ascii_uppercase()
    } else {
        last.to_ascii_lowercase()
    };
    let bad = format!("{}{flipped}", &key[..key.len() - 1]);
    let response = tool_call(&client, server.url(), "get_user", json!({}))
        .header("x-api-key", &bad)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = challenge_of(&response);
    assert!(
        challenge.contains("invalid_api_key") && challenge.contains("resource_metadata="),
        "{challenge}"
    );
    // As the plugin's session hook: a key of no user authorizes nobody.
    let response = tool_call(&client, server.url(), "get_user", json!({}))
        .header("x-api-key", &orphan)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "a removed user's key");
    // Two credentials in one request are ambiguous: 400.
    let response = tool_call(&client, server.url(), "get_user", json!({}))
        .header("x-api-key", &key)
        .header("authorization", format!("Bearer {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // The key's own rate limit (10 a day, the plugin's default; 2 used): then 429, not a
    // challenge to authorize again.
    for i in 0..8 {
        let response = tool_call(&client, server.url(), "verify_token", json!({"token": "x"}))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "use {}", i + 3);
    }
    let response = tool_call(&client, server.url(), "verify_token", json!({"token": "x"}))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.text().await.unwrap().contains("rate_limited"));

    let mut server = server;
    let _ = server.child.kill().await;
    let log = std::fs::read_to_string(home.path().join(format!("server-{}.log", server.port)))
        .unwrap_or_default();
    assert!(log.contains("refused"), "{log}");
    assert!(
        !log.contains(&key) && !log.contains(&bad),
        "no key in the log"
    );
}

/// A key the app made for an organization (the plugin's `references: "organization"`):
/// with the organizations toolset it verifies with the organization in its claims.
#[tokio::test(flavor = "multi_thread")]
async fn an_organizations_key_verifies_with_the_organization_in_its_claims() {
    let db = TestDb::create();
    let app = BetterAuthApp::new(&db, SECRET, false)
        .with_organizations()
        .with_api_keys(json!({"references": "organization"}));
    app.run("migrate", json!({}));
    let up = app.run(
        "sign-up",
        json!({"email": "org-owner@example.com", "password": "web-password-1"}),
    );
    let user_id = up["user"]["id"].as_str().unwrap().to_owned();
    let org = app.run(
        "create-organization",
        json!({"token": up["token"], "name": "Acme", "slug": "acme"}),
    );
    let org_id = org["id"].as_str().unwrap().to_owned();
    let k = app_key(&app, &user_id, json!({"organizationId": org_id}));
    let key = k["key"]
        .as_str()
        .unwrap_or_else(|| panic!("{k}"))
        .to_owned();
    assert_eq!(k["referenceId"], org_id.as_str(), "{k}");
    let home = tempdir();
    let env = with_api_keys(ServerEnv::postgres(home.path(), &db.neon_url()))
        .with("BETTER_AUTH_MCP_TOOLSETS", "auth,api_keys,organizations");
    let server = Server::start(&env).await;
    let ours = verify(&server, &key).await;
    assert_eq!(ours["valid"], true, "{ours}");
    assert_eq!(ours["claims"]["sub"], org_id.as_str());
    assert_eq!(ours["claims"]["organizationId"], org_id.as_str(), "{ours}");
    // Without the organizations toolset the claims are the plugin's alone.
    server.stop().await;
    let server = Server::start(&with_api_keys(ServerEnv::postgres(
        home.path(),
        &db.neon_url(),
    )))
    .await;
    let plain = verify(&server, &key).await;
    assert_eq!(plain["valid"], true, "{plain}");
    assert!(plain["claims"].get("organizationId").is_none(), "{plain}");
    server.stop().await;

    // Over HTTP on PostgreSQL, as the plugin's session hook: the organization's key
    // authorizes nobody (read from the use's own statement, first and known uses alike);
    // a user's key does, until its user is removed.
    let server = Server::start(&with_api_keys(ServerEnv::postgres(
        home.path(),
        &db.neon_url(),
    )))
    .await;
    let users_key = server
        .ok("create_api_key", json!({"sessionToken": up["token"]}))
        .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    server.stop().await;
    let env = with_api_keys(ServerEnv::postgres(home.path(), &db.neon_url()))
        .with("BETTER_AUTH_URL", "https://app.example.com")
        .with("BETTER_AUTH_MCP_REQUIRE_AUTH", "true")
        .with("BETTER_AUTH_MCP_PUBLIC_URL", "https://mcp.example.com/mcp");
    let http = HttpServer::start(&env).await;
    let client = reqwest::Client::new();
    // The status, and the challenge's reason on a 401.
    let status = |key: String| {
        let request = tool_call(&client, http.url(), "verify_token", json!({"token": "x"}))
            .header("x-api-key", key);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let refused = status == 401 && challenge_of(&response).contains("invalid_api_key");
            (status, refused)
        }
    };
    let counted = || {
        db.sql(&format!(
            r#"select "requestCount" from "apikey" where "id" = '{}'"#,
            k["id"].as_str().unwrap()
        ))
    };
    assert_eq!(counted(), "2", "the two verify_token uses above");
    for _ in 0..2 {
        assert_eq!(
            status(key.clone()).await,
            (401, true),
            "an organization's key"
        );
        assert_eq!(
            status(users_key.clone()).await,
            (200, false),
            "a user's key"
        );
    }
    // Refused after its use, as the plugin's hook refuses: the uses were counted.
    assert_eq!(counted(), "4");
    db.sql(&format!(r#"delete from "user" where "id" = '{user_id}'"#));
    assert_eq!(
        status(users_key.clone()).await,
        (401, true),
        "a removed user's key"
    );
}
