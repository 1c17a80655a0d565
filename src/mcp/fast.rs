//! The fast path of the two calls an agent makes all the time, verify_token and
//! get_user: the stdio guard answers them itself, without rmcp's per-request machinery
//! (a task, a cancellation token, two serde passes through buffered untagged enums, four
//! task hand-offs), which costs about 20 times an access-token check. The answers are the
//! ones rmcp would write, byte for byte (the fast_path integration test compares them);
//! every request this path does not recognise exactly goes to rmcp unchanged, so the
//! protocol stays rmcp's.
//!
//! Taken only when all of these hold, else the line goes to rmcp:
//! - the client has completed the `initialize` handshake (`initialize`, then
//!   `notifications/initialized`), so the session speaks a protocol version with that
//!   handshake and rmcp would answer in its legacy shape;
//! - the tool is offered (`--tools`, `--read-only`);
//! - the request is exactly `{jsonrpc, id, method: "tools/call", params: {name, arguments:
//!   {token}}}`: no `_meta`, no task, no other member;
//! - for verify_token, the credential is an access token issued here (no database read:
//!   answered at once); get_user reads the store and is answered when the read is done.
//!
//! Unlike rmcp, the guard does not act on `notifications/cancelled` for a get_user in
//! flight: its answer (one read) is sent anyway, which JSON-RPC clients ignore.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rmcp::Json;
use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{
    CallToolResponse, JsonRpcVersion2_0, RequestId, ServerJsonRpcMessage, ServerResult,
};
use serde::Deserialize;

use super::types::VerifyResult;
use super::{get_user_answer, strip_bearer, verify_answer};
use crate::better_auth::AuthService;

/// A fast answer: ready now, or once a store read is done.
pub enum Fast {
    Now(Vec<u8>),
    Later(Pin<Box<dyn Future<Output = Vec<u8>> + Send>>),
}

/// Longer lines (a token far longer than any access token) go to rmcp.
const MAX_FAST_LINE: usize = 16 * 1024;

/// Where the handshake is, as seen from the lines the client sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handshake {
    Waiting,
    Initializing,
    Ready,
}

/// The guard's view of the session, and the fast answers.
pub struct FastPath {
    auth: Arc<AuthService>,
    handshake: Handshake,
    verify_token: bool,
    get_user: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Call<'a> {
    #[allow(dead_code)]
    jsonrpc: JsonRpcVersion2_0,
    id: RequestId,
    #[serde(borrow)]
    method: &'a str,
    #[serde(borrow)]
    params: CallParams<'a>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallParams<'a> {
    #[serde(borrow)]
    name: &'a str,
    #[serde(borrow)]
    arguments: TokenArgument<'a>,
}

/// The arguments of verify_token and get_user, as `TokenArgs` takes them (a token that
/// needs JSON unescaping is borrowed no more, and goes the same way).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenArgument<'a> {
    #[serde(borrow)]
    token: std::borrow::Cow<'a, str>,
}

/// A message's `method` and whether it has an `id`, for following the handshake.
#[derive(Deserialize)]
struct Method<'a> {
    #[serde(borrow)]
    method: Option<&'a str>,
    id: Option<serde::de::IgnoredAny>,
}

impl FastPath {
    /// The fast path for `auth` and the offered tools, or `None` when neither
    /// verify_token nor get_user is offered.
    pub fn new(auth: Arc<AuthService>, verify_token: bool, get_user: bool) -> Option<Self> {
        (verify_token || get_user).then_some(Self {
            auth,
            handshake: Handshake::Waiting,
            verify_token,
            get_user,
        })
    }

    /// The answer to `line` (one JSON message from the client), or `None` to hand the
    /// line to rmcp.
    pub fn answer(&mut self, line: &[u8]) -> Option<Fast> {
        match self.handshake {
            Handshake::Ready => self.call(line),
            Handshake::Waiting => {
                if method_of(line, b"\"initialize\"") == Some((true, "initialize")) {
                    self.handshake = Handshake::Initializing;
                }
                None
            }
            Handshake::Initializing => {
                if method_of(line, b"notifications/initialized")
                    == Some((false, "notifications/initialized"))
                {
                    self.handshake = Handshake::Ready;
                }
                None
            }
        }
    }

    fn call(&self, line: &[u8]) -> Option<Fast> {
        if line.len() > MAX_FAST_LINE
            || !((self.verify_token && contains(line, b"verify_token"))
                || (self.get_user && contains(line, b"get_user")))
        {
            return None;
        }
        let call: Call<'_> = serde_json::from_slice(line).ok()?;
        if call.method != "tools/call" {
            return None;
        }
        match call.params.name {
            "verify_token" if self.verify_token => {
                let verified = self
                    .auth
                    .verify_stateless(strip_bearer(&call.params.arguments.token))?;
                // A tool error (none is expected for an access token) is left to rmcp.
                let Json(result) = verify_answer(verified).ok()?;
                structured_answer(&call.id, &result).map(Fast::Now)
            }
            "get_user" if self.get_user => {
                let auth = self.auth.clone();
                let token = call.params.arguments.token.into_owned();
                let id = call.id;
                Some(Fast::Later(Box::pin(async move {
                    rmcp_answer(id, get_user_answer(&auth, &token).await)
                })))
            }
            _ => None,
        }
    }
}

/// rmcp's answer to a tools/call whose tool returned `result` (a structured result),
/// written directly: `{"jsonrpc":"2.0","id":…,"result":{"content":[{"type":"text","text":
/// <result as a JSON string>}],"structuredContent":<result>,"isError":false}}`. rmcp
/// writes `result` through `serde_json::Value`, whose keys come out sorted; `VerifyResult`
/// declares its fields in that order, so writing it directly gives the same bytes (the
/// fast_path test compares the two).
fn structured_answer(id: &RequestId, result: &VerifyResult) -> Option<Vec<u8>> {
    let body = serde_json::to_string(result).ok()?;
    let mut out = Vec::with_capacity(2 * body.len() + 128);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    serde_json::to_writer(&mut out, id).ok()?;
    out.extend_from_slice(br#","result":{"content":[{"type":"text","text":"#);
    serde_json::to_writer(&mut out, &body).ok()?;
    out.extend_from_slice(br#"}],"structuredContent":"#);
    out.extend_from_slice(body.as_bytes());
    out.extend_from_slice(br#","isError":false}}"#);
    Some(out)
}

/// rmcp's answer to a tools/call whose tool returned `returned`, built with rmcp's own
/// types as its tool router and handler build it.
fn rmcp_answer(id: RequestId, returned: impl IntoCallToolResult) -> Vec<u8> {
    let message = match returned.into_call_tool_result() {
        Ok(CallToolResponse::Complete(result)) => {
            let mut result = ServerResult::CallToolResult(result);
            // What rmcp's handler does for a peer that negotiated a version before 2026-07-28.
            result.strip_result_type_for_legacy_peer();
            result.strip_non_object_output_for_legacy_peer();
            ServerJsonRpcMessage::response(result, id)
        }
        Ok(_) => ServerJsonRpcMessage::error(
            rmcp::ErrorData::internal_error("unexpected tool result", None),
            Some(id),
        ),
        Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
    };
    serde_json::to_vec(&message).unwrap_or_else(|_| {
        br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Internal error"}}"#
            .to_vec()
    })
}

/// `(has an id, method)` of `line` when it mentions `needle` and is a JSON-RPC message.
fn method_of<'a>(line: &'a [u8], needle: &[u8]) -> Option<(bool, &'a str)> {
    if !contains(line, needle) {
        return None;
    }
    let m: Method<'a> = serde_json::from_slice(line).ok()?;
    Some((m.id.is_some(), m.method?))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}
