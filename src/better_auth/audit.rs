//! The audit trail (`AUDIT_LOG`): one row per auth event and admin call, saying who did
//! what to whom, from where, and how it ended (`success`, or the refusal's code).
//!
//! A flow starts an [`Audit`] when it begins; the write that makes the event hands the
//! store the success row ([`Audit::success`]), which the store writes in the same
//! statement or transaction; a flow that ends with no such write (a refusal, a read) has
//! its row written on its own when it ends ([`AuthService::audited`]). Rows hold no
//! secret: no password, token, key, hash or code, only ids, emails and the call's
//! non-secret choices.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::service::now_ms;
use super::{AuthError, AuthService, AuthStore, generate_id};

/// The outcome of an event that happened.
pub const SUCCESS: &str = "success";

/// At most this many characters of a caller-given text (an email that did not parse, a
/// search) go into a row.
const MAX_TEXT: usize = 320;

/// What the deployment asks of the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditPolicy {
    /// AUDIT_LOG: rows are written.
    pub enabled: bool,
}

/// One row of `better_auth_mcp_audit_log`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// The tool: sign_up, sign_in, refresh_token, sign_out, create_api_key, ban_user, ...
    pub action: &'static str,
    /// Who acted: the signed-in user, or the administrator (None: the operator on stdio,
    /// or nobody known, as a failed sign-in of an unknown email).
    pub actor_id: Option<String>,
    /// The user the event is about.
    pub target_user_id: Option<String>,
    /// The client's address (over HTTP).
    pub ip_address: Option<String>,
    /// `success`, or the contract's code of the refusal.
    pub outcome: String,
    /// A JSON object of the call's non-secret details.
    pub payload: String,
}

impl AuditEntry {
    /// Adds a detail to the payload (what the store learns as it writes: a key's id).
    pub fn add_detail(&mut self, name: &str, value: impl Into<Value>) {
        let mut payload: Map<String, Value> =
            serde_json::from_str(&self.payload).unwrap_or_default();
        payload.insert(name.to_owned(), value.into());
        self.payload = Value::Object(payload).to_string();
    }
}

/// A row read back (`better-auth-mcp audit`).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub action: String,
    pub actor_id: Option<String>,
    pub target_user_id: Option<String>,
    pub ip_address: Option<String>,
    pub outcome: String,
    pub payload: String,
}

/// The audit row of one call in the making: what is known of it so far.
#[derive(Debug)]
pub struct Audit {
    on: bool,
    action: &'static str,
    from: Option<IpAddr>,
    actor: Option<String>,
    target: Option<String>,
    details: Map<String, Value>,
    /// The success row was handed to a write (which wrote it, or failed and wrote nothing).
    handed: std::sync::atomic::AtomicBool,
}

impl Audit {
    /// A call's row, kept only when `on`.
    pub fn new(on: bool, action: &'static str, from: Option<IpAddr>) -> Self {
        Self {
            on,
            action,
            from,
            actor: None,
            target: None,
            details: Map::new(),
            handed: false.into(),
        }
    }

    /// The user who acts, and is the one the event is about (sign-in, sign-out, ...).
    pub fn user(&mut self, user_id: &str) -> &mut Self {
        self.actor = Some(user_id.to_owned());
        self.target = Some(user_id.to_owned());
        self
    }

    pub fn actor(&mut self, actor_id: Option<&str>) -> &mut Self {
        self.actor = actor_id.map(str::to_owned);
        self
    }

    pub fn target(&mut self, user_id: &str) -> &mut Self {
        self.target = Some(user_id.to_owned());
        self
    }

    /// A detail of the call (never a secret).
    pub fn detail(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        if self.on {
            self.details.insert(name.to_owned(), value.into());
        }
        self
    }

    /// A caller-given text, cut to a bounded length.
    pub fn text(&mut self, name: &str, value: &str) -> &mut Self {
        let value: String = value.chars().take(MAX_TEXT).collect();
        self.detail(name, value)
    }

    /// The success row, for the write that makes the event to write with it (None when
    /// the audit log is off).
    pub fn success(&self) -> Option<AuditEntry> {
        self.handed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.entry(SUCCESS)
    }

    fn entry(&self, outcome: &str) -> Option<AuditEntry> {
        self.on.then(|| AuditEntry {
            id: generate_id(),
            created_at: now_ms(),
            action: self.action,
            actor_id: self.actor.clone(),
            target_user_id: self.target.clone(),
            ip_address: self.from.map(|ip| ip.to_string()),
            outcome: outcome.to_owned(),
            payload: Value::Object(self.details.clone()).to_string(),
        })
    }
}

impl<S: AuthStore> AuthService<S> {
    /// A call's audit row in the making.
    pub(super) fn audit(&self, action: &'static str, from: Option<IpAddr>) -> Audit {
        Audit::new(self.settings.audit.enabled, action, from)
    }

    /// Ends a call's audit: a refusal (or a failed write, which wrote nothing) gets its
    /// row now, as does a success whose row no write took. A row that cannot be written is
    /// logged: the answer stays the call's.
    pub(super) async fn audited<T>(
        &self,
        audit: &Audit,
        result: Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        let handed = audit.handed.load(std::sync::atomic::Ordering::Relaxed);
        let entry = match &result {
            Ok(_) if handed => None,
            Ok(_) => audit.entry(SUCCESS),
            // The database failed under or after the write that had the row: whether it
            // happened is the row's to say (there, or not at all), not a second one's.
            Err(AuthError::ServiceUnavailable { .. } | AuthError::Internal { .. }) if handed => {
                tracing::warn!(
                    action = audit.action,
                    "the database failed during an audited call"
                );
                None
            }
            Err(e) => audit.entry(e.code()),
        };
        if let Some(entry) = entry
            && let Err(e) = self.store.record_audit(&entry).await
        {
            tracing::warn!(action = entry.action, outcome = %entry.outcome, "audit row not written: {e}");
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_that_is_off_makes_no_row_and_keeps_no_detail() {
        let mut audit = Audit::new(false, "sign_in", None);
        audit.user("u1").text("email", "a@example.com");
        assert!(audit.success().is_none());
        assert!(audit.details.is_empty());
    }

    #[test]
    fn a_row_says_who_did_what_from_where_and_cuts_long_texts() {
        let mut audit = Audit::new(true, "sign_in", Some("10.0.0.7".parse().unwrap()));
        audit.user("u1").text("email", &"x".repeat(1000));
        let row = audit.success().unwrap();
        assert_eq!(row.action, "sign_in");
        assert_eq!(row.actor_id.as_deref(), Some("u1"));
        assert_eq!(row.target_user_id.as_deref(), Some("u1"));
        assert_eq!(row.ip_address.as_deref(), Some("10.0.0.7"));
        assert_eq!(row.outcome, SUCCESS);
        let payload: Value = serde_json::from_str(&row.payload).unwrap();
        assert_eq!(payload["email"].as_str().unwrap().len(), MAX_TEXT);
    }
}
