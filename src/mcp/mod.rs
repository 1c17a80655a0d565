//! The MCP face of the server: the tools ([`server`]) over rmcp, their arguments and
//! results ([`args`], [`types`], and per toolset: [`browser_sign_in`], [`api_keys`], [`organizations`], [`admin`]; their
//! schemas made portable by [`schema`]), how
//! their failures are answered (answers.rs), which are offered (selection.rs), what a call
//! knows of its caller ([`context`]), what is counted of the calls ([`metrics`]) and
//! traced (traces.rs), and the transports ([`stdio`], [`http`]), which
//! reach the tools only through rmcp's router.

pub mod admin;
mod answers;
pub mod api_keys;
pub mod args;
pub mod browser_sign_in;
pub mod context;
pub mod http;
pub mod metrics;
pub mod organizations;
pub mod schema;
mod selection;
pub mod server;
pub mod stdio;
mod traces;
pub mod types;

pub(crate) use answers::log_failure;
pub use selection::{TOOLSETS, ToolSelection, ToolSelectionError, Toolset, all_tools};
pub use server::AuthServer;
