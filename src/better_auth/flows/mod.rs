//! The flows of the tool contract, one file each: [`sign_up`], [`sign_in`] (with its
//! [`second_factor`]), the life of a [`session`] (refresh, sign-out, who may have one),
//! [`verify`] (verify_token, get_user, and the HTTP caller's authorization),
//! [`api_keys`] (a key's use; create, list, revoke) and [`organizations`] (the
//! organization plugin's memberships and hasPermission) and [`admin`] (the admin plugin's
//! user administration), [`browser_sign_in`] (the deviceAuthorization plugin's flow).

pub mod admin;
pub mod api_keys;
pub mod browser_sign_in;
pub mod organizations;
pub mod second_factor;
pub mod session;
pub mod sign_in;
pub mod sign_up;
pub mod verify;

#[cfg(test)]
mod tests {
    use super::super::credentials::two_factor::{self, BackupCodes};
    use super::super::memory::MemoryStore;
    use super::super::ports::TwoFactorRow;
    use super::super::*;
    use super::sign_in::SignIn;
    use super::sign_up::SignUp;
    use chrono::Utc;

    const SECRET: &str = "unit-test-secret-0123456789abcdef-0123456789";

    /// The service on an empty store with the default settings, as `tune` changes them
    /// (the other flows' tests use it too).
    pub(super) fn service(tune: impl FnOnce(&mut AuthSettings)) -> AuthService<MemoryStore> {
        let mut settings = AuthSettings {
            hash_concurrency: 2,
            ..AuthSettings::default()
        };
        tune(&mut settings);
        AuthService::new(
            MemoryStore::default(),
            Secrets::single(SECRET.into()),
            settings,
        )
        .unwrap()
    }

    fn code<T>(r: Result<T, AuthError>) -> &'static str {
        match r {
            Ok(_) => "OK",
            Err(e) => e.code(),
        }
    }

    #[tokio::test]
    async fn a_refused_sign_in_opens_no_session_and_an_unknown_email_fails_the_same_way() {
        let auth = service(|_| {});
        let up = auth
            .sign_up(SignUp::new(" Ada@Example.com ", "password123").with_name(Some("Ada")))
            .await
            .unwrap();
        assert_eq!(up.user.email, "ada@example.com");
        assert_eq!(auth.store.session_count(), 1);
        let wrong = auth
            .sign_in(SignIn::new("ada@example.com", "password124"))
            .await;
        let unknown = auth
            .sign_in(SignIn::new("bob@example.com", "password123"))
            .await;
        assert_eq!(code(wrong), "INVALID_EMAIL_OR_PASSWORD");
        assert_eq!(code(unknown), "INVALID_EMAIL_OR_PASSWORD");
        assert_eq!(
            auth.store.session_count(),
            1,
            "no session for a refused sign-in"
        );
        assert_eq!(
            auth.password_hashes_computed(),
            3,
            "one hash each, known or not"
        );
        let inn = auth
            .sign_in(SignIn::new("ADA@example.com", "password123"))
            .await
            .unwrap();
        assert_eq!(inn.user, up.user);
        assert_eq!(auth.store.session_count(), 2);
        let again = auth
            .sign_up(SignUp::new("ada@example.com", "password123"))
            .await;
        assert_eq!(code(again), "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    }

    #[tokio::test]
    async fn signing_out_ends_the_session_for_get_user_and_refresh_but_not_for_verify() {
        let auth = service(|_| {});
        let up = auth
            .sign_up(SignUp::new("carol@example.com", "password123"))
            .await
            .unwrap();
        let access = up.access.as_ref().unwrap();
        assert_eq!(auth.get_user(&access.token).await.unwrap(), up.user);
        assert_eq!(auth.get_user(&access.session.token).await.unwrap(), up.user);
        let refreshed = auth
            .refresh_token(&access.session.token, None)
            .await
            .unwrap();
        assert_eq!(
            auth.verify(&refreshed.token)
                .await
                .unwrap()
                .claims
                .sid
                .as_deref(),
            Some(access.session.id.as_str())
        );
        auth.sign_out(&access.session.token, None).await.unwrap();
        assert_eq!(code(auth.get_user(&access.token).await), "INVALID_TOKEN");
        assert_eq!(
            code(auth.refresh_token(&access.session.token, None).await),
            "INVALID_TOKEN"
        );
        // Signing out again succeeds, as Better Auth's signOut does.
        assert_eq!(code(auth.sign_out(&access.session.token, None).await), "OK");
        // Access tokens are checked statelessly: valid until they expire.
        assert!(auth.verify(&access.token).await.is_ok());
        let other = auth
            .sign_up(SignUp::new("dan@example.com", "password123"))
            .await
            .unwrap();
        auth.store.delete_user(&other.user.id);
        let token = &other.access.as_ref().unwrap().token;
        assert_eq!(code(auth.get_user(token).await), "USER_NOT_FOUND");
    }

    #[tokio::test]
    async fn a_banned_user_signs_in_with_nothing_but_a_wrong_password_error_until_the_ban_expires()
    {
        let auth = service(|_| {});
        let up = auth
            .sign_up(SignUp::new("gina@example.com", "password123"))
            .await
            .unwrap();
        let access = up.access.as_ref().unwrap();
        auth.store.ban(&up.user.id, None);
        let sessions = auth.store.session_count();
        let wrong = auth
            .sign_in(SignIn::new("gina@example.com", "password124"))
            .await;
        assert_eq!(
            code(wrong),
            "INVALID_EMAIL_OR_PASSWORD",
            "a ban shows only to the password's holder"
        );
        let right = auth
            .sign_in(SignIn::new("gina@example.com", "password123"))
            .await;
        assert_eq!(code(right), "BANNED_USER");
        assert_eq!(
            auth.store.session_count(),
            sessions,
            "no session for a banned user"
        );
        assert_eq!(
            code(auth.refresh_token(&access.session.token, None).await),
            "BANNED_USER"
        );
        assert_eq!(
            code(auth.get_user(&access.session.token).await),
            "BANNED_USER"
        );
        // An expired ban is lifted by the next sign-in, which succeeds.
        auth.store
            .ban(&up.user.id, Some(Utc::now() - chrono::Duration::minutes(1)));
        auth.sign_in(SignIn::new("gina@example.com", "password123"))
            .await
            .unwrap();
        assert!(!auth.store.is_banned(&up.user.id));
    }

    #[tokio::test]
    async fn with_verification_required_an_unverified_user_gets_no_session_anywhere() {
        let auth = service(|s| s.require_email_verification = true);
        let up = auth
            .sign_up(SignUp::new("hal@example.com", "password123"))
            .await
            .unwrap();
        assert!(up.access.is_none(), "sign_up opens no session");
        assert_eq!(auth.store.session_count(), 0);
        let wrong = auth
            .sign_in(SignIn::new("hal@example.com", "password124"))
            .await;
        assert_eq!(code(wrong), "INVALID_EMAIL_OR_PASSWORD");
        let right = auth
            .sign_in(SignIn::new("hal@example.com", "password123"))
            .await;
        assert_eq!(code(right), "EMAIL_NOT_VERIFIED");
        assert_eq!(auth.store.session_count(), 0);
        // A taken email is not revealed: the answer is a new user's, and nothing is stored.
        let hashed = auth.password_hashes_computed();
        let again = auth
            .sign_up(SignUp::new("hal@example.com", "another-password").with_name(Some("Hal")))
            .await
            .unwrap();
        assert!(again.access.is_none());
        assert_ne!(again.user.id, up.user.id);
        assert_eq!(
            (again.user.email.as_str(), again.user.name.as_str()),
            ("hal@example.com", "Hal")
        );
        assert_eq!(
            auth.password_hashes_computed(),
            hashed + 1,
            "it costs a hash, as a sign-up"
        );
        assert_eq!(auth.store.user_count(), 1);
    }

    /// A `twoFactor` row as Better Auth's enable + verify-totp leave it: the TOTP secret
    /// and the backup codes encrypted under the secret.
    fn two_factor_row(totp_secret: &str, backup_codes: &[&str]) -> TwoFactorRow {
        let secret = Secrets::single(SECRET.into());
        TwoFactorRow {
            id: generate_id(),
            secret: two_factor::encrypt(&secret, totp_secret),
            backup_codes: two_factor::encrypt(
                &secret,
                &serde_json::to_string(backup_codes).unwrap(),
            ),
            verified: true,
            lockout: Some(Lockout::default()),
        }
    }

    fn totp_now(secret: &str) -> String {
        two_factor::totp(secret, Utc::now().timestamp()).unwrap()
    }

    #[tokio::test]
    async fn a_two_factor_user_signs_in_with_a_totp_or_a_backup_code_used_once() {
        let auth = service(|s| s.rate_limit.enabled = false);
        let up = auth
            .sign_up(SignUp::new("ivy@example.com", "password123"))
            .await
            .unwrap();
        let totp_secret = "Qm9uZm9ydC1zZWNyZXQtMzItY2hhcnM";
        auth.store.set_two_factor(
            &up.user.id,
            two_factor_row(totp_secret, &["aaaaa-11111", "bbbbb-22222"]),
        );
        let sessions = auth.store.session_count();
        let sign_in = |second: Option<SecondFactor>| {
            auth.sign_in(SignIn::new("ivy@example.com", "password123").with_second_factor(second))
        };
        let wrong = auth
            .sign_in(SignIn::new("ivy@example.com", "password124"))
            .await;
        assert_eq!(code(wrong), "INVALID_EMAIL_OR_PASSWORD");
        assert_eq!(code(sign_in(None).await), "TWO_FACTOR_REQUIRED");
        let bad = SecondFactor::Totp("000000".into());
        assert_eq!(code(sign_in(Some(bad)).await), "INVALID_TWO_FACTOR_CODE");
        let used = SecondFactor::BackupCode("zzzzz-99999".into());
        assert_eq!(code(sign_in(Some(used)).await), "INVALID_TWO_FACTOR_CODE");
        assert_eq!(auth.store.session_count(), sessions, "no session yet");
        let failed = auth.store.two_factor(&up.user.id).unwrap().lockout.unwrap();
        assert_eq!(failed.failed, 2, "failures are counted");
        let totp = SecondFactor::Totp(totp_now(totp_secret));
        sign_in(Some(totp)).await.unwrap();
        let row = auth.store.two_factor(&up.user.id).unwrap();
        assert_eq!(row.lockout.unwrap().failed, 0, "and reset by a success");
        let backup = || SecondFactor::BackupCode("aaaaa-11111".into());
        sign_in(Some(backup())).await.unwrap();
        assert_eq!(
            code(sign_in(Some(backup())).await),
            "INVALID_TWO_FACTOR_CODE"
        );
        assert_eq!(auth.store.session_count(), sessions + 2);
        let left = auth.store.two_factor(&up.user.id).unwrap().backup_codes;
        let mut left = BackupCodes::read(&Secrets::single(SECRET.into()), &left).unwrap();
        assert!(left.use_up("bbbbb-22222") && !left.use_up("aaaaa-11111"));
    }

    #[tokio::test]
    async fn second_factors_pass_three_per_ten_seconds_and_ten_failures_lock_them_for_a_while() {
        let auth = service(|s| s.rate_limit.max = 100);
        let up = auth
            .sign_up(SignUp::new("jo@example.com", "password123"))
            .await
            .unwrap();
        let user_id = up.user.id.as_str();
        auth.store.set_two_factor(
            user_id,
            two_factor_row("Sm9Cb25mb3J0LXNlY3JldC0zMi1jaGFy", &["ccccc-33333"]),
        );
        let attempt = |second: SecondFactor| {
            auth.sign_in(
                SignIn::new("jo@example.com", "password123").with_second_factor(Some(second)),
            )
        };
        let totp = || SecondFactor::Totp("000000".into());
        let backup = |c: &str| SecondFactor::BackupCode(c.into());
        let mut codes = Vec::new();
        for _ in 0..4 {
            codes.push(code(attempt(totp()).await));
        }
        assert_eq!(
            codes,
            [
                "INVALID_TWO_FACTOR_CODE",
                "INVALID_TWO_FACTOR_CODE",
                "INVALID_TWO_FACTOR_CODE",
                "RATE_LIMITED"
            ],
            "Better Auth's 3 per 10 s on each kind of second factor"
        );
        let set_lockout = |failed, locked_until| {
            let mut row = auth.store.two_factor(user_id).unwrap();
            row.lockout = Some(Lockout {
                failed,
                locked_until,
            });
            auth.store.set_two_factor(user_id, row);
        };
        // The tenth failure in a row locks the second factor for 15 minutes...
        set_lockout(9, None);
        assert_eq!(
            code(attempt(backup("wrong-code")).await),
            "INVALID_TWO_FACTOR_CODE"
        );
        let lockout = auth.store.two_factor(user_id).unwrap().lockout.unwrap();
        assert_eq!(lockout.failed, 10);
        let until = lockout.locked_until.expect("locked");
        assert!(until > Utc::now() + chrono::Duration::minutes(14));
        // ...during which even the right code is refused, saying when to retry...
        let locked = attempt(backup("ccccc-33333")).await.unwrap_err();
        assert_eq!(locked.code(), "RATE_LIMITED");
        assert!(locked.to_string().contains("retry after 9"), "{locked}");
        // ...and once it has passed, the right code signs in and clears the count.
        set_lockout(10, Some(Utc::now() - chrono::Duration::seconds(1)));
        attempt(backup("ccccc-33333")).await.unwrap();
        let lockout = auth.store.two_factor(user_id).unwrap().lockout.unwrap();
        assert_eq!(lockout, Lockout::default());
    }

    #[tokio::test]
    async fn with_the_audit_log_on_each_event_has_one_row_saying_who_and_how_it_ended() {
        let auth = service(|s| s.audit.enabled = true);
        let password = "password-never-audited";
        let up = auth
            .sign_up(SignUp::new("kim@example.com", password))
            .await
            .unwrap();
        let id = up.user.id.clone();
        let session = up.access.unwrap().session.token;
        let _ = auth
            .sign_in(SignIn::new("kim@example.com", "wrong-password"))
            .await;
        let _ = auth
            .sign_in(SignIn::new("nobody@example.com", password))
            .await;
        auth.sign_in(SignIn::new("kim@example.com", password))
            .await
            .unwrap();
        auth.refresh_token(&session, None).await.unwrap();
        auth.sign_out(&session, Some("10.1.2.3".parse().unwrap()))
            .await
            .unwrap();
        let _ = auth.refresh_token(&session, None).await;
        let rows = auth.store.audit_rows();
        let seen: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.action,
                    r.outcome.as_str(),
                    r.actor_id.as_deref(),
                    r.target_user_id.as_deref(),
                )
            })
            .collect();
        let me = Some(id.as_str());
        assert_eq!(
            seen,
            [
                ("sign_up", "success", me, me),
                ("sign_in", "INVALID_EMAIL_OR_PASSWORD", None, me),
                ("sign_in", "INVALID_EMAIL_OR_PASSWORD", None, None),
                ("sign_in", "success", me, me),
                ("refresh_token", "success", me, me),
                ("sign_out", "success", me, me),
                ("refresh_token", "INVALID_TOKEN", None, None),
            ]
        );
        assert_eq!(rows[5].ip_address.as_deref(), Some("10.1.2.3"));
        for row in &rows {
            let text = format!("{row:?}");
            assert!(
                !text.contains(password) && !text.contains(&session),
                "{text}"
            );
        }
        let off = service(|_| {});
        off.sign_up(SignUp::new("lee@example.com", password))
            .await
            .unwrap();
        assert!(off.store.audit_rows().is_empty(), "off by default");
    }

    #[tokio::test]
    async fn past_the_rate_limit_no_password_is_hashed() {
        let auth = service(|s| s.rate_limit.max = 2);
        for _ in 0..2 {
            let r = auth
                .sign_in(SignIn::new("eve@example.com", "password123"))
                .await;
            assert_eq!(code(r), "INVALID_EMAIL_OR_PASSWORD");
        }
        let hashed = auth.password_hashes_computed();
        let r = auth
            .sign_in(SignIn::new("eve@example.com", "password123"))
            .await;
        assert_eq!(code(r), "RATE_LIMITED");
        assert_eq!(auth.password_hashes_computed(), hashed);
        // Another email has a bucket of its own.
        let r = auth
            .sign_in(SignIn::new("frank@example.com", "password123"))
            .await;
        assert_eq!(code(r), "INVALID_EMAIL_OR_PASSWORD");
    }
}
