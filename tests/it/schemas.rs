//! Schemas as apps have them: Drizzle's (snake_case columns, plural tables, timestamps
//! without time zone), tables in a schema other than `public` (Neon Auth's `neon_auth`)
//! behind PgBouncer, and a schema the server cannot map.

use serde_json::{Value, json};

use crate::support::better_auth_app::{BASE_URL, BetterAuthApp};
use crate::support::pg::TestDb;
use crate::support::server::{Server, ServerEnv, code_of, exit_within};
use crate::support::tempdir;

const SECRET: &str = "shared-secret-with-the-web-app-0123456789abcdef";

/// A user who signs up on the web signs in here with the same user (timestamps included)
/// and their web session verifies here; a user who signs up here signs in on the web and
/// the web app reads the session made here; a ban set in the app's columns holds here.
async fn both_ways(app: &BetterAuthApp, server: &Server) {
    let web = app.run(
        "sign-up",
        json!({"email": "web@example.com", "password": "web-password-1", "name": "Web"}),
    );
    let inn = server
        .ok(
            "sign_in",
            json!({"email": "web@example.com", "password": "web-password-1"}),
        )
        .await;
    for field in ["id", "email", "name", "createdAt", "updatedAt"] {
        assert_eq!(inn["user"][field], web["user"][field], "{field}");
    }
    let verified = server
        .ok("verify_token", json!({"token": web["cookie"]}))
        .await;
    assert_eq!(verified["valid"], true, "{verified}");

    let up = server.sign_up("mcp@example.com", "mcp-password-1").await;
    let theirs = app.run(
        "sign-in",
        json!({"email": "mcp@example.com", "password": "mcp-password-1"}),
    );
    assert_eq!(theirs["ok"], true, "{theirs}");
    let session = app.run("get-session", json!({"token": up["sessionToken"]}));
    assert_eq!(session["user"]["email"], "mcp@example.com", "{session}");
    assert_eq!(
        session["session"]["expiresAt"], up["sessionExpiresAt"],
        "the session's expiry reads the same on both sides"
    );
    let got = server.ok("get_user", json!({"token": up["token"]})).await;
    assert_eq!(got["user"]["id"], up["user"]["id"]);
    server
        .ok("sign_out", json!({"sessionToken": up["sessionToken"]}))
        .await;
    let session = app.run("get-session", json!({"token": up["sessionToken"]}));
    assert_eq!(session["session"], Value::Null, "{session}");
}

/// Better Auth on Drizzle, as its generator and `usePlural` make the schema, and this
/// server on one PostgreSQL, found as such with no setting.
#[tokio::test(flavor = "multi_thread")]
async fn a_better_auth_app_on_drizzles_snake_case_plural_schema_and_this_server_share_it() {
    let db = TestDb::create();
    let app = BetterAuthApp::new(&db, SECRET, false).with_drizzle();
    app.run("migrate", json!({}));
    let home = tempdir();
    let env = ServerEnv::postgres(home.path(), &db.neon_url())
        .with("BETTER_AUTH_SECRET", SECRET)
        .with("BETTER_AUTH_URL", BASE_URL)
        .with("RATE_LIMIT_ENABLED", "false");
    let server = Server::start(&env).await;
    both_ways(&app, &server).await;

    // The admin plugin's columns, snake_case: its role is returned, its ban holds here.
    let inn = server
        .ok(
            "sign_in",
            json!({"email": "web@example.com", "password": "web-password-1"}),
        )
        .await;
    assert_eq!(inn["user"]["role"], "user", "{inn}");
    db.sql(r#"update "users" set "banned" = true, "ban_expires" = now() + interval '1 day' where "email" = 'web@example.com'"#);
    let theirs = app.run(
        "sign-in",
        json!({"email": "web@example.com", "password": "web-password-1"}),
    );
    assert_eq!(theirs["code"], "BANNED_USER", "{theirs}");
    let ours = server
        .err(
            "sign_in",
            json!({"email": "web@example.com", "password": "web-password-1"}),
        )
        .await;
    assert_eq!(code_of(&ours), "BANNED_USER");

    // The api-key plugin's table as Drizzle's generator writes it (`apikeys`, snake_case,
    // `timestamp`): a key in it verifies here, and each use is counted in it.
    db.sql(
        r#"create table "apikeys" ("id" text primary key, "config_id" text not null default 'default',
           "name" text, "start" text, "reference_id" text not null, "prefix" text, "key" text not null,
           "refill_interval" integer, "refill_amount" integer, "last_refill_at" timestamp,
           "enabled" boolean default true, "rate_limit_enabled" boolean default true,
           "rate_limit_time_window" integer default 86400000, "rate_limit_max" integer default 10,
           "request_count" integer default 0, "remaining" integer, "last_request" timestamp,
           "expires_at" timestamp, "created_at" timestamp not null, "updated_at" timestamp not null,
           "permissions" text, "metadata" text)"#,
    );
    // As the plugin stores a key: base64url(SHA-256(key)), unpadded.
    let hash_of = |key: &str| {
        use base64::Engine as _;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
    };
    let key = "drizzleKey".repeat(7);
    let hash = hash_of(&key);
    db.sql(&format!(
        r#"insert into "apikeys" ("id", "reference_id", "key", "remaining", "created_at", "updated_at")
           select 'drizzle-key', "id", '{hash}', 5, now(), now() from "users" where "email" = 'web@example.com'"#
    ));
    for _ in 0..2 {
        let used = server.ok("verify_token", json!({"token": key})).await;
        assert_eq!(used["valid"], true, "{used}");
        assert_eq!(used["kind"], "better_auth_api_key");
    }
    assert_eq!(
        db.sql(r#"select "remaining" || ',' || "request_count" from "apikeys""#),
        "3,2"
    );
    // Uses of two keys at once (written together when they meet: `timestamp` and
    // `integer` columns in the batch's statement): each key's counts stay exact.
    let second = "drizzleTwo".repeat(7);
    let hash = hash_of(&second);
    db.sql(&format!(
        r#"insert into "apikeys" ("id", "reference_id", "key", "remaining", "created_at", "updated_at")
           select 'drizzle-key-2', "id", '{hash}', 5, now(), now() from "users" where "email" = 'web@example.com'"#
    ));
    assert_eq!(
        server.ok("verify_token", json!({"token": second})).await["valid"],
        true
    );
    let uses = (0..6).map(|i| {
        let token = if i % 2 == 0 { &key } else { &second };
        server.ok("verify_token", json!({"token": token}))
    });
    for used in futures::future::join_all(uses).await {
        assert_eq!(used["valid"], true, "{used}");
    }
    assert_eq!(
        db.sql(
            r#"select string_agg("id" || ':' || "remaining" || ',' || "request_count", ' ' order by "id") from "apikeys""#
        ),
        "drizzle-key:0,5 drizzle-key-2:1,4"
    );

    // The server's own tables follow the naming; no camelCase table was made.
    assert_eq!(
        db.sql(
            r#"select string_agg(tablename, ',' order by tablename) from pg_tables where schemaname = 'public'"#
        ),
        "accounts,apikeys,better_auth_mcp_migrations,rate_limits,sessions,users,verifications"
    );
    assert_eq!(
        db.sql(
            r#"select count(*) from "better_auth_mcp_migrations" where "applied_at" is not null"#
        ),
        "2"
    );
    server.stop().await;
}

/// Neon Auth keeps Better Auth's tables in `neon_auth`: with DATABASE_SCHEMA=neon_auth and
/// through PgBouncer in transaction mode (as Neon's pooler), every statement names the
/// schema, nothing lands in `public`, and the web app and this server share the users.
#[tokio::test(flavor = "multi_thread")]
async fn tables_in_the_neon_auth_schema_work_through_pgbouncer_in_transaction_mode() {
    let db = TestDb::create();
    db.sql("create schema neon_auth");
    let app = BetterAuthApp::new(&db, SECRET, false).in_schema("neon_auth");
    app.run("migrate", json!({}));
    let home = tempdir();
    let env = ServerEnv::postgres(home.path(), &db.pooled_url())
        .with("BETTER_AUTH_SECRET", SECRET)
        .with("BETTER_AUTH_URL", BASE_URL)
        .with("DATABASE_SCHEMA", "neon_auth");
    let server = Server::start(&env).await;
    both_ways(&app, &server).await;
    // The rate limit's buckets are Better Auth's `rateLimit` table in that schema too.
    assert_ne!(
        db.sql(r#"select count(*) from neon_auth."rateLimit""#),
        "0",
        "sign_in and sign_up counted in neon_auth.rateLimit"
    );
    assert_eq!(
        db.sql("select count(*) from pg_tables where schemaname = 'public'"),
        "0",
        "nothing in public"
    );
    assert_eq!(
        db.sql(r#"select count(*) from neon_auth."better_auth_mcp_migrations""#),
        "2"
    );
    let log = server.stop().await;
    assert!(!log.contains("prepared statement"), "{log}");
}

/// A user table without a column the server needs: it will not start, and says which.
#[tokio::test(flavor = "multi_thread")]
async fn a_schema_the_server_cannot_map_stops_it_naming_the_missing_column() {
    let db = TestDb::create();
    db.sql(
        r#"create table "users" ("id" text primary key, "name" text not null, "email" text not null unique,
           "email_verified" boolean not null, "created_at" timestamp not null, "updated_at" timestamp not null)"#,
    );
    let home = tempdir();
    let env = ServerEnv::postgres(home.path(), &db.neon_url()).with("BETTER_AUTH_SECRET", SECRET);
    let want = r#"the table "public"."users" has no column "image" (Better Auth's user.image)"#;
    let migrate = env.command().arg("migrate").output().await.unwrap();
    assert!(!migrate.status.success());
    let stderr = String::from_utf8_lossy(&migrate.stderr);
    assert!(stderr.contains(want), "{stderr}");

    // Serving, with a client connected: the server stops on its own once it has seen the
    // schema, before any call.
    let mut child = env
        .command()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _client_stdin = child.stdin.take();
    let status = exit_within(&mut child, std::time::Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(1));
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert!(stderr.contains(want), "{stderr}");
}

/// A database migrated by Better Auth 1.7.0–1.7.2 keeps `account.issuer` (NOT NULL, unique
/// with `accountId`): sign_up writes what 1.7.0 wrote for an email and password account,
/// `local:credential`, and that user signs in.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_migrated_by_better_auth_1_7_0_gets_account_issuer_on_sign_up() {
    let db = TestDb::create();
    let home = tempdir();
    let env = ServerEnv::postgres(home.path(), &db.neon_url());
    // Better Auth's schema, as the server makes it, with a user of before and 1.7.0's
    // column (NOT NULL, no default) and index.
    let before = Server::start(&env).await;
    before.sign_up("before@example.com", "password123").await;
    before.stop().await;
    db.sql(
        r#"alter table "account" add column "issuer" text not null default 'local:credential';
           alter table "account" alter column "issuer" drop default;
           create unique index "account_issuer_accountId_uidx" on "account" ("issuer", "accountId")"#,
    );
    let server = Server::start(&env).await;
    let up = server.sign_up("issuer@example.com", "password123").await;
    let issuer = db.sql(&format!(
        r#"select "issuer" from "account" where "userId" = '{}'"#,
        up["user"]["id"].as_str().unwrap()
    ));
    assert_eq!(issuer, "local:credential");
    server
        .ok(
            "sign_in",
            json!({"email": "issuer@example.com", "password": "password123"}),
        )
        .await;
    server.stop().await;
}
