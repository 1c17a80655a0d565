//! Better Auth's `user` and `session` rows, read the same way from either backend: their
//! column lists, and a [`User`] or [`Session`] from a result row through [`Columns`], which
//! each driver implements in its own types.

use chrono::{DateTime, Utc};

use crate::better_auth::ports::{ManagedUser, Session, User, UserQuery, UserSort};

/// The `user` columns in [`user`]'s order (`u` is the table's alias). Ids are read as text,
/// whether the schema has text or UUID ids. `{USER_ROLE}` is the admin plugin's `role`
/// column when the schema has it, else null ([`role_sql`]).
pub(super) const USER_COLUMNS: &str = r#"cast(u."id" as text), u."name", u."email", u."emailVerified", u."image", u."createdAt", u."updatedAt", {USER_ROLE}"#;
/// How many columns [`USER_COLUMNS`] names.
pub(super) const USER_WIDTH: usize = 8;

/// The admin plugin's `role` in SQL: `{USER_ROLE}` in [`USER_COLUMNS`], and the column and
/// value a user insert adds (`{ROLE_COLUMN}`, `{ROLE_VALUE}`): new users get its default
/// role, "user", as the plugin gives them.
pub(super) fn role_sql(sql: &str, role_column: bool) -> String {
    let (read, column, value) = if role_column {
        (r#"u."role""#, r#", "role""#, ", 'user'")
    } else {
        ("null", "", "")
    };
    sql.replace("{USER_ROLE}", read)
        .replace("{ROLE_COLUMN}", column)
        .replace("{ROLE_VALUE}", value)
}

/// The role a new user gets: the admin plugin's default when the column exists.
pub(super) fn new_user_role(role_column: bool) -> Option<String> {
    role_column.then(|| "user".to_owned())
}
/// [`USER_COLUMNS`] and the admin plugin's ban columns, in [`managed_user`]'s order.
pub(super) const MANAGED_USER_COLUMNS: &str = r#"cast(u."id" as text), u."name", u."email", u."emailVerified", u."image", u."createdAt", u."updatedAt", {USER_ROLE}, u."banned", u."banReason", u."banExpires""#;

/// The `session` columns in [`session`]'s order (`s` is the table's alias).
pub(super) const SESSION_COLUMNS: &str = r#"cast(s."id" as text), s."token", cast(s."userId" as text), s."expiresAt", s."createdAt", s."updatedAt""#;
/// How many columns [`SESSION_COLUMNS`] names.
pub(super) const SESSION_WIDTH: usize = 6;

/// A result row of either driver, read by column index in Better Auth's types.
pub(super) trait Columns {
    type Error;
    fn text(&self, i: usize) -> Result<String, Self::Error>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, Self::Error>;
    fn flag(&self, i: usize) -> Result<bool, Self::Error>;
    fn time(&self, i: usize) -> Result<DateTime<Utc>, Self::Error>;
    fn opt_flag(&self, i: usize) -> Result<Option<bool>, Self::Error>;
    fn opt_time(&self, i: usize) -> Result<Option<DateTime<Utc>>, Self::Error>;
}

/// The user whose [`USER_COLUMNS`] start at column `at`.
pub(super) fn user<R: Columns>(r: &R, at: usize) -> Result<User, R::Error> {
    Ok(User {
        id: r.text(at)?,
        name: r.text(at + 1)?,
        email: r.text(at + 2)?,
        email_verified: r.flag(at + 3)?,
        image: r.opt_text(at + 4)?,
        created_at: r.time(at + 5)?,
        updated_at: r.time(at + 6)?,
        role: r.opt_text(at + 7)?,
    })
}

/// list_users' ORDER BY over `u` (both dialects): the asked column, then `id`; by default
/// `createdAt`, then `id`.
pub(super) fn users_order(query: &UserQuery) -> String {
    let Some((sort, descending)) = query.sort else {
        return r#"u."createdAt", u."id""#.to_owned();
    };
    let column = match sort {
        UserSort::Id => r#"u."id""#,
        UserSort::Name => r#"u."name""#,
        UserSort::Email => r#"u."email""#,
        UserSort::CreatedAt => r#"u."createdAt""#,
        UserSort::UpdatedAt => r#"u."updatedAt""#,
    };
    let direction = if descending { "desc" } else { "asc" };
    format!(r#"{column} {direction}, u."id""#)
}

/// The user whose [`MANAGED_USER_COLUMNS`] start at column `at`.
pub(super) fn managed_user<R: Columns>(r: &R, at: usize) -> Result<ManagedUser, R::Error> {
    Ok(ManagedUser {
        user: user(r, at)?,
        banned: r.opt_flag(at + USER_WIDTH)?.unwrap_or(false),
        ban_reason: r.opt_text(at + USER_WIDTH + 1)?,
        ban_expires: r.opt_time(at + USER_WIDTH + 2)?,
    })
}

/// The session whose [`SESSION_COLUMNS`] start at column `at`.
pub(super) fn session<R: Columns>(r: &R, at: usize) -> Result<Session, R::Error> {
    Ok(Session {
        id: r.text(at)?,
        token: r.text(at + 1)?,
        user_id: r.text(at + 2)?,
        expires_at: r.time(at + 3)?,
        created_at: r.time(at + 4)?,
        updated_at: r.time(at + 5)?,
    })
}

/// The session insert of both dialects. Its parameters, in order: id, expiresAt, token,
/// createdAt (also updatedAt), ipAddress, userAgent, userId. `{ID}` is the id column's
/// type and `{NEW_ID}` the new id (`$1`, or the database's own with UUID ids); it returns
/// the id as stored.
pub(super) const INSERT_SESSION: &str = r#"insert into "session" ("id", "expiresAt", "token", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId")
    values ({NEW_ID}, $2, $3, $4, $4, $5, $6, cast($7 as {ID})) returning cast("id" as text)"#;
