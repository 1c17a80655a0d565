//! The migration runner, written once for both dialects: the bookkeeping table, which
//! embedded migrations a database lacks, applying and recording them. Each backend gives
//! the steps ([`MigrationTx`]) inside its own locked transaction; the SQL of the
//! migrations themselves lives in `migrations/<dialect>/`.

use crate::better_auth::ports::StoreError;

/// The table that records applied migrations (the types read the same in both dialects).
const BOOKKEEPING: &str = r#"create table if not exists "better_auth_mcp_migrations" ("version" bigint not null primary key,
    "name" text not null, "appliedAt" timestamptz not null default CURRENT_TIMESTAMP)"#;

/// What a backend does for the runner, inside one transaction that holds its lock.
pub(super) trait MigrationTx {
    /// Runs SQL that may hold several statements.
    async fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
    /// The versions in `better_auth_mcp_migrations`.
    async fn applied_versions(&mut self) -> Result<Vec<i64>, StoreError>;
    /// Adds `migration` to `better_auth_mcp_migrations`.
    async fn record(&mut self, migration: &Migration) -> Result<(), StoreError>;
}

/// Applies the migrations of `all` that the database lacks, in order; returns their names.
pub(super) async fn run(
    tx: &mut impl MigrationTx,
    all: &'static [Migration],
) -> Result<Vec<&'static str>, StoreError> {
    tx.batch(BOOKKEEPING).await?;
    let applied = tx.applied_versions().await?;
    let mut done = Vec::new();
    for migration in all.iter().filter(|m| !applied.contains(&m.version)) {
        tx.batch(migration.sql).await?;
        tx.record(migration).await?;
        done.push(migration.name);
    }
    Ok(done)
}

/// Runs a future whose steps never wait (SQLite's, made on a connection this thread
/// holds) to its end, on the calling thread.
pub(super) fn run_now<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("a synchronous migration step waited"),
    }
}

/// The embedded migrations of one dialect, from `migrations/<dialect>/<file>`, in order.
macro_rules! migrations {
    ($dialect:literal, [$($version:literal => $name:literal in $file:literal),* $(,)?]) => {
        [$(
            Migration {
                version: $version,
                name: $name,
                sql: include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/migrations/",
                    $dialect,
                    "/",
                    $file
                )),
            },
        )*]
    };
}
pub(super) use migrations;

/// One embedded migration.
pub(super) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}
