//! The values of a user as Better Auth accepts them: email addresses (zod's `z.email()`
//! rule, trimmed and lowercased) and display names.

use super::AuthError;

/// The most bytes an address may have (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL_BYTES: usize = 254;

/// A valid, normalised email address: trimmed and lowercased, as stored and looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, AuthError> {
        let email = raw.trim().to_lowercase();
        if email.len() > MAX_EMAIL_BYTES || !is_valid(&email) {
            return Err(AuthError::InvalidEmail);
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The most characters a display name may have.
pub const MAX_NAME_CHARS: usize = 256;

/// A display name: at most 256 characters, no control characters. Empty is allowed,
/// as in Better Auth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub fn parse(raw: Option<&str>) -> Result<Self, AuthError> {
        let name = raw.unwrap_or("").trim();
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(AuthError::InvalidName("longer than 256 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(AuthError::InvalidName("contains control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// zod 4's default email pattern:
/// `^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-\.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$`
fn is_valid(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_'+-.".contains(&b))
        && local
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b));
    if !local_ok {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let Some((tld, rest)) = labels.split_last() else {
        return false;
    };
    !rest.is_empty()
        && tld.len() >= 2
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
        && rest.iter().all(|label| {
            label.len() <= 63
                && label
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        let e = Email::parse("  Ada.Lovelace+x@Example.COM \n").unwrap();
        assert_eq!(e.as_str(), "ada.lovelace+x@example.com");
    }

    #[test]
    fn valid_addresses_are_accepted() {
        for ok in [
            "a@b.co",
            "o'hara@mail.example.org",
            "x_y-z@sub-domain.example.io",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn invalid_addresses_are_rejected() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@b.c",
            ".a@example.com",
            "a..b@example.com",
            "a.@example.com",
            "a b@example.com",
            "a@-example.com",
            "a@exa_mple.com",
            "a@b.c0m",
            "a@@b.com",
            "é@example.com",
            "a\0@example.com",
        ] {
            assert!(
                matches!(Email::parse(bad), Err(AuthError::InvalidEmail)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn addresses_over_254_bytes_are_rejected() {
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(60).repeat(4));
        assert!(long.len() > MAX_EMAIL_BYTES);
        assert!(matches!(Email::parse(&long), Err(AuthError::InvalidEmail)));
    }

    #[test]
    fn names_are_bounded_and_free_of_control_characters() {
        assert_eq!(UserName::parse(None).unwrap().0, "");
        assert_eq!(UserName::parse(Some("  Ada  ")).unwrap().0, "Ada");
        assert!(UserName::parse(Some(&"é".repeat(256))).is_ok());
        assert!(matches!(
            UserName::parse(Some(&"x".repeat(257))),
            Err(AuthError::InvalidName(_))
        ));
        assert!(matches!(
            UserName::parse(Some("Ada\u{0}")),
            Err(AuthError::InvalidName(_))
        ));
        assert!(matches!(
            UserName::parse(Some("Ada\nLovelace")),
            Err(AuthError::InvalidName(_))
        ));
    }
}
