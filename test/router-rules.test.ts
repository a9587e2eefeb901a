/** The routing rules (a pure function of request, hints, providers and load) and the router config. */
import { describe, expect, it } from "vitest";

import type { MessageRequest } from "../lib/messages/types.js";
import { parseRouterConfig } from "../lib/router/config.js";
import { createRouter } from "../lib/router/from-config.js";
import { RouterMetrics } from "../lib/router/metrics.js";
import { DEFAULT_RULES, estimateTokens, planRoute, type LocalLoad, type ProviderTraits, type RoutingRules } from "../lib/router/rules.js";

const local: ProviderTraits = { name: "local", locality: "local", contextTokens: 4096 };
const claude: ProviderTraits = { name: "claude", locality: "remote" };
const gpu: ProviderTraits = { name: "gpu", locality: "remote" };
const providers = [local, claude, gpu];
const idle: LocalLoad = { queueDepth: 0, medianLatencyMs: undefined };

const ask = (content = "hello", max_tokens = 100): MessageRequest => ({ max_tokens, messages: [{ role: "user", content }] });

function plan(request: MessageRequest, hints = {}, rules: Partial<RoutingRules> = {}, load = idle) {
  const result = planRoute(request, hints, providers, { ...DEFAULT_RULES, ...rules }, load);
  return { chain: result.chain.map((p) => p.name), rule: result.rule, reason: result.reason };
}

const toolRound = (id: string): MessageRequest["messages"] => [
  { role: "assistant", content: [{ type: "tool_use", id, name: "t", input: {} }] },
  { role: "user", content: [{ type: "tool_result", tool_use_id: id, content: "ok" }] },
];

describe("routing rules", () => {
  it("runs locally first by default, the remote providers as fallbacks in config order", () => {
    expect(plan(ask())).toEqual({ chain: ["local", "claude", "gpu"], rule: "local_first", reason: "local first" });
  });

  it("privacy high keeps the request on local providers only, whatever else applies", () => {
    const huge = ask("x".repeat(100_000));
    expect(plan(huge, { privacy: "high", complexity: "high", multiStep: true })).toMatchObject({ chain: ["local"], rule: "privacy" });
    expect(plan(ask(), {}, { defaultPrivacy: "high" })).toMatchObject({ chain: ["local"], rule: "privacy" });
    expect(plan(ask(), { privacy: "normal" }, { defaultPrivacy: "high" }).rule).toBe("local_first");
  });

  it("sends a context beyond the local capacity to the remote providers only", () => {
    const result = plan(ask("word ".repeat(3000)));
    expect(result).toMatchObject({ chain: ["claude", "gpu"], rule: "context" });
    expect(result.reason).toContain("4096");
    // The output reserve counts: a prompt that fits but leaves no room to answer goes remote too.
    expect(plan(ask("word ".repeat(2350), 1000)).rule).toBe("context");
    expect(plan(ask("word ".repeat(2350), 1000), {}, { localOutputReserve: 16 }).rule).toBe("local_first");
  });

  it("prefers the remote model for multi-step tool loops and high complexity, local as fallback", () => {
    expect(plan(ask(), { multiStep: true })).toMatchObject({ chain: ["claude", "gpu", "local"], rule: "multi_step" });
    const oneRound: MessageRequest = { max_tokens: 100, messages: [{ role: "user", content: "go" }, ...toolRound("a")] };
    expect(plan(oneRound).rule).toBe("local_first");
    const twoRounds: MessageRequest = { ...oneRound, messages: [...oneRound.messages, ...toolRound("b")] };
    expect(plan(twoRounds)).toMatchObject({ rule: "multi_step", reason: "2 tool rounds so far: a multi-step tool loop" });
    expect(plan(ask(), { complexity: "high" })).toMatchObject({ chain: ["claude", "gpu", "local"], rule: "complexity" });
    expect(plan(ask(), { complexity: "medium" }).rule).toBe("local_first");
    expect(plan(ask(), { complexity: "medium" }, { remoteComplexity: ["medium", "high"] }).rule).toBe("complexity");
  });

  it("overflows to the remote providers when the local queue or latency is beyond its limit", () => {
    expect(plan(ask(), {}, { maxLocalQueueDepth: 2 }, { queueDepth: 2, medianLatencyMs: undefined })).toMatchObject({
      chain: ["claude", "gpu", "local"],
      rule: "queue_overflow",
    });
    expect(plan(ask(), {}, { maxLocalQueueDepth: 2 }, { queueDepth: 1, medianLatencyMs: undefined }).rule).toBe("local_first");
    expect(plan(ask(), {}, { maxLocalLatencyMs: 500 }, { queueDepth: 0, medianLatencyMs: 900 })).toMatchObject({ rule: "latency_overflow" });
    expect(plan(ask(), {}, { maxLocalLatencyMs: 500 }, { queueDepth: 0, medianLatencyMs: 100 }).rule).toBe("local_first");
  });

  it("estimates prompt tokens from everything the model reads", () => {
    const request: MessageRequest = { ...ask("a".repeat(300)), system: "s".repeat(300), tools: [{ name: "t", input_schema: { type: "object" } }] };
    expect(estimateTokens(request, 3)).toBeGreaterThan(200);
    expect(estimateTokens(request, 3)).toBeLessThan(250);
  });
});

describe("router metrics", () => {
  it("percentiles, tokens, costs and cost avoided at the reference price", () => {
    const metrics = new RouterMetrics({ claude: { inputPerMTok: 3, outputPerMTok: 15 } }, { inputPerMTok: 3, outputPerMTok: 15 });
    for (const ms of [10, 20, 30, 40, 100]) metrics.success("local", true, ms, { input_tokens: 1000, output_tokens: 100 });
    metrics.success("claude", false, 500, { input_tokens: 2000, output_tokens: 200 });
    metrics.failure("claude", "timeout", true);
    const snapshot = metrics.snapshot();
    expect(snapshot.providers.local).toEqual({
      requests: 5,
      errors: 0,
      timeouts: 0,
      invalidOutputs: 0,
      fallbacks: 0,
      latencyMs: { p50: 30, p95: 100 },
      tokens: { input: 5000, output: 500 },
      costUsd: 0,
    });
    expect(snapshot.providers.claude).toMatchObject({ requests: 2, errors: 1, timeouts: 1, fallbacks: 1, costUsd: (2000 * 3 + 200 * 15) / 1e6 });
    expect(snapshot.costAvoidedUsd).toBeCloseTo((5000 * 3 + 500 * 15) / 1e6, 12);
    expect(metrics.medianLatency(["local"])).toBe(30);
  });
});

describe("router config", () => {
  const json = {
    providers: {
      claude: {
        type: "anthropic",
        model: "claude-sonnet-4-5",
        apiKey: "${TEST_KEY}",
        baseURL: "${CLAUDE_URL:-https://api.anthropic.com}",
        timeoutMs: 30000,
        price: { inputPerMTok: 3, outputPerMTok: 15 },
      },
      gpu: { type: "openai", baseURL: "http://gpu.example.com:8000/v1", model: "phi-4", timeoutMs: 10000 },
    },
    rules: { multiStepToolRounds: 1, maxLocalLatencyMs: 20000 },
    fallbackOn: { invalid_output: false },
  };

  it("validates, substitutes ${VAR} and builds the providers in order", () => {
    const config = parseRouterConfig(json, { TEST_KEY: "sk-123" });
    expect(config.providers.claude).toMatchObject({ apiKey: "sk-123", baseURL: "https://api.anthropic.com" });
    const router = createRouter(config);
    expect(router.locality).toBe("remote");
    expect(router.name).toBe("router");
  });

  it("says what is wrong", () => {
    expect(() => parseRouterConfig(json, {})).toThrow(/TEST_KEY is not set/);
    expect(() => parseRouterConfig({ providers: { x: { type: "bedrock" } } })).toThrow(/invalid router config/);
    expect(() => parseRouterConfig({ ...json, rules: { maxLocalQueueDepth: 0 } }, { TEST_KEY: "k" })).toThrow(/maxLocalQueueDepth/);
    expect(() => parseRouterConfig({ providers: {} })).toThrow(/at least one provider/);
    expect(() => createRouter(parseRouterConfig({ providers: { local: { type: "local" } } }))).toThrow(/--model/);
  });
});
