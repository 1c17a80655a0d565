//! The store's contract, one suite run on PostgreSQL (TLS + SCRAM), on PostgreSQL with
//! prepared statements (DATABASE_PREPARED_STATEMENTS), and on SQLite.

use better_auth_mcp::better_auth::ports::{
    ApiKeyRow, ApiKeyUsage, ApiKeyWrite, AuthStore, JwkLookup, NewApiKey, NewSession, NewUser,
    StoreError, User,
};
use better_auth_mcp::store::{DatabaseUrl, PoolSettings, Store};
use chrono::{SubsecRound, Utc};

use crate::support::backend::{Backend, on_backends};
use crate::support::pg::TestDb;
use crate::support::tempdir;

struct Opened {
    store: Store,
    _db: Option<TestDb>,
    _dir: tempfile::TempDir,
}

async fn open(backend: Backend) -> Opened {
    let dir = tempdir();
    let (url, db) = if backend.is_postgres() {
        let db = TestDb::create();
        (db.neon_url(), Some(db))
    } else {
        (
            format!("sqlite://{}", dir.path().join("s.db").display()),
            None,
        )
    };
    let settings = PoolSettings {
        prepared_statements: backend == Backend::PostgresPrepared,
        ..PoolSettings::default()
    };
    let store = Store::open(&DatabaseUrl::parse(&url).unwrap(), &settings)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    Opened {
        store,
        _db: db,
        _dir: dir,
    }
}

fn new_user(email: &str) -> NewUser {
    let now = Utc::now().trunc_subsecs(3);
    NewUser {
        user: User {
            id: better_auth_mcp::better_auth::generate_id(),
            name: "Name".into(),
            email: email.into(),
            email_verified: false,
            image: None,
            created_at: now,
            updated_at: now,
            role: None,
        },
        account_id: better_auth_mcp::better_auth::generate_id(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
    }
}

fn new_session() -> NewSession {
    let now = Utc::now().trunc_subsecs(3);
    NewSession {
        id: better_auth_mcp::better_auth::generate_id(),
        token: better_auth_mcp::better_auth::random_alphanumeric(32),
        expires_at: now + chrono::Duration::days(7),
        created_at: now,
        ip_address: String::new(),
        user_agent: String::new(),
    }
}

on_backends!(
    [sqlite => Sqlite, postgres => Postgres, postgres_prepared_statements => PostgresPrepared]
    a_created_user_is_found_by_email_and_id_with_its_password,
    a_taken_email_is_reported_as_such_and_writes_nothing,
    unknown_users_are_none,
    migrating_twice_changes_nothing,
    sessions_are_found_extended_and_deleted,
    a_keys_use_says_whether_its_owner_is_a_user_on_every_path,
);

async fn a_created_user_is_found_by_email_and_id_with_its_password(backend: Backend) {
    let opened = open(backend).await;
    let store = &opened.store;
    let new = new_user("found@example.com");
    let (created, session) = store
        .create_user_with_password(&new, Some(&new_session()), None)
        .await
        .unwrap();
    assert_eq!(created, new.user);
    assert_eq!(
        session.expect("a session was asked for").user_id,
        new.user.id
    );
    let found = store
        .find_user_by_email("found@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.user, new.user, "timestamps and fields round-trip");
    assert_eq!(
        found.password_hash.as_deref(),
        Some(new.password_hash.as_str())
    );
    let by_id = store.find_user_by_id(&new.user.id).await.unwrap().unwrap();
    assert_eq!(by_id, new.user);
}

async fn a_taken_email_is_reported_as_such_and_writes_nothing(backend: Backend) {
    let opened = open(backend).await;
    let store = &opened.store;
    store
        .create_user_with_password(&new_user("twice@example.com"), Some(&new_session()), None)
        .await
        .unwrap();
    let second = new_user("twice@example.com");
    let err = store
        .create_user_with_password(&second, Some(&new_session()), None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::EmailTaken), "{err:?}");
    assert!(
        store
            .find_user_by_id(&second.user.id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn unknown_users_are_none(backend: Backend) {
    let opened = open(backend).await;
    let store = &opened.store;
    assert!(
        store
            .find_user_by_email("no@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.find_user_by_id("nope").await.unwrap().is_none());
}

async fn migrating_twice_changes_nothing(backend: Backend) {
    let opened = open(backend).await;
    let store = &opened.store;
    // A user awaiting email verification is written without a session.
    let (_, session) = store
        .create_user_with_password(&new_user("kept@example.com"), None, None)
        .await
        .unwrap();
    assert!(session.is_none());
    assert!(store.migrate().await.unwrap().is_empty());
    assert!(
        store
            .find_user_by_email("kept@example.com")
            .await
            .unwrap()
            .is_some()
    );
}

async fn sessions_are_found_extended_and_deleted(backend: Backend) {
    let opened = open(backend).await;
    let store = &opened.store;
    let new = new_user("sessions@example.com");
    let (user, first) = store
        .create_user_with_password(&new, Some(&new_session()), None)
        .await
        .unwrap();
    let first = first.expect("a session was asked for");
    let second = store
        .create_session(&user.id, &new_session(), None)
        .await
        .unwrap();
    let (found, owner) = store.find_session(&second.token).await.unwrap().unwrap();
    assert_eq!((found.clone(), owner), (second.clone(), user.clone()));
    let (u, s) = store
        .find_user_with_session(&user.id, &first.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((u, s), (user.clone(), Some(first.clone())));
    let later = found.expires_at + chrono::Duration::days(1);
    store
        .extend_session(&second.id, later, Utc::now().trunc_subsecs(3), None)
        .await
        .unwrap();
    assert_eq!(
        store
            .find_session(&second.token)
            .await
            .unwrap()
            .unwrap()
            .0
            .expires_at,
        later
    );
    assert!(store.delete_session(&first.token, None).await.unwrap());
    assert!(!store.delete_session(&first.token, None).await.unwrap());
    let (_, gone) = store
        .find_user_with_session(&user.id, &first.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(gone, None);
    assert!(store.find_session(&first.token).await.unwrap().is_none());
    // No jwks table here (no JWT plugin): no key source at all.
    assert_eq!(
        store.find_jwk("no-such-kid").await.unwrap(),
        JwkLookup::NoKeySource
    );
}

/// The api-key plugin's table as its migration makes it on PostgreSQL (camelCase,
/// `timestamptz`); SQLite has it from the server's own migration.
const PG_APIKEY: &str = r#"create table "apikey" ("id" text primary key, "configId" text not null,
  "name" text, "start" text, "referenceId" text not null, "prefix" text, "key" text not null,
  "refillInterval" integer, "refillAmount" integer, "lastRefillAt" timestamptz,
  "enabled" boolean, "rateLimitEnabled" boolean, "rateLimitTimeWindow" integer,
  "rateLimitMax" integer, "requestCount" integer, "remaining" integer,
  "lastRequest" timestamptz, "expiresAt" timestamptz, "createdAt" timestamptz not null,
  "updatedAt" timestamptz not null, "permissions" text, "metadata" text)"#;

fn new_key(reference_id: &str, stored_key: &str) -> NewApiKey {
    let now = Utc::now().trunc_subsecs(3);
    NewApiKey {
        row: ApiKeyRow {
            id: better_auth_mcp::better_auth::generate_id(),
            config_id: "default".into(),
            name: None,
            start: None,
            reference_id: reference_id.into(),
            prefix: None,
            refill_interval: None,
            refill_amount: None,
            enabled: Some(true),
            rate_limit_enabled: Some(false),
            rate_limit_time_window: None,
            rate_limit_max: None,
            usage: ApiKeyUsage {
                remaining: None,
                last_refill_at: None,
                request_count: Some(0),
                last_request: None,
            },
            expires_at: None,
            created_at: now,
            updated_at: now,
            permissions: None,
            metadata: None,
        },
        stored_key: stored_key.into(),
    }
}

/// One use of `stored_key` counting a request, asking whether its owner is a user when
/// `check_owner`: that answer, and the count the rule saw.
async fn count_use(store: &Store, stored_key: &str, check_owner: bool) -> (Option<bool>, i64) {
    let used = store
        .use_api_key(stored_key, check_owner, |row| {
            let row = row.expect("the key exists");
            let seen = row.usage.request_count.unwrap_or(0);
            let next = ApiKeyUsage {
                request_count: Some(seen + 1),
                last_request: Some(Utc::now().trunc_subsecs(3)),
                ..row.usage.clone()
            };
            (
                ApiKeyWrite::Usage {
                    next,
                    updated_at: None,
                },
                seen,
            )
        })
        .await
        .unwrap();
    (used.owner_is_user, used.decision)
}

/// `KeyUse::owner_is_user` comes from the use itself: Some(true) for a user's key,
/// Some(false) for a key whose `referenceId` names no user (an organization's, a removed
/// user's), None when the caller does not ask; on a first use, a known key's use, uses of
/// many keys at once (PostgreSQL writes them in one statement) and a use whose row changed
/// behind this process (PostgreSQL's locked path).
async fn a_keys_use_says_whether_its_owner_is_a_user_on_every_path(backend: Backend) {
    let opened = open(backend).await;
    let store = &opened.store;
    if let Some(db) = &opened._db {
        db.sql(PG_APIKEY);
    }
    let new = new_user("owner@example.com");
    store
        .create_user_with_password(&new, None, None)
        .await
        .unwrap();
    let user_id = new.user.id.clone();
    let stored = |i: usize| format!("stored-key-{i}");
    // Even keys are the user's, odd ones an organization's (no user of that id).
    let owner = |i: usize| {
        if i.is_multiple_of(2) {
            user_id.clone()
        } else {
            format!("org-{i}")
        }
    };
    for i in 0..12 {
        store
            .create_api_key(&new_key(&owner(i), &stored(i)), None)
            .await
            .unwrap();
    }
    // First uses (read, then written), asked and not.
    for i in 0..12 {
        assert_eq!(
            count_use(store, &stored(i), true).await,
            (Some(i.is_multiple_of(2)), 0)
        );
        assert_eq!(count_use(store, &stored(i), false).await, (None, 1));
    }
    // Known keys, all at once, asked for on every other key.
    // On PostgreSQL, until one statement wrote two keys' uses (rows of one transaction
    // share their xmin), at most 5 rounds.
    let keys: Vec<String> = (0..12).map(stored).collect();
    let mut rounds = 0;
    let mut together = !backend.is_postgres();
    while rounds < 3 || (!together && rounds < 5) {
        let round = rounds;
        rounds += 1;
        let uses = keys
            .iter()
            .enumerate()
            .map(|(i, key)| count_use(store, key, i % 4 < 2));
        let answers = futures::future::join_all(uses).await;
        for (i, (owner_is_user, seen)) in answers.into_iter().enumerate() {
            let asked = i % 4 < 2;
            assert_eq!(
                owner_is_user,
                asked.then_some(i.is_multiple_of(2)),
                "key {i}"
            );
            assert_eq!(seen, 2 + round, "key {i}: one count a use");
        }
        if let Some(db) = &opened._db {
            together |=
                db.sql(r#"select count(*) - count(distinct xmin::text) from "apikey""#) != "0";
        }
    }
    assert!(
        together,
        "in {rounds} rounds, no statement wrote two keys' uses"
    );
    // Each row changed behind this process: its remembered version is stale, and the use
    // is decided again on the row as it is.
    if let Some(db) = &opened._db {
        db.sql(r#"update "apikey" set "requestCount" = "requestCount" + 10"#);
    }
    let bump = if backend.is_postgres() { 10 } else { 0 };
    for i in 0..12 {
        assert_eq!(
            count_use(store, &stored(i), true).await,
            (Some(i.is_multiple_of(2)), 2 + rounds + bump),
            "key {i}"
        );
    }
    // The user removed: their keys' uses now say so.
    let remove = format!(
        r#"delete from "account" where "userId" = '{user_id}'; delete from "user" where "id" = '{user_id}'"#
    );
    match &opened._db {
        Some(db) => {
            db.sql(&remove);
        }
        None => rusqlite::Connection::open(opened._dir.path().join("s.db"))
            .unwrap()
            .execute_batch(&remove)
            .unwrap(),
    }
    assert_eq!(count_use(store, &stored(0), true).await.0, Some(false));
}
