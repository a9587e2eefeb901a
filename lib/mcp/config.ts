/**
 * MCP servers configuration in the shape of Claude's `mcpServers` JSON (.mcp.json, Claude Desktop's
 * config): stdio servers have command / args / env / cwd; HTTP servers have type "http", url and
 * headers. `${VAR}` and `${VAR:-default}` are substituted from the environment.
 */
import { z } from "zod";

import { ConfigError, expandEnv, readJsonConfig } from "../util/config-file.js";

const stdioServer = z.strictObject({
  type: z.literal("stdio"),
  command: z.string().min(1),
  args: z.array(z.string()).optional(),
  env: z.record(z.string(), z.string()).optional(),
  cwd: z.string().optional(),
});

const httpServer = z.strictObject({
  type: z.literal("http"),
  url: z.url(),
  headers: z.record(z.string(), z.string()).optional(),
});

// Claude's configs may also hold "sse" servers (the deprecated HTTP+SSE transport): say so plainly.
const sseServer = z
  .object({ type: z.literal("sse") })
  .refine(() => false, 'the deprecated "sse" transport is not supported: use "type": "http" (streamable HTTP)');

// "type" may be left out: a command means stdio, a url means http (as Claude reads these files).
const withType = (server: unknown) => {
  if (server === null || typeof server !== "object" || "type" in server) return server;
  return { type: "command" in server ? "stdio" : "url" in server ? "http" : undefined, ...server };
};

export const mcpConfigSchema = z.strictObject({
  mcpServers: z.record(z.string().min(1), z.preprocess(withType, z.discriminatedUnion("type", [stdioServer, httpServer, sseServer]))),
});

export type StdioServerConfig = z.infer<typeof stdioServer>;
export type HttpServerConfig = z.infer<typeof httpServer>;
export type McpServerConfig = StdioServerConfig | HttpServerConfig;
export interface McpConfig {
  mcpServers: Record<string, McpServerConfig>;
}

export function parseMcpConfig(json: unknown, env?: Record<string, string | undefined>): McpConfig {
  const result = mcpConfigSchema.safeParse(expandEnv(json, env));
  if (!result.success) throw new ConfigError(`invalid MCP config:\n${z.prettifyError(result.error)}`);
  return result.data as McpConfig; // an "sse" entry never validates
}

export async function loadMcpConfig(file: string, env?: Record<string, string | undefined>): Promise<McpConfig> {
  return parseMcpConfig(await readJsonConfig(file, "MCP config"), env);
}

export const isStdio = (server: McpServerConfig): server is StdioServerConfig => server.type === "stdio";
