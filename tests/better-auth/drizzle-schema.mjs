// The Drizzle schema that Better Auth's generator (`npx @better-auth/cli generate` with
// drizzleAdapter(db, { provider: "pg", usePlural: true }) and the admin plugin) writes for
// Better Auth 1.7: snake_case columns, plural tables, `timestamp` without time zone. DDL is
// what drizzle-kit would create from it (drizzle-kit is not installed for the tests).
import { boolean, pgTable, text, timestamp } from "drizzle-orm/pg-core";

export const users = pgTable("users", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  email: text("email").notNull().unique(),
  emailVerified: boolean("email_verified").default(false).notNull(),
  image: text("image"),
  createdAt: timestamp("created_at").defaultNow().notNull(),
  updatedAt: timestamp("updated_at").defaultNow().$onUpdate(() => new Date()).notNull(),
  role: text("role"),
  banned: boolean("banned").default(false),
  banReason: text("ban_reason"),
  banExpires: timestamp("ban_expires"),
});

export const sessions = pgTable("sessions", {
  id: text("id").primaryKey(),
  expiresAt: timestamp("expires_at").notNull(),
  token: text("token").notNull().unique(),
  createdAt: timestamp("created_at").defaultNow().notNull(),
  updatedAt: timestamp("updated_at").$onUpdate(() => new Date()).notNull(),
  ipAddress: text("ip_address"),
  userAgent: text("user_agent"),
  userId: text("user_id").notNull().references(() => users.id, { onDelete: "cascade" }),
  impersonatedBy: text("impersonated_by"),
});

export const accounts = pgTable("accounts", {
  id: text("id").primaryKey(),
  accountId: text("account_id").notNull(),
  providerId: text("provider_id").notNull(),
  userId: text("user_id").notNull().references(() => users.id, { onDelete: "cascade" }),
  accessToken: text("access_token"),
  refreshToken: text("refresh_token"),
  idToken: text("id_token"),
  accessTokenExpiresAt: timestamp("access_token_expires_at"),
  refreshTokenExpiresAt: timestamp("refresh_token_expires_at"),
  scope: text("scope"),
  password: text("password"),
  createdAt: timestamp("created_at").defaultNow().notNull(),
  updatedAt: timestamp("updated_at").$onUpdate(() => new Date()).notNull(),
});

export const verifications = pgTable("verifications", {
  id: text("id").primaryKey(),
  identifier: text("identifier").notNull(),
  value: text("value").notNull(),
  expiresAt: timestamp("expires_at").notNull(),
  createdAt: timestamp("created_at").defaultNow().notNull(),
  updatedAt: timestamp("updated_at").defaultNow().$onUpdate(() => new Date()).notNull(),
});

export const DDL = `
create table "users" ("id" text primary key, "name" text not null, "email" text not null unique,
  "email_verified" boolean default false not null, "image" text,
  "created_at" timestamp default now() not null, "updated_at" timestamp default now() not null,
  "role" text, "banned" boolean default false, "ban_reason" text, "ban_expires" timestamp);
create table "sessions" ("id" text primary key, "expires_at" timestamp not null, "token" text not null unique,
  "created_at" timestamp default now() not null, "updated_at" timestamp not null, "ip_address" text,
  "user_agent" text, "user_id" text not null references "users" ("id") on delete cascade,
  "impersonated_by" text);
create table "accounts" ("id" text primary key, "account_id" text not null, "provider_id" text not null,
  "user_id" text not null references "users" ("id") on delete cascade, "access_token" text,
  "refresh_token" text, "id_token" text, "access_token_expires_at" timestamp,
  "refresh_token_expires_at" timestamp, "scope" text, "password" text,
  "created_at" timestamp default now() not null, "updated_at" timestamp not null);
create table "verifications" ("id" text primary key, "identifier" text not null, "value" text not null,
  "expires_at" timestamp not null, "created_at" timestamp default now() not null,
  "updated_at" timestamp default now() not null);
`;
