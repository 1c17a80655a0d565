//! The load generator (examples/loadgen/, mounted in support/loadgen.rs) in its short
//! smoke mode, against the built binary on both backends: every scenario runs and every
//! answer is checked. No timing is asserted here; the numbers are in BENCHMARKS.md.

use crate::support::better_auth_app::BetterAuthApp;
use crate::support::loadgen::stats::Sizes;
use crate::support::loadgen::{http, null, stdio};
use crate::support::pg::TestDb;
use crate::support::server::BIN;
use crate::support::tempdir;

#[tokio::test(flavor = "multi_thread")]
async fn the_load_generator_runs_every_scenario_with_right_answers_on_both_backends() {
    let db = TestDb::create();
    // The api-key plugin's table, as a Better Auth app with it migrates (the API-key
    // scenario uses it).
    BetterAuthApp::new(&db, "bench-smoke-secret-0123456789abcdef", false)
        .with_api_keys(serde_json::json!({}))
        .run("migrate", serde_json::json!({}));
    for url in [None, Some(db.neon_url())] {
        let dir = tempdir();
        let label = if url.is_some() {
            "postgres"
        } else {
            "embedded"
        };
        let figures = stdio::measure_server(
            label,
            stdio::server_command(BIN.into(), dir.path().into(), url, Vec::new()),
            Sizes::SMOKE,
            None,
        )
        .await;
        assert_eq!(figures.len(), 14, "every figure is measured");
    }
}

/// Its HTTP scenarios, briefly: the server over Streamable HTTP (with and without
/// authorization) and the do-nothing rmcp HTTP service on the embedded store, and two
/// instances behind HAProxy on PostgreSQL. Every answer is checked; no timing asserted.
#[tokio::test(flavor = "multi_thread")]
async fn the_load_generator_runs_its_http_scenarios_with_right_answers() {
    crate::support::system::require(&[crate::support::system::Need::HaProxy]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let null_url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(null::serve_null_http(listener));
    let dir = tempdir();
    let command = http::http_server_command(BIN.into(), dir.path().into(), None, Vec::new());
    let figures = http::measure_http(&command, &null_url, Sizes::SMOKE).await;
    assert_eq!(figures.len(), 23, "every figure is measured");

    let db = TestDb::create();
    let dir = tempdir();
    let command = http::http_server_command(
        BIN.into(),
        dir.path().into(),
        Some(db.neon_url()),
        Vec::new(),
    );
    let figures = http::measure_haproxy(|port| command(port, false), Sizes::SMOKE).await;
    assert_eq!(figures.len(), 1);
}
