pub mod backend;
pub mod better_auth_app;
pub mod pg;
pub mod proxy;
pub mod rpc;
pub mod server;
pub mod system;

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("better-auth-mcp-test-")
        .tempdir()
        .expect("temp dir")
}
