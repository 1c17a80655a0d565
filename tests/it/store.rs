//! The store's contract, one suite run on PostgreSQL (TLS + SCRAM), on PostgreSQL with
//! prepared statements (DATABASE_PREPARED_STATEMENTS), and on SQLite.

use better_auth_mcp::better_auth::ports::{
    AuthStore, JwkLookup, NewSession, NewUser, StoreError, User,
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
