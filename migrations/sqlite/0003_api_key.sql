-- The api-key plugin's `apikey` table (@better-auth/api-key 1.7), in SQLite's dialect as
-- its Kysely migration creates it, so the api_keys toolset works on the embedded store.
create table if not exists "apikey" ("id" text not null primary key, "configId" text not null,
  "name" text, "start" text, "referenceId" text not null, "prefix" text, "key" text not null,
  "refillInterval" integer, "refillAmount" integer, "lastRefillAt" date, "enabled" integer,
  "rateLimitEnabled" integer, "rateLimitTimeWindow" integer, "rateLimitMax" integer,
  "requestCount" integer, "remaining" integer, "lastRequest" date, "expiresAt" date,
  "createdAt" date not null, "updatedAt" date not null, "permissions" text, "metadata" text);
create index if not exists "apikey_configId_idx" on "apikey" ("configId");
create index if not exists "apikey_referenceId_idx" on "apikey" ("referenceId");
create index if not exists "apikey_key_idx" on "apikey" ("key");
