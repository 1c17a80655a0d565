//! The domain used as a library, without MCP: `better_auth::AuthService` over a store.

use std::time::Duration;

use better_auth_mcp::better_auth::{AuthError, RateLimitPolicy, SignIn, SignUp};

use crate::support::domain::service;
use crate::support::tempdir;

#[tokio::test(flavor = "multi_thread")]
async fn the_domain_signs_up_signs_in_and_verifies_without_mcp() {
    let dir = tempdir();
    let auth = service(dir.path(), RateLimitPolicy::default()).await;
    let up = auth
        .sign_up(SignUp::new("lib@example.com", "password123").with_name(Some("Lib")))
        .await
        .unwrap();
    let inn = auth
        .sign_in(SignIn::new("LIB@example.com", "password123"))
        .await
        .unwrap();
    assert_eq!(inn.user, up.user);
    let token = &inn.access.expect("a signed-in user has a session").token;
    let verified = auth.verify_access_token(token).unwrap();
    assert_eq!(verified.claims.sub, up.user.id);
    assert_eq!(
        verified.claims.iss.as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(auth.get_user(token).await.unwrap(), up.user);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_attempt_computes_no_password_hash() {
    let dir = tempdir();
    let auth = service(dir.path(), RateLimitPolicy::default()).await;
    auth.sign_up(SignUp::new("hashes@example.com", "password123"))
        .await
        .unwrap();
    assert_eq!(auth.password_hashes_computed(), 1);
    for _ in 0..3 {
        let e = auth
            .sign_in(SignIn::new("hashes@example.com", "wrong-password"))
            .await;
        assert!(matches!(e, Err(AuthError::InvalidEmailOrPassword)), "{e:?}");
    }
    assert_eq!(auth.password_hashes_computed(), 4);
    for _ in 0..5 {
        match auth
            .sign_in(SignIn::new("hashes@example.com", "password123"))
            .await
        {
            Err(AuthError::RateLimited {
                retry_after_secs, ..
            }) => {
                assert!((1..=10).contains(&retry_after_secs), "{retry_after_secs}")
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(auth.password_hashes_computed(), 4, "no hash past the limit");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_throttle_lets_the_user_back_in_after_one_window() {
    let dir = tempdir();
    let policy = RateLimitPolicy {
        enabled: true,
        window: Duration::from_secs(1),
        max: 1,
    };
    let auth = service(dir.path(), policy).await;
    auth.sign_up(SignUp::new("back@example.com", "password123"))
        .await
        .unwrap();
    auth.sign_in(SignIn::new("back@example.com", "password123"))
        .await
        .unwrap();
    assert!(matches!(
        auth.sign_in(SignIn::new("back@example.com", "password123"))
            .await,
        Err(AuthError::RateLimited { .. })
    ));
    // Attempts while throttled do not extend the wait.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        auth.sign_in(SignIn::new("back@example.com", "password123"))
            .await
            .is_err()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    auth.sign_in(SignIn::new("back@example.com", "password123"))
        .await
        .unwrap();
}
