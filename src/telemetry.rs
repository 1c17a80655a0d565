//! Logs go to stderr (stdout is the protocol). Other crates are held at `info` whatever
//! RUST_LOG says: rmcp logs whole requests (passwords) and tokio-postgres query
//! parameters (hashes) at debug. rmcp is held at `warn`: over HTTP it logs three lines
//! at info for every request (a session set up and torn down per stateless call).
//!
//! Traces, when the standard `OTEL_*` variables ask for them ([`TracesConfig`]), go over
//! OTLP/HTTP (protobuf) from the SDK's batch processor, on a thread of its own (woken once
//! a batch, not once a span; BENCHMARKS.md "Traces' cost, cut"). The OpenTelemetry
//! layer sees only the spans of [`TRACE_TARGET`], made by this crate with attributes it
//! chose: no log event (ours or another crate's) and no span of another crate is
//! exported. Unset, no layer is installed and no span is made ([`traces_enabled`]).

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, FilterFn};
use tracing_subscriber::prelude::*;

const OWN_TARGET: &str = "better_auth_mcp";

/// The target of every span exported as a trace, and of nothing else.
pub const TRACE_TARGET: &str = "better_auth_mcp::traces";

/// The service name when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` names one.
pub const DEFAULT_SERVICE_NAME: &str = "better-auth-mcp";

static TRACES: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported: when not, none are made.
pub fn traces_enabled() -> bool {
    TRACES.load(Ordering::Relaxed)
}

/// What the `OTEL_*` variables say of traces: exported when an OTLP endpoint is set
/// (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`),
/// unless `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracesConfig {
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` (or its traces variant) named a protocol other than
    /// `http/protobuf`, which is the only one spoken.
    pub unsupported_protocol: Option<String>,
}

impl TracesConfig {
    /// The configuration `var` (an environment lookup) describes; None: no traces.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let set = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if set("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return None;
        }
        if set("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none")) {
            return None;
        }
        set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"))?;
        let protocol = set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| set("OTEL_EXPORTER_OTLP_PROTOCOL"));
        Some(Self {
            unsupported_protocol: protocol.filter(|p| p != "http/protobuf"),
        })
    }
}

/// A trace exporter that cannot be built (the message names the variable).
#[derive(Debug, thiserror::Error)]
#[error("traces (OTEL_EXPORTER_OTLP_*): {0}")]
pub struct TracesError(String);

/// The longest the exit waits for the last spans to be exported.
const SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What [`init`] started: the trace exporter, if any, to flush and stop at exit.
#[must_use = "shut it down at exit, or the last spans are lost"]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still queued and stops the exporter, waiting at most
    /// [`SHUTDOWN_WAIT`] (a stalled collector must not hold the exit, whatever the
    /// processor's own timeouts say). It blocks: call it from outside the runtime.
    pub fn shutdown(self) {
        let Some(provider) = self.traces else {
            return;
        };
        TRACES.store(false, Ordering::Relaxed);
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(provider.shutdown());
        });
        match finished.recv_timeout(SHUTDOWN_WAIT) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("traces: the last spans may not have been exported: {e}"),
            Err(_) => tracing::warn!(
                "traces: the collector did not take the last spans within {}s; exiting without them",
                SHUTDOWN_WAIT.as_secs()
            ),
        }
    }
}

/// Logs only, for what is said before the runtime exists (a bad command line).
pub fn init_logs() {
    let _ = tracing_subscriber::registry().with(log_layer()).try_init();
}

/// Logs, and traces when the `OTEL_*` variables ask for them. It needs no runtime: the
/// exporter's blocking HTTP client is built on a thread of its own, and its batch
/// processor sends from another.
pub fn init() -> Result<Telemetry, TracesError> {
    let Some(config) = TracesConfig::from_env(|name| std::env::var(name).ok()) else {
        init_logs();
        return Ok(Telemetry { traces: None });
    };
    let provider = match tracer_provider() {
        Ok(provider) => provider,
        Err(e) => {
            init_logs();
            return Err(e);
        }
    };
    let only_our_spans = FilterFn::new(|meta| meta.is_span() && meta.target() == TRACE_TARGET);
    let traces = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(DEFAULT_SERVICE_NAME))
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        // Nothing here reads OpenTelemetry's current context (a span's parent is its
        // tracing parent, or the client's context set on it), so entering a span does not
        // attach one.
        .with_context_activation(false)
        .with_filter(only_our_spans);
    let installed = tracing_subscriber::registry()
        .with(log_layer())
        .with(traces)
        .try_init()
        .is_ok();
    if !installed {
        let _ = provider.shutdown();
        return Ok(Telemetry { traces: None });
    }
    if let Some(protocol) = config.unsupported_protocol {
        tracing::warn!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not supported: traces are sent as \
             http/protobuf"
        );
    }
    TRACES.store(true, Ordering::Relaxed);
    tracing::info!("exporting traces over OTLP/HTTP");
    Ok(Telemetry {
        traces: Some(provider),
    })
}

/// The log layer: stderr, RUST_LOG for our own target, other crates held back, and none of
/// the trace spans (their attributes are for the exporter, not every log line).
fn log_layer<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let no_third_party_debug = FilterFn::new(|meta| {
        let target = meta.target();
        if target == TRACE_TARGET {
            false
        } else if target.starts_with(OWN_TARGET) {
            true
        } else if target.starts_with("rmcp") {
            *meta.level() <= Level::WARN
        } else {
            *meta.level() <= Level::INFO
        }
    });
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(no_third_party_debug)
        .with_filter(filter)
}

/// The SDK's provider: the OTLP/HTTP exporter as the `OTEL_EXPORTER_OTLP_*` variables
/// configure it (its blocking HTTP client runs its requests on a thread of its own), the
/// sampler `OTEL_TRACES_SAMPLER` names (the SDK reads it), the SDK's batch processor.
fn tracer_provider() -> Result<SdkTracerProvider, TracesError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| TracesError(e.to_string()))?;
    let processor = opentelemetry_sdk::trace::BatchSpanProcessor::builder(exporter).build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource())
        .build())
}

/// The SDK's resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`), named
/// [`DEFAULT_SERVICE_NAME`] when neither names the service.
fn resource() -> opentelemetry_sdk::Resource {
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| {
            v.split(',')
                .any(|kv| kv.split('=').next().map(str::trim) == Some("service.name"))
        });
    let builder = opentelemetry_sdk::Resource::builder();
    if named {
        builder.build()
    } else {
        builder.with_service_name(DEFAULT_SERVICE_NAME).build()
    }
}

/// The database system a store speaks, as OpenTelemetry names it (`db.system.name`).
#[derive(Debug, Clone, Copy)]
pub enum DbSystem {
    Postgresql,
    Sqlite,
}

impl DbSystem {
    fn name(self) -> &'static str {
        match self {
            Self::Postgresql => "postgresql",
            Self::Sqlite => "sqlite",
        }
    }
}

/// A span for one database call (a CLIENT span of OpenTelemetry's database conventions),
/// child of the current one (none outside a request's span): `db.system.name`, and `db.operation.name` when `statement`
/// is given (its first keyword, see [`db_operation`]). Never the statement's text or
/// parameters. A disabled span when traces are off.
pub fn db_span(system: DbSystem, statement: Option<&str>) -> tracing::Span {
    // Outside a request (migrations, /readyz probes) nothing is traced.
    if !traces_enabled() || tracing::Span::current().is_none() {
        return tracing::Span::none();
    }
    let operation = statement.and_then(db_operation);
    tracing::info_span!(
        target: TRACE_TARGET,
        "db",
        otel.name = operation.unwrap_or(system.name()),
        otel.kind = "client",
        db.system.name = system.name(),
        db.operation.name = operation,
    )
}

/// Records on `span` (a [`db_span`] made without a statement) its [`db_operation`].
pub fn record_db_operation(span: &tracing::Span, operation: &'static str) {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    span.record("db.operation.name", operation);
    // The span has started: its name is changed on the OpenTelemetry span itself.
    span.context().span().update_name(operation);
}

/// The operation a statement performs, from its first keyword: one of a fixed set, so it
/// can never carry a value.
pub fn db_operation(statement: &str) -> Option<&'static str> {
    let first = statement
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()?;
    ["select", "insert", "update", "delete"]
        .into_iter()
        .find(|op| first.eq_ignore_ascii_case(op))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn traces_are_on_only_with_an_otlp_endpoint() {
        assert_eq!(TracesConfig::from_env(env(&[])), None);
        assert_eq!(
            TracesConfig::from_env(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])),
            None
        );
        let on = Some(TracesConfig {
            unsupported_protocol: None,
        });
        assert_eq!(
            TracesConfig::from_env(env(&[(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://127.0.0.1:4318"
            )])),
            on
        );
        assert_eq!(
            TracesConfig::from_env(env(&[(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://127.0.0.1:4318/v1/traces"
            )])),
            on
        );
    }

    #[test]
    fn the_sdk_switch_and_the_none_exporter_turn_traces_off() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        for off in [
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_SDK_DISABLED", "TRUE"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ] {
            assert_eq!(
                TracesConfig::from_env(env(&[endpoint, off])),
                None,
                "{off:?}"
            );
        }
        assert!(TracesConfig::from_env(env(&[endpoint, ("OTEL_SDK_DISABLED", "false")])).is_some());
    }

    #[test]
    fn a_protocol_other_than_http_protobuf_is_noted() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        let config =
            TracesConfig::from_env(env(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]));
        assert_eq!(
            config.unwrap().unsupported_protocol.as_deref(),
            Some("grpc")
        );
        let config = TracesConfig::from_env(env(&[
            endpoint,
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ]));
        assert_eq!(config.unwrap().unsupported_protocol, None);
    }

    #[test]
    fn a_db_operation_is_the_first_keyword_of_a_fixed_set() {
        assert_eq!(db_operation("select 1"), Some("select"));
        assert_eq!(db_operation("\n   SELECT \"id\" from x"), Some("select"));
        assert_eq!(
            db_operation(r#"insert into "user" values ($1)"#),
            Some("insert")
        );
        assert_eq!(db_operation("update x set y = $1"), Some("update"));
        assert_eq!(db_operation("delete from x"), Some("delete"));
        assert_eq!(db_operation("with a as (select 1) select * from a"), None);
        assert_eq!(db_operation("BEGIN"), None);
        assert_eq!(db_operation("selected"), None);
        assert_eq!(db_operation("'hunter2'"), None);
        assert_eq!(db_operation(""), None);
    }
}
