//! Integration tests: the real binary over stdio and Streamable HTTP against a real
//! PostgreSQL (TLS + SCRAM) and SQLite, beside a real Better Auth app; the stores on both
//! backends; the official MCP clients' view; the load generator's smoke runs. Every helper
//! is in support/ (which mounts the load generator's shared modules); no test file
//! imports from another.

mod support;

mod admin;
mod api_keys;
mod audit;
mod bench_smoke;
mod browser_sign_in;
mod cli;
mod e2e;
mod faults;
mod http;
mod inspector;
mod interop;
mod jwks_url;
mod library;
mod metrics;
mod organizations;
mod packaging;
mod postgres_connection;
mod properties;
mod schemas;
mod store;
mod traces;
mod wire;
