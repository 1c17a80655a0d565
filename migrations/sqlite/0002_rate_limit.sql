-- Better Auth's `rateLimit` table (rateLimit.storage: "database").
create table if not exists "rateLimit" ("id" text not null primary key, "key" text not null unique,
  "count" integer not null, "lastRequest" bigint not null);
