/**
 * OpenAICompatibleProvider and the OpenAI mapping: the Messages <-> chat-completions mapping both ways,
 * the provider against a loopback mock (statuses, broken answers, timeouts, headers), and the provider
 * against this project's own /v1/chat/completions on tiny-phi4-long, whose answers must be the local
 * provider's own, through HTTP and back.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import { collectMessage } from "../lib/providers/accumulate.js";
import { ProviderError } from "../lib/providers/errors.js";
import { LocalProvider } from "../lib/providers/local.js";
import { OpenAICompatibleProvider } from "../lib/providers/openai-compatible.js";
import { fromOpenAIMessages, fromOpenAIToolChoice, toOpenAIRequest, toOpenAIToolChoice, type ChatInMessage } from "../lib/providers/openai-mapping.js";
import type { ContentBlock, MessageRequest, MessageResponse } from "../lib/messages/types.js";
import { startServer, type Phi4Server } from "../lib/server/index.js";
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
    {
      role: "user",
      content: [
        { type: "text", text: "Add these " },
        { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBOR" } },
      ],
    },
    {
      role: "assistant",
      content: [
        { type: "text", text: "Adding." },
        { type: "tool_use", id: "toolu_1", name: "add", input: { a: 2, b: 3 } },
      ],
    },
    {
      role: "user",
      content: [
        { type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "5" }] },
        { type: "text", text: "And now?" },
      ],
    },
    { role: "assistant", content: [{ type: "tool_use", id: "toolu_2", name: "add", input: {} }] },
    { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_2", content: "missing a", is_error: true }] },
  ],
};

describe("Messages <-> chat completions", () => {
  it("maps system, images, tool_use / tool_result turns, tools, tool_choice and the seed out", () => {
    const body = toOpenAIRequest("gpu", conversation, { model: "phi-4", seed: 5 });
    expect(body.messages).toEqual([
      { role: "system", content: "Be brief." },
      {
        role: "user",
        content: [
          { type: "text", text: "Add these " },
          { type: "image_url", image_url: { url: "data:image/png;base64,iVBOR" } },
        ],
      },
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
      seed: 5,
      tools: [{ type: "function", function: { name: "add", description: "Adds", parameters: addTool.input_schema } }],
      tool_choice: { type: "function", function: { name: "add" } },
      parallel_tool_calls: false,
    });
  });

  it("maps the same conversation back in, the same turns as before (tool results first in their user turn)", () => {
    const { system, turns } = fromOpenAIMessages(toOpenAIRequest("gpu", conversation, { model: "m" }).messages as ChatInMessage[]);
    expect(system).toEqual([{ type: "text", text: "Be brief." }]);
    expect(turns).toEqual([
      conversation.messages[0],
      {
        role: "assistant",
        content: [
          { type: "text", text: "Adding." },
          { type: "tool_use", id: "toolu_1", name: "add", input: { a: 2, b: 3 } },
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "5" }] },
          { type: "text", text: "And now?" },
        ],
      },
      conversation.messages[3],
      // OpenAI has no error flag: it travels as the text.
      { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_2", content: [{ type: "text", text: "Error: missing a" }] }] },
    ]);
    // A system message after the first turn stays where it was said; developer messages are system messages.
    const late = fromOpenAIMessages([
      { role: "developer", content: "Rules." },
      { role: "user", content: "Hi" },
      { role: "system", content: [{ type: "text", text: "Later." }] },
    ]);
    expect(late).toEqual({
      system: [{ type: "text", text: "Rules." }],
      turns: [
        { role: "user", content: "Hi" },
        { role: "system", content: [{ type: "text", text: "Later." }] },
      ],
    });
  });

  it("maps tool choices and parallel_tool_calls both ways", () => {
    const choices: MessageRequest["tool_choice"][] = [
      { type: "auto" },
      { type: "any" },
      { type: "none" },
      { type: "tool", name: "add" },
      { type: "any", disable_parallel_tool_use: true },
    ];
    for (const choice of choices) {
      const out = toOpenAIToolChoice(choice);
      expect(fromOpenAIToolChoice(out.tool_choice, out.parallel_tool_calls)).toEqual(choice);
    }
    expect(choices.map((c) => toOpenAIToolChoice(c).tool_choice)).toEqual([
      "auto",
      "required",
      "none",
      { type: "function", function: { name: "add" } },
      "required",
    ]);
    expect(fromOpenAIToolChoice(undefined, undefined)).toBeUndefined();
  });
});

describe("OpenAICompatibleProvider against a loopback mock", () => {
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
    expect(await provider.create(ask)).toMatchObject({
      content: [{ type: "text", text: "Five." }],
      stop_reason: "end_turn",
      usage: { input_tokens: 11, output_tokens: 7 },
      model: "phi-4",
    });
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
    server.enqueue({
      content: "Let me add.",
      toolCalls: [
        { name: "add", arguments: '{"a":2,"b":3}' },
        { name: "add", arguments: '{"a":1,"b":1}' },
      ],
    });
    const message = await collectMessage("gpu", provider.stream(ask));
    expect(message.content).toEqual([
      { type: "text", text: "Let me add." },
      { type: "tool_use", id: expect.any(String), name: "add", input: { a: 2, b: 3 } },
      { type: "tool_use", id: expect.any(String), name: "add", input: { a: 1, b: 1 } },
    ]);
    expect(message).toMatchObject({ stop_reason: "tool_use", usage: { input_tokens: 11, output_tokens: 7 } });
    expect(server.requests.at(-1)!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it("reports HTTP errors, broken arguments, unreachable servers, timeouts and its locality", async () => {
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

  it("sends no Authorization header without a key, and never OPENAI_API_KEY", async () => {
    const saved = process.env.OPENAI_API_KEY;
    process.env.OPENAI_API_KEY = "sk-meant-for-openai";
    try {
      server.enqueue({ content: "ok" });
      await new OpenAICompatibleProvider({ baseURL: `${server.url}/v1`, model: "m" }).create(ask);
      expect(server.requests.at(-1)!.headers.authorization).toBeUndefined();
    } finally {
      if (saved === undefined) delete process.env.OPENAI_API_KEY;
      else process.env.OPENAI_API_KEY = saved;
    }
  });
});

describe("OpenAICompatibleProvider against this project's /v1/chat/completions", () => {
  const models = inject("models");
  const KEY = "self-key";
  let model: Model;
  let server: Phi4Server;
  let local: LocalProvider;
  let remote: OpenAICompatibleProvider;

  beforeAll(async () => {
    model = await loadModel(models.tinyPhi4Long, { threads: 1 });
    server = await startServer({ model, port: 0, apiKey: KEY, capacity: 256, maxConcurrency: 2 });
    local = new LocalProvider(model, { capacity: 256 });
    remote = new OpenAICompatibleProvider({ name: "self", baseURL: `${server.url}/v1`, model: "phi4", apiKey: KEY });
  });
  afterAll(async () => {
    await server?.close();
    await local?.close();
    await model?.dispose();
  });

  /** A message's content with its tool call ids left out (each answer makes new ones). */
  const content = (message: MessageResponse) => message.content.map((b: ContentBlock) => (b.type === "tool_use" ? { ...b, id: "" } : b));

  it("answers as the local provider does: text, stop sequences and usage", async () => {
    const request: MessageRequest = { max_tokens: 16, temperature: 0, system: "Be brief.", messages: [{ role: "user", content: "Say hi" }] };
    const [viaHttp, direct] = [await remote.create(request), await local.create(request)];
    expect(viaHttp.content).toEqual(direct.content);
    expect(viaHttp).toMatchObject({ stop_reason: direct.stop_reason, usage: direct.usage, model: "tiny-phi4-long" });

    const text = (direct.content[0] as { text: string }).text;
    const stop = text.split(" ").filter((w) => w.trim().length >= 2)[1];
    const stopped = await collectMessage("self", remote.stream({ ...request, stop_sequences: [stop] }));
    expect(stopped).toMatchObject({ stop_reason: "stop_sequence", stop_sequence: stop });
    expect(stopped.content).toEqual((await local.create({ ...request, stop_sequences: [stop] })).content);
  });

  it("streams a forced tool call whose input is the local provider's", async () => {
    const request: MessageRequest = {
      max_tokens: 48,
      temperature: 0,
      messages: [{ role: "user", content: "Add 2 and 3" }],
      tools: [addTool],
      tool_choice: { type: "tool", name: "add" },
    };
    const streamed = await collectMessage("self", remote.stream(request));
    expect(streamed.stop_reason).toBe("tool_use");
    expect(content(streamed)).toEqual(content(await local.create(request)));
  });

  it("passes the seed on: a sampled answer is the local provider's with the same seed", async () => {
    const request: MessageRequest = { max_tokens: 12, temperature: 1, messages: [{ role: "user", content: "Tell me something" }] };
    const viaHttp = await remote.create(request, { seed: 11 });
    expect(viaHttp.content).toEqual((await local.create(request, { seed: 11 })).content);
    expect((await remote.create(request, { seed: 11 })).content).toEqual(viaHttp.content);
  });

  it("reports a wrong key as HTTP 401 and an abort as aborted", async () => {
    const wrong = new OpenAICompatibleProvider({ baseURL: `${server.url}/v1`, model: "m", apiKey: "nope" });
    await expect(wrong.create({ max_tokens: 4, messages: [{ role: "user", content: "Hi" }] })).rejects.toMatchObject({
      kind: "http",
      status: 401,
      message: expect.stringMatching(/invalid API key/),
    });

    const abort = new AbortController();
    const events = remote.stream({ max_tokens: 200, temperature: 1, messages: [{ role: "user", content: "Go on" }] }, { signal: abort.signal });
    const error = await (async () => {
      for await (const event of events) if (event.type === "content_block_delta") abort.abort();
    })().catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "aborted" });
  });
});
