//! HS256 tokens the tests make themselves: any claims under any secret, and an access token
//! as sign_in issues it.

use serde_json::{Value, json};

use super::server::SECRET;

/// An HS256 token with any claims, signed with `secret`.
pub fn forge(claims: Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// An access token as sign_in issues it (HS256 under the test secret) for `sub`, with
/// `issuer` (BETTER_AUTH_URL) as iss and aud, valid for ten minutes.
pub fn issued_here(sub: &str, issuer: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    forge(
        json!({"sub": sub, "iat": now, "exp": now + 600, "iss": issuer, "aud": issuer}),
        SECRET,
    )
}
