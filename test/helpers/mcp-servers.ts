/**
 * The reference MCP servers installed as devDependencies (pinned), started from node_modules over
 * stdio with this Node: never through npx or the network.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

import type { StdioServerConfig } from "../../lib/mcp/config.js";

function binOf(pkg: string): string {
  const dir = path.resolve("node_modules", pkg);
  const { bin } = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { bin: Record<string, string> };
  return path.join(dir, Object.values(bin)[0]);
}

export const everythingBin = binOf("@modelcontextprotocol/server-everything");

export const everythingServer = (): StdioServerConfig => ({ type: "stdio", command: process.execPath, args: [everythingBin, "stdio"] });

export const filesystemServer = (allowedDir: string): StdioServerConfig => ({
  type: "stdio",
  command: process.execPath,
  args: [binOf("@modelcontextprotocol/server-filesystem"), allowedDir],
});

export const memoryServer = (file: string): StdioServerConfig => ({
  type: "stdio",
  command: process.execPath,
  args: [binOf("@modelcontextprotocol/server-memory")],
  env: { MEMORY_FILE_PATH: file },
});
