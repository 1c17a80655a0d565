// Drives the server over Streamable HTTP with the official MCP TypeScript SDK, as a remote
// agent would: lists the tools and calls each one offered (the SDK checks each structured
// result against the tool's output schema). Prints one JSON object: what it saw.
//
//   node client.mjs URL EMAIL
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, email] = process.argv.slice(2);
const client = new Client({ name: "better-auth-mcp-tests", version: "1.0.0" });
await client.connect(new StreamableHTTPClientTransport(new URL(url)));
const { tools } = await client.listTools();
const names = tools.map((t) => t.name).sort();
const calls = {};
const call = async (name, args) => {
  const r = await client.callTool({ name, arguments: args });
  const text = (r.content ?? []).map((c) => c.text ?? "").join("");
  calls[name] = { isError: !!r.isError, structured: r.structuredContent ?? null, text };
  return calls[name];
};
let token = "not-a-token";
let session = null;
if (names.includes("sign_up")) {
  const up = await call("sign_up", { email, password: "password123" });
  ({ token, sessionToken: session } = up.structured);
}
if (names.includes("sign_in")) {
  const inn = await call("sign_in", { email, password: "password123" });
  ({ token, sessionToken: session } = inn.structured);
}
await call("verify_token", { token });
await call("get_user", { token });
if (names.includes("refresh_token")) await call("refresh_token", { sessionToken: session });
if (names.includes("sign_out")) await call("sign_out", { sessionToken: session });
await client.close();
process.stdout.write(JSON.stringify({ tools: names, calls }) + "\n");
