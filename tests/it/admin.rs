//! The admin toolset beside a real Better Auth 1.7.25 app with the admin plugin
//! (tests/better-auth/app.mjs, `admin: true`) on one PostgreSQL: each tool leaves the rows
//! the app's own admin API leaves (the same operation on a twin user, columns compared),
//! a ban here is the app's ban (its signInEmail refuses, its sessions end), list_users
//! agrees with the app's listUsers; over HTTP only administrators may, and nobody bans or
//! removes themselves; the toolset on the embedded SQLite store; without the plugin's
//! columns, PLUGIN_NOT_ENABLED.

use serde_json::{Value, json};

use crate::support::better_auth_app::{BASE_URL, BetterAuthApp};
use crate::support::http::{HttpServer, answer, tool_call};
use crate::support::pg::TestDb;
use crate::support::server::{Server, ServerEnv, access_tokens, code_of, requiring_auth_on};
use crate::support::{free_port, tempdir};

const SECRET: &str = "admin-toolset-secret-0123456789abcdef-0123";
const PASSWORD: &str = "correct horse battery";

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn with_admin(env: ServerEnv) -> ServerEnv {
    env.with("BETTER_AUTH_SECRET", SECRET)
        .with("BETTER_AUTH_URL", BASE_URL)
        .with("BETTER_AUTH_MCP_TOOLSETS", "auth,admin")
}

/// A user signed up in the app: its id and its session token.
fn sign_up(app: &BetterAuthApp, email: &str, name: &str) -> (String, String) {
    let up = app.run(
        "sign-up",
        json!({"email": email, "password": PASSWORD, "name": name}),
    );
    (
        str_of(&up["user"]["id"]).into(),
        str_of(&up["token"]).into(),
    )
}

/// The app's admin API called by the admin of session `token`; its answer must succeed.
fn app_admin(app: &BetterAuthApp, token: &str, op: &str, args: Value) -> Value {
    let mut all = json!({"token": token, "op": op});
    all.as_object_mut()
        .unwrap()
        .extend(args.as_object().unwrap().clone());
    let r = app.run("admin", all);
    assert_eq!(r["ok"], true, "{op}: {r}");
    r["result"].clone()
}

/// Tools here and the app's admin API operations that do the same.
const BAN: (&str, &str) = ("ban_user", "banUser");
const UNBAN: (&str, &str) = ("unban_user", "unbanUser");
const SET_ROLE: (&str, &str) = ("set_role", "setRole");

/// The same admin call here for `ours` (`tool`) and through the app's own admin API for
/// `twin` (`op`), with the same other arguments; this server's answer.
async fn on_both(
    server: &Server,
    app: &BetterAuthApp,
    admin_token: &str,
    (tool, op): (&str, &str),
    (ours, twin): (&str, &str),
    args: Value,
) -> Value {
    let of = |id: &str| {
        let mut a = args.clone();
        a["userId"] = json!(id);
        a
    };
    let answer = server.ok(tool, of(ours)).await;
    app_admin(app, admin_token, op, json!({"body": of(twin)}));
    answer
}

/// The admin plugin's columns of a user's row, and `updatedAt` later than `createdAt`:
/// what an admin call leaves (the ban's end as seconds after `updatedAt`, rounded).
fn admin_columns(db: &TestDb, id: &str) -> String {
    db.sql(&format!(
        r#"select coalesce("role", '<null>'), coalesce("banned"::text, '<null>'),
                  coalesce("banReason", '<null>'),
                  coalesce(round(extract(epoch from "banExpires" - "updatedAt"))::text, '<null>'),
                  "updatedAt" > "createdAt"
           from "user" where "id" = '{id}'"#
    ))
}

fn sessions_of(db: &TestDb, id: &str) -> String {
    db.sql(&format!(
        r#"select count(*) from "session" where "userId" = '{id}'"#
    ))
}

/// An app with the admin plugin, migrated, and its admin signed in on the web (role
/// "admin" set as an operator sets it first): the app, the admin's id and session token.
fn app_with_admin(db: &TestDb) -> (BetterAuthApp, String, String) {
    let app = BetterAuthApp::new(db, SECRET, false)
        .with_admin()
        .with_api_keys(json!({}));
    app.run("migrate", json!({}));
    let (admin_id, admin_token) = sign_up(&app, "root@example.com", "Root");
    db.sql(&format!(
        r#"update "user" set "role" = 'admin' where "id" = '{admin_id}'"#
    ));
    (app, admin_id, admin_token)
}

#[tokio::test(flavor = "multi_thread")]
async fn each_admin_tool_leaves_the_rows_the_apps_admin_api_leaves_and_a_ban_is_the_apps_ban() {
    let db = TestDb::create();
    let (app, _admin_id, admin_token) = app_with_admin(&db);
    let (ours, ours_token) = sign_up(&app, "ours@example.com", "Ours");
    let (twin, _) = sign_up(&app, "twin@example.com", "Twin");
    let home = tempdir();
    let server = Server::start(&with_admin(ServerEnv::postgres(
        home.path(),
        &db.neon_url(),
    )))
    .await;

    // A ban with no reason and no end: the plugin's "No reason", for good; every session
    // of the user ends, and the app's signInEmail refuses them.
    let both = (ours.as_str(), twin.as_str());
    let banned = on_both(&server, &app, &admin_token, BAN, both, json!({})).await;
    assert_eq!(banned["user"]["banned"], true, "{banned}");
    assert_eq!(banned["user"]["banReason"], "No reason");
    assert_eq!(banned["user"]["banExpires"], Value::Null);
    assert_eq!(admin_columns(&db, &ours), admin_columns(&db, &twin));
    assert_eq!(admin_columns(&db, &ours), "user|true|No reason|<null>|t");
    assert_eq!(sessions_of(&db, &ours), "0");
    let session = app.run("get-session", json!({"token": ours_token}));
    assert_eq!(session["session"], Value::Null, "{session}");
    let refused = app.run(
        "sign-in",
        json!({"email": "ours@example.com", "password": PASSWORD}),
    );
    assert_eq!(refused["code"], "BANNED_USER", "{refused}");
    let here = server
        .err(
            "sign_in",
            json!({"email": "ours@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(code_of(&here), "BANNED_USER");

    // Unbanned: banned false, reason and end null, as the app's unbanUser leaves them.
    let unbanned = on_both(&server, &app, &admin_token, UNBAN, both, json!({})).await;
    assert_eq!(unbanned["user"]["banned"], false, "{unbanned}");
    assert_eq!(admin_columns(&db, &ours), admin_columns(&db, &twin));
    assert_eq!(admin_columns(&db, &ours), "user|false|<null>|<null>|t");
    let back = app.run(
        "sign-in",
        json!({"email": "ours@example.com", "password": PASSWORD}),
    );
    assert_eq!(back["ok"], true, "{back}");

    // A ban with a reason for an hour: its end is banExpiresIn seconds after the write.
    let spam = json!({"banReason": "spam", "banExpiresIn": 3600});
    on_both(&server, &app, &admin_token, BAN, both, spam).await;
    assert_eq!(admin_columns(&db, &ours), admin_columns(&db, &twin));
    assert_eq!(admin_columns(&db, &ours), "user|true|spam|3600|t");
    on_both(&server, &app, &admin_token, UNBAN, both, json!({})).await;

    // Several roles are stored comma-separated, as the app's setRole joins them.
    let roles = json!({"role": ["admin", "support"]});
    let set = on_both(&server, &app, &admin_token, SET_ROLE, both, roles).await;
    assert_eq!(set["user"]["role"], "admin,support", "{set}");
    assert_eq!(admin_columns(&db, &ours), admin_columns(&db, &twin));
    let one = server
        .ok("set_role", json!({"userId": ours, "role": "user"}))
        .await;
    assert_eq!(one["user"]["role"], "user");

    // list_users agrees with the app's listUsers: the same users, fields and total.
    for query in [
        json!({"searchValue": "example.com", "sortBy": "email", "limit": 2, "offset": 1}),
        json!({"searchValue": "T", "searchField": "name", "sortBy": "email"}),
        json!({"searchValue": "ours", "searchOperator": "starts_with", "sortBy": "email"}),
        json!({"sortBy": "email", "sortDirection": "desc"}),
    ] {
        let listed = server.ok("list_users", query.clone()).await;
        let theirs = app_admin(&app, &admin_token, "listUsers", json!({"query": query}));
        assert_eq!(
            listed["total"], theirs["total"],
            "{query}: {listed} {theirs}"
        );
        let fields = |users: &Value| -> Vec<Value> {
            users
                .as_array()
                .unwrap()
                .iter()
                .map(|u| {
                    json!([
                        u["id"],
                        u["email"],
                        u["name"],
                        u["role"],
                        u["banned"],
                        u["banReason"],
                        u["banExpires"],
                        u["createdAt"],
                        u["updatedAt"]
                    ])
                })
                .collect()
        };
        assert_eq!(
            fields(&listed["users"]),
            fields(&theirs["users"]),
            "{query}"
        );
    }
    let none = server
        .ok("list_users", json!({"searchValue": "nobody"}))
        .await;
    assert_eq!(none, json!({"users": [], "total": 0}));

    // Revoking a user's sessions deletes them all, as the app's revokeUserSessions.
    for email in ["ours@example.com", "twin@example.com"] {
        app.run("sign-in", json!({"email": email, "password": PASSWORD}));
    }
    let revoke = ("revoke_user_sessions", "revokeUserSessions");
    let revoked = on_both(&server, &app, &admin_token, revoke, both, json!({})).await;
    assert_eq!(
        revoked,
        json!({"revoked": 1}),
        "the sign-in's (the bans ended the others)"
    );
    assert_eq!(
        (sessions_of(&db, &ours), sessions_of(&db, &twin)),
        ("0".into(), "0".into())
    );

    // Removal deletes the user with their sessions and accounts, as the app's removeUser.
    app.run(
        "sign-in",
        json!({"email": "ours@example.com", "password": PASSWORD}),
    );
    let remove = ("remove_user", "removeUser");
    let removed = on_both(&server, &app, &admin_token, remove, both, json!({})).await;
    assert_eq!(removed, json!({"removed": true}));
    for id in [&ours, &twin] {
        assert_eq!(
            db.sql(&format!(
                r#"select (select count(*) from "user" where "id" = '{id}'),
                          (select count(*) from "account" where "userId" = '{id}'),
                          (select count(*) from "session" where "userId" = '{id}')"#
            )),
            "0|0|0"
        );
    }
    let gone = app.run(
        "sign-in",
        json!({"email": "ours@example.com", "password": PASSWORD}),
    );
    assert_eq!(gone["ok"], false, "{gone}");

    // Unknown users and bad arguments.
    for tool in [
        "ban_user",
        "unban_user",
        "revoke_user_sessions",
        "remove_user",
    ] {
        let err = server.err(tool, json!({"userId": ours})).await;
        assert_eq!(code_of(&err), "USER_NOT_FOUND", "{tool}: {err}");
    }
    let err = server
        .err("set_role", json!({"userId": twin, "role": []}))
        .await;
    assert!(err.starts_with("INVALID_ARGUMENTS: role: "), "{err}");
    let err = server.err("list_users", json!({"limit": 500})).await;
    assert!(err.starts_with("INVALID_ARGUMENTS: limit: "), "{err}");
    server.stop().await;
}

/// One tools/call over HTTP with `bearer`: the structured result, or the error text.
async fn http_call(
    http: &HttpServer,
    bearer: &str,
    tool: &str,
    args: Value,
) -> Result<Value, String> {
    let request = tool_call(&reqwest::Client::new(), http.url(), tool, args).bearer_auth(bearer);
    let r = answer(request).await;
    let result = &r["result"];
    if result["isError"] == true {
        Err(str_of(&result["content"][0]["text"]).to_owned())
    } else {
        assert!(result["structuredContent"].is_object(), "{r}");
        Ok(result["structuredContent"].clone())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn over_http_only_an_administrator_may_and_nobody_bans_or_removes_themselves() {
    let db = TestDb::create();
    let (app, admin_id, _) = app_with_admin(&db);
    // The admin holds several roles, comma-separated, as the plugin allows.
    db.sql(&format!(
        r#"update "user" set "role" = 'user,admin' where "id" = '{admin_id}'"#
    ));
    let (plain_id, _) = sign_up(&app, "plain@example.com", "Plain");
    let (target, _) = sign_up(&app, "target@example.com", "Target");
    let home = tempdir();
    let stdio_env = with_admin(ServerEnv::postgres(home.path(), &db.neon_url()));
    // The callers' bearer tokens: access tokens of sessions they open here.
    let emails = ["root@example.com", "plain@example.com"];
    let tokens = access_tokens(&stdio_env, &emails, PASSWORD).await;
    let (admin_token, plain_token) = (tokens[0].clone(), tokens[1].clone());
    let port = free_port();
    let env = requiring_auth_on(
        stdio_env,
        port,
        "list_users,ban_user,unban_user,set_role,revoke_user_sessions,remove_user",
    )
    .with("AUDIT_LOG", "true");
    let http = HttpServer::start_on(&env, port).await;
    let before = (admin_columns(&db, &target), sessions_of(&db, &target));

    // A caller whose role is "user" is refused every admin tool, and nothing changes.
    let calls = [
        ("list_users", json!({})),
        ("ban_user", json!({"userId": target})),
        ("unban_user", json!({"userId": target})),
        ("set_role", json!({"userId": plain_id, "role": "admin"})),
        ("revoke_user_sessions", json!({"userId": target})),
        ("remove_user", json!({"userId": target})),
    ];
    for (tool, args) in &calls {
        let err = http_call(&http, &plain_token, tool, args.clone())
            .await
            .unwrap_err();
        assert_eq!(code_of(&err), "FORBIDDEN", "{tool}: {err}");
    }
    assert_eq!(
        before,
        (admin_columns(&db, &target), sessions_of(&db, &target))
    );
    assert_eq!(admin_columns(&db, &plain_id), "user|false|<null>|<null>|f");
    // Each refusal is in the audit log: the caller, from where, and FORBIDDEN.
    let audited = db.sql(
        r#"select "action", "outcome", "actorId", "ipAddress" from "better_auth_mcp_audit_log"
           order by "action""#,
    );
    let mut audited: Vec<&str> = audited.lines().collect();
    let mut refusals: Vec<String> = calls
        .iter()
        .map(|(tool, _)| format!("{tool}|FORBIDDEN|{plain_id}|127.0.0.1"))
        .collect();
    audited.sort_unstable();
    refusals.sort_unstable();
    assert_eq!(audited, refusals);

    // An administrator (one of whose roles is admin) may; but not ban or remove themselves.
    let listed = http_call(&http, &admin_token, "list_users", json!({}))
        .await
        .unwrap();
    assert_eq!(listed["total"], 3, "{listed}");
    let banned = http_call(&http, &admin_token, "ban_user", json!({"userId": target}))
        .await
        .unwrap();
    assert_eq!(banned["user"]["banned"], true);
    assert_eq!(sessions_of(&db, &target), "0");
    let own_ban = http_call(&http, &admin_token, "ban_user", json!({"userId": admin_id}))
        .await
        .unwrap_err();
    assert_eq!(code_of(&own_ban), "YOU_CANNOT_BAN_YOURSELF", "{own_ban}");
    let own_removal = http_call(
        &http,
        &admin_token,
        "remove_user",
        json!({"userId": admin_id}),
    )
    .await
    .unwrap_err();
    assert_eq!(code_of(&own_removal), "YOU_CANNOT_REMOVE_YOURSELF");
    assert_eq!(
        admin_columns(&db, &admin_id),
        "user,admin|false|<null>|<null>|f"
    );
    // A banned administrator's API key (a ban ends sessions, not keys) administers
    // nothing.
    let created = app.run("create-api-key", json!({"body": {"userId": admin_id}}));
    let key = str_of(&created["apiKey"]["key"]).to_owned();
    assert!(
        http_call(&http, &key, "list_users", json!({}))
            .await
            .is_ok(),
        "the key administers while its user is not banned"
    );
    let set_banned = |banned: bool| {
        db.sql(&format!(
            r#"update "user" set "banned" = {banned} where "id" = '{admin_id}'"#
        ))
    };
    set_banned(true);
    let refused = http_call(&http, &key, "list_users", json!({}))
        .await
        .unwrap_err();
    assert_eq!(code_of(&refused), "BANNED_USER", "{refused}");
    set_banned(false);
    drop(http);

    // ADMIN_ROLES and ADMIN_USER_IDS replace the plugin's defaults: a listed id may, an
    // admin role not listed may not.
    let port = free_port();
    let env = env
        .with("ADMIN_ROLES", "support, auditor")
        .with("ADMIN_USER_IDS", &plain_id)
        .with(
            "BETTER_AUTH_MCP_PUBLIC_URL",
            &format!("http://127.0.0.1:{port}/mcp"),
        );
    let http = HttpServer::start_on(&env, port).await;
    let listed = http_call(&http, &plain_token, "list_users", json!({})).await;
    assert_eq!(listed.unwrap()["total"], 3);
    let refused = http_call(&http, &admin_token, "list_users", json!({}))
        .await
        .unwrap_err();
    assert_eq!(code_of(&refused), "FORBIDDEN");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_the_embedded_store_the_toolset_bans_unbans_and_lists() {
    let home = tempdir();
    let env = with_admin(ServerEnv::sqlite(home.path()));
    let server = Server::start(&env).await;
    let up = server.sign_up("ada@example.com", PASSWORD).await;
    assert_eq!(
        up["user"]["role"], "user",
        "the plugin's default role: {up}"
    );
    server.sign_up("bob@example.com", PASSWORD).await;
    let id = str_of(&up["user"]["id"]).to_owned();

    let listed = server.ok("list_users", json!({"searchValue": "ADA"})).await;
    assert_eq!(
        listed["total"], 1,
        "SQLite's LIKE ignores ASCII case: {listed}"
    );
    assert_eq!(listed["users"][0]["email"], "ada@example.com");
    assert_eq!(server.ok("list_users", json!({})).await["total"], 2);

    let banned = server
        .ok("ban_user", json!({"userId": id, "banExpiresIn": 60}))
        .await;
    assert_eq!(banned["user"]["banned"], true, "{banned}");
    assert_eq!(banned["user"]["banReason"], "No reason");
    assert!(banned["user"]["banExpires"].is_string());
    let err = server
        .err("get_user", json!({"token": up["sessionToken"]}))
        .await;
    assert_eq!(code_of(&err), "INVALID_TOKEN", "the session ended: {err}");
    let creds = json!({"email": "ada@example.com", "password": PASSWORD});
    let err = server.err("sign_in", creds.clone()).await;
    assert_eq!(code_of(&err), "BANNED_USER");

    server.ok("unban_user", json!({"userId": id})).await;
    server.ok("sign_in", creds).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_admin_plugins_columns_the_tools_say_plugin_not_enabled() {
    let db = TestDb::create();
    let app = BetterAuthApp::new(&db, SECRET, false);
    app.run("migrate", json!({}));
    let (id, _) = sign_up(&app, "solo@example.com", "Solo");
    let home = tempdir();
    let server = Server::start(&with_admin(ServerEnv::postgres(
        home.path(),
        &db.neon_url(),
    )))
    .await;
    for (tool, args) in [
        ("list_users", json!({})),
        ("ban_user", json!({"userId": id})),
        ("remove_user", json!({"userId": id})),
    ] {
        let err = server.err(tool, args).await;
        assert_eq!(code_of(&err), "PLUGIN_NOT_ENABLED", "{tool}: {err}");
    }
    assert_eq!(
        db.sql(r#"select count(*) from "user""#),
        "1",
        "nothing was removed"
    );
    server.stop().await;
}

/// Better Auth on Drizzle (snake_case columns, plural tables, `timestamp` without time
/// zone): the tools find the plugin's columns by their names there and write what the
/// app's admin API writes.
#[tokio::test(flavor = "multi_thread")]
async fn on_a_drizzle_schema_the_tools_write_the_snake_case_columns_as_the_app_does() {
    let db = TestDb::create();
    let app = BetterAuthApp::new(&db, SECRET, false).with_drizzle();
    app.run("migrate", json!({}));
    let (admin_id, admin_token) = sign_up(&app, "root@example.com", "Root");
    db.sql(&format!(
        r#"update "users" set "role" = 'admin' where "id" = '{admin_id}'"#
    ));
    let (ours, ours_token) = sign_up(&app, "ours@example.com", "Ours");
    let (twin, _) = sign_up(&app, "twin@example.com", "Twin");
    let home = tempdir();
    let server = Server::start(&with_admin(ServerEnv::postgres(
        home.path(),
        &db.neon_url(),
    )))
    .await;
    let columns = |id: &str| {
        db.sql(&format!(
            r#"select "role", "banned", "ban_reason",
                      round(extract(epoch from "ban_expires" - "updated_at")),
                      "updated_at" > "created_at"
               from "users" where "id" = '{id}'"#
        ))
    };

    let spam = json!({"banReason": "spam", "banExpiresIn": 3600});
    let both = (ours.as_str(), twin.as_str());
    on_both(&server, &app, &admin_token, BAN, both, spam).await;
    assert_eq!(columns(&ours), columns(&twin));
    assert_eq!(columns(&ours), "user|t|spam|3600|t");
    let session = app.run("get-session", json!({"token": ours_token}));
    assert_eq!(session["session"], Value::Null, "{session}");
    let refused = app.run(
        "sign-in",
        json!({"email": "ours@example.com", "password": PASSWORD}),
    );
    assert_eq!(refused["code"], "BANNED_USER", "{refused}");

    let query = json!({"searchValue": "example.com", "sortBy": "email"});
    let listed = server.ok("list_users", query.clone()).await;
    let theirs = app_admin(&app, &admin_token, "listUsers", json!({"query": query}));
    assert_eq!(listed["total"], 3);
    assert_eq!(theirs["total"], 3, "the app listed them too: {theirs}");
    assert_eq!(
        listed["users"].as_array().unwrap().len(),
        theirs["users"].as_array().unwrap().len()
    );
    for (a, b) in listed["users"]
        .as_array()
        .unwrap()
        .iter()
        .zip(theirs["users"].as_array().unwrap())
    {
        for field in [
            "id",
            "role",
            "banned",
            "banReason",
            "banExpires",
            "updatedAt",
        ] {
            assert_eq!(a[field], b[field], "{field}: {a} {b}");
        }
    }

    server
        .ok("set_role", json!({"userId": ours, "role": "support"}))
        .await;
    server.ok("remove_user", json!({"userId": ours})).await;
    assert_eq!(
        db.sql(&format!(
            r#"select (select count(*) from "users" where "id" = '{ours}'),
                      (select count(*) from "accounts" where "user_id" = '{ours}')"#
        )),
        "0|0"
    );
    server.stop().await;
}
