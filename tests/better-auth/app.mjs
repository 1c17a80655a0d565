// A stock Better Auth 1.7 app (email+password, bearer and jwt plugins) over PostgreSQL,
// driven one command at a time by the interoperability tests:
//
//   node app.mjs <command> '<json arguments>'
//
// Every command prints one JSON object on stdout. Arguments always include `url` (a
// postgres URL), `ca` (the test CA's PEM path), `secret` and `baseURL` (`secret` may be left
// out when `secrets` is given); `secrets: [{version, value}, ...]` passes Better Auth's
// `secrets` option (secret rotation), so the app runs "after rotation": the first entry is
// current (it encrypts, as `$ba$<version>$<hex>`, and signs cookies and tokens), the others
// only decrypt what their versions encrypted, and `secret`, if also given, is the legacy
// secret that decrypts the bare hex written before rotation; `uuid: true`
// selects Better Auth's `generateId: "uuid"`; `admin: true` adds the admin plugin;
// `twoFactor: true` the two-factor plugin; `requireEmailVerification: true` sets
// emailAndPassword's option of that name; `drizzle: true` uses Better Auth's Drizzle
// adapter (usePlural) over the schema Better Auth's Drizzle generator writes (snake_case
// columns, plural tables, `timestamp` without time zone; see drizzle-schema.mjs), with the
// admin plugin; `searchPath: "<schema>"` keeps the tables in that PostgreSQL schema;
// `oauthResources: [url, ...]` adds the OAuth provider plugin (@better-auth/oauth-provider)
// serving those resources (RFC 8707), its access tokens living `accessTokenExpiresIn` s;
// `apiKey: true` adds the api-key plugin (@better-auth/api-key), with `apiKeyOptions`.
// `organization: true` adds the organization plugin with the roles of `orgRoles` below
// (the defaults, a `project` resource, a custom `auditor`) and dynamic access control.
// `device: true` adds the deviceAuthorization plugin, accepting only the client id
// `better-auth-mcp` (its `validateClient`). The `serve` command serves the app over HTTP
// on 127.0.0.1:`port` (its API under /api/auth) until killed, printing `{listening}` first.
import { readFileSync } from "node:fs";
import { betterAuth } from "better-auth";
import { admin, bearer, deviceAuthorization, jwt, organization, twoFactor } from "better-auth/plugins";
import { toNodeHandler } from "better-auth/node";
import { createServer } from "node:http";
import { createAccessControl } from "better-auth/plugins/access";
import { adminAc, defaultStatements, memberAc, ownerAc } from "better-auth/plugins/organization/access";
import { getMigrations } from "better-auth/db/migration";
import { symmetricDecrypt, verifyPassword } from "better-auth/crypto";
import { createOTP } from "@better-auth/utils/otp";
import { drizzleAdapter } from "better-auth/adapters/drizzle";
import { oauthProvider } from "@better-auth/oauth-provider";
import { apiKey } from "@better-auth/api-key";
import { createHash, randomBytes } from "node:crypto";
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import * as drizzleSchema from "./drizzle-schema.mjs";

const [command, raw] = process.argv.slice(2);
const args = JSON.parse(raw ?? "{}");

// The organization plugin's roles in code, as an app defines them (the `roles` option
// replaces the defaults, so owner, admin and member are given too); the owner holds the
// custom resource so that it can create dynamic roles granting it.
const ac = createAccessControl({ ...defaultStatements, project: ["create", "read", "delete"] });
const orgRoles = {
  owner: ac.newRole({ ...ownerAc.statements, project: ["create", "read", "delete"] }),
  admin: ac.newRole({ ...adminAc.statements, project: ["create", "read"] }),
  member: ac.newRole({ ...memberAc.statements }),
  auditor: ac.newRole({ project: ["read"], ac: ["read"] }),
};

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
  ...(args.secrets ? { secrets: args.secrets } : {}),
  baseURL: args.baseURL,
  emailAndPassword: { enabled: true, requireEmailVerification: !!args.requireEmailVerification },
  plugins: [
    bearer(),
    // The JWT plugin's table is not in the Drizzle schema.
    ...(args.drizzle ? [admin()] : [jwt()]),
    ...(args.admin ? [admin()] : []),
    ...(args.twoFactor ? [twoFactor()] : []),
    ...(args.apiKey ? [apiKey(args.apiKeyOptions ?? {})] : []),
    ...(args.device ? [deviceAuthorization({ validateClient: (id) => id === "better-auth-mcp" })] : []),
    ...(args.organization
      ? [organization({ ac, roles: orgRoles, dynamicAccessControl: { enabled: true } })]
      : []),
    ...(args.oauthResources
      ? [
          oauthProvider({
            loginPage: "/sign-in",
            consentPage: "/consent",
            resources: args.oauthResources,
            // As README.md's example: MCP clients register themselves (RFC 7591) and get
            // the resources.
            allowDynamicClientRegistration: true,
            allowUnauthenticatedClientRegistration: true,
            clientRegistrationDefaultResources: args.oauthResources,
            ...(args.accessTokenExpiresIn ? { accessTokenExpiresIn: args.accessTokenExpiresIn } : {}),
          }),
        ]
      : []),
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
// The user's TOTP secret as the two-factor plugin stored it, decrypted with its own code
// under the app's own secret configuration (`secret`, or `secrets` with `secret` as legacy).
const totpSecretOf = async (email) => {
  const { rows } = await pool.query(
    `select t."secret" from "twoFactor" t join "user" u on u."id" = t."userId" where u."email" = $1`,
    [email],
  );
  return symmetricDecrypt({ key: (await auth.$context).secretConfig, data: rows[0].secret });
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
    case "oauth-access-token": {
      // What an MCP client does with the app's OAuth provider (authorization code + PKCE,
      // RFC 8707 resource), as a native public client on a loopback redirect that
      // registered itself; the user, signed in on the web, consents.
      const { headers } = await auth.api.signInEmail({
        body: { email: args.email, password: args.password },
        returnHeaders: true,
      });
      const cookie = `better-auth.session_token=${cookieValue(headers)}`;
      const redirect = "http://127.0.0.1:33418/callback";
      const api = `${args.baseURL}/api/auth`;
      const registered = await auth.handler(
        new Request(`${api}/oauth2/register`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            client_name: "An MCP client",
            redirect_uris: [redirect],
            application_type: "native",
            token_endpoint_auth_method: "none",
            grant_types: ["authorization_code"],
            response_types: ["code"],
          }),
        }),
      );
      const client = await registered.json();
      if (!client.client_id) throw new Error(`register: ${registered.status} ${JSON.stringify(client)}`);
      const verifier = randomBytes(32).toString("base64url");
      const query = new URLSearchParams({
        response_type: "code",
        client_id: client.client_id,
        redirect_uri: redirect,
        scope: args.scope ?? "openid email",
        state: "state-1",
        code_challenge: createHash("sha256").update(verifier).digest("base64url"),
        code_challenge_method: "S256",
        resource: args.resource,
      });
      const authorized = await auth.handler(
        new Request(`${api}/oauth2/authorize?${query}`, { headers: { cookie } }),
      );
      // The app's consent page, with the signed query the provider sent it to: accept.
      const consentPage = new URL(authorized.headers.get("location") ?? "", args.baseURL);
      if (consentPage.pathname !== "/consent") throw new Error(`authorize: ${authorized.status} ${consentPage}`);
      const consented = await auth.handler(
        new Request(`${api}/oauth2/consent`, {
          method: "POST",
          headers: { "content-type": "application/json", cookie, origin: args.baseURL },
          body: JSON.stringify({ accept: true, oauth_query: consentPage.search.slice(1) }),
        }),
      );
      const answer = await consented.json();
      const location = answer.url ?? answer.redirect_uri ?? consented.headers.get("location");
      const code = location && new URL(location).searchParams.get("code");
      if (!code) throw new Error(`consent: ${consented.status} ${JSON.stringify(answer)}`);
      const exchanged = await auth.handler(
        new Request(`${api}/oauth2/token`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            grant_type: "authorization_code",
            code,
            redirect_uri: redirect,
            client_id: client.client_id,
            code_verifier: verifier,
            resource: args.resource,
          }),
        }),
      );
      const tokens = await exchanged.json();
      if (!tokens.access_token) throw new Error(`token: ${exchanged.status} ${JSON.stringify(tokens)}`);
      const metadata = await (
        await auth.handler(new Request(`${api}/.well-known/oauth-authorization-server`))
      ).json();
      const claims = JSON.parse(Buffer.from(tokens.access_token.split(".")[1], "base64url"));
      return { accessToken: tokens.access_token, claims, issuer: metadata.issuer };
    }
    case "create-api-key": {
      // As server code creates a key: for `userId`, with any server-only field.
      return { apiKey: await auth.api.createApiKey({ body: args.body }) };
    }
    case "verify-api-key": {
      // The plugin's own verification: one use of the key; with `times`, that many uses
      // at once, answering how many went through.
      if (!args.times) return await auth.api.verifyApiKey({ body: { key: args.key } });
      const once = () => auth.api.verifyApiKey({ body: { key: args.key } });
      const results = await Promise.all(Array.from({ length: args.times }, once));
      return { valid: results.filter((r) => r.valid).length };
    }
    case "update-api-key": {
      return { apiKey: await auth.api.updateApiKey({ body: args.body }) };
    }
    case "org-roles": {
      // The code roles as ORGANIZATION_ROLES_FILE mirrors them: role → statements.
      return Object.fromEntries(Object.entries(orgRoles).map(([name, r]) => [name, r.statements]));
    }
    case "create-organization": {
      return await auth.api.createOrganization({
        headers: bearerHeaders(args.token),
        body: { name: args.name, slug: args.slug },
      });
    }
    case "add-member": {
      return await auth.api.addMember({
        body: { userId: args.userId, organizationId: args.organizationId, role: args.role },
      });
    }
    case "create-org-role": {
      return await auth.api.createOrgRole({
        headers: bearerHeaders(args.token),
        body: { role: args.role, permission: args.permission, organizationId: args.organizationId },
      });
    }
    case "set-active-organization": {
      return await auth.api.setActiveOrganization({
        headers: bearerHeaders(args.token),
        body: { organizationId: args.organizationId },
      });
    }
    case "has-permission": {
      // The plugin's own hasPermission, for each of `asks` (one process for many).
      const results = [];
      for (const permissions of args.asks) {
        try {
          const r = await auth.api.hasPermission({
            headers: bearerHeaders(args.token),
            body: { permissions, ...(args.organizationId ? { organizationId: args.organizationId } : {}) },
          });
          results.push(r.success);
        } catch (e) {
          results.push(e?.body?.code ?? String(e));
        }
      }
      return { results };
    }
    case "admin": {
      // One call of the admin plugin's API as the admin of session `token` does it:
      // `op` (listUsers, banUser, unbanUser, setRole, revokeUserSessions, removeUser)
      // with `query` (listUsers) or `body`.
      try {
        const headers = bearerHeaders(args.token);
        const call = auth.api[args.op];
        const result = args.query ? await call({ headers, query: args.query }) : await call({ headers, body: args.body });
        return { ok: true, result };
      } catch (e) {
        return { ok: false, code: e?.body?.code ?? String(e) };
      }
    }
    case "verify-password": {
      return { ok: await verifyPassword({ hash: args.hash, password: args.password }) };
    }
    default:
      throw new Error(`unknown command ${command}`);
  }
}

if (command === "serve") {
  const server = createServer(toNodeHandler(auth));
  server.listen(args.port, "127.0.0.1", () => {
    process.stdout.write(JSON.stringify({ listening: args.port }) + "\n");
  });
} else {
  try {
    process.stdout.write(JSON.stringify(await run()) + "\n");
  } finally {
    await pool.end();
  }
}
