//! The server's /metrics (--metrics-addr) as a scraper reads it: fetched, parsed as
//! Prometheus text (prometheus-parse), and looked up by series.

use std::collections::BTreeMap;

use prometheus_parse::{Sample, Scrape, Value};

/// One scrape of `http://127.0.0.1:PORT/metrics`: its text and what it parses to.
pub struct Metrics {
    pub text: String,
    scrape: Scrape,
}

impl Metrics {
    pub async fn scrape(port: u16) -> Self {
        let response = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .expect("/metrics answers");
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        let text = response.text().await.unwrap();
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .unwrap_or_else(|e| panic!("not Prometheus text ({e}):\n{text}"));
        Self { text, scrape }
    }

    fn samples<'a>(&'a self, metric: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.scrape
            .samples
            .iter()
            .filter(move |s| s.metric == metric)
    }

    /// Every series of a counter or gauge `metric`: its labels (as `k=v,k=v`, sorted) and
    /// value.
    pub fn series(&self, metric: &str) -> BTreeMap<String, f64> {
        self.samples(metric)
            .map(|s| {
                let value = match s.value {
                    Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                    ref other => panic!("{metric} is not a counter or gauge: {other:?}"),
                };
                (label_key(s), value)
            })
            .collect()
    }

    /// Every series of histogram `metric`: its labels and its count (the +Inf bucket).
    pub fn histogram_counts(&self, metric: &str) -> BTreeMap<String, f64> {
        self.samples(metric)
            .map(|s| {
                let Value::Histogram(buckets) = &s.value else {
                    panic!("{metric} is not a histogram: {:?}", s.value)
                };
                let count = buckets
                    .iter()
                    .find(|b| b.less_than == f64::INFINITY)
                    .unwrap_or_else(|| panic!("{metric} has no +Inf bucket"))
                    .count;
                (label_key(s), count)
            })
            .collect()
    }
}

fn label_key(sample: &Sample) -> String {
    let mut labels: Vec<String> = sample
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    labels.sort();
    labels.join(",")
}

/// `[("tool=sign_up,outcome=ok", 3.0), ...]` as [`Metrics::series`] gives it (labels
/// sorted by name).
pub fn expected(series: &[(&str, f64)]) -> BTreeMap<String, f64> {
    series
        .iter()
        .map(|(labels, v)| {
            let mut labels: Vec<&str> = labels.split(',').collect();
            labels.sort();
            (labels.join(","), *v)
        })
        .collect()
}
