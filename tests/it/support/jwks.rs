//! A JWKS URL as Neon Auth serves it (a small HTTP server of the test, whose answer can be
//! changed while it runs), and Ed25519 keys as its JWT plugin makes them, signing tokens.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The issuer of the keys' tokens (Neon Auth's URL shape).
pub const ISSUER: &str = "https://ep-example.neonauth.example.com/neondb/auth";

/// How the test's JWKS server answers.
#[derive(Clone)]
pub enum Serve {
    Keys(Value),
    /// Accepts the connection and never answers.
    Hang,
    /// 503, as a server that is down behind its proxy.
    Down,
}

/// A JWKS URL served from 127.0.0.1; what it serves can be changed while it runs.
pub async fn jwks_server(serve: Arc<Mutex<Serve>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let serve = serve.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = serve.lock().unwrap().clone();
                let (status, body) = match answer {
                    Serve::Keys(keys) => ("200 OK", keys.to_string()),
                    Serve::Down => ("503 Service Unavailable", String::new()),
                    Serve::Hang => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        return;
                    }
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    url
}

/// An Ed25519 key as Neon Auth's (Better Auth's JWT plugin) makes them.
pub struct Key {
    kid: &'static str,
    pkcs8: Vec<u8>,
    jwk: Value,
}

impl Key {
    pub fn new(kid: &'static str) -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        Self {
            kid,
            pkcs8: pkcs8.as_ref().to_vec(),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA"}),
        }
    }

    pub fn token(&self, sub: &str, aud: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        self.sign(
            json!({"sub": sub, "email": "neon@example.com", "iat": now, "exp": now + 900,
            "iss": ISSUER, "aud": aud}),
        )
    }

    /// A token of this key with these claims.
    pub fn sign(&self, claims: Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(self.kid.into());
        let key = jsonwebtoken::EncodingKey::from_ed_der(&self.pkcs8);
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }
}

pub fn keys(of: &[&Key]) -> Serve {
    Serve::Keys(json!({"keys": of.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}))
}
