//! Better Auth session tokens: the raw token (the `session` row's `token`), or the signed
//! cookie value `token.signature` the web app sets, as a credential.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::percent_decode_str;
use secrecy::{ExposeSecret, SecretString};

use super::super::TokenRejection;
use super::jwt::MAX_TOKEN_BYTES;

/// The longest session credential there can be (a token is 32 characters; signed, about
/// 80): a longer one names no session, and is not looked up.
const MAX_SESSION_CREDENTIAL_BYTES: usize = 512;

/// The session token inside a credential: the raw token, or the signed cookie value
/// `token.base64(HMAC-SHA256(secret, token))`, URL-encoded or not, whose signature must hold.
pub fn session_token(credential: &str, secret: &SecretString) -> Result<String, TokenRejection> {
    // The contract's too_large is over 8 KiB, whatever the shape.
    if credential.len() > MAX_TOKEN_BYTES {
        return Err(TokenRejection::TooLarge);
    }
    if credential.len() > MAX_SESSION_CREDENTIAL_BYTES {
        return Err(TokenRejection::SessionNotFound);
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

#[cfg(test)]
mod tests {
    use super::*;

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
            TokenRejection::SessionNotFound,
            "longer than any session token, within the contract's 8 KiB"
        );
        assert_eq!(
            session_token(&"x".repeat(MAX_TOKEN_BYTES + 1), &secret).unwrap_err(),
            TokenRejection::TooLarge
        );
    }
}
