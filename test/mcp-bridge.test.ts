/** The MCP bridge against the real reference servers (stdio, and streamable HTTP), from node_modules. */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { McpBridge } from "../lib/mcp/bridge.js";
import { parseMcpConfig } from "../lib/mcp/config.js";
import { everythingBin, everythingServer, filesystemServer, memoryServer } from "./helpers/mcp-servers.js";
import { until } from "./helpers/until.js";

let dir: string;
let bridge: McpBridge;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "phi4-mcp-"));
  await writeFile(path.join(dir, "notes.txt"), "local files stay local\n");
  bridge = new McpBridge({
    mcpServers: { everything: everythingServer(), fs: filesystemServer(dir), memory: memoryServer(path.join(dir, "memory.jsonl")) },
  });
});

afterAll(async () => {
  await bridge?.close();
  await rm(dir, { recursive: true, force: true });
});

const textOf = (output: { content: { type: string; text?: string }[] }) => output.content.map((b) => b.text ?? "").join("\n");

describe("MCP bridge over stdio", () => {
  it("lists every server's tools as mcp__<server>__<tool> Anthropic definitions", async () => {
    const tools = await bridge.tools();
    const names = tools.map((t) => t.name);
    expect(bridge.serverErrors.size).toBe(0);
    expect(names).toEqual(
      expect.arrayContaining(["mcp__everything__echo", "mcp__everything__get-sum", "mcp__fs__read_text_file", "mcp__memory__create_entities"]),
    );
    const sum = tools.find((t) => t.name === "mcp__everything__get-sum")!;
    expect(sum.description).toMatch(/sum/i);
    expect(sum.input_schema).toMatchObject({ type: "object", properties: { a: { type: "number" }, b: { type: "number" } } });
    for (const tool of tools) expect(tool.name).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it("calls tools and maps text, images and structuredContent to tool_result content", async () => {
    const sum = await bridge.call("mcp__everything__get-sum", { a: 2, b: 3 });
    expect(sum).toEqual({ content: [{ type: "text", text: "The sum of 2 and 3 is 5." }], is_error: false });

    const image = await bridge.call("mcp__everything__get-tiny-image", {});
    const block = image.content.find((b) => b.type === "image");
    expect(block).toMatchObject({ type: "image", source: { type: "base64", media_type: "image/png" } });

    // The server sends the same JSON as text and as structuredContent: it must appear once.
    const weather = await bridge.call("mcp__everything__get-structured-content", { location: "Chicago" });
    expect(weather.content).toHaveLength(1);
    expect(JSON.parse(textOf(weather))).toEqual({ temperature: 36, conditions: "Light rain / drizzle", humidity: 82 });
  });

  it("reaches the filesystem and memory servers", async () => {
    const file = await bridge.call("mcp__fs__read_text_file", { path: path.join(dir, "notes.txt") });
    expect(textOf(file)).toContain("local files stay local");
    const outside = await bridge.call("mcp__fs__read_text_file", { path: "/etc/hostname" });
    expect(outside.is_error).toBe(true);

    await bridge.call("mcp__memory__create_entities", { entities: [{ name: "phi4", entityType: "model", observations: ["runs locally"] }] });
    const graph = await bridge.call("mcp__memory__read_graph", {});
    expect(textOf(graph)).toContain("runs locally");
  });

  it("reports bad arguments and unknown tools as tool errors", async () => {
    const bad = await bridge.call("mcp__everything__get-sum", { a: "two" });
    expect(bad.is_error).toBe(true);
    const unknown = await bridge.call("mcp__everything__no-such-tool", {});
    expect(unknown).toMatchObject({ is_error: true });
    expect(textOf(unknown)).toContain("unknown tool");
  });
});

describe("MCP bridge failures", () => {
  it("times a slow call out as a tool error and keeps the server", async () => {
    const slow = new McpBridge({ mcpServers: { everything: everythingServer() } }, { callTimeoutMs: 300 });
    try {
      await slow.tools();
      const started = Date.now();
      const result = await slow.call("mcp__everything__trigger-long-running-operation", { duration: 5, steps: 5 });
      expect(Date.now() - started).toBeLessThan(3000);
      expect(result.is_error).toBe(true);
      expect(textOf(result)).toContain("no result within 300 ms");
      const echo = await slow.call("mcp__everything__echo", { message: "still here" });
      expect(textOf(echo)).toContain("still here");
      expect(slow.connection("everything")!.startCount).toBe(1);
    } finally {
      await slow.close();
    }
  });

  it("reports a server that crashes mid-call as a tool error and restarts it on next use", async () => {
    const crashy = new McpBridge({ mcpServers: { everything: everythingServer() } });
    try {
      await crashy.tools();
      const connection = crashy.connection("everything")!;
      const firstPid = connection.pid!;
      // Killed once the server reports its first step: the call is certainly running there.
      let killed = false;
      const crashed = await crashy.call(
        "mcp__everything__trigger-long-running-operation",
        { duration: 10, steps: 100 },
        {
          onProgress: () => {
            if (!killed) process.kill(firstPid, "SIGKILL");
            killed = true;
          },
        },
      );
      expect(killed).toBe(true);
      expect(crashed.is_error).toBe(true);
      expect(textOf(crashed)).toMatch(/stopped during the call/);

      const echo = await crashy.call("mcp__everything__echo", { message: "back" });
      expect(echo.is_error).toBe(false);
      expect(textOf(echo)).toContain("back");
      expect(connection.startCount).toBe(2);
      expect(connection.pid).not.toBe(firstPid);

      // Killed while idle: the next call starts it again without an error.
      process.kill(connection.pid!, "SIGKILL");
      await until(() => connection.pid === null, "the bridge to see the server exit");
      expect((await crashy.call("mcp__everything__get-sum", { a: 1, b: 1 })).is_error).toBe(false);
      expect(connection.startCount).toBe(3);
    } finally {
      await crashy.close();
    }
  });

  it("leaves out a server that cannot start and says why", async () => {
    const partial = new McpBridge({ mcpServers: { broken: { type: "stdio", command: path.join(dir, "no-such-binary") }, everything: everythingServer() } });
    try {
      const tools = await partial.tools();
      expect(tools.some((t) => t.name === "mcp__everything__echo")).toBe(true);
      expect(partial.serverErrors.get("broken")).toBeTruthy();
    } finally {
      await partial.close();
    }
  });
});

describe("MCP server that never finishes its handshake", () => {
  it("fails within the connect timeout once, and a second use in that window fails at once", async () => {
    const silent = path.join(dir, "silent.mjs");
    await writeFile(silent, "process.stdin.resume();\n");
    const hung = new McpBridge({ mcpServers: { silent: { type: "stdio", command: process.execPath, args: [silent] } } }, { connectTimeoutMs: 1_000 });
    try {
      let started = performance.now();
      expect(await hung.tools()).toEqual([]);
      const first = performance.now() - started;
      expect(hung.serverErrors.get("silent")).toMatch(/timed out/i);
      expect(first).toBeGreaterThanOrEqual(900);
      expect(first).toBeLessThan(5_000);
      // As phi4 agent does: list the tools, then run the task (which lists them again).
      started = performance.now();
      expect(await hung.tools()).toEqual([]);
      expect(performance.now() - started).toBeLessThan(500);
      expect(hung.serverErrors.get("silent")).toMatch(/not retried yet/);
      expect(hung.connection("silent")?.startCount).toBe(1);
    } finally {
      await hung.close();
    }
  });
});

describe("MCP bridge over streamable HTTP", () => {
  let server: ChildProcess | undefined;
  afterAll(() => {
    server?.kill();
  });

  it("lists and calls the everything server's tools at its URL", async () => {
    const port = await freePort();
    server = spawn(process.execPath, [everythingBin, "streamableHttp"], { env: { ...process.env, PORT: String(port) }, stdio: ["ignore", "ignore", "pipe"] });
    await new Promise<void>((resolve, reject) => {
      server!.stderr!.on("data", (chunk: Buffer) => chunk.toString().includes("listening") && resolve());
      server!.on("exit", (code) => reject(new Error(`the HTTP server exited with ${code}`)));
    });
    const http = new McpBridge(parseMcpConfig({ mcpServers: { remote: { type: "http", url: `http://127.0.0.1:${port}/mcp`, headers: { "x-test": "1" } } } }));
    try {
      const tools = await http.tools();
      expect(tools.map((t) => t.name)).toContain("mcp__remote__echo");
      expect(textOf(await http.call("mcp__remote__echo", { message: "over http" }))).toContain("over http");
    } finally {
      await http.close();
    }
  });
});

describe("MCP config", () => {
  it("substitutes ${VAR} and ${VAR:-default}, and rejects what it cannot run", () => {
    const config = parseMcpConfig(
      {
        mcpServers: {
          a: { command: "node", args: ["${SERVER_JS}"], env: { TOKEN: "${TOKEN:-none}" } },
          b: { type: "http", url: "https://${HOST}/mcp", headers: { authorization: "Bearer ${TOKEN:-x}" } },
        },
      },
      { SERVER_JS: "server.js", HOST: "example.com" },
    );
    expect(config.mcpServers.a).toEqual({ type: "stdio", command: "node", args: ["server.js"], env: { TOKEN: "none" } });
    expect(config.mcpServers.b).toEqual({ type: "http", url: "https://example.com/mcp", headers: { authorization: "Bearer x" } });
    expect(() => parseMcpConfig({ mcpServers: { a: { command: "${MISSING}" } } }, {})).toThrow(/MISSING is not set/);
    expect(() => parseMcpConfig({ mcpServers: { a: { type: "sse", url: "https://example.com/sse" } } })).toThrow(/streamable HTTP/);
    expect(() => parseMcpConfig({ servers: {} })).toThrow(/invalid MCP config/);
  });
});

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
