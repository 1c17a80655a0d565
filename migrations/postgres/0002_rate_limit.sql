-- Better Auth's `rateLimit` table (rateLimit.storage: "database"), kept as Better Auth
-- creates it so the limits can be shared with a Better Auth app.
create table if not exists "rateLimit" ("id" text not null primary key, "key" text not null unique,
  "count" integer not null, "lastRequest" bigint not null);
