//! The api-key plugin's `apikey` rows: found by their `key` (the hash), their counters
//! replaced by one UPDATE guarded by the row's version (compare-and-swap), created, listed
//! and deleted.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, NaiveDateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;

use super::PgStore;
use super::audit::Alongside;
use super::errors::db_error;
use crate::better_auth::ports::{
    ApiKeyRow, ApiKeyUsage, ApiKeyWrite, AuditEntry, KeyUse, NewApiKey, StoreError,
};

const PLUGIN: &str = "api-key";

/// The row's columns in [`api_key`]'s order (`k` is the table's alias).
const COLUMN_COUNT: usize = 21;
const COLUMNS: &str = r#"cast(k."id" as text), k."configId", k."name", k."start",
    cast(k."referenceId" as text), k."prefix", k."refillInterval"::int8, k."refillAmount"::int8,
    k."enabled", k."rateLimitEnabled", k."rateLimitTimeWindow"::int8, k."rateLimitMax"::int8,
    k."remaining"::int8, k."lastRefillAt", k."requestCount"::int8, k."lastRequest",
    k."expiresAt", k."createdAt", k."updatedAt", k."permissions", k."metadata""#;

/// A nullable `timestamptz` (Better Auth's migration) or `timestamp` (Drizzle's) column.
fn opt_time(r: &Row, i: usize) -> Result<Option<DateTime<Utc>>, tokio_postgres::Error> {
    if r.columns().get(i).map(|c| c.type_()) == Some(&Type::TIMESTAMP) {
        return Ok(r
            .try_get::<_, Option<NaiveDateTime>>(i)?
            .map(|t| t.and_utc()));
    }
    r.try_get(i)
}

fn time(r: &Row, i: usize) -> Result<DateTime<Utc>, tokio_postgres::Error> {
    if r.columns().get(i).map(|c| c.type_()) == Some(&Type::TIMESTAMP) {
        return Ok(r.try_get::<_, NaiveDateTime>(i)?.and_utc());
    }
    r.try_get(i)
}

fn api_key(r: &Row) -> Result<ApiKeyRow, tokio_postgres::Error> {
    Ok(ApiKeyRow {
        id: r.try_get(0)?,
        config_id: r.try_get(1)?,
        name: r.try_get(2)?,
        start: r.try_get(3)?,
        reference_id: r.try_get(4)?,
        prefix: r.try_get(5)?,
        refill_interval: r.try_get(6)?,
        refill_amount: r.try_get(7)?,
        enabled: r.try_get(8)?,
        rate_limit_enabled: r.try_get(9)?,
        rate_limit_time_window: r.try_get(10)?,
        rate_limit_max: r.try_get(11)?,
        usage: ApiKeyUsage {
            remaining: r.try_get(12)?,
            last_refill_at: opt_time(r, 13)?,
            request_count: r.try_get(14)?,
            last_request: opt_time(r, 15)?,
        },
        expires_at: opt_time(r, 16)?,
        created_at: time(r, 17)?,
        updated_at: time(r, 18)?,
        permissions: r.try_get(19)?,
        metadata: r.try_get(20)?,
    })
}

/// The deployment has the plugin's table, or the error that says it has not.
async fn require_table(store: &PgStore) -> Result<(), StoreError> {
    if store
        .has_plugin_table(&store.plugins.api_key, "apikey")
        .await?
    {
        Ok(())
    } else {
        Err(StoreError::PluginNotEnabled(PLUGIN))
    }
}

pub(super) async fn find(
    store: &PgStore,
    stored_key: &str,
) -> Result<Option<ApiKeyRow>, StoreError> {
    require_table(store).await?;
    let sql = format!(r#"select {COLUMNS} from "apikey" k where k."key" = $1 limit 1"#);
    let row = store.read_opt(&sql, &[(&stored_key, Type::TEXT)]).await?;
    row.as_ref().map(api_key).transpose().map_err(db_error)
}

pub(super) async fn find_by_id(store: &PgStore, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
    require_table(store).await?;
    if !store.possible_id(id).await? {
        return Ok(None);
    }
    let sql = format!(r#"select {COLUMNS} from "apikey" k where k."id" = $1::{{ID}}"#);
    let row = store.read_opt(&sql, &[(&id, Type::TEXT)]).await?;
    row.as_ref().map(api_key).transpose().map_err(db_error)
}

/// Keys as this process last read or wrote them, each with its row version (PostgreSQL's
/// `xmin`, which every write of the row changes, whoever makes it). A use of a key known
/// here is decided from it and written in one statement guarded by that version: if the
/// app, another process or an operator changed the row since, the guard fails and the use
/// is decided again from the row as it is. A stale entry costs a statement, never a wrong
/// answer. Bounded: emptied when full.
///
/// Uses of a key known here take turns in this process ([`KnownKeys::turn`]): each is
/// decided from the row as the one before left it, so that two uses at once do not both
/// decide from the same version and one of them lose its guard (and pay for a locked
/// transaction). A turn is held only while the use's batch is written, which skips rows
/// locked elsewhere, never for a read or a locked transaction.
pub(super) struct KnownKeys {
    known: Mutex<HashMap<String, Known>>,
    /// Turns by a hash of the key: two keys sharing one wait for each other's batch.
    turns: Box<[tokio::sync::Mutex<()>]>,
    hasher: std::hash::RandomState,
}

impl Default for KnownKeys {
    fn default() -> Self {
        Self {
            known: Mutex::default(),
            turns: (0..KEY_TURNS)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            hasher: std::hash::RandomState::new(),
        }
    }
}

#[derive(Clone)]
struct Known {
    row: ApiKeyRow,
    version: String,
}

const KNOWN_KEYS: usize = 4096;
const KEY_TURNS: usize = 1024;

impl KnownKeys {
    /// The key's turn: held for a known key's use, until the next use of the key may
    /// decide from what it wrote. Not had within `wait` (the pool's wait for a
    /// connection; the turns are only a saving), the use goes on without it.
    async fn turn(
        &self,
        stored_key: &str,
        wait: std::time::Duration,
    ) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        use std::hash::BuildHasher;
        let i = self.hasher.hash_one(stored_key) as usize % self.turns.len();
        tokio::time::timeout(wait, self.turns[i].lock()).await.ok()
    }

    fn get(&self, stored_key: &str) -> Option<Known> {
        self.known.lock().ok()?.get(stored_key).cloned()
    }

    fn remember(&self, stored_key: &str, row: ApiKeyRow, version: String) {
        if let Ok(mut known) = self.known.lock() {
            if known.len() >= KNOWN_KEYS && !known.contains_key(stored_key) {
                known.clear();
            }
            known.insert(stored_key.to_owned(), Known { row, version });
        }
    }

    fn forget(&self, stored_key: &str) {
        if let Ok(mut known) = self.known.lock() {
            known.remove(stored_key);
        }
    }
}

/// A key's counters become `next` (and `updatedAt`, when given), if its row is still the
/// version `$8` (when guarded); answers the row's new version and whether its owner `$7`
/// (its `referenceId` as an id, or null when it cannot be one) is a user.
macro_rules! set_usage {
    () => {
        r#"update "apikey" set "remaining" = $2::int8, "lastRefillAt" = $3,
      "requestCount" = $4::int8, "lastRequest" = $5, "updatedAt" = coalesce($6, "updatedAt")
    where "id" = $1::{ID}"#
    };
}
macro_rules! swap_guard {
    () => {
        r#" and xmin = cast($8::text as xid)"#
    };
}
macro_rules! returning_owner {
    () => {
        r#" returning cast(xmin as text),
      exists(select 1 from "user" o where o."id" = $7::{ID})"#
    };
}
/// Where the owner is not asked for (`$7` unused): no subquery to plan.
macro_rules! returning_version {
    () => {
        r#" returning cast(xmin as text), false"#
    };
}
/// The statements by (guarded, owner asked for).
const USAGE_WRITES: [[&str; 2]; 2] = [
    [
        concat!(set_usage!(), returning_version!()),
        concat!(set_usage!(), returning_owner!()),
    ],
    [
        concat!(set_usage!(), swap_guard!(), returning_version!()),
        concat!(set_usage!(), swap_guard!(), returning_owner!()),
    ],
];
const DELETE: &str = r#"delete from "apikey" where "id" = $1::{ID} returning 1"#;
/// The key's row and its version, to decide a use from (locked: to write it in the same
/// transaction, unguarded).
const FIND_FOR_USE: &str = r#"select {COLUMNS}, cast(k.xmin as text) from "apikey" k
    where k."key" = $1 limit 1"#;

/// What writing a use did.
enum Applied {
    /// Written; the row's new version and, when asked, whether its owner is a user, when
    /// counters were written (None: nothing to write, or the row deleted).
    Written(Option<(String, Option<bool>)>),
    /// The row was no longer the version seen: nothing written.
    Lost,
}

/// Whether a use asks if its key's owner is a user, and the key's `referenceId` as a
/// parameter for a user's id (null where it cannot be one, which names no user).
#[derive(Debug, Clone)]
pub(super) struct Owner {
    pub asked: bool,
    pub id: Option<String>,
}

/// The key's [`Owner`], when `check_owner` asks (with UUID ids, a `referenceId` that is
/// no UUID cannot be a user's).
async fn owner_param(
    store: &PgStore,
    row: &ApiKeyRow,
    check_owner: bool,
) -> Result<Owner, StoreError> {
    let id = (check_owner && store.possible_id(&row.reference_id).await?)
        .then(|| row.reference_id.clone());
    Ok(Owner {
        asked: check_owner,
        id,
    })
}

/// Writes `write` to the key `row` through `client`, guarded by the row's version `seen`
/// (None: the row is locked by this transaction, no guard needed); reads whether its
/// owner is a user when `check_owner` asks.
async fn apply(
    store: &PgStore,
    client: &impl tokio_postgres::GenericClient,
    row: &ApiKeyRow,
    write: &ApiKeyWrite,
    seen: Option<&str>,
    check_owner: bool,
) -> Result<Applied, StoreError> {
    match write {
        ApiKeyWrite::Nothing => Ok(Applied::Written(None)),
        ApiKeyWrite::Delete => {
            client
                .execute_typed(&store.sql(DELETE), &[(&row.id, Type::TEXT)])
                .await
                .map_err(db_error)?;
            Ok(Applied::Written(None))
        }
        ApiKeyWrite::Usage { next, updated_at } => {
            let owner = owner_param(store, row, check_owner).await?;
            let written = write_usage(store, client, &row.id, next, updated_at, &owner, seen)
                .await
                .map_err(db_error)?;
            Ok(match written {
                Some(written) => Applied::Written(Some(written)),
                None => Applied::Lost,
            })
        }
    }
}

/// The counters of the key `id` become `next` (and `updatedAt`, when given), guarded by
/// its version `seen` (None: unguarded, the row locked by this transaction). Answers the
/// row's new version and, when asked, whether `owner` is a user, or None when the guard
/// failed.
pub(super) async fn write_usage(
    store: &PgStore,
    client: &impl tokio_postgres::GenericClient,
    id: &str,
    next: &ApiKeyUsage,
    updated_at: &Option<DateTime<Utc>>,
    owner: &Owner,
    seen: Option<&str>,
) -> Result<Option<(String, Option<bool>)>, tokio_postgres::Error> {
    let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 8] = [
        (&id, Type::TEXT),
        (&next.remaining, Type::INT8),
        (&next.last_refill_at, Type::TIMESTAMPTZ),
        (&next.request_count, Type::INT8),
        (&next.last_request, Type::TIMESTAMPTZ),
        (updated_at, Type::TIMESTAMPTZ),
        (&owner.id, Type::TEXT),
        (&seen, Type::TEXT),
    ];
    let sql = USAGE_WRITES[usize::from(seen.is_some())][usize::from(owner.asked)];
    let params = if seen.is_some() {
        &params[..]
    } else {
        &params[..7]
    };
    match client.query_typed_opt(&store.sql(sql), params).await? {
        Some(r) => {
            let owner_is_user: bool = r.try_get(1)?;
            Ok(Some((r.try_get(0)?, owner.asked.then_some(owner_is_user))))
        }
        None => Ok(None),
    }
}

/// The row after `write` (a use written to it).
fn after(row: &ApiKeyRow, write: &ApiKeyWrite) -> Option<ApiKeyRow> {
    match write {
        ApiKeyWrite::Usage { next, updated_at } => Some(ApiKeyRow {
            usage: next.clone(),
            updated_at: updated_at.unwrap_or(row.updated_at),
            ..row.clone()
        }),
        ApiKeyWrite::Nothing => Some(row.clone()),
        ApiKeyWrite::Delete => None,
    }
}

/// The key's row with its version, read through `client` (`for update`: locked).
async fn read_for_use(
    store: &PgStore,
    client: &impl tokio_postgres::GenericClient,
    stored_key: &str,
    locked: bool,
) -> Result<Option<(ApiKeyRow, String)>, StoreError> {
    let lock = if locked { " for update" } else { "" };
    let sql = store.sql(&format!(
        "{}{lock}",
        FIND_FOR_USE.replace("{COLUMNS}", COLUMNS)
    ));
    let Some(r) = client
        .query_typed_opt(&sql, &[(&stored_key, Type::TEXT)])
        .await
        .map_err(db_error)?
    else {
        return Ok(None);
    };
    let version = r.try_get(COLUMN_COUNT).map_err(db_error)?;
    Ok(Some((api_key(&r).map_err(db_error)?, version)))
}

/// One use of a key. Known here ([`KnownKeys`]) and still as known: in the key's turn in
/// this process ([`KnownKeys::turn`]), one guarded `UPDATE … RETURNING`, written with the
/// uses of other keys waiting at the same time
/// ([`KeyUses`](super::key_uses::KeyUses)). Otherwise read, decide, and write guarded by
/// the version read. When another use changed the row in between, the key is read again
/// locked (`for update`) in a transaction, decided again and written: concurrent uses
/// then queue on the row instead of retrying against each other, and the app's own
/// guarded updates wait for the lock as well.
pub(super) async fn use_key<T>(
    store: &PgStore,
    stored_key: &str,
    check_owner: bool,
    mut rule: impl FnMut(Option<&ApiKeyRow>) -> (ApiKeyWrite, T),
) -> Result<KeyUse<T>, StoreError> {
    super::traced("update", async move {
        require_table(store).await?;
        let known = &store.known_keys;
        // Known here: a use is written from what is known (a refusal or a deletion is decided
        // again on the row as it is now), in the key's turn. A lost guard there means the
        // row is being written now: the use goes to the locked path at once, its turn given
        // up (the locked path may wait for a row lock; a turn must not).
        let turn = known.turn(stored_key, store.wait_timeout()).await;
        let contended = match known.get(stored_key) {
            Some(key) => {
                let (write, decision) = rule(Some(&key.row));
                match &write {
                    ApiKeyWrite::Usage { next, updated_at } => {
                        let owner = owner_param(store, &key.row, check_owner).await?;
                        let swapped = store
                            .key_uses
                            .swap(store, &key.row.id, next, *updated_at, owner, &key.version)
                            .await?;
                        match swapped {
                            Some((version, owner_is_user)) => {
                                if let Some(row) = after(&key.row, &write) {
                                    known.remember(stored_key, row, version);
                                }
                                return Ok(KeyUse {
                                    decision,
                                    owner_is_user,
                                });
                            }
                            None => true,
                        }
                    }
                    _ => false,
                }
            }
            None => false,
        };
        drop(turn);
        let client = store.client().await?;
        if !contended {
            let Some((row, version)) = read_for_use(store, &**client, stored_key, false).await?
            else {
                known.forget(stored_key);
                return Ok(KeyUse {
                    decision: rule(None).1,
                    owner_is_user: None,
                });
            };
            let (write, decision) = rule(Some(&row));
            if let Applied::Written(written) =
                apply(store, &**client, &row, &write, Some(&version), check_owner).await?
            {
                let (new_version, owner_is_user) = written.unzip();
                match after(&row, &write) {
                    Some(row) => known.remember(stored_key, row, new_version.unwrap_or(version)),
                    None => known.forget(stored_key),
                }
                return Ok(KeyUse {
                    decision,
                    owner_is_user: owner_is_user.flatten(),
                });
            }
        }
        tracing::trace!("an API key's row changed under a use; deciding again, locked");
        let mut client = client;
        let tx = client.transaction().await.map_err(db_error)?;
        let found = read_for_use(store, &*tx, stored_key, true).await?;
        let (write, decision) = rule(found.as_ref().map(|(row, _)| row));
        let (remembered, owner_is_user) = match &found {
            Some((row, version)) => match apply(store, &*tx, row, &write, None, check_owner).await?
            {
                Applied::Written(written) => {
                    let (new_version, owner_is_user) = written.unzip();
                    let remembered = after(row, &write)
                        .map(|row| (row, new_version.unwrap_or_else(|| version.clone())));
                    (remembered, owner_is_user.flatten())
                }
                Applied::Lost => return Err(StoreError::other("a locked API key was not written")),
            },
            None => (None, None),
        };
        tx.commit().await.map_err(db_error)?;
        match remembered {
            Some((row, version)) => known.remember(stored_key, row, version),
            None => known.forget(stored_key),
        }
        Ok(KeyUse {
            decision,
            owner_is_user,
        })
    })
    .await
}

pub(super) async fn delete(
    store: &PgStore,
    id: &str,
    entry: Option<&AuditEntry>,
) -> Result<bool, StoreError> {
    require_table(store).await?;
    if !store.possible_id(id).await? {
        return Ok(false);
    }
    let deleted = store
        .write(
            DELETE,
            vec![(&id, Type::TEXT)],
            entry.map(|e| (e, Alongside::IF_WRITTEN)),
        )
        .await?;
    Ok(!deleted.is_empty())
}

pub(super) async fn create(
    store: &PgStore,
    new: &NewApiKey,
    entry: Option<&AuditEntry>,
) -> Result<String, StoreError> {
    require_table(store).await?;
    let k = &new.row;
    // A write (never repeated on a lost connection, or a key could be stored twice); the
    // audit row's payload gets the id as stored.
    let how = Alongside {
        payload: "jsonb_build_object('keyId', (select * from w limit 1))",
        ..Alongside::ALWAYS
    };
    let row = store
        .write(
            r#"insert into "apikey" ("id", "configId", "name", "start", "referenceId", "prefix",
                 "key", "refillInterval", "refillAmount", "lastRefillAt", "enabled",
                 "rateLimitEnabled", "rateLimitTimeWindow", "rateLimitMax", "requestCount",
                 "remaining", "lastRequest", "expiresAt", "createdAt", "updatedAt",
                 "permissions", "metadata")
               values ({NEW_ID}, $2, $3, $4, $5, $6, $7, $8::int8, $9::int8, $10, $11, $12,
                 $13::int8, $14::int8, $15::int8, $16::int8, $17, $18, $19, $20, $21, $22)
               returning cast("id" as text)"#,
            vec![
                (&k.id, Type::TEXT),
                (&k.config_id, Type::TEXT),
                (&k.name, Type::TEXT),
                (&k.start, Type::TEXT),
                (&k.reference_id, Type::TEXT),
                (&k.prefix, Type::TEXT),
                (&new.stored_key, Type::TEXT),
                (&k.refill_interval, Type::INT8),
                (&k.refill_amount, Type::INT8),
                (&k.usage.last_refill_at, Type::TIMESTAMPTZ),
                (&k.enabled, Type::BOOL),
                (&k.rate_limit_enabled, Type::BOOL),
                (&k.rate_limit_time_window, Type::INT8),
                (&k.rate_limit_max, Type::INT8),
                (&k.usage.request_count, Type::INT8),
                (&k.usage.remaining, Type::INT8),
                (&k.usage.last_request, Type::TIMESTAMPTZ),
                (&k.expires_at, Type::TIMESTAMPTZ),
                (&k.created_at, Type::TIMESTAMPTZ),
                (&k.updated_at, Type::TIMESTAMPTZ),
                (&k.permissions, Type::TEXT),
                (&k.metadata, Type::TEXT),
            ],
            entry.map(|e| (e, how)),
        )
        .await?;
    let row = row
        .first()
        .ok_or_else(|| StoreError::other("api key insert returned no row"))?;
    row.try_get(0).map_err(db_error)
}

pub(super) async fn list(
    store: &PgStore,
    reference_id: &str,
) -> Result<Vec<ApiKeyRow>, StoreError> {
    require_table(store).await?;
    let sql = format!(
        r#"select {COLUMNS} from "apikey" k where k."referenceId" = $1
           order by k."createdAt" desc limit 100"#
    );
    let rows = store.read_all(&sql, &[(&reference_id, Type::TEXT)]).await?;
    rows.iter()
        .map(api_key)
        .collect::<Result<_, _>>()
        .map_err(db_error)
}
