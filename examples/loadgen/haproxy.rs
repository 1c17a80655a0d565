//! HAProxy in front of several servers: the load generator measures through it, and the
//! tests (tests/it/support/loadgen.rs mounts this file) fail a server over behind it.

use std::process::Stdio;
use std::time::Duration;

/// HAProxy (Debian's package, on PATH) in front of servers, round robin, checking
/// /readyz, retrying a connection that fails on another server.
pub struct HaProxy {
    _child: tokio::process::Child,
    pub port: u16,
    /// Its configuration and its log (`haproxy.log`), removed with it.
    #[allow(dead_code)] // the tests read the log; the load generator only keeps the folder
    pub dir: tempfile::TempDir,
}

impl HaProxy {
    /// Listening on `port` (on 127.0.0.1).
    pub async fn start(port: u16, backends: &[u16]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, p)| format!("  server s{i} 127.0.0.1:{p} check inter 300ms fall 2 rise 2\n"))
            .collect();
        let config = format!(
            "global\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 1s\n  timeout check 3s\n  \
             timeout client 30s\n  timeout server 30s\n  retries 3\n  option redispatch\n  \
             retry-on conn-failure\nfrontend mcp\n  bind 127.0.0.1:{port}\n  default_backend servers\n\
             backend servers\n  balance roundrobin\n  option httpchk GET /readyz\n{servers}"
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
        let child = tokio::process::Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("haproxy starts (apt-get install haproxy)");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            _child: child,
            port,
            dir,
        }
    }
}
