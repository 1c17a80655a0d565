//! One database shared with a Better Auth app, both ways: golden vectors made by Better
//! Auth's own code (tests/better-auth/vectors.json), and a real Better Auth 1.7 app
//! (tests/better-auth/app.mjs) writing and reading the same PostgreSQL as this server.

use serde_json::{Value, json};

use crate::support::backend::{Backend, Setup, on_both_backends};
use crate::support::better_auth_app::{BASE_URL, BetterAuthApp};
use crate::support::pg::TestDb;
use crate::support::server::{Server, ServerEnv, code_of, text_of};
use crate::support::{merged, tempdir};

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/better-auth/vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// Rows as Better Auth writes them: the vectors' user with a scrypt password, a session
/// and the JWT plugin's keys.
fn insert_better_auth_rows(s: &Setup, v: &Value) {
    let user = &v["user"];
    let id = str_of(&user["id"]);
    s.sql(&format!(
        r#"insert into "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt")
           values ('{id}', 'Web User', '{}', false, null, '2026-11-20T10:00:00.000Z', '2026-11-20T10:00:00.000Z')"#,
        str_of(&user["email"])
    ));
    s.sql(&format!(
        r#"insert into "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt")
           values ('acc{id}', '{id}', 'credential', '{id}', '{}', '2026-11-20T10:00:00.000Z', '2026-11-20T10:00:00.000Z')"#,
        str_of(&v["scrypt"][0]["hash"])
    ));
    for (i, cookie) in v["cookies"].as_array().unwrap().iter().enumerate() {
        s.sql(&format!(
            r#"insert into "session" ("id", "expiresAt", "token", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId")
               values ('session{i}', '2100-01-01T00:00:00.000Z', '{}', '2026-11-20T10:00:00.000Z', '2026-11-20T10:00:00.000Z', '', '', '{id}')"#,
            str_of(&cookie["token"])
        ));
    }
    s.sql(
        r#"create table "jwks" ("id" text not null primary key, "publicKey" text not null, "privateKey" text not null,
           "createdAt" timestamptz not null, "expiresAt" timestamptz, "alg" text, "crv" text)"#,
    );
    let mut seen = Vec::new();
    for jwt in v["jwt"].as_array().unwrap() {
        let k = &jwt["jwks"];
        if seen.contains(&k["id"]) {
            continue;
        }
        seen.push(k["id"].clone());
        s.sql(&format!(
            r#"insert into "jwks" ("id", "publicKey", "privateKey", "createdAt", "alg", "crv")
               values ('{}', '{}', 'encrypted-private-key-not-needed', '2026-11-20T10:00:00.000Z', '{}', {})"#,
            str_of(&k["id"]),
            str_of(&k["publicKey"]),
            str_of(&k["alg"]),
            k["crv"].as_str().map_or("null".into(), |c| format!("'{c}'"))
        ));
    }
}

on_both_backends!(better_auth_golden_vectors_sign_in_verify_and_sign_out_here);

async fn better_auth_golden_vectors_sign_in_verify_and_sign_out_here(backend: Backend) {
    let v = vectors();
    let s = Setup::new(backend);
    let env = s
        .env
        .clone()
        .with("BETTER_AUTH_SECRET", str_of(&v["secret"]))
        .with("BETTER_AUTH_URL", str_of(&v["baseURL"]));
    // The server migrates first (Better Auth's schema), then rows go in as Better Auth writes them.
    let migrated = env.command().arg("migrate").output().await.unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    insert_better_auth_rows(&s, &v);
    let server = Server::start(&env).await;
    let email = str_of(&v["user"]["email"]);
    let user_id = str_of(&v["user"]["id"]);

    // Better Auth's scrypt hash signs in here; a wrong password does not.
    let inn = server
        .ok(
            "sign_in",
            json!({"email": email, "password": v["scrypt"][0]["password"]}),
        )
        .await;
    assert_eq!(inn["user"]["id"], user_id);
    let text = server
        .err(
            "sign_in",
            json!({"email": email, "password": "not the password"}),
        )
        .await;
    assert_eq!(code_of(&text), "INVALID_EMAIL_OR_PASSWORD");

    // The session cookie value, URL-encoded as in the cookie, signed, or raw.
    let cookie = &v["cookies"][0];
    for credential in [&cookie["cookie"], &cookie["signed"], &cookie["token"]] {
        let r = server
            .ok("verify_token", json!({"token": credential}))
            .await;
        assert_eq!(r["valid"], true, "{credential}: {r}");
        assert_eq!(r["kind"], "better_auth_session");
        assert_eq!(r["claims"]["sub"], user_id);
        assert_eq!(r["claims"]["email"], email);
        let got = server.ok("get_user", json!({"token": credential})).await;
        assert_eq!(got["user"]["id"], user_id);
    }
    // A signature made with another secret is refused.
    let forged = format!(
        "{}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        str_of(&cookie["token"])
    );
    let r = server.ok("verify_token", json!({"token": forged})).await;
    assert_eq!(r, json!({"valid": false, "reason": "bad_signature"}));

    // The JWT plugin's tokens: EdDSA, ES256, RS256 against their jwks rows; the expired one not.
    for jwt in v["jwt"].as_array().unwrap() {
        let r = server
            .ok("verify_token", json!({"token": jwt["token"]}))
            .await;
        if jwt["expired"] == true {
            assert_eq!(r, json!({"valid": false, "reason": "expired"}));
            continue;
        }
        assert_eq!(r["valid"], true, "{}: {r}", jwt["alg"]);
        assert_eq!(r["kind"], "better_auth_jwt");
        assert_eq!(r["claims"]["sub"], user_id);
        assert_eq!(r["claims"]["email"], email);
        assert_eq!(r["claims"]["iss"], str_of(&v["baseURL"]));
        let got = server.ok("get_user", json!({"token": jwt["token"]})).await;
        assert_eq!(got["user"]["email"], email);
    }

    // A key id that no jwks row has, or no key id at all: the signature cannot hold.
    let jwt = str_of(&v["jwt"][0]["token"]);
    let (_, rest) = jwt.split_once('.').unwrap();
    for header in [
        json!({"alg": v["jwt"][0]["alg"], "kid": "no-such-key"}),
        json!({"alg": v["jwt"][0]["alg"]}),
    ] {
        use base64::Engine as _;
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header.to_string());
        let r = server
            .ok("verify_token", json!({"token": format!("{header}.{rest}")}))
            .await;
        assert_eq!(r, json!({"valid": false, "reason": "bad_signature"}));
    }

    // refresh_token and sign_out take Better Auth's session; after sign_out it is gone.
    let second = &v["cookies"][1];
    let refreshed = server
        .ok("refresh_token", json!({"sessionToken": second["cookie"]}))
        .await;
    let claims = server
        .ok("verify_token", json!({"token": refreshed["token"]}))
        .await;
    assert_eq!(claims["claims"]["sid"], "session1");
    server
        .ok("sign_out", json!({"sessionToken": second["cookie"]}))
        .await;
    let text = server
        .err("refresh_token", json!({"sessionToken": second["token"]}))
        .await;
    assert_eq!(code_of(&text), "INVALID_TOKEN", "{text}");
    // Signing out an ended session succeeds, as Better Auth's signOut does.
    let again = server
        .ok("sign_out", json!({"sessionToken": second["token"]}))
        .await;
    assert_eq!(again, json!({"signedOut": true}));
    let text = server
        .err("get_user", json!({"token": refreshed["token"]}))
        .await;
    assert_eq!(text.split(':').next(), Some("INVALID_TOKEN"), "{text}");
    assert!(text.contains("session_not_found"), "{text}");
    // verify_token stays stateless for access tokens, as its description says.
    let r = server
        .ok("verify_token", json!({"token": refreshed["token"]}))
        .await;
    assert_eq!(r["valid"], true);
    server.stop().await;
}

/// A fresh PostgreSQL migrated by a Better Auth app (`configure`d), and the environment
/// of a server sharing it (the app's secret and URL).
struct Shared {
    db: TestDb,
    app: BetterAuthApp,
    env: ServerEnv,
    migrated: Value,
    _home: tempfile::TempDir,
}

impl Shared {
    fn new(configure: impl FnOnce(BetterAuthApp) -> BetterAuthApp, uuid: bool) -> Self {
        const SECRET: &str = "shared-secret-with-the-web-app-0123456789abcdef";
        let db = TestDb::create();
        let app = configure(BetterAuthApp::new(&db, SECRET, uuid));
        let migrated = app.run("migrate", json!({}));
        let home = tempdir();
        let env = ServerEnv::postgres(home.path(), &db.neon_url())
            .with("BETTER_AUTH_SECRET", SECRET)
            .with("BETTER_AUTH_URL", BASE_URL);
        Self {
            db,
            app,
            env,
            migrated,
            _home: home,
        }
    }
}

/// A schema made by Better Auth's own migration, and a Better Auth app writing and reading
/// the same rows as this server, both ways.
async fn share_one_database_with_a_better_auth_app(uuid: bool) {
    let Shared {
        db,
        app,
        env,
        migrated,
        _home,
    } = Shared::new(|app| app, uuid);
    assert!(
        migrated["created"].to_string().contains("jwks"),
        "{migrated}"
    );
    let schema_before = db.sql(SCHEMA_QUERY);
    // No PASSWORD_HASH: the default is the format a stock Better Auth app verifies.
    let server = Server::start(&env).await;
    assert_eq!(
        db.sql(SCHEMA_QUERY),
        schema_before,
        "no Better Auth table altered"
    );

    // A user who signed up on the web signs in here, and their web session works here.
    let web = app.run(
        "sign-up",
        json!({"email": "web@example.com", "password": "web-password-1", "name": "Web"}),
    );
    let web_id = str_of(&web["user"]["id"]).to_owned();
    if uuid {
        assert_eq!(web_id.len(), 36, "{web_id}");
    }
    let inn = server
        .ok(
            "sign_in",
            json!({"email": "web@example.com", "password": "web-password-1"}),
        )
        .await;
    assert_eq!(inn["user"]["id"], web_id.as_str());
    // A server's first call reads with the schema's id type, even while its migration
    // check (which finds the type) is still running.
    let fresh = Server::start(&env).await;
    let got = fresh.ok("get_user", json!({"token": inn["token"]})).await;
    assert_eq!(got["user"]["id"], web_id.as_str());
    fresh.stop().await;
    let cookie = str_of(&web["cookie"]);
    let r = server.ok("verify_token", json!({"token": cookie})).await;
    assert_eq!(
        (r["valid"].clone(), r["kind"].clone()),
        (json!(true), json!("better_auth_session")),
        "{r}"
    );
    let refreshed = server
        .ok("refresh_token", json!({"sessionToken": cookie}))
        .await;
    let got = server
        .ok("get_user", json!({"token": refreshed["token"]}))
        .await;
    assert_eq!(got["user"]["email"], "web@example.com");

    // The JWT plugin's token for that session verifies here against its jwks row.
    let jwt = app.run("get-jwt", json!({"token": web["token"]}));
    let r = server
        .ok("verify_token", json!({"token": jwt["jwt"]}))
        .await;
    assert_eq!(
        (r["valid"].clone(), r["kind"].clone()),
        (json!(true), json!("better_auth_jwt")),
        "{r}"
    );
    assert_eq!(r["claims"]["email"], "web@example.com");

    // A user who signs up here, with no settings, signs in on the stock web app, and the
    // session made here is one the bearer plugin accepts.
    let up = server.sign_up("mcp@example.com", "mcp-password-1").await;
    let signed_in = app.run(
        "sign-in",
        json!({"email": "mcp@example.com", "password": "mcp-password-1"}),
    );
    assert_eq!(signed_in["ok"], true, "{signed_in}");
    let hash = db.sql(&format!(
        r#"select "password" from "account" where "userId"::text = '{}'"#,
        str_of(&up["user"]["id"])
    ));
    let checked = app.run(
        "verify-password",
        json!({"hash": hash, "password": "mcp-password-1"}),
    );
    assert_eq!(checked["ok"], true);
    let session = app.run("get-session", json!({"token": up["sessionToken"]}));
    assert_eq!(session["user"]["email"], "mcp@example.com", "{session}");
    assert_eq!(session["session"]["ipAddress"], "");

    // Signing out here ends the session for the web app too.
    server
        .ok("sign_out", json!({"sessionToken": up["sessionToken"]}))
        .await;
    let session = app.run("get-session", json!({"token": up["sessionToken"]}));
    assert_eq!(session["session"], Value::Null, "{session}");
    server.stop().await;
}

const SCHEMA_QUERY: &str = r#"select string_agg(table_name || '.' || column_name || ':' || data_type || ':' || is_nullable || ':' || coalesce(column_default, ''), ',' order by table_name, ordinal_position)
  from information_schema.columns where table_schema = 'public' and table_name in ('user', 'session', 'account', 'verification', 'jwks')"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_better_auth_app_and_this_server_share_one_database() {
    share_one_database_with_a_better_auth_app(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_better_auth_app_with_uuid_ids_and_this_server_share_one_database() {
    share_one_database_with_a_better_auth_app(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rehash_on_sign_in_moves_an_argon2_user_to_better_auths_scrypt() {
    let s = Setup::new(Backend::Sqlite);
    let argon = Server::start(&s.env.clone().with("PASSWORD_HASH", "argon2id")).await;
    argon.sign_up("rehash@example.com", "rehash-password").await;
    argon.stop().await;
    let hash = s.sql(r#"select "password" from "account""#);
    assert!(hash.starts_with("$argon2id$"), "{hash}");

    // Without REHASH_ON_SIGN_IN the hash stays; with it, the sign-in stores scrypt.
    let scrypt = s.env.clone().with("PASSWORD_HASH", "scrypt");
    let sign_in_once = async |env: &ServerEnv| {
        let server = Server::start(env).await;
        let args = json!({"email": "rehash@example.com", "password": "rehash-password"});
        server.ok("sign_in", args).await;
        server.stop().await;
    };
    for (rehash, prefix) in [("false", "$argon2id$"), ("true", "")] {
        sign_in_once(&scrypt.clone().with("REHASH_ON_SIGN_IN", rehash)).await;
        let hash = s.sql(r#"select "password" from "account""#);
        if prefix.is_empty() {
            let (salt, key) = hash.split_once(':').expect("Better Auth's salt:key format");
            assert_eq!((salt.len(), key.len()), (32, 128), "{hash}");
        } else {
            assert!(hash.starts_with(prefix), "{hash}");
        }
    }
    // And the new hash still signs in.
    sign_in_once(&scrypt).await;
}

/// Better Auth's admin plugin on the same database: for a normal user, a banned one and
/// one whose ban expired, sign_in here gives what Better Auth's signInEmail gives, and a
/// refused sign-in leaves no session on either side.
#[tokio::test(flavor = "multi_thread")]
async fn sign_in_of_a_banned_user_fails_here_as_in_better_auth_and_an_expired_ban_is_lifted() {
    let Shared {
        db,
        app,
        env,
        _home,
        ..
    } = Shared::new(BetterAuthApp::with_admin, false);
    let server = Server::start(&env.with("RATE_LIMIT_ENABLED", "false")).await;
    let password = "web-password-1";
    let sessions_of = |email: &str| {
        db.sql(&format!(
            r#"select count(*) from "session" s join "user" u on u."id" = s."userId" where u."email" = '{email}'"#
        ))
    };
    // Each side's outcome: "ok" or Better Auth's error code.
    let outcomes = async |email: &str, ban: &str| {
        let set_ban = || {
            db.sql(&format!(
                r#"update "user" set {ban} where "email" = '{email}'"#
            ));
        };
        set_ban();
        let theirs = app.run("sign-in", json!({"email": email, "password": password}));
        let theirs = if theirs["ok"] == true {
            "ok".to_owned()
        } else {
            str_of(&theirs["code"]).to_owned()
        };
        set_ban();
        let before = sessions_of(email);
        let r = server
            .call("sign_in", json!({"email": email, "password": password}))
            .await;
        let ours = if r.is_error == Some(true) {
            assert_eq!(
                sessions_of(email),
                before,
                "no session for a refused sign-in"
            );
            code_of(&text_of(&r)).to_owned()
        } else {
            "ok".to_owned()
        };
        (theirs, ours)
    };
    for (email, ban, want) in [
        ("normal@example.com", r#""banned" = false"#, "ok"),
        (
            "banned@example.com",
            r#""banned" = true, "banExpires" = null"#,
            "BANNED_USER",
        ),
        (
            "forever@example.com",
            r#""banned" = true, "banExpires" = now() + interval '1 day'"#,
            "BANNED_USER",
        ),
        (
            "expired@example.com",
            r#""banned" = true, "banExpires" = now() - interval '1 day'"#,
            "ok",
        ),
    ] {
        app.run("sign-up", json!({"email": email, "password": password}));
        let (theirs, ours) = outcomes(email, ban).await;
        assert_eq!((theirs.as_str(), ours.as_str()), (want, want), "{email}");
    }
    // The expired ban was lifted here, as Better Auth lifts it.
    assert_eq!(
        db.sql(r#"select "banned"::text from "user" where "email" = 'expired@example.com'"#),
        "false"
    );
    server.stop().await;
}

/// With `requireEmailVerification` on both sides, an unverified user's sign-in is
/// refused here as by Better Auth's signInEmail, and a verified one signs in on both.
#[tokio::test(flavor = "multi_thread")]
async fn with_email_verification_required_sign_in_fails_here_as_in_better_auth() {
    let Shared {
        db,
        app,
        env,
        _home,
        ..
    } = Shared::new(BetterAuthApp::requiring_email_verification, false);
    let env = env
        .with("RATE_LIMIT_ENABLED", "false")
        .with("REQUIRE_EMAIL_VERIFICATION", "true");
    let server = Server::start(&env).await;
    let args = json!({"email": "pending@example.com", "password": "web-password-1"});
    let web = app.run("sign-up", args.clone());
    assert_eq!(
        web["token"],
        Value::Null,
        "Better Auth opens no session: {web}"
    );
    // The email is taken: both answer a sign-up of it as a new one, storing nothing.
    let theirs = app.run("sign-up", args.clone());
    let ours = server.ok("sign_up", args.clone()).await;
    assert_eq!(theirs["token"], Value::Null, "{theirs}");
    assert_eq!(ours["token"], Value::Null, "{ours}");
    let keys = |user: &Value| {
        let mut k: Vec<String> = user.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&ours["user"]), keys(&theirs["user"]));
    assert_ne!(ours["user"]["id"], web["user"]["id"]);
    assert_eq!(db.sql(r#"select count(*) from "user""#), "1");
    let theirs = app.run("sign-in", args.clone());
    assert_eq!(theirs["code"], "EMAIL_NOT_VERIFIED", "{theirs}");
    assert_eq!(
        code_of(&server.err("sign_in", args.clone()).await),
        "EMAIL_NOT_VERIFIED"
    );
    assert_eq!(db.sql(r#"select count(*) from "session""#), "0");
    db.sql(r#"update "user" set "emailVerified" = true"#);
    assert_eq!(app.run("sign-in", args.clone())["ok"], true);
    server.ok("sign_in", args).await;
    server.stop().await;
}

fn two_factor_vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/better-auth/two-factor-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The two-factor plugin's stored values, made by Better Auth's own code: its encrypted
/// TOTP secret and backup codes decrypt here, its TOTP codes are ours at the same times.
#[test]
fn better_auth_two_factor_vectors_decrypt_and_give_the_same_codes_here() {
    use better_auth_mcp::better_auth::credentials::two_factor::{
        BackupCodes, decrypt, totp, totp_matches,
    };
    let v = two_factor_vectors();
    let secret = better_auth_mcp::better_auth::Secrets::single(str_of(&v["secret"]).into());
    let totp_secret = decrypt(&secret, str_of(&v["encryptedTotpSecret"])).unwrap();
    assert_eq!(totp_secret.as_str(), str_of(&v["totpSecret"]));
    for t in v["totp"].as_array().unwrap() {
        let (time, code) = (t["time"].as_i64().unwrap(), str_of(&t["code"]));
        assert_eq!(totp(&totp_secret, time).as_deref(), Some(code), "at {time}");
        assert_eq!(totp_matches(&totp_secret, code, time), Some(true));
    }
    let mut codes = BackupCodes::read(&secret, str_of(&v["encryptedBackupCodes"])).unwrap();
    for code in v["backupCodes"].as_array().unwrap() {
        assert!(codes.use_up(str_of(code)), "{code}");
    }
    assert!(!codes.use_up(str_of(&v["backupCodes"][0])));
}

/// Better Auth's two-factor plugin on the same database: a user who turned it on in the
/// web app gets no session from a password alone, here as there; a TOTP code made from the
/// secret Better Auth stored signs them in here; a backup code works once, on either side.
#[tokio::test(flavor = "multi_thread")]
async fn a_two_factor_user_needs_the_second_factor_here_as_in_better_auth_and_backup_codes_work_once()
 {
    let Shared {
        db,
        app,
        env,
        _home,
        ..
    } = Shared::new(BetterAuthApp::with_two_factor, false);
    let server = Server::start(&env.with("RATE_LIMIT_ENABLED", "false")).await;
    let creds = json!({"email": "two@example.com", "password": "web-password-1"});
    let with = |extra: Value| crate::support::merged(&creds, extra);
    app.run("sign-up", creds.clone());
    let enabled = app.run("enable-two-factor", creds.clone());
    let backup_codes: Vec<&str> = enabled["backupCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    let sessions = || db.sql(r#"select count(*) from "session""#);
    let before = sessions();
    assert_eq!(
        app.run("sign-in", creds.clone())["code"],
        "TWO_FACTOR_REDIRECT"
    );
    assert_eq!(
        code_of(&server.err("sign_in", creds.clone()).await),
        "TWO_FACTOR_REQUIRED"
    );
    assert_eq!(sessions(), before, "a password alone opens no session");
    // A code made by Better Auth from the secret it stored.
    let code = app.run("totp", creds.clone())["code"].clone();
    let wrong = crate::support::other_code(str_of(&code));
    assert_eq!(
        code_of(
            &server
                .err("sign_in", with(json!({"totpCode": wrong})))
                .await
        ),
        "INVALID_TWO_FACTOR_CODE"
    );
    assert_eq!(sessions(), before);
    let signed_in = server.ok("sign_in", with(json!({"totpCode": code}))).await;
    let theirs = app.run("get-session", json!({"token": signed_in["sessionToken"]}));
    assert_eq!(theirs["user"]["email"], "two@example.com", "{theirs}");
    // A backup code used here is used up there, and the other way round.
    server
        .ok("sign_in", with(json!({"backupCode": backup_codes[0]})))
        .await;
    let there = app.run(
        "sign-in-with-backup-code",
        with(json!({"code": backup_codes[0]})),
    );
    assert_eq!(there["code"], "INVALID_BACKUP_CODE", "{there}");
    let there = app.run(
        "sign-in-with-backup-code",
        with(json!({"code": backup_codes[1]})),
    );
    assert_eq!(there["ok"], true, "{there}");
    assert_eq!(
        code_of(
            &server
                .err("sign_in", with(json!({"backupCode": backup_codes[1]})))
                .await
        ),
        "INVALID_TWO_FACTOR_CODE"
    );
    // The failures were counted in Better Auth's lockout columns, and reset by a success.
    assert_eq!(
        db.sql(r#"select "failedVerificationCount" from "twoFactor""#),
        "1"
    );
    server
        .ok("sign_in", with(json!({"backupCode": backup_codes[2]})))
        .await;
    assert_eq!(
        db.sql(r#"select "failedVerificationCount" from "twoFactor""#),
        "0"
    );
    server.stop().await;
}

/// After the app rotated its secret (Better Auth's `secrets`; BETTER_AUTH_SECRETS here,
/// BETTER_AUTH_SECRET staying the legacy secret): a two-factor user enrolled before the
/// rotation (bare hex) and one enrolled after (`$ba$2$...`) both sign in here with the
/// codes the app makes; a backup code used here stores the rest as Better Auth now would
/// (under the current version) and the app still reads them; the app's new signed cookie
/// (current secret) verifies here; and a server not told of the rotation says what to set.
#[tokio::test(flavor = "multi_thread")]
async fn after_the_app_rotates_its_secret_two_factor_users_and_cookies_work_here() {
    const V1: &str = "first-versioned-secret-0123456789abcdef-xyz";
    const V2: &str = "second-versioned-secret-0123456789abcdef-xyz";
    let Shared {
        db,
        app,
        env,
        _home,
        ..
    } = Shared::new(BetterAuthApp::with_two_factor, false);
    let before = json!({"email": "before@example.com", "password": "web-password-1"});
    let after = json!({"email": "after@example.com", "password": "web-password-2"});
    app.run("sign-up", before.clone());
    let before_codes = app.run("enable-two-factor", before.clone())["backupCodes"].clone();
    let rotated = app.rotated(&[(2, V2), (1, V1)]);
    rotated.run("sign-up", after.clone());
    rotated.run("enable-two-factor", after.clone());
    let stored = |email: &str, column: &str| {
        db.sql(&format!(
            r#"select t."{column}" from "twoFactor" t join "user" u on u."id" = t."userId" where u."email" = '{email}'"#
        ))
    };
    assert!(!stored("before@example.com", "secret").starts_with("$ba$"));
    assert!(stored("after@example.com", "secret").starts_with("$ba$2$"));

    // Not told of the rotation: the versioned values cannot be read, and it says why.
    let unaware = Server::start(&env.clone().with("RATE_LIMIT_ENABLED", "false")).await;
    let code = rotated.run("totp", after.clone())["code"].clone();
    let text = unaware
        .err("sign_in", merged(&after, json!({"totpCode": code})))
        .await;
    assert_eq!(code_of(&text), "INTERNAL_ERROR", "{text}");
    let log = unaware.stop().await;
    assert!(log.contains("set BETTER_AUTH_SECRETS"), "{log}");

    let server = Server::start(
        &env.with("RATE_LIMIT_ENABLED", "false")
            .with("BETTER_AUTH_SECRETS", &format!("2:{V2},1:{V1}")),
    )
    .await;
    for creds in [&before, &after] {
        let code = rotated.run("totp", creds.clone())["code"].clone();
        let inn = server
            .ok("sign_in", merged(creds, json!({"totpCode": code})))
            .await;
        let theirs = rotated.run("get-session", json!({"token": inn["sessionToken"]}));
        assert_eq!(theirs["user"]["email"], creds["email"], "{theirs}");
    }
    server
        .ok(
            "sign_in",
            merged(&before, json!({"backupCode": before_codes[0]})),
        )
        .await;
    assert!(stored("before@example.com", "backupCodes").starts_with("$ba$2$"));
    let there = rotated.run(
        "sign-in-with-backup-code",
        merged(&before, json!({"code": before_codes[1]})),
    );
    assert_eq!(there["ok"], true, "{there}");
    // A cookie the app signs now (with the current secret) verifies here.
    let web = rotated.run(
        "sign-up",
        json!({"email": "cookie@example.com", "password": "web-password-3"}),
    );
    let cookie = str_of(&web["cookie"]);
    let got = server.ok("get_user", json!({"token": cookie})).await;
    assert_eq!(got["user"]["email"], "cookie@example.com", "{got}");
    server.stop().await;
}

/// A Better Auth app with the admin and two-factor plugins, with or without required
/// email verification: for a normal, a banned, an expired-ban, a two-factor and an
/// unverified user, sign_in here gives what Better Auth's signInEmail gives (its
/// `twoFactorRedirect` being TWO_FACTOR_REQUIRED here), and a refused one leaves no session.
async fn sign_in_outcomes_match_better_auths(verification: bool) {
    let Shared {
        db,
        app,
        env,
        _home,
        ..
    } = Shared::new(
        |app| {
            let app = app.with_admin().with_two_factor();
            if verification {
                app.requiring_email_verification()
            } else {
                app
            }
        },
        false,
    );
    let env = env.with("RATE_LIMIT_ENABLED", "false").with(
        "REQUIRE_EMAIL_VERIFICATION",
        if verification { "true" } else { "false" },
    );
    let server = Server::start(&env).await;
    let password = "web-password-1";
    let creds = |email: &str| json!({"email": email, "password": password});
    let set = |email: &str, columns: &str| {
        db.sql(&format!(
            r#"update "user" set {columns} where "email" = '{email}'"#
        ));
    };
    let sessions = || db.sql(r#"select count(*) from "session""#);
    let users = [
        ("normal@example.com", ""),
        (
            "banned@example.com",
            r#""banned" = true, "banExpires" = null"#,
        ),
        (
            "expired@example.com",
            r#""banned" = true, "banExpires" = now() - interval '1 day'"#,
        ),
        ("two-factor@example.com", ""),
        ("unverified@example.com", ""),
    ];
    for (email, _) in users {
        app.run("sign-up", creds(email));
        if email != "unverified@example.com" {
            set(email, r#""emailVerified" = true"#);
        }
    }
    app.run("enable-two-factor", creds("two-factor@example.com"));
    for (email, ban) in users {
        if !ban.is_empty() {
            set(email, ban);
        }
        let theirs = app.run("sign-in", creds(email));
        let theirs = match theirs["ok"].as_bool() {
            Some(true) => "ok".to_owned(),
            _ => match str_of(&theirs["code"]) {
                "TWO_FACTOR_REDIRECT" => "TWO_FACTOR_REQUIRED".to_owned(),
                code => code.to_owned(),
            },
        };
        if !ban.is_empty() {
            set(email, ban);
        }
        let before = sessions();
        let r = server.call("sign_in", creds(email)).await;
        let ours = if r.is_error == Some(true) {
            assert_eq!(sessions(), before, "{email}: no session when refused");
            code_of(&text_of(&r)).to_owned()
        } else {
            "ok".to_owned()
        };
        let want = match email {
            "banned@example.com" => "BANNED_USER",
            "two-factor@example.com" => "TWO_FACTOR_REQUIRED",
            "unverified@example.com" if verification => "EMAIL_NOT_VERIFIED",
            _ => "ok",
        };
        assert_eq!(
            (theirs.as_str(), ours.as_str()),
            (want, want),
            "{email}, verification required: {verification}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_outcomes_match_better_auths_for_each_kind_of_user() {
    sign_in_outcomes_match_better_auths(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_outcomes_match_better_auths_for_each_kind_of_user_with_verification_required() {
    sign_in_outcomes_match_better_auths(true).await;
}
