//! The fast path of verify_token: an access-token check answered by the stdio guard
//! itself, without rmcp's per-request machinery (a task, a cancellation token, two
//! serde passes through buffered untagged enums, four task hand-offs), which costs about
//! 20 times the check. The answer is the one rmcp would write, byte for byte (the
//! fast_path integration test compares them); every request this path does not
//! recognise exactly goes to rmcp unchanged, so the protocol stays rmcp's.
//!
//! Taken only when all of these hold, else the line goes to rmcp:
//! - the client has completed the `initialize` handshake (`initialize`, then
//!   `notifications/initialized`), so the session speaks a protocol version with that
//!   handshake and rmcp would answer in its legacy shape;
//! - verify_token is offered (`--tools`, `--read-only`);
//! - the request is exactly `{jsonrpc, id, method: "tools/call", params: {name:
//!   "verify_token", arguments: {token}}}`: no `_meta`, no task, no other member;
//! - the credential is an access token issued here, which needs no database read.

use std::sync::Arc;

use rmcp::Json;
use rmcp::model::{JsonRpcVersion2_0, RequestId};
use serde::Deserialize;

use super::types::VerifyResult;
use super::{strip_bearer, verify_answer};
use crate::better_auth::AuthService;

/// Longer lines (a token far longer than any access token) go to rmcp.
const MAX_FAST_LINE: usize = 16 * 1024;

/// Where the handshake is, as seen from the lines the client sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handshake {
    Waiting,
    Initializing,
    Ready,
}

/// The guard's view of the session, and the fast answer to verify_token.
pub struct FastPath {
    auth: Arc<AuthService>,
    handshake: Handshake,
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

/// The arguments of verify_token, as `TokenArgs` takes them (a token that needs JSON
/// unescaping is borrowed no more, and goes the same way).
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
    /// The fast path for `auth`, or `None` when verify_token is not offered.
    pub fn new(auth: Arc<AuthService>, verify_token_offered: bool) -> Option<Self> {
        verify_token_offered.then_some(Self {
            auth,
            handshake: Handshake::Waiting,
        })
    }

    /// The answer to `line` (one JSON message from the client), or `None` to hand the
    /// line to rmcp.
    pub fn answer(&mut self, line: &[u8]) -> Option<Vec<u8>> {
        match self.handshake {
            Handshake::Ready => self.verify_token(line),
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

    fn verify_token(&self, line: &[u8]) -> Option<Vec<u8>> {
        if line.len() > MAX_FAST_LINE || !contains(line, b"verify_token") {
            return None;
        }
        let call: Call<'_> = serde_json::from_slice(line).ok()?;
        if call.method != "tools/call" || call.params.name != "verify_token" {
            return None;
        }
        let verified = self
            .auth
            .verify_stateless(strip_bearer(&call.params.arguments.token))?;
        // A tool error (none is expected for an access token) is left to rmcp to answer.
        let Json(result) = verify_answer(verified).ok()?;
        structured_answer(&call.id, &result)
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
