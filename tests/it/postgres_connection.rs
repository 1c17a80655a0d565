//! Connecting as a Neon user would: the URL as pasted, TLS modes, migrations under
//! concurrency, an existing Better Auth schema, and an outage.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::pg::{APP_PASSWORD, APP_USER, TestDb};
use crate::support::proxy::Proxy;
use crate::support::server::{Server, ServerEnv, code_of};
use crate::support::tempdir;

#[tokio::test(flavor = "multi_thread")]
async fn a_neon_shaped_url_with_channel_binding_works() {
    let db = TestDb::create();
    let home = tempdir();
    let server = Server::start(&ServerEnv::postgres(home.path(), &db.neon_url())).await;
    let up = server.sign_up("neon@example.com", "password123").await;
    assert_eq!(up["user"]["email"], "neon@example.com");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_full_with_sslrootcert_works_as_libpq_means_it() {
    let db = TestDb::create();
    let home = tempdir();
    let server = Server::start(&ServerEnv::postgres(home.path(), &db.verify_full_url())).await;
    server.sign_up("full@example.com", "password123").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_full_rejects_a_server_whose_certificate_the_root_does_not_sign() {
    let db = TestDb::create();
    let home = tempdir();
    let other_ca = unrelated_ca(home.path());
    let url = format!(
        "postgresql://{APP_USER}:{APP_PASSWORD}@localhost:{}/{}?sslmode=verify-full&sslrootcert={}",
        db.port,
        db.name,
        other_ca.display()
    );
    let out = run_migrate(&ServerEnv::postgres(home.path(), &url)).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
    assert!(!stderr.contains(APP_PASSWORD), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_test_database_refuses_connections_without_tls() {
    let db = TestDb::create();
    let home = tempdir();
    let url = format!(
        "postgresql://{APP_USER}:{APP_PASSWORD}@localhost:{}/{}?sslmode=disable",
        db.port, db.name
    );
    let out = run_migrate(&ServerEnv::postgres(home.path(), &url)).await;
    assert!(
        !out.status.success(),
        "a plain-text connection must be refused"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(APP_PASSWORD), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_fails_to_start_without_echoing_it() {
    let db = TestDb::create();
    let home = tempdir();
    let url = format!(
        "postgresql://{APP_USER}:WrongPassw0rdXYZ@localhost:{}/{}?sslmode=require",
        db.port, db.name
    );
    let out = run_migrate(&ServerEnv::postgres(home.path(), &url)).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );
    assert!(!stderr.contains("WrongPassw0rdXYZ"), "{stderr}");
}

/// What a newcomer gets wrong in DATABASE_URL: each is SERVICE_UNAVAILABLE with a text that
/// names the cause (the model and the person cannot read the server log), never the
/// password; the log says the same; and the next call tries again, so fixing the
/// database (here: creating the missing one) needs no restart.
#[tokio::test(flavor = "multi_thread")]
async fn database_refusals_are_service_unavailable_naming_the_cause_and_the_next_call_retries() {
    use crate::support::pg::cluster;
    let db = TestDb::create();
    let home = tempdir();
    let other_ca = unrelated_ca(home.path());
    // A role that may connect but not create the server's tables (PostgreSQL 15 gives
    // PUBLIC no CREATE on schema public).
    let weak = format!("weak_{}", db.name);
    cluster().psql(
        "postgres",
        &format!("create role {weak} login password 'WeakPassw0rd-123'"),
    );
    let missing = format!("{}_later", db.name);
    let url = |user: &str, password: &str, name: &str, tls: &str| {
        format!(
            "postgresql://{user}:{password}@localhost:{}/{name}?{tls}",
            db.port
        )
    };
    let cases = [
        (
            url(APP_USER, "WrongPassw0rdXYZ", &db.name, "sslmode=require"),
            "the database refused the credentials in DATABASE_URL",
        ),
        (
            url(
                "nobody_here",
                "WrongPassw0rdXYZ",
                &db.name,
                "sslmode=require",
            ),
            "the database refused the credentials in DATABASE_URL",
        ),
        (
            url(APP_USER, APP_PASSWORD, &missing, "sslmode=require"),
            "the database named in DATABASE_URL does not exist",
        ),
        (
            url(&weak, "WeakPassw0rd-123", &db.name, "sslmode=require"),
            "lacks a privilege the server needs",
        ),
        (
            url(
                APP_USER,
                APP_PASSWORD,
                &db.name,
                &format!("sslmode=verify-full&sslrootcert={}", other_ca.display()),
            ),
            "TLS certificate was not accepted",
        ),
    ];
    for (url, reason) in cases {
        let env = ServerEnv::postgres(home.path(), &url)
            .with("DATABASE_CONNECT_TIMEOUT_SECONDS", "5")
            .with("DATABASE_POOL_TIMEOUT_SECONDS", "5");
        let server = Server::start(&env).await;
        let text = server
            .err(
                "sign_up",
                json!({"email": "refused@example.com", "password": "password123"}),
            )
            .await;
        assert_eq!(code_of(&text), "SERVICE_UNAVAILABLE", "{text}");
        assert!(text.contains(reason), "{url}: {text}");
        if url.contains(&missing) {
            // Fixed while the server runs: the next call connects and migrates.
            cluster().psql(
                "postgres",
                &format!("create database {missing} owner {APP_USER}"),
            );
            server.sign_up("later@example.com", "password123").await;
        }
        let log = server.stop().await;
        assert!(log.contains(reason), "the log names it too: {log}");
        for secret in ["WrongPassw0rdXYZ", APP_PASSWORD, "WeakPassw0rd-123"] {
            assert!(
                !text.contains(secret) && !log.contains(secret),
                "{secret} leaked"
            );
        }
    }
    // The cluster is shared by the whole suite: leave nothing behind.
    cluster().psql(
        "postgres",
        &format!("drop database if exists {missing} with (force)"),
    );
    cluster().psql("postgres", &format!("drop role {weak}"));
}

/// A CA certificate (PEM file in `dir`) that signed nothing the test cluster serves.
fn unrelated_ca(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("other-ca.pem");
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    std::fs::write(&path, params.self_signed(&key).unwrap().pem()).unwrap();
    path
}

async fn run_migrate(env: &ServerEnv) -> std::process::Output {
    let mut cmd = env.command();
    cmd.arg("migrate");
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("migrate finishes")
        .expect("migrate runs")
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_are_idempotent_and_safe_when_servers_start_at_once() {
    let db = TestDb::create();
    let home = tempdir();
    let env = ServerEnv::postgres(home.path(), &db.neon_url());
    let runs = (0..4).map(|_| run_migrate(&env));
    for out in futures::future::join_all(runs).await {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Each migration applied once, none missing.
    assert_eq!(
        db.sql(r#"select count(*) = max("version") and count(*) >= 2 from "better_auth_mcp_migrations""#),
        "t"
    );
    assert!(run_migrate(&env).await.status.success());
}

/// Better Auth 1.7's own migration output (shared/reference/better-auth.md §1).
const BETTER_AUTH_DDL: &str = r#"
create table "user" ("id" text not null primary key, "name" text not null, "email" text not null unique,
  "emailVerified" boolean not null, "image" text,
  "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz default CURRENT_TIMESTAMP not null);
create table "session" ("id" text not null primary key, "expiresAt" timestamptz not null, "token" text not null unique,
  "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz not null,
  "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade);
create table "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null,
  "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text,
  "idToken" text, "accessTokenExpiresAt" timestamptz, "refreshTokenExpiresAt" timestamptz, "scope" text,
  "password" text, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz not null);
create table "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null,
  "expiresAt" timestamptz not null, "createdAt" timestamptz default CURRENT_TIMESTAMP not null,
  "updatedAt" timestamptz default CURRENT_TIMESTAMP not null);
create index "session_userId_idx" on "session" ("userId");
create index "account_userId_idx" on "account" ("userId");
create index "verification_identifier_idx" on "verification" ("identifier");
insert into "user" values ('HESRevtrmJ1yqXAhZCUt5JXGRXteni0o', 'Web User', 'web@example.com', false, null, now(), now());
"#;

const SCHEMA_QUERY: &str = r#"select string_agg(table_name || '.' || column_name || ':' || data_type || ':' || is_nullable || ':' || coalesce(column_default, ''), ',' order by table_name, ordinal_position)
  from information_schema.columns where table_schema = 'public' and table_name in ('user', 'session', 'account', 'verification')"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_better_auth_schema_is_used_as_it_is() {
    let db = TestDb::create();
    db.sql(BETTER_AUTH_DDL);
    let before = db.sql(SCHEMA_QUERY);
    let home = tempdir();
    let server = Server::start(&ServerEnv::postgres(home.path(), &db.neon_url())).await;
    let text = server
        .err(
            "sign_up",
            json!({"email": "WEB@example.com", "password": "password123"}),
        )
        .await;
    assert_eq!(code_of(&text), "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    server.sign_up("mcp@example.com", "password123").await;
    server.stop().await;
    assert_eq!(
        db.sql(SCHEMA_QUERY),
        before,
        "no Better Auth table was altered"
    );
    assert_eq!(db.sql(r#"select count(*) from "user""#), "2");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outage_gives_service_unavailable_in_bounded_time_then_recovers() {
    let db = TestDb::create();
    let mut proxy = Proxy::start(db.port).await;
    let home = tempdir();
    let env = ServerEnv::postgres_via(home.path(), &db, &proxy);
    let server = Server::start(&env).await;
    let up = server.sign_up("before@example.com", "password123").await;

    proxy.cut();
    let started = Instant::now();
    let text = server
        .err(
            "sign_up",
            json!({"email": "during@example.com", "password": "password123"}),
        )
        .await;
    assert_eq!(code_of(&text), "SERVICE_UNAVAILABLE", "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // verify_token needs no database.
    let v = server
        .ok("verify_token", json!({"token": up["token"]}))
        .await;
    assert_eq!(v["valid"], true);

    proxy.resume().await;
    let mut recovered = false;
    for _ in 0..20 {
        let r = server.call("get_user", json!({"token": up["token"]})).await;
        if r.is_error != Some(true) {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "calls succeed again once the database is back");
    server.sign_up("after@example.com", "password123").await;
    assert_eq!(
        db.sql(r#"select count(*) from "user" where "email" = 'during@example.com'"#),
        "0"
    );
    server.stop().await;
}
