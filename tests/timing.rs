//! Enumeration by timing: sign_in with an unknown email and with a wrong password must cost
//! the same. A test binary of its own, so no other test shares the machine while it runs.

use std::time::{Duration, Instant};

use better_auth_mcp::better_auth::{
    AuthError, AuthService, AuthSettings, RateLimitPolicy, Secrets, SignIn, SignUp,
};
use better_auth_mcp::store::{DatabaseUrl, PoolSettings, Store};

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_email_and_a_wrong_password_take_the_same_median_time() {
    let dir = tempfile::tempdir().unwrap();
    let url =
        DatabaseUrl::parse(&format!("sqlite://{}", dir.path().join("t.db").display())).unwrap();
    let store = Store::open(&url, &PoolSettings::default()).await.unwrap();
    store.migrate().await.unwrap();
    let settings = AuthSettings {
        rate_limit: RateLimitPolicy {
            enabled: false,
            ..RateLimitPolicy::default()
        },
        hash_concurrency: 2,
        ..AuthSettings::default()
    };
    let secrets = Secrets::single("timing-secret-0123456789abcdef0123456789".into());
    let auth = AuthService::new(store, secrets, settings).unwrap();
    auth.sign_up(SignUp::new("timing@example.com", "the-right-password"))
        .await
        .unwrap();

    // Alternate the two so that whatever else the machine does hits both alike.
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..61 {
        for (email, times) in [
            ("timing@example.com", &mut wrong),
            ("nobody@example.com", &mut unknown),
        ] {
            let started = Instant::now();
            let r = auth.sign_in(SignIn::new(email, "a-wrong-password")).await;
            times.push(started.elapsed());
            assert!(matches!(r, Err(AuthError::InvalidEmailOrPassword)), "{r:?}");
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (wrong, unknown) = (median(&mut wrong), median(&mut unknown));
    let ratio = wrong.as_secs_f64() / unknown.as_secs_f64();
    eprintln!(
        "median sign_in over 61 tries: wrong password {wrong:?}, unknown email {unknown:?}, ratio {ratio:.3}"
    );
    assert!(
        (0.9..=1.1).contains(&ratio),
        "medians differ by more than 10%: {wrong:?} vs {unknown:?}"
    );
}
