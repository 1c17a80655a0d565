#!/usr/bin/env node
// Runs the native better-auth-mcp binary of this platform, from the package npm installed
// for it (one of optionalDependencies, picked by its "os" and "cpu"), as esbuild and biome
// do. stdin and stdout are the child's own (the MCP protocol on stdio); signals go to it
// and its exit status is ours.
"use strict";
const { spawn } = require("node:child_process");
const path = require("node:path");

const platform = `${process.platform}-${process.arch}`;
const pkg = `better-auth-mcp-${platform}`;
const exe = process.platform === "win32" ? "better-auth-mcp.exe" : "better-auth-mcp";

let binary;
try {
  binary = path.join(path.dirname(require.resolve(`${pkg}/package.json`)), "bin", exe);
} catch {
  process.stderr.write(
    `better-auth-mcp: no prebuilt binary for ${platform} (the package ${pkg} is not installed).\n` +
      `Binaries are published for: linux-x64, linux-arm64, darwin-x64, darwin-arm64 and\n` +
      `win32-x64. Elsewhere, install from source with\n` +
      `  cargo install better-auth-mcp\n` +
      `or, if npm skipped optional dependencies, reinstall without --omit=optional.\n`,
  );
  process.exit(1);
}

const child = spawn(binary, process.argv.slice(2), { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => child.kill(signal));
}
child.on("error", (e) => {
  process.stderr.write(`better-auth-mcp: cannot run ${binary}: ${e.message}\n`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  if (signal) {
    process.kill(process.pid, signal);
  } else {
    process.exit(code ?? 1);
  }
});
