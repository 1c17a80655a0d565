//! Better Auth's secrets as a deployment has them: one `BETTER_AUTH_SECRET`, or, after a
//! rotation, `BETTER_AUTH_SECRETS` (`<version>:<secret>,...`, the first entry current)
//! with `BETTER_AUTH_SECRET` kept as the legacy secret. The current secret signs cookies
//! and tokens; every version decrypts what it encrypted (`$ba$<version>$<hex>`), and the
//! legacy secret the bare hex written before the rotation (Better Auth's
//! `context/secret-utils` and `crypto` modules). A secret too short to key HS256, or one
//! that documentation shows, is refused ([`check_secret`]).

use secrecy::{ExposeSecret, SecretString};

/// The fewest bytes BETTER_AUTH_SECRET may have: RFC 7518 §3.2 wants a 256-bit HS256 key.
pub const MIN_SECRET_BYTES: usize = 32;
/// Secrets that appear in documentation, so anyone could forge tokens with them.
const PLACEHOLDER_SECRETS: &[&str] = &[
    "better-auth-secret-12345678901234567890",
    "replace-me-with-at-least-32-random-bytes-openssl-rand-base64-32",
];
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

/// The secrets the service signs and decrypts with.
#[derive(Clone)]
pub struct Secrets {
    current: SecretString,
    /// BETTER_AUTH_SECRETS' versions in its order (the first is current); empty without
    /// a rotation.
    versions: Vec<(u32, SecretString)>,
    /// With versions: BETTER_AUTH_SECRET, which decrypts the bare hex of before.
    legacy: Option<SecretString>,
}

/// Why BETTER_AUTH_SECRETS cannot be read. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "BETTER_AUTH_SECRETS entry {0} is not <version>:<secret> (comma-separated, the current first)"
    )]
    Entry(usize),
    #[error("BETTER_AUTH_SECRETS entry {0}: the version must be a non-negative integer")]
    Version(usize),
    #[error("BETTER_AUTH_SECRETS entry {0}: the secret is empty")]
    Empty(usize),
    #[error("BETTER_AUTH_SECRETS names version {0} twice")]
    Duplicate(u32),
}

impl Secrets {
    /// One secret, no rotation.
    pub fn single(secret: SecretString) -> Self {
        Self {
            current: secret,
            versions: Vec::new(),
            legacy: None,
        }
    }

    /// BETTER_AUTH_SECRETS as Better Auth parses it (entries split on commas and trimmed,
    /// each split at its first colon), with `legacy` (BETTER_AUTH_SECRET) for bare hex.
    pub fn rotated(list: &str, legacy: Option<SecretString>) -> Result<Self, SecretsError> {
        let mut versions: Vec<(u32, SecretString)> = Vec::new();
        for (i, entry) in list.split(',').enumerate() {
            let position = i + 1;
            let (version, value) = entry
                .trim()
                .split_once(':')
                .ok_or(SecretsError::Entry(position))?;
            let version = version_number(version).ok_or(SecretsError::Version(position))?;
            let value = value.trim();
            if value.is_empty() {
                return Err(SecretsError::Empty(position));
            }
            if versions.iter().any(|(v, _)| *v == version) {
                return Err(SecretsError::Duplicate(version));
            }
            versions.push((version, SecretString::from(value.to_owned())));
        }
        let current = versions.first().ok_or(SecretsError::Entry(1))?.1.clone();
        // Better Auth does not take its own development default as a legacy secret.
        let legacy = legacy.filter(|s| s.expose_secret() != BETTER_AUTH_DEFAULT_SECRET);
        Ok(Self {
            current,
            versions,
            legacy,
        })
    }

    /// The secret that signs (cookies, access tokens): the only one, or the first version.
    pub fn current(&self) -> &SecretString {
        &self.current
    }

    /// The version new ciphertexts are written under; None without a rotation.
    pub fn current_version(&self) -> Option<u32> {
        self.versions.first().map(|(v, _)| *v)
    }

    /// The secret of `version`, if BETTER_AUTH_SECRETS has it.
    pub fn version(&self, version: u32) -> Option<&SecretString> {
        self.versions
            .iter()
            .find(|(v, _)| *v == version)
            .map(|(_, s)| s)
    }

    /// What decrypts bare hex: the only secret, or, after a rotation, the legacy one.
    pub fn for_bare_hex(&self) -> Option<&SecretString> {
        if self.versions.is_empty() {
            Some(&self.current)
        } else {
            self.legacy.as_ref()
        }
    }

    /// Whether a rotation is configured.
    pub fn is_rotated(&self) -> bool {
        !self.versions.is_empty()
    }
}

/// The secret Better Auth falls back to in development, never a legacy secret.
const BETTER_AUTH_DEFAULT_SECRET: &str = "better-auth-secret-12345678901234567890";

/// A secret version as Better Auth reads one, with JavaScript's `parseInt(text, 10)`:
/// leading white space, an optional sign, then the leading digits ("2abc" is 2); None for
/// no digits, a negative number (-0 is 0, as in JavaScript) or one past u32.
pub fn version_number(text: &str) -> Option<u32> {
    let text = text.trim_start();
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let value: u64 = digits[..end].parse().ok()?;
    match (negative, value) {
        (true, 0) => Some(0),
        (true, _) => None,
        (false, v) => u32::try_from(v).ok(),
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field(
                "versions",
                &self.versions.iter().map(|(v, _)| v).collect::<Vec<_>>(),
            )
            .field("legacy", &self.legacy.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn better_auth_secrets_is_read_as_better_auth_reads_it() {
        let s = Secrets::rotated(" 2 : second-secret , 1:first:with:colons", None).unwrap();
        assert_eq!(s.current().expose_secret(), "second-secret");
        assert_eq!(s.current_version(), Some(2));
        assert_eq!(s.version(1).unwrap().expose_secret(), "first:with:colons");
        assert!(s.version(3).is_none());
        assert!(s.for_bare_hex().is_none(), "no legacy secret given");
        let legacy = Secrets::rotated("3:x", Some("old".into())).unwrap();
        assert_eq!(legacy.for_bare_hex().unwrap().expose_secret(), "old");
        let single = Secrets::single("only".into());
        assert_eq!(single.for_bare_hex().unwrap().expose_secret(), "only");
        assert_eq!(single.current_version(), None);
        // Versions as JavaScript's parseInt reads them.
        let loose = Secrets::rotated("2abc:a, +3:b,-0:c", None).unwrap();
        assert_eq!(loose.current_version(), Some(2));
        assert!(loose.version(3).is_some() && loose.version(0).is_some());
        // Better Auth's development default is no legacy secret.
        let dev = Secrets::rotated("1:x", Some(BETTER_AUTH_DEFAULT_SECRET.into())).unwrap();
        assert!(dev.for_bare_hex().is_none());
        for (bad, error) in [
            ("", SecretsError::Entry(1)),
            ("1:a,,2:b", SecretsError::Entry(2)),
            ("no-colon", SecretsError::Entry(1)),
            ("x:a", SecretsError::Version(1)),
            ("-1:a", SecretsError::Version(1)),
            ("99999999999:a", SecretsError::Version(1)),
            ("1:  ", SecretsError::Empty(1)),
            ("1:a,1:b", SecretsError::Duplicate(1)),
        ] {
            assert_eq!(Secrets::rotated(bad, None).unwrap_err(), error, "{bad:?}");
        }
        let shown = format!("{:?}", Secrets::rotated("1:very-secret", None).unwrap());
        assert!(!shown.contains("very-secret"), "{shown}");
    }
}
