//! How a Better Auth schema names its tables and columns in PostgreSQL: Better Auth's own
//! migration (Kysely; Prisma alike) writes camelCase singular names (`"emailVerified"` in
//! `"user"`), Drizzle's schema generator snake_case (`email_verified`) and, with
//! `usePlural`, plural tables (`users`, `two_factors`); Neon Auth keeps its tables in the
//! `neon_auth` schema. SQL here is written with Better Auth's names, double-quoted, and
//! [`Naming::render`] turns it into the deployment's, every table schema-qualified (no
//! `search_path`: a transaction pooler must not depend on session state).

use std::fmt::Write as _;

/// The models whose tables SQL names: Better Auth's and the plugins' ones this server
/// reads, and its own tables (never made plural, nor recased).
const MODELS: &[&str] = &[
    "user",
    "session",
    "account",
    "verification",
    "rateLimit",
    "twoFactor",
    "jwks",
    "apikey",
    "organization",
    "member",
    "organizationRole",
    "deviceCode",
];
const OWN_TABLES: &[&str] = &["better_auth_mcp_migrations", "better_auth_mcp_audit_log"];

/// Column casing of a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Casing {
    /// `emailVerified`: Better Auth's own migration, Prisma.
    Camel,
    /// `email_verified`: Drizzle's schema generator.
    Snake,
}

/// Table names of a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableNames {
    /// `user`, `session`: Better Auth's default.
    Singular,
    /// `users`, `sessions`: `usePlural: true`.
    Plural,
}

/// What the configuration says of the schema; what it leaves out is detected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaSettings {
    /// The PostgreSQL schema holding the tables (DATABASE_SCHEMA).
    pub schema: String,
    pub casing: Option<Casing>,
    pub table_names: Option<TableNames>,
}

impl Default for SchemaSettings {
    fn default() -> Self {
        Self {
            schema: "public".into(),
            casing: None,
            table_names: None,
        }
    }
}

/// A deployment's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    pub schema: String,
    pub casing: Casing,
    pub table_names: TableNames,
}

impl Default for Naming {
    fn default() -> Self {
        Self {
            schema: "public".into(),
            casing: Casing::Camel,
            table_names: TableNames::Singular,
        }
    }
}

/// Drizzle's generator's conversion: `emailVerified` → `email_verified`, `userID` →
/// `user_id` (runs of capitals are one word).
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

impl Naming {
    /// The table of a model, unqualified: `user`, `users`, `two_factor`, `two_factors`.
    pub fn table(&self, model: &str) -> String {
        if OWN_TABLES.contains(&model) {
            return model.to_owned();
        }
        let name = match self.table_names {
            TableNames::Singular => model.to_owned(),
            TableNames::Plural => format!("{model}s"),
        };
        self.column(&name)
    }

    /// A column (or any other name) in this casing.
    pub fn column(&self, field: &str) -> String {
        match self.casing {
            Casing::Camel => field.to_owned(),
            Casing::Snake => snake_case(field),
        }
    }

    /// `"schema"."table"`.
    pub fn qualified(&self, model: &str) -> String {
        format!("{}.{}", quote(&self.schema), quote(&self.table(model)))
    }

    /// SQL written with Better Auth's names, in this deployment's: each double-quoted name
    /// of a model becomes its schema-qualified table, each other double-quoted name a
    /// column in this casing.
    pub fn render(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 32);
        let mut rest = template;
        while let Some(open) = rest.find('"') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let Some(close) = after.find('"') else {
                out.push_str(&rest[open..]);
                return out;
            };
            let name = &after[..close];
            if OWN_TABLES.contains(&name)
                || (MODELS.contains(&name)
                    && (!COLUMN_NAMED_MODELS.contains(&name) || names_a_table(&out)))
            {
                out.push_str(&self.qualified(name));
            } else {
                let _ = write!(out, "{}", quote(&self.column(name)));
            }
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// Models with a column of their own name (`deviceCode.deviceCode`): there the name is the
/// table only where SQL names a table ([`names_a_table`]).
const COLUMN_NAMED_MODELS: &[&str] = &["deviceCode"];

/// Whether a quoted name after `before` names a table: after `from`, `into`, `update`,
/// `join` or `table`, or inside `to_regclass('...')`.
fn names_a_table(before: &str) -> bool {
    if before.ends_with('\'') {
        return true;
    }
    let word = before
        .trim_end()
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(word.as_str(), "from" | "into" | "update" | "join" | "table")
}

/// A PostgreSQL quoted identifier.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The columns without which the server cannot work, by model (Better Auth's names).
pub const REQUIRED: &[(&str, &[&str])] = &[
    (
        "user",
        &[
            "id",
            "name",
            "email",
            "emailVerified",
            "image",
            "createdAt",
            "updatedAt",
        ],
    ),
    (
        "session",
        &[
            "id",
            "expiresAt",
            "token",
            "createdAt",
            "updatedAt",
            "ipAddress",
            "userAgent",
            "userId",
        ],
    ),
    (
        "account",
        &[
            "id",
            "accountId",
            "providerId",
            "userId",
            "password",
            "createdAt",
            "updatedAt",
        ],
    ),
    ("rateLimit", &["id", "key", "count", "lastRequest"]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_converted_as_drizzles_generator_does() {
        assert_eq!(snake_case("emailVerified"), "email_verified");
        assert_eq!(snake_case("userId"), "user_id");
        assert_eq!(snake_case("twoFactors"), "two_factors");
        assert_eq!(
            snake_case("accessTokenExpiresAt"),
            "access_token_expires_at"
        );
        assert_eq!(snake_case("userID"), "user_id");
        assert_eq!(snake_case("APIKey"), "api_key");
        assert_eq!(snake_case("id"), "id");
    }

    #[test]
    fn a_column_named_as_its_table_stays_a_column() {
        let sql = r#"insert into "deviceCode" ("id", "deviceCode") values ($1, $2); select "deviceCode" from "deviceCode" where "deviceCode" = $1; update "deviceCode" set "status" = 'x'; select to_regclass('"deviceCode"')"#;
        let snake = Naming {
            casing: Casing::Snake,
            ..Naming::default()
        };
        assert_eq!(
            snake.render(sql),
            r#"insert into "public"."device_code" ("id", "device_code") values ($1, $2); select "device_code" from "public"."device_code" where "device_code" = $1; update "public"."device_code" set "status" = 'x'; select to_regclass('"public"."device_code"')"#
        );
    }

    #[test]
    fn sql_is_rendered_in_the_deployments_names() {
        let sql = r#"select u."emailVerified", to_regclass('"jwks"') from "user" u join "rateLimit" r on r."key" = u."id""#;
        assert_eq!(
            Naming::default().render(sql),
            sql.replace(r#""user""#, r#""public"."user""#)
                .replace(r#""rateLimit""#, r#""public"."rateLimit""#)
                .replace(r#"'"jwks"'"#, r#"'"public"."jwks"'"#)
        );
        let drizzle = Naming {
            schema: "neon_auth".into(),
            casing: Casing::Snake,
            table_names: TableNames::Plural,
        };
        assert_eq!(
            drizzle.render(sql),
            r#"select u."email_verified", to_regclass('"neon_auth"."jwkss"') from "neon_auth"."users" u join "neon_auth"."rate_limits" r on r."key" = u."id""#
        );
        assert_eq!(
            drizzle.render(r#"insert into "better_auth_mcp_migrations" ("appliedAt")"#),
            r#"insert into "neon_auth"."better_auth_mcp_migrations" ("applied_at")"#
        );
        // This server's own tables keep their names; their columns follow the casing.
        assert_eq!(
            drizzle.render(r#"delete from "better_auth_mcp_audit_log" where "createdAt" < $1"#),
            r#"delete from "neon_auth"."better_auth_mcp_audit_log" where "created_at" < $1"#
        );
    }
}
