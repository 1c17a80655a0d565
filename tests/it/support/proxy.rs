//! A TCP proxy in front of the test PostgreSQL that a test can cut and restore, to play a
//! database outage (or Neon dropping idle connections).

use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Proxy {
    pub port: u16,
    target: u16,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    listener: Option<JoinHandle<()>>,
}

impl Proxy {
    pub async fn start(target: u16) -> Self {
        let mut p = Self {
            port: super::free_port(),
            target,
            tasks: Arc::default(),
            listener: None,
        };
        p.resume().await;
        p
    }

    /// Accepts connections again on the same port.
    pub async fn resume(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("proxy binds");
        let target = self.target;
        let tasks = self.tasks.clone();
        self.listener = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(task);
            }
        }));
    }

    /// Refuses new connections and drops every open one.
    pub fn cut(&mut self) {
        if let Some(l) = self.listener.take() {
            l.abort();
        }
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}
