//! A private PostgreSQL for the tests: started on first use on a free port, TLS on with a
//! certificate from a CA made here, SCRAM password authentication required over TCP, the
//! way Neon is. As root (CI), the cluster runs as `nobody` since initdb refuses root.
//! A watchdog stops it and removes its files when the test process exits.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::free_port;
use super::system::{Need, pgbouncer_path, postgres_bin_dir, require};

const ADMIN_PASSWORD: &str = "admin-Pw-4a8c1f";
pub const APP_USER: &str = "app_owner";
pub const APP_PASSWORD: &str = "npg_AppPw0rd9x7Q";

pub struct PgCluster {
    pub port: u16,
    pub dir: PathBuf,
    pub ca_path: PathBuf,
    bin: PathBuf,
}

static CLUSTER: OnceLock<PgCluster> = OnceLock::new();
static BOUNCER: OnceLock<u16> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

pub fn cluster() -> &'static PgCluster {
    CLUSTER.get_or_init(|| PgCluster::start().unwrap_or_else(|e| panic!("test PostgreSQL: {e}")))
}

/// A fresh database owned by the app role; URLs to it in each shape the tests need.
pub struct TestDb {
    pub name: String,
    pub port: u16,
    pub ca_path: PathBuf,
}

impl TestDb {
    pub fn create() -> Self {
        let c = cluster();
        let name = format!(
            "t{}_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::SeqCst),
            better_auth_mcp::better_auth::random_alphanumeric(6).to_lowercase()
        );
        c.psql(
            "postgres",
            &format!("create database {name} owner {APP_USER}"),
        );
        Self {
            name,
            port: c.port,
            ca_path: c.ca_path.clone(),
        }
    }

    /// The shape Neon's console gives: `postgresql://`, `sslmode=require&channel_binding=require`.
    pub fn neon_url(&self) -> String {
        self.neon_url_via(self.port)
    }

    /// The same, through another port (a proxy in front of the cluster).
    pub fn neon_url_via(&self, port: u16) -> String {
        format!(
            "postgresql://{APP_USER}:{APP_PASSWORD}@localhost:{port}/{}?sslmode=require&channel_binding=require",
            self.name
        )
    }

    /// Through PgBouncer in transaction pooling mode, as Neon's `-pooler` host (TLS and
    /// SCRAM on both sides; PgBouncer 1.18 has no channel binding).
    pub fn pooled_url(&self) -> String {
        format!(
            "postgresql://{APP_USER}:{APP_PASSWORD}@localhost:{}/{}?sslmode=require",
            pgbouncer(),
            self.name
        )
    }

    /// `sslmode=verify-full` with the harness CA as `sslrootcert`.
    pub fn verify_full_url(&self) -> String {
        format!(
            "postgresql://{APP_USER}:{APP_PASSWORD}@localhost:{}/{}?sslmode=verify-full&sslrootcert={}&channel_binding=require",
            self.port,
            self.name,
            self.ca_path.display()
        )
    }

    /// Runs SQL as the app role in this database; returns psql's unaligned output.
    pub fn sql(&self, sql: &str) -> String {
        cluster().psql_as(APP_USER, APP_PASSWORD, &self.name, sql)
    }

    /// Asserts that each of `emails` (sign_ups that were acknowledged) is stored, once.
    pub fn assert_each_stored_once(&self, emails: &[String]) {
        for email in emails {
            assert_eq!(
                self.sql(&format!(
                    r#"select count(*) from "user" where "email" = '{email}'"#
                )),
                "1",
                "{email} was acknowledged, so it is stored once"
            );
        }
    }
}

impl PgCluster {
    fn start() -> Result<Self, String> {
        let mut needs = vec![Need::PostgresServer, Need::Psql];
        if is_root() {
            needs.push(Need::Setpriv);
        }
        require(&needs);
        let bin = postgres_bin_dir().ok_or("no PostgreSQL server binaries")?;
        let dir = std::env::temp_dir().join(format!(
            "better-auth-mcp-pg-{}-{}",
            std::process::id(),
            better_auth_mcp::better_auth::random_alphanumeric(6)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let data = dir.join("data");
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, ADMIN_PASSWORD).map_err(|e| e.to_string())?;
        let ca_path = make_certificates(&dir)?;
        if is_root() {
            run(Command::new("chown").args(["-R", "65534:65534"]).arg(&dir))?;
        }
        run(as_cluster_user(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pwfile.display())))?;

        let port = free_port();
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{dir}'\n\
             ssl = on\nssl_cert_file = '{dir}/server.crt'\nssl_key_file = '{dir}/server.key'\n\
             password_encryption = 'scram-sha-256'\nfsync = off\nsynchronous_commit = off\n\
             full_page_writes = off\nmax_connections = 300\nshared_buffers = 32MB\n",
            dir = dir.display()
        );
        append(&data.join("postgresql.conf"), &conf)?;
        // TLS and SCRAM over TCP, nothing else: a non-TLS connection is refused.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all scram-sha-256\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n\
             hostssl all all ::1/128 scram-sha-256\n\
             hostnossl all all 0.0.0.0/0 reject\n",
        )
        .map_err(|e| e.to_string())?;

        let log = std::fs::File::create(dir.join("postgres.log")).map_err(|e| e.to_string())?;
        if is_root() {
            run(Command::new("chown")
                .args(["65534:65534"])
                .arg(dir.join("postgres.log")))?;
        }
        let child = as_cluster_user(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start postgres: {e}"))?;
        spawn_watchdog(child.id(), Some(&dir));

        let cluster = Self {
            port,
            dir,
            ca_path,
            bin,
        };
        cluster.wait_ready()?;
        cluster.psql(
            "postgres",
            &format!("create role {APP_USER} login createdb password '{APP_PASSWORD}'"),
        );
        Ok(cluster)
    }

    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
                return Err(format!("postgres did not become ready:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.psql_as("postgres", ADMIN_PASSWORD, db, sql)
    }

    /// psql over TLS with SCRAM, like any client; panics on failure.
    pub fn psql_as(&self, user: &str, password: &str, db: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .arg(format!(
                "host=localhost port={} user={user} dbname={db} sslmode=verify-full sslrootcert={}",
                self.port,
                self.ca_path.display()
            ))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGPASSWORD", password)
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql failed for {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

/// The port of a PgBouncer (transaction pooling) in front of the cluster, started on first use.
pub fn pgbouncer() -> u16 {
    *BOUNCER.get_or_init(|| start_pgbouncer(cluster()).unwrap_or_else(|e| panic!("PgBouncer: {e}")))
}

fn start_pgbouncer(c: &PgCluster) -> Result<u16, String> {
    require(&[Need::PgBouncer]);
    let bin = pgbouncer_path().ok_or("pgbouncer not found")?;
    let port = free_port();
    let dir = &c.dir;
    std::fs::write(
        dir.join("userlist.txt"),
        format!("\"{APP_USER}\" \"{APP_PASSWORD}\"\n"),
    )
    .map_err(|e| e.to_string())?;
    let ini = format!(
        "[databases]\n* = host=127.0.0.1 port={pg}\n\n[pgbouncer]\n\
         listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
         auth_type = scram-sha-256\nauth_file = {dir}/userlist.txt\n\
         pool_mode = transaction\nmax_client_conn = 1000\ndefault_pool_size = 8\n\
         client_tls_sslmode = require\nclient_tls_key_file = {dir}/server.key\n\
         client_tls_cert_file = {dir}/server.crt\nserver_tls_sslmode = require\n\
         logfile = {dir}/pgbouncer.log\npidfile = {dir}/pgbouncer.pid\n",
        pg = c.port,
        dir = dir.display()
    );
    let ini_path = dir.join("pgbouncer.ini");
    std::fs::write(&ini_path, ini).map_err(|e| e.to_string())?;
    if is_root() {
        run(Command::new("chown")
            .args(["65534:65534"])
            .arg(dir.join("userlist.txt"))
            .arg(&ini_path))?;
    }
    let child = as_cluster_user(&bin)
        .arg(&ini_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start pgbouncer: {e}"))?;
    spawn_watchdog(child.id(), None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("pgbouncer.log")).unwrap_or_default();
            return Err(format!("pgbouncer did not listen:\n{log}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(port)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The command, run as `nobody` when we are root.
fn as_cluster_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn append(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Stops `pid` (and removes `remove`) once this test process is gone.
fn spawn_watchdog(pid: u32, remove: Option<&Path>) {
    let remove = remove.map_or(String::new(), |d| format!("rm -rf '{}'", d.display()));
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 0.5; done; kill -INT {pid} 2>/dev/null; \
         for i in $(seq 1 40); do kill -0 {pid} 2>/dev/null || break; sleep 0.25; done; \
         kill -KILL {pid} 2>/dev/null; {remove}",
        me = std::process::id(),
    );
    // Never waited for on purpose: it must outlive this process to clean up after it.
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("watchdog starts");
}

/// A CA, and a server certificate it signs for localhost and 127.0.0.1.
fn make_certificates(dir: &Path) -> Result<PathBuf, String> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let err = |e: rcgen::Error| e.to_string();
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "better-auth-mcp test CA");
    let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).map_err(err)?;
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let server_cert = params.signed_by(&server_key, &issuer).map_err(err)?;

    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca_cert.pem()).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("server.crt"), server_cert.pem()).map_err(|e| e.to_string())?;
    let key_path = dir.join("server.key");
    std::fs::write(&key_path, server_key.serialize_pem()).map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| e.to_string())?;
    Ok(ca_path)
}
