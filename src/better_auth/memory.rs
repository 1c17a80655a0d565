//! An [`AuthStore`] in memory, for the domain's unit tests: the service's rules are tested
//! here without a database (the real-database tests are in `tests/it/store.rs` and `e2e.rs`).

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::ports::{
    AdminUpdate, ApiKeyRow, ApiKeyWrite, AuditEntry, AuditRow, AuthStore, Ban, DeviceCodeRow,
    JwkLookup, KeyUse, Lockout, ManagedUser, Membership, NewApiKey, NewSession, NewUser,
    RateLimitBucket, Session, Standing, StoreError, TwoFactorRow, User, UserInOrganizations,
    UserPage, UserQuery, UserWithPassword,
};

const NO_ORGANIZATIONS: StoreError = StoreError::PluginNotEnabled("organization");
/// The admin toolset is tested on the real databases (tests/it/admin.rs).
const NO_ADMIN: StoreError = StoreError::PluginNotEnabled("admin");

#[derive(Default)]
pub struct MemoryStore {
    rows: Mutex<Rows>,
}

#[derive(Default)]
struct Rows {
    users: Vec<User>,
    /// Credential passwords by user id.
    passwords: HashMap<String, String>,
    sessions: Vec<Session>,
    rate_limits: HashMap<String, RateLimitBucket>,
    /// Bans by user id, as the admin plugin keeps them.
    bans: HashMap<String, Ban>,
    /// `twoFactor` rows by user id; a user with one has two-factor on.
    two_factor: HashMap<String, TwoFactorRow>,
    /// Whether there is a (keyless) `jwks` table, and how often it was read.
    jwks_table: bool,
    jwk_reads: usize,
    /// `apikey` rows with their stored key.
    api_keys: Vec<(String, ApiKeyRow)>,
    /// The organization plugin's rows, once its tables exist.
    organizations: Option<OrganizationRows>,
    audit: Vec<AuditEntry>,
    /// The deviceAuthorization plugin's `deviceCode` rows.
    device_codes: Vec<DeviceCodeRow>,
}

#[derive(Default)]
struct OrganizationRows {
    /// Members (user id, membership), in the order they joined.
    members: Vec<(String, Membership)>,
    /// `organizationRole` rows: organization id, role, permission JSON.
    roles: Vec<(String, String, String)>,
    /// `session.activeOrganizationId` by session id.
    active: HashMap<String, String>,
}

impl MemoryStore {
    fn rows(&self) -> std::sync::MutexGuard<'_, Rows> {
        self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The audit rows written, in order.
    pub fn audit_rows(&self) -> Vec<AuditEntry> {
        self.rows().audit.clone()
    }

    pub fn user_count(&self) -> usize {
        self.rows().users.len()
    }

    /// How many sessions are stored.
    pub fn session_count(&self) -> usize {
        self.rows().sessions.len()
    }

    /// Bans a user, as Better Auth's admin plugin does (until `expires_at`, or for good).
    pub fn ban(&self, user_id: &str, expires_at: Option<DateTime<Utc>>) {
        self.rows()
            .bans
            .insert(user_id.to_owned(), Ban { expires_at });
    }

    /// Sets a `deviceCode` row's status and user, as the app's `/device/approve` and
    /// `/device/deny` do (found by its user code).
    pub fn decide_device_code(&self, user_code: &str, status: &str, user_id: &str) {
        let mut rows = self.rows();
        if let Some(r) = rows
            .device_codes
            .iter_mut()
            .find(|r| r.user_code == user_code)
        {
            r.status = status.to_owned();
            r.user_id = Some(user_id.to_owned());
        }
    }

    pub fn is_banned(&self, user_id: &str) -> bool {
        self.rows().bans.contains_key(user_id)
    }

    /// Turns two-factor on for a user with this `twoFactor` row.
    pub fn set_two_factor(&self, user_id: &str, row: TwoFactorRow) {
        self.rows().two_factor.insert(user_id.to_owned(), row);
    }

    pub fn two_factor(&self, user_id: &str) -> Option<TwoFactorRow> {
        self.rows().two_factor.get(user_id).cloned()
    }

    /// Gives the store an empty `jwks` table (the JWT plugin, before any key).
    pub fn add_jwks_table(&self) {
        self.rows().jwks_table = true;
    }

    /// Gives the store the organization plugin's tables, empty.
    pub fn enable_organizations(&self) {
        self.rows()
            .organizations
            .get_or_insert_with(Default::default);
    }

    /// Adds a member row (the tables must exist), an `organizationRole` row, or sets a
    /// session's active organization, as the plugin's endpoints write them.
    pub fn add_member(&self, user_id: &str, membership: Membership) {
        let mut rows = self.rows();
        let orgs = rows.organizations.as_mut().expect("organization tables");
        orgs.members.push((user_id.to_owned(), membership));
    }

    pub fn add_organization_role(&self, organization_id: &str, role: &str, permission: &str) {
        let mut rows = self.rows();
        let orgs = rows.organizations.as_mut().expect("organization tables");
        let row = (organization_id.into(), role.into(), permission.into());
        orgs.roles.push(row);
    }

    pub fn set_active_organization(&self, session_id: &str, organization_id: &str) {
        let mut rows = self.rows();
        let orgs = rows.organizations.as_mut().expect("organization tables");
        orgs.active
            .insert(session_id.to_owned(), organization_id.to_owned());
    }

    pub fn jwk_reads(&self) -> usize {
        self.rows().jwk_reads
    }

    /// Removes a user, as an admin would.
    pub fn delete_user(&self, id: &str) {
        let mut rows = self.rows();
        rows.users.retain(|u| u.id != id);
        rows.sessions.retain(|s| s.user_id != id);
    }
}

impl MemoryStore {
    fn update_two_factor(&self, id: &str, change: impl FnOnce(&mut TwoFactorRow)) {
        if let Some(row) = self.rows().two_factor.values_mut().find(|r| r.id == id) {
            change(row);
        }
    }
}

fn insert_session(rows: &mut Rows, user_id: &str, new: &NewSession) -> Session {
    let session = new.stored(new.id.clone(), user_id);
    rows.sessions.push(session.clone());
    session
}

impl AuthStore for MemoryStore {
    async fn create_user_with_password(
        &self,
        new: &NewUser,
        session: Option<&NewSession>,
        audit: Option<&AuditEntry>,
    ) -> Result<(User, Option<Session>), StoreError> {
        let mut rows = self.rows();
        if rows.users.iter().any(|u| u.email == new.user.email) {
            return Err(StoreError::EmailTaken);
        }
        rows.audit.extend(audit.cloned());
        rows.users.push(new.user.clone());
        rows.passwords
            .insert(new.user.id.clone(), new.password_hash.clone());
        let session = session.map(|s| insert_session(&mut rows, &new.user.id, s));
        Ok((new.user.clone(), session))
    }

    async fn create_session(
        &self,
        user_id: &str,
        session: &NewSession,
        audit: Option<&AuditEntry>,
    ) -> Result<Session, StoreError> {
        let mut rows = self.rows();
        rows.audit.extend(audit.cloned());
        Ok(insert_session(&mut rows, user_id, session))
    }

    async fn find_session(&self, token: &str) -> Result<Option<(Session, User)>, StoreError> {
        let rows = self.rows();
        let Some(session) = rows.sessions.iter().find(|s| s.token == token) else {
            return Ok(None);
        };
        let user = rows.users.iter().find(|u| u.id == session.user_id);
        Ok(user.map(|u| (session.clone(), u.clone())))
    }

    async fn find_user_with_session(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<Option<(User, Option<Session>)>, StoreError> {
        let rows = self.rows();
        let session = rows
            .sessions
            .iter()
            .find(|s| s.id == session_id && s.user_id == user_id)
            .cloned();
        let user = rows.users.iter().find(|u| u.id == user_id).cloned();
        Ok(user.map(|u| (u, session)))
    }

    async fn extend_session(
        &self,
        session_id: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        let mut rows = self.rows();
        rows.audit.extend(audit.cloned());
        if let Some(s) = rows.sessions.iter_mut().find(|s| s.id == session_id) {
            s.expires_at = expires_at;
            s.updated_at = now;
        }
        Ok(())
    }

    async fn delete_session(
        &self,
        token: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError> {
        let mut rows = self.rows();
        let user = rows
            .sessions
            .iter()
            .find(|s| s.token == token)
            .map(|s| s.user_id.clone());
        if let Some(mut entry) = audit.cloned() {
            entry.actor_id = entry.actor_id.or(user.clone());
            entry.target_user_id = entry.target_user_id.or(user.clone());
            rows.audit.push(entry);
        }
        rows.sessions.retain(|s| s.token != token);
        Ok(user.is_some())
    }

    async fn update_password(
        &self,
        user_id: &str,
        password_hash: &str,
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.rows()
            .passwords
            .insert(user_id.to_owned(), password_hash.to_owned());
        Ok(())
    }

    async fn find_jwk(&self, _kid: &str) -> Result<JwkLookup, StoreError> {
        let mut rows = self.rows();
        rows.jwk_reads += 1;
        // An empty `jwks` table when there is one: every key id is unknown.
        Ok(if rows.jwks_table {
            JwkLookup::Unknown
        } else {
            JwkLookup::NoKeySource
        })
    }

    async fn find_user_by_email(
        &self,
        email: &str,
    ) -> Result<Option<UserWithPassword>, StoreError> {
        let rows = self.rows();
        Ok(rows
            .users
            .iter()
            .find(|u| u.email == email)
            .map(|u| UserWithPassword {
                user: u.clone(),
                password_hash: rows.passwords.get(&u.id).cloned(),
            }))
    }

    async fn find_user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        Ok(self.rows().users.iter().find(|u| u.id == id).cloned())
    }

    fn as_stored(&self, user: User) -> User {
        user
    }

    async fn find_standing(&self, user_id: &str) -> Result<Standing, StoreError> {
        let rows = self.rows();
        Ok(Standing {
            ban: rows.bans.get(user_id).copied(),
            two_factor_enabled: rows.two_factor.contains_key(user_id),
        })
    }

    async fn find_two_factor(&self, user_id: &str) -> Result<Option<TwoFactorRow>, StoreError> {
        Ok(self.two_factor(user_id))
    }

    async fn record_second_factor_failure(
        &self,
        two_factor_id: &str,
        max_failed: i64,
        lock_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update_two_factor(two_factor_id, |row| {
            let lockout = row.lockout.get_or_insert_with(Lockout::default);
            lockout.failed += 1;
            if lockout.failed >= max_failed {
                lockout.locked_until = Some(lock_until);
            }
        });
        Ok(())
    }

    async fn reset_second_factor_failures(&self, two_factor_id: &str) -> Result<(), StoreError> {
        self.update_two_factor(two_factor_id, |row| {
            row.lockout = Some(Lockout::default());
        });
        Ok(())
    }

    async fn replace_backup_codes(
        &self,
        two_factor_id: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let mut replaced = false;
        self.update_two_factor(two_factor_id, |row| {
            if row.backup_codes == old {
                row.backup_codes = new.to_owned();
                replaced = true;
            }
        });
        Ok(replaced)
    }

    async fn lift_ban(&self, user_id: &str, _now: DateTime<Utc>) -> Result<(), StoreError> {
        self.rows().bans.remove(user_id);
        Ok(())
    }

    async fn find_api_key(&self, stored_key: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        let rows = self.rows();
        Ok(rows
            .api_keys
            .iter()
            .find(|(k, _)| k == stored_key)
            .map(|(_, r)| r.clone()))
    }

    async fn find_api_key_by_id(&self, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        let rows = self.rows();
        Ok(rows
            .api_keys
            .iter()
            .find(|(_, r)| r.id == id)
            .map(|(_, r)| r.clone()))
    }

    async fn use_api_key<T: Send + 'static>(
        &self,
        stored_key: &str,
        check_owner: bool,
        mut rule: impl FnMut(Option<&ApiKeyRow>) -> (ApiKeyWrite, T) + Send + 'static,
    ) -> Result<KeyUse<T>, StoreError> {
        let mut rows = self.rows();
        let at = rows.api_keys.iter().position(|(k, _)| k == stored_key);
        let (write, decision) = rule(at.map(|i| &rows.api_keys[i].1));
        let mut owner_is_user = None;
        if let Some(i) = at {
            match write {
                ApiKeyWrite::Nothing => {}
                ApiKeyWrite::Delete => {
                    rows.api_keys.remove(i);
                }
                ApiKeyWrite::Usage { next, updated_at } => {
                    let row = &mut rows.api_keys[i].1;
                    row.usage = next;
                    if let Some(t) = updated_at {
                        row.updated_at = t;
                    }
                    let owner = row.reference_id.clone();
                    owner_is_user = check_owner.then(|| rows.users.iter().any(|u| u.id == owner));
                }
            }
        }
        Ok(KeyUse {
            decision,
            owner_is_user,
        })
    }

    async fn delete_api_key(
        &self,
        id: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError> {
        let mut rows = self.rows();
        let before = rows.api_keys.len();
        rows.api_keys.retain(|(_, r)| r.id != id);
        let deleted = rows.api_keys.len() < before;
        if deleted {
            rows.audit.extend(audit.cloned());
        }
        Ok(deleted)
    }

    async fn create_api_key(
        &self,
        key: &NewApiKey,
        audit: Option<&AuditEntry>,
    ) -> Result<String, StoreError> {
        let mut rows = self.rows();
        rows.audit.extend(audit.cloned());
        rows.api_keys
            .push((key.stored_key.clone(), key.row.clone()));
        Ok(key.row.id.clone())
    }

    async fn list_api_keys(&self, reference_id: &str) -> Result<Vec<ApiKeyRow>, StoreError> {
        let rows = self.rows();
        Ok(rows
            .api_keys
            .iter()
            .rev()
            .filter(|(_, r)| r.reference_id == reference_id)
            .map(|(_, r)| r.clone())
            .collect())
    }

    async fn find_memberships(&self, user_id: &str) -> Result<Vec<Membership>, StoreError> {
        let rows = self.rows();
        let orgs = rows.organizations.as_ref().ok_or(NO_ORGANIZATIONS)?;
        let of_user = orgs.members.iter().filter(|(u, _)| u == user_id);
        Ok(of_user.map(|(_, m)| m.clone()).collect())
    }

    async fn organization_exists(&self, id: &str) -> Result<bool, StoreError> {
        let rows = self.rows();
        let orgs = rows.organizations.as_ref().ok_or(NO_ORGANIZATIONS)?;
        Ok(orgs.members.iter().any(|(_, m)| m.organization_id == id))
    }

    async fn find_organization_roles(
        &self,
        organization_id: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self.rows();
        let orgs = rows.organizations.as_ref().ok_or(NO_ORGANIZATIONS)?;
        let of_org = orgs.roles.iter().filter(|(o, ..)| o == organization_id);
        Ok(of_org.map(|(_, r, p)| (r.clone(), p.clone())).collect())
    }

    async fn find_user_in_organizations(
        &self,
        user_id: &str,
        session_id: Option<&str>,
    ) -> Result<Option<UserInOrganizations>, StoreError> {
        super::ports::user_in_organizations_read_apart(self, user_id, session_id).await
    }

    async fn find_active_organization(
        &self,
        session_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let rows = self.rows();
        let orgs = rows.organizations.as_ref().ok_or(NO_ORGANIZATIONS)?;
        Ok(orgs.active.get(session_id).cloned())
    }

    async fn find_managed_user(&self, _user_id: &str) -> Result<Option<ManagedUser>, StoreError> {
        Err(NO_ADMIN)
    }

    async fn list_users(&self, _query: &UserQuery) -> Result<UserPage, StoreError> {
        Err(NO_ADMIN)
    }

    async fn update_managed_user(
        &self,
        _user_id: &str,
        _update: &AdminUpdate,
        _now: DateTime<Utc>,
        _audit: Option<&AuditEntry>,
    ) -> Result<Option<ManagedUser>, StoreError> {
        Err(NO_ADMIN)
    }

    async fn delete_user_sessions(
        &self,
        _user_id: &str,
        _audit: Option<&AuditEntry>,
    ) -> Result<u64, StoreError> {
        Err(NO_ADMIN)
    }

    async fn remove_user(
        &self,
        _user_id: &str,
        _audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError> {
        Err(NO_ADMIN)
    }

    async fn create_device_code(&self, row: &DeviceCodeRow) -> Result<bool, StoreError> {
        let mut rows = self.rows();
        let taken = rows
            .device_codes
            .iter()
            .any(|r| r.device_code == row.device_code || r.user_code == row.user_code);
        if !taken {
            rows.device_codes.push(row.clone());
        }
        Ok(!taken)
    }

    async fn find_device_code(
        &self,
        device_code: &str,
    ) -> Result<Option<DeviceCodeRow>, StoreError> {
        let rows = self.rows();
        let found = rows
            .device_codes
            .iter()
            .find(|r| r.device_code == device_code);
        Ok(found.cloned())
    }

    async fn mark_device_code_polled(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut rows = self.rows();
        if let Some(r) = rows.device_codes.iter_mut().find(|r| r.id == id) {
            r.last_polled_at = Some(now);
        }
        Ok(())
    }

    async fn delete_device_code(&self, id: &str) -> Result<bool, StoreError> {
        let mut rows = self.rows();
        let before = rows.device_codes.len();
        rows.device_codes.retain(|r| r.id != id);
        Ok(rows.device_codes.len() < before)
    }

    async fn consume_device_code(
        &self,
        id: &str,
        client_id: &str,
    ) -> Result<Option<DeviceCodeRow>, StoreError> {
        let mut rows = self.rows();
        let at = rows.device_codes.iter().position(|r| {
            r.id == id && r.status == "approved" && r.client_id.as_deref() == Some(client_id)
        });
        Ok(at.map(|i| rows.device_codes.remove(i)))
    }

    async fn update_rate_limit<T: Send + 'static>(
        &self,
        key: &str,
        _new_id: &str,
        rule: impl FnOnce(Option<RateLimitBucket>) -> (Option<RateLimitBucket>, T) + Send + 'static,
    ) -> Result<T, StoreError> {
        let mut rows = self.rows();
        let (bucket, verdict) = rule(rows.rate_limits.get(key).copied());
        match bucket {
            Some(b) => rows.rate_limits.insert(key.to_owned(), b),
            None => rows.rate_limits.remove(key),
        };
        Ok(verdict)
    }

    async fn record_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.rows().audit.push(entry.clone());
        Ok(())
    }

    async fn delete_audit_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut rows = self.rows();
        let n = rows.audit.len();
        rows.audit.retain(|e| e.created_at >= before);
        Ok((n - rows.audit.len()) as u64)
    }

    async fn list_audit(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<AuditRow>, StoreError> {
        Ok(self
            .rows()
            .audit
            .iter()
            .filter(|e| e.created_at >= since)
            .take(limit as usize)
            .map(|e| AuditRow {
                id: e.id.clone(),
                created_at: e.created_at,
                action: e.action.to_owned(),
                actor_id: e.actor_id.clone(),
                target_user_id: e.target_user_id.clone(),
                ip_address: e.ip_address.clone(),
                outcome: e.outcome.clone(),
                payload: e.payload.clone(),
            })
            .collect())
    }
}
