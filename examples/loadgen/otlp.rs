//! `loadgen otlp-sink PORT`: the OTLP/HTTP receiver the traced runs export to (`--otlp-sink`).
//! It reads each POST's body, counts the `tools/call` spans in it (by their names' bytes,
//! without decoding the protobuf) and answers 200; a GET of any path answers that count.
//! One thread: the receiver's cost is taken from the same cores as the server's. It ends
//! when its stdin does (the load generator's end).

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::get;

/// The name every `tools/call` span starts with.
const SPAN_NAME: &[u8] = b"tools/call ";

/// Serves the sink on 127.0.0.1:`port` until stdin ends.
pub fn otlp_sink(port: u16) {
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let spans = Arc::new(AtomicU64::new(0));
        let app = axum::Router::new()
            .fallback(get(count).post(receive))
            .with_state(spans);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        axum::serve(listener, app).await.unwrap();
    });
}

async fn receive(
    State(spans): State<Arc<AtomicU64>>,
    body: Bytes,
) -> impl axum::response::IntoResponse {
    let n = body
        .windows(SPAN_NAME.len())
        .filter(|w| *w == SPAN_NAME)
        .count();
    spans.fetch_add(n as u64, Ordering::Relaxed);
    ([("content-type", "application/x-protobuf")], Bytes::new())
}

async fn count(State(spans): State<Arc<AtomicU64>>) -> String {
    spans.load(Ordering::Relaxed).to_string()
}

/// The sink of this run (`--otlp-sink`), if any.
pub static SINK: OnceLock<OtlpSink> = OnceLock::new();

/// The sink started by `--otlp-sink`: its endpoint, to give the servers.
pub struct OtlpSink {
    child: std::process::Child,
    pub endpoint: String,
}

impl OtlpSink {
    /// Starts `loadgen otlp-sink` on a free port and waits (at most 10 s) until it answers.
    pub async fn start() -> Self {
        let port = super::os::free_port();
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .arg("otlp-sink")
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .spawn()
            .expect("the sink starts");
        let mut sink = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while sink.spans().await.is_none() {
            if let Ok(Some(status)) = sink.child.try_wait() {
                panic!("the OTLP sink ended before it listened: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the OTLP sink did not listen within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        sink
    }

    /// The `tools/call` spans received so far (None until the sink listens).
    pub async fn spans(&self) -> Option<u64> {
        let answer = reqwest::get(&self.endpoint).await.ok()?;
        answer.text().await.ok()?.parse().ok()
    }

    /// The spans received once `expected` have arrived, or once 2 s have passed with none
    /// arriving (a server that stopped has sent its last batch), waiting at most 10 s.
    pub async fn settled_spans(&self, expected: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = self.spans().await.unwrap_or(0);
        let mut changed = Instant::now();
        while last < expected
            && Instant::now() < deadline
            && changed.elapsed() < Duration::from_secs(2)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.spans().await.unwrap_or(last);
            if now != last {
                last = now;
                changed = Instant::now();
            }
        }
        last
    }
}
