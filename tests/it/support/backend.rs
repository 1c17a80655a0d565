//! The backends a test runs on, and the one macro that runs a test on each of them.

use super::pg::TestDb;
use super::server::ServerEnv;
use super::tempdir;

/// A backend a server runs on, with a side door for the test to read and change rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// PostgreSQL with TLS and SCRAM, as Neon.
    Postgres,
    /// The same, with DATABASE_PREPARED_STATEMENTS on.
    PostgresPrepared,
}

impl Backend {
    pub fn is_postgres(self) -> bool {
        self != Self::Sqlite
    }
}

pub struct Setup {
    pub env: ServerEnv,
    pub db: Option<TestDb>,
    _home: tempfile::TempDir,
}

impl Setup {
    pub fn new(backend: Backend) -> Self {
        let home = tempdir();
        let (env, db) = match backend {
            Backend::Sqlite => (ServerEnv::sqlite(home.path()), None),
            Backend::Postgres => {
                let db = TestDb::create();
                (ServerEnv::postgres(home.path(), &db.neon_url()), Some(db))
            }
            Backend::PostgresPrepared => {
                let db = TestDb::create();
                let env = ServerEnv::postgres(home.path(), &db.neon_url())
                    .with("DATABASE_PREPARED_STATEMENTS", "true");
                (env, Some(db))
            }
        };
        Self {
            env,
            db,
            _home: home,
        }
    }

    /// Runs SQL directly against the backing database; returns the first column of the
    /// first row as text.
    pub fn sql(&self, sql: &str) -> String {
        match &self.db {
            Some(db) => db.sql(sql),
            None => {
                let path = self.env.home.join("auth.db");
                let conn = rusqlite::Connection::open(path).unwrap();
                let mut stmt = conn.prepare(sql).unwrap();
                let mut rows = stmt.query([]).unwrap();
                match rows.next().unwrap() {
                    Some(row) => match row.get_ref(0).unwrap() {
                        rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                        rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into(),
                        rusqlite::types::ValueRef::Null => String::new(),
                        other => format!("{other:?}"),
                    },
                    None => String::new(),
                }
            }
        }
    }
}

/// Runs each named `async fn(Backend)` as a test of its own on each listed backend:
/// `on_backends!([sqlite => Sqlite, postgres => Postgres] test_a, test_b)`.
macro_rules! on_backends {
    ([] $($name:ident),* $(,)?) => {};
    ([$module:ident => $backend:ident $(, $more:ident => $more_backend:ident)*] $($name:ident),* $(,)?) => {
        mod $module {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                super::$name($crate::support::backend::Backend::$backend).await
            })*
        }
        $crate::support::backend::on_backends!([$($more => $more_backend),*] $($name),*);
    };
}
pub(crate) use on_backends;

/// Runs each named `async fn(Backend)` on SQLite and on PostgreSQL.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $crate::support::backend::on_backends!([sqlite => Sqlite, postgres => Postgres] $($name),*);
    };
}
pub(crate) use on_both_backends;
