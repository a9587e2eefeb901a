/**
 * The MCP bridge: every configured server's tools as Anthropic tool definitions named
 * `mcp__<server>__<tool>`, and calls to them as tool_result content. Failures of a call (timeout,
 * crashed server, unknown tool) come back as tool errors the model can read, never as exceptions;
 * only the caller's own abort throws.
 */
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";

import type { ToolDefinition, ToolOutput } from "../messages/types.js";
import type { McpConfig } from "./config.js";
import { McpServerConnection, type CallToolOptions } from "./connection.js";
import { exposedToolName } from "./names.js";
import { toolError, toolOutputFromMcp } from "./results.js";

export interface McpBridgeOptions {
  /** How long one tool call may take. Default 60 s (the MCP SDK's default). */
  callTimeoutMs?: number;
  /** How long starting a server and its initialize handshake may take. Default 30 s. */
  connectTimeoutMs?: number;
  /** Text characters a tool result keeps; the rest is cut, with a note. Default 100,000. */
  maxResultChars?: number;
}

export class McpBridge {
  private readonly connections = new Map<string, McpServerConnection>();
  /** Exposed name -> the server and the tool's own name. */
  private readonly origins = new Map<string, { server: string; tool: string }>();
  /** Servers whose tools could not be listed on the last tools() call, with the reason. */
  readonly serverErrors = new Map<string, string>();
  private readonly callTimeoutMs: number;
  private readonly maxResultChars: number | undefined;

  constructor(config: McpConfig, options: McpBridgeOptions = {}) {
    this.callTimeoutMs = options.callTimeoutMs ?? 60_000;
    this.maxResultChars = options.maxResultChars;
    for (const [name, server] of Object.entries(config.mcpServers)) {
      this.connections.set(name, new McpServerConnection(name, server, options.connectTimeoutMs ?? 30_000));
    }
  }

  /** One server's connection (its pid, start count, stderr), for diagnostics. */
  connection(server: string): McpServerConnection | undefined {
    return this.connections.get(server);
  }

  /**
   * The tools of every server that answers, in config order. A server that fails to start is left
   * out (see serverErrors) rather than failing the whole set.
   */
  async tools(): Promise<ToolDefinition[]> {
    const listed = await Promise.all(
      [...this.connections.values()].map(async (connection) => {
        try {
          const tools = await connection.listTools();
          this.serverErrors.delete(connection.name);
          return { server: connection.name, tools };
        } catch (error) {
          this.serverErrors.set(connection.name, (error as Error).message);
          return { server: connection.name, tools: [] };
        }
      }),
    );
    this.origins.clear();
    const definitions: ToolDefinition[] = [];
    for (const { server, tools } of listed) {
      for (const tool of tools) {
        const name = exposedToolName(server, tool.name);
        // Two names that differ only in characters the API forbids would collide: the first one wins.
        if (this.origins.has(name)) continue;
        this.origins.set(name, { server, tool: tool.name });
        definitions.push({ name, description: tool.description ?? tool.title ?? "", input_schema: tool.inputSchema });
      }
    }
    return definitions;
  }

  async call(name: string, input: Record<string, unknown>, options: Pick<CallToolOptions, "signal" | "onProgress"> = {}): Promise<ToolOutput> {
    if (this.origins.size === 0) await this.tools();
    const origin = this.origins.get(name);
    if (!origin) return toolError(`unknown tool ${name}`);
    const connection = this.connections.get(origin.server)!;
    try {
      return toolOutputFromMcp(
        await connection.callTool(origin.tool, input, { timeoutMs: this.callTimeoutMs, signal: options.signal, onProgress: options.onProgress }),
        this.maxResultChars,
      );
    } catch (error) {
      if (options.signal?.aborted) throw error;
      return toolError(describeFailure(connection, origin.tool, error, this.callTimeoutMs));
    }
  }

  /** Stops every server (stdio processes exit; HTTP sessions end). */
  async close(): Promise<void> {
    await Promise.all([...this.connections.values()].map((c) => c.close()));
  }
}

function describeFailure(connection: McpServerConnection, tool: string, error: unknown, timeoutMs: number): string {
  const where = `MCP server "${connection.name}", tool "${tool}"`;
  if (error instanceof McpError && error.code === ErrorCode.RequestTimeout) return `${where}: no result within ${timeoutMs} ms`;
  if (error instanceof McpError && error.code !== ErrorCode.ConnectionClosed) return `${where}: ${error.message}`;
  const stderr = connection.stderr.trim();
  return (
    `${where}: the server is not running or stopped during the call (${(error as Error)?.message ?? String(error)}); it will be started again on next use` +
    (stderr ? `\nits last output:\n${stderr.slice(-500)}` : "")
  );
}
