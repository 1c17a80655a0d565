//! Passwords: length rules, argon2id hashing off the async workers, and constant-cost
//! verification (an unknown email still costs one hash).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};
use secrecy::{ExposeSecret, SecretString};
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

/// Hashes and verifies passwords on tokio's blocking pool, at most `concurrency` at once,
/// so a burst of sign_ins cannot starve the async workers that answer verify_token.
/// At most `queue_limit` may run or wait: past that a call is refused at once, so a flood
/// costs neither unbounded memory (19 MiB a hash) nor unbounded latency.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    admitted: Arc<AtomicUsize>,
    queue_limit: usize,
    /// Hashes computed so far (hashing or verifying), for tests and benchmarks.
    computed: Arc<AtomicUsize>,
}

/// Gives an admission back when a hash is done (or its caller went away).
struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordHasher {
    pub fn new(concurrency: usize, queue_limit: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            admitted: Arc::new(AtomicUsize::new(0)),
            queue_limit: queue_limit.max(concurrency),
            computed: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// How many hashes were computed (each sign_up, each sign_in past the throttle).
    pub fn computed(&self) -> usize {
        self.computed.load(Ordering::Acquire)
    }

    pub async fn hash(&self, password: &Password) -> Result<String, AuthError> {
        let password = Password(password.0.clone());
        self.run_blocking(move || {
            Argon2::default()
                .hash_password(password.bytes())
                .map(|h| h.to_string())
                .map_err(|e| AuthError::Internal(format!("password hashing failed: {e}")))
        })
        .await?
    }

    /// True when `password` matches the stored PHC string. A missing or unreadable hash
    /// still costs one full verification and answers false.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<String>,
    ) -> Result<bool, AuthError> {
        let password = Password(password.0.clone());
        let verdict = self
            .run_blocking(move || {
                let phc = match stored.as_deref() {
                    Some(s) if s.starts_with("$argon2") => s,
                    Some(_) => {
                        tracing::warn!("stored password hash is not an argon2 PHC string");
                        DUMMY_HASH
                    }
                    None => DUMMY_HASH,
                };
                let matched = Argon2::default()
                    .verify_password(password.bytes(), phc)
                    .is_ok();
                matched && phc != DUMMY_HASH
            })
            .await;
        match verdict {
            Err(AuthError::Busy) => Err(AuthError::Busy),
            other => Ok(other.unwrap_or(false)),
        }
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.queue_limit {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(AuthError::Busy);
        }
        let _admission = Admission(self.admitted.clone());
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AuthError::Internal("password hasher closed".into()))?;
        self.computed.fetch_add(1, Ordering::AcqRel);
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| AuthError::Internal(format!("password task failed: {e}")))
    }
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
        let hasher = PasswordHasher::new(2, 8);
        let hash = hasher.hash(&pw("correct horse")).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            hasher
                .verify(&pw("correct horse"), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(&pw("correct horsf"), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(&pw("correct horse "), Some(hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_missing_or_foreign_hash_never_verifies() {
        let hasher = PasswordHasher::new(1, 8);
        assert!(!hasher.verify(&pw("anything"), None).await.unwrap());
        assert!(
            !hasher
                .verify(&pw("anything"), Some("abc:def".into()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(&pw("anything"), Some(DUMMY_HASH.into()))
                .await
                .unwrap()
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn past_the_queue_limit_calls_are_refused_at_once() {
        let hasher = PasswordHasher::new(1, 2);
        let calls: Vec<_> = (0..6)
            .map(|_| {
                let h = hasher.clone();
                tokio::spawn(async move { h.verify(&pw("flooding-pw"), None).await })
            })
            .collect();
        let mut busy = 0;
        for c in calls {
            match c.await.unwrap() {
                Err(AuthError::Busy) => busy += 1,
                Ok(false) => {}
                other => panic!("{other:?}"),
            }
        }
        assert!(
            busy >= 3,
            "at most 2 run or wait at once, got {busy} refusals"
        );
        // Admissions are given back: the hasher serves again.
        assert_eq!(hasher.admitted.load(Ordering::Acquire), 0);
        assert!(!hasher.verify(&pw("after"), None).await.unwrap());
    }

    #[test]
    fn the_dummy_hash_has_the_parameters_of_real_hashes() {
        let real = argon2::Params::default();
        assert_eq!((real.m_cost(), real.t_cost(), real.p_cost()), (19456, 2, 1));
        assert!(DUMMY_HASH.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }
}
