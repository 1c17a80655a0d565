// Prints the command, args and env a host starts an unpacked MCP Bundle with, given the
// user's settings: @anthropic-ai/mcpb's getMcpConfigForManifest, the resolution Claude
// Desktop applies (defaults, ${user_config.*} and ${__dirname} substituted).
//
//   node mcp-config.mjs <unpacked bundle dir> '<user_config JSON>'
import { readFileSync } from "node:fs";
import path from "node:path";
import { getMcpConfigForManifest } from "@anthropic-ai/mcpb";

const [dir, userConfig] = process.argv.slice(2);
const manifest = JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8"));
const config = await getMcpConfigForManifest({
  manifest,
  extensionPath: dir,
  systemDirs: { HOME: process.env.HOME ?? "/", DATA: process.env.HOME ?? "/" },
  userConfig: JSON.parse(userConfig ?? "{}"),
  pathSeparator: path.sep,
});
if (!config) throw new Error("no MCP config: a required user_config value is missing");
process.stdout.write(JSON.stringify(config) + "\n");
