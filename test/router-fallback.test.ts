/**
 * The router end to end: the real local model (tiny-phi4), Claude through the real SDK against a
 * loopback Messages server, and an OpenAI-compatible loopback server; routing decisions, fallbacks
 * both ways, privacy, overflow and metrics.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import { collectMessage } from "../lib/providers/accumulate.js";
import { AnthropicProvider } from "../lib/providers/anthropic.js";
import { LocalProvider } from "../lib/providers/local.js";
import { OpenAICompatibleProvider } from "../lib/providers/openai-compatible.js";
import type { MessageRequest, StreamEvent } from "../lib/messages/types.js";
import type { Provider } from "../lib/providers/types.js";
import type { RouteDecision } from "../lib/providers/routing.js";
import { Router, RouterError, type RouterOptions } from "../lib/router/router.js";
import { startMockAnthropic, text, toolUse, type MockAnthropic } from "./helpers/mock-anthropic.js";
import { startMockOpenAI, type MockOpenAI } from "./helpers/mock-openai.js";

const models = inject("models");
const price = { inputPerMTok: 3, outputPerMTok: 15 };
let model: Model;
let claudeServer: MockAnthropic;
let local: LocalProvider;
let claude: AnthropicProvider;

beforeAll(async () => {
  model = await loadModel(models.tinyPhi4, { threads: 1 });
  claudeServer = await startMockAnthropic();
  local = new LocalProvider(model, { capacity: 256 });
  claude = new AnthropicProvider({ baseURL: claudeServer.url, apiKey: "sk-test", model: "claude-test", maxRetries: 0 });
});
afterAll(async () => {
  await claudeServer?.close();
  await model?.dispose();
});

let claudeRequestsBefore = 0;
beforeEach(() => {
  claudeRequestsBefore = claudeServer.requests.length;
});
const claudeRequests = () => claudeServer.requests.length - claudeRequestsBefore;

const ask = (max_tokens = 8, content = "Say hi"): MessageRequest => ({ max_tokens, temperature: 0, messages: [{ role: "user", content }] });
/** A local provider whose capacity the prompt below does not fit, though the router's estimate (at 1000 chars per token) says it does. */
const tooSmall = () => new LocalProvider(model, { name: "local", capacity: 12 });
const longAsk = () => ask(2, "Please say hello to everyone in the room today, and then tell them all about the weather");
const makeRouter = (options: Partial<RouterOptions> = {}) => new Router({ providers: [local, claude], prices: { claude: price }, ...options });

/** Runs one routed request, collecting its decisions. */
async function routed(router: Router, request: MessageRequest, hints = {}) {
  const decisions: RouteDecision[] = [];
  const message = await router.create(request, { hints, onRoute: (d) => decisions.push(d) });
  return { message, decisions };
}

describe("router: local first", () => {
  it("serves a plain request locally, records why, and counts the cost avoided", async () => {
    const router = makeRouter();
    const { message, decisions } = await routed(router, ask());
    expect(message.model).toBe("tiny-phi4");
    expect(claudeRequests()).toBe(0);
    expect(decisions).toEqual([expect.objectContaining({ kind: "route", provider: "local", chain: ["local", "claude"], rule: "local_first" })]);
    expect(router.decisions).toEqual(decisions);
    const metrics = router.metrics.snapshot();
    expect(metrics.providers.local).toMatchObject({
      requests: 1,
      errors: 0,
      tokens: { input: message.usage.input_tokens, output: message.usage.output_tokens },
    });
    expect(metrics.providers.local.latencyMs.p50).toBeGreaterThan(0);
    expect(metrics.costAvoidedUsd).toBeCloseTo((message.usage.input_tokens * 3 + message.usage.output_tokens * 15) / 1e6, 12);
  });
});

describe("router: fallback local -> Claude", () => {
  it("falls back when the local attempt fails", async () => {
    // The estimate says it fits (very few chars per token), the real prompt does not: local fails.
    const router = new Router({ providers: [tooSmall(), claude], rules: { charsPerToken: 1000 } });
    claudeServer.enqueue(text("Hello from Claude"));
    const { message, decisions } = await routed(router, longAsk());
    expect(message.content).toEqual([{ type: "text", text: "Hello from Claude" }]);
    expect(claudeRequests()).toBe(1);
    expect(decisions.map((d) => d.kind)).toEqual(["route", "fallback"]);
    expect(decisions[1]).toMatchObject({ from: "local", provider: "claude", failure: "error" });
    expect(decisions[1].reason).toMatch(/context|capacity/);
    expect(router.metrics.snapshot().providers.local).toMatchObject({ requests: 1, errors: 1, fallbacks: 1 });
  });

  it("falls back on a local timeout, and a stream shows nothing of the attempt that failed", async () => {
    const router = makeRouter({ attemptTimeoutMs: { local: 1 } });
    claudeServer.enqueue(text("Claude was quicker"));
    const events: StreamEvent[] = [];
    const decisions: RouteDecision[] = [];
    for await (const event of router.stream(ask(200), { onRoute: (d) => decisions.push(d) })) events.push(event);
    expect(decisions[1]).toMatchObject({ kind: "fallback", from: "local", failure: "timeout", reason: "timeout: no answer within 1 ms" });
    expect(events.filter((e) => e.type === "message_start")).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: "message_start", message: { model: "claude-test" } });
    expect(router.metrics.snapshot().providers.local).toMatchObject({ timeouts: 1, fallbacks: 1 });
  });

  it("falls back when a local server's tool call fails validation", async () => {
    // A llama.cpp-style server on this machine (loopback, so "local") that gets the arguments wrong.
    const server: MockOpenAI = await startMockOpenAI();
    try {
      const onMachine: Provider = new OpenAICompatibleProvider({ name: "llamacpp", baseURL: `${server.url}/v1`, model: "phi-4" });
      expect(onMachine.locality).toBe("local");
      const router = new Router({ providers: [onMachine, claude] });
      const request: MessageRequest = {
        ...ask(64, "What is 2 + 3?"),
        tools: [{ name: "add", input_schema: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } }, required: ["a", "b"] } }],
        tool_choice: { type: "any" },
      };
      server.enqueue({ toolCalls: [{ name: "add", arguments: '{"a": "two"}' }] });
      claudeServer.enqueue(toolUse({ name: "add", input: { a: 2, b: 3 } }));
      const { message, decisions } = await routed(router, request);
      expect(message.content).toMatchObject([{ type: "tool_use", name: "add", input: { a: 2, b: 3 } }]);
      expect(decisions[1]).toMatchObject({ kind: "fallback", from: "llamacpp", failure: "invalid_output" });
      expect(decisions[1].reason).toContain("does not match its schema");
      expect(router.metrics.snapshot().providers.llamacpp).toMatchObject({ invalidOutputs: 1, fallbacks: 1 });
    } finally {
      await server.close();
    }
  });
});

describe("router: Claude first, local as fallback", () => {
  it("sends high complexity to Claude and falls back to local on 529 overloaded", async () => {
    const router = makeRouter();
    claudeServer.enqueue({ status: 529, errorType: "overloaded_error", message: "Overloaded" });
    const { message, decisions } = await routed(router, ask(), { complexity: "high" });
    expect(message.model).toBe("tiny-phi4");
    expect(claudeRequests()).toBe(1);
    expect(decisions[0]).toMatchObject({ kind: "route", provider: "claude", rule: "complexity", chain: ["claude", "local"] });
    expect(decisions[1]).toMatchObject({ kind: "fallback", from: "claude", provider: "local", failure: "error" });
    expect(decisions[1].reason).toContain("529");
    expect(router.metrics.snapshot().providers.claude).toMatchObject({ requests: 1, errors: 1, fallbacks: 1, costUsd: 0 });
  });

  it("falls back to local when Claude does not answer in time", async () => {
    const router = makeRouter({ attemptTimeoutMs: { claude: 200 } });
    claudeServer.enqueue({ ...text("too late"), delayMs: 5000 });
    const started = Date.now();
    const { message, decisions } = await routed(router, ask(), { multiStep: true });
    expect(Date.now() - started).toBeLessThan(4000);
    expect(message.model).toBe("tiny-phi4");
    expect(decisions[0]).toMatchObject({ rule: "multi_step" });
    expect(decisions[1]).toMatchObject({ from: "claude", failure: "timeout" });
  });
});

describe("router: privacy high", () => {
  it("answers locally and never calls Claude, even when the local model fails", async () => {
    const router = makeRouter();
    const { message } = await routed(router, ask(), { privacy: "high" });
    expect(message.model).toBe("tiny-phi4");

    const failing = new Router({ providers: [tooSmall(), claude] });
    const decisions: RouteDecision[] = [];
    const error = await failing.create(longAsk(), { hints: { privacy: "high" }, onRoute: (d) => decisions.push(d) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RouterError);
    expect((error as RouterError).attempts).toEqual([expect.objectContaining({ provider: "local", failure: "error" })]);
    expect(decisions.map((d) => d.kind)).toEqual(["route", "exhausted"]);
    expect(decisions[0]).toMatchObject({ rule: "privacy", chain: ["local"] });
    expect(decisions[1].reason).toContain("privacy high");
    // Also when privacy comes from the config's default, and for a streamed request.
    const strict = new Router({ providers: [tooSmall(), claude], rules: { defaultPrivacy: "high" } });
    await expect(collectMessage("router", strict.stream(longAsk()))).rejects.toBeInstanceOf(RouterError);
    expect(claudeRequests()).toBe(0);
  });

  it("refuses without calling anyone when no local provider exists", async () => {
    const cloudOnly = new Router({ providers: [claude] });
    await expect(cloudOnly.create(ask(), { hints: { privacy: "high" } })).rejects.toThrow(/no provider qualifies/);
    expect(claudeRequests()).toBe(0);
  });
});

describe("router: overflow and fallback switches", () => {
  it("overflows to Claude when the local queue is full, and when local latency is too high", async () => {
    const queued = makeRouter({ rules: { maxLocalQueueDepth: 1 } });
    claudeServer.enqueue(text("overflow"));
    const busy = routed(queued, ask(32));
    const overflow = await routed(queued, ask());
    expect(overflow.decisions[0]).toMatchObject({ rule: "queue_overflow", provider: "claude" });
    expect(overflow.message.content).toEqual([{ type: "text", text: "overflow" }]);
    expect((await busy).decisions[0]).toMatchObject({ rule: "local_first" });

    const slow = makeRouter({ rules: { maxLocalLatencyMs: 0.001 } });
    claudeServer.enqueue(text("faster"));
    expect((await routed(slow, ask())).decisions[0]).toMatchObject({ rule: "local_first" });
    expect((await routed(slow, ask())).decisions[0]).toMatchObject({ rule: "latency_overflow", provider: "claude" });
  });

  it("does not fall back on a failure kind the config excludes", async () => {
    const router = new Router({ providers: [tooSmall(), claude], rules: { charsPerToken: 1000 }, fallbackOn: { error: false } });
    await expect(router.create(longAsk())).rejects.toBeInstanceOf(RouterError);
    expect(claudeRequests()).toBe(0);
    expect(router.metrics.snapshot().providers.local).toMatchObject({ errors: 1, fallbacks: 0 });
  });
});
