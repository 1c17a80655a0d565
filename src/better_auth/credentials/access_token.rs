//! Access tokens issued here: HS256 JWTs keyed with the UTF-8 bytes of the current
//! BETTER_AUTH_SECRET. Verification allows HS256 only and names each way a token can fail.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};

use super::super::{AuthError, TokenRejection};
use super::jwt::{AccessClaims, ClaimRules, MAX_TOKEN_BYTES, UnverifiedJwt, verify_signature};
use super::secret::{SecretError, check_secret};

/// A signed token and when it expires.
pub struct IssuedToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// How many verified tokens are remembered, and the longest one remembered.
const RECENT_TOKENS: usize = 1024;
const RECENT_TOKEN_MAX_BYTES: usize = 2048;

/// Signs and verifies access tokens.
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    rules: ClaimRules,
    ttl_secs: i64,
    /// Tokens that verified, with their claims. An agent verifies the same token on every
    /// step; what the signature and claim checks decide about a token string never
    /// changes (the key and rules are fixed for the life of the process), so for a
    /// remembered token only the clock checks are made again.
    recent: std::sync::Mutex<std::collections::HashMap<Box<str>, AccessClaims>>,
}

impl AccessTokens {
    /// `issuer` (BETTER_AUTH_URL) becomes both `iss` and `aud` of issued tokens and is
    /// required of verified ones.
    /// `leeway_secs` is capped at [`super::jwt::MAX_LEEWAY_SECS`].
    pub fn new(
        secret: &SecretString,
        issuer: Option<String>,
        ttl_secs: u64,
        leeway_secs: u64,
    ) -> Result<Self, SecretError> {
        Self::with_rules(secret, ClaimRules::new(issuer, leeway_secs), ttl_secs)
    }

    /// Tokens keyed with `secret` that obey `rules` (issued with its issuer as `iss` and
    /// `aud`), valid for `ttl_secs`.
    pub fn with_rules(
        secret: &SecretString,
        rules: ClaimRules,
        ttl_secs: u64,
    ) -> Result<Self, SecretError> {
        check_secret(secret)?;
        let bytes = secret.expose_secret().as_bytes();
        Ok(Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            rules,
            ttl_secs: ttl_secs.min(i64::MAX as u64) as i64,
            recent: Default::default(),
        })
    }

    /// The claim rules these tokens obey, which the JWT plugin's tokens obey too.
    pub fn rules(&self) -> &ClaimRules {
        &self.rules
    }

    /// A token for `user_id`, tied to the session `sid` when there is one.
    pub fn issue(
        &self,
        user_id: &str,
        email: &str,
        sid: Option<&str>,
    ) -> Result<IssuedToken, AuthError> {
        let now = Utc::now().timestamp();
        let issuer = self.rules.issuer().map(str::to_owned);
        let claims = AccessClaims {
            sid: sid.map(str::to_owned),
            sub: user_id.to_owned(),
            email: Some(email.to_owned()),
            iat: now,
            exp: now.saturating_add(self.ttl_secs),
            nbf: None,
            aud: issuer.clone().map(serde_json::Value::String),
            iss: issuer,
            scope: None,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::internal("token signing failed", e))?;
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
            self.rules.check_clock(&claims)?;
            return Ok(claims);
        }
        let jwt = UnverifiedJwt::read(token)?;
        if jwt.alg != "HS256" {
            return Err(TokenRejection::UnsupportedAlgorithm);
        }
        verify_signature(token, &self.decoding, Algorithm::HS256)?;
        let claims = self.rules.check(jwt.claims, None)?;
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
            recent.retain(|_, c| c.exp >= now - self.rules.leeway_secs());
            if recent.len() >= RECENT_TOKENS {
                recent.clear();
            }
        }
        recent.insert(token.into(), claims.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::super::jwt::{DEFAULT_LEEWAY_SECS, MAX_LEEWAY_SECS, Resource};
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
        assert_eq!(lax.rules().leeway_secs(), MAX_LEEWAY_SECS as i64);
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
                t.rules().check(claims(iss, mcp), Some(&resource)).is_ok(),
                "{iss}"
            );
        }
        assert_eq!(
            t.rules()
                .check(
                    claims("https://evil.example.com/api/auth", mcp),
                    Some(&resource)
                )
                .unwrap_err(),
            TokenRejection::WrongIssuer
        );
        assert_eq!(
            t.rules()
                .check(
                    claims("https://app.example.com", "https://other.example.com"),
                    Some(&resource)
                )
                .unwrap_err(),
            TokenRejection::WrongAudience
        );
        // Without a resource only BETTER_AUTH_URL issues, for itself.
        assert_eq!(
            t.rules()
                .check(
                    claims(
                        "https://app.example.com/api/auth",
                        "https://app.example.com"
                    ),
                    None
                )
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
