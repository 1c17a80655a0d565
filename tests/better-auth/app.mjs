// A stock Better Auth 1.7 app (email+password, bearer and jwt plugins) over PostgreSQL,
// driven one command at a time by the interoperability tests:
//
//   node app.mjs <command> '<json arguments>'
//
// Every command prints one JSON object on stdout. Arguments always include `url` (a
// postgres URL), `ca` (the test CA's PEM path), `secret` and `baseURL`; `uuid: true`
// selects Better Auth's `generateId: "uuid"`; `admin: true` adds the admin plugin;
// `twoFactor: true` the two-factor plugin; `requireEmailVerification: true` sets
// emailAndPassword's option of that name; `drizzle: true` uses Better Auth's Drizzle
// adapter (usePlural) over the schema Better Auth's Drizzle generator writes (snake_case
// columns, plural tables, `timestamp` without time zone; see drizzle-schema.mjs), with the
// admin plugin; `searchPath: "<schema>"` keeps the tables in that PostgreSQL schema.
import { readFileSync } from "node:fs";
import { betterAuth } from "better-auth";
import { admin, bearer, jwt, twoFactor } from "better-auth/plugins";
import { getMigrations } from "better-auth/db/migration";
import { symmetricDecrypt, verifyPassword } from "better-auth/crypto";
import { createOTP } from "@better-auth/utils/otp";
import { drizzleAdapter } from "better-auth/adapters/drizzle";
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import * as drizzleSchema from "./drizzle-schema.mjs";

const [command, raw] = process.argv.slice(2);
const args = JSON.parse(raw ?? "{}");

const pool = new pg.Pool({
  connectionString: args.url.replace(/\?.*$/, ""),
  ssl: { ca: readFileSync(args.ca, "utf8"), rejectUnauthorized: true },
  max: 2,
  ...(args.searchPath ? { options: `-c search_path=${args.searchPath}` } : {}),
});
const auth = betterAuth({
  database: args.drizzle
    ? drizzleAdapter(drizzle(pool, { schema: drizzleSchema }), { provider: "pg", usePlural: true, schema: drizzleSchema })
    : pool,
  secret: args.secret,
  baseURL: args.baseURL,
  emailAndPassword: { enabled: true, requireEmailVerification: !!args.requireEmailVerification },
  plugins: [
    bearer(),
    // The JWT plugin's table is not in the Drizzle schema.
    ...(args.drizzle ? [admin()] : [jwt()]),
    ...(args.admin ? [admin()] : []),
    ...(args.twoFactor ? [twoFactor()] : []),
  ],
  advanced: args.uuid ? { database: { generateId: "uuid" } } : undefined,
  telemetry: { enabled: false },
  logger: { disabled: true },
});

const bearerHeaders = (token) => new Headers({ authorization: `Bearer ${token}` });
const cookieValue = (headers, name = "session_token") => {
  const setCookie = headers.get("set-cookie") ?? "";
  const m = setCookie.match(new RegExp(`better-auth\\.${name}=([^;]+)`));
  return m ? m[1] : null;
};
// The user's TOTP secret as the two-factor plugin stored it, decrypted with its own code.
const totpSecretOf = async (email) => {
  const { rows } = await pool.query(
    `select t."secret" from "twoFactor" t join "user" u on u."id" = t."userId" where u."email" = $1`,
    [email],
  );
  return symmetricDecrypt({ key: args.secret, data: rows[0].secret });
};

async function run() {
  switch (command) {
    case "migrate": {
      if (args.drizzle) {
        // What drizzle-kit would apply for drizzle-schema.mjs.
        await pool.query(drizzleSchema.DDL);
        return { created: ["users", "sessions", "accounts", "verifications"], added: [] };
      }
      const { runMigrations, toBeCreated, toBeAdded } = await getMigrations(auth.options);
      await runMigrations();
      return { created: toBeCreated.map((t) => t.table), added: toBeAdded.map((t) => t.table) };
    }
    case "sign-up": {
      const { headers, response } = await auth.api.signUpEmail({
        body: { email: args.email, password: args.password, name: args.name ?? "" },
        returnHeaders: true,
      });
      return { user: response.user, token: response.token, cookie: cookieValue(headers) };
    }
    case "sign-in": {
      try {
        const { headers, response } = await auth.api.signInEmail({
          body: { email: args.email, password: args.password },
          returnHeaders: true,
        });
        if (response.twoFactorRedirect) return { ok: false, code: "TWO_FACTOR_REDIRECT" };
        return { ok: true, user: response.user, token: response.token, cookie: cookieValue(headers) };
      } catch (e) {
        return { ok: false, code: e?.body?.code ?? String(e) };
      }
    }
    case "enable-two-factor": {
      // As a user does it: signed in, enable with the password, confirm with a first code.
      const { response } = await auth.api.signInEmail({
        body: { email: args.email, password: args.password },
        returnHeaders: true,
      });
      const headers = bearerHeaders(response.token);
      const { backupCodes } = await auth.api.enableTwoFactor({ body: { password: args.password }, headers });
      const code = await createOTP(await totpSecretOf(args.email)).totp();
      await auth.api.verifyTOTP({ body: { code }, headers });
      return { backupCodes };
    }
    case "totp": {
      return { code: await createOTP(await totpSecretOf(args.email)).totp() };
    }
    case "sign-in-with-backup-code": {
      // Better Auth's two-step flow: the password, then the code with its two_factor cookie.
      const { headers } = await auth.api.signInEmail({
        body: { email: args.email, password: args.password },
        returnHeaders: true,
      });
      const challenge = cookieValue(headers, "two_factor");
      try {
        const response = await auth.api.verifyBackupCode({
          body: { code: args.code },
          headers: new Headers({ cookie: `better-auth.two_factor=${challenge}` }),
        });
        return { ok: true, token: response.token };
      } catch (e) {
        return { ok: false, code: e?.body?.code ?? String(e) };
      }
    }
    case "get-session": {
      const session = await auth.api.getSession({ headers: bearerHeaders(args.token) });
      return { session: session?.session ?? null, user: session?.user ?? null };
    }
    case "get-jwt": {
      const { token } = await auth.api.getToken({ headers: bearerHeaders(args.token) });
      return { jwt: token };
    }
    case "verify-password": {
      return { ok: await verifyPassword({ hash: args.hash, password: args.password }) };
    }
    default:
      throw new Error(`unknown command ${command}`);
  }
}

try {
  process.stdout.write(JSON.stringify(await run()) + "\n");
} finally {
  await pool.end();
}
