/**
 * phi4 chat, run as a user would (node bin/phi4.js from dist/) with its input piped, not a TTY:
 * a turn, /stats, /save and /exit; the saved file resumed with /load in a new process (its KV reused);
 * and MCP tool calls through the agent loop, with the loopback Claude behind the router making them.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { readStateFile } from "../lib/engine/sequence-state.js";
import { everythingServer } from "./helpers/mcp-servers.js";
import { startMockAnthropic, text, toolUse, type MockAnthropic } from "./helpers/mock-anthropic.js";

const models = inject("models");
const bin = path.resolve("bin/phi4.js");
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "phi4-chat-cli-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs phi4 chat with `lines` as its whole input. */
function chat(args: string[], lines: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [bin, "chat", ...args], { env });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  child.stdin.end(lines.map((line) => `${line}\n`).join(""));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

// Long enough (over the prefix cache's 16-token minimum) for a reused prefix to count.
const SYSTEM = "You are a terse assistant. Answer in one short sentence, in plain English, with no lists and no markdown.";

describe("phi4 chat", () => {
  it("streams a reply, reports /stats, saves with /save, and exits on /exit", async () => {
    const file = path.join(dir, "chat.phi4kv");
    const { code, stdout, stderr } = await chat(
      ["--model", models.tinyPhi4, "--max-tokens", "8", "--system", SYSTEM],
      ["Hello there", "/stats", `/save ${file}`, "/exit", "never read"],
    );
    expect(code).toBe(0);
    expect(stderr).toContain("0 tools; /help for commands");
    const [reply] = stdout.split("\nturns:");
    expect(reply.trim().length).toBeGreaterThan(0);
    expect(stdout).toMatch(/^turns: 1, messages: 2, tokens: \d+ input \+ [1-8] output$/m);
    expect(stdout).toMatch(/^last turn: [1-8] tokens in [\d.]+ s \([\d.]+ tokens\/s\)$/m);
    expect(stdout).toMatch(/^prefix cache: \d+ hits/m);
    expect(stdout).toContain(`[saved 2 messages to ${file}]`);

    expect(existsSync(file)).toBe(true);
    const state = await readStateFile(file);
    expect(state.metadata).toMatchObject({ kind: "phi4-chat", system: SYSTEM, messages: [{ role: "user", content: "Hello there" }, { role: "assistant" }] });
    expect(state.kvLength).toBeGreaterThan(20);

    // A new process resumes it: the conversation goes on, and the saved KV spares the prefill.
    const resumed = await chat(
      ["--model", models.tinyPhi4, "--max-tokens", "8"],
      [`/load ${file}`, "And then?", "/stats", "/load /nonexistent/file", "/reset", "/stats", "/bogus"],
    );
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(`[loaded 2 messages from ${file}]`);
    expect(resumed.stdout).toMatch(/^turns: 1, messages: 4,/m);
    const reused = /^prefix cache: 1 hits, 0 misses, (\d+) tokens reused/m.exec(resumed.stdout);
    expect(Number(reused?.[1])).toBeGreaterThan(20);
    expect(resumed.stderr).toMatch(/^phi4 chat: .*nonexistent/m);
    expect(resumed.stdout).toContain("[new conversation]");
    expect(resumed.stdout).toMatch(/^turns: 1, messages: 0,/m);
    expect(resumed.stdout).toContain("unknown command /bogus");
  });

  it("/save before any turn saves the (empty) conversation, and /load reads it back", async () => {
    const file = path.join(dir, "empty.phi4kv");
    const saved = await chat(["--model", models.tinyPhi4, "--system", SYSTEM], [`/save ${file}`, "/exit"]);
    expect(saved.stderr).not.toMatch(/detached|TypeError/);
    expect(saved.stdout).toContain(`[saved 0 messages to ${file}]`);
    const state = await readStateFile(file);
    expect(state.tokens.length).toBe(0);
    expect(state.metadata).toMatchObject({ kind: "phi4-chat", system: SYSTEM, messages: [] });
    const loaded = await chat(["--model", models.tinyPhi4], [`/load ${file}`, "/exit"]);
    expect(loaded.stdout).toContain(`[loaded 0 messages from ${file}]`);
  });

  describe("with MCP tools", () => {
    let claude: MockAnthropic;
    beforeAll(async () => {
      claude = await startMockAnthropic();
    });
    afterAll(() => claude?.close());

    it("runs the model's tool calls through MCP and prints calls, results and the answer", async () => {
      const mcpConfig = path.join(dir, "mcp.json");
      const routerConfig = path.join(dir, "router.json");
      await writeFile(mcpConfig, JSON.stringify({ mcpServers: { everything: everythingServer() } }));
      // The echo tool's schema outgrows tiny-phi4's context, so the router sends the turns to Claude.
      await writeFile(
        routerConfig,
        JSON.stringify({
          providers: { local: { type: "local" }, claude: { type: "anthropic", model: "claude-test", baseURL: claude.url, apiKey: "k", maxRetries: 0 } },
        }),
      );
      claude.enqueue(toolUse({ name: "mcp__everything__echo", input: { message: "ping" } }), text("It said ping."));
      const { code, stdout, stderr } = await chat(["--model", models.tinyPhi4, "--mcp-config", mcpConfig, "--router", routerConfig], ["Echo ping", "/stats"]);
      expect(code).toBe(0);
      expect(stderr).toMatch(/\d+ tools; \/help/);
      expect(stderr).toMatch(/\[claude: .*\]/);
      expect(stdout).toContain('-> mcp__everything__echo {"message":"ping"}');
      expect(stdout).toContain("<- Echo: ping");
      expect(stdout).toContain("It said ping.");
      expect(stdout).toMatch(/^routing: claude 2 requests, 0 fallbacks$/m);
      expect(claude.requests.at(-1)!.body.messages.at(-1).content[0]).toMatchObject({ type: "tool_result", content: [{ type: "text", text: "Echo: ping" }] });
    });
  });
});
