//! Uses of known API keys written together: while one batch of guarded updates runs,
//! the uses that arrive wait and are written by the next, in one statement and one
//! commit (a group commit of our own). Every row keeps its own guard (its version as
//! known here), so each use is still a compare-and-swap of its key's row: a use whose
//! row changed since is answered "lost" and decided again, locked, by its caller. A
//! batch of one is the plain guarded `UPDATE`.
//!
//! Why: a use of a key is a durable write, as the plugin makes it, and a commit waits
//! for the WAL's flush. One commit per use bounds many agents' keys to the flushes a
//! second; one commit per batch lets them share each flush.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

use super::PgStore;
use super::api_keys::Owner;
use super::errors::db_error;
use crate::better_auth::ports::{ApiKeyUsage, StoreError};

/// The most uses one statement writes.
const MAX_BATCH: usize = 256;

/// Every row's counters become its `u` values where the row is still the version seen.
/// The rows are locked first, skipping any another transaction holds: one row locked
/// elsewhere (a contended key, an operator's open transaction) must not hold up every
/// key's uses; its use is answered "not written" and waits for the lock alone, on its
/// caller's locked path. Waiting for no lock, batches cannot deadlock.
const SWAP_USAGES: &str = r#"with u as (
      select * from unnest($1::text[], $2::int8[], $3::timestamptz[], $4::int8[],
        $5::timestamptz[], $6::timestamptz[], $7::text[], $8::text[])
        as u(id, remaining, refilled, requests, requested, updated, owner, seen)
    ), l as (
      select k."id" from "apikey" k join u on k."id" = u.id::{ID}
        and k.xmin = cast(u.seen as xid)
      for no key update of k skip locked
    )
    update "apikey" k set "remaining" = u.remaining, "lastRefillAt" = u.refilled,
      "requestCount" = u.requests, "lastRequest" = u.requested,
      "updatedAt" = coalesce(u.updated, k."updatedAt")
    from u, l where k."id" = l."id" and k."id" = u.id::{ID}
    returning cast(k."id" as text), cast(k.xmin as text),
      exists(select 1 from "user" o where o."id" = u.owner::{ID})"#;

/// A use waiting for its batch.
struct Queued {
    id: String,
    next: ApiKeyUsage,
    updated_at: Option<DateTime<Utc>>,
    /// Whether the caller asks if the key's owner is a user, and who that would be.
    owner: Owner,
    seen: String,
    /// The row's new version, None when the row was no longer the version seen.
    done: oneshot::Sender<Result<Option<Written>, StoreError>>,
}

/// A use written: the row's new version and, when asked, whether its owner is a user.
type Written = (String, Option<bool>);

#[derive(Default)]
struct Queue {
    /// A task is writing batches (and will take what is queued).
    writing: bool,
    queued: Vec<Queued>,
}

/// The uses waiting for the next batch, and whether a batch is being written.
#[derive(Default)]
pub(super) struct KeyUses(Mutex<Queue>);

impl KeyUses {
    /// Writes `next` (and `updatedAt`, when given) to the key `id` if its row is still the
    /// version `seen`, with the uses of other keys waiting at the same time. Answers the
    /// row's new version and whether `owner` is a user, or None when it was not written:
    /// the row changed, or another use of the same key is already waiting (the caller
    /// decides it again, locked). Uses of one key take turns
    /// ([`KnownKeys`](super::api_keys::KnownKeys)), so the latter is left for a use whose
    /// turn timed out or whose predecessor was cancelled.
    pub(super) async fn swap(
        &self,
        store: &PgStore,
        id: &str,
        next: &ApiKeyUsage,
        updated_at: Option<DateTime<Utc>>,
        owner: Owner,
        seen: &str,
    ) -> Result<Option<Written>, StoreError> {
        let (done, answer) = oneshot::channel();
        let start = {
            let mut queue = self.lock();
            if queue.queued.iter().any(|q| q.id == id) {
                return Ok(None);
            }
            queue.queued.push(Queued {
                id: id.to_owned(),
                next: next.clone(),
                updated_at,
                owner,
                seen: seen.to_owned(),
                done,
            });
            !std::mem::replace(&mut queue.writing, true)
        };
        if start {
            tokio::spawn(write_batches(store.clone()));
        }
        answer
            .await
            .map_err(|_| StoreError::other("an API key use's batch ended unanswered"))?
    }

    /// The queue (a panic while it was held leaves nothing half-done in it).
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Should the writer panic: the uses queued are answered (with an error, their senders
/// dropped) and `writing` set back, so that later uses start another writer.
struct Writer<'a>(&'a KeyUses);

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut queue = self.0.lock();
            queue.queued.clear();
            queue.writing = false;
        }
    }
}

/// Writes what is queued, batch after batch, until nothing is.
async fn write_batches(store: PgStore) {
    let uses = store.key_uses.clone();
    let _writer = Writer(&uses);
    loop {
        let batch: Vec<Queued> = {
            let mut queue = uses.lock();
            // A use whose caller is gone (its request cancelled) is not written.
            queue.queued.retain(|q| !q.done.is_closed());
            if queue.queued.is_empty() {
                queue.writing = false;
                return;
            }
            let n = queue.queued.len().min(MAX_BATCH);
            queue.queued.drain(..n).collect()
        };
        match write(&store, &batch).await {
            Ok(written) => answer(batch, &written),
            // Nothing was written: one use at a time, so that a row the statement failed
            // on answers its own error (or goes to the locked path) and the others are
            // written.
            Err(Failure::RolledBack) if batch.len() > 1 => {
                if store.prepared_statements {
                    static SAID: std::sync::Once = std::sync::Once::new();
                    SAID.call_once(|| {
                        tracing::warn!(
                            "a batch of API key uses was refused and is written one use at a \
                             time; behind a transaction pooler, DATABASE_PREPARED_STATEMENTS \
                             must be off"
                        );
                    });
                }
                for q in batch {
                    match write(&store, std::slice::from_ref(&q)).await {
                        Ok(written) => answer(vec![q], &written),
                        Err(failure) => {
                            let _ = q.done.send(failure.answer());
                        }
                    }
                }
            }
            Err(failure) => {
                for q in batch {
                    let _ = q.done.send(failure.answer());
                }
            }
        }
    }
}

/// Each use's new version, or None where its row was not written.
fn answer(batch: Vec<Queued>, written: &HashMap<String, Written>) {
    for q in batch {
        let version = written.get(&q.id).cloned();
        let _ = q.done.send(Ok(version));
    }
}

/// Why a batch wrote nothing.
enum Failure {
    /// The server refused the statement (a value out of range, a trigger, a timeout): it
    /// was rolled back whole. A use alone is answered "not written", to be decided again,
    /// locked, by its caller.
    RolledBack,
    /// Whether it committed is unknown (the connection was lost), or it failed: every use
    /// gets the error, and none is repeated.
    Failed(StoreError),
}

impl Failure {
    fn answer(&self) -> Result<Option<Written>, StoreError> {
        match self {
            Self::RolledBack => Ok(None),
            Self::Failed(e) => Err(match e {
                StoreError::Unavailable { outage, detail, .. } => {
                    StoreError::outage(*outage, detail.clone())
                }
                StoreError::Other { detail, .. } => StoreError::other(detail.clone()),
                other => StoreError::other(other.to_string()),
            }),
        }
    }
}

/// One batch's statement: the new version of each row written, by id.
async fn write(store: &PgStore, batch: &[Queued]) -> Result<HashMap<String, Written>, Failure> {
    let client = store.client().await.map_err(Failure::Failed)?;
    // An error the server answers for one statement of its own transaction means it was
    // not committed, unless it is the connection's end (whether the commit happened is
    // then unknown).
    let failed = |e: tokio_postgres::Error| match e.code().map(SqlState::code) {
        Some(c) if !c.starts_with("08") && !c.starts_with("57P") => Failure::RolledBack,
        _ => Failure::Failed(db_error(e)),
    };
    if let [one] = batch {
        let seen = Some(one.seen.as_str());
        let written = super::api_keys::write_usage(
            store,
            &**client,
            &one.id,
            &one.next,
            &one.updated_at,
            &one.owner,
            seen,
        )
        .await
        .map_err(failed)?;
        return Ok(written.map(|w| (one.id.clone(), w)).into_iter().collect());
    }
    fn column<T>(batch: &[Queued], f: impl Fn(&Queued) -> T) -> Vec<T> {
        batch.iter().map(f).collect()
    }
    let ids: Vec<&str> = batch.iter().map(|q| q.id.as_str()).collect();
    let remaining: Vec<Option<i64>> = column(batch, |q| q.next.remaining);
    let refilled: Vec<Option<DateTime<Utc>>> = column(batch, |q| q.next.last_refill_at);
    let requests: Vec<Option<i64>> = column(batch, |q| q.next.request_count);
    let requested: Vec<Option<DateTime<Utc>>> = column(batch, |q| q.next.last_request);
    let updated: Vec<Option<DateTime<Utc>>> = column(batch, |q| q.updated_at);
    let owners: Vec<Option<&str>> = batch.iter().map(|q| q.owner.id.as_deref()).collect();
    let seen: Vec<&str> = batch.iter().map(|q| q.seen.as_str()).collect();
    let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 8] = [
        (&ids, Type::TEXT_ARRAY),
        (&remaining, Type::INT8_ARRAY),
        (&refilled, Type::TIMESTAMPTZ_ARRAY),
        (&requests, Type::INT8_ARRAY),
        (&requested, Type::TIMESTAMPTZ_ARRAY),
        (&updated, Type::TIMESTAMPTZ_ARRAY),
        (&owners, Type::TEXT_ARRAY),
        (&seen, Type::TEXT_ARRAY),
    ];
    let sql = store.sql(SWAP_USAGES);
    let rows = if store.prepared_statements {
        super::prepared_query(&client, &sql, &params).await
    } else {
        client.query_typed(&sql, &params).await
    }
    .map_err(failed)?;
    let mut rows: HashMap<String, (String, bool)> = rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?))))
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(|e| Failure::Failed(db_error(e)))?;
    // The owner's answer only for the uses that asked.
    let written: HashMap<String, Written> = batch
        .iter()
        .filter_map(|q| {
            let (version, owner_is_user) = rows.remove(&q.id)?;
            Some((
                q.id.clone(),
                (version, q.owner.asked.then_some(owner_is_user)),
            ))
        })
        .collect();
    tracing::debug!(
        uses = batch.len(),
        written = written.len(),
        "API key uses written in one statement"
    );
    Ok(written)
}
