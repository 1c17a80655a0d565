//! better-auth-mcp: the auth tools of a Better Auth deployment as an MCP server over stdio.
//!
//! Layers, one direction: [`mcp`] (tools) → [`better_auth`] (domain) → [`store`] (SQL).

pub mod better_auth;
pub mod config;
pub mod entropy;
pub mod jwks_url;
pub mod mcp;
pub mod startup;
pub mod store;
pub mod telemetry;
