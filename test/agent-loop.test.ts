/**
 * The agent loop with real MCP servers (from node_modules, over stdio). The model side is Claude
 * through the real SDK against the loopback Messages server (which scripts the tool_use turns), the
 * router, and the local model.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";

import { runAgent } from "../lib/agent/loop.js";
import type { AgentEvent } from "../lib/agent/types.js";
import { loadModel, type Model } from "../lib/engine/model.js";
import { McpBridge } from "../lib/mcp/bridge.js";
import { AnthropicProvider } from "../lib/providers/anthropic.js";
import { LocalProvider } from "../lib/providers/local.js";
import { OpenAICompatibleProvider } from "../lib/providers/openai-compatible.js";
import { Router } from "../lib/router/router.js";
import { everythingServer } from "./helpers/mcp-servers.js";
import { startMockAnthropic, text, toolUse, type MockAnthropic } from "./helpers/mock-anthropic.js";
import { startMockOpenAI, type MockOpenAI } from "./helpers/mock-openai.js";

const models = inject("models");
let claudeServer: MockAnthropic;
let claude: AnthropicProvider;
let bridge: McpBridge;

beforeAll(async () => {
  claudeServer = await startMockAnthropic();
  claude = new AnthropicProvider({ baseURL: claudeServer.url, apiKey: "sk-test", model: "claude-test", maxRetries: 0 });
  bridge = new McpBridge({ mcpServers: { everything: everythingServer() } }, { callTimeoutMs: 1200 });
  await bridge.tools();
});
afterAll(async () => {
  await bridge?.close();
  await claudeServer?.close();
});

let seen = 0;
beforeEach(() => {
  seen = claudeServer.requests.length;
});
/** The request bodies Claude received during this test. */
const claudeBodies = () => claudeServer.requests.slice(seen).map((r) => r.body);

async function collect(run: AsyncIterable<AgentEvent>): Promise<AgentEvent[]> {
  const events: AgentEvent[] = [];
  for await (const event of run) events.push(event);
  return events;
}

describe("agent loop with Claude and real MCP tools", () => {
  it("runs parallel tool calls on the MCP server, sends the results back and ends with the answer", async () => {
    claudeServer.enqueue(
      toolUse({ name: "mcp__everything__get-sum", input: { a: 2, b: 3 } }, { name: "mcp__everything__echo", input: { message: "hi" } }),
      text("2 + 3 = 5, and the echo said hi."),
    );
    const run = runAgent({ provider: claude, tools: bridge, task: "Add 2 and 3, and echo hi.", system: "Use tools." });
    const events = await collect(run);
    const result = await run.result;

    expect(result.finalText).toBe("2 + 3 = 5, and the echo said hi.");
    expect(result.stopReason).toBe("end_turn");
    expect(result.steps).toHaveLength(2);
    expect(result.steps[0]).toMatchObject({ provider: "claude", stopReason: "tool_use" });
    expect(result.steps[0].toolResults).toEqual([
      {
        tool_use_id: result.steps[0].toolCalls[0].id,
        name: "mcp__everything__get-sum",
        content: [{ type: "text", text: "The sum of 2 and 3 is 5." }],
        is_error: false,
      },
      { tool_use_id: result.steps[0].toolCalls[1].id, name: "mcp__everything__echo", content: [{ type: "text", text: "Echo: hi" }], is_error: false },
    ]);
    expect(result.usage.input_tokens).toBe(result.steps[0].usage.input_tokens + result.steps[1].usage.input_tokens);
    expect(result.routing).toEqual([]);

    expect(events.map((e) => e.type)).toEqual(["provider_switch", "tool_call", "tool_call", "tool_result", "tool_result", "text", "text"]);
    expect(events[0]).toMatchObject({ from: null, to: "claude" });

    // What went over the wire: every MCP tool offered, then the results in one user turn.
    const [first, second] = claudeBodies();
    expect(first.tools.map((t: { name: string }) => t.name)).toContain("mcp__everything__get-sum");
    expect(first.system).toBe("Use tools.");
    expect(second.messages).toEqual(result.messages.slice(0, 3));
    expect(second.messages[2].content.map((b: { type: string; tool_use_id: string }) => [b.type, b.tool_use_id])).toEqual(
      result.steps[0].toolCalls.map((c) => ["tool_result", c.id]),
    );
    expect(result.messages).toHaveLength(4);
  });

  it("runs the calls of one turn in parallel", async () => {
    const slowCall = { name: "mcp__everything__trigger-long-running-operation", input: { duration: 0.8, steps: 1 } };
    claudeServer.enqueue(toolUse(slowCall, slowCall), text("done"));
    const started = Date.now();
    const result = await runAgent({ provider: claude, tools: bridge, task: "Run two slow operations." }).result;
    expect(result.steps[0].toolResults.every((r) => !r.is_error)).toBe(true);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it("forces the first turn's tool choice, offers only allowed tools, and refuses others", async () => {
    claudeServer.enqueue(toolUse({ name: "mcp__everything__get-env", input: {} }), text("ok"));
    const result = await runAgent({
      provider: claude,
      tools: bridge,
      task: "Echo something.",
      allowedTools: ["mcp__everything__echo"],
      toolChoice: { type: "tool", name: "mcp__everything__echo" },
    }).result;
    const [first, second] = claudeBodies();
    expect(first.tools.map((t: { name: string }) => t.name)).toEqual(["mcp__everything__echo"]);
    expect(first.tool_choice).toEqual({ type: "tool", name: "mcp__everything__echo" });
    expect(second.tool_choice).toEqual({ type: "auto" });
    expect(result.steps[0].toolResults[0]).toMatchObject({
      is_error: true,
      content: [{ type: "text", text: "tool mcp__everything__get-env is not available" }],
    });
  });

  it("feeds tool errors and timeouts back to the model as is_error results", async () => {
    claudeServer.enqueue(
      toolUse(
        { name: "mcp__everything__trigger-long-running-operation", input: { duration: 10, steps: 2 } },
        { name: "mcp__everything__get-sum", input: { a: "x" } },
      ),
      text("Both failed."),
    );
    const result = await runAgent({ provider: claude, tools: bridge, task: "Try." }).result;
    expect(result.finalText).toBe("Both failed.");
    const [timedOut, invalid] = claudeBodies()[1].messages[2].content;
    expect(timedOut).toMatchObject({
      type: "tool_result",
      is_error: true,
      content: [{ type: "text", text: expect.stringContaining("no result within 1200 ms") }],
    });
    expect(invalid).toMatchObject({ type: "tool_result", is_error: true });
  });

  it("stops at maxIterations without running the last turn's calls", async () => {
    const echo = toolUse({ name: "mcp__everything__echo", input: { message: "again" } });
    claudeServer.enqueue(echo, echo);
    const run = runAgent({ provider: claude, tools: bridge, task: "Loop.", maxIterations: 2 });
    const events = await collect(run);
    const result = await run.result;
    expect(result.stopReason).toBe("max_iterations");
    expect(result.steps).toHaveLength(2);
    expect(result.steps[1].toolResults).toEqual([]);
    expect(events.filter((e) => e.type === "tool_result")).toHaveLength(1);
  });

  it("stops on abort, keeping the transcript so far", async () => {
    claudeServer.enqueue(toolUse({ name: "mcp__everything__trigger-long-running-operation", input: { duration: 5, steps: 5 } }));
    const abort = new AbortController();
    const run = runAgent({ provider: claude, tools: bridge, task: "Wait.", signal: abort.signal });
    for await (const event of run) if (event.type === "tool_call") abort.abort();
    const result = await run.result;
    expect(result.stopReason).toBe("aborted");
    expect(result.steps).toHaveLength(0);
  });

  it("stops when the caller breaks out of its events, as on abort", async () => {
    claudeServer.enqueue(toolUse({ name: "mcp__everything__trigger-long-running-operation", input: { duration: 5, steps: 5 } }));
    const run = runAgent({ provider: claude, tools: bridge, task: "Wait." });
    for await (const event of run) if (event.type === "tool_call") break;
    const result = await run.result;
    expect(result.stopReason).toBe("aborted");
    expect(result.steps).toHaveLength(0);
    // The model was asked once: the loop did not go on to send the tool's result back.
    expect(claudeBodies()).toHaveLength(1);
  });
});

describe("agent loop through the router", () => {
  let gpu: MockOpenAI;
  beforeAll(async () => {
    gpu = await startMockOpenAI();
  });
  afterAll(() => gpu?.close());

  it("reports provider switches and each step's provider as the router falls back and routes again", async () => {
    const router = new Router({ providers: [claude, new OpenAICompatibleProvider({ name: "gpu", baseURL: `${gpu.url}/v1`, model: "phi-4" })] });
    claudeServer.enqueue({ status: 529, errorType: "overloaded_error", message: "Overloaded" }, text("The echo said hi."));
    gpu.enqueue({ toolCalls: [{ name: "mcp__everything__echo", arguments: '{"message":"hi"}' }] });
    const run = runAgent({ provider: router, tools: bridge, task: "Echo hi.", hints: { complexity: "high" }, allowedTools: ["mcp__everything__echo"] });
    const events = await collect(run);
    const result = await run.result;
    expect(events.filter((e) => e.type === "provider_switch").map((e) => e.type === "provider_switch" && [e.from, e.to])).toEqual([
      [null, "claude"],
      ["claude", "gpu"],
      ["gpu", "claude"],
    ]);
    expect(result.steps.map((s) => s.provider)).toEqual(["gpu", "claude"]);
    expect(result.steps[0].toolResults[0].content).toEqual([{ type: "text", text: "Echo: hi" }]);
    expect(result.routing.map((d) => d.kind)).toEqual(["route", "fallback", "route"]);
    expect(result.finalText).toBe("The echo said hi.");
  });
});

describe("agent loop on the local model", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(models.tinyPhi4, { threads: 1 });
  });
  afterAll(() => model?.dispose());

  it("makes a real MCP call from the local model with a forced tool choice", async () => {
    const local = new LocalProvider(model, { capacity: 256 });
    const run = runAgent({
      provider: local,
      tools: bridge,
      task: "Echo the word hello.",
      allowedTools: ["mcp__everything__echo"],
      toolChoice: { type: "tool", name: "mcp__everything__echo" },
      maxIterations: 2,
      // tiny-phi4 holds 256 tokens: the second turn repeats the call and its echo.
      maxTokens: 16,
      temperature: 0,
    });
    const events = await collect(run);
    const result = await run.result;
    const [first] = result.steps;
    expect(first).toMatchObject({ provider: "local", stopReason: "tool_use" });
    expect(first.toolCalls).toEqual([expect.objectContaining({ name: "mcp__everything__echo", input: { message: expect.any(String) } })]);
    // The echo server answered the model's own (random-weight) argument.
    expect(first.toolResults).toEqual([
      {
        tool_use_id: first.toolCalls[0].id,
        name: "mcp__everything__echo",
        content: [{ type: "text", text: `Echo: ${first.toolCalls[0].input.message}` }],
        is_error: false,
      },
    ]);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(["provider_switch", "tool_call", "tool_result"]));
    expect(result.steps).toHaveLength(2);
    expect(result.messages[2]).toMatchObject({ role: "user", content: [{ type: "tool_result", tool_use_id: first.toolCalls[0].id }] });
  });

  it("answers a task without tools in one local turn", async () => {
    const local = new LocalProvider(model, { capacity: 256 });
    const run = runAgent({ provider: local, tools: bridge, task: "Say hi", allowedTools: [], maxTokens: 6, temperature: 0 });
    const events = await collect(run);
    const result = await run.result;
    expect(result.steps).toHaveLength(1);
    expect(result.steps[0].provider).toBe("local");
    expect(["end_turn", "max_tokens"]).toContain(result.stopReason);
    expect(events[0]).toMatchObject({ type: "provider_switch", to: "local" });
    expect(
      events
        .filter((e) => e.type === "text")
        .map((e) => (e as { text: string }).text)
        .join(""),
    ).toBe(result.finalText);
  });
});
