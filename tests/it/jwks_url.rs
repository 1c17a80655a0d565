//! Neon Auth's way of handing out JWTs: keys at a JWKS URL (BETTER_AUTH_JWKS_URL), served
//! here by a small HTTP server of the test, read by the built binary.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::server::{Server, ServerEnv};
use crate::support::tempdir;

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

async fn reason(server: &Server, token: &str) -> String {
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        server.ok("verify_token", json!({"token": token})),
    )
    .await
    .expect("verify_token answers: a JWKS server that hangs must not hang the call");
    if r["valid"] == true {
        assert_eq!(r["kind"], "better_auth_jwt", "{r}");
        "valid".into()
    } else {
        r["reason"].as_str().unwrap().into()
    }
}

/// Tokens verify against the keys of the URL, with iss and aud checked; a rotated key is
/// fetched (at most once per refetch interval); an unknown kid, a wrong audience, and a
/// URL that is down, hangs or answers 503 each get their reason, and the server serves on.
#[tokio::test(flavor = "multi_thread")]
async fn tokens_verify_through_a_jwks_url_across_rotation_and_its_outages() {
    let (a, b, c) = (Key::new("key-a"), Key::new("key-b"), Key::new("key-c"));
    let serve = Arc::new(Mutex::new(keys(&[&a])));
    let url = jwks_server(serve.clone()).await;
    let home = tempdir();
    let env = ServerEnv::sqlite(home.path())
        .with("BETTER_AUTH_URL", ISSUER)
        .with("BETTER_AUTH_JWKS_URL", &url)
        .with("JWKS_REFETCH_INTERVAL_SECONDS", "1");
    let server = Server::start(&env).await;
    let up = server.sign_up("neon@example.com", "password123").await;
    let sub = up["user"]["id"].as_str().unwrap();

    assert_eq!(reason(&server, &a.token(sub, ISSUER)).await, "valid");
    let got = server
        .ok("get_user", json!({"token": a.token(sub, ISSUER)}))
        .await;
    assert_eq!(got["user"]["email"], "neon@example.com");
    assert_eq!(
        reason(&server, &a.token(sub, "https://another.example.com")).await,
        "wrong_audience"
    );
    assert_eq!(
        reason(&server, &b.token(sub, ISSUER)).await,
        "bad_signature"
    );

    // Rotation: b is published; after the refetch interval its tokens verify.
    *serve.lock().unwrap() = keys(&[&a, &b]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(reason(&server, &b.token(sub, ISSUER)).await, "valid");

    // Outages: an unknown key cannot be checked; the keys already fetched still verify.
    for outage in [Serve::Down, Serve::Hang] {
        *serve.lock().unwrap() = outage;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(
            reason(&server, &c.token(sub, ISSUER)).await,
            "jwks_unavailable"
        );
        assert_eq!(reason(&server, &a.token(sub, ISSUER)).await, "valid");
    }
    // Back up, with c: it verifies.
    *serve.lock().unwrap() = keys(&[&a, &b, &c]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(reason(&server, &c.token(sub, ISSUER)).await, "valid");
    server.stop().await;
}

/// A JWKS URL over plain http to another machine is refused at start.
#[tokio::test(flavor = "multi_thread")]
async fn a_jwks_url_must_be_https() {
    let home = tempdir();
    let env = ServerEnv::sqlite(home.path()).with(
        "BETTER_AUTH_JWKS_URL",
        "http://auth.example.com/.well-known/jwks.json",
    );
    let out = env.command().output().await.unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("BETTER_AUTH_JWKS_URL must use https"),
        "{stderr}"
    );
}
