//! What the tests need from the machine, provided when it is missing: PostgreSQL's server
//! binaries and psql, PgBouncer, Node.js with npm and npx, Python with venv, and setpriv
//! (to run the cluster as `nobody` under root). On a Debian or Ubuntu machine they are installed with
//! apt-get when the tests may (as root, or with sudo that asks no password); otherwise the
//! test stops at once, naming the packages to install.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// initdb, postgres and pg_isready (PG_BINDIR, or /usr/lib/postgresql/*/bin).
    PostgresServer,
    Psql,
    PgBouncer,
    /// node, npm and npx.
    Node,
    /// setpriv, to drop root for the cluster.
    Setpriv,
    /// python3 (3.10 or later, as the MCP Python SDK needs) with venv and pip.
    Python,
    /// HAProxy, the load balancer in front of several servers.
    HaProxy,
}

impl Need {
    fn package(self) -> &'static [&'static str] {
        match self {
            Self::PostgresServer => &["postgresql"],
            Self::Psql => &["postgresql-client"],
            Self::PgBouncer => &["pgbouncer"],
            Self::Node => &["nodejs", "npm"],
            Self::Setpriv => &["util-linux"],
            Self::Python => &["python3", "python3-venv"],
            Self::HaProxy => &["haproxy"],
        }
    }

    fn present(self) -> bool {
        match self {
            Self::PostgresServer => postgres_bin_dir().is_some(),
            Self::Psql => runs("psql", &["--version"]),
            Self::PgBouncer => pgbouncer_path().is_some(),
            Self::Node => ["node", "npm", "npx"]
                .iter()
                .all(|c| runs(c, &["--version"])),
            Self::Setpriv => runs("setpriv", &["--version"]),
            Self::HaProxy => runs("haproxy", &["-v"]),
            Self::Python => runs(
                "python3",
                &[
                    "-c",
                    "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))",
                ],
            ),
        }
    }
}

/// Makes sure every need is met, installing what is missing; panics (naming the
/// packages) when that cannot be done.
pub fn require(needs: &[Need]) {
    // One install at a time in this process; apt-get waits for other processes' locks.
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let missing: Vec<Need> = needs.iter().copied().filter(|n| !n.present()).collect();
    if missing.is_empty() {
        return;
    }
    let packages: Vec<&str> = missing.iter().flat_map(|n| n.package()).copied().collect();
    let how = format!("apt-get install {}", packages.join(" "));
    let Some(sudo) = may_install() else {
        panic!(
            "the tests need {missing:?} and cannot install them here (not root, no password-less \
             sudo, or no apt-get): run `{how}` (Debian/Ubuntu package names)"
        );
    };
    eprintln!("the tests need {missing:?}: running {how}");
    let apt = |args: &[&str]| {
        let mut cmd = Command::new(if sudo { "sudo" } else { "apt-get" });
        if sudo {
            cmd.args(["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
        }
        let status = cmd
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["-q", "-o", "DPkg::Lock::Timeout=300"])
            .args(args)
            .stdin(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("apt-get does not run ({e}): run `{how}`"));
        assert!(status.success(), "apt-get {args:?} failed: run `{how}`");
    };
    apt(&["update"]);
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(&packages);
    apt(&install);
    let still: Vec<Need> = missing.into_iter().filter(|n| !n.present()).collect();
    assert!(still.is_empty(), "{how} did not provide {still:?}");
}

/// Some(false) as root, Some(true) with password-less sudo, None when we may not install.
fn may_install() -> Option<bool> {
    if !runs("apt-get", &["--version"]) {
        return None;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return Some(false);
    }
    runs("sudo", &["-n", "true"]).then_some(true)
}

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The directory of initdb and postgres: PG_BINDIR, or the newest /usr/lib/postgresql/*/bin.
pub fn postgres_bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BINDIR") {
        let dir = PathBuf::from(dir);
        return dir.join("initdb").exists().then_some(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// Where Debian puts pgbouncer, or the first on PATH.
pub fn pgbouncer_path() -> Option<PathBuf> {
    ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path)
                .map(|d| d.join("pgbouncer"))
                .find(|p| Path::new(p).exists())
        })
}
