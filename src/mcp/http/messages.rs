//! JSON-RPC errors for the bodies rmcp cannot read: a POSTed body that is not JSON, a
//! batch, or JSON that is no JSON-RPC message gets a 400 with an error object, not rmcp's
//! 415.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Answers, as JSON-RPC asks (400 with an error object), a POSTed JSON body rmcp refuses
/// with 415 and its deserializer's text: one that is not JSON (-32700), a batch (-32600;
/// Streamable HTTP has no batches since 2025-06-18), or JSON that is no JSON-RPC message
/// (-32600). The body is read here (413 past the limit) and handed to rmcp, which does
/// every check (Host, Origin, Accept first) and parses it; only its 415 is replaced, from
/// the bytes read.
pub(super) async fn refuse_unreadable_messages(
    axum::extract::State(max_bytes): axum::extract::State<usize>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if request.method() != axum::http::Method::POST || !is_json(request.headers()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match read_body(body, max_bytes).await {
        Ok(bytes) => bytes,
        Err(refusal) => return refusal,
    };
    let answer = next
        .run(axum::extract::Request::from_parts(
            parts,
            Body::from(bytes.clone()),
        ))
        .await;
    if answer.status() != StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return answer;
    }
    let (code, message) = unreadable(&bytes);
    // Not rmcp's text: it can quote the body, arguments and all.
    tracing::debug!(code, "an unreadable JSON-RPC message was refused");
    let answer = serde_json::json!({"jsonrpc": "2.0", "id": readable_id(&bytes),
        "error": {"code": code, "message": message}});
    (StatusCode::BAD_REQUEST, axum::Json(answer)).into_response()
}

/// Whether the request says its body is JSON (else rmcp answers 415 itself, rightly).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// The whole body (axum's limited read), or the answer rmcp gives a body over its limit
/// (413).
async fn read_body(body: Body, max_bytes: usize) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, max_bytes).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|cause| cause.is::<http_body_util::LengthLimitError>());
        if too_large {
            let refusal = format!("Payload Too Large: request body exceeds {max_bytes} bytes");
            return (StatusCode::PAYLOAD_TOO_LARGE, refusal).into_response();
        }
        tracing::debug!("a request body could not be read: {e}");
        (
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        )
            .into_response()
    })
}

/// The JSON-RPC error code and message for a body that is not a JSON-RPC message: not
/// JSON at all (the message's own error may be found first, as in `{"id":1} {"id":2}`), a
/// batch, or any other JSON.
fn unreadable(body: &[u8]) -> (i64, &'static str) {
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
        (-32700, "Parse error: the body is not JSON")
    } else if body.trim_ascii_start().starts_with(b"[") {
        (-32600, "Invalid Request: batches are not supported")
    } else {
        (-32600, "Invalid Request: not a JSON-RPC 2.0 message")
    }
}

/// The `id` of a JSON object that is not a valid message, if it has a valid one (JSON-RPC:
/// null when it cannot be told).
fn readable_id(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("id").cloned())
        .filter(|id| id.is_string() || id.is_i64() || id.is_u64())
        .unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_rmcp_cannot_read_is_a_parse_error_or_an_invalid_request() {
        let code_of = |body: &str| {
            serde_json::from_str::<rmcp::model::ClientJsonRpcMessage>(body).expect_err(body);
            (unreadable(body.as_bytes()).0, readable_id(body.as_bytes()))
        };
        let null = serde_json::Value::Null;
        assert_eq!(code_of("{not json"), (-32700, null.clone()));
        assert_eq!(code_of(""), (-32700, null.clone()));
        assert_eq!(code_of(r#"{"id":1} {"id":2}"#), (-32700, null.clone()));
        assert_eq!(
            code_of(r#" [{"jsonrpc":"2.0","id":1,"method":"ping"}]"#),
            (-32600, null.clone())
        );
        assert_eq!(code_of("5"), (-32600, null.clone()));
        assert_eq!(code_of(r#"{"id":7,"hello":"world"}"#), (-32600, 7.into()));
        assert_eq!(
            code_of(r#"{"id":{"no":1},"hello":"world"}"#),
            (-32600, null)
        );
        serde_json::from_str::<rmcp::model::ClientJsonRpcMessage>(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        )
        .expect("a message goes on to rmcp");
    }
}
