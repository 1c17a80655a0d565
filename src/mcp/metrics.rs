//! What the MCP layer counts, through the `metrics` facade: every tool call (in
//! [`record_call`], on the one path all transports share), verifications and rate limits
//! where their outcome is answered. Every label value is one of a fixed set: a tool's
//! registered name or `unknown`, a contract code, a credential kind, a rejection reason;
//! never an argument of the caller. Nothing is measured until [`enable`] (the exporter
//! installed), so a server without `--metrics-addr` pays one atomic load per call.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::LocalKey;
use std::time::Instant;

use rmcp::ErrorData;
use rmcp::model::CallToolResponse;

use super::selection::all_tools;
use crate::better_auth::credentials::shape_of;
use crate::better_auth::{AuthError, CredentialKind, TokenRejection};

pub const TOOL_CALLS: &str = "mcp_tool_calls_total";
pub const TOOL_CALL_DURATION: &str = "mcp_tool_call_duration_seconds";
pub const VERIFICATIONS: &str = "auth_verifications_total";
pub const RATE_LIMITED: &str = "auth_rate_limited_total";

/// The `outcome` of a call answered with a JSON-RPC error (an unknown or unoffered tool).
pub const JSONRPC_ERROR: &str = "jsonrpc_error";
/// The `outcome` of a call the client cancelled (`notifications/cancelled`) or whose
/// transport ended before its answer: rmcp lets the call run to its end and drops the
/// answer.
pub const CANCELLED: &str = "cancelled";
/// The `outcome` of a tool error that noted no code (a tool answering without
/// `tool_error` or `invalid_arguments`: a bug here, counted apart rather than guessed).
pub const UNCLASSIFIED: &str = "unclassified";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns measuring on, once a recorder is installed.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether calls are measured.
pub(super) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

tokio::task_local! {
    /// The contract code the call being recorded answered with, noted where the answer is
    /// made ([`note_code`]), so that no answer's text is read back.
    static CODE: Cell<Option<&'static str>>;
}

/// Notes the code a tool's error answer carries, for the call being recorded.
pub(super) fn note_code(code: &'static str) {
    let _ = CODE.try_with(|c| c.set(Some(code)));
}

/// The `tool` label: a name this server registers, else `unknown` (a caller may send any
/// name).
pub fn tool_label(name: &str) -> &'static str {
    all_tools().find(|t| *t == name).unwrap_or("unknown")
}

/// Runs `call`, the answer to a tools/call of `tool` (a [`tool_label`]; None when not
/// measuring), counting it and timing it; `cancelled` is the request's token (a call
/// answered after it was cancelled is counted [`CANCELLED`]).
pub(super) async fn record_call(
    tool: Option<&'static str>,
    cancelled: &tokio_util::sync::CancellationToken,
    call: impl Future<Output = Result<CallToolResponse, ErrorData>>,
) -> Result<CallToolResponse, ErrorData> {
    let Some(tool) = tool else {
        return call.await;
    };
    let mut record = CallRecord {
        tool,
        started: Instant::now(),
        outcome: None,
    };
    let (code, answer) = answer_noting_code(call).await;
    record.outcome = Some(if cancelled.is_cancelled() {
        CANCELLED
    } else {
        outcome(&answer, code)
    });
    answer
}

/// Runs `call`, returning with its answer the code noted for it ([`note_code`]).
pub(super) async fn answer_noting_code<T>(
    call: impl Future<Output = T>,
) -> (Option<&'static str>, T) {
    CODE.scope(Cell::new(None), async {
        let answer = call.await;
        (CODE.with(Cell::get), answer)
    })
    .await
}

/// The `outcome` label of an answer: `ok`, the contract code of a tool error, or
/// [`JSONRPC_ERROR`].
fn outcome(
    answer: &Result<CallToolResponse, ErrorData>,
    code: Option<&'static str>,
) -> &'static str {
    match answer {
        Err(_) => JSONRPC_ERROR,
        Ok(CallToolResponse::Complete(result)) if result.is_error == Some(true) => {
            code.unwrap_or(UNCLASSIFIED)
        }
        Ok(_) => "ok",
    }
}

/// One call, counted when dropped: also when its future is dropped unanswered or unwinds
/// from a panic (rmcp's task for the request then ends with no answer sent).
struct CallRecord {
    tool: &'static str,
    started: Instant,
    outcome: Option<&'static str>,
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        let outcome = self.outcome.unwrap_or(if std::thread::panicking() {
            "INTERNAL_ERROR"
        } else {
            CANCELLED
        });
        let elapsed = self.started.elapsed().as_secs_f64();
        with_handle(
            &CALLS,
            [self.tool, outcome],
            |[tool, outcome]| metrics::counter!(TOOL_CALLS, "tool" => tool, "outcome" => outcome),
            |calls| calls.increment(1),
        );
        with_handle(
            &DURATIONS,
            [self.tool],
            |[tool]| metrics::histogram!(TOOL_CALL_DURATION, "tool" => tool),
            |durations| durations.record(elapsed),
        );
    }
}

/// Counts a check of `credential`: `valid`, the rejection's reason, or `error` for any
/// other failure (the database, say). A key over its own rate limit is counted as
/// rate limited too.
pub(super) fn verification(credential: &str, verified: Result<CredentialKind, &AuthError>) {
    if !enabled() {
        return;
    }
    let kind = match verified {
        Ok(kind) => kind,
        Err(_) => shape_of(credential.trim()).kind(),
    };
    count_verification(kind, verified.map(|_| ()));
}

/// Counts the HTTP bearer check of `credential` as a verification of the kind its shape
/// names.
pub(super) fn authorization(credential: &str, authorized: Result<(), &AuthError>) {
    if enabled() {
        count_verification(shape_of(credential.trim()).kind(), authorized);
    }
}

fn count_verification(kind: CredentialKind, verified: Result<(), &AuthError>) {
    let result = match verified {
        Ok(()) => "valid",
        Err(AuthError::InvalidToken(reason)) => reason.as_str(),
        Err(_) => "error",
    };
    with_handle(
        &VERIFIED,
        [kind.as_str(), result],
        |[kind, result]| metrics::counter!(VERIFICATIONS, "kind" => kind, "result" => result),
        |verified| verified.increment(1),
    );
    if let Err(AuthError::InvalidToken(TokenRejection::KeyRateLimited)) = verified {
        rate_limited("api_key");
    }
}

/// Counts a refusal for a limit, if `e` is one: the `bucket` is the limit's scope,
/// `password_checks` for too many hashes at once, `api_key` for a key's own limit.
pub(super) fn rate_limit_of(e: &AuthError) {
    match e {
        AuthError::RateLimited { scope, .. } => rate_limited(scope.as_str()),
        AuthError::Busy => rate_limited("password_checks"),
        AuthError::InvalidToken(TokenRejection::KeyRateLimited) => rate_limited("api_key"),
        _ => {}
    }
}

fn rate_limited(bucket: &'static str) {
    if enabled() {
        with_handle(
            &LIMITED,
            [bucket],
            |[bucket]| metrics::counter!(RATE_LIMITED, "bucket" => bucket),
            |limited| limited.increment(1),
        );
    }
}

/// A call site's series handles, by their label values: each value is a `&'static str`
/// of a fixed set, so its address and length name it (the same text at another address
/// only gets a second handle to the same series).
type Handles<H, const N: usize> = RefCell<HashMap<[(usize, usize); N], H>>;

thread_local! {
    static CALLS: Handles<metrics::Counter, 2> = RefCell::default();
    static DURATIONS: Handles<metrics::Histogram, 1> = RefCell::default();
    static VERIFIED: Handles<metrics::Counter, 2> = RefCell::default();
    static LIMITED: Handles<metrics::Counter, 1> = RefCell::default();
}

/// Records (`record`) on the handle of the series `labels` name at a call site (`site`),
/// registered by `register` (a `metrics` macro) the first time this thread records it:
/// later records are a lookup here and one atomic operation, where the macros build the
/// labels and look the series up in the recorder's registry every time. A series still
/// appears only once recorded.
fn with_handle<H, const N: usize>(
    site: &'static LocalKey<Handles<H, N>>,
    labels: [&'static str; N],
    register: impl FnOnce([&'static str; N]) -> H,
    record: impl FnOnce(&H),
) {
    let key = labels.map(|l| (l.as_ptr() as usize, l.len()));
    let mut calls = Some((register, record));
    let _ = site.try_with(|handles| {
        let (register, record) = calls.take().expect("called once");
        let mut handles = handles.borrow_mut();
        record(handles.entry(key).or_insert_with(|| register(labels)));
    });
    // The thread is ending (its handles are gone): the series through the registry.
    if let Some((register, record)) = calls {
        record(&register(labels));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{CallToolResult, ContentBlock};

    #[test]
    fn a_tool_label_is_a_registered_name_or_unknown() {
        for name in all_tools() {
            assert_eq!(tool_label(name), name);
        }
        for sent in [
            "",
            "SIGN_UP",
            "sign_up ",
            "ada@example.com",
            "eyJhbGciOi.x.y",
        ] {
            assert_eq!(tool_label(sent), "unknown", "{sent:?}");
        }
    }

    #[test]
    fn an_outcome_is_ok_a_noted_code_or_a_jsonrpc_error() {
        let ok: Result<CallToolResponse, ErrorData> =
            Ok(CallToolResult::success(vec![ContentBlock::text("{}")]).into());
        assert_eq!(outcome(&ok, None), "ok");
        let failed: Result<CallToolResponse, ErrorData> =
            Ok(CallToolResult::error(vec![ContentBlock::text("INVALID_EMAIL: x")]).into());
        assert_eq!(outcome(&failed, Some("INVALID_EMAIL")), "INVALID_EMAIL");
        assert_eq!(outcome(&failed, None), UNCLASSIFIED);
        let refused = Err(ErrorData::invalid_params("tool not found", None));
        assert_eq!(outcome(&refused, None), JSONRPC_ERROR);
    }

    #[tokio::test]
    async fn a_code_noted_inside_a_recorded_call_is_its_own() {
        let noted = CODE
            .scope(Cell::new(None), async {
                note_code("RATE_LIMITED");
                CODE.with(Cell::get)
            })
            .await;
        assert_eq!(noted, Some("RATE_LIMITED"));
        // Outside a recorded call, noting does nothing (and does not panic).
        note_code("INTERNAL_ERROR");
    }
}
