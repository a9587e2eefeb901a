/**
 * One MCP server: connected on first use, its tool list read (every page) and cached until the server
 * says it changed, tools called with a timeout. When the connection breaks (a stdio server exits, an
 * HTTP server stops answering) the client is dropped, and the next use starts the server again.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { ErrorCode, McpError, type CallToolResult, type Tool as McpTool } from "@modelcontextprotocol/sdk/types.js";

import { isStdio, type McpServerConfig } from "./config.js";

/** Kept for error messages: what a crashed server printed last. */
const STDERR_TAIL = 2000;

export interface CallToolOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Told of the server's progress notifications for this call (servers send them only when asked, as this does). */
  onProgress?: (progress: { progress: number; total?: number }) => void;
}

export class McpServerConnection {
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private tools: McpTool[] | undefined;
  private stderrTail = "";
  private starts = 0;
  /** The last failed start: for connectTimeoutMs after it, uses fail at once with its error. */
  private failedStart: { error: Error; at: number } | undefined;

  constructor(
    readonly name: string,
    private readonly config: McpServerConfig,
    private readonly connectTimeoutMs: number,
  ) {}

  /** How many times the server was started (or connected to): more than 1 after a restart. */
  get startCount(): number {
    return this.starts;
  }

  /** The stdio server's process id while it runs. */
  get pid(): number | null {
    const transport = this.client?.transport;
    return transport instanceof StdioClientTransport ? transport.pid : null;
  }

  /** What the server printed on stderr last (stdio servers). */
  get stderr(): string {
    return this.stderrTail;
  }

  async listTools(): Promise<McpTool[]> {
    if (this.tools) return this.tools;
    const client = await this.connect();
    try {
      const tools: McpTool[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor === undefined ? undefined : { cursor });
        tools.push(...page.tools);
        cursor = page.nextCursor;
      } while (cursor);
      this.tools = tools;
      return tools;
    } catch (error) {
      await this.dropIfBroken(client, error);
      throw error;
    }
  }

  /** Throws when the call did not complete (timeout, broken connection, protocol error). */
  async callTool(tool: string, input: Record<string, unknown>, options: CallToolOptions): Promise<CallToolResult> {
    const client = await this.connect();
    try {
      return (await client.callTool({ name: tool, arguments: input }, undefined, {
        timeout: options.timeoutMs,
        signal: options.signal,
        onprogress: options.onProgress,
      })) as CallToolResult;
    } catch (error) {
      // The caller's abort says nothing about the server.
      if (!options.signal?.aborted) await this.dropIfBroken(client, error);
      throw error;
    }
  }

  async close(): Promise<void> {
    const client = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    this.connecting = undefined;
    await client?.close();
  }

  private connect(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    // A server that did not finish its handshake is not started again at once: listing tools and then
    // running a task would otherwise wait out the connect timeout twice.
    const failed = this.failedStart;
    if (failed && performance.now() - failed.at < this.connectTimeoutMs) {
      return Promise.reject(
        new Error(`${failed.error.message} (the server failed to start ${Math.round((performance.now() - failed.at) / 1000)} s ago; not retried yet)`, {
          cause: failed.error,
        }),
      );
    }
    this.connecting ??= this.start()
      .then(
        (client) => ((this.failedStart = undefined), client),
        (error: unknown) => {
          this.failedStart = { error: error instanceof Error ? error : new Error(String(error)), at: performance.now() };
          throw error;
        },
      )
      .finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async start(): Promise<Client> {
    this.starts++;
    this.tools = undefined;
    const client = new Client(
      { name: "phi4-onnx", version: "0.1.0" },
      { listChanged: { tools: { autoRefresh: false, debounceMs: 0, onChanged: () => (this.tools = undefined) } } },
    );
    // Closed by us or by the server: either way this client is finished; the next use starts afresh.
    client.onclose = () => {
      if (this.client === client) this.client = undefined;
    };
    await client.connect(this.transport(), { timeout: this.connectTimeoutMs });
    this.client = client;
    return client;
  }

  private transport(): Transport {
    if (!isStdio(this.config)) {
      return new StreamableHTTPClientTransport(new URL(this.config.url), { requestInit: { headers: this.config.headers } });
    }
    const transport = new StdioClientTransport({
      command: this.config.command,
      args: this.config.args,
      // The SDK passes only a safe subset of our environment unless told otherwise; config env adds to it.
      env: { ...getDefaultEnvironment(), ...this.config.env },
      cwd: this.config.cwd,
      stderr: "pipe",
    });
    transport.stderr?.on("data", (chunk: Buffer) => (this.stderrTail = (this.stderrTail + chunk.toString()).slice(-STDERR_TAIL)));
    return transport;
  }

  /**
   * Errors the server answered (bad arguments, unknown tool) and timeouts leave the connection usable;
   * anything else (a closed connection, a failed fetch) means the server is gone: drop the client.
   */
  private async dropIfBroken(client: Client, error: unknown): Promise<void> {
    const answered = error instanceof McpError && error.code !== ErrorCode.ConnectionClosed;
    if (answered || this.client !== client) return;
    this.client = undefined;
    await client.close().catch(() => undefined);
  }
}
