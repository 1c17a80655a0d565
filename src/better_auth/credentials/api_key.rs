//! Better Auth's API keys (`@better-auth/api-key` 1.7): how a key looks, is made and is
//! stored, and what one use of a key does to its row, step by step as the plugin's
//! `validateApiKey` (checks) and `claimUsageInDatabase` (writes) do it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use super::super::TokenRejection;
use super::super::ports::{ApiKeyRow, ApiKeyUsage};

/// The plugin's `defaultKeyLength`: characters after the prefix.
pub const KEY_LENGTH: usize = 64;
/// The plugin's `startingCharactersConfig.charactersLength`: `start` keeps these in clear.
pub const START_LENGTH: usize = 6;
/// The plugin's default rate limit of a key: 10 requests per day.
pub const DEFAULT_RATE_LIMIT_MAX: i64 = 10;
pub const DEFAULT_RATE_LIMIT_WINDOW_MS: i64 = 86_400_000;
/// The plugin's bounds on `expiresIn`: 1 to 365 days.
pub const MIN_EXPIRES_IN_DAYS: f64 = 1.0;
pub const MAX_EXPIRES_IN_DAYS: f64 = 365.0;
/// The plugin's bounds on a name and a prefix.
pub const MAX_NAME_LENGTH: usize = 32;
pub const MAX_PREFIX_LENGTH: usize = 32;

/// The plugin's key alphabet (`generateRandomString(length, "a-z", "A-Z")`).
const ALPHABET: &[u8; 52] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Whether a credential has an API key's shape: no dot (JWTs and signed session cookies
/// have them) and at least the plugin's key length (session tokens have 32 characters).
pub fn looks_like_api_key(credential: &str) -> bool {
    credential.len() >= KEY_LENGTH
        && !credential.contains('.')
        && credential.bytes().all(|b| b.is_ascii_graphic())
}

/// `prefix` + 64 letters, as the plugin's generator makes them (rejection sampling).
pub fn generate_key(prefix: Option<&str>) -> String {
    let mut key = String::with_capacity(prefix.map_or(0, str::len) + KEY_LENGTH);
    key.push_str(prefix.unwrap_or(""));
    let mut buf = [0u8; 96];
    let mut drawn = 0;
    while drawn < KEY_LENGTH {
        getrandom::fill(&mut buf).expect("the operating system's random source failed");
        for &b in &buf {
            // 208 = 4 * 52: bytes at or above it would bias the draw.
            if b < 208 && drawn < KEY_LENGTH {
                key.push(ALPHABET[(b % 52) as usize] as char);
                drawn += 1;
            }
        }
    }
    key
}

/// What the `key` column holds for a key: `base64url(SHA-256(key))` without padding, as
/// the plugin's default hasher, or the key itself where the app set `disableKeyHashing`.
pub fn stored_key(key: &str, hashing: bool) -> String {
    if !hashing {
        return key.to_owned();
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// What one use of a key does, decided from its row as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Refused, nothing written.
    Refuse(TokenRejection),
    /// Refused, and the key is deleted (expired, or used up with no refill).
    Delete(TokenRejection),
    /// Replace the counters with `next` (and `updatedAt` when given), then answer
    /// `outcome`: a use refused by the key's rate limit still spends one of `remaining`,
    /// as the plugin's writes do.
    Write {
        next: ApiKeyUsage,
        updated_at: Option<DateTime<Utc>>,
        outcome: Result<(), TokenRejection>,
    },
}

/// The plugin's decision for one use of `row` at `now` (milliseconds precision, as the
/// app's `Date`), in its order: enabled, expiry, exhausted, refill or decrement of
/// `remaining`, the key's own rate limit (none when the app's `rateLimit.enabled` is
/// false: `rate_limits`), `updatedAt`.
pub fn claim(row: &ApiKeyRow, now: DateTime<Utc>, rate_limits: bool) -> Claim {
    if row.enabled == Some(false) {
        return Claim::Refuse(TokenRejection::KeyDisabled);
    }
    if row.expires_at.is_some_and(|at| now > at) {
        return Claim::Delete(TokenRejection::KeyExpired);
    }
    let usage = &row.usage;
    if usage.remaining == Some(0) && row.refill_amount.is_none() {
        return Claim::Delete(TokenRejection::UsageExceeded);
    }
    let mut next = usage.clone();
    if let Some(remaining) = usage.remaining {
        // consumeRemaining: a due refill sets (not adds) and spends this use.
        let refill = match (row.refill_interval, row.refill_amount) {
            (Some(interval), Some(amount)) if interval != 0 && amount != 0 => {
                let since = usage.last_refill_at.unwrap_or(row.created_at);
                (now - since).num_milliseconds() > interval
            }
            _ => false,
        };
        if refill {
            next.remaining = row.refill_amount.map(|a| a - 1);
            next.last_refill_at = Some(now);
        } else if remaining > 0 {
            next.remaining = Some(remaining - 1);
        } else {
            return Claim::Refuse(TokenRejection::UsageExceeded);
        }
    }
    // consumeRateLimit, as evaluateRateLimit decides.
    match (row.rate_limit_time_window, row.rate_limit_max) {
        _ if !rate_limits || row.rate_limit_enabled == Some(false) => next.last_request = Some(now),
        (Some(window), Some(max)) => match usage.last_request {
            Some(last) if (now - last).num_milliseconds() <= window => {
                if usage.request_count.unwrap_or(0) >= max {
                    return if next == *usage {
                        Claim::Refuse(TokenRejection::KeyRateLimited)
                    } else {
                        Claim::Write {
                            next,
                            updated_at: None,
                            outcome: Err(TokenRejection::KeyRateLimited),
                        }
                    };
                }
                next.request_count = Some(usage.request_count.unwrap_or(0) + 1);
                next.last_request = Some(now);
            }
            // No request yet, or the window since the last one has passed: a new window.
            _ => {
                next.request_count = Some(1);
                next.last_request = Some(now);
            }
        },
        _ => {}
    }
    Claim::Write {
        next,
        updated_at: Some(now),
        outcome: Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, SubsecRound};

    fn now_ms() -> DateTime<Utc> {
        Utc::now().trunc_subsecs(3)
    }

    fn row(now: DateTime<Utc>) -> ApiKeyRow {
        ApiKeyRow {
            id: "k1".into(),
            config_id: "default".into(),
            name: None,
            start: None,
            reference_id: "u1".into(),
            prefix: None,
            refill_interval: None,
            refill_amount: None,
            enabled: Some(true),
            rate_limit_enabled: Some(true),
            rate_limit_time_window: Some(DEFAULT_RATE_LIMIT_WINDOW_MS),
            rate_limit_max: Some(DEFAULT_RATE_LIMIT_MAX),
            usage: ApiKeyUsage {
                request_count: Some(0),
                ..ApiKeyUsage::default()
            },
            expires_at: None,
            created_at: now - Duration::hours(1),
            updated_at: now - Duration::hours(1),
            permissions: None,
            metadata: None,
        }
    }

    fn written(claim: Claim) -> ApiKeyUsage {
        match claim {
            Claim::Write {
                next,
                outcome: Ok(()),
                ..
            } => next,
            other => panic!("not a use: {other:?}"),
        }
    }

    #[test]
    fn keys_are_a_prefix_and_64_letters_and_hash_as_the_plugin_does() {
        let key = generate_key(Some("ba_"));
        assert_eq!(key.len(), 67);
        assert!(key[3..].bytes().all(|b| b.is_ascii_alphabetic()));
        assert!(looks_like_api_key(&key));
        assert!(!looks_like_api_key("aP8dZCLrnzonw3e5ju5rlRhq14rJXmVA"));
        // SHA-256 of "abc", base64url without padding.
        assert_eq!(
            stored_key("abc", true),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
        assert_eq!(stored_key("abc", false), "abc");
    }

    #[test]
    fn a_use_counts_in_the_keys_window_and_the_window_moves_with_the_last_use() {
        let now = now_ms();
        let mut key = row(now);
        let first = written(claim(&key, now, true));
        assert_eq!(first.request_count, Some(1));
        assert_eq!(first.last_request, Some(now));
        key.usage = ApiKeyUsage {
            request_count: Some(10),
            last_request: Some(now - Duration::hours(1)),
            ..first.clone()
        };
        assert_eq!(
            claim(&key, now, true),
            Claim::Refuse(TokenRejection::KeyRateLimited)
        );
        key.usage.last_request = Some(now - Duration::hours(25));
        assert_eq!(written(claim(&key, now, true)).request_count, Some(1));
        key.rate_limit_enabled = Some(false);
        let unlimited = written(claim(&key, now, true));
        assert_eq!(unlimited.request_count, Some(10));
        assert_eq!(unlimited.last_request, Some(now));
    }

    #[test]
    fn remaining_is_spent_refilled_and_exhausted_as_the_plugin_does() {
        let now = now_ms();
        let mut key = row(now);
        key.usage.remaining = Some(2);
        assert_eq!(written(claim(&key, now, true)).remaining, Some(1));
        key.usage.remaining = Some(0);
        assert_eq!(
            claim(&key, now, true),
            Claim::Delete(TokenRejection::UsageExceeded)
        );
        key.refill_amount = Some(5);
        key.refill_interval = Some(60_000);
        key.usage.last_refill_at = Some(now - Duration::seconds(30));
        assert_eq!(
            claim(&key, now, true),
            Claim::Refuse(TokenRejection::UsageExceeded),
            "no refill due: refused, kept"
        );
        key.usage.last_refill_at = Some(now - Duration::seconds(61));
        let refilled = written(claim(&key, now, true));
        assert_eq!(refilled.remaining, Some(4), "refilled to 5, one spent");
        assert_eq!(refilled.last_refill_at, Some(now));
        // Rate-limited: the use of `remaining` is still written, nothing else.
        key.usage.remaining = Some(3);
        key.usage.last_refill_at = Some(now);
        key.usage.request_count = Some(10);
        key.usage.last_request = Some(now - Duration::minutes(1));
        assert_eq!(
            claim(&key, now, true),
            Claim::Write {
                next: ApiKeyUsage {
                    remaining: Some(2),
                    ..key.usage.clone()
                },
                updated_at: None,
                outcome: Err(TokenRejection::KeyRateLimited),
            }
        );
    }

    #[test]
    fn disabled_and_expired_keys_are_refused_first() {
        let now = now_ms();
        let mut key = row(now);
        key.expires_at = Some(now - Duration::seconds(1));
        assert_eq!(
            claim(&key, now, true),
            Claim::Delete(TokenRejection::KeyExpired)
        );
        key.enabled = Some(false);
        assert_eq!(
            claim(&key, now, true),
            Claim::Refuse(TokenRejection::KeyDisabled)
        );
    }
}
