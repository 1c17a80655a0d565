// A stock Better Auth 1.7 app (email+password, bearer and jwt plugins) over PostgreSQL,
// driven one command at a time by the interoperability tests:
//
//   node app.mjs <command> '<json arguments>'
//
// Every command prints one JSON object on stdout. Arguments always include `url` (a
// postgres URL), `ca` (the test CA's PEM path), `secret` and `baseURL`; `uuid: true`
// selects Better Auth's `generateId: "uuid"`; `admin: true` adds the admin plugin;
// `requireEmailVerification: true` sets emailAndPassword's option of that name.
import { readFileSync } from "node:fs";
import { betterAuth } from "better-auth";
import { admin, bearer, jwt } from "better-auth/plugins";
import { getMigrations } from "better-auth/db/migration";
import { verifyPassword } from "better-auth/crypto";
import pg from "pg";

const [command, raw] = process.argv.slice(2);
const args = JSON.parse(raw ?? "{}");

const pool = new pg.Pool({
  connectionString: args.url.replace(/\?.*$/, ""),
  ssl: { ca: readFileSync(args.ca, "utf8"), rejectUnauthorized: true },
  max: 2,
});
const auth = betterAuth({
  database: pool,
  secret: args.secret,
  baseURL: args.baseURL,
  emailAndPassword: { enabled: true, requireEmailVerification: !!args.requireEmailVerification },
  plugins: [bearer(), jwt(), ...(args.admin ? [admin()] : [])],
  advanced: args.uuid ? { database: { generateId: "uuid" } } : undefined,
  telemetry: { enabled: false },
  logger: { disabled: true },
});

const bearerHeaders = (token) => new Headers({ authorization: `Bearer ${token}` });
const cookieValue = (headers) => {
  const setCookie = headers.get("set-cookie") ?? "";
  const m = setCookie.match(/better-auth\.session_token=([^;]+)/);
  return m ? m[1] : null;
};

async function run() {
  switch (command) {
    case "migrate": {
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
        return { ok: true, user: response.user, token: response.token, cookie: cookieValue(headers) };
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
