//! aws-lc (the cryptography under rustls here) seeds its random generator on first use
//! from CPU jitter as well as the OS: about 60 ms of CPU, once per process (aws-lc-rs
//! #1140). It is done on a thread of the blocking pool before the first TLS handshake, so
//! that no async worker stalls on it with an HTTP request or a stdio call waiting behind.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use tokio::sync::OnceCell;

static SEEDED: OnceCell<()> = OnceCell::const_new();

/// Returns once aws-lc's random generator is seeded, seeding it the first time.
pub async fn seeded() {
    SEEDED
        .get_or_init(|| async {
            let _ = tokio::task::spawn_blocking(|| {
                // A generator that cannot be seeded fails the handshake that needs it.
                let _ = SystemRandom::new().fill(&mut [0u8; 1]);
            })
            .await;
        })
        .await;
}
