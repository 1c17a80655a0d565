//! The official MCP Python SDK (tests/python/requirements.txt) in a virtual environment of
//! its own under target/, made on first use, and the client script that drives the server
//! with it (tests/python/client.py).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

fn python_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python")
}

/// The virtual environment's python, with the pinned SDK installed.
fn python() -> &'static PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        super::system::require(&[super::system::Need::Python]);
        let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/python-venv");
        let python = venv.join("bin/python");
        let requirements = python_dir().join("requirements.txt");
        let wanted = std::fs::read_to_string(&requirements).unwrap();
        let stamp = venv.join("installed-requirements.txt");
        if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
            return python;
        }
        let run = |cmd: &mut Command, what: &str| {
            let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(
                out.status.success(),
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(
            Command::new("python3")
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
            "python3 -m venv",
        );
        run(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    "-r",
                ])
                .arg(&requirements),
            "pip install -r tests/python/requirements.txt",
        );
        std::fs::write(&stamp, wanted).unwrap();
        python
    })
}

/// Runs tests/python/client.py against `url` in `mode` ("legacy" or a modern protocol
/// version) and returns what it printed.
pub async fn client(url: &str, mode: &str, email: &str) -> Value {
    let python = python().clone();
    let out = tokio::process::Command::new(python)
        .arg(python_dir().join("client.py"))
        .args([url, mode, email])
        .output()
        .await
        .expect("the Python client runs");
    super::last_json_line(&out, "the Python SDK client")
}

/// Runs tests/python/`script` with `args` and returns what it printed last (JSON).
pub async fn script(script: &str, args: &[&str]) -> Value {
    let python = python().clone();
    let out = tokio::process::Command::new(python)
        .arg(python_dir().join(script))
        .args(args)
        .output()
        .await
        .expect("the Python script runs");
    super::last_json_line(&out, &format!("the Python SDK script {script}"))
}

/// The virtual environment's bin directory (its python and pip).
pub fn venv_bin() -> PathBuf {
    python().parent().unwrap().to_owned()
}
