//! Browser sign-in, as the deviceAuthorization plugin (RFC 8628) runs it: begin writes a
//! `deviceCode` row as its `/device/code` does; the person signs in on the app itself
//! (whatever it offers) and approves on its `/device` page; complete polls as its
//! `/device/token` does (`slow_down`, expiry, denial, one exchange) and opens a session.
//! No password passes through here.
//!
//! A device code is bound to the caller that began the flow: its last characters are an
//! HMAC of the rest and of the caller (under BETTER_AUTH_SECRET), so a code begun by one
//! authorized caller is an unknown code to any other, with nothing stored but the
//! plugin's row.

use std::net::IpAddr;

use aws_lc_rs::hmac;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

use super::super::audit::Audit;
use super::super::ports::DeviceCodeRow;
use super::super::service::now_ms;
use super::super::{
    AccessClaims, AuthError, AuthService, AuthStore, Authenticated, RateLimitScope, generate_id,
    random_alphanumeric,
};

/// The plugin's path for new codes; part of the rate-limit bucket keys.
const DEVICE_CODE_PATH: &str = "/device/code";
/// The plugin's user-code alphabet: no 0, 1, I or O, so a code reads back unambiguously.
const USER_CODE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// As the plugin: a new code colliding with a stored one is drawn again, three times at most.
const MAX_ATTEMPTS: usize = 3;
/// Characters of a device code that bind it to its caller (the rest is random).
const BINDING_CHARS: usize = 16;
const BASE62: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A browser sign-in begun: what the caller shows the person and polls with. (No
/// `Debug`: the device code is the caller's secret.)
pub struct BrowserSignInStarted {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_at: DateTime<Utc>,
    /// Seconds to wait between two completions.
    pub interval_secs: u64,
}

/// Where a browser sign-in stands, read without counting as a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserSignInWait {
    /// The person has not decided yet, and the code lives.
    Pending,
    /// Approved, denied, expired or gone: completing it now answers which.
    Decided,
}

/// A user code as the plugin draws it: a random byte each, modulo 32 (unbiased).
fn user_code(length: usize) -> String {
    let mut bytes = vec![0u8; length];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
        .iter()
        .map(|b| USER_CODE_ALPHABET[(b % 32) as usize] as char)
        .collect()
}

/// The verification URL with the user code in its query, as the plugin builds it.
fn with_user_code(uri: &str, user_code: &str) -> String {
    let mut url = match url::Url::parse(uri) {
        Ok(url) => url,
        Err(_) => return format!("{uri}?user_code={user_code}"),
    };
    let others: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "user_code")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(others)
        .append_pair("user_code", user_code);
    url.to_string()
}

impl<S: AuthStore> AuthService<S> {
    /// The binding of `random` to `caller` (None: the operator on stdio, or an
    /// unauthorized loopback client): base62 characters of an HMAC under the secret.
    fn binding(&self, random: &str, caller: Option<&AccessClaims>) -> String {
        let key = hmac::Key::new(
            hmac::HMAC_SHA256,
            self.secrets.current().expose_secret().as_bytes(),
        );
        let subject = caller.map_or("", |c| c.sub.as_str());
        let message = format!("better-auth-mcp device code\0{random}\0{subject}");
        let tag = hmac::sign(&key, message.as_bytes());
        tag.as_ref()
            .iter()
            .take(BINDING_CHARS)
            .map(|b| BASE62[(b % 62) as usize] as char)
            .collect()
    }

    /// A new device code of the plugin's length and alphabet, bound to `caller`.
    fn new_device_code(&self, caller: Option<&AccessClaims>) -> String {
        let length = self.settings.browser_sign_in.device_code_length;
        let random = random_alphanumeric(length.saturating_sub(BINDING_CHARS).max(1));
        let binding = self.binding(&random, caller);
        format!("{random}{binding}")
    }

    /// Whether `device_code` was begun here by `caller`.
    fn is_bound_to(&self, device_code: &str, caller: Option<&AccessClaims>) -> bool {
        let Some(split) = device_code.len().checked_sub(BINDING_CHARS) else {
            return false;
        };
        if split == 0 || !device_code.is_ascii() {
            return false;
        }
        let (random, binding) = device_code.split_at(split);
        let expected = self.binding(random, caller);
        aws_lc_rs::constant_time::verify_slices_are_equal(binding.as_bytes(), expected.as_bytes())
            .is_ok()
    }

    /// Begins a browser sign-in for `caller`: a `deviceCode` row as the plugin's
    /// `/device/code` writes it, after the rate limits (per client address, when known,
    /// and for everyone together).
    /// Audited: its row (the caller, the outcome) is written once the code is stored.
    pub async fn begin_browser_sign_in(
        &self,
        from: Option<IpAddr>,
        caller: Option<&AccessClaims>,
    ) -> Result<BrowserSignInStarted, AuthError> {
        let mut audit = self.audit("begin_browser_sign_in", from);
        audit.actor(caller.map(|c| c.sub.as_str()));
        let result = self.begin_code(from, caller).await;
        self.audited(&audit, result).await
    }

    async fn begin_code(
        &self,
        from: Option<IpAddr>,
        caller: Option<&AccessClaims>,
    ) -> Result<BrowserSignInStarted, AuthError> {
        let policy = &self.settings.browser_sign_in;
        let Some(verification_uri) = policy.verification_uri.clone() else {
            return Err(AuthError::Refused {
                code: "BROWSER_SIGN_IN_NOT_CONFIGURED",
                message: "this server does not know the app's verification page: set \
                          BROWSER_SIGN_IN_URL (or BETTER_AUTH_URL)",
            });
        };
        if let Some(ip) = from {
            // (Whatever RATE_LIMIT_ENABLED says: these keep the shared table from floods.)
            self.count_attempt(
                &ip.to_string(),
                DEVICE_CODE_PATH,
                policy.per_address,
                RateLimitScope::ClientAddress,
            )
            .await?;
        }
        self.count_attempt("*", DEVICE_CODE_PATH, policy.global, RateLimitScope::Global)
            .await?;
        let now = now_ms();
        let expires_in = chrono::Duration::from_std(policy.expires_in).unwrap_or_default();
        let interval_ms = policy.interval.as_millis() as i64;
        for _ in 0..MAX_ATTEMPTS {
            let row = DeviceCodeRow {
                id: generate_id(),
                device_code: self.new_device_code(caller),
                user_code: user_code(policy.user_code_length),
                user_id: None,
                expires_at: now + expires_in,
                status: "pending".to_owned(),
                last_polled_at: None,
                polling_interval: Some(interval_ms),
                client_id: Some(policy.client_id.clone()),
                scope: None,
            };
            if !self.store.create_device_code(&row).await? {
                continue;
            }
            tracing::info!("browser sign-in begun");
            return Ok(BrowserSignInStarted {
                verification_uri_complete: with_user_code(&verification_uri, &row.user_code),
                verification_uri,
                device_code: row.device_code,
                user_code: row.user_code,
                expires_at: row.expires_at,
                interval_secs: policy.interval.as_secs(),
            });
        }
        Err(AuthError::Internal {
            detail: "failed to generate a unique device code".into(),
            cause: None,
        })
    }

    /// Completes a browser sign-in as the plugin's `/device/token` redeems a code, in its
    /// order: unknown (or another caller's, or another client id's) code; `slow_down`
    /// (polled sooner than the interval); the poll recorded; expired (deleted); pending;
    /// denied (deleted); then the one exchange, and a session opened for the user who
    /// approved, under the sign-in gates (a banned or, when required, unverified user gets
    /// none, and the code is used up, as in the plugin).
    ///
    /// Audited once the flow ends (signed in, denied, expired, refused): a poll of a flow
    /// still under way (AUTHORIZATION_PENDING, SLOW_DOWN) is not an event.
    pub async fn complete_browser_sign_in(
        &self,
        device_code: &str,
        caller: Option<&AccessClaims>,
        from: Option<IpAddr>,
    ) -> Result<Authenticated, AuthError> {
        let mut audit = self.audit("complete_browser_sign_in", from);
        audit.actor(caller.map(|c| c.sub.as_str()));
        let result = self.complete_code(device_code, caller, &mut audit).await;
        match result {
            Err(e @ (AuthError::AuthorizationPending { .. } | AuthError::SlowDown { .. })) => {
                Err(e)
            }
            result => self.audited(&audit, result).await,
        }
    }

    async fn complete_code(
        &self,
        device_code: &str,
        caller: Option<&AccessClaims>,
        audit: &mut Audit,
    ) -> Result<Authenticated, AuthError> {
        let policy = &self.settings.browser_sign_in;
        if !self.is_bound_to(device_code, caller) {
            return Err(AuthError::InvalidDeviceCode);
        }
        let Some(row) = self.store.find_device_code(device_code).await? else {
            return Err(AuthError::InvalidDeviceCode);
        };
        if row
            .client_id
            .as_ref()
            .is_some_and(|c| *c != policy.client_id)
        {
            return Err(AuthError::InvalidDeviceCode);
        }
        let now = now_ms();
        let interval_secs = row
            .polling_interval
            .map_or(policy.interval.as_secs(), |ms| {
                (ms.max(0) as u64).div_ceil(1000)
            });
        if let (Some(last), Some(interval)) = (row.last_polled_at, row.polling_interval)
            && (now - last).num_milliseconds() < interval
        {
            return Err(AuthError::SlowDown { interval_secs });
        }
        self.store.mark_device_code_polled(&row.id, now).await?;
        if row.expires_at < now {
            self.store.delete_device_code(&row.id).await?;
            return Err(AuthError::ExpiredToken);
        }
        match row.status.as_str() {
            "pending" => return Err(AuthError::AuthorizationPending { interval_secs }),
            "denied" => {
                self.store.delete_device_code(&row.id).await?;
                tracing::info!("browser sign-in denied");
                return Err(AuthError::AccessDenied);
            }
            _ => {}
        }
        let Some(user_id) = row.user_id.as_deref().filter(|_| row.status == "approved") else {
            return Err(AuthError::Internal {
                detail: format!("a deviceCode row in status {:?}", row.status),
                cause: None,
            });
        };
        let Some(user) = self.store.find_user_by_id(user_id).await? else {
            return Err(AuthError::UserNotFound);
        };
        // The person who approved signs in (the caller, if authorized, stays the actor).
        if caller.is_none() {
            audit.actor(Some(&user.id));
        }
        audit.target(&user.id);
        // An authorized caller signs in as themselves: a person they sent the page to cannot
        // be made to approve a session for them (RFC 8628's remote phishing, section 5.4).
        if caller.is_some_and(|c| c.sub != user.id) {
            self.store.delete_device_code(&row.id).await?;
            tracing::info!(
                "a browser sign-in approved by another user than its caller was refused"
            );
            return Err(AuthError::AccessDenied);
        }
        let client_id = row.client_id.as_deref().unwrap_or(&policy.client_id);
        let Some(claimed) = self.store.consume_device_code(&row.id, client_id).await? else {
            return Err(AuthError::InvalidDeviceCode);
        };
        if claimed.user_id.is_none() {
            return Err(AuthError::InvalidDeviceCode);
        }
        self.may_have_a_session(&user).await?;
        let signed_in = self.open_session(user, audit).await?;
        tracing::info!(user_id = %signed_in.user.id, "user signed in in the browser");
        Ok(signed_in)
    }

    /// A sign-in `caller` began, as begin answered it, from its row and this server's
    /// configuration (never from what a client sends back but the code itself): for a
    /// 2026-07-28 retry. A code not bound to `caller`, or gone, is INVALID_DEVICE_CODE.
    pub async fn begun_browser_sign_in(
        &self,
        device_code: &str,
        caller: Option<&AccessClaims>,
    ) -> Result<BrowserSignInStarted, AuthError> {
        let policy = &self.settings.browser_sign_in;
        if !self.is_bound_to(device_code, caller) {
            return Err(AuthError::InvalidDeviceCode);
        }
        let (Some(row), Some(verification_uri)) = (
            self.store.find_device_code(device_code).await?,
            policy.verification_uri.clone(),
        ) else {
            return Err(AuthError::InvalidDeviceCode);
        };
        let interval_secs = row
            .polling_interval
            .map_or(policy.interval.as_secs(), |ms| {
                (ms.max(0) as u64).div_ceil(1000)
            });
        Ok(BrowserSignInStarted {
            verification_uri_complete: with_user_code(&verification_uri, &row.user_code),
            verification_uri,
            device_code: row.device_code,
            user_code: row.user_code,
            expires_at: row.expires_at,
            interval_secs,
        })
    }

    /// How long a caller may wait for the person (BROWSER_SIGN_IN_WAIT_SECONDS).
    pub fn browser_sign_in_wait_limit(&self) -> std::time::Duration {
        self.settings.browser_sign_in.wait
    }

    /// Where the browser sign-in of `device_code` stands, by one read that is not a poll
    /// (it moves no `lastPolledAt`): for a caller waiting on the person.
    pub async fn browser_sign_in_wait(
        &self,
        device_code: &str,
    ) -> Result<BrowserSignInWait, AuthError> {
        let row = self.store.find_device_code(device_code).await?;
        Ok(match row {
            Some(row) if row.status == "pending" && row.expires_at >= now_ms() => {
                BrowserSignInWait::Pending
            }
            _ => BrowserSignInWait::Decided,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::AuthSettings;
    use super::super::super::memory::MemoryStore;
    use super::super::sign_up::SignUp;
    use super::*;
    use std::time::Duration;

    /// The flows' test service, with an app page to send people to.
    fn service(tune: impl FnOnce(&mut AuthSettings)) -> AuthService<MemoryStore> {
        super::super::tests::service(|settings| {
            settings.browser_sign_in.verification_uri =
                Some("https://app.example.com/device".into());
            tune(settings);
        })
    }

    fn code<T>(r: Result<T, AuthError>) -> &'static str {
        match r {
            Ok(_) => "OK",
            Err(e) => e.code(),
        }
    }

    fn caller(sub: &str) -> AccessClaims {
        AccessClaims {
            sub: sub.into(),
            ..serde_json::from_value(serde_json::json!({"sub": "", "iat": 0, "exp": 0})).unwrap()
        }
    }

    #[tokio::test]
    async fn an_approved_code_signs_in_once_and_slow_down_follows_the_interval() {
        let auth = service(|s| s.browser_sign_in.interval = Duration::from_millis(200));
        let up = auth
            .sign_up(SignUp::new("ada@example.com", "password123"))
            .await
            .unwrap();
        let started = auth.begin_browser_sign_in(None, None).await.unwrap();
        assert_eq!(started.device_code.len(), 40);
        assert!(
            started
                .device_code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
        );
        assert_eq!(
            started.verification_uri_complete,
            format!(
                "https://app.example.com/device?user_code={}",
                started.user_code
            )
        );
        let complete = || auth.complete_browser_sign_in(&started.device_code, None, None);
        assert_eq!(code(complete().await), "AUTHORIZATION_PENDING");
        assert_eq!(code(complete().await), "SLOW_DOWN");
        auth.store
            .decide_device_code(&started.user_code, "approved", &up.user.id);
        tokio::time::sleep(Duration::from_millis(250)).await;
        let sessions = auth.store.session_count();
        let signed_in = complete().await.unwrap();
        assert_eq!(signed_in.user.id, up.user.id);
        assert_eq!(auth.store.session_count(), sessions + 1);
        assert_eq!(
            code(complete().await),
            "INVALID_DEVICE_CODE",
            "exchanged once"
        );
    }

    #[tokio::test]
    async fn a_code_is_bound_to_the_caller_that_began_it() {
        let auth = service(|_| {});
        let (ada, bob) = (caller("ada"), caller("bob"));
        let started = auth.begin_browser_sign_in(None, Some(&ada)).await.unwrap();
        let device_code = started.device_code.as_str();
        let by_bob = auth
            .complete_browser_sign_in(device_code, Some(&bob), None)
            .await;
        assert_eq!(code(by_bob), "INVALID_DEVICE_CODE");
        let by_anyone = auth.complete_browser_sign_in(device_code, None, None).await;
        assert_eq!(code(by_anyone), "INVALID_DEVICE_CODE");
        let by_ada = auth
            .complete_browser_sign_in(device_code, Some(&ada), None)
            .await;
        assert_eq!(code(by_ada), "AUTHORIZATION_PENDING");
        assert_eq!(
            code(
                auth.complete_browser_sign_in("x".repeat(40).as_str(), None, None)
                    .await
            ),
            "INVALID_DEVICE_CODE"
        );
    }

    #[tokio::test]
    async fn denied_and_expired_codes_are_used_up_and_a_banned_user_gets_no_session() {
        let auth = service(|_| {});
        let up = auth
            .sign_up(SignUp::new("gina@example.com", "password123"))
            .await
            .unwrap();
        let denied = auth.begin_browser_sign_in(None, None).await.unwrap();
        auth.store
            .decide_device_code(&denied.user_code, "denied", &up.user.id);
        let auth = &auth;
        let complete =
            |c: String| async move { auth.complete_browser_sign_in(&c, None, None).await };
        assert_eq!(
            code(complete(denied.device_code.clone()).await),
            "ACCESS_DENIED"
        );
        assert_eq!(
            code(complete(denied.device_code).await),
            "INVALID_DEVICE_CODE"
        );

        let auth_expiring = service(|s| s.browser_sign_in.expires_in = Duration::ZERO);
        let expired = auth_expiring
            .begin_browser_sign_in(None, None)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let complete_expired =
            || auth_expiring.complete_browser_sign_in(&expired.device_code, None, None);
        assert_eq!(code(complete_expired().await), "EXPIRED_TOKEN");
        assert_eq!(code(complete_expired().await), "INVALID_DEVICE_CODE");

        let banned = auth.begin_browser_sign_in(None, None).await.unwrap();
        auth.store
            .decide_device_code(&banned.user_code, "approved", &up.user.id);
        auth.store.ban(&up.user.id, None);
        let sessions = auth.store.session_count();
        assert_eq!(
            code(complete(banned.device_code.clone()).await),
            "BANNED_USER"
        );
        assert_eq!(auth.store.session_count(), sessions);
        assert_eq!(
            code(complete(banned.device_code).await),
            "INVALID_DEVICE_CODE"
        );
    }

    #[tokio::test]
    async fn begins_are_limited_per_address_and_for_everyone() {
        let auth = service(|s| {
            s.browser_sign_in.per_address.max = 2;
            s.browser_sign_in.global.max = 3;
        });
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let two: IpAddr = "192.0.2.2".parse().unwrap();
        let mut codes = Vec::new();
        for from in [one, one, one, two, two] {
            codes.push(code(auth.begin_browser_sign_in(Some(from), None).await));
        }
        assert_eq!(codes, ["OK", "OK", "RATE_LIMITED", "OK", "RATE_LIMITED"]);
        let unconfigured = service(|s| s.browser_sign_in.verification_uri = None);
        assert_eq!(
            code(unconfigured.begin_browser_sign_in(None, None).await),
            "BROWSER_SIGN_IN_NOT_CONFIGURED"
        );
    }

    #[test]
    fn user_codes_are_the_plugins_alphabet_and_the_url_carries_them() {
        let code = user_code(8);
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
        assert_eq!(
            with_user_code("https://app.example.com/device", "ABCD2345"),
            "https://app.example.com/device?user_code=ABCD2345"
        );
        assert_eq!(
            with_user_code("https://app.example.com/device?lang=en", "ABCD2345"),
            "https://app.example.com/device?lang=en&user_code=ABCD2345"
        );
    }
}
