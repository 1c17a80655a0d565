//! The MCP Inspector CLI's view of the built binary: the tools listed, sign_up and
//! verify_token called successfully (its Ajv checks structuredContent against outputSchema).

use std::process::Command;

use serde_json::Value;

use crate::support::server::{BIN, SECRET, TOOL_NAMES};
use crate::support::system::{Need, require};
use crate::support::tempdir;

const INSPECTOR: &str = "@modelcontextprotocol/inspector@2.12.0";

/// The Inspector CLI run on the binary (embedded store `db`) with `args`.
fn run_inspector(db: &str, args: &[&str]) -> std::process::Output {
    require(&[Need::Node]);
    Command::new("npx")
        .args(["-y", INSPECTOR, "--cli", BIN])
        .args(["-e", &format!("DATABASE_URL=sqlite://{db}")])
        .args(["-e", &format!("BETTER_AUTH_SECRET={SECRET}")])
        .args(["-e", "RUST_LOG=warn"])
        .args(args)
        .output()
        .expect("npx runs (install Node.js and npm)")
}

fn inspector(db: &str, args: &[&str]) -> Value {
    let out = run_inspector(db, args);
    assert!(
        out.status.success(),
        "inspector {args:?} failed ({:?}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn the_inspector_lists_the_tools_and_calls_sign_up_and_verify_token() {
    let home = tempdir();
    let db = home.path().join("inspector.db").display().to_string();

    let listed = inspector(&db, &["--method", "tools/list"]);
    let tools = listed["tools"].as_array().expect("tools array");
    let mut names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, TOOL_NAMES);
    for t in tools {
        assert!(t["outputSchema"].is_object(), "{t}");
        assert!(t["title"].is_string(), "{t}");
        assert!(t["annotations"].is_object(), "{t}");
    }

    let up = inspector(
        &db,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "sign_up",
            "--tool-args-json",
            r#"{"email":"inspector@example.com","password":"12345678"}"#,
            "--format",
            "json",
        ],
    );
    let up = result_of(&up);
    let token = up["structuredContent"]["token"].as_str().expect("token");

    let v = inspector(
        &db,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "verify_token",
            "--tool-args-json",
            &format!(r#"{{"token":"{token}"}}"#),
            "--format",
            "json",
        ],
    );
    let v = result_of(&v);
    assert_eq!(v["structuredContent"]["valid"], true, "{v}");
    assert_eq!(
        v["structuredContent"]["claims"]["email"],
        "inspector@example.com"
    );
}

/// `--strict` reports every schema portability problem and exits 6 on an error-severity
/// one (a bare `true` schema was one): every input and output schema passes it with no
/// problem at all (nullable fields are `anyOf`, not a `type` list, which it warns of).
#[test]
fn every_tool_schema_passes_the_inspectors_strict_portability_check() {
    let home = tempdir();
    let db = home.path().join("strict.db").display().to_string();
    // Every toolset's tools.
    let out = run_inspector(
        &db,
        &[
            "-e",
            "BETTER_AUTH_MCP_TOOLSETS=auth,api_keys,organizations",
            "--method",
            "tools/list",
            "--strict",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "--strict failed ({:?}): {stderr}",
        out.status
    );
    assert!(
        !stderr.contains("Error: tool") && !stderr.contains("Warning: tool"),
        "{stderr}"
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("\"anyOf\""), "nullable fields: {listed}");
    assert!(listed.contains("\"create_api_key\""), "{listed}");
}

/// `--format json` wraps the result as `{"result": ...}`.
fn result_of(v: &Value) -> &Value {
    let r = v.get("result").unwrap_or(v);
    assert_ne!(r["isError"], true, "{r}");
    r
}
