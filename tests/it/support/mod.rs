pub mod backend;
pub mod better_auth_app;
pub mod pg;
pub mod proxy;
pub mod python;
pub mod rpc;
pub mod server;
pub mod system;

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("better-auth-mcp-test-")
        .tempdir()
        .expect("temp dir")
}

/// The arguments `base` with `extra`'s added (both JSON objects).
pub fn merged(base: &serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    let mut all = base.clone();
    if let (Some(all), serde_json::Value::Object(extra)) = (all.as_object_mut(), extra) {
        all.extend(extra);
    }
    all
}

/// A one-time code that differs from `code` in every digit.
pub fn other_code(code: &str) -> String {
    code.chars()
        .map(|c| {
            if c == '9' {
                '0'
            } else {
                ((c as u8) + 1) as char
            }
        })
        .collect()
}
