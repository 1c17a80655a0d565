-- Better Auth 1.7's core schema in SQLite's dialect (as its Kysely SQLite migration
-- creates it: booleans as integer 0/1, dates as ISO-8601 text). Existing tables are kept.
create table if not exists "user" ("id" text not null primary key, "name" text not null, "email" text not null unique,
  "emailVerified" integer not null, "image" text,
  "createdAt" date default CURRENT_TIMESTAMP not null, "updatedAt" date default CURRENT_TIMESTAMP not null);
create table if not exists "session" ("id" text not null primary key, "expiresAt" date not null, "token" text not null unique,
  "createdAt" date default CURRENT_TIMESTAMP not null, "updatedAt" date not null,
  "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade);
create table if not exists "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null,
  "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text,
  "idToken" text, "accessTokenExpiresAt" date, "refreshTokenExpiresAt" date, "scope" text,
  "password" text, "createdAt" date default CURRENT_TIMESTAMP not null, "updatedAt" date not null);
create table if not exists "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null,
  "expiresAt" date not null, "createdAt" date default CURRENT_TIMESTAMP not null,
  "updatedAt" date default CURRENT_TIMESTAMP not null);
create index if not exists "session_userId_idx" on "session" ("userId");
create index if not exists "account_userId_idx" on "account" ("userId");
create index if not exists "verification_identifier_idx" on "verification" ("identifier");
