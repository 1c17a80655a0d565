//! Every tool and every reachable error code, through the built binary over stdio, on
//! both backends.

use serde_json::{Value, json};

use crate::support::backend::{Backend, Setup, on_both_backends};
use crate::support::server::{SECRET, Server, TOOL_NAMES, code_of};
use crate::support::tokens::forge;

on_both_backends!(
    every_tool_works_from_sign_up_to_get_user,
    each_bad_input_gets_its_error_code_and_the_server_keeps_serving,
    sign_in_with_wrong_password_is_rejected_without_revealing_the_account,
    a_token_whose_user_was_deleted_gets_user_not_found,
    users_and_tokens_persist_across_a_restart,
    two_concurrent_sign_ups_of_one_email_create_one_user,
    sign_up_writes_better_auths_rows,
    sign_in_of_a_banned_user_creates_no_session_and_an_expired_ban_is_lifted,
    with_email_verification_required_an_unverified_user_gets_no_session,
    a_two_factor_user_signs_in_with_a_totp_or_backup_code_never_with_the_password_alone,
    the_admin_plugins_role_is_in_user_when_the_schema_has_it_and_new_users_get_its_default,
    an_unexpected_database_error_is_internal_error_and_leaves_no_half_written_user,
    sign_in_is_throttled_per_email_across_server_processes,
    no_secret_reaches_stderr_even_at_trace_level,
    errors_say_what_to_do_next,
);

/// An error text an agent can act on: an expired access token points to refresh_token, an
/// ended session to sign_in, an access token given for a session token says so, a tool the
/// server does not offer names the setting that would, and a sign_up without a session
/// says why its tokens are null. sign_out of an ended session succeeds, as in Better Auth.
async fn errors_say_what_to_do_next(backend: Backend) {
    let s = Setup::new(backend);
    let server = Server::start(&s.env).await;
    let up = server.sign_up("next@example.com", "password123").await;
    let expired = forge(
        json!({"sub": up["user"]["id"], "email": "next@example.com", "iat": 1_000, "exp": 2_000}),
        SECRET,
    );
    let text = server.err("get_user", json!({"token": expired})).await;
    assert_eq!(code_of(&text), "INVALID_TOKEN");
    assert!(
        text.contains("expired") && text.contains("refresh_token"),
        "{text}"
    );
    for tool in ["refresh_token", "sign_out"] {
        let text = server.err(tool, json!({"sessionToken": up["token"]})).await;
        assert_eq!(code_of(&text), "INVALID_TOKEN", "{text}");
        assert!(
            text.contains("This is an access token") && text.contains("sessionToken"),
            "{text}"
        );
    }
    let session = json!({"sessionToken": up["sessionToken"]});
    for _ in 0..2 {
        let out = server.ok("sign_out", session.clone()).await;
        assert_eq!(out, json!({"signedOut": true}));
    }
    let text = server
        .err("get_user", json!({"token": up["sessionToken"]}))
        .await;
    assert!(text.contains("sign_in again"), "{text}");
    let text = server.err("refresh_token", session).await;
    assert!(text.contains("sign_in again"), "{text}");
    server.stop().await;

    for (args, tool, says) in [
        (vec!["--read-only"], "sign_in", "--read-only"),
        (vec!["--tools", "verify_token"], "sign_up", "--tools"),
    ] {
        let mut env = s.env.clone();
        env.args = args.iter().map(|a| a.to_string()).collect();
        let gated = Server::start(&env).await;
        let refused = gated
            .client
            .call_tool(
                rmcp::model::CallToolRequestParams::new(tool).with_arguments(
                    json!({"email": "next@example.com", "password": "password123"})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
            )
            .await
            .expect_err("a tool not offered cannot be called");
        let said = refused.to_string();
        assert!(
            said.contains(&format!("{tool} is not offered")) && said.contains(says),
            "{said}"
        );
        gated.stop().await;
    }

    let verifying = Server::start(&s.env.clone().with("REQUIRE_EMAIL_VERIFICATION", "true")).await;
    let up = verifying
        .sign_up("verify-me@example.com", "password123")
        .await;
    assert_eq!(up["token"], Value::Null);
    let message = up["message"].as_str().unwrap_or_default();
    assert!(message.contains("email verification"), "{up}");
    verifying.stop().await;
}

async fn every_tool_works_from_sign_up_to_get_user(backend: Backend) {
    let s = Setup::new(backend);
    let server = Server::start(&s.env).await;

    let tools = server.client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    assert_eq!(names, TOOL_NAMES);

    let up = server
        .ok(
            "sign_up",
            json!({"email": "  Ada@Example.COM ", "password": "correct horse battery", "name": "Ada"}),
        )
        .await;
    let user = &up["user"];
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["name"], "Ada");
    assert_eq!(user["emailVerified"], false);
    assert_eq!(user["image"], Value::Null);
    let id = user["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(up["tokenType"], "Bearer");
    assert!(chrono::DateTime::parse_from_rfc3339(up["expiresAt"].as_str().unwrap()).is_ok());
    assert!(chrono::DateTime::parse_from_rfc3339(user["createdAt"].as_str().unwrap()).is_ok());

    let inn = server
        .ok(
            "sign_in",
            json!({"email": "ada@example.com", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(inn["user"], up["user"]);
    let token = inn["token"].as_str().unwrap();

    let v = server.ok("verify_token", json!({"token": token})).await;
    assert_eq!(v["valid"], true);
    assert_eq!(v["kind"], "access_token");
    assert_eq!(v["claims"]["sub"], id);
    assert_eq!(v["claims"]["email"], "ada@example.com");
    let exp = v["claims"]["exp"].as_i64().unwrap();
    assert_eq!(exp - v["claims"]["iat"].as_i64().unwrap(), 900);
    assert_eq!(v["expiresAt"], inn["expiresAt"]);

    // A "Bearer " prefix, as copied from an HTTP header, is accepted.
    let bearer = server
        .ok("verify_token", json!({"token": format!("Bearer {token}")}))
        .await;
    assert_eq!(bearer["valid"], true);

    let got = server.ok("get_user", json!({"token": token})).await;
    assert_eq!(got["user"], up["user"]);
    server.stop().await;
}

async fn each_bad_input_gets_its_error_code_and_the_server_keeps_serving(backend: Backend) {
    let s = Setup::new(backend);
    let server = Server::start(&s.env).await;
    let up = |email: &str, password: &str, name: Option<&str>| {
        let mut args = json!({"email": email, "password": password});
        if let Some(n) = name {
            args["name"] = json!(n);
        }
        args
    };
    let cases = [
        (up("not-an-email", "password123", None), "INVALID_EMAIL"),
        (
            up(
                &format!("{}@example.com", "a".repeat(300)),
                "password123",
                None,
            ),
            "INVALID_EMAIL",
        ),
        (up("a@example.com", "short", None), "PASSWORD_TOO_SHORT"),
        (
            up("a@example.com", &"p".repeat(129), None),
            "PASSWORD_TOO_LONG",
        ),
        (
            up("a@example.com", &"p".repeat(1 << 20), None),
            "PASSWORD_TOO_LONG",
        ),
        (
            up("a@example.com", "password123", Some(&"n".repeat(257))),
            "INVALID_NAME",
        ),
        (
            up("a@example.com", "password123", Some("bad\u{0}name")),
            "INVALID_NAME",
        ),
    ];
    for (args, code) in cases {
        let text = server.err("sign_up", args.clone()).await;
        assert_eq!(code_of(&text), code, "{text}");
    }
    server.sign_up("taken@example.com", "password123").await;
    let text = server
        .err(
            "sign_up",
            up("TAKEN@example.com ", "another-password", None),
        )
        .await;
    assert_eq!(
        code_of(&text),
        "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
        "{text}"
    );

    // Missing, mistyped and extra arguments: an isError result naming the field.
    let text = server
        .err("sign_up", json!({"email": "b@example.com"}))
        .await;
    assert!(text.contains("password"), "{text}");
    let text = server
        .err(
            "sign_in",
            json!({"email": "b@example.com", "password": 12345678}),
        )
        .await;
    assert!(text.contains("string"), "{text}");
    let text = server
        .err("get_user", json!({"token": "x", "admin": true}))
        .await;
    assert!(text.contains("admin"), "{text}");

    // Invalid tokens: a normal answer from verify_token, INVALID_TOKEN from get_user.
    let v = server
        .ok("verify_token", json!({"token": "not.a.jwt"}))
        .await;
    assert_eq!(v, json!({"valid": false, "reason": "malformed"}));
    let expired = forge(json!({"sub": "x", "iat": 1_000, "exp": 2_000}), SECRET);
    let v = server.ok("verify_token", json!({"token": expired})).await;
    assert_eq!(v["reason"], "expired");
    let foreign = forge(
        json!({"sub": "x", "iat": now(), "exp": now() + 60}),
        "some-other-secret-of-at-least-32-bytes!!",
    );
    let v = server.ok("verify_token", json!({"token": foreign})).await;
    assert_eq!(v["reason"], "bad_signature");
    // An asymmetric algorithm with no key source (this database has no jwks table).
    for alg in ["RS256", "ES256", "EdDSA", "PS256"] {
        use base64::Engine as _;
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let token = format!(
            "{}.{}.c2ln",
            b64(json!({"alg": alg, "kid": "k1"})),
            b64(json!({"sub": "x", "iat": now(), "exp": now() + 60}))
        );
        let v = server.ok("verify_token", json!({"token": token})).await;
        assert_eq!(v["reason"], "unsupported_algorithm", "{alg}");
    }
    let text = server.err("get_user", json!({"token": expired})).await;
    assert_eq!(code_of(&text), "INVALID_TOKEN");
    assert!(text.contains("expired"), "{text}");

    // Still serving.
    let ok = server.sign_up("after@example.com", "password123").await;
    assert_eq!(ok["user"]["email"], "after@example.com");
    server.stop().await;
}

async fn sign_in_with_wrong_password_is_rejected_without_revealing_the_account(backend: Backend) {
    let s = Setup::new(backend);
    let server = Server::start(&s.env).await;
    server
        .sign_up("known@example.com", "the-right-password")
        .await;
    let wrong = server
        .err(
            "sign_in",
            json!({"email": "known@example.com", "password": "the-wrong-password"}),
        )
        .await;
    let unknown = server
        .err(
            "sign_in",
            json!({"email": "nobody@example.com", "password": "the-right-password"}),
        )
        .await;
    let invalid = server
        .err(
            "sign_in",
            json!({"email": "not an email", "password": "the-right-password"}),
        )
        .await;
    assert_eq!(code_of(&wrong), "INVALID_EMAIL_OR_PASSWORD");
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, invalid);
    // The password is used exactly as given: not trimmed.
    let padded = server
        .err(
            "sign_in",
            json!({"email": "known@example.com", "password": " the-right-password"}),
        )
        .await;
    assert_eq!(padded, wrong);
    server.stop().await;
}

async fn a_token_whose_user_was_deleted_gets_user_not_found(backend: Backend) {
    let s = Setup::new(backend);
    let server = Server::start(&s.env).await;
    let up = server.sign_up("gone@example.com", "password123").await;
    let id = up["user"]["id"].as_str().unwrap();
    s.sql(&format!(r#"delete from "user" where "id" = '{id}'"#));
    let text = server.err("get_user", json!({"token": up["token"]})).await;
    assert_eq!(code_of(&text), "USER_NOT_FOUND", "{text}");
    // The account went with the user (on delete cascade).
    assert_eq!(s.sql(r#"select count(*) from "account""#), "0");
    server.stop().await;
}

async fn users_and_tokens_persist_across_a_restart(backend: Backend) {
    let s = Setup::new(backend);
    let first = Server::start(&s.env).await;
    let up = first.sign_up("stay@example.com", "password123").await;
    first.stop().await;

    let second = Server::start(&s.env).await;
    let inn = second
        .ok(
            "sign_in",
            json!({"email": "stay@example.com", "password": "password123"}),
        )
        .await;
    assert_eq!(inn["user"], up["user"]);
    let got = second.ok("get_user", json!({"token": up["token"]})).await;
    assert_eq!(got["user"], up["user"]);
    let log = second.stop().await;
    // A start on a migrated database logs no NOTICE ("relation already exists, skipping").
    assert!(
        !log.contains("NOTICE") && !log.contains("skipping"),
        "{log}"
    );
    assert!(log.contains("up to date"), "{log}");
}

async fn two_concurrent_sign_ups_of_one_email_create_one_user(backend: Backend) {
    let s = Setup::new(backend);
    let a = Server::start(&s.env).await;
    let b = Server::start(&s.env).await;
    for round in 0..3 {
        let email = format!("race{round}@example.com");
        let args = json!({"email": email, "password": "password123"});
        let (ra, rb) = tokio::join!(a.call("sign_up", args.clone()), b.call("sign_up", args));
        let outcomes = [ra.is_error == Some(true), rb.is_error == Some(true)];
        assert_eq!(
            outcomes.iter().filter(|failed| **failed).count(),
            1,
            "exactly one sign_up wins: {ra:?} {rb:?}"
        );
        let loser = if outcomes[0] { &ra } else { &rb };
        assert_eq!(
            code_of(&crate::support::server::text_of(loser)),
            "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"
        );
        let users = s.sql(&format!(
            r#"select count(*) from "user" where "email" = '{email}'"#
        ));
        assert_eq!(users, "1");
    }
    assert_eq!(s.sql(r#"select count(*) from "account""#), "3");
    a.stop().await;
    b.stop().await;
}

async fn sign_up_writes_better_auths_rows(backend: Backend) {
    let s = Setup::new(backend);
    let server = Server::start(&s.env).await;
    let up = server.sign_up("rows@example.com", "password123").await;
    let id = up["user"]["id"].as_str().unwrap();
    let account = s.sql(&format!(
        r#"select "providerId" || '|' || "accountId" || '|' || "userId" || '|' || "password"
           from "account" where "userId" = '{id}'"#
    ));
    // With no settings the hash is Better Auth's own scrypt format, `<salt hex>:<key hex>`.
    let (rows, hash) = account.rsplit_once('|').unwrap();
    assert_eq!(rows, format!("credential|{id}|{id}"));
    let (salt, key) = hash.split_once(':').expect("Better Auth's salt:key format");
    assert_eq!((salt.len(), key.len()), (32, 128), "{hash}");
    assert!(
        hash.bytes().all(|b| b == b':' || b.is_ascii_hexdigit()),
        "{hash}"
    );
    let verified = s.sql(&format!(
        r#"select "emailVerified" from "user" where "id" = '{id}'"#
    ));
    assert!(verified == "f" || verified == "0", "{verified}");
    server.stop().await;
}

async fn an_unexpected_database_error_is_internal_error_and_leaves_no_half_written_user(
    backend: Backend,
) {
    let s = Setup::new(backend);
    let server = Server::start(&s.env).await;
    server.sign_up("first@example.com", "password123").await;
    // The user row can be written but its credential account cannot.
    if s.db.is_some() {
        s.sql(
            r#"create function no_more() returns trigger language plpgsql as $$ begin raise exception 'no_more accounts'; end $$;
               create trigger no_more before insert on "account" for each row execute function no_more()"#,
        );
    } else {
        s.sql(
            r#"create trigger no_more before insert on "account" begin select raise(abort, 'no_more accounts'); end"#,
        );
    }
    let text = server
        .err(
            "sign_up",
            json!({"email": "half@example.com", "password": "password123"}),
        )
        .await;
    assert_eq!(text, "INTERNAL_ERROR: Internal error; see the server log");
    assert_eq!(
        s.sql(r#"select count(*) from "user" where "email" = 'half@example.com'"#),
        "0",
        "the user row was rolled back with the failed account row"
    );
    let log = server.stop().await;
    assert!(log.contains("no_more"), "the detail is in the log: {log}");
    assert!(!log.contains("$argon2id$"), "no hash in the log");
}

async fn sign_in_is_throttled_per_email_across_server_processes(backend: Backend) {
    let s = Setup::new(backend);
    let a = Server::start(&s.env).await;
    let b = Server::start(&s.env).await;
    a.sign_up("victim@example.com", "password123").await;
    let wrong = json!({"email": "victim@example.com", "password": "guess-guess"});
    // Three attempts in the window, spread over two processes, then the fourth is refused.
    for server in [&a, &b, &a] {
        let text = server.err("sign_in", wrong.clone()).await;
        assert_eq!(code_of(&text), "INVALID_EMAIL_OR_PASSWORD", "{text}");
    }
    let text = b.err("sign_in", wrong.clone()).await;
    assert_eq!(code_of(&text), "RATE_LIMITED", "{text}");
    let secs: u64 = text
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .expect("the text says how many seconds to wait");
    assert!((1..=10).contains(&secs), "{text}");
    // Other emails are not affected; the bucket is Better Auth's `rateLimit` row.
    let other = a
        .err(
            "sign_in",
            json!({"email": "other@example.com", "password": "guess-guess"}),
        )
        .await;
    assert_eq!(code_of(&other), "INVALID_EMAIL_OR_PASSWORD");
    assert_eq!(
        s.sql(
            r#"select "count" from "rateLimit" where "key" = 'victim@example.com|/sign-in/email'"#
        ),
        "3"
    );
    a.stop().await;
    b.stop().await;

    // Switched off, nothing is throttled.
    let off = Server::start(&s.env.clone().with("RATE_LIMIT_ENABLED", "false")).await;
    for _ in 0..5 {
        let text = off.err("sign_in", wrong.clone()).await;
        assert_eq!(code_of(&text), "INVALID_EMAIL_OR_PASSWORD", "{text}");
    }
    off.stop().await;
}

async fn no_secret_reaches_stderr_even_at_trace_level(backend: Backend) {
    let s = Setup::new(backend);
    let server = Server::start(&s.env.clone().with("RUST_LOG", "trace")).await;
    let password = "Pa55word-that-must-not-leak";
    let up = server.sign_up("quiet@example.com", password).await;
    let inn = server
        .ok(
            "sign_in",
            json!({"email": "quiet@example.com", "password": password}),
        )
        .await;
    let wrong = json!({"email": "quiet@example.com", "password": "Wrong-pa55word-never-logged"});
    server.err("sign_in", wrong.clone()).await;
    server.err("sign_in", wrong).await; // throttled
    server
        .err(
            "sign_up",
            json!({"email": "quiet@example.com", "password": password}),
        )
        .await;
    for token in [&up["token"], &inn["token"]] {
        server.ok("verify_token", json!({"token": token})).await;
        server.ok("get_user", json!({"token": token})).await;
    }
    let log = server.stop().await;
    assert!(log.contains("user signed up"), "the log is captured: {log}");
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "trace level is on: {log}"
    );
    let hash = s.sql(r#"select "password" from "account""#);
    let (salt, key) = hash.split_once(':').expect("Better Auth's scrypt format");
    let mut secrets = vec![
        password.to_owned(),
        "Wrong-pa55word-never-logged".to_owned(),
        hash.clone(),
        salt.to_owned(),
        key.to_owned(),
        SECRET.to_owned(),
        crate::support::pg::APP_PASSWORD.to_owned(),
    ];
    for token in [&up["token"], &inn["token"]] {
        let token = token.as_str().unwrap();
        secrets.push(token.to_owned());
        secrets.push(token.rsplit('.').next().unwrap().to_owned());
    }
    for secret in secrets {
        assert!(!log.contains(&secret), "stderr leaks {secret:?}");
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Better Auth's admin plugin columns on `user`, added as its migration adds them.
fn add_admin_plugin_columns(s: &Setup) {
    let (flag, time) = if s.db.is_some() {
        ("boolean", "timestamptz")
    } else {
        ("integer", "date")
    };
    for (column, kind) in [
        ("role", "text"),
        ("banned", flag),
        ("banReason", "text"),
        ("banExpires", time),
    ] {
        s.sql(&format!(
            r#"alter table "user" add column "{column}" {kind}"#
        ));
    }
}

async fn sign_in_of_a_banned_user_creates_no_session_and_an_expired_ban_is_lifted(
    backend: Backend,
) {
    let s = Setup::new(backend);
    let server = Server::start(&s.env).await;
    let up = server.sign_up("banned@example.com", "password123").await;
    add_admin_plugin_columns(&s);
    s.sql(r#"update "user" set "banned" = true where "email" = 'banned@example.com'"#);
    let sessions = || s.sql(r#"select count(*) from "session""#);
    let before = sessions();

    let wrong = json!({"email": "banned@example.com", "password": "password124"});
    assert_eq!(
        code_of(&server.err("sign_in", wrong).await),
        "INVALID_EMAIL_OR_PASSWORD"
    );
    let right = json!({"email": "banned@example.com", "password": "password123"});
    let text = server.err("sign_in", right.clone()).await;
    assert!(
        text.starts_with("BANNED_USER: You have been banned"),
        "{text}"
    );
    assert_eq!(sessions(), before, "a refused sign-in leaves no session");
    let session = json!({"sessionToken": up["sessionToken"]});
    assert_eq!(
        code_of(&server.err("refresh_token", session).await),
        "BANNED_USER"
    );
    let token = json!({"token": up["sessionToken"]});
    assert_eq!(code_of(&server.err("get_user", token).await), "BANNED_USER");

    // An expired ban is lifted by the sign-in, as Better Auth does.
    s.sql(r#"update "user" set "banExpires" = '2020-01-01T00:00:00.000Z', "banReason" = 'spam'"#);
    server.ok("sign_in", right).await;
    let banned = s.sql(r#"select "banned" from "user""#);
    assert!(
        banned == "f" || banned == "0",
        "the ban is lifted: {banned}"
    );
    assert_eq!(
        s.sql(r#"select coalesce("banReason", 'none') from "user""#),
        "none"
    );
    server.stop().await;
}

async fn with_email_verification_required_an_unverified_user_gets_no_session(backend: Backend) {
    let s = Setup::new(backend);
    let env = s.env.clone().with("REQUIRE_EMAIL_VERIFICATION", "true");
    let server = Server::start(&env).await;
    let up = server
        .sign_up("unverified@example.com", "password123")
        .await;
    assert_eq!(up["user"]["emailVerified"], false);
    for field in ["token", "expiresAt", "sessionToken", "sessionExpiresAt"] {
        assert_eq!(up[field], Value::Null, "{field}: {up}");
    }
    assert_eq!(s.sql(r#"select count(*) from "session""#), "0");
    // As Better Auth: a second sign-up of the email answers like the first (a new id),
    // so it does not reveal that the email is taken; nothing is stored.
    let again = server
        .sign_up("unverified@example.com", "password456")
        .await;
    assert_ne!(again["user"]["id"], up["user"]["id"]);
    let keys = |v: &Value| {
        let mut k: Vec<String> = v["user"].as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&again), keys(&up));
    assert_eq!(again["token"], Value::Null);
    assert_eq!(s.sql(r#"select count(*) from "user""#), "1");
    let wrong = json!({"email": "unverified@example.com", "password": "password124"});
    assert_eq!(
        code_of(&server.err("sign_in", wrong).await),
        "INVALID_EMAIL_OR_PASSWORD"
    );
    let right = json!({"email": "unverified@example.com", "password": "password123"});
    let text = server.err("sign_in", right.clone()).await;
    assert_eq!(text, "EMAIL_NOT_VERIFIED: Email not verified");
    assert_eq!(s.sql(r#"select count(*) from "session""#), "0");
    // Once the app has verified the email, the sign-in opens a session.
    s.sql(r#"update "user" set "emailVerified" = true"#);
    let inn = server.ok("sign_in", right).await;
    assert!(inn["token"].is_string(), "{inn}");
    server.stop().await;
}

/// Better Auth's two-factor plugin's column and table, as its migration adds them.
fn add_two_factor_plugin_schema(s: &Setup) {
    let (flag, time) = if s.db.is_some() {
        ("boolean", "timestamptz")
    } else {
        ("integer", "date")
    };
    s.sql(&format!(
        r#"alter table "user" add column "twoFactorEnabled" {flag}"#
    ));
    s.sql(&format!(
        r#"create table "twoFactor" ("id" text not null primary key, "secret" text not null,
           "backupCodes" text not null, "userId" text not null references "user" ("id") on delete cascade,
           "verified" {flag}, "failedVerificationCount" integer, "lockedUntil" {time})"#
    ));
}

async fn a_two_factor_user_signs_in_with_a_totp_or_backup_code_never_with_the_password_alone(
    backend: Backend,
) {
    use better_auth_mcp::better_auth::credentials::two_factor::{encrypt, totp};
    let s = Setup::new(backend);
    let server = Server::start(&s.env.clone().with("RATE_LIMIT_ENABLED", "false")).await;
    let up = server.sign_up("two@example.com", "password123").await;
    add_two_factor_plugin_schema(&s);
    // The row Better Auth's enable + verify-totp leave, encrypted under the shared secret.
    let secret = better_auth_mcp::better_auth::Secrets::single(SECRET.into());
    let totp_secret = "Tw0-Fact0r-secret-of-32-chars-xy";
    s.sql(&format!(
        r#"insert into "twoFactor" ("id", "secret", "backupCodes", "userId", "verified", "failedVerificationCount")
           values ('tf1', '{}', '{}', '{}', true, 0)"#,
        encrypt(&secret, totp_secret),
        encrypt(&secret, r#"["aaaaa-11111","bbbbb-22222"]"#),
        up["user"]["id"].as_str().unwrap()
    ));
    s.sql(r#"update "user" set "twoFactorEnabled" = true"#);
    let sessions = || s.sql(r#"select count(*) from "session""#);
    let before = sessions();
    let creds = |extra: Value| {
        let base = json!({"email": "two@example.com", "password": "password123"});
        crate::support::merged(&base, extra)
    };
    let wrong =
        json!({"email": "two@example.com", "password": "password124", "totpCode": "123456"});
    assert_eq!(
        code_of(&server.err("sign_in", wrong).await),
        "INVALID_EMAIL_OR_PASSWORD"
    );
    let text = server.err("sign_in", creds(json!({}))).await;
    assert!(text.starts_with("TWO_FACTOR_REQUIRED: "), "{text}");
    assert!(text.contains("totpCode"), "it says what to send: {text}");
    let both = creds(json!({"totpCode": "123456", "backupCode": "aaaaa-11111"}));
    assert_eq!(
        server.err("sign_in", both).await,
        "INVALID_ARGUMENTS: backupCode: give totpCode or backupCode, not both"
    );
    let code = totp(totp_secret, chrono::Utc::now().timestamp()).unwrap();
    let wrong_code = crate::support::other_code(&code);
    assert_eq!(
        code_of(
            &server
                .err("sign_in", creds(json!({"totpCode": wrong_code})))
                .await
        ),
        "INVALID_TWO_FACTOR_CODE"
    );
    assert_eq!(sessions(), before, "no session without the second factor");
    assert_eq!(
        s.sql(r#"select "failedVerificationCount" from "twoFactor""#),
        "1"
    );
    let inn = server.ok("sign_in", creds(json!({"totpCode": code}))).await;
    assert!(inn["token"].is_string(), "{inn}");
    assert_eq!(
        s.sql(r#"select "failedVerificationCount" from "twoFactor""#),
        "0"
    );
    let backup = || creds(json!({"backupCode": "aaaaa-11111"}));
    server.ok("sign_in", backup()).await;
    assert_eq!(
        code_of(&server.err("sign_in", backup()).await),
        "INVALID_TWO_FACTOR_CODE",
        "a backup code is used once"
    );
    assert_eq!(sessions(), (before.parse::<i64>().unwrap() + 2).to_string());
    // The admin plugin's ban comes first, as in Better Auth.
    add_admin_plugin_columns(&s);
    s.sql(r#"update "user" set "banned" = true"#);
    let banned = creds(json!({"backupCode": "bbbbb-22222"}));
    assert_eq!(code_of(&server.err("sign_in", banned).await), "BANNED_USER");
    server.stop().await;
}

async fn the_admin_plugins_role_is_in_user_when_the_schema_has_it_and_new_users_get_its_default(
    backend: Backend,
) {
    let s = Setup::new(backend);
    let server = Server::start(&s.env).await;
    let before = server.sign_up("plain@example.com", "password123").await;
    assert!(before["user"].get("role").is_none(), "{before}");
    server.stop().await;
    // The app adds the admin plugin; the server sees its column from its next start.
    add_admin_plugin_columns(&s);
    s.sql(r#"update "user" set "role" = 'admin' where "email" = 'plain@example.com'"#);
    let server = Server::start(&s.env).await;
    let up = server.sign_up("new@example.com", "password123").await;
    assert_eq!(up["user"]["role"], "user", "{up}");
    assert_eq!(
        s.sql(r#"select "role" from "user" where "email" = 'new@example.com'"#),
        "user"
    );
    let inn = server
        .ok(
            "sign_in",
            json!({"email": "plain@example.com", "password": "password123"}),
        )
        .await;
    assert_eq!(inn["user"]["role"], "admin");
    let got = server
        .ok("get_user", json!({"token": inn["sessionToken"]}))
        .await;
    assert_eq!(got["user"]["role"], "admin");
    server.stop().await;
}
