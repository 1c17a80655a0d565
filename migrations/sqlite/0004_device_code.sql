-- The deviceAuthorization plugin's `deviceCode` table (Better Auth 1.7), in SQLite's dialect
-- as its Kysely migration creates it, so the browser_sign_in toolset works on the embedded
-- store.
create table if not exists "deviceCode" ("id" text not null primary key,
  "deviceCode" text not null unique, "userCode" text not null unique, "userId" text,
  "expiresAt" date not null, "status" text not null, "lastPolledAt" date,
  "pollingInterval" integer, "clientId" text, "scope" text);
