/**
 * POST /v1/chat/completions and the model list, driven by the official `openai` SDK against the
 * server in-process on tiny-phi4-long: create and stream (usage included), forced and required tool
 * calls whose arguments validate, a tool result round trip, json_schema answers that validate, stop
 * sequences, seeds, an abort freeing its slot, OpenAI-shaped errors, and 8 concurrent streams. Where
 * the Messages route can take the same request, the greedy answers of both routes must be equal: one
 * engine behind two APIs.
 */
import { Ajv } from "ajv";
import OpenAI, { type APIError } from "openai";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import { startServer, type Phi4Server } from "../lib/server/index.js";
import { metric as serverMetric } from "./helpers/server-metrics.js";
import { until } from "./helpers/until.js";

const models = inject("models");
const KEY = "test-key";
let model: Model;
let server: Phi4Server;
let client: OpenAI;

beforeAll(async () => {
  model = await loadModel(models.tinyPhi4Long, { threads: 1 });
  server = await startServer({ model, port: 0, apiKey: KEY, maxConcurrency: 4, capacity: 384 });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0 });
});
afterAll(async () => {
  await server?.close();
  await model?.dispose();
});

type Chunk = OpenAI.Chat.ChatCompletionChunk;
const hello = {
  model: "gpt-4o",
  max_tokens: 12,
  temperature: 0,
  messages: [
    { role: "system" as const, content: "Be brief." },
    { role: "user" as const, content: "Say hi" },
  ],
};
const weather = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Current weather for a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string" }, unit: { type: "string", enum: ["c", "f"] } },
      required: ["city", "unit"],
      additionalProperties: false,
    },
  },
};
const time = {
  type: "function" as const,
  function: { name: "get_time", parameters: { type: "object", properties: { zone: { type: "string" } }, required: ["zone"] } },
};
const ask = { role: "user" as const, content: "Weather in Paris, in celsius?" };

/** The Messages route's answer to the same request, through plain HTTP. */
async function viaMessages(body: object): Promise<{ content: { type: string; text?: string }[]; usage: { input_tokens: number; output_tokens: number } }> {
  const res = await fetch(`${server.url}/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": KEY, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as never;
}

async function collect(stream: AsyncIterable<Chunk>): Promise<Chunk[]> {
  const chunks: Chunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

const metric = (on: Phi4Server, series: string) => serverMetric(on, series, on === server ? KEY : undefined);
const validator = (schema: object) => new Ajv({ strict: false }).compile(schema);

describe("POST /v1/chat/completions", () => {
  it("answers a chat completion, the same greedy answer as /v1/messages gives", async () => {
    const completion = await client.chat.completions.create(hello);
    expect(completion).toMatchObject({
      object: "chat.completion",
      model: "tiny-phi4-long",
      choices: [{ index: 0, message: { role: "assistant", refusal: null }, logprobs: null }],
    });
    expect(completion.id).toMatch(/^chatcmpl-/);
    const choice = completion.choices[0];
    expect(["stop", "length"]).toContain(choice.finish_reason);
    expect(typeof choice.message.content).toBe("string");
    const usage = completion.usage!;
    expect(usage.completion_tokens).toBeGreaterThan(0);
    expect(usage.completion_tokens).toBeLessThanOrEqual(12);
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);

    const message = await viaMessages({ max_tokens: 12, temperature: 0, system: "Be brief.", messages: [{ role: "user", content: "Say hi" }] });
    expect(choice.message.content).toBe(message.content[0].text);
    expect(usage).toMatchObject({ prompt_tokens: message.usage.input_tokens, completion_tokens: message.usage.output_tokens });
  });

  it("streams chunks (role first, content deltas, finish_reason, then the usage chunk) that add up to the created answer", async () => {
    const created = await client.chat.completions.create(hello);
    const chunks = await collect(await client.chat.completions.create({ ...hello, stream: true, stream_options: { include_usage: true } }));
    expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "" });
    const finish = chunks.findIndex((c) => c.choices[0]?.finish_reason);
    expect(finish).toBe(chunks.length - 2);
    expect(chunks[finish].choices[0].finish_reason).toBe(created.choices[0].finish_reason);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(created.usage);
    for (const chunk of chunks.slice(0, -1)) expect(chunk.usage).toBeNull();
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe(created.choices[0].message.content);

    // Without include_usage: no usage anywhere. The SDK's own accumulation gives the created message.
    const plain = await collect(await client.chat.completions.create({ ...hello, stream: true }));
    expect(plain.every((c) => c.usage === undefined && c.choices.length === 1)).toBe(true);
    const final = await client.chat.completions.stream(hello).finalChatCompletion();
    expect(final.choices[0].message.content).toBe(created.choices[0].message.content);
  });

  it("streams a forced tool call as tool_calls deltas with incremental arguments that validate against the schema", async () => {
    const request = {
      ...hello,
      max_tokens: 48,
      messages: [ask],
      tools: [weather],
      tool_choice: { type: "function" as const, function: { name: "get_weather" } },
    };
    const chunks = await collect(await client.chat.completions.create({ ...request, stream: true }));
    const deltas = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(deltas[0]).toMatchObject({ index: 0, id: expect.any(String), type: "function", function: { name: "get_weather", arguments: "" } });
    const fragments = deltas.slice(1).map((d) => d.function?.arguments ?? "");
    expect(fragments.length).toBeGreaterThanOrEqual(3);
    expect(deltas.every((d) => d.index === 0)).toBe(true);
    expect(chunks.find((c) => c.choices[0]?.finish_reason)!.choices[0].finish_reason).toBe("tool_calls");
    const args = JSON.parse(fragments.join(""));
    const validate = validator(weather.function.parameters);
    expect(validate(args), JSON.stringify(validate.errors)).toBe(true);

    const created = await client.chat.completions.create(request);
    expect(created.choices[0].finish_reason).toBe("tool_calls");
    const call = created.choices[0].message.tool_calls![0] as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
    expect(call).toMatchObject({ type: "function", function: { name: "get_weather" } });
    expect(JSON.parse(call.function.arguments)).toEqual(args);
  });

  it("tool_choice required makes a call to one of the tools; parallel_tool_calls false makes one only", async () => {
    const completion = await client.chat.completions.create({
      ...hello,
      max_tokens: 64,
      messages: [ask],
      tools: [weather, time],
      tool_choice: "required",
      parallel_tool_calls: false,
    });
    expect(completion.choices[0].finish_reason).toBe("tool_calls");
    const calls = completion.choices[0].message.tool_calls as OpenAI.Chat.ChatCompletionMessageFunctionToolCall[];
    expect(calls).toHaveLength(1);
    const tool = [weather, time].find((t) => t.function.name === calls[0].function.name)!;
    expect(tool).toBeDefined();
    const validate = validator(tool.function.parameters);
    expect(validate(JSON.parse(calls[0].function.arguments)), JSON.stringify(validate.errors)).toBe(true);

    // tool_choice none: the tools are known, and no call is made.
    const none = await client.chat.completions.create({ ...hello, messages: [ask], tools: [weather], tool_choice: "none" });
    expect(none.choices[0].message.tool_calls).toBeUndefined();
    expect(["stop", "length"]).toContain(none.choices[0].finish_reason);
  });

  it("takes a tool result back: the same prompt and greedy answer as the Messages route's tool_use / tool_result turns", async () => {
    const first = await client.chat.completions.create({ ...hello, max_tokens: 48, messages: [ask], tools: [weather], tool_choice: "required" });
    const call = first.choices[0].message.tool_calls![0] as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
    const next = await client.chat.completions.create({
      ...hello,
      tools: [weather],
      tool_choice: "none",
      messages: [ask, first.choices[0].message, { role: "tool", tool_call_id: call.id, content: "18 degrees, sunny" }],
    });
    expect(next.choices[0].message.tool_calls).toBeUndefined();
    const message = await viaMessages({
      max_tokens: 12,
      temperature: 0,
      tools: [{ name: "get_weather", description: weather.function.description, input_schema: weather.function.parameters }],
      tool_choice: { type: "none" },
      messages: [
        { role: "user", content: ask.content },
        { role: "assistant", content: [{ type: "tool_use", id: call.id, name: "get_weather", input: JSON.parse(call.function.arguments) }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "18 degrees, sunny" }] },
      ],
    });
    expect(next.usage!.prompt_tokens).toBe(message.usage.input_tokens);
    expect(next.choices[0].message.content ?? "").toBe(message.content.map((b) => b.text ?? "").join(""));
  });

  it("answers response_format json_schema (strict) and json_object with JSON content that validates", async () => {
    const schema = {
      type: "object",
      properties: { name: { type: "string" }, age: { type: "integer" }, tags: { type: "array", items: { type: "string" } } },
      required: ["name", "age", "tags"],
      additionalProperties: false,
    };
    const response_format = { type: "json_schema" as const, json_schema: { name: "person", strict: true, schema } };
    const request = { ...hello, max_tokens: 96, messages: [{ role: "user" as const, content: "Describe a person." }], response_format };
    const validate = validator(schema);
    const created = await client.chat.completions.create(request);
    expect(created.choices[0]).toMatchObject({ finish_reason: "stop", message: { role: "assistant" } });
    expect(created.choices[0].message.tool_calls).toBeUndefined();
    const answer = JSON.parse(created.choices[0].message.content!);
    expect(validate(answer), JSON.stringify(validate.errors)).toBe(true);

    const chunks = await collect(await client.chat.completions.create({ ...request, stream: true }));
    const streamed = JSON.parse(chunks.map((c) => c.choices[0]?.delta.content ?? "").join(""));
    expect(streamed).toEqual(answer);
    expect(chunks.some((c) => c.choices[0]?.delta.tool_calls)).toBe(false);

    const object = await client.chat.completions.create({ ...request, response_format: { type: "json_object" } });
    const parsed: unknown = JSON.parse(object.choices[0].message.content!);
    expect(parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)).toBe(true);
  });

  it("stops at a stop sequence, before it, with finish_reason stop", async () => {
    const long = { ...hello, max_tokens: 24 };
    const text = (await client.chat.completions.create(long)).choices[0].message.content!;
    const words = text.split(" ").filter((w) => w.trim().length >= 2);
    const stop = words[Math.floor(words.length / 2)];
    const expected = text.slice(0, text.indexOf(stop));
    const stopped = await client.chat.completions.create({ ...long, stop });
    expect(stopped.choices[0]).toMatchObject({ finish_reason: "stop", message: { content: expected } });
    const chunks = await collect(await client.chat.completions.create({ ...long, stop: [stop, "never matches"], stream: true }));
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe(expected);
  });

  it("a resent conversation reuses the KV of its prefix (the engine's prefix reuse serves this route too)", async () => {
    const reused = () => metric(server, "phi4_prefix_cache_reused_tokens_total");
    // Longer than the prefix cache's 16-token minimum.
    const question = { role: "user" as const, content: "Tell me about the sea: its waves, its tides, its fish and the ships that sail on it, in three words." };
    const first = await client.chat.completions.create({ ...hello, messages: [question] });
    const before = await reused();
    await client.chat.completions.create({ ...hello, messages: [question, first.choices[0].message, { role: "user", content: "Again" }] });
    // At least the whole first prompt is a prefix of the second one.
    expect((await reused()) - before).toBeGreaterThanOrEqual(first.usage!.prompt_tokens);
  });

  it("a seed makes a sampled answer repeatable", async () => {
    const sampled = { ...hello, temperature: 1, max_tokens: 12 };
    const a = await client.chat.completions.create({ ...sampled, seed: 7 });
    const b = await client.chat.completions.create({ ...sampled, seed: 7 });
    const c = await client.chat.completions.create({ ...sampled, seed: 8 });
    expect(b.choices[0].message.content).toBe(a.choices[0].message.content);
    // Sampling a random-weight model's near-uniform distribution: another seed all but surely differs.
    expect(c.choices[0].message.content).not.toBe(a.choices[0].message.content);
  });

  it("a client that aborts mid-stream frees its slot", async () => {
    // One sequence with room for a long answer: the abort lands while it is still being generated.
    const single = await startServer({ model, port: 0, maxConcurrency: 1, capacity: 4096 });
    try {
      const route = 'route="/v1/chat/completions"';
      const one = new OpenAI({ baseURL: `${single.url}/v1`, apiKey: "unused", maxRetries: 0 });
      const stream = await one.chat.completions.create({ ...hello, temperature: 1, max_tokens: 4000, stream: true });
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content) break; // leaving the loop aborts the request
      }
      await until(
        async () => (await metric(single, "phi4_queue_depth")) === 0 && (await metric(single, `phi4_requests_in_flight{${route}}`)) === 0,
        "the aborted stream's slot to be freed",
      );
      expect(await metric(single, `phi4_requests_total{${route},status="499"}`)).toBe(1);
      // The only sequence is free again: the next request is answered.
      expect((await one.chat.completions.create(hello)).choices[0].finish_reason).toMatch(/^(stop|length)$/);
    } finally {
      await single.close();
    }
  });

  it("serves 8 concurrent streams, each complete", async () => {
    const answered = () => metric(server, 'phi4_requests_total{route="/v1/chat/completions",status="200"}');
    const before = await answered();
    const streams = Array.from({ length: 8 }, (_, i) =>
      client.chat.completions
        .create({
          ...hello,
          temperature: 1,
          seed: i,
          max_tokens: 16,
          stream: true,
          stream_options: { include_usage: true },
          messages: [{ role: "user", content: `Count to ${i}` }],
        })
        .then(collect),
    );
    const results = await Promise.all(streams);
    for (const chunks of results) {
      const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
      expect(chunks.at(-2)!.choices[0].finish_reason).toMatch(/^(stop|length)$/);
      expect(chunks.at(-1)!.usage!.completion_tokens).toBeLessThanOrEqual(16);
      expect(text.length).toBeGreaterThan(0);
    }
    expect(await answered()).toBe(before + 8);
    expect(await metric(server, "phi4_queue_depth")).toBe(0);
  });
});

describe("errors in OpenAI's shape", () => {
  /** The error a request gets, through the SDK. */
  const failure = (body: object) =>
    client.chat.completions.create(body as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming).then(
      () => undefined,
      (e: unknown) => e as APIError,
    );

  it("a bad request is a 400 whose error has message, type, param and code", async () => {
    const n = await failure({ ...hello, n: 2 });
    expect(n).toBeInstanceOf(OpenAI.BadRequestError);
    expect(n!.error).toEqual({ message: expect.stringMatching(/^n: only n = 1/), type: "invalid_request_error", param: "n", code: null });
    expect((await failure({ ...hello, temperature: 3 }))!.error).toMatchObject({ param: "temperature" });
    expect((await failure({ model: "m" }))!.error).toMatchObject({ param: "messages" });
    const badArgs = [ask, { role: "assistant", tool_calls: [{ id: "c1", type: "function", function: { name: "get_weather", arguments: "{oops" } }] }];
    expect((await failure({ ...hello, messages: badArgs }))!.error).toMatchObject({
      param: "messages.1.tool_calls.0.function.arguments",
      message: expect.stringMatching(/JSON object/),
    });
    expect((await failure({ ...hello, tools: [weather], tool_choice: { type: "function", function: { name: "nope" } } }))!.message).toMatch(
      /"nope", which is not one of the tools/,
    );
    expect((await failure({ ...hello, tool_choice: "required" }))!.error).toMatchObject({ param: "tool_choice", message: expect.stringMatching(/no tools/) });
    const image = { role: "user", content: [{ type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } }] };
    expect((await failure({ ...hello, messages: [image] }))!.message).toMatch(/image content is not supported/);
    expect((await failure({ ...hello, messages: [{ role: "user", content: "x".repeat(4000) }] }))!.error).toMatchObject({ code: "context_length_exceeded" });
    expect(
      (await failure({
        ...hello,
        response_format: { type: "json_schema", json_schema: { name: "get_weather", schema: { type: "object" } } },
        tools: [weather],
      }))!.error,
    ).toMatchObject({
      param: "response_format.json_schema.name",
    });

    const raw = await fetch(`${server.url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${KEY}` }, body: "{not json" });
    expect(raw.status).toBe(400);
    expect(Object.keys(((await raw.json()) as { error: object }).error).sort()).toEqual(["code", "message", "param", "type"]);
  });

  it("a failure after the stream started is its last data line, an error the SDK raises", async () => {
    // A shutdown without grace ends a running stream with a (retryable) overloaded error.
    const closing = await startServer({ model, port: 0, capacity: 4096 });
    const one = new OpenAI({ baseURL: `${closing.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const stream = await one.chat.completions.create({ ...hello, temperature: 1, max_tokens: 4000, stream: true });
    const error = await (async () => {
      for await (const chunk of stream) if (chunk.choices[0]?.delta.content) void closing.close({ graceMs: 0 });
    })().catch((e: unknown) => e as APIError);
    await closing.close();
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as APIError).error).toMatchObject({ type: "overloaded_error", code: "overloaded", message: expect.stringMatching(/shut down/) });
  });

  it("a wrong or missing key is a 401 with code invalid_api_key", async () => {
    const wrong = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "wrong", maxRetries: 0 });
    const error = await wrong.chat.completions.create(hello).catch((e: unknown) => e as APIError);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((error as APIError).error).toMatchObject({ type: "authentication_error", code: "invalid_api_key" });
    const none = await fetch(`${server.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify(hello) });
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ error: { code: "invalid_api_key", param: null } });
  });
});

describe("GET /v1/models", () => {
  it("answers OpenAI's SDK in its list shape, and the Anthropic SDK (anthropic-version) in Anthropic's", async () => {
    const page = await client.models.list();
    expect(page.data[0]).toMatchObject({ id: "tiny-phi4-long", object: "model", owned_by: "phi4-onnx", created: expect.any(Number) });
    expect((await client.models.retrieve("tiny-phi4-long")).object).toBe("model");
    const missing = await client.models.retrieve("nope").catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);

    const anthropic = (await (await fetch(`${server.url}/v1/models`, { headers: { "x-api-key": KEY, "anthropic-version": "2023-06-01" } })).json()) as {
      data: object[];
    };
    expect(anthropic).not.toHaveProperty("object");
    expect(anthropic.data[0]).toEqual({ type: "model", id: "tiny-phi4-long", display_name: "tiny-phi4-long", created_at: expect.any(String) });
  });
});
