//! The JWT plugin's tokens (EdDSA, ES256, RS256, PS256), verified with the public keys of
//! its `jwks` table, or of a JWKS URL such as Neon Auth's; their claims are checked with
//! the [`ClaimRules`] every JWT here obeys (jwt.rs).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, jwk::Jwk};

use super::super::{AuthError, AuthStore, JwkLookup, JwksSource, TokenRejection};
use super::jwt::{AccessClaims, ClaimRules, Resource, UnverifiedJwt, verify_signature};

/// How long a key read from `jwks` (or a JWKS URL) is trusted before it is read again, so
/// a key that Better Auth rotated out (deleted) stops verifying within this time.
const JWK_TTL: Duration = Duration::from_secs(300);

/// How long a `kid` that no source had is remembered as unknown: a flood of tokens naming
/// made-up keys costs one lookup per key id and minute, not one per call.
const UNKNOWN_KID_TTL: Duration = Duration::from_secs(60);

/// Public keys of the JWT plugin by `kid`: from the `jwks` table, or, when one is
/// configured, from a JWKS URL. A key is read on first use, again whenever a token names a
/// `kid` not seen yet (for a URL: at most once per refetch interval), and again once it is
/// [`JWK_TTL`] old. Key ids the table lacks are remembered for [`UNKNOWN_KID_TTL`].
#[derive(Default)]
pub struct JwksCache {
    keys: RwLock<HashMap<String, CachedKey>>,
    unknown: RwLock<HashMap<String, Instant>>,
    remote: Option<Remote>,
}

type CachedKey = (DecodingKey, Option<String>, Instant);

/// A JWKS URL, fetched by one caller at a time.
struct Remote {
    source: Arc<dyn JwksSource>,
    /// The shortest time between two fetches (Neon Auth's guidance: once a minute).
    refetch_interval: Duration,
    /// When the last fetch was tried; held while fetching so concurrent calls wait for it.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
}

impl JwksCache {
    /// Keys come from `source` (a JWKS URL) instead of the `jwks` table.
    pub fn from_url(source: Arc<dyn JwksSource>, refetch_interval: Duration) -> Self {
        Self {
            remote: Some(Remote {
                source,
                refetch_interval,
                last_attempt: tokio::sync::Mutex::new(None),
            }),
            ..Self::default()
        }
    }

    /// Verifies a JWT-plugin token: the key its `kid` names, its alg, then the claim rules
    /// (for a token presented to `resource` when given, RFC 8707). A token that does not
    /// verify is `AuthError::InvalidToken`; a database that cannot be read is
    /// `ServiceUnavailable`.
    pub async fn verify(
        &self,
        store: &impl AuthStore,
        rules: &ClaimRules,
        token: &str,
        alg: Algorithm,
        resource: Option<&Resource>,
    ) -> Result<AccessClaims, AuthError> {
        let invalid = AuthError::InvalidToken;
        let jwt = UnverifiedJwt::read(token).map_err(invalid)?;
        // A token naming no key, or a key no source has, cannot have a signature that holds.
        let kid = jwt.kid.ok_or(invalid(TokenRejection::BadSignature))?;
        let (key, key_alg) = self.key(store, &kid).await?;
        // The key's recorded alg, when there is one, must be the token's.
        if key_alg.as_deref().is_some_and(|a| a != alg_name(alg)) {
            return Err(invalid(TokenRejection::BadSignature));
        }
        verify_signature(token, &key, alg).map_err(invalid)?;
        rules.check(jwt.claims, resource).map_err(invalid)
    }

    fn cached(&self, kid: &str, max_age: Duration) -> Option<(DecodingKey, Option<String>)> {
        let keys = self.keys.read().ok()?;
        let (key, alg, read_at) = keys.get(kid)?;
        (read_at.elapsed() < max_age).then(|| (key.clone(), alg.clone()))
    }

    fn known_unknown(&self, kid: &str) -> bool {
        self.unknown
            .read()
            .ok()
            .and_then(|u| u.get(kid).map(|at| at.elapsed() < UNKNOWN_KID_TTL))
            .unwrap_or(false)
    }

    /// Remembers that no source has `kid`, and says so.
    fn unknown_kid(&self, kid: &str) -> AuthError {
        if let Ok(mut unknown) = self.unknown.write() {
            unknown.retain(|_, at| at.elapsed() < UNKNOWN_KID_TTL);
            unknown.insert(kid.to_owned(), Instant::now());
        }
        AuthError::InvalidToken(TokenRejection::BadSignature)
    }

    async fn key(
        &self,
        store: &impl AuthStore,
        kid: &str,
    ) -> Result<(DecodingKey, Option<String>), AuthError> {
        if let Some(found) = self.cached(kid, JWK_TTL) {
            return Ok(found);
        }
        // A URL is fetched at most once per refetch interval anyway: no list needed there.
        if let Some(remote) = &self.remote {
            return self.remote_key(remote, kid).await;
        }
        if self.known_unknown(kid) {
            return Err(AuthError::InvalidToken(TokenRejection::BadSignature));
        }
        let row = match store.find_jwk(kid).await? {
            JwkLookup::Found(row) => row,
            JwkLookup::Unknown => return Err(self.unknown_kid(kid)),
            // No jwks table: this deployment verifies no asymmetric algorithm.
            JwkLookup::NoKeySource => {
                return Err(AuthError::InvalidToken(
                    TokenRejection::UnsupportedAlgorithm,
                ));
            }
        };
        let jwk: Option<Jwk> = serde_json::from_str(&row.public_key).ok();
        let Some(key) = jwk.and_then(|jwk| DecodingKey::from_jwk(&jwk).ok()) else {
            tracing::warn!(kid, "a jwks row holds no usable public key");
            return Err(AuthError::InvalidToken(TokenRejection::BadSignature));
        };
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(
                kid.to_owned(),
                (key.clone(), row.alg.clone(), Instant::now()),
            );
        }
        Ok((key, row.alg))
    }

    /// A key from the JWKS URL: fetched again if it is not known (at most once per
    /// refetch interval, one caller at a time). While the URL cannot be read, a key it
    /// served before still verifies; any other is `jwks_unavailable`.
    async fn remote_key(
        &self,
        remote: &Remote,
        kid: &str,
    ) -> Result<(DecodingKey, Option<String>), AuthError> {
        let mut last_attempt = remote.last_attempt.lock().await;
        // Another caller may have fetched while this one waited.
        if let Some(found) = self.cached(kid, JWK_TTL) {
            return Ok(found);
        }
        let stale = self.cached(kid, Duration::MAX);
        if last_attempt.is_some_and(|at| at.elapsed() < remote.refetch_interval) {
            return match stale {
                Some(found) => Ok(found),
                None if self.has_fresh_keys() => {
                    Err(AuthError::InvalidToken(TokenRejection::BadSignature))
                }
                None => Err(AuthError::InvalidToken(TokenRejection::JwksUnavailable)),
            };
        }
        *last_attempt = Some(Instant::now());
        let document = match remote.source.fetch().await {
            Ok(document) => document,
            Err(reason) => {
                tracing::warn!(%reason, "the JWKS URL cannot be read");
                return stale.ok_or(AuthError::InvalidToken(TokenRejection::JwksUnavailable));
            }
        };
        let fetched = parse_jwks(&document);
        // A document with no usable key (an error page served with 200, a broken deploy)
        // is an outage, not a rotation: the keys known so far stay.
        if fetched.is_empty() {
            tracing::warn!("the JWKS URL served no usable key");
            return stale.ok_or(AuthError::InvalidToken(TokenRejection::JwksUnavailable));
        }
        tracing::debug!(keys = fetched.len(), "JWKS fetched");
        let now = Instant::now();
        if let Ok(mut keys) = self.keys.write() {
            *keys = fetched
                .into_iter()
                .map(|(id, key, alg)| (id, (key, alg, now)))
                .collect();
        }
        self.cached(kid, JWK_TTL)
            .ok_or(AuthError::InvalidToken(TokenRejection::BadSignature))
    }

    fn has_fresh_keys(&self) -> bool {
        self.keys
            .read()
            .map(|k| k.values().any(|(_, _, at)| at.elapsed() < JWK_TTL))
            .unwrap_or(false)
    }
}

/// The usable keys of a JWKS document, with their `kid` and `alg`; a key of a type this
/// server cannot use, or without a `kid`, is skipped.
fn parse_jwks(document: &str) -> Vec<(String, DecodingKey, Option<String>)> {
    let Ok(serde_json::Value::Object(mut set)) = serde_json::from_str(document) else {
        return Vec::new();
    };
    let Some(serde_json::Value::Array(keys)) = set.remove("keys") else {
        return Vec::new();
    };
    keys.into_iter()
        .filter_map(|k| {
            let kid = k.get("kid")?.as_str()?.to_owned();
            let alg = k.get("alg").and_then(|a| a.as_str()).map(str::to_owned);
            let jwk: Jwk = serde_json::from_value(k).ok()?;
            Some((kid, DecodingKey::from_jwk(&jwk).ok()?, alg))
        })
        .collect()
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::EdDSA => "EdDSA",
        Algorithm::ES256 => "ES256",
        Algorithm::RS256 => "RS256",
        Algorithm::PS256 => "PS256",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use crate::better_auth::memory::MemoryStore;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A JWKS URL that serves what the test says and counts its fetches.
    #[derive(Default)]
    struct FakeUrl {
        document: Mutex<Option<String>>,
        fetches: AtomicUsize,
    }

    impl JwksSource for FakeUrl {
        fn fetch(
            &self,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send + '_>>
        {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let document = self.document.lock().unwrap().clone();
            Box::pin(async move { document.ok_or_else(|| "connection refused".to_owned()) })
        }
    }

    /// An Ed25519 key as the JWT plugin makes one: its public JWK and a token it signed.
    struct TestKey {
        jwk: serde_json::Value,
        encoding: jsonwebtoken::EncodingKey,
        kid: String,
    }

    impl TestKey {
        fn new(kid: &str) -> Self {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
            let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
            Self {
                jwk: serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA"}),
                encoding: jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref()),
                kid: kid.to_owned(),
            }
        }

        fn token(&self) -> String {
            let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
            header.kid = Some(self.kid.clone());
            let now = chrono::Utc::now().timestamp();
            let claims = serde_json::json!({"sub": "u1", "email": "u1@example.com", "iat": now,
                "exp": now + 600, "iss": "http://localhost:3000", "aud": "http://localhost:3000"});
            jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap()
        }
    }

    fn document(keys: &[&TestKey]) -> Option<String> {
        let keys: Vec<_> = keys.iter().map(|k| k.jwk.clone()).collect();
        Some(serde_json::json!({ "keys": keys }).to_string())
    }

    #[tokio::test]
    async fn a_jwks_url_is_fetched_once_per_interval_follows_rotation_and_says_when_it_is_down() {
        let url = Arc::new(FakeUrl::default());
        let (a, b, c) = (TestKey::new("a"), TestKey::new("b"), TestKey::new("c"));
        *url.document.lock().unwrap() = document(&[&a]);
        let interval = Duration::from_millis(300);
        let cache = JwksCache::from_url(url.clone(), interval);
        let rules = ClaimRules::new(Some("http://localhost:3000".into()), 0);
        let store = MemoryStore::default();
        let verify = async |key: &TestKey| {
            cache
                .verify(&store, &rules, &key.token(), Algorithm::EdDSA, None)
                .await
                .map(|c| c.sub)
                .map_err(|e| match e {
                    AuthError::InvalidToken(r) => r.as_str(),
                    other => other.code(),
                })
        };
        let fetches = || url.fetches.load(Ordering::SeqCst);
        assert_eq!(verify(&a).await, Ok("u1".into()));
        assert_eq!(verify(&a).await, Ok("u1".into()));
        assert_eq!(fetches(), 1, "a known key is not fetched again");
        // An unknown kid within the interval: refused without a fetch, however often.
        for _ in 0..3 {
            assert_eq!(verify(&b).await, Err("bad_signature"));
        }
        assert_eq!(fetches(), 1);
        // The provider rotates to b: once the interval has passed, b is fetched and verifies.
        *url.document.lock().unwrap() = document(&[&a, &b]);
        tokio::time::sleep(interval + Duration::from_millis(50)).await;
        assert_eq!(verify(&b).await, Ok("u1".into()));
        assert_eq!(fetches(), 2);
        // The URL serves a page with no key: an outage, the known keys stay.
        *url.document.lock().unwrap() = Some("<html>maintenance</html>".into());
        tokio::time::sleep(interval + Duration::from_millis(50)).await;
        assert_eq!(verify(&c).await, Err("jwks_unavailable"));
        assert_eq!(verify(&b).await, Ok("u1".into()));
        // The URL goes down: known keys still verify; an unknown one says why it cannot.
        *url.document.lock().unwrap() = None;
        tokio::time::sleep(interval + Duration::from_millis(50)).await;
        assert_eq!(verify(&c).await, Err("jwks_unavailable"));
        assert_eq!(verify(&a).await, Ok("u1".into()));
        assert_eq!(fetches(), 4);
    }

    #[tokio::test]
    async fn an_unknown_kid_in_the_jwks_table_is_remembered_not_read_per_call() {
        let cache = JwksCache::default();
        let rules = ClaimRules::new(None, 0);
        let store = MemoryStore::default();
        store.add_jwks_table();
        let token = TestKey::new("made-up").token();
        for _ in 0..3 {
            let r = cache
                .verify(&store, &rules, &token, Algorithm::EdDSA, None)
                .await;
            assert!(matches!(
                r,
                Err(AuthError::InvalidToken(TokenRejection::BadSignature))
            ));
        }
        assert_eq!(store.jwk_reads(), 1, "one read, then remembered");
    }
}
