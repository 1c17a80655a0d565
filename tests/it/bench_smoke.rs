//! The load generator (examples/loadgen.rs) in its short smoke mode, against the built
//! binary on both backends: every scenario runs and every answer is checked. No timing
//! is asserted here; the numbers are in BENCHMARKS.md.

#[path = "../../examples/loadgen.rs"]
#[allow(dead_code)]
mod loadgen;

use crate::support::pg::TestDb;
use crate::support::server::BIN;
use crate::support::tempdir;

#[tokio::test(flavor = "multi_thread")]
async fn the_load_generator_runs_every_scenario_with_right_answers_on_both_backends() {
    let db = TestDb::create();
    for url in [None, Some(db.neon_url())] {
        let dir = tempdir();
        let label = if url.is_some() {
            "postgres"
        } else {
            "embedded"
        };
        let figures = loadgen::measure_server(
            label,
            loadgen::server_command(BIN.into(), dir.path().into(), url, Vec::new()),
            loadgen::Sizes::SMOKE,
            None,
        )
        .await;
        assert_eq!(figures.len(), 10, "every figure is measured");
    }
}
