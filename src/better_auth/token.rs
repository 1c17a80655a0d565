//! Access tokens: HS256 JWTs keyed with the UTF-8 bytes of BETTER_AUTH_SECRET.
//! Verification allows HS256 only and names each way a token can fail.

use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{AuthError, TokenRejection};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The fewest bytes BETTER_AUTH_SECRET may have: RFC 7518 §3.2 wants a 256-bit HS256 key.
pub const MIN_SECRET_BYTES: usize = 32;
/// Secrets that appear in documentation, so anyone could forge tokens with them.
const PLACEHOLDER_SECRETS: &[&str] = &[
    "better-auth-secret-12345678901234567890",
    "replace-me-with-at-least-32-random-bytes-openssl-rand-base64-32",
];

/// Clock skew tolerated on exp, nbf and iat, by default and at most (RFC 7519 §4.1.4:
/// "no more than a few minutes"; we keep it under one).
pub const DEFAULT_LEEWAY_SECS: u64 = 30;
pub const MAX_LEEWAY_SECS: u64 = 60;

/// The claims of an access token issued here.
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

/// A signed token and when it expires.
pub struct IssuedToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Why a secret was refused at start-up.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "BETTER_AUTH_SECRET has {0} bytes; it needs at least {MIN_SECRET_BYTES} (generate one with `openssl rand -base64 32`)"
    )]
    TooShort(usize),
    #[error(
        "BETTER_AUTH_SECRET is a well-known placeholder; anyone could forge tokens with it (generate one with `openssl rand -base64 32`)"
    )]
    Placeholder,
}

/// Refuses a secret that is too short to key HS256 or that anyone could know.
pub fn check_secret(secret: &SecretString) -> Result<(), SecretError> {
    let secret = secret.expose_secret();
    if PLACEHOLDER_SECRETS.contains(&secret) {
        return Err(SecretError::Placeholder);
    }
    if secret.len() < MIN_SECRET_BYTES {
        return Err(SecretError::TooShort(secret.len()));
    }
    Ok(())
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

/// How many verified tokens are remembered, and the longest one remembered.
const RECENT_TOKENS: usize = 1024;
const RECENT_TOKEN_MAX_BYTES: usize = 2048;

/// Signs and verifies access tokens.
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: Option<String>,
    ttl_secs: i64,
    leeway_secs: i64,
    /// Tokens that verified, with their claims. An agent verifies the same token on every
    /// step; what the signature and claim checks decide about a token string never
    /// changes (the key and rules are fixed for the life of the process), so for a
    /// remembered token only the clock checks are made again.
    recent: std::sync::Mutex<std::collections::HashMap<Box<str>, AccessClaims>>,
}

impl AccessTokens {
    /// `issuer` (BETTER_AUTH_URL) becomes both `iss` and `aud` of issued tokens and is
    /// required of verified ones.
    /// `leeway_secs` is capped at [`MAX_LEEWAY_SECS`].
    pub fn new(
        secret: &SecretString,
        issuer: Option<String>,
        ttl_secs: u64,
        leeway_secs: u64,
    ) -> Result<Self, SecretError> {
        let leeway_secs = leeway_secs.min(MAX_LEEWAY_SECS);
        check_secret(secret)?;
        let bytes = secret.expose_secret().as_bytes();
        Ok(Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            issuer,
            ttl_secs: ttl_secs.min(i64::MAX as u64) as i64,
            leeway_secs: leeway_secs as i64,
            recent: Default::default(),
        })
    }

    /// A token for `user_id`, tied to the session `sid` when there is one.
    pub fn issue(
        &self,
        user_id: &str,
        email: &str,
        sid: Option<&str>,
    ) -> Result<IssuedToken, AuthError> {
        let now = Utc::now().timestamp();
        let claims = AccessClaims {
            sid: sid.map(str::to_owned),
            sub: user_id.to_owned(),
            email: Some(email.to_owned()),
            iat: now,
            exp: now.saturating_add(self.ttl_secs),
            nbf: None,
            iss: self.issuer.clone(),
            aud: self.issuer.clone().map(serde_json::Value::String),
            scope: None,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Internal(format!("token signing failed: {e}")))?;
        Ok(IssuedToken {
            token,
            expires_at: claims.expires_at(),
        })
    }

    /// Verifies a token in the contract's order of reasons (too_large, malformed,
    /// unsupported_algorithm, bad_signature, missing_claim, expired, not_yet_valid,
    /// wrong_issuer, wrong_audience). Stateless: no database is read.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenRejection> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenRejection::TooLarge);
        }
        if let Some(claims) = self.remembered(token) {
            self.check_clock(&claims)?;
            return Ok(claims);
        }
        let jwt = UnverifiedJwt::read(token)?;
        if jwt.alg != "HS256" {
            return Err(TokenRejection::UnsupportedAlgorithm);
        }
        verify_signature(token, &self.decoding, Algorithm::HS256)?;
        let claims = self.check_claims(jwt.claims)?;
        self.remember(token, &claims);
        Ok(claims)
    }

    fn remembered(&self, token: &str) -> Option<AccessClaims> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.get(token).cloned()
    }

    /// Keeps a verified token; when full, drops the expired ones, or all if none is.
    fn remember(&self, token: &str, claims: &AccessClaims) {
        if token.len() > RECENT_TOKEN_MAX_BYTES {
            return;
        }
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= RECENT_TOKENS {
            let now = Utc::now().timestamp();
            recent.retain(|_, c| c.exp >= now - self.leeway_secs);
            if recent.len() >= RECENT_TOKENS {
                recent.clear();
            }
        }
        recent.insert(token.into(), claims.clone());
    }

    /// The checks that depend on the time: expired, then not yet valid (nbf or iat ahead).
    fn check_clock(&self, claims: &AccessClaims) -> Result<(), TokenRejection> {
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
    /// missing_claim, expired, not_yet_valid, wrong_issuer, wrong_audience (`aud` must
    /// name BETTER_AUTH_URL).
    pub(super) fn check_claims(&self, c: ClaimSet) -> Result<AccessClaims, TokenRejection> {
        self.check_claims_for(c, None)
    }

    /// [`Self::check_claims`] for a token presented to `resource` when given: `aud` must
    /// name the resource's URL (RFC 8707) instead of BETTER_AUTH_URL, and `iss` may be the
    /// resource's authorization server as well as BETTER_AUTH_URL.
    pub(super) fn check_claims_for(
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
pub(super) struct UnverifiedJwt {
    pub alg: String,
    pub kid: Option<String>,
    pub claims: ClaimSet,
}

/// The registered claims this server reads, typed but not checked.
#[derive(Debug, Default)]
pub(super) struct ClaimSet {
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
pub(super) fn json_object_part(part: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
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
/// are checked by [`AccessTokens::check_claims`], in the contract's order.
pub(super) fn verify_signature(
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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

    fn tokens(issuer: Option<&str>) -> AccessTokens {
        AccessTokens::new(
            &SECRET.into(),
            issuer.map(String::from),
            900,
            DEFAULT_LEEWAY_SECS,
        )
        .unwrap()
    }

    fn sign(claims: serde_json::Value, alg: Algorithm, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn now() -> i64 {
        Utc::now().timestamp()
    }

    #[test]
    fn a_remembered_token_still_expires_and_its_changed_copies_still_fail() {
        let t = AccessTokens::new(&SECRET.into(), None, 1, 0).unwrap();
        let token = t
            .issue("user-1", "a@example.com", Some("sid"))
            .unwrap()
            .token;
        let first = t.verify(&token).unwrap();
        assert_eq!(t.verify(&token).unwrap(), first, "the remembered answer");
        assert_eq!(t.recent.lock().unwrap().len(), 1);
        let mut changed = token.clone();
        changed.insert(token.len() - 3, 'x');
        assert!(t.verify(&changed).is_err());
        assert!(t.verify(&format!("{token} ")).is_err());
        // exp = iat + 1 and no leeway: two seconds on, the remembered token has expired.
        std::thread::sleep(std::time::Duration::from_millis(2100));
        assert_eq!(t.verify(&token), Err(TokenRejection::Expired));
    }

    #[test]
    fn remembered_tokens_are_bounded() {
        let t = tokens(None);
        for i in 0..(RECENT_TOKENS + 10) {
            let token = t
                .issue(&format!("user-{i}"), "a@example.com", None)
                .unwrap()
                .token;
            t.verify(&token).unwrap();
            assert!(t.recent.lock().unwrap().len() <= RECENT_TOKENS);
        }
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() {
        let t = tokens(Some("https://app.example.com"));
        let issued = t.issue("user123", "a@example.com", Some("sess1")).unwrap();
        let claims = t.verify(&issued.token).unwrap();
        assert_eq!(claims.sub, "user123");
        assert_eq!(claims.email.as_deref(), Some("a@example.com"));
        assert_eq!(claims.exp - claims.iat, 900);
        assert_eq!(claims.iss.as_deref(), Some("https://app.example.com"));
        assert_eq!(claims.sid.as_deref(), Some("sess1"));
        assert_eq!(claims.expires_at(), issued.expires_at);
        let header = jsonwebtoken::decode_header(&issued.token).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
    }

    #[test]
    fn short_and_placeholder_secrets_are_refused() {
        assert!(matches!(
            AccessTokens::new(&"too-short".into(), None, 900, 30),
            Err(SecretError::TooShort(9))
        ));
        assert!(matches!(
            AccessTokens::new(
                &"better-auth-secret-12345678901234567890".into(),
                None,
                900,
                30
            ),
            Err(SecretError::Placeholder)
        ));
    }

    #[test]
    fn each_failure_has_its_reason() {
        let t = tokens(Some("https://app.example.com"));
        let iss = "https://app.example.com";
        let good = serde_json::json!({"sub":"u","iat":now(),"exp":now()+60,"iss":iss,"aud":iss});
        assert!(
            t.verify(&sign(good.clone(), Algorithm::HS256, SECRET))
                .is_ok()
        );

        let cases: Vec<(String, TokenRejection)> = vec![
            ("abc".into(), TokenRejection::Malformed),
            ("a.b.c".into(), TokenRejection::Malformed),
            ("x".repeat(MAX_TOKEN_BYTES + 1), TokenRejection::TooLarge),
            (
                sign(
                    good.clone(),
                    Algorithm::HS256,
                    "another-secret-another-secret-0000",
                ),
                TokenRejection::BadSignature,
            ),
            (
                sign(good.clone(), Algorithm::HS512, SECRET),
                TokenRejection::UnsupportedAlgorithm,
            ),
            (
                sign(
                    serde_json::json!({"sub":"u","iat":now()-1000,"exp":now()-500,"iss":iss,"aud":iss}),
                    Algorithm::HS256,
                    SECRET,
                ),
                TokenRejection::Expired,
            ),
            (
                sign(
                    serde_json::json!({"sub":"u","iat":now(),"nbf":now()+600,"exp":now()+900,"iss":iss,"aud":iss}),
                    Algorithm::HS256,
                    SECRET,
                ),
                TokenRejection::NotYetValid,
            ),
            (
                sign(
                    serde_json::json!({"sub":"u","iat":now()+600,"exp":now()+900,"iss":iss,"aud":iss}),
                    Algorithm::HS256,
                    SECRET,
                ),
                TokenRejection::NotYetValid,
            ),
            (
                sign(
                    serde_json::json!({"sub":"u","iat":now(),"exp":now()+60,"iss":"https://evil","aud":iss}),
                    Algorithm::HS256,
                    SECRET,
                ),
                TokenRejection::WrongIssuer,
            ),
            (
                sign(
                    serde_json::json!({"sub":"u","iat":now(),"exp":now()+60,"iss":iss,"aud":"other"}),
                    Algorithm::HS256,
                    SECRET,
                ),
                TokenRejection::WrongAudience,
            ),
            (
                sign(
                    serde_json::json!({"iat":now(),"exp":now()+60,"iss":iss,"aud":iss}),
                    Algorithm::HS256,
                    SECRET,
                ),
                TokenRejection::MissingClaim,
            ),
            (
                sign(
                    serde_json::json!({"sub":"u","exp":now()+60,"iss":iss,"aud":iss}),
                    Algorithm::HS256,
                    SECRET,
                ),
                TokenRejection::MissingClaim,
            ),
            (
                sign(
                    serde_json::json!({"sub":"u","iat":now(),"iss":iss,"aud":iss}),
                    Algorithm::HS256,
                    SECRET,
                ),
                TokenRejection::MissingClaim,
            ),
        ];
        for (token, want) in cases {
            assert_eq!(t.verify(&token).unwrap_err(), want, "{token}");
        }
    }

    #[test]
    fn alg_none_and_a_changed_payload_are_rejected() {
        let t = tokens(None);
        let issued = t.issue("u", "a@example.com", None).unwrap();
        let parts: Vec<&str> = issued.token.split('.').collect();
        let none_header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none_header}.{}.", parts[1]);
        assert_eq!(
            t.verify(&unsigned).unwrap_err(),
            TokenRejection::UnsupportedAlgorithm
        );
        let forged_payload = B64.encode(
            serde_json::to_vec(&serde_json::json!({"sub":"admin","iat":now(),"exp":now()+60}))
                .unwrap(),
        );
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert_eq!(t.verify(&forged).unwrap_err(), TokenRejection::BadSignature);
        // A payload that is not a JSON object is malformed, whatever the signature.
        let garbage = format!("{}.{}.{}", parts[0], B64.encode(b"not json"), parts[2]);
        assert_eq!(t.verify(&garbage).unwrap_err(), TokenRejection::Malformed);
        let rs256 = format!(
            "{}.{}.{}",
            B64.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
            parts[1],
            parts[2]
        );
        assert_eq!(
            t.verify(&rs256).unwrap_err(),
            TokenRejection::UnsupportedAlgorithm
        );
    }

    #[test]
    fn crit_headers_a_public_key_as_hmac_secret_and_unknown_algs_are_rejected() {
        let t = tokens(None);
        let claims = serde_json::json!({"sub":"u","iat":now(),"exp":now()+60});
        let mut header = Header::new(Algorithm::HS256);
        header.crit = Some(vec!["exp".into()]);
        let crit = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert_eq!(t.verify(&crit).unwrap_err(), TokenRejection::Malformed);
        // The classic confusion attack: an RSA public key (PEM text) used as the HMAC key.
        let public_key_pem = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END PUBLIC KEY-----\n";
        let confused = sign(claims.clone(), Algorithm::HS256, public_key_pem);
        assert_eq!(
            t.verify(&confused).unwrap_err(),
            TokenRejection::BadSignature
        );
        let hs384 = sign(claims, Algorithm::HS384, SECRET);
        assert_eq!(
            t.verify(&hs384).unwrap_err(),
            TokenRejection::UnsupportedAlgorithm
        );
    }

    #[test]
    fn the_leeway_is_configurable_and_capped() {
        let strict = AccessTokens::new(&SECRET.into(), None, 900, 0).unwrap();
        let lax = AccessTokens::new(&SECRET.into(), None, 900, 3600).unwrap();
        assert_eq!(lax.leeway_secs, MAX_LEEWAY_SECS as i64);
        let just_expired = sign(
            serde_json::json!({"sub":"u","iat":now()-100,"exp":now()-5}),
            Algorithm::HS256,
            SECRET,
        );
        assert_eq!(
            strict.verify(&just_expired).unwrap_err(),
            TokenRejection::Expired
        );
        assert!(lax.verify(&just_expired).is_ok());
        let issued_ahead = sign(
            serde_json::json!({"sub":"u","iat":now()+20,"exp":now()+900}),
            Algorithm::HS256,
            SECRET,
        );
        assert_eq!(
            strict.verify(&issued_ahead).unwrap_err(),
            TokenRejection::NotYetValid
        );
        assert!(lax.verify(&issued_ahead).is_ok());
    }

    /// Signs `claims` under a raw header (which jsonwebtoken's Header could not express).
    fn sign_raw(header: &str, claims: serde_json::Value, secret: &str) -> String {
        use aws_lc_rs::hmac;
        let input = format!(
            "{}.{}",
            B64.encode(header),
            B64.encode(serde_json::to_vec(&claims).unwrap())
        );
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        let tag = hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", B64.encode(tag.as_ref()))
    }

    #[test]
    fn reasons_follow_the_contracts_table_and_its_order() {
        let iss = "https://app.example.com";
        let t = tokens(Some(iss));
        let hs = r#"{"alg":"HS256","typ":"JWT"}"#;
        let good = || serde_json::json!({"sub":"u","iat":now(),"exp":now()+60,"iss":iss,"aud":iss});
        let with = |k: &str, v: serde_json::Value| {
            let mut c = good();
            c[k] = v;
            c
        };
        let without = |k: &str| {
            let mut c = good();
            c.as_object_mut().unwrap().remove(k);
            c
        };
        let other = "another-secret-another-secret-0000";
        let cases = [
            // malformed: no alg, wrong claim types (even with a bad signature too)
            (
                sign_raw(r#"{"typ":"JWT"}"#, good(), SECRET),
                TokenRejection::Malformed,
            ),
            (
                sign_raw(r#"{"alg":5}"#, good(), SECRET),
                TokenRejection::Malformed,
            ),
            (
                sign_raw(hs, with("exp", "tomorrow".into()), SECRET),
                TokenRejection::Malformed,
            ),
            (
                sign_raw(hs, with("sub", 5.into()), SECRET),
                TokenRejection::Malformed,
            ),
            (
                sign_raw(hs, with("aud", serde_json::json!([1])), SECRET),
                TokenRejection::Malformed,
            ),
            (
                sign_raw(hs, with("sub", 5.into()), other),
                TokenRejection::Malformed,
            ),
            (
                sign_raw(r#"{"alg":"HS256","kid":7}"#, good(), SECRET),
                TokenRejection::Malformed,
            ),
            // unsupported algorithm before the signature
            (
                sign_raw(r#"{"alg":"none"}"#, good(), other),
                TokenRejection::UnsupportedAlgorithm,
            ),
            (
                sign_raw(r#"{"alg":"ES256"}"#, good(), other),
                TokenRejection::UnsupportedAlgorithm,
            ),
            // bad signature before any claim
            (
                sign_raw(hs, without("sub"), other),
                TokenRejection::BadSignature,
            ),
            (
                sign_raw(hs, with("exp", (now() - 500).into()), other),
                TokenRejection::BadSignature,
            ),
            // missing claims, then expiry (negative included), then the future, then iss/aud
            (
                sign_raw(hs, without("iat"), SECRET),
                TokenRejection::MissingClaim,
            ),
            (
                sign_raw(hs, with("sub", "".into()), SECRET),
                TokenRejection::MissingClaim,
            ),
            (
                sign_raw(hs, with("exp", (-5).into()), SECRET),
                TokenRejection::Expired,
            ),
            (
                sign_raw(hs, with("exp", (-1.5).into()), SECRET),
                TokenRejection::Expired,
            ),
            (
                sign_raw(hs, with("exp", (now() - 500).into()), SECRET),
                TokenRejection::Expired,
            ),
            (
                sign_raw(hs, with("nbf", (now() + 600).into()), SECRET),
                TokenRejection::NotYetValid,
            ),
            (
                sign_raw(hs, without("iss"), SECRET),
                TokenRejection::WrongIssuer,
            ),
            (
                sign_raw(hs, with("aud", serde_json::json!(["x", "y"])), SECRET),
                TokenRejection::WrongAudience,
            ),
        ];
        for (token, want) in cases {
            assert_eq!(t.verify(&token).unwrap_err(), want, "{token}");
        }
        // Fractional NumericDates and an audience list naming us are fine.
        let fine = sign_raw(hs, with("aud", serde_json::json!(["x", iss])), SECRET);
        assert!(t.verify(&fine).is_ok());
        let fractional = sign_raw(hs, with("exp", (now() as f64 + 60.5).into()), SECRET);
        assert!(t.verify(&fractional).is_ok());
    }

    #[test]
    fn a_token_for_a_resource_may_come_from_its_authorization_server() {
        let t = tokens(Some("https://app.example.com"));
        let resource = Resource {
            url: "https://mcp.example.com/mcp".into(),
            issuer: "https://app.example.com/api/auth".into(),
        };
        let claims = |iss: &str, aud: &str| {
            let token = sign(
                serde_json::json!({"sub": "u", "iat": now(), "exp": now() + 60,
                    "iss": iss, "aud": [aud, "https://app.example.com/api/auth/oauth2/userinfo"]}),
                Algorithm::HS256,
                SECRET,
            );
            UnverifiedJwt::read(&token).unwrap().claims
        };
        let mcp = &resource.url;
        for iss in [
            "https://app.example.com",
            "https://app.example.com/api/auth",
        ] {
            assert!(
                t.check_claims_for(claims(iss, mcp), Some(&resource))
                    .is_ok(),
                "{iss}"
            );
        }
        assert_eq!(
            t.check_claims_for(
                claims("https://evil.example.com/api/auth", mcp),
                Some(&resource)
            )
            .unwrap_err(),
            TokenRejection::WrongIssuer
        );
        assert_eq!(
            t.check_claims_for(
                claims("https://app.example.com", "https://other.example.com"),
                Some(&resource)
            )
            .unwrap_err(),
            TokenRejection::WrongAudience
        );
        // Without a resource only BETTER_AUTH_URL issues, for itself.
        assert_eq!(
            t.check_claims(claims(
                "https://app.example.com/api/auth",
                "https://app.example.com"
            ))
            .unwrap_err(),
            TokenRejection::WrongIssuer
        );
    }

    #[test]
    fn without_an_issuer_no_iss_or_aud_is_issued() {
        let t = tokens(None);
        let issued = t.issue("u", "a@example.com", None).unwrap();
        let claims = t.verify(&issued.token).unwrap();
        assert_eq!(claims.iss, None);
        assert_eq!(claims.aud, None);
    }
}
