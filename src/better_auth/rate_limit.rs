//! Throttling of sign_in and sign_up, with Better Auth's algorithm and its `rateLimit`
//! table, so the limit holds across every server process (each MCP client starts its own)
//! and can be shared with a Better Auth app that keeps its limits in the database.

use std::time::Duration;

use super::RateLimitBucket;

/// What an attempt was counted against: its email, its client's address, or (for a second
/// factor) the user's own tries. The `as_str` names are the metrics' `bucket` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitScope {
    Email,
    ClientAddress,
    SecondFactor,
    /// Every client's attempts together (browser sign-ins begun).
    Global,
}

impl RateLimitScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::ClientAddress => "client_address",
            Self::SecondFactor => "second_factor",
            Self::Global => "global",
        }
    }
}

/// At most `max` attempts per `window` for one key; Better Auth's default for its
/// sign-in and sign-up paths is 3 per 10 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitPolicy {
    pub enabled: bool,
    pub window: Duration,
    pub max: u32,
}

impl Default for RateLimitPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            window: Duration::from_secs(10),
            max: 3,
        }
    }
}

/// What the rule decided for one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    /// Retry after this many milliseconds.
    Denied {
        retry_after_ms: i64,
    },
}

impl RateLimitPolicy {
    /// Better Auth's rule: the count restarts once `window` has passed since the last
    /// allowed attempt; otherwise an attempt is denied at `max`, else counted. A denied
    /// attempt changes nothing, so the wait is never longer than one window: a throttle,
    /// not a lockout. Returns the new bucket to store (None: unchanged) and the decision.
    pub fn apply(
        &self,
        previous: Option<RateLimitBucket>,
        now_ms: i64,
    ) -> (Option<RateLimitBucket>, RateDecision) {
        let window_ms = self.window.as_millis() as i64;
        let fresh = RateLimitBucket {
            count: 1,
            last_request_ms: now_ms,
        };
        match previous {
            None => (Some(fresh), RateDecision::Allowed),
            Some(b) if now_ms - b.last_request_ms >= window_ms => {
                (Some(fresh), RateDecision::Allowed)
            }
            Some(b) if b.count >= i64::from(self.max) => (
                None,
                RateDecision::Denied {
                    retry_after_ms: (window_ms - (now_ms - b.last_request_ms)).max(1),
                },
            ),
            Some(b) => (
                Some(RateLimitBucket {
                    count: b.count + 1,
                    last_request_ms: now_ms,
                }),
                RateDecision::Allowed,
            ),
        }
    }
}

/// The bucket key: `<email>|<path>`, shaped like Better Auth's `<ip>|<path>`.
pub fn rate_limit_key(subject: &str, path: &str) -> String {
    format!("{subject}|{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(count: i64, last: i64) -> Option<RateLimitBucket> {
        Some(RateLimitBucket {
            count,
            last_request_ms: last,
        })
    }

    #[test]
    fn three_attempts_per_ten_seconds_then_a_bounded_wait() {
        let p = RateLimitPolicy::default();
        let (s1, d1) = p.apply(None, 1_000);
        assert_eq!((s1, d1), (b(1, 1_000), RateDecision::Allowed));
        let (s2, _) = p.apply(s1, 2_000);
        let (s3, d3) = p.apply(s2, 3_000);
        assert_eq!((s3, d3), (b(3, 3_000), RateDecision::Allowed));
        let (s4, d4) = p.apply(s3, 4_000);
        assert_eq!(s4, None, "a denied attempt changes nothing");
        assert_eq!(
            d4,
            RateDecision::Denied {
                retry_after_ms: 9_000
            }
        );
        // Denials do not extend the wait: 10 s after the last allowed attempt it is open.
        let (s5, d5) = p.apply(s3, 13_000);
        assert_eq!((s5, d5), (b(1, 13_000), RateDecision::Allowed));
    }
}
