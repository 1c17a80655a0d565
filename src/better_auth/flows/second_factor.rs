//! Better Auth's two-factor plugin at sign-in: no session without a second factor. A TOTP
//! code is checked against the user's `twoFactor` secret (one 30-second step either side),
//! a backup code is used up; 3 attempts per 10 s per kind, and 10 failures in a row lock
//! the second factor for 15 minutes, as Better Auth does.

use super::super::credentials::two_factor::{self, BackupCodes, CipherError};
use super::super::service::now_ms;
use super::super::{
    AuthError, AuthService, AuthStore, LOCKOUT, Lockout, MAX_FAILED_SECOND_FACTORS, RateLimitScope,
    SECOND_FACTOR_RATE_LIMIT, SecondFactor, User,
};

/// Better Auth's paths for the second factors; part of the rate-limit bucket key.
const TOTP_PATH: &str = "/two-factor/verify-totp";
const BACKUP_CODE_PATH: &str = "/two-factor/verify-backup-code";

const SECOND_FACTOR_MISSING: &str = "Two-factor authentication is on for this user: sign in \
    again with totpCode (from the authenticator app) or backupCode";
const SECOND_FACTOR_ELSEWHERE: &str = "Two-factor authentication is on for this user, with no \
    authenticator app set up: their second factor can only be used through the web app";

impl<S: AuthStore> AuthService<S> {
    /// Checks the second factor of `user`, whose password checked out; see the module.
    pub(super) async fn check_second_factor(
        &self,
        user: &User,
        second_factor: Option<SecondFactor>,
    ) -> Result<(), AuthError> {
        let user_id = user.id.as_str();
        let Some(second_factor) = second_factor else {
            tracing::info!(user_id, "a second factor is required");
            return Err(AuthError::TwoFactorRequired(SECOND_FACTOR_MISSING));
        };
        let path = match second_factor {
            SecondFactor::Totp(_) => TOTP_PATH,
            SecondFactor::BackupCode(_) => BACKUP_CODE_PATH,
        };
        self.throttle(
            &user.email,
            path,
            SECOND_FACTOR_RATE_LIMIT,
            RateLimitScope::SecondFactor,
        )
        .await?;
        let row = match self.store.find_two_factor(user_id).await? {
            Some(row) if row.verified => row,
            _ => return Err(AuthError::TwoFactorRequired(SECOND_FACTOR_ELSEWHERE)),
        };
        let now = now_ms();
        if let Some(Lockout {
            locked_until: Some(until),
            ..
        }) = row.lockout
        {
            if until > now {
                tracing::info!(user_id, "a locked second factor was refused");
                let wait = (until - now).num_milliseconds().max(0) as u64;
                return Err(AuthError::RateLimited {
                    retry_after_secs: wait.div_ceil(1000).max(1),
                    scope: RateLimitScope::SecondFactor,
                });
            }
            self.store.reset_second_factor_failures(&row.id).await?;
        }
        let unreadable = |what: &'static str, e: CipherError| {
            AuthError::internal(format!("the twoFactor row's {what} cannot be read"), e)
        };
        let matched = match &second_factor {
            SecondFactor::Totp(code) => {
                let secret = two_factor::decrypt(&self.secrets, &row.secret)
                    .map_err(|e| unreadable("secret", e))?;
                two_factor::totp_matches(&secret, code.trim(), now.timestamp())
                    .ok_or_else(|| unreadable("secret", CipherError::Malformed))?
            }
            SecondFactor::BackupCode(code) => {
                let mut codes = BackupCodes::read(&self.secrets, &row.backup_codes)
                    .map_err(|e| unreadable("backup codes", e))?;
                // Stored only if no other sign-in used a code meanwhile: each code once.
                codes.use_up(code.trim())
                    && self
                        .store
                        .replace_backup_codes(
                            &row.id,
                            &row.backup_codes,
                            &codes.store(&self.secrets),
                        )
                        .await?
            }
        };
        if !matched {
            if row.lockout.is_some() {
                let lock_until = now + chrono::Duration::from_std(LOCKOUT).unwrap_or_default();
                self.store
                    .record_second_factor_failure(&row.id, MAX_FAILED_SECOND_FACTORS, lock_until)
                    .await?;
            }
            tracing::info!(user_id, "a second factor failed");
            return Err(AuthError::InvalidTwoFactorCode);
        }
        if row.lockout.is_some_and(|l| l.failed > 0) {
            self.store.reset_second_factor_failures(&row.id).await?;
        }
        tracing::info!(user_id, "a second factor verified");
        Ok(())
    }
}
