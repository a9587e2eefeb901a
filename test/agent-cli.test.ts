/** phi4 agent, run as a user would (node bin/phi4.js from dist/), with a real MCP server and the loopback Claude. */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { everythingServer } from "./helpers/mcp-servers.js";
import { startMockAnthropic, text, toolUse, type MockAnthropic } from "./helpers/mock-anthropic.js";

const run = promisify(execFile);
const models = inject("models");
const bin = path.resolve("bin/phi4.js");
let dir: string;
let claude: MockAnthropic;
let mcpConfig: string;
let routerConfig: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "phi4-agent-cli-"));
  claude = await startMockAnthropic();
  mcpConfig = path.join(dir, "mcp.json");
  routerConfig = path.join(dir, "router.json");
  await writeFile(mcpConfig, JSON.stringify({ mcpServers: { everything: everythingServer() } }));
  await writeFile(
    routerConfig,
    JSON.stringify({
      providers: {
        local: { type: "local", capacity: 256 },
        claude: {
          type: "anthropic",
          model: "claude-test",
          baseURL: claude.url,
          apiKey: "${TEST_CLAUDE_KEY}",
          maxRetries: 0,
          price: { inputPerMTok: 3, outputPerMTok: 15 },
        },
      },
    }),
  );
});

afterAll(async () => {
  await claude?.close();
  await rm(dir, { recursive: true, force: true });
});

const env = { ...process.env, TEST_CLAUDE_KEY: "sk-cli" };
const phi4 = (...args: string[]) => run(process.execPath, [bin, "agent", ...args], { env, maxBuffer: 16 << 20 });

async function phi4Fails(...args: string[]): Promise<{ code: number; stderr: string }> {
  const error = await phi4(...args).then(
    () => undefined,
    (e: unknown) => e as { code: number; stderr: string },
  );
  if (!error) throw new Error("phi4 agent succeeded but should have failed");
  return error;
}

describe("phi4 agent", () => {
  it("--json prints one transcript object: final text, steps with tool calls and results, usage, routing", async () => {
    claude.enqueue(toolUse({ name: "mcp__everything__echo", input: { message: "from the CLI" } }), text("It echoed."));
    const before = claude.requests.length;
    const { stdout } = await phi4(
      "--model",
      models.tinyPhi4,
      "--mcp-config",
      mcpConfig,
      "--router",
      routerConfig,
      "--tool-choice",
      "mcp__everything__echo",
      "--allowed-tools",
      "mcp__everything__echo",
      "--complexity",
      "high",
      "--task",
      "Echo 'from the CLI'",
      "--json",
    );
    const lines = stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]);
    expect(Object.keys(out).sort()).toEqual(["finalText", "routing", "steps", "stopReason", "usage"]);
    expect(out.finalText).toBe("It echoed.");
    expect(out.steps).toHaveLength(2);
    expect(out.steps[0]).toEqual({
      provider: "claude",
      toolCalls: [{ type: "tool_use", id: expect.any(String), name: "mcp__everything__echo", input: { message: "from the CLI" } }],
      toolResults: [
        { tool_use_id: out.steps[0].toolCalls[0].id, name: "mcp__everything__echo", content: [{ type: "text", text: "Echo: from the CLI" }], is_error: false },
      ],
    });
    expect(out.usage.input_tokens).toBeGreaterThan(0);
    // The echo tool's schema alone outgrows tiny-phi4's 256-token context: Claude only.
    expect(out.routing[0]).toMatchObject({ kind: "route", provider: "claude", rule: "context", chain: ["claude"] });
    const sent = claude.requests.slice(before);
    expect(sent[0].body.tool_choice).toEqual({ type: "tool", name: "mcp__everything__echo" });
    expect(`${sent[0].headers["x-api-key"] ?? ""} ${sent[0].headers.authorization ?? ""}`).toContain("sk-cli");
  });

  it("with --privacy high nothing reaches Claude, and a failure is one clean line on stderr", async () => {
    const before = claude.requests.length;
    // Too small a capacity for the prompt: the local model fails, and privacy forbids the fallback.
    const tight = path.join(dir, "tight.json");
    await writeFile(
      tight,
      JSON.stringify({ providers: { local: { type: "local", capacity: 4 }, claude: { type: "anthropic", model: "c", baseURL: claude.url, apiKey: "k" } } }),
    );
    const { code, stderr } = await phi4Fails(
      "--model",
      models.tinyPhi4,
      "--mcp-config",
      mcpConfig,
      "--router",
      tight,
      "--allowed-tools",
      "none",
      "--privacy",
      "high",
      "--task",
      "Say hi",
    );
    expect(code).toBe(1);
    expect(stderr).toMatch(/^phi4 agent: no provider could answer: privacy high/m);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(claude.requests.length).toBe(before);
  });

  it("without --router the local model makes the forced call; the transcript streams as text", async () => {
    const { stdout, stderr } = await phi4(
      "--model",
      models.tinyPhi4,
      "--mcp-config",
      mcpConfig,
      "--tool-choice",
      "mcp__everything__echo",
      "--allowed-tools",
      "mcp__everything__echo",
      "--max-iterations",
      "2",
      "--max-tokens",
      "24",
      "--task",
      "Echo hello",
    );
    expect(stderr).toContain("[local: the only provider]");
    expect(stdout).toMatch(/-> mcp__everything__echo \{"message":/);
    expect(stdout).toMatch(/<- Echo: /);
    expect(stderr).toMatch(/\[(end_turn|max_tokens|max_iterations); 2 turns;/);
  });

  it("explains bad arguments and configs", async () => {
    expect((await phi4Fails("--mcp-config", mcpConfig)).stderr).toContain("--task is required");
    await writeFile(path.join(dir, "bad.json"), JSON.stringify({ mcpServers: { x: { type: "sse", url: "https://example.com" } } }));
    const bad = await phi4Fails("--model", models.tinyPhi4, "--mcp-config", path.join(dir, "bad.json"), "--task", "t");
    expect(bad.stderr).toMatch(/invalid MCP config[\s\S]*streamable HTTP/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });
});
