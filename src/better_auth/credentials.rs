//! The other credentials of a Better Auth deployment: its session tokens (raw, or the
//! signed cookie value `token.signature`) and its JWT plugin's tokens (EdDSA, ES256, RS256
//! with keys in the `jwks` table).

use std::collections::HashMap;
use std::sync::RwLock;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, jwk::Jwk};
use percent_encoding::percent_decode_str;
use secrecy::{ExposeSecret, SecretString};

use super::token::{UnverifiedJwt, json_object_part, verify_signature};
use super::{AccessClaims, AccessTokens, AuthError, AuthStore, JwkLookup, TokenRejection};

/// The longest session credential accepted (a token is 32 characters; signed, about 80).
const MAX_SESSION_CREDENTIAL_BYTES: usize = 512;

/// What a credential looks like before it is checked.
pub enum CredentialShape {
    /// `header.payload.signature` with HS256 (or no readable alg): our access token.
    AccessToken,
    /// A JWT with an asymmetric alg: Better Auth's JWT plugin.
    BetterAuthJwt(Algorithm),
    /// Anything else: a Better Auth session token, raw or signed.
    Session,
}

/// The header of every access token issued here, `{"typ":"JWT","alg":"HS256"}`, encoded.
const OUR_HEADER: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.";

/// Sorts a credential by its shape, reading at most the JWT header.
pub fn shape_of(credential: &str) -> CredentialShape {
    // The hot path (verify_token on every agent step): our own header needs no decoding.
    if credential.starts_with(OUR_HEADER) {
        return CredentialShape::AccessToken;
    }
    if credential.bytes().filter(|&b| b == b'.').count() != 2 {
        return CredentialShape::Session;
    }
    let alg = credential
        .split('.')
        .next()
        .and_then(json_object_part)
        .and_then(|h| h.get("alg").and_then(|a| a.as_str().map(str::to_owned)));
    match alg.as_deref() {
        Some("EdDSA") => CredentialShape::BetterAuthJwt(Algorithm::EdDSA),
        Some("ES256") => CredentialShape::BetterAuthJwt(Algorithm::ES256),
        Some("RS256") => CredentialShape::BetterAuthJwt(Algorithm::RS256),
        Some("PS256") => CredentialShape::BetterAuthJwt(Algorithm::PS256),
        _ => CredentialShape::AccessToken,
    }
}

/// The session token inside a credential: the raw token, or the signed cookie value
/// `token.base64(HMAC-SHA256(secret, token))`, URL-encoded or not, whose signature must hold.
pub fn session_token(credential: &str, secret: &SecretString) -> Result<String, TokenRejection> {
    if credential.len() > MAX_SESSION_CREDENTIAL_BYTES {
        return Err(TokenRejection::TooLarge);
    }
    let decoded = percent_decode_str(credential)
        .decode_utf8()
        .map_err(|_| TokenRejection::Malformed)?;
    let (token, signature) = match decoded.split_once('.') {
        Some((token, signature)) => (token, Some(signature)),
        None => (decoded.as_ref(), None),
    };
    let valid_token = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid_token {
        return Err(TokenRejection::Malformed);
    }
    if let Some(signature) = signature {
        let signature = STANDARD
            .decode(signature)
            .map_err(|_| TokenRejection::Malformed)?;
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose_secret().as_bytes());
        hmac::verify(&key, token.as_bytes(), &signature)
            .map_err(|_| TokenRejection::BadSignature)?;
    }
    Ok(token.to_owned())
}

/// The signed cookie value Better Auth would set for `token` (for tests and tooling).
pub fn sign_session_token(token: &str, secret: &SecretString) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose_secret().as_bytes());
    let tag = hmac::sign(&key, token.as_bytes());
    format!("{token}.{}", STANDARD.encode(tag.as_ref()))
}

/// How long a key read from `jwks` is trusted before it is read again, so a key that
/// Better Auth rotated out (deleted) stops verifying within this time.
const JWK_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// Public keys of the JWT plugin by `kid`, read from the `jwks` table on first use, again
/// whenever a token names a `kid` not seen yet, and again once a key is [`JWK_TTL`] old.
#[derive(Default)]
pub struct JwksCache {
    keys: RwLock<HashMap<String, CachedKey>>,
}

type CachedKey = (DecodingKey, Option<String>, std::time::Instant);

impl JwksCache {
    /// Verifies a JWT-plugin token: the key its `kid` names, its alg, then our claim rules.
    /// A token that does not verify is `AuthError::InvalidToken`; a database that cannot
    /// be read is `ServiceUnavailable`.
    pub async fn verify(
        &self,
        store: &impl AuthStore,
        rules: &AccessTokens,
        token: &str,
        alg: Algorithm,
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
        rules.check_claims(jwt.claims).map_err(invalid)
    }

    async fn key(
        &self,
        store: &impl AuthStore,
        kid: &str,
    ) -> Result<(DecodingKey, Option<String>), AuthError> {
        if let Some((key, alg, read_at)) = self.keys.read().ok().and_then(|k| k.get(kid).cloned())
            && read_at.elapsed() < JWK_TTL
        {
            return Ok((key, alg));
        }
        let row = match store.find_jwk(kid).await? {
            JwkLookup::Found(row) => row,
            JwkLookup::Unknown => {
                return Err(AuthError::InvalidToken(TokenRejection::BadSignature));
            }
            // No jwks table: this deployment verifies no asymmetric algorithm.
            JwkLookup::NoKeySource => {
                return Err(AuthError::InvalidToken(
                    TokenRejection::UnsupportedAlgorithm,
                ));
            }
        };
        let unusable = || {
            tracing::warn!(kid, "a jwks row holds no usable public key");
            AuthError::InvalidToken(TokenRejection::BadSignature)
        };
        let jwk: Jwk = serde_json::from_str(&row.public_key).map_err(|_| unusable())?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| unusable())?;
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(
                kid.to_owned(),
                (key.clone(), row.alg.clone(), std::time::Instant::now()),
            );
        }
        Ok((key, row.alg))
    }
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
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn our_header_is_what_jsonwebtoken_writes() {
        let header = serde_json::to_vec(&jsonwebtoken::Header::new(Algorithm::HS256)).unwrap();
        assert_eq!(format!("{}.", URL_SAFE_NO_PAD.encode(header)), OUR_HEADER);
    }

    #[test]
    fn credentials_are_sorted_by_shape() {
        let hs = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.sig";
        assert!(matches!(shape_of(hs), CredentialShape::AccessToken));
        let ed = format!(
            "{}.e30.sig",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"k"}"#)
        );
        assert!(matches!(
            shape_of(&ed),
            CredentialShape::BetterAuthJwt(Algorithm::EdDSA)
        ));
        assert!(matches!(
            shape_of("aP8dZCLrnzonw3e5ju5rlRhq14rJXmVA"),
            CredentialShape::Session
        ));
        assert!(matches!(shape_of("tok.sig"), CredentialShape::Session));
    }

    #[test]
    fn signed_cookie_values_are_checked_and_unwrapped() {
        let secret = SecretString::from("a-secret-of-at-least-32-bytes-for-tests!");
        let token = "aP8dZCLrnzonw3e5ju5rlRhq14rJXmVA";
        let signed = sign_session_token(token, &secret);
        assert_eq!(session_token(&signed, &secret).unwrap(), token);
        let encoded = signed
            .replace('/', "%2F")
            .replace('+', "%2B")
            .replace('=', "%3D");
        assert_eq!(session_token(&encoded, &secret).unwrap(), token);
        assert_eq!(session_token(token, &secret).unwrap(), token);
        let other = SecretString::from("another-secret-of-at-least-32-bytes!!!!!");
        assert_eq!(
            session_token(&sign_session_token(token, &other), &secret).unwrap_err(),
            TokenRejection::BadSignature
        );
        assert_eq!(
            session_token("bad token!", &secret).unwrap_err(),
            TokenRejection::Malformed
        );
        assert_eq!(
            session_token(&"x".repeat(600), &secret).unwrap_err(),
            TokenRejection::TooLarge
        );
    }
}
