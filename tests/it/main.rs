//! Integration tests: the real binary over stdio against a real PostgreSQL (TLS + SCRAM)
//! and SQLite, the stores on both backends, and the MCP Inspector's view.

mod support;

mod bench_smoke;
mod cli;
mod e2e;
mod faults;
mod http;
mod inspector;
mod interop;
mod jwks_url;
mod library;
mod packaging;
mod postgres_connection;
mod properties;
mod schemas;
mod store;
mod wire;
