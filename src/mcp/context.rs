//! What a tool call knows of who made it, whatever the transport carried it: a transport
//! records a [`CallContext`] where rmcp hands it to the tools (HTTP: in the request's
//! extensions; stdio has nothing to add), and the tools read it from here alone.

use std::net::IpAddr;

use rmcp::RoleServer;
use rmcp::model::ProtocolVersion;
use rmcp::service::RequestContext;

use crate::better_auth::AccessClaims;

/// The caller of one tool call.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    /// The client's address (over HTTP: the peer, or what a trusted proxy says).
    pub client: Option<IpAddr>,
    /// Who an authorized caller is, as its bearer token says (HTTP with --require-auth).
    pub caller: Option<AccessClaims>,
    /// The MCP protocol version the client speaks, when it said.
    pub protocol_version: Option<ProtocolVersion>,
}

impl CallContext {
    /// The context of the call `request` belongs to: what its transport recorded (rmcp
    /// hands the tools an HTTP request's parts), and the protocol version rmcp knows.
    pub fn of(request: &RequestContext<RoleServer>) -> Self {
        let recorded = request
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<CallContext>())
            .cloned()
            .unwrap_or_default();
        Self {
            protocol_version: recorded
                .protocol_version
                .or_else(|| request.protocol_version()),
            ..recorded
        }
    }
}
