//! The credentials of a Better Auth deployment, one file per kind: access tokens issued
//! here ([`access_token`]), Better Auth session tokens ([`session_token`]), the JWT
//! plugin's tokens checked against its keys ([`jwks`]), all JWTs read and their claims
//! checked in one place ([`jwt`]); the deployment's secrets ([`secret`]) and the
//! two-factor plugin's second factors ([`two_factor`]). [`shape_of`] is the one place a
//! credential is sorted into its kind.

pub mod access_token;
pub mod api_key;
pub mod jwks;
pub mod jwt;
pub mod secret;
pub mod session_token;
pub mod two_factor;

use chrono::{DateTime, Utc};
use jsonwebtoken::Algorithm;

use jwt::{AccessClaims, MAX_TOKEN_BYTES, json_object_part};

/// What kind of credential verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// An access token issued here (HS256).
    AccessToken,
    /// A Better Auth session token, raw or as the signed cookie value.
    BetterAuthSession,
    /// A token of Better Auth's JWT plugin, checked against the `jwks` table or JWKS URL.
    BetterAuthJwt,
    /// A key of Better Auth's api-key plugin (`apikey` table).
    BetterAuthApiKey,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::BetterAuthSession => "better_auth_session",
            Self::BetterAuthJwt => "better_auth_jwt",
            Self::BetterAuthApiKey => "better_auth_api_key",
        }
    }
}

/// A credential that verified.
#[derive(Debug)]
pub struct VerifiedToken {
    pub kind: CredentialKind,
    /// Who it names (`sub`), shaped as an access token's claims; for an API key, `sub` is
    /// its `referenceId`, `iat` its creation and `exp` its expiry (or none: `i64::MAX`).
    pub claims: AccessClaims,
    /// None: it does not expire (an API key without `expiresAt`).
    pub expires_at: Option<DateTime<Utc>>,
    /// What an API key says of itself, for a key.
    pub api_key: Option<ApiKeyClaims>,
}

/// The claims of an API key: the key's id and name, and its `permissions` and `metadata`
/// (JSON, as the plugin stores them; null when none or not JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyClaims {
    pub key_id: String,
    /// The organization that owns the key (its `referenceId` names one), when asked.
    pub organization_id: Option<String>,
    pub name: Option<String>,
    pub permissions: serde_json::Value,
    pub metadata: serde_json::Value,
}

/// What a credential looks like before it is checked.
pub enum CredentialShape {
    /// `header.payload.signature` with HS256 (or no readable alg): our access token.
    AccessToken,
    /// A JWT with an asymmetric alg: Better Auth's JWT plugin.
    BetterAuthJwt(Algorithm),
    /// No dot and at least 64 characters: a key of Better Auth's api-key plugin.
    ApiKey,
    /// Anything else: a Better Auth session token, raw or signed.
    Session,
}

impl CredentialShape {
    /// The kind a credential of this shape is verified as (whether it verifies or not).
    pub fn kind(&self) -> CredentialKind {
        match self {
            Self::AccessToken => CredentialKind::AccessToken,
            Self::BetterAuthJwt(_) => CredentialKind::BetterAuthJwt,
            Self::ApiKey => CredentialKind::BetterAuthApiKey,
            Self::Session => CredentialKind::BetterAuthSession,
        }
    }
}

/// The header of every access token issued here, `{"typ":"JWT","alg":"HS256"}`, encoded.
const OUR_HEADER: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.";

/// Sorts a credential by its shape, reading at most the JWT header.
pub fn shape_of(credential: &str) -> CredentialShape {
    // Too large whatever its shape: the access-token path checks the size first.
    if credential.len() > MAX_TOKEN_BYTES {
        return CredentialShape::AccessToken;
    }
    // The hot path (verify_token on every agent step): our own header needs no decoding.
    if credential.starts_with(OUR_HEADER) {
        return CredentialShape::AccessToken;
    }
    if credential.bytes().filter(|&b| b == b'.').count() != 2 {
        if api_key::looks_like_api_key(credential) {
            return CredentialShape::ApiKey;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
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
        assert!(matches!(
            shape_of(&api_key::generate_key(None)),
            CredentialShape::ApiKey
        ));
    }
}
