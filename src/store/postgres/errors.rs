//! What a failed statement means to the domain: an outage, a taken email, or another
//! error, told by SQLSTATE and by the error's causes, never by its text. The texts kept
//! leave out the server's DETAIL, which can quote row values.

use std::error::Error;

use tokio_postgres::error::SqlState;

use crate::better_auth::ports::{Outage, StoreError};

/// Classifies an error without its DETAIL (which could quote row values).
pub(super) fn db_error(e: tokio_postgres::Error) -> StoreError {
    let classified = match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            let text = format!("{code}: {}", db.message());
            match outage_of(code) {
                Some(outage) => StoreError::outage(outage, text),
                None => StoreError::other(text),
            }
        }
        // No server error: the connection failed or closed (I/O, TLS, timeout)...
        None if e.is_closed() || io_failure(&e) => StoreError::unavailable(error_chain(&e)),
        // ...or a value did not convert, which is our bug, not an outage.
        None => StoreError::other(error_chain(&e)),
    };
    classified.caused_by(e)
}

/// An insert's error: a unique violation of a constraint on the email (by its name, as
/// the schema's generator made it) is a taken email.
pub(super) fn insert_error(e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        let on_email = e
            .as_db_error()
            .and_then(|d| d.constraint())
            .is_none_or(|c| c.contains("email"));
        if on_email {
            return StoreError::EmailTaken;
        }
    }
    db_error(e)
}

/// The outage a SQLSTATE means, if it is one.
pub(super) fn outage_of(code: &str) -> Option<Outage> {
    match code {
        // invalid_password; invalid_authorization_specification (no such role, pg_hba).
        "28P01" | "28000" => Some(Outage::Credentials),
        "3D000" => Some(Outage::UnknownDatabase),
        "42501" => Some(Outage::PermissionDenied),
        // 08: connection exception; 57P0x: shutdown / cannot connect now; 53300: too many connections.
        c if c.starts_with("08") || c.starts_with("57P") || c == "53300" => {
            Some(Outage::Unreachable)
        }
        _ => None,
    }
}

/// The connection is gone (closed, or its backend was terminated), not the query wrong.
pub(super) fn connection_lost(e: &tokio_postgres::Error) -> bool {
    match e.as_db_error() {
        Some(db) => *db.code() == SqlState::ADMIN_SHUTDOWN,
        None => e.is_closed() || io_failure(e),
    }
}

/// Whether an I/O error (the socket, TLS, a timeout) is among the causes: the
/// connection failed, as opposed to a value that did not convert (our bug).
fn io_failure(e: &tokio_postgres::Error) -> bool {
    causes(e).any(|c| c.is::<std::io::Error>())
}

/// What `e` came from, nearest first (not `e` itself).
pub(super) fn causes(e: &dyn Error) -> impl Iterator<Item = &(dyn Error + 'static)> {
    std::iter::successors(e.source(), |&c| c.source())
}

/// The error with its causes ("error performing TLS handshake: invalid peer certificate: ...").
pub(super) fn error_chain(e: &dyn Error) -> String {
    let mut text = e.to_string();
    for cause in causes(e) {
        text.push_str(": ");
        text.push_str(&cause.to_string());
    }
    text
}
