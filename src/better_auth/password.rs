//! Passwords: length rules, argon2id hashing off the async workers, and constant-cost
//! verification (an unknown email still costs one hash).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::AuthError;

/// Length bounds, counted as Better Auth counts them (UTF-16 code units of the string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub max_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 128,
        }
    }
}

/// A password as received: never trimmed, never truncated, never printed.
pub struct Password(SecretString);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    /// For a new password: both bounds apply.
    pub fn parse_new(raw: String, policy: &PasswordPolicy) -> Result<Self, AuthError> {
        let len = raw.encode_utf16().count();
        if len < policy.min_length {
            return Err(AuthError::PasswordTooShort {
                min: policy.min_length,
            });
        }
        Self::parse_existing(raw, policy)
    }

    /// For a sign-in: only the upper bound applies (as in Better Auth), so a policy
    /// change never locks out a user whose password was valid when it was set.
    pub fn parse_existing(raw: String, policy: &PasswordPolicy) -> Result<Self, AuthError> {
        // Counting stops early so a 1 MB password costs nothing to reject.
        if raw.len() > policy.max_length * 4 || raw.encode_utf16().count() > policy.max_length {
            return Err(AuthError::PasswordTooLong {
                max: policy.max_length,
            });
        }
        Ok(Self(SecretString::from(raw)))
    }

    fn bytes(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }
}

/// argon2id with OWASP's baseline (m=19456 KiB, t=2, p=1): `argon2::Params::default()`.
/// A PHC string of an unknown random password with those parameters. Verifying against it
/// costs what a real verification costs, so an unknown email is not faster than a known one.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$2BL9WphiJRcEJsmHPz+uDA$VVShvmTBYJ6RA3ZnkzNrcfZgVZpPwd2jMmugSX4z87A";

/// Bytes of salt in new hashes.
const SALT_BYTES: usize = 16;

/// Better Auth's default hash: scrypt N=2^14, r=16, p=1, a 64-byte key.
const SCRYPT_LOG_N: u8 = 14;
const SCRYPT_R: u32 = 16;
const SCRYPT_P: u32 = 1;
const SCRYPT_KEY_BYTES: usize = 64;
/// A Better Auth-format hash of an unknown random password (the dummy for that format).
const DUMMY_SCRYPT: &str = "45c79c45643530fbe6fc7b9f7790a79c:6196ae40b7af691c31ae7242dffb1c321e859eb803119169c919e5ebc4ba02a014b4daf87ced2331697c802ece7720be9670421c79ef0607431263b9e0e77a0d";

/// The format of new password hashes (PASSWORD_HASH).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PasswordFormat {
    /// argon2id PHC strings: stronger, but a stock Better Auth app cannot verify them (only
    /// one configured with a custom `password.verify` can).
    Argon2id,
    /// Better Auth's own `<salt hex>:<key hex>` scrypt, the default: users created here
    /// sign in on a stock Better Auth app.
    #[default]
    Scrypt,
}

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCheck {
    pub matched: bool,
    /// The stored hash is not in the configured format or parameters (see REHASH_ON_SIGN_IN).
    pub outdated: bool,
}

/// Hashes and verifies passwords on tokio's blocking pool, at most `concurrency` at once,
/// so a burst of sign_ins cannot starve the async workers that answer verify_token.
/// At most `queue_limit` operations may hold an [`Admission`] (running or waiting): past
/// that a call is refused at once, so a flood costs neither unbounded memory nor latency.
/// The argon2 working memory (19 MiB a hash) is kept and reused, one buffer per running
/// hash, so memory stays at `concurrency` buffers whatever the load.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    admitted: Arc<AtomicUsize>,
    queue_limit: usize,
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
    format: PasswordFormat,
    /// Hashes computed so far (hashing or verifying), for tests and benchmarks.
    computed: Arc<AtomicUsize>,
}

/// The right to hash once: taken at the start of a sign_up or sign_in, before any other
/// work, and given back when the operation ends (or its caller goes away).
pub struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordHasher {
    pub fn new(concurrency: usize, queue_limit: usize, format: PasswordFormat) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            admitted: Arc::new(AtomicUsize::new(0)),
            queue_limit: queue_limit.max(concurrency),
            memory: Arc::default(),
            format,
            computed: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Admits one more operation, or refuses at once with [`AuthError::Busy`].
    pub fn admit(&self) -> Result<Admission, AuthError> {
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.queue_limit {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(AuthError::Busy);
        }
        Ok(Admission(self.admitted.clone()))
    }

    /// How many hashes were computed (each sign_up, each sign_in past the throttle).
    pub fn computed(&self) -> usize {
        self.computed.load(Ordering::Acquire)
    }

    /// A new hash of `password` in the configured format, with a fresh random salt.
    pub async fn hash(&self, _: &Admission, password: &Password) -> Result<String, AuthError> {
        let password = Password(password.0.clone());
        let format = self.format;
        self.run_blocking(move |memory| {
            let mut salt = [0u8; SALT_BYTES];
            getrandom::fill(&mut salt)
                .map_err(|e| AuthError::internal("no randomness for a salt", e.to_string()))?;
            match format {
                PasswordFormat::Argon2id => {
                    let params = Params::default();
                    let mut out =
                        vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
                    let (alg, ver) = (Algorithm::Argon2id, Version::V0x13);
                    argon2_into(alg, ver, &params, &password, &salt, &mut out, memory)?;
                    phc_string(&params, &salt, &out)
                }
                PasswordFormat::Scrypt => {
                    let salt_hex = hex::encode(salt);
                    let key = scrypt_key(&password, &salt_hex)?;
                    Ok(format!("{salt_hex}:{}", hex::encode(key)))
                }
            }
        })
        .await?
    }

    /// Checks `password` against a stored hash in either format (argon2 PHC, or Better
    /// Auth's scrypt). A missing or unreadable hash still costs one full hash (a dummy in
    /// the configured format) and never matches.
    pub async fn verify(
        &self,
        _: &Admission,
        password: &Password,
        stored: Option<String>,
    ) -> Result<PasswordCheck, AuthError> {
        let password = Password(password.0.clone());
        let format = self.format;
        self.run_blocking(move |memory| {
            let parsed = stored.as_deref().and_then(|s| {
                let parsed = StoredHash::parse(s);
                if parsed.is_none() {
                    tracing::warn!("stored password hash is in no known format");
                }
                parsed
            });
            let (real, hash) = match parsed {
                Some(hash) => (true, hash),
                None => (false, StoredHash::dummy(format)),
            };
            // The hash is always computed: an unknown user costs what a known one does.
            let matched = hash.matches(&password, memory)? && real;
            Ok(PasswordCheck {
                matched,
                outdated: matched && !hash.is_current(format),
            })
        })
        .await?
    }

    /// Runs `f` on the blocking pool once a permit is free, lending it a memory buffer.
    async fn run_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| AuthError::internal("password hasher closed", e))?;
        self.computed.fetch_add(1, Ordering::AcqRel);
        let pool = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            let mut memory = pool
                .lock()
                .map(|mut p| p.pop())
                .ok()
                .flatten()
                .unwrap_or_default();
            let result = f(&mut memory);
            // Only buffers of the usual size are kept; a foreign hash's larger one is freed.
            if memory.len() == Params::default().block_count()
                && let Ok(mut pool) = pool.lock()
            {
                pool.push(memory);
            }
            result
        })
        .await
        .map_err(|e| AuthError::internal("password task failed", e))
    }
}

/// A stored password hash, parsed.
enum StoredHash {
    /// An argon2 PHC string.
    Argon2 {
        algorithm: Algorithm,
        version: Version,
        params: Params,
        salt: Vec<u8>,
        output: Vec<u8>,
    },
    /// Better Auth's scrypt: the salt is the hex text itself, as Better Auth passes it.
    Scrypt { salt_hex: String, key: Vec<u8> },
}

impl StoredHash {
    fn parse(stored: &str) -> Option<Self> {
        if stored.starts_with('$') {
            return Self::parse_phc(stored);
        }
        let (salt_hex, key_hex) = stored.split_once(':')?;
        let key = hex::decode(key_hex).ok()?;
        (!salt_hex.is_empty() && key.len() == SCRYPT_KEY_BYTES).then(|| Self::Scrypt {
            salt_hex: salt_hex.to_owned(),
            key,
        })
    }

    fn parse_phc(phc: &str) -> Option<Self> {
        let hash = PasswordHash::new(phc).ok()?;
        let algorithm = Algorithm::try_from(hash.algorithm.as_str()).ok()?;
        let version = match hash.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::V0x10,
        };
        let params = Params::try_from(&hash).ok()?;
        Some(Self::Argon2 {
            algorithm,
            version,
            params,
            salt: hash.salt?.as_ref().to_vec(),
            output: hash.hash?.as_bytes().to_vec(),
        })
    }

    fn dummy(format: PasswordFormat) -> Self {
        let dummy = match format {
            PasswordFormat::Argon2id => DUMMY_HASH,
            PasswordFormat::Scrypt => DUMMY_SCRYPT,
        };
        Self::parse(dummy).expect("the dummy hashes parse")
    }

    /// Recomputes and compares in constant time.
    fn matches(&self, password: &Password, memory: &mut Vec<Block>) -> Result<bool, AuthError> {
        Ok(match self {
            Self::Argon2 {
                algorithm,
                version,
                params,
                salt,
                output,
            } => {
                let mut out = vec![0u8; output.len()];
                argon2_into(
                    *algorithm, *version, params, password, salt, &mut out, memory,
                )?;
                bool::from(out.ct_eq(output))
            }
            Self::Scrypt { salt_hex, key } => {
                bool::from(scrypt_key(password, salt_hex)?.as_slice().ct_eq(key))
            }
        })
    }

    /// In the configured format, with the parameters new hashes get.
    fn is_current(&self, format: PasswordFormat) -> bool {
        match (self, format) {
            (
                Self::Argon2 {
                    algorithm,
                    version,
                    params,
                    ..
                },
                PasswordFormat::Argon2id,
            ) => {
                let want = Params::default();
                *algorithm == Algorithm::Argon2id
                    && *version == Version::V0x13
                    && (params.m_cost(), params.t_cost(), params.p_cost())
                        == (want.m_cost(), want.t_cost(), want.p_cost())
            }
            (Self::Scrypt { .. }, PasswordFormat::Scrypt) => true,
            _ => false,
        }
    }
}

/// Better Auth's scrypt: the password NFKC-normalised, the salt's hex text as the salt.
fn scrypt_key(password: &Password, salt_hex: &str) -> Result<[u8; SCRYPT_KEY_BYTES], AuthError> {
    use unicode_normalization::UnicodeNormalization;
    let normalized: String = password.0.expose_secret().nfkc().collect();
    let params = scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P)
        .map_err(|e| AuthError::internal("scrypt parameters", e.to_string()))?;
    let mut key = [0u8; SCRYPT_KEY_BYTES];
    scrypt::scrypt(
        normalized.as_bytes(),
        salt_hex.as_bytes(),
        &params,
        &mut key,
    )
    .map_err(|e| AuthError::internal("scrypt failed", e.to_string()))?;
    Ok(key)
}

/// argon2 into `out`, with `memory` as its working blocks (grown if these parameters
/// need more).
fn argon2_into(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    password: &Password,
    salt: &[u8],
    out: &mut [u8],
    memory: &mut Vec<Block>,
) -> Result<(), AuthError> {
    let needed = params.block_count();
    if memory.len() != needed {
        memory.resize(needed, Block::default());
    }
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(password.bytes(), salt, out, &mut memory[..])
        .map_err(|e| AuthError::internal("password hashing failed", e.to_string()))
}

/// `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`, as the argon2 crate writes it.
fn phc_string(params: &Params, salt: &[u8], out: &[u8]) -> Result<String, AuthError> {
    let fail = |e: String| AuthError::internal("cannot encode the password hash", e);
    let hash = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| fail(e.to_string()))?,
        salt: Some(Salt::new(salt).map_err(|e| fail(e.to_string()))?),
        hash: Some(Output::new(out).map_err(|e| fail(e.to_string()))?),
    };
    Ok(hash.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::parse_existing(s.to_string(), &PasswordPolicy::default()).unwrap()
    }

    #[test]
    fn length_bounds_follow_the_policy() {
        let p = PasswordPolicy::default();
        assert!(matches!(
            Password::parse_new("1234567".into(), &p),
            Err(AuthError::PasswordTooShort { min: 8 })
        ));
        assert!(Password::parse_new("12345678".into(), &p).is_ok());
        assert!(Password::parse_new("x".repeat(128), &p).is_ok());
        assert!(matches!(
            Password::parse_new("x".repeat(129), &p),
            Err(AuthError::PasswordTooLong { max: 128 })
        ));
        // A sign-in never checks the lower bound.
        assert!(Password::parse_existing("short".into(), &p).is_ok());
        assert!(matches!(
            Password::parse_existing("x".repeat(1 << 20), &p),
            Err(AuthError::PasswordTooLong { .. })
        ));
    }

    #[test]
    fn length_is_counted_in_utf16_units_like_better_auth() {
        let p = PasswordPolicy::default();
        // 4 emoji = 8 UTF-16 units: long enough.
        assert!(Password::parse_new("😀😀😀😀".into(), &p).is_ok());
        assert!(Password::parse_new("😀😀😀".into(), &p).is_err());
    }

    #[test]
    fn passwords_are_not_trimmed() {
        assert_ne!(pw(" secret12 ").bytes(), pw("secret12").bytes());
    }

    #[test]
    fn debug_output_is_redacted() {
        assert_eq!(
            format!("{:?}", pw("hunter2hunter2")),
            "Password([redacted])"
        );
    }

    #[tokio::test]
    async fn hashes_are_owasp_argon2id_phc_strings_that_verify() {
        let hasher = PasswordHasher::new(2, 8, PasswordFormat::Argon2id);
        let a = hasher.admit().unwrap();
        let hash = hasher.hash(&a, &pw("correct horse")).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        for (attempt, expected) in [
            ("correct horse", true),
            ("correct horsf", false),
            ("correct horse ", false),
        ] {
            let got = hasher
                .verify(&a, &pw(attempt), Some(hash.clone()))
                .await
                .unwrap()
                .matched;
            assert_eq!(got, expected, "{attempt:?}");
        }
        let other = hasher.hash(&a, &pw("correct horse")).await.unwrap();
        assert_ne!(hash, other, "each hash has its own salt");
    }

    #[tokio::test]
    async fn hashes_agree_with_the_argon2_crates_own_phc_functions() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new(1, 8, PasswordFormat::Argon2id);
        let a = hasher.admit().unwrap();
        // Theirs verifies here...
        let theirs = Argon2::default()
            .hash_password(b"interop-pw")
            .unwrap()
            .to_string();
        assert!(
            hasher
                .verify(&a, &pw("interop-pw"), Some(theirs))
                .await
                .unwrap()
                .matched
        );
        // ...ours verifies there, also with other parameters (argon2i, m=8192, t=3).
        let ours = hasher.hash(&a, &pw("interop-pw")).await.unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"interop-pw", ours.as_str())
                .is_ok()
        );
        let params = Params::new(8192, 3, 1, Some(32)).unwrap();
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, params)
            .hash_password(b"interop-pw")
            .unwrap()
            .to_string();
        assert!(
            hasher
                .verify(&a, &pw("interop-pw"), Some(argon2i.clone()))
                .await
                .unwrap()
                .matched
        );
        assert!(
            !hasher
                .verify(&a, &pw("interop-px"), Some(argon2i))
                .await
                .unwrap()
                .matched
        );
    }

    #[tokio::test]
    async fn a_missing_or_foreign_hash_never_verifies() {
        let hasher = PasswordHasher::new(1, 8, PasswordFormat::Argon2id);
        let a = hasher.admit().unwrap();
        for stored in [
            None,
            Some("abc:def".to_string()),
            Some(DUMMY_HASH.to_string()),
        ] {
            assert!(
                !hasher
                    .verify(&a, &pw("anything"), stored)
                    .await
                    .unwrap()
                    .matched
            );
        }
    }

    /// Better Auth's format, checked against a hash computed independently (Python's
    /// hashlib.scrypt with the same inputs). Hashes made by Better Auth's own code
    /// (tests/better-auth/vectors.json) are checked in tests/it/interop.rs.
    #[tokio::test]
    async fn better_auth_scrypt_hashes_verify_and_are_made_in_its_format() {
        let hasher = PasswordHasher::new(1, 8, PasswordFormat::Scrypt);
        let a = hasher.admit().unwrap();
        let ours = hasher.hash(&a, &pw("scrypt-pw-1")).await.unwrap();
        let (salt, key) = ours.split_once(':').unwrap();
        assert_eq!((salt.len(), key.len()), (32, 128), "{ours}");
        let check = hasher
            .verify(&a, &pw("scrypt-pw-1"), Some(ours.clone()))
            .await
            .unwrap();
        assert_eq!(
            check,
            PasswordCheck {
                matched: true,
                outdated: false
            }
        );
        assert!(
            !hasher
                .verify(&a, &pw("scrypt-pw-2"), Some(ours.clone()))
                .await
                .unwrap()
                .matched
        );
        // NFKC: the full-width form of a password is the same password, as in Better Auth.
        let fullwidth = "ｓｃｒｙｐｔ-ｐｗ-1";
        let check = hasher
            .verify(&a, &pw(fullwidth), Some(ours.clone()))
            .await
            .unwrap();
        assert!(check.matched);
        // An argon2 hasher verifies it too, and calls it outdated.
        let argon = PasswordHasher::new(1, 8, PasswordFormat::Argon2id);
        let a2 = argon.admit().unwrap();
        let check = argon
            .verify(&a2, &pw("scrypt-pw-1"), Some(ours))
            .await
            .unwrap();
        assert_eq!(
            check,
            PasswordCheck {
                matched: true,
                outdated: true
            }
        );
    }

    #[test]
    fn past_the_queue_limit_operations_are_refused_at_once() {
        let hasher = PasswordHasher::new(1, 2, PasswordFormat::Argon2id);
        let first = hasher.admit().unwrap();
        let second = hasher.admit().unwrap();
        assert!(matches!(hasher.admit(), Err(AuthError::Busy)));
        drop(first);
        let third = hasher.admit().unwrap();
        drop((second, third));
        assert_eq!(hasher.admitted.load(Ordering::Acquire), 0);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn working_memory_is_reused_not_reallocated() {
        let hasher = PasswordHasher::new(2, 8, PasswordFormat::Argon2id);
        let a = hasher.admit().unwrap();
        for _ in 0..4 {
            let check = hasher.verify(&a, &pw("reuse-me"), None).await.unwrap();
            assert!(!check.matched);
        }
        let kept = hasher.memory.lock().unwrap().len();
        assert!((1..=2).contains(&kept), "{kept} buffers kept");
    }

    #[test]
    fn the_dummy_hash_has_the_parameters_of_real_hashes() {
        let real = argon2::Params::default();
        assert_eq!((real.m_cost(), real.t_cost(), real.p_cost()), (19456, 2, 1));
        assert!(DUMMY_HASH.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }
}
