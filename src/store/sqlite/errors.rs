//! What a failed SQLite call means to the domain, told by its result code (primary or
//! extended), never by its message.

use rusqlite::ErrorCode;
use rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE;

use crate::better_auth::ports::StoreError;

/// The user insert's error: a UNIQUE constraint is the email's, the user table's only
/// one (the id, its primary key, fails with SQLITE_CONSTRAINT_PRIMARYKEY instead).
pub(super) fn user_insert_error(e: rusqlite::Error) -> StoreError {
    if e.sqlite_extended_error_code() == Some(SQLITE_CONSTRAINT_UNIQUE) {
        return StoreError::EmailTaken;
    }
    sql_error(e)
}

/// A busy, locked or unopenable database is an outage (it may pass); anything else is not.
pub(super) fn sql_error(e: rusqlite::Error) -> StoreError {
    let outage = matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::CannotOpen)
    );
    if outage {
        StoreError::unavailable(e.to_string()).caused_by(e)
    } else {
        StoreError::other(e.to_string()).caused_by(e)
    }
}
