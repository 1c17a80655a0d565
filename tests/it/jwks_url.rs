//! Neon Auth's way of handing out JWTs: keys at a JWKS URL (BETTER_AUTH_JWKS_URL), served
//! by the test's JWKS server (support/jwks.rs), read by the built binary.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::support::jwks::{ISSUER, Key, Serve, jwks_server, keys};
use crate::support::server::{Server, ServerEnv};
use crate::support::tempdir;

async fn reason(server: &Server, token: &str) -> String {
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        server.ok("verify_token", json!({"token": token})),
    )
    .await
    .expect("verify_token answers: a JWKS server that hangs must not hang the call");
    if r["valid"] == true {
        assert_eq!(r["kind"], "better_auth_jwt", "{r}");
        "valid".into()
    } else {
        r["reason"].as_str().unwrap().into()
    }
}

/// Tokens verify against the keys of the URL, with iss and aud checked; a rotated key is
/// fetched (at most once per refetch interval); an unknown kid, a wrong audience, and a
/// URL that is down, hangs or answers 503 each get their reason, and the server serves on.
#[tokio::test(flavor = "multi_thread")]
async fn tokens_verify_through_a_jwks_url_across_rotation_and_its_outages() {
    let (a, b, c) = (Key::new("key-a"), Key::new("key-b"), Key::new("key-c"));
    let serve = Arc::new(Mutex::new(keys(&[&a])));
    let url = jwks_server(serve.clone()).await;
    let home = tempdir();
    let env = ServerEnv::sqlite(home.path())
        .with("BETTER_AUTH_URL", ISSUER)
        .with("BETTER_AUTH_JWKS_URL", &url)
        .with("JWKS_REFETCH_INTERVAL_SECONDS", "1");
    let server = Server::start(&env).await;
    let up = server.sign_up("neon@example.com", "password123").await;
    let sub = up["user"]["id"].as_str().unwrap();

    assert_eq!(reason(&server, &a.token(sub, ISSUER)).await, "valid");
    let got = server
        .ok("get_user", json!({"token": a.token(sub, ISSUER)}))
        .await;
    assert_eq!(got["user"]["email"], "neon@example.com");
    assert_eq!(
        reason(&server, &a.token(sub, "https://another.example.com")).await,
        "wrong_audience"
    );
    assert_eq!(
        reason(&server, &b.token(sub, ISSUER)).await,
        "bad_signature"
    );

    // Rotation: b is published; after the refetch interval its tokens verify.
    *serve.lock().unwrap() = keys(&[&a, &b]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(reason(&server, &b.token(sub, ISSUER)).await, "valid");

    // Outages: an unknown key cannot be checked; the keys already fetched still verify.
    for outage in [Serve::Down, Serve::Hang] {
        *serve.lock().unwrap() = outage;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(
            reason(&server, &c.token(sub, ISSUER)).await,
            "jwks_unavailable"
        );
        assert_eq!(reason(&server, &a.token(sub, ISSUER)).await, "valid");
    }
    // Back up, with c: it verifies.
    *serve.lock().unwrap() = keys(&[&a, &b, &c]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(reason(&server, &c.token(sub, ISSUER)).await, "valid");
    server.stop().await;
}

/// A JWKS URL over plain http to another machine is refused at start.
#[tokio::test(flavor = "multi_thread")]
async fn a_jwks_url_must_be_https() {
    let home = tempdir();
    let env = ServerEnv::sqlite(home.path()).with(
        "BETTER_AUTH_JWKS_URL",
        "http://auth.example.com/.well-known/jwks.json",
    );
    let out = env.command().output().await.unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("BETTER_AUTH_JWKS_URL must use https"),
        "{stderr}"
    );
}
