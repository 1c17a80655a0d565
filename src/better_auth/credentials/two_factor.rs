//! Better Auth's two-factor plugin, as far as a sign-in needs it: the second factor
//! (a TOTP code or a backup code) checked against the user's `twoFactor` row, whose
//! secret and backup codes Better Auth encrypts under BETTER_AUTH_SECRET (or, after a
//! rotation, under the current version of BETTER_AUTH_SECRETS).

use std::time::Duration;

use aws_lc_rs::{digest, hmac};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::super::RateLimitPolicy;
use super::secret::Secrets;

/// A second factor given with a sign-in.
#[derive(Clone)]
pub enum SecondFactor {
    /// A code of the user's authenticator app.
    Totp(String),
    /// One of the user's backup codes; it is used up.
    BackupCode(String),
}

impl SecondFactor {
    /// Which kind of code it is (never the code).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Totp(_) => "totp",
            Self::BackupCode(_) => "backupCode",
        }
    }
}

impl std::fmt::Debug for SecondFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Totp(_) => "Totp(..)",
            Self::BackupCode(_) => "BackupCode(..)",
        })
    }
}

/// Better Auth's limit on its `/two-factor/*` paths: 3 attempts per 10 s.
pub const SECOND_FACTOR_RATE_LIMIT: RateLimitPolicy = RateLimitPolicy {
    enabled: true,
    window: Duration::from_secs(10),
    max: 3,
};

/// Better Auth's account lockout (`accountLockout` defaults): after 10 failed second
/// factors in a row the user's second factor is locked for 15 minutes.
pub const MAX_FAILED_SECOND_FACTORS: i64 = 10;
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);

/// Better Auth's TOTP defaults: 6 digits, 30-second steps, one step either side.
const TOTP_DIGITS: u32 = 6;
const TOTP_PERIOD_SECS: i64 = 30;
const TOTP_WINDOW: i64 = 1;

/// Why a stored value could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CipherError {
    #[error("it is not the hex of a nonce and a ciphertext")]
    Malformed,
    /// `$ba$<version>$...` with one secret: the app rotated its secret.
    #[error(
        "it was encrypted under a versioned secret: set BETTER_AUTH_SECRETS as the Better Auth app has it"
    )]
    Versioned,
    /// `$ba$<version>$...` of a version BETTER_AUTH_SECRETS lacks (retired, or not yet here).
    #[error("it was encrypted under secret version {0}, which BETTER_AUTH_SECRETS lacks")]
    UnknownVersion(u32),
    /// Bare hex after a rotation with no legacy secret to read it.
    #[error(
        "it was encrypted before the secret was rotated: set BETTER_AUTH_SECRET to the secret of before, as Better Auth's legacy secret"
    )]
    NoLegacySecret,
    #[error("it does not decrypt under the secret it was written with")]
    WrongSecret,
}

fn cipher(secret: &SecretString) -> XChaCha20Poly1305 {
    let key = digest::digest(&digest::SHA256, secret.expose_secret().as_bytes());
    XChaCha20Poly1305::new_from_slice(key.as_ref()).expect("SHA-256 gives a 32-byte key")
}

const NONCE_BYTES: usize = 24;

/// Better Auth's envelope of a ciphertext written under a versioned secret.
const ENVELOPE: &str = "$ba$";

/// Better Auth's `symmetricDecrypt`: with one secret, the bare hex under it; after a
/// rotation, `$ba$<version>$<hex>` under that version's secret and bare hex under the
/// legacy one. A `$ba$` prefix with no readable version is taken as bare hex, as Better
/// Auth does (and so fails).
pub fn decrypt(secrets: &Secrets, stored: &str) -> Result<Zeroizing<String>, CipherError> {
    let envelope = stored.strip_prefix(ENVELOPE).and_then(|rest| {
        let (version, hex) = rest.split_once('$')?;
        Some((super::secret::version_number(version)?, hex))
    });
    match envelope {
        Some(_) if !secrets.is_rotated() => Err(CipherError::Versioned),
        Some((version, hex)) => {
            let secret = secrets
                .version(version)
                .ok_or(CipherError::UnknownVersion(version))?;
            decrypt_with(secret, hex)
        }
        None => decrypt_with(
            secrets.for_bare_hex().ok_or(CipherError::NoLegacySecret)?,
            stored,
        ),
    }
}

/// Better Auth's `symmetricDecrypt` with a string secret: XChaCha20-Poly1305 under
/// SHA-256(secret), the hex of a 24-byte nonce followed by the ciphertext and its tag.
fn decrypt_with(secret: &SecretString, stored: &str) -> Result<Zeroizing<String>, CipherError> {
    let bytes = hex::decode(stored).map_err(|_| CipherError::Malformed)?;
    if bytes.len() < NONCE_BYTES + 16 {
        return Err(CipherError::Malformed);
    }
    let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
    let plain = cipher(secret)
        .decrypt(XNonce::from_slice(nonce), sealed)
        .map_err(|_| CipherError::WrongSecret)?;
    let plain = Zeroizing::new(plain);
    String::from_utf8(plain.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| CipherError::Malformed)
}

/// Better Auth's `symmetricEncrypt`: under the current secret, in the envelope of its
/// version after a rotation.
pub fn encrypt(secrets: &Secrets, plain: &str) -> String {
    let hex = encrypt_with(secrets.current(), plain);
    match secrets.current_version() {
        Some(version) => format!("{ENVELOPE}{version}${hex}"),
        None => hex,
    }
}

/// Better Auth's `symmetricEncrypt` with a string secret, under a fresh random nonce.
fn encrypt_with(secret: &SecretString, plain: &str) -> String {
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce).expect("the operating system's random source failed");
    let sealed = cipher(secret)
        .encrypt(XNonce::from_slice(&nonce), plain.as_bytes())
        .expect("XChaCha20-Poly1305 seals any message that fits in memory");
    let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    hex::encode(out)
}

/// The HMAC key of a TOTP secret as Better Auth stores it: the secret's UTF-8 bytes, or
/// after a `base32:` prefix, the bytes the rest encodes.
fn totp_key(secret: &str) -> Option<Zeroizing<Vec<u8>>> {
    match secret.strip_prefix("base32:") {
        None => Some(Zeroizing::new(secret.as_bytes().to_vec())),
        Some(b32) => {
            let b32 = b32.trim_end_matches('=').to_ascii_uppercase();
            data_encoding::BASE32_NOPAD
                .decode(b32.as_bytes())
                .ok()
                .map(Zeroizing::new)
        }
    }
}

/// RFC 4226's HOTP with HMAC-SHA-1, as `@better-auth/utils/otp` computes it.
fn hotp(key: &hmac::Key, counter: u64) -> String {
    let tag = hmac::sign(key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    let offset = (mac[mac.len() - 1] & 0x0f) as usize;
    let value = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    format!(
        "{:0width$}",
        value % 10u32.pow(TOTP_DIGITS),
        width = TOTP_DIGITS as usize
    )
}

fn hmac_key(secret: &str) -> Option<hmac::Key> {
    let key = totp_key(secret)?;
    Some(hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key))
}

/// The TOTP code of `secret` (a decrypted stored secret) at `time_secs`, as an
/// authenticator app shows it. None: the secret is not one Better Auth could have stored.
pub fn totp(secret: &str, time_secs: i64) -> Option<String> {
    let counter = u64::try_from(time_secs.div_euclid(TOTP_PERIOD_SECS)).ok()?;
    Some(hotp(&hmac_key(secret)?, counter))
}

/// Whether `code` is the TOTP of `secret` (a decrypted stored secret) at `now_secs`,
/// one 30-second step either side, compared in constant time. None: the secret is not
/// one Better Auth could have stored.
pub fn totp_matches(secret: &str, code: &str, now_secs: i64) -> Option<bool> {
    let key = hmac_key(secret)?;
    let counter = now_secs.div_euclid(TOTP_PERIOD_SECS);
    let mut matched = false;
    for step in -TOTP_WINDOW..=TOTP_WINDOW {
        let Ok(at) = u64::try_from(counter + step) else {
            continue;
        };
        matched |= bool::from(hotp(&key, at).as_bytes().ct_eq(code.as_bytes()));
    }
    Some(matched)
}

/// The backup codes Better Auth stores: a JSON array of strings, encrypted (its default,
/// `storeBackupCodes: "encrypted"`) or as it is (`"plain"`).
pub struct BackupCodes {
    codes: Vec<Zeroizing<String>>,
    encrypted: bool,
}

impl BackupCodes {
    pub fn read(secrets: &Secrets, stored: &str) -> Result<Self, CipherError> {
        let parse = |json: &str| {
            serde_json::from_str::<Vec<String>>(json)
                .map(|codes| codes.into_iter().map(Zeroizing::new).collect())
        };
        if let Ok(codes) = parse(stored) {
            return Ok(Self {
                codes,
                encrypted: false,
            });
        }
        let json = decrypt(secrets, stored)?;
        let codes = parse(&json).map_err(|_| CipherError::Malformed)?;
        Ok(Self {
            codes,
            encrypted: true,
        })
    }

    /// Takes `code` out if it is one of them (compared in constant time, each code).
    pub fn use_up(&mut self, code: &str) -> bool {
        let mut found = None;
        for (i, c) in self.codes.iter().enumerate() {
            if bool::from(c.as_bytes().ct_eq(code.as_bytes())) {
                found = Some(i);
            }
        }
        found.map(|i| self.codes.remove(i)).is_some()
    }

    /// The codes left, stored as they were read (encrypted or not): encrypted as Better
    /// Auth encrypts now, under the current secret.
    pub fn store(&self, secrets: &Secrets) -> String {
        let codes: Vec<&str> = self.codes.iter().map(|c| c.as_str()).collect();
        let json = Zeroizing::new(serde_json::to_string(&codes).expect("strings serialize"));
        if self.encrypted {
            encrypt(secrets, &json)
        } else {
            json.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secrets {
        Secrets::single("unit-test-secret-0123456789abcdef-0123456789".into())
    }

    #[test]
    fn what_is_encrypted_decrypts_and_nothing_else_does() {
        let s = secret();
        let sealed = encrypt(&s, "JBSWY3DPEHPK3PXP");
        assert_ne!(
            sealed,
            encrypt(&s, "JBSWY3DPEHPK3PXP"),
            "a fresh nonce each time"
        );
        assert_eq!(decrypt(&s, &sealed).unwrap().as_str(), "JBSWY3DPEHPK3PXP");
        let other = Secrets::single("another-secret-0123456789abcdef-0123456789".into());
        assert_eq!(decrypt(&other, &sealed), Err(CipherError::WrongSecret));
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(decrypt(&s, &tampered), Err(CipherError::WrongSecret));
        assert_eq!(decrypt(&s, "zz"), Err(CipherError::Malformed));
        assert_eq!(decrypt(&s, "abcd"), Err(CipherError::Malformed));
        assert_eq!(decrypt(&s, "$ba$1$abcd"), Err(CipherError::Versioned));
    }

    /// After a rotation (BETTER_AUTH_SECRETS "2:new,1:old", BETTER_AUTH_SECRET the one of
    /// before): new ciphertexts are `$ba$2$...`, each version reads its own, the legacy
    /// secret the bare hex, and nothing else reads what it did not write.
    #[test]
    fn after_a_rotation_each_version_reads_its_own_and_the_legacy_secret_bare_hex() {
        const BEFORE: &str = "the-secret-before-the-rotation-0123456789";
        let before = Secrets::single(BEFORE.into());
        let rotated = Secrets::rotated(
            "2:the-second-secret-0123456789abcdef,1:the-first-versioned-0123456789",
            Some(BEFORE.into()),
        )
        .unwrap();
        let bare = encrypt(&before, "old-totp-secret");
        let sealed = encrypt(&rotated, "new-totp-secret");
        assert!(sealed.starts_with("$ba$2$"), "{sealed}");
        assert_eq!(
            decrypt(&rotated, &bare).unwrap().as_str(),
            "old-totp-secret"
        );
        assert_eq!(
            decrypt(&rotated, &sealed).unwrap().as_str(),
            "new-totp-secret"
        );
        let v1 = Secrets::rotated("1:the-first-versioned-0123456789", None).unwrap();
        let by_v1 = encrypt(&v1, "v1-totp-secret");
        assert!(by_v1.starts_with("$ba$1$"));
        assert_eq!(
            decrypt(&rotated, &by_v1).unwrap().as_str(),
            "v1-totp-secret"
        );
        assert_eq!(decrypt(&v1, &sealed), Err(CipherError::UnknownVersion(2)));
        assert_eq!(decrypt(&v1, &bare), Err(CipherError::NoLegacySecret));
        assert_eq!(decrypt(&before, &sealed), Err(CipherError::Versioned));
        // A leading zero is still version 2 (parseInt), a missing version is bare hex.
        let zero = sealed.replacen("$ba$2$", "$ba$02$", 1);
        assert_eq!(
            decrypt(&rotated, &zero).unwrap().as_str(),
            "new-totp-secret"
        );
        assert_eq!(decrypt(&rotated, "$ba$x$abcd"), Err(CipherError::Malformed));
    }

    /// RFC 6238's SHA-1 test vectors (8 digits there; their last 6 digits here, since
    /// the HOTP value mod 10^6 is the last 6 digits of the value mod 10^8).
    #[test]
    fn totp_matches_rfc_6238_one_step_either_side_and_no_further() {
        let key = "12345678901234567890";
        for (t, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(totp(key, t).as_deref(), Some(code));
            assert_eq!(totp_matches(key, code, t), Some(true), "at {t}");
            assert_eq!(totp_matches(key, code, t + 30), Some(true), "a step later");
            assert_eq!(
                totp_matches(key, code, t - 30),
                Some(true),
                "a step earlier"
            );
            assert_eq!(
                totp_matches(key, code, t + 60),
                Some(false),
                "two steps later"
            );
        }
        assert_eq!(totp_matches(key, "28708", 59), Some(false));
        assert_eq!(totp_matches(key, "", 59), Some(false));
        // The same key, stored base32-encoded.
        let b32 = format!("base32:{}", data_encoding::BASE32.encode(key.as_bytes()));
        assert_eq!(totp_matches(&b32, "287082", 59), Some(true));
        assert_eq!(totp_matches("base32:not base32!", "287082", 59), None);
    }

    #[test]
    fn a_backup_code_is_used_up_once_and_the_rest_stored_as_they_were() {
        let s = secret();
        let plain = r#"["abcde-12345","fghij-67890"]"#;
        for stored in [plain.to_owned(), encrypt(&s, plain)] {
            let mut codes = BackupCodes::read(&s, &stored).unwrap();
            assert!(!codes.use_up("zzzzz-00000"));
            assert!(codes.use_up("abcde-12345"));
            assert!(!codes.use_up("abcde-12345"), "used up");
            let left = codes.store(&s);
            assert_eq!(left.starts_with('['), stored.starts_with('['));
            let mut again = BackupCodes::read(&s, &left).unwrap();
            assert!(!again.use_up("abcde-12345"));
            assert!(again.use_up("fghij-67890"));
        }
        assert!(BackupCodes::read(&s, "not json, not hex").is_err());
    }
}
