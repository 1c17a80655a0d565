//! The deployment's schema, found at start inside the migration's locked transaction:
//! its names (schema, casing, singular or plural tables), whether ids are UUIDs the
//! database makes, which optional columns exist, and that the columns the server needs
//! are there.

use std::collections::HashMap;

use tokio_postgres::types::Type;

use super::errors::db_error;
use super::pool::PooledClient;
use crate::better_auth::ports::StoreError;
use crate::store::migrate::{self, Migration, MigrationTx};
use crate::store::naming::{self, Casing, Naming, SchemaSettings, TableNames};

const MIGRATIONS: &[Migration] = &migrate::migrations!("postgres", [
    1 => "better_auth_core" in "0001_better_auth_core.sql",
    2 => "rate_limit" in "0002_rate_limit.sql",
]);

/// Serialises migrations across server processes; a transaction-scoped lock, so it also
/// works through a transaction pooler.
const MIGRATION_LOCK_KEY: i64 = 0x6261_6d63_705f_6d67; // "bamcp_mg"

/// What the migration found of the deployment's schema.
pub(super) struct Found {
    pub naming: Naming,
    /// `generateId: "uuid"`: `id` columns are uuid, made by the database.
    pub uuid_ids: bool,
    /// The admin plugin's `role` column on `user`.
    pub role_column: bool,
    /// All the admin plugin's columns on `user`: `role`, `banned`, `banReason`, `banExpires`.
    pub admin_columns: bool,
    /// Better Auth 1.7.0–1.7.2's `account.issuer` column.
    pub issuer_column: bool,
}

/// Applies the migrations the database lacks and reads what its schema is, in one
/// transaction holding the migration lock; returns the migrations applied.
pub(super) async fn migrate(
    client: &mut PooledClient,
    settings: &SchemaSettings,
) -> Result<(Vec<&'static str>, Found), StoreError> {
    let tx = locked_transaction(client, MIGRATION_LOCK_KEY).await?;
    let naming = detect_naming(&tx, settings).await?;
    if naming.schema != "public" {
        tx.batch_execute(&format!(
            "create schema if not exists {}",
            naming::quote(&naming.schema)
        ))
        .await
        .map_err(db_error)?;
    }
    let done = migrate::run(&mut PgMigration(&tx, &naming), MIGRATIONS).await?;
    let tables: Vec<String> = naming::REQUIRED
        .iter()
        .map(|(model, _)| naming.table(model))
        .collect();
    let columns = table_columns(&tx, &naming.schema, &tables).await?;
    require_columns(&naming, &columns)?;
    tx.commit().await.map_err(db_error)?;
    let user_table = naming.table("user");
    let uuid_ids = columns
        .get(&(user_table.clone(), "id".to_owned()))
        .is_some_and(|t| t == "uuid");
    if uuid_ids {
        tracing::info!("the schema uses UUID ids: the database makes them");
    }
    let role_column = columns.contains_key(&(user_table.clone(), "role".to_owned()));
    let admin_columns = ["role", "banned", "banReason", "banExpires"]
        .iter()
        .all(|field| columns.contains_key(&(user_table.clone(), naming.column(field))));
    let issuer_column = columns.contains_key(&(naming.table("account"), "issuer".to_owned()));
    tracing::info!(
        schema = %naming.schema,
        casing = ?naming.casing,
        tables = ?naming.table_names,
        role = role_column,
        admin = admin_columns,
        account_issuer = issuer_column,
        "database names"
    );
    let found = Found {
        naming,
        uuid_ids,
        role_column,
        admin_columns,
        issuer_column,
    };
    Ok((done, found))
}

/// A transaction for DDL holding the advisory lock `key` (transaction-scoped, so it also
/// works through a transaction pooler): servers starting at once take turns.
pub(super) async fn locked_transaction(
    client: &mut PooledClient,
    key: i64,
) -> Result<deadpool_postgres::Transaction<'_>, StoreError> {
    let tx = client.transaction().await.map_err(db_error)?;
    tx.execute_typed("select pg_advisory_xact_lock($1)", &[(&key, Type::INT8)])
        .await
        .map_err(db_error)?;
    // `create ... if not exists` of a table that exists sends a NOTICE, which
    // tokio-postgres logs at info on every start; this transaction wants warnings only.
    tx.batch_execute("set local client_min_messages = warning")
        .await
        .map_err(db_error)?;
    Ok(tx)
}

/// Every column of [`naming::REQUIRED`] is in `columns`, or the error names the first
/// one missing and the settings that rename them.
fn require_columns(
    naming: &Naming,
    columns: &HashMap<(String, String), String>,
) -> Result<(), StoreError> {
    for (model, fields) in naming::REQUIRED {
        let table = naming.table(model);
        for field in *fields {
            let column = naming.column(field);
            if !columns.contains_key(&(table.clone(), column.clone())) {
                return Err(StoreError::Schema(format!(
                    "the table {} has no column {} (Better Auth's {model}.{field}); set \
                     DATABASE_SCHEMA, DATABASE_SCHEMA_CASING or DATABASE_SCHEMA_TABLES if the \
                     schema is named otherwise",
                    naming.qualified(model),
                    naming::quote(&column),
                )));
            }
        }
    }
    Ok(())
}

/// The columns (and their types) of `tables` in `schema`, by (table, column). From
/// pg_catalog: information_schema costs tens of milliseconds at every start.
async fn table_columns(
    tx: &deadpool_postgres::Transaction<'_>,
    schema: &str,
    tables: &[String],
) -> Result<HashMap<(String, String), String>, StoreError> {
    let rows = tx
        .query_typed(
            r#"select c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod)
               from pg_catalog.pg_class c
               join pg_catalog.pg_namespace n on n.oid = c.relnamespace
               join pg_catalog.pg_attribute a on a.attrelid = c.oid
               where n.nspname = $1 and c.relname = any($2) and c.relkind in ('r', 'p')
                 and a.attnum > 0 and not a.attisdropped"#,
            &[(&schema, Type::TEXT), (&tables, Type::TEXT_ARRAY)],
        )
        .await
        .map_err(db_error)?;
    Ok(rows
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect())
}

/// The schema's names: as configured, else as its user table shows them (`user` or
/// `users`; `emailVerified` or `email_verified`), else Better Auth's defaults (a database
/// with no user table yet gets Better Auth's own schema).
async fn detect_naming(
    tx: &deadpool_postgres::Transaction<'_>,
    settings: &SchemaSettings,
) -> Result<Naming, StoreError> {
    let candidates = ["user".to_owned(), "users".to_owned()];
    let found = table_columns(tx, &settings.schema, &candidates).await?;
    let has_table = |t: &str| found.keys().any(|(table, _)| table == t);
    let table_names = settings
        .table_names
        .unwrap_or(if has_table("users") && !has_table("user") {
            TableNames::Plural
        } else {
            TableNames::Singular
        });
    let user_table = match table_names {
        TableNames::Singular => "user",
        TableNames::Plural => "users",
    };
    let casing = settings.casing.unwrap_or(
        if found.contains_key(&(user_table.to_owned(), "email_verified".to_owned())) {
            Casing::Snake
        } else {
            Casing::Camel
        },
    );
    Ok(Naming {
        schema: settings.schema.clone(),
        casing,
        table_names,
    })
}

/// The runner's steps on a PostgreSQL transaction.
struct PgMigration<'a>(&'a deadpool_postgres::Transaction<'a>, &'a Naming);

impl MigrationTx for PgMigration<'_> {
    async fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.0
            .batch_execute(&self.1.render(sql))
            .await
            .map_err(db_error)
    }

    async fn applied_versions(&mut self) -> Result<Vec<i64>, StoreError> {
        let rows = self
            .0
            .query_typed(
                &self
                    .1
                    .render(r#"select "version" from "better_auth_mcp_migrations""#),
                &[],
            )
            .await
            .map_err(db_error)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn record(&mut self, m: &Migration) -> Result<(), StoreError> {
        self.0
            .execute_typed(
                &self.1.render(
                    r#"insert into "better_auth_mcp_migrations" ("version", "name") values ($1, $2)"#,
                ),
                &[(&m.version, Type::INT8), (&m.name, Type::TEXT)],
            )
            .await
            .map(|_| ())
            .map_err(db_error)
    }
}
