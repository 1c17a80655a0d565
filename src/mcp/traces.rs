//! The span of each tools/call (and initialize, tools/list), as OpenTelemetry's MCP semantic
//! conventions name it: a SERVER span `tools/call {gen_ai.tool.name}`, child of the W3C trace context the client
//! sent in `params._meta` (`traceparent`, `tracestate`), or else over HTTP in the request's
//! headers of those names, with `error.type` the contract
//! code (or the JSON-RPC error code) of a failed call. Every attribute is one of a fixed
//! set or what the protocol itself carries (the request id, the protocol version); the
//! tool name is a registered one, never what a caller typed. No argument is recorded.
//! With traces off ([`crate::telemetry::traces_enabled`]) no span is made.

use std::future::Future;
use std::sync::OnceLock;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, InitializeResult, MetaObject, ProtocolVersion,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::context::CallContext;
use super::metrics;
use super::selection::all_tools;
use crate::telemetry::{TRACE_TARGET, traces_enabled};

const TOOLS_CALL: &str = "tools/call";

/// The span of the tools/call `request` (a disabled span with traces off).
pub(super) fn tools_call_span(
    request: &CallToolRequestParams,
    context: &RequestContext<RoleServer>,
) -> tracing::Span {
    if !traces_enabled() {
        return tracing::Span::none();
    }
    let tool = Some(metrics::tool_label(&request.name)).filter(|t| *t != "unknown");
    let version = CallContext::of(context).protocol_version;
    // rmcp moves the request's `_meta` into the context; a request built by hand may
    // still carry it in its params.
    request_span(
        TOOLS_CALL,
        tool,
        version.as_ref(),
        context,
        request.meta.as_deref(),
    )
}

/// The span of a `tools/list` request (a disabled span with traces off).
pub(super) fn tools_list_span(context: &RequestContext<RoleServer>) -> tracing::Span {
    if !traces_enabled() {
        return tracing::Span::none();
    }
    let version = CallContext::of(context).protocol_version;
    request_span("tools/list", None, version.as_ref(), context, None)
}

/// The span of an `initialize` request (a disabled span with traces off); its protocol
/// version is recorded once negotiated ([`record_initialized`]).
pub(super) fn initialize_span(context: &RequestContext<RoleServer>) -> tracing::Span {
    if !traces_enabled() {
        return tracing::Span::none();
    }
    request_span("initialize", None, None, context, None)
}

/// Records the answer to `initialize` on its span: the version agreed, or the error.
pub(super) fn record_initialized(
    span: &tracing::Span,
    answer: &Result<InitializeResult, ErrorData>,
) {
    if span.is_disabled() {
        return;
    }
    match answer {
        Ok(result) => {
            span.record("mcp.protocol.version", result.protocol_version.as_str());
        }
        Err(e) => {
            span.record("error.type", e.code.0.to_string());
            span.record("otel.status_code", "error");
        }
    }
}

/// A SERVER span for the request `method` (of `tool`, for tools/call).
fn request_span(
    method: &'static str,
    tool: Option<&'static str>,
    version: Option<&ProtocolVersion>,
    context: &RequestContext<RoleServer>,
    params_meta: Option<&MetaObject>,
) -> tracing::Span {
    let name = match tool {
        Some(tool) => tool_call_name(tool),
        None => method,
    };
    let http = context.extensions.get::<axum::http::request::Parts>();
    let over_http = http.is_some();
    let span = tracing::info_span!(
        target: TRACE_TARGET,
        "mcp",
        otel.name = name,
        otel.kind = "server",
        mcp.method.name = method,
        gen_ai.tool.name = tool,
        gen_ai.operation.name = tool.map(|_| "execute_tool"),
        mcp.protocol.version = version.map(|v| v.as_str()),
        jsonrpc.request.id = %context.id,
        network.transport = if over_http { "tcp" } else { "pipe" },
        network.protocol.name = over_http.then_some("http"),
        "error.type" = Empty,
        "rpc.response.status_code" = Empty,
        "better_auth_mcp.error.code" = Empty,
        otel.status_code = Empty,
    );
    // The request's `_meta` first (the MCP conventions' carrier), else over HTTP the
    // request's own `traceparent` header (an instrumented HTTP client's).
    let meta = [Some(&*context.meta), params_meta];
    let parent = meta
        .into_iter()
        .flatten()
        .find_map(client_context)
        .or_else(|| http.and_then(|parts| header_context(&parts.headers)));
    if let Some(parent) = parent {
        let _ = span.set_parent(parent);
    }
    span
}

/// The trace context of an HTTP request's `traceparent` (and `tracestate`) headers, if a
/// valid one.
fn header_context(headers: &axum::http::HeaderMap) -> Option<opentelemetry::Context> {
    headers.get("traceparent")?;
    let parent = TraceContextPropagator::new().extract(&HeaderCarrier(headers));
    parent.span().span_context().is_valid().then_some(parent)
}

/// HTTP headers read as a W3C trace context carrier.
struct HeaderCarrier<'a>(&'a axum::http::HeaderMap);

impl Extractor for HeaderCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The span name of a call of `tool` (a registered name): `tools/call {tool}`, made once
/// per tool rather than once per call.
fn tool_call_name(tool: &'static str) -> &'static str {
    static NAMES: OnceLock<Vec<(&'static str, &'static str)>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        all_tools()
            .map(|t| (t, &*format!("{TOOLS_CALL} {t}").leak()))
            .collect()
    });
    names
        .iter()
        .find(|(t, _)| *t == tool)
        .map_or(TOOLS_CALL, |(_, name)| name)
}

/// The trace context the client sent in `_meta`, if a valid one.
fn client_context(meta: &MetaObject) -> Option<opentelemetry::Context> {
    meta.get_traceparent()?;
    let parent = TraceContextPropagator::new().extract(&MetaCarrier(meta));
    parent.span().span_context().is_valid().then_some(parent)
}

/// `_meta` read as a W3C trace context carrier: its string values by key.
struct MetaCarrier<'a>(&'a MetaObject);

impl Extractor for MetaCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Runs `call` in `span`, recording its failure (`error.type`, status error). The code
/// noted for the answer is passed on to the metrics' record of the same call.
pub(super) async fn traced_call(
    span: tracing::Span,
    call: impl Future<Output = Result<CallToolResponse, ErrorData>>,
) -> Result<CallToolResponse, ErrorData> {
    if span.is_disabled() {
        return call.await;
    }
    let (code, answer) = metrics::answer_noting_code(call)
        .instrument(span.clone())
        .await;
    if let Some(code) = code {
        metrics::note_code(code);
    }
    match failure(&answer, code) {
        None => {}
        Some(Failure::Tool(code)) => {
            span.record("error.type", TOOL_ERROR);
            span.record("better_auth_mcp.error.code", code);
            span.record("otel.status_code", "error");
        }
        Some(Failure::JsonRpc(code)) => {
            let text = code.to_string();
            span.record("error.type", &*text);
            span.record("rpc.response.status_code", &*text);
            if !CLIENT_MISTAKES.contains(&code) {
                span.record("otel.status_code", "error");
            }
        }
    }
    answer
}

/// The semantic conventions' `error.type` of a tool call answered with `isError`.
const TOOL_ERROR: &str = "tool_error";
/// JSON-RPC codes a server's span does not count as its error (the conventions: parse
/// error, invalid request, method not found, invalid params, resource not found).
const CLIENT_MISTAKES: [i32; 5] = [-32700, -32600, -32601, -32602, -32002];

/// How an answer failed.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// A tool error, with its contract code (the metrics' outcome: `unclassified` when
    /// none was noted): `error.type` is `tool_error`, the code `better_auth_mcp.error.code`.
    Tool(&'static str),
    /// A JSON-RPC error: its code is `error.type` and `rpc.response.status_code`.
    JsonRpc(i32),
}

fn failure(
    answer: &Result<CallToolResponse, ErrorData>,
    code: Option<&'static str>,
) -> Option<Failure> {
    match answer {
        Err(e) => Some(Failure::JsonRpc(e.code.0)),
        Ok(CallToolResponse::Complete(result)) if result.is_error == Some(true) => {
            Some(Failure::Tool(code.unwrap_or(metrics::UNCLASSIFIED)))
        }
        Ok(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{CallToolResult, ContentBlock};

    #[test]
    fn a_failure_is_a_tool_error_with_its_contract_code_or_a_jsonrpc_code_never_text() {
        let ok: Result<CallToolResponse, ErrorData> =
            Ok(CallToolResult::success(vec![ContentBlock::text("{}")]).into());
        assert_eq!(failure(&ok, None), None);
        let failed: Result<CallToolResponse, ErrorData> =
            Ok(CallToolResult::error(vec![ContentBlock::text(
                "INVALID_EMAIL_OR_PASSWORD: ada@example.com",
            )])
            .into());
        assert_eq!(
            failure(&failed, Some("INVALID_EMAIL_OR_PASSWORD")),
            Some(Failure::Tool("INVALID_EMAIL_OR_PASSWORD"))
        );
        assert_eq!(
            failure(&failed, None),
            Some(Failure::Tool(metrics::UNCLASSIFIED))
        );
        let refused = Err(ErrorData::invalid_params(
            "tool sign_in_as_root not found",
            None,
        ));
        assert_eq!(failure(&refused, None), Some(Failure::JsonRpc(-32602)));
        assert!(CLIENT_MISTAKES.contains(&-32602));
    }

    #[test]
    fn a_tool_calls_span_name_is_made_once_per_registered_tool() {
        for tool in all_tools() {
            let name = tool_call_name(tool);
            assert_eq!(name, format!("tools/call {tool}"));
            assert!(std::ptr::eq(name, tool_call_name(tool)));
        }
        assert_eq!(tool_call_name("sign_in_as_root"), "tools/call");
    }

    #[test]
    fn the_client_context_is_read_from_meta_and_a_malformed_one_is_ignored() {
        let mut meta = MetaObject::default();
        meta.set_traceparent("00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01");
        let parent = client_context(&meta).expect("a valid traceparent");
        let span = parent.span();
        let sc = span.span_context();
        assert_eq!(
            sc.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.is_remote() && sc.is_sampled());
        let mut bad = MetaObject::default();
        bad.set_traceparent("00-not-a-trace-01");
        assert!(client_context(&bad).is_none());
        assert!(client_context(&MetaObject::default()).is_none());
    }

    #[test]
    fn the_http_headers_context_is_read_and_a_malformed_or_non_text_one_is_ignored() {
        use axum::http::{HeaderMap, HeaderValue};
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"),
        );
        headers.insert("tracestate", HeaderValue::from_static("vendor=opaque"));
        let parent = header_context(&headers).expect("a valid traceparent");
        let span = parent.span();
        let sc = span.span_context();
        assert_eq!(
            sc.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(sc.trace_state().get("vendor"), Some("opaque"));
        for bad in [
            HeaderValue::from_static("00-not-a-trace-01"),
            HeaderValue::from_static("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            HeaderValue::from_bytes(b"00-0af7651916cd43dd8448eb211c80319c-\xff\xfe-01").unwrap(),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("traceparent", bad);
            assert!(header_context(&headers).is_none());
        }
        assert!(header_context(&HeaderMap::new()).is_none());
    }
}
