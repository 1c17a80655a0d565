//! How much each scenario runs ([`Sizes`]), how calls are timed (one after another, or
//! with many in flight), and the report: p50 / p99, calls per second, memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub fn mib(kib: Option<u64>) -> String {
    kib.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

/// p50 and p99 of `samples`.
pub fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99))
}

pub async fn sequential<F, Fut>(n: usize, f: F) -> (Duration, Duration)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    percentiles(samples(n, f).await)
}

/// The time of each of `n` calls made one after another.
pub async fn samples<F, Fut>(n: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        f(i).await;
        samples.push(t.elapsed());
    }
    samples
}

/// Rounds in which the server and the do-nothing server take turns, so that both see the
/// same load from the rest of a shared machine.
pub const TURNS: usize = 10;

/// Calls per second with `outstanding` calls kept in flight, for `duration` or `total`
/// calls, whichever ends first.
pub async fn throughput<F, Fut>(outstanding: usize, duration: Duration, total: u64, f: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    under_load(outstanding, duration, total, f).await.0
}

/// [`throughput`], and the time each call took under that load.
pub async fn under_load<F, Fut>(
    outstanding: usize,
    duration: Duration,
    total: u64,
    f: F,
) -> (f64, Vec<Duration>)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let f = Arc::new(f);
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..outstanding)
        .map(|_| {
            let (f, issued) = (f.clone(), issued.clone());
            tokio::spawn(async move {
                let mut took = Vec::new();
                loop {
                    let i = issued.fetch_add(1, Ordering::Relaxed);
                    if i >= total || Instant::now() >= deadline {
                        break;
                    }
                    let t = Instant::now();
                    f(i).await;
                    took.push(t.elapsed());
                }
                took
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("a worker panicked: a wrong answer"));
    }
    (all.len() as f64 / started.elapsed().as_secs_f64(), all)
}

/// How long and how much each scenario runs.
#[derive(Clone, Copy)]
pub struct Sizes {
    pub startups: usize,
    pub sign_ups: usize,
    pub sign_ins: usize,
    pub sign_in_burst: u64,
    pub sequential: usize,
    pub window: Duration,
    pub during_sign_ins: usize,
    /// Keep-alive connections held open idle (HTTP).
    pub idle_connections: usize,
    /// Run only this scenario (and what it needs), e.g. to profile it: `startup`,
    /// `sign_up`, `sign_in`, `verify_token`, `get_user`, `api_key` or `during_sign_ins`.
    pub only: Option<&'static str>,
}

impl Sizes {
    pub const FULL: Self = Self {
        startups: 10,
        sign_ups: 100,
        sign_ins: 50,
        sign_in_burst: 200,
        sequential: 2000,
        window: Duration::from_secs(5),
        during_sign_ins: 1000,
        idle_connections: 1000,
        only: None,
    };
    pub const SMOKE: Self = Self {
        startups: 2,
        sign_ups: 5,
        sign_ins: 5,
        sign_in_burst: 16,
        sequential: 50,
        window: Duration::from_millis(300),
        during_sign_ins: 30,
        idle_connections: 20,
        only: None,
    };

    /// Whether `scenario` runs.
    pub fn runs(&self, scenario: &str) -> bool {
        self.only.is_none_or(|only| only == scenario)
    }
}

/// One line of the report.
pub struct Figure {
    pub name: String,
    pub value: String,
}

/// The figures of one run, each printed to stderr as it is measured.
pub struct Report {
    label: &'static str,
    pub figures: Vec<Figure>,
}

impl Report {
    pub fn new(label: &'static str) -> Self {
        Self {
            label,
            figures: Vec::new(),
        }
    }

    pub fn add(&mut self, name: String, value: String) {
        eprintln!("  {}: {name}: {value}", self.label);
        self.figures.push(Figure { name, value });
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}
