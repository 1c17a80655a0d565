//! A local OTLP/HTTP trace receiver: POST /v1/traces (protobuf) on a free loopback port,
//! keeping every span it is sent, and how many requests it got.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// A span as received, with its resource's `service.name`.
#[derive(Debug, Clone)]
pub struct Received {
    pub service_name: Option<String>,
    pub span: Span,
}

impl Received {
    pub fn trace_id(&self) -> String {
        hex::encode(&self.span.trace_id)
    }

    pub fn span_id(&self) -> String {
        hex::encode(&self.span.span_id)
    }

    pub fn parent_span_id(&self) -> String {
        hex::encode(&self.span.parent_span_id)
    }

    /// The string (or integer, as text) value of attribute `key`.
    pub fn attribute(&self, key: &str) -> Option<String> {
        self.attributes()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Every attribute as text.
    pub fn attributes(&self) -> Vec<(String, String)> {
        self.span
            .attributes
            .iter()
            .map(|kv| {
                let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(AnyValue::StringValue(s)) => s.clone(),
                    Some(AnyValue::IntValue(i)) => i.to_string(),
                    Some(AnyValue::BoolValue(b)) => b.to_string(),
                    Some(AnyValue::DoubleValue(d)) => d.to_string(),
                    other => format!("{other:?}"),
                };
                (kv.key.clone(), value)
            })
            .collect()
    }

    /// Everything of the span a secret could hide in: its name, attributes, events and
    /// status message.
    pub fn all_text(&self) -> String {
        let mut text = format!("{} {:?}", self.span.name, self.attributes());
        for event in &self.span.events {
            text.push_str(&format!(" {} {:?}", event.name, event.attributes));
        }
        if let Some(status) = &self.span.status {
            text.push_str(&format!(" {}", status.message));
        }
        text
    }
}

#[derive(Default)]
struct Inbox {
    requests: usize,
    spans: Vec<Received>,
}

/// The receiver, serving until dropped.
pub struct OtlpReceiver {
    pub port: u16,
    inbox: Arc<Mutex<Inbox>>,
    server: tokio::task::JoinHandle<()>,
}

impl OtlpReceiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener)
    }

    /// A receiver on `port`, if it is free.
    pub async fn start_on(port: u16) -> Option<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .ok()?;
        Some(Self::serve(listener))
    }

    fn serve(listener: tokio::net::TcpListener) -> Self {
        let port = listener.local_addr().unwrap().port();
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let app = axum::Router::new()
            .route("/v1/traces", post(receive))
            .with_state(inbox.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            port,
            inbox,
            server,
        }
    }

    /// `OTEL_EXPORTER_OTLP_ENDPOINT` for this receiver (the exporter adds `/v1/traces`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many export requests arrived.
    pub fn requests(&self) -> usize {
        self.inbox.lock().unwrap().requests
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().spans.clone()
    }

    /// The spans of `trace_id`, once `count` of them arrived (within 20 s).
    pub async fn spans_of(&self, trace_id: &str, count: usize) -> Vec<Received> {
        for _ in 0..200 {
            let spans: Vec<Received> = self
                .spans()
                .into_iter()
                .filter(|s| s.trace_id() == trace_id)
                .collect();
            if spans.len() >= count {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "fewer than {count} spans of trace {trace_id} arrived: {:#?}",
            self.spans()
        );
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(State(inbox): State<Arc<Mutex<Inbox>>>, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
    let mut inbox = inbox.lock().unwrap();
    inbox.requests += 1;
    for resource_spans in request.resource_spans {
        let service_name = resource_spans.resource.as_ref().and_then(|r| {
            r.attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    AnyValue::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
        });
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                inbox.spans.push(Received {
                    service_name: service_name.clone(),
                    span,
                });
            }
        }
    }
    // An empty ExportTraceServiceResponse.
    Vec::new()
}
