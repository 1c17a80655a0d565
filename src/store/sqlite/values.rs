//! SQLite's values in Better Auth's types: booleans as 0/1 (or text), dates as ISO-8601
//! text as Better Auth writes them (or epoch milliseconds, or CURRENT_TIMESTAMP's form).

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use rusqlite::types::ValueRef;

use crate::store::rows::Columns;

/// JavaScript's `Date.toISOString()` form, as Better Auth writes dates to SQLite.
pub(super) fn iso(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;

    fn text(&self, i: usize) -> rusqlite::Result<String> {
        self.get(i)
    }

    fn opt_text(&self, i: usize) -> rusqlite::Result<Option<String>> {
        self.get(i)
    }

    fn flag(&self, i: usize) -> rusqlite::Result<bool> {
        bool_at(self, i)
    }

    fn time(&self, i: usize) -> rusqlite::Result<DateTime<Utc>> {
        date_at(self, i)
    }

    fn opt_flag(&self, i: usize) -> rusqlite::Result<Option<bool>> {
        match self.get_ref(i)? {
            ValueRef::Null => Ok(None),
            _ => bool_at(self, i).map(Some),
        }
    }

    fn opt_time(&self, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
        optional_date_at(self, Some(i))
    }
}

/// A nullable date column, if the schema has it (`i`).
pub(super) fn optional_date_at(
    r: &rusqlite::Row<'_>,
    i: Option<usize>,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match i {
        Some(i) if r.get_ref(i)? != ValueRef::Null => date_at(r, i).map(Some),
        _ => Ok(None),
    }
}

pub(super) fn bool_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<bool> {
    Ok(match r.get_ref(i)? {
        ValueRef::Integer(n) => n != 0,
        ValueRef::Text(t) => t == b"true" || t == b"1",
        _ => false,
    })
}

/// Dates written by Better Auth (ISO text or epoch milliseconds) or by SQLite's
/// CURRENT_TIMESTAMP (`YYYY-MM-DD HH:MM:SS`, UTC).
fn date_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<DateTime<Utc>> {
    let bad = || rusqlite::Error::InvalidColumnType(i, "date".into(), rusqlite::types::Type::Text);
    match r.get_ref(i)? {
        ValueRef::Integer(ms) => Utc.timestamp_millis_opt(ms).single().ok_or_else(bad),
        ValueRef::Real(ms) => Utc.timestamp_millis_opt(ms as i64).single().ok_or_else(bad),
        ValueRef::Text(t) => {
            let s = std::str::from_utf8(t).map_err(|_| bad())?;
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .or_else(|_| {
                    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").map(|n| n.and_utc())
                })
                .map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}
