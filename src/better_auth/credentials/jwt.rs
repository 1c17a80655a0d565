//! JWTs as every kind of token here has them: reading one without trusting it
//! ([`UnverifiedJwt`]), checking its signature with jsonwebtoken, and the claim rules
//! ([`ClaimRules`]) that access tokens issued here and the JWT plugin's tokens both obey.

use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use super::super::TokenRejection;

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Clock skew tolerated on exp, nbf and iat, by default and at most (RFC 7519 §4.1.4:
/// "no more than a few minutes"; we keep it under one).
pub const DEFAULT_LEEWAY_SECS: u64 = 30;
pub const MAX_LEEWAY_SECS: u64 = 60;

/// The claims of a verified credential: an access token issued here, a JWT-plugin token,
/// or a Better Auth session described in the same terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<serde_json::Value>,
    /// The Better Auth session the token was issued for (refresh_token, sign_out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// OAuth scopes granted (space-separated), in tokens of Better Auth's OAuth provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl AccessClaims {
    pub fn expires_at(&self) -> DateTime<Utc> {
        Utc.timestamp_opt(self.exp, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// A protected resource Better Auth JWTs are issued for (RFC 8707): this server over
/// authorized HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Its public URL, e.g. `https://mcp.example.com/mcp`: the `aud` a token must name.
    pub url: String,
    /// The authorization server that issues tokens for it: the issuer of the Better Auth
    /// app's OAuth provider (BETTER_AUTH_URL and the app's basePath, `/api/auth`). A
    /// token's `iss` may be this or BETTER_AUTH_URL (the JWT plugin's issuer).
    pub issuer: String,
}

/// The claim rules every JWT accepted here obeys, whoever signed it: the clock checks
/// (with the configured leeway), and, with BETTER_AUTH_URL set, its `iss` and `aud`.
#[derive(Debug, Clone)]
pub struct ClaimRules {
    /// BETTER_AUTH_URL: the issuer tokens must name, and their audience.
    issuer: Option<String>,
    leeway_secs: i64,
}

impl ClaimRules {
    /// `leeway_secs` is capped at [`MAX_LEEWAY_SECS`].
    pub fn new(issuer: Option<String>, leeway_secs: u64) -> Self {
        Self {
            issuer,
            leeway_secs: leeway_secs.min(MAX_LEEWAY_SECS) as i64,
        }
    }

    /// The issuer (and audience) of tokens issued here.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    pub(super) fn leeway_secs(&self) -> i64 {
        self.leeway_secs
    }

    /// The checks that depend on the time: expired, then not yet valid (nbf or iat ahead).
    pub fn check_clock(&self, claims: &AccessClaims) -> Result<(), TokenRejection> {
        let now = Utc::now().timestamp();
        if claims.exp < now.saturating_sub(self.leeway_secs) {
            return Err(TokenRejection::Expired);
        }
        let ahead = now.saturating_add(self.leeway_secs);
        if claims.nbf.is_some_and(|nbf| nbf > ahead) || claims.iat > ahead {
            return Err(TokenRejection::NotYetValid);
        }
        Ok(())
    }

    /// The claim checks of a token whose signature held, in the contract's order:
    /// missing_claim, expired, not_yet_valid, wrong_issuer, wrong_audience. `aud` must name
    /// BETTER_AUTH_URL; for a token presented to `resource` (RFC 8707), the resource's URL
    /// instead, and `iss` may then be the resource's authorization server as well.
    pub fn check(
        &self,
        c: ClaimSet,
        resource: Option<&Resource>,
    ) -> Result<AccessClaims, TokenRejection> {
        let (Some(sub), Some(exp), Some(iat)) = (c.sub, c.exp, c.iat) else {
            return Err(TokenRejection::MissingClaim);
        };
        if sub.is_empty() {
            return Err(TokenRejection::MissingClaim);
        }
        let claims = AccessClaims {
            sub,
            email: c.email,
            iat,
            exp,
            nbf: c.nbf,
            iss: c.iss,
            aud: c.aud,
            sid: c.sid,
            scope: c.scope,
        };
        self.check_clock(&claims)?;
        if let Some(issuer) = &self.issuer {
            let accepted = |iss: &str| iss == issuer || resource.is_some_and(|r| r.issuer == iss);
            if !claims.iss.as_deref().is_some_and(accepted) {
                return Err(TokenRejection::WrongIssuer);
            }
        }
        if let Some(audience) = resource.map(|r| &*r.url).or(self.issuer.as_deref()) {
            let names_us = match &claims.aud {
                Some(serde_json::Value::String(aud)) => aud == audience,
                Some(serde_json::Value::Array(auds)) => auds.iter().any(|a| a == audience),
                _ => false,
            };
            if !names_us {
                return Err(TokenRejection::WrongAudience);
            }
        }
        Ok(claims)
    }
}

/// A JWT read but not trusted yet: its header's `alg` and `kid`, and its claims, each
/// of the type it must have. Reading it finds too_large and malformed; nothing else.
pub struct UnverifiedJwt {
    pub alg: String,
    pub kid: Option<String>,
    pub claims: ClaimSet,
}

/// The registered claims this server reads, typed but not checked.
#[derive(Debug, Default)]
pub struct ClaimSet {
    sub: Option<String>,
    email: Option<String>,
    iat: Option<i64>,
    exp: Option<i64>,
    nbf: Option<i64>,
    iss: Option<String>,
    aud: Option<serde_json::Value>,
    sid: Option<String>,
    scope: Option<String>,
}

impl UnverifiedJwt {
    pub fn read(token: &str) -> Result<Self, TokenRejection> {
        use base64::Engine as _;
        use serde_json::{Map, Value};
        let malformed = TokenRejection::Malformed;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenRejection::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed);
        };
        let header = json_object_part(header).ok_or(malformed)?;
        let claims = json_object_part(payload).ok_or(malformed)?;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| malformed)?;
        // RFC 7515 §4.1.11: a critical extension we do not implement makes the token invalid.
        if header.contains_key("crit") {
            return Err(malformed);
        }
        let string = |map: &Map<String, Value>, name: &str| match map.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(malformed),
        };
        // A NumericDate: any JSON number, seconds since the epoch (fractions dropped).
        let date = |name: &str| match claims.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n
                .as_i64()
                .or_else(|| n.as_u64().map(|_| i64::MAX))
                .or_else(|| n.as_f64().map(|f| f.floor() as i64))),
            Some(_) => Err(malformed),
        };
        let aud = match claims.get("aud") {
            None => None,
            Some(aud @ Value::String(_)) => Some(aud.clone()),
            Some(Value::Array(auds)) if auds.iter().all(Value::is_string) => {
                Some(Value::Array(auds.clone()))
            }
            Some(_) => return Err(malformed),
        };
        Ok(Self {
            alg: string(&header, "alg")?.ok_or(malformed)?,
            kid: string(&header, "kid")?,
            claims: ClaimSet {
                sub: string(&claims, "sub")?,
                email: string(&claims, "email")?,
                iat: date("iat")?,
                exp: date("exp")?,
                nbf: date("nbf")?,
                iss: string(&claims, "iss")?,
                aud,
                sid: string(&claims, "sid")?,
                scope: string(&claims, "scope")?,
            },
        })
    }
}

/// A JWT part (base64url without padding) holding a JSON object.
pub fn json_object_part(part: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(serde_json::Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// Checks the signature (and that the header names `alg`) with jsonwebtoken; the claims
/// are checked by [`ClaimRules::check`], in the contract's order.
pub fn verify_signature(
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
) -> Result<(), TokenRejection> {
    let mut signature_only = Validation::new(alg);
    signature_only.required_spec_claims.clear();
    signature_only.validate_exp = false;
    signature_only.validate_nbf = false;
    signature_only.validate_aud = false;
    jsonwebtoken::decode::<serde::de::IgnoredAny>(token, key, &signature_only)
        .map(|_| ())
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => TokenRejection::BadSignature,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::UnsupportedAlgorithm => TokenRejection::UnsupportedAlgorithm,
            _ => TokenRejection::Malformed,
        })
}
