//! Faults: Neon's pooler, connections dropped while idle, an outage under load, and a stop
//! in the middle of calls. Nothing acknowledged is lost; no user is half-written.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::pg::TestDb;
use crate::support::proxy::Proxy;
use crate::support::rpc::tool_call;
use crate::support::server::{Server, ServerEnv, code_of, exit_within, peak_rss_kib, text_of};
use crate::support::tempdir;

/// Users without their credential account: must always be zero.
const HALF_WRITTEN: &str = r#"select count(*) from "user" u where not exists (select 1 from "account" a
    where a."userId" = u."id" and a."providerId" = 'credential' and a."accountId" = u."id")"#;

/// sign_up → sign_in → get_user → verify_token for one new email; panics on any failure.
async fn mixed_round(server: &Server, email: String) {
    let up = server.sign_up(&email, "password123").await;
    let inn = server
        .ok(
            "sign_in",
            json!({"email": email, "password": "password123"}),
        )
        .await;
    assert_eq!(inn["user"]["id"], up["user"]["id"]);
    let got = server.ok("get_user", json!({"token": inn["token"]})).await;
    assert_eq!(got["user"]["email"], email.as_str());
    let v = server
        .ok("verify_token", json!({"token": inn["token"]}))
        .await;
    assert_eq!(v["valid"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_servers_behind_pgbouncer_in_transaction_mode_run_a_mixed_load() {
    let db = TestDb::create();
    let home = tempdir();
    let env = ServerEnv::postgres(home.path(), &db.pooled_url());
    let (a, b) = tokio::join!(Server::start(&env), Server::start(&env));
    let all: Vec<_> = (0..25)
        .map(|i| mixed_round(&a, format!("a-{i}@example.com")))
        .chain((0..25).map(|i| mixed_round(&b, format!("b-{i}@example.com"))))
        .collect();
    futures::future::join_all(all).await;
    assert_eq!(db.sql(r#"select count(*) from "user""#), "50");
    assert_eq!(db.sql(HALF_WRITTEN), "0");
    for log in [a.stop().await, b.stop().await] {
        assert!(!log.contains("prepared statement"), "{log}");
        assert!(!log.contains("ERROR"), "{log}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_dropped_while_idle_are_replaced_without_failing_a_call() {
    let db = TestDb::create();
    let home = tempdir();
    let server = Server::start(&ServerEnv::postgres(home.path(), &db.neon_url())).await;
    let up = server.sign_up("idle@example.com", "password123").await;
    for round in 0..3 {
        // What Neon does to idle connections when the compute scales to zero.
        let killed = crate::support::pg::cluster().psql(
            "postgres",
            &format!(
                "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = '{}' and pid <> pg_backend_pid()",
                db.name
            ),
        );
        assert_ne!(killed, "0", "round {round}: the server held connections");
        let got = server.ok("get_user", json!({"token": up["token"]})).await;
        assert_eq!(got["user"]["email"], "idle@example.com");
        server
            .sign_up(&format!("idle{round}@example.com"), "password123")
            .await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outage_under_load_loses_no_acknowledged_sign_up_and_half_writes_no_user() {
    let db = TestDb::create();
    let mut proxy = Proxy::start(db.port).await;
    let home = tempdir();
    let env = ServerEnv::postgres_via(home.path(), &db, &proxy);
    let server = Server::start(&env).await;
    let token = server.sign_up("load@example.com", "password123").await["token"].clone();

    let acknowledged = std::sync::Mutex::new(Vec::new());
    let load = async {
        let calls = (0..60).map(|i| {
            let (server, token, acknowledged) = (&server, &token, &acknowledged);
            async move {
                // Spread the calls over the outage.
                tokio::time::sleep(Duration::from_millis(i * 50)).await;
                let started = Instant::now();
                let email = format!("user{i}@example.com");
                let r = server
                    .call(
                        "sign_up",
                        json!({"email": email, "password": "password123"}),
                    )
                    .await;
                assert!(started.elapsed() < Duration::from_secs(10), "bounded time");
                if r.is_error == Some(true) {
                    let text = text_of(&r);
                    assert_eq!(code_of(&text), "SERVICE_UNAVAILABLE", "{text}");
                } else {
                    acknowledged.lock().unwrap().push(email);
                }
                // verify_token needs no database: always valid.
                let v = server.ok("verify_token", json!({"token": token})).await;
                assert_eq!(v["valid"], true);
            }
        });
        futures::future::join_all(calls).await;
    };
    let outage = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        proxy.cut();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        proxy.resume().await;
    };
    tokio::join!(load, outage);

    // Back: calls succeed again without a restart.
    server
        .sign_up("after-outage@example.com", "password123")
        .await;
    let acknowledged = acknowledged.into_inner().unwrap();
    assert!(acknowledged.len() < 60, "the outage was felt");
    assert!(
        !acknowledged.is_empty(),
        "calls before and after it succeeded"
    );
    db.assert_each_stored_once(&acknowledged);
    assert_eq!(db.sql(HALF_WRITTEN), "0");
    server.stop().await;
}

/// Starts a raw server, sends `n` sign_up calls, then stops it with `stop` while they run.
/// Returns the answers received and how long the exit took.
async fn stop_during_calls(env: &ServerEnv, n: usize, sigterm: bool) -> (Vec<Value>, Duration) {
    let (mut child, mut raw) = env.spawn_piped();
    raw.handshake().await;
    let mut batch = String::new();
    for i in 1..=n {
        let args = json!({"email": format!("stop{i}@example.com"), "password": "password123"});
        batch.push_str(&tool_call(i as i64, "sign_up", args));
        batch.push('\n');
    }
    raw.send_raw(batch.as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let started = Instant::now();
    if sigterm {
        // SAFETY: kill with a valid pid of our own child.
        unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGTERM) };
    } else {
        raw.close();
    }
    let mut answers = Vec::new();
    while let Some(answer) = raw.next(Duration::from_secs(5)).await {
        answers.push(answer);
    }
    let status = exit_within(&mut child, Duration::from_secs(5)).await;
    let took = started.elapsed();
    assert!(status.success(), "{status:?}");
    (answers, took)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_in_the_middle_of_calls_answers_them_exits_in_two_seconds_and_half_writes_nothing() {
    for (backend, sigterm) in [
        ("sqlite", true),
        ("sqlite", false),
        ("postgres", true),
        ("postgres", false),
    ] {
        let home = tempdir();
        let db = (backend == "postgres").then(TestDb::create);
        let env = match &db {
            Some(db) => ServerEnv::postgres(home.path(), &db.neon_url()),
            None => ServerEnv::sqlite(home.path()),
        };
        let (answers, took) = stop_during_calls(&env, 6, sigterm).await;
        assert!(
            took < Duration::from_secs(2),
            "{backend} sigterm={sigterm}: exit took {took:?}"
        );
        let ok: Vec<String> = answers
            .iter()
            .filter(|a| a["result"]["isError"] == false)
            .map(|a| {
                a["result"]["structuredContent"]["user"]["email"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let count = |sql: &str| match &db {
            Some(db) => db.sql(sql),
            None => {
                let conn = rusqlite::Connection::open(home.path().join("auth.db")).unwrap();
                conn.query_row(sql, [], |r| r.get::<_, i64>(0))
                    .unwrap()
                    .to_string()
            }
        };
        for email in &ok {
            assert_eq!(
                count(&format!(
                    r#"select count(*) from "user" where "email" = '{email}'"#
                )),
                "1"
            );
        }
        assert_eq!(count(HALF_WRITTEN), "0", "{backend} sigterm={sigterm}");
        if !sigterm {
            // On end of input every call in flight is answered.
            assert_eq!(answers.len(), 6, "{answers:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_sign_ins_is_refused_at_once_past_the_cap_with_bounded_memory() {
    let home = tempdir();
    let env = ServerEnv::sqlite(home.path())
        .with("RATE_LIMIT_ENABLED", "false")
        .with("HASH_CONCURRENCY", "2")
        .with("HASH_QUEUE_LIMIT", "8");
    let (mut child, mut raw) = env.spawn_piped();
    raw.handshake().await;
    let n = 1000;
    let mut batch = String::new();
    for i in 1..=n {
        let args = json!({"email": format!("flood{i}@example.com"), "password": "password123"});
        batch.push_str(&tool_call(i as i64, "sign_in", args));
        batch.push('\n');
    }
    let started = Instant::now();
    raw.send_raw(batch.as_bytes()).await;
    let (mut busy, mut denied) = (0, 0);
    for _ in 0..n {
        let answer = raw
            .next(Duration::from_secs(60))
            .await
            .expect("every call is answered");
        let text = answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        match code_of(text) {
            "RATE_LIMITED" => busy += 1,
            "INVALID_EMAIL_OR_PASSWORD" => denied += 1,
            other => panic!("unexpected answer {other}: {answer}"),
        }
    }
    let took = started.elapsed();
    let peak_kib = peak_rss_kib(&child);
    eprintln!(
        "flood of {n}: {denied} checked, {busy} refused as busy, in {took:?}; peak RSS {peak_kib} KiB"
    );
    assert!(
        busy > n / 2,
        "past the cap calls are refused, not queued: {busy}"
    );
    assert!(denied >= 8, "calls within the cap are served: {denied}");
    // Two hashes at once (32 MiB each for the default scrypt; their memory reused), plus
    // the server itself.
    assert!(peak_kib < 128 * 1024, "peak RSS {peak_kib} KiB");
    raw.close();
    let _ = child.wait().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_started_while_the_database_is_down_serves_once_it_is_up() {
    let db = TestDb::create();
    let mut proxy = Proxy::start(db.port).await;
    proxy.cut();
    let home = tempdir();
    let env = ServerEnv::postgres_via(home.path(), &db, &proxy);
    // The handshake does not wait for the database (Neon's compute may be waking up).
    let started = Instant::now();
    let server = Server::start(&env).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let args = json!({"email": "early@example.com", "password": "password123"});
    let text = server.err("sign_up", args.clone()).await;
    assert_eq!(code_of(&text), "SERVICE_UNAVAILABLE", "{text}");
    // Stateless checks work meanwhile.
    let v = server.ok("verify_token", json!({"token": "a.b.c"})).await;
    assert_eq!(v["valid"], false);
    proxy.resume().await;
    let up = server.ok("sign_up", args).await;
    assert_eq!(up["user"]["email"], "early@example.com");
    assert_eq!(db.sql(HALF_WRITTEN), "0");
    server.stop().await;
}
