/** OpenAICompatibleProvider: the Messages <-> chat-completions mapping, and the real HTTP exchange with a loopback server. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { collectMessage } from "../lib/providers/accumulate.js";
import { ProviderError } from "../lib/providers/errors.js";
import { OpenAICompatibleProvider } from "../lib/providers/openai-compatible.js";
import { toOpenAIRequest } from "../lib/providers/openai-format.js";
import { readServerSentEvents } from "../lib/providers/sse.js";
import type { MessageRequest } from "../lib/messages/types.js";
import { startMockOpenAI, type MockOpenAI } from "./helpers/mock-openai.js";

const addTool = { name: "add", description: "Adds", input_schema: { type: "object" as const, properties: { a: { type: "number" }, b: { type: "number" } } } };

const conversation: MessageRequest = {
  max_tokens: 100,
  system: [{ type: "text", text: "Be brief." }],
  temperature: 0.2,
  stop_sequences: ["\n\n"],
  tools: [addTool],
  tool_choice: { type: "tool", name: "add", disable_parallel_tool_use: true },
  messages: [
    { role: "user", content: [{ type: "text", text: "Add these " }, { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBOR" } }] },
    { role: "assistant", content: [{ type: "text", text: "Adding." }, { type: "tool_use", id: "toolu_1", name: "add", input: { a: 2, b: 3 } }] },
    { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "5" }] }, { type: "text", text: "And now?" }] },
    { role: "assistant", content: [{ type: "tool_use", id: "toolu_2", name: "add", input: {} }] },
    { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_2", content: "missing a", is_error: true }] },
  ],
};

describe("Messages -> chat completions", () => {
  it("maps system, images, tool_use / tool_result turns, tools and tool_choice", () => {
    const body = toOpenAIRequest("gpu", conversation, "phi-4", true);
    expect(body.messages).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: [{ type: "text", text: "Add these " }, { type: "image_url", image_url: { url: "data:image/png;base64,iVBOR" } }] },
      { role: "assistant", content: "Adding.", tool_calls: [{ id: "toolu_1", type: "function", function: { name: "add", arguments: '{"a":2,"b":3}' } }] },
      { role: "tool", tool_call_id: "toolu_1", content: "5" },
      { role: "user", content: "And now?" },
      { role: "assistant", content: null, tool_calls: [{ id: "toolu_2", type: "function", function: { name: "add", arguments: "{}" } }] },
      { role: "tool", tool_call_id: "toolu_2", content: "Error: missing a" },
    ]);
    expect(body).toMatchObject({
      model: "phi-4",
      max_tokens: 100,
      temperature: 0.2,
      stop: ["\n\n"],
      tools: [{ type: "function", function: { name: "add", description: "Adds", parameters: addTool.input_schema } }],
      tool_choice: { type: "function", function: { name: "add" } },
      parallel_tool_calls: false,
      stream: true,
      stream_options: { include_usage: true },
    });
    const choice = (tool_choice: MessageRequest["tool_choice"]) => toOpenAIRequest("gpu", { ...conversation, tool_choice }, "m", false).tool_choice;
    expect([choice({ type: "auto" }), choice({ type: "any" }), choice({ type: "none" })]).toEqual(["auto", "required", "none"]);
  });
});

describe("server-sent events", () => {
  it("handles CRLF, comments, multi-line data and events split across chunks", async () => {
    const raw = ": keep-alive\r\nevent: a\r\ndata: one\r\ndata: two\r\n\r\ndata: {\"x\":1}\n\ndata: last";
    const bytes = new TextEncoder().encode(raw);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 5) controller.enqueue(bytes.slice(i, i + 5));
        controller.close();
      },
    });
    const events = [];
    for await (const event of readServerSentEvents(body)) events.push(event);
    expect(events).toEqual([{ event: "a", data: "one\ntwo" }, { event: undefined, data: '{"x":1}' }, { event: undefined, data: "last" }]);
  });
});

describe("OpenAICompatibleProvider", () => {
  let server: MockOpenAI;
  let provider: OpenAICompatibleProvider;
  const ask: MessageRequest = { max_tokens: 50, messages: [{ role: "user", content: "2 + 3?" }], tools: [addTool] };

  beforeAll(async () => {
    server = await startMockOpenAI();
    provider = new OpenAICompatibleProvider({ name: "gpu", baseURL: `${server.url}/v1`, model: "phi-4", apiKey: "key-1" });
  });
  afterAll(() => server.close());

  it("create maps text and tool_calls back to content blocks, stop reasons and usage", async () => {
    server.enqueue({ content: "Five." });
    expect(await provider.create(ask)).toMatchObject({ content: [{ type: "text", text: "Five." }], stop_reason: "end_turn", usage: { input_tokens: 11, output_tokens: 7 }, model: "phi-4" });
    expect(server.requests.at(-1)!.headers.authorization).toBe("Bearer key-1");

    // Ollama reports finish_reason "stop" even when it calls tools: the calls decide.
    server.enqueue({ toolCalls: [{ name: "add", arguments: '{"a":2,"b":3}', id: "call_9" }], finishReason: "stop" });
    const call = await provider.create(ask);
    expect(call.content).toEqual([{ type: "tool_use", id: "call_9", name: "add", input: { a: 2, b: 3 } }]);
    expect(call.stop_reason).toBe("tool_use");

    server.enqueue({ content: "cut", finishReason: "length" });
    expect((await provider.create(ask)).stop_reason).toBe("max_tokens");
  });

  it("streams content and tool-call deltas as Messages events", async () => {
    server.enqueue({ content: "Let me add.", toolCalls: [{ name: "add", arguments: '{"a":2,"b":3}' }, { name: "add", arguments: '{"a":1,"b":1}' }] });
    const message = await collectMessage("gpu", provider.stream(ask));
    expect(message.content).toEqual([
      { type: "text", text: "Let me add." },
      { type: "tool_use", id: expect.any(String), name: "add", input: { a: 2, b: 3 } },
      { type: "tool_use", id: expect.any(String), name: "add", input: { a: 1, b: 1 } },
    ]);
    expect(message).toMatchObject({ stop_reason: "tool_use", usage: { input_tokens: 11, output_tokens: 7 } });
    expect(server.requests.at(-1)!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it("reports HTTP errors, broken arguments, unreachable servers and its locality", async () => {
    server.enqueue({ status: 503, message: "model is loading" });
    const error = await provider.create(ask).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ kind: "http", status: 503 });
    expect((error as Error).message).toContain("model is loading");

    server.enqueue({ toolCalls: [{ name: "add", arguments: "{not json" }] });
    await expect(provider.create(ask)).rejects.toMatchObject({ kind: "invalid_response" });

    const closed = new OpenAICompatibleProvider({ baseURL: "http://127.0.0.1:9/v1", model: "m" });
    await expect(closed.create(ask)).rejects.toMatchObject({ kind: "network" });

    server.enqueue({ content: "late", delayMs: 2000 });
    const impatient = new OpenAICompatibleProvider({ baseURL: `${server.url}/v1`, model: "m", timeoutMs: 100 });
    await expect(collectMessage("m", impatient.stream(ask))).rejects.toMatchObject({ kind: "timeout" });

    expect(closed.locality).toBe("local");
    expect(new OpenAICompatibleProvider({ baseURL: "https://gpu.example.com/v1", model: "m" }).locality).toBe("remote");
  });
});
