/**
 * What Claude Code (2.1.197, headless `claude -p`) sends to `phi4 serve`, replayed without Claude Code
 * itself (see docs/server.md, Tested with Claude Code): a HEAD / before the first request, the
 * `?beta=true` query, its beta headers and body fields, a system message inside the conversation, and
 * a status line that must not wait for a long prefill (Claude Code times out waiting for headers).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import { ProviderError } from "../lib/providers/errors.js";
import type { MessageRequest, MessageResponse, StreamEvent } from "../lib/messages/types.js";
import type { Provider } from "../lib/providers/types.js";
import { startServer, type Phi4Server } from "../lib/server/index.js";

const models = inject("models");
let model: Model;
let server: Phi4Server;

beforeAll(async () => {
  model = await loadModel(models.tinyPhi4, { threads: 1 });
  server = await startServer({ model, port: 0, maxConcurrency: 2 });
});
afterAll(async () => {
  await server?.close();
  await model?.dispose();
});

const CLAUDE_CODE_HEADERS = {
  "content-type": "application/json",
  authorization: "Bearer x",
  "anthropic-version": "2023-06-01",
  "anthropic-beta":
    "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,prompt-caching-scope-2026-01-05,mid-conversation-system-2026-04-07,effort-2025-11-24",
  "x-app": "cli",
};

async function post(base: string, route: string, body: object): Promise<Response> {
  return fetch(`${base}${route}`, { method: "POST", headers: CLAUDE_CODE_HEADERS, body: JSON.stringify(body) });
}

async function countTokens(body: object): Promise<number> {
  const res = await post(server.url, "/v1/messages/count_tokens?beta=true", { model: "phi4", ...body });
  expect(res.status).toBe(200);
  return ((await res.json()) as { input_tokens: number }).input_tokens;
}

describe("Claude Code's requests", () => {
  it("HEAD / (its connection check) and HEAD on the GET routes answer 200 without a body", async () => {
    for (const route of ["/", "/health", "/v1/models"]) {
      const res = await fetch(`${server.url}${route}`, { method: "HEAD" });
      expect(res.status, route).toBe(200);
      expect(await res.text()).toBe("");
    }
    const root = await fetch(server.url);
    expect(await root.json()).toMatchObject({ status: "ok", model: "tiny-phi4" });
    expect((await fetch(`${server.url}/nowhere`, { method: "HEAD" })).status).toBe(404);
  });

  it("a streamed turn with its body fields, beta headers and a system message inside the conversation", async () => {
    const res = await post(server.url, "/v1/messages?beta=true", {
      model: "claude-sonnet-4-5",
      max_tokens: 8,
      temperature: 0,
      stream: true,
      thinking: { type: "adaptive" },
      context_management: { edits: [{ type: "clear_thinking_20251015", keep: "all" }] },
      output_config: { effort: "high" },
      metadata: { user_id: '{"device_id":"0","session_id":"1"}' },
      system: [
        { type: "text", text: "x-anthropic-billing-header: cc_version=2.1.197;" },
        { type: "text", text: "You are a Claude agent.", cache_control: { type: "ephemeral" } },
      ],
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "<system-reminder>date</system-reminder>" },
            { type: "text", text: "say hi", cache_control: { type: "ephemeral" } },
          ],
        },
        { role: "system", content: "Available agent types: claude." },
      ],
    });
    expect(res.status).toBe(200);
    const types = [...(await res.text()).matchAll(/^event: (\S+)$/gm)].map((m) => m[1]).filter((t) => t !== "ping");
    expect(types[0]).toBe("message_start");
    expect(types.slice(-2)).toEqual(["message_delta", "message_stop"]);
  });

  it("folds a system message into the user turn before it, else the next user turn (after its tool results), else a user turn of its own", async () => {
    const tool = { name: "get_time", description: "The time", input_schema: { type: "object", properties: {} } };
    const call = { type: "tool_use", id: "toolu_1", name: "get_time", input: {} };
    const result = { type: "tool_result", tool_use_id: "toolu_1", content: "noon" };
    expect(
      await countTokens({
        messages: [
          { role: "user", content: "hi" },
          { role: "system", content: "Be brief." },
        ],
      }),
    ).toBe(
      await countTokens({
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "hi" },
              { type: "text", text: "Be brief." },
            ],
          },
        ],
      }),
    );
    expect(
      await countTokens({
        tools: [tool],
        messages: [
          { role: "user", content: "time?" },
          { role: "assistant", content: [call] },
          { role: "system", content: [{ type: "text", text: "Be brief." }] },
          { role: "user", content: [result] },
        ],
      }),
    ).toBe(
      await countTokens({
        tools: [tool],
        messages: [
          { role: "user", content: "time?" },
          { role: "assistant", content: [call] },
          { role: "user", content: [result, { type: "text", text: "Be brief." }] },
        ],
      }),
    );
    expect(
      await countTokens({
        messages: [
          { role: "user", content: "hi" },
          { role: "assistant", content: "hello" },
          { role: "system", content: "Be brief." },
        ],
      }),
    ).toBe(
      await countTokens({
        messages: [
          { role: "user", content: "hi" },
          { role: "assistant", content: "hello" },
          { role: "user", content: "Be brief." },
        ],
      }),
    );
    const bad = await post(server.url, "/v1/messages/count_tokens", {
      messages: [{ role: "system", content: [{ type: "image", source: { type: "url", url: "x" } }] }],
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/^messages\.0\.content/);
  });
});

/** A provider whose stream waits `delayMs`, then answers "hi" or throws `error`. */
function slowProvider(delayMs: number, error?: Error): Provider {
  const message: MessageResponse = {
    id: "msg_1",
    type: "message",
    role: "assistant",
    content: [{ type: "text", text: "hi" }],
    model: "slow",
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: { input_tokens: 1, output_tokens: 1 },
  };
  return {
    name: "slow",
    locality: "remote",
    create: async () => message,
    async *stream(_request: MessageRequest): AsyncIterable<StreamEvent> {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (error) throw error;
      yield { type: "message_start", message: { ...message, content: [], stop_reason: null } };
      yield { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 1 } };
      yield { type: "message_stop" };
    },
  };
}

describe("the status line of a stream whose first event is slow (a long prefill)", () => {
  const request = { model: "phi4", max_tokens: 8, stream: true, messages: [{ role: "user", content: "hi" }] };

  async function serve(provider: Provider, run: (base: string) => Promise<void>): Promise<void> {
    const slow = await startServer({ model, provider, port: 0, firstEventWaitMs: 100 });
    try {
      await run(slow.url);
    } finally {
      await slow.close();
    }
  }

  it("goes out after firstEventWaitMs, before the first event, and the events follow", async () => {
    await serve(slowProvider(1_000), async (base) => {
      const start = performance.now();
      const res = await post(base, "/v1/messages", request);
      expect(performance.now() - start).toBeLessThan(800);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
      const body = await res.text();
      expect(performance.now() - start).toBeGreaterThanOrEqual(900);
      expect([...body.matchAll(/^event: (\S+)$/gm)].map((m) => m[1])).toEqual(["message_start", "message_delta", "message_stop"]);
    });
  });

  it("an error within the wait is still an HTTP status; one after it is an error event", async () => {
    await serve(slowProvider(0, new ProviderError("slow", "context_exceeded", "prompt is too long: 9 tokens > 8 maximum")), async (base) => {
      const res = await post(base, "/v1/messages", request);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    });
    await serve(slowProvider(400, new ProviderError("slow", "overloaded", "busy")), async (base) => {
      const res = await post(base, "/v1/messages", request);
      expect(res.status).toBe(200);
      const body = await res.text();
      expect(body).toMatch(/^event: error\ndata: \{"type":"error","error":\{"type":"overloaded_error"/m);
    });
  });
});
