//! The load generator's modules (examples/loadgen/, all but its main.rs), mounted here
//! once: bench_smoke runs its scenarios, the HTTP tests use its HAProxy and its
//! keep-alive client, and the rest of support its free port and memory reading.

#[path = "../../../examples/loadgen/client.rs"]
pub mod client;
#[path = "../../../examples/loadgen/haproxy.rs"]
pub mod haproxy;
#[path = "../../../examples/loadgen/http.rs"]
pub mod http;
#[path = "../../../examples/loadgen/null.rs"]
pub mod null;
#[path = "../../../examples/loadgen/os.rs"]
pub mod os;
// The traced runs' receiver (`--otlp-sink`); the tests run none.
#[allow(dead_code)]
#[path = "../../../examples/loadgen/otlp.rs"]
pub mod otlp;
// Sizes::FULL and the figures' text are the example's (the tests count figures).
#[allow(dead_code)]
#[path = "../../../examples/loadgen/stats.rs"]
pub mod stats;
// The do-nothing stdio server's run is the example's.
#[allow(dead_code)]
#[path = "../../../examples/loadgen/stdio.rs"]
pub mod stdio;
