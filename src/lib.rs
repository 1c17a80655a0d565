//! better-auth-mcp: the auth tools of a Better Auth deployment as an MCP server, over stdio
//! or Streamable HTTP.
//!
//! One direction of dependency: [`mcp`] (tools, transports) → [`better_auth`] (the domain,
//! owning its types and the ports it needs) ← [`store`] (PostgreSQL, SQLite), wired by
//! [`startup`] from the [`config`]; [`exporter`] serves what [`mcp::metrics`] counts.

pub mod better_auth;
pub mod config;
pub mod entropy;
pub mod exporter;
pub mod jwks_url;
pub mod mcp;
pub mod startup;
pub mod store;
pub mod telemetry;
