/**
 * The Anthropic-compatible server, in-process on an ephemeral port with the tiny-phi4 model, driven by
 * the official @anthropic-ai/sdk client: create, stream (text and a forced tool_use), count_tokens,
 * the model list, and the error statuses surfacing as the SDK's typed errors.
 */
import Anthropic, { type APIError } from "@anthropic-ai/sdk";
import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import { startServer, type Phi4Server } from "../lib/server/index.js";

const models = inject("models");
const KEY = "test-key";
let model: Model;
let server: Phi4Server;
let client: Anthropic;

beforeAll(async () => {
  model = await loadModel(models.tinyPhi4, { threads: 1 });
  server = await startServer({ model, port: 0, apiKey: KEY, maxConcurrency: 2, maxBodyBytes: 1 << 20 });
  client = new Anthropic({ baseURL: server.url, apiKey: KEY, maxRetries: 0 });
});
afterAll(async () => {
  await server?.close();
  await model?.dispose();
});

const hello = { model: "claude-haiku-4-5", max_tokens: 8, temperature: 0, messages: [{ role: "user" as const, content: "Say hi" }] };
const weather = {
  name: "get_weather",
  description: "Current weather for a city",
  input_schema: { type: "object" as const, properties: { city: { type: "string" }, unit: { type: "string", enum: ["c", "f"] } }, required: ["city", "unit"] },
};

/** The raw SSE of a streamed request: [event line, parsed data] per event. */
async function rawEvents(body: object): Promise<[string | undefined, { type: string } & Record<string, any>][]> {
  const res = await fetch(`${server.url}/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": KEY, "content-type": "application/json" },
    body: JSON.stringify({ ...body, stream: true }),
  });
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  return (await res.text())
    .split("\n\n")
    .filter((chunk) => chunk.trim() !== "")
    .map((chunk) => {
      const lines = chunk.split("\n");
      const event = lines.find((l) => l.startsWith("event: "))?.slice(7);
      return [event, JSON.parse(lines.find((l) => l.startsWith("data: "))!.slice(6))];
    });
}

describe("POST /v1/messages", () => {
  it("answers a Messages API request with a message, whatever the model name", async () => {
    const message = await client.messages.create(hello);
    expect(message).toMatchObject({ type: "message", role: "assistant", model: "tiny-phi4", stop_sequence: null });
    expect(message.id).toMatch(/^msg_/);
    expect(message.content).toHaveLength(1);
    expect(message.content[0].type).toBe("text");
    expect(["end_turn", "max_tokens"]).toContain(message.stop_reason);
    expect(message.usage.input_tokens).toBeGreaterThan(0);
    expect(message.usage.output_tokens).toBeLessThanOrEqual(8);
  });

  it("streams events with an event line each, in the documented order, with cumulative usage", async () => {
    const events = await rawEvents(hello);
    for (const [event, data] of events) expect(event).toBe(data.type);
    const types = events.map(([, data]) => data.type).filter((t) => t !== "ping");
    expect(types.slice(0, 2)).toEqual(["message_start", "content_block_start"]);
    expect(new Set(types.slice(2, -3))).toEqual(new Set(["content_block_delta"]));
    expect(types.slice(-3)).toEqual(["content_block_stop", "message_delta", "message_stop"]);
    const start = events.find(([, d]) => d.type === "message_start")![1];
    const delta = events.find(([, d]) => d.type === "message_delta")![1];
    expect(delta.usage).toEqual({ input_tokens: start.message.usage.input_tokens, output_tokens: expect.any(Number) });

    // The SDK's own accumulation gives the same greedy answer as the JSON response.
    const stream = client.messages.stream(hello);
    let streamed = "";
    stream.on("text", (text) => (streamed += text));
    const final = await stream.finalMessage();
    const created = await client.messages.create(hello);
    expect(final.content).toEqual(created.content);
    expect(streamed).toBe((created.content[0] as Anthropic.TextBlock).text);
    expect(final.usage).toMatchObject(created.usage);
  });

  it("streams a forced tool call as a tool_use block whose input validates against the tool's schema", async () => {
    const request = {
      ...hello,
      max_tokens: 48,
      tools: [weather],
      tool_choice: { type: "tool" as const, name: "get_weather" },
      messages: [{ role: "user" as const, content: "Weather in Paris, in celsius?" }],
    };
    const events = await rawEvents(request);
    const start = events.find(([, d]) => d.type === "content_block_start" && d.content_block.type === "tool_use")![1];
    expect(start.content_block).toMatchObject({ type: "tool_use", name: "get_weather", input: {} });
    expect(events.some(([, d]) => d.type === "content_block_delta" && d.delta.type === "input_json_delta")).toBe(true);

    const final = await client.messages.stream(request).finalMessage();
    expect(final.stop_reason).toBe("tool_use");
    const call = final.content.find((b): b is Anthropic.ToolUseBlock => b.type === "tool_use");
    expect(call).toMatchObject({ name: "get_weather", id: expect.stringMatching(/^toolu_/) });
    const validate = new Ajv().compile(weather.input_schema);
    expect(validate(call!.input), JSON.stringify(validate.errors)).toBe(true);
  });

  it("streams a forced tool call's input as it is generated, and the SDK's final message holds it parsed", async () => {
    const tool_choice = { type: "tool" as const, name: "get_weather", disable_parallel_tool_use: true };
    const request = {
      ...hello,
      max_tokens: 48,
      tools: [weather],
      tool_choice,
      messages: [{ role: "user" as const, content: "Weather in Paris, in celsius?" }],
    };
    const events = (await rawEvents(request)).map(([, data]) => data).filter((d) => d.type !== "ping");
    expect(events.slice(0, 2).map((d) => d.type)).toEqual(["message_start", "content_block_start"]);
    expect(events.slice(-3).map((d) => d.type)).toEqual(["content_block_stop", "message_delta", "message_stop"]);
    const deltas = events.slice(2, -3);
    expect(deltas.length).toBeGreaterThanOrEqual(3);
    for (const d of deltas) expect(d).toMatchObject({ type: "content_block_delta", index: 0, delta: { type: "input_json_delta" } });

    const stream = client.messages.stream(request);
    const fragments: string[] = [];
    stream.on("inputJson", (partial) => fragments.push(partial));
    const final = await stream.finalMessage();
    expect(fragments.length).toBeGreaterThanOrEqual(3);
    const call = final.content.find((b): b is Anthropic.ToolUseBlock => b.type === "tool_use")!;
    expect(call.input).toEqual(JSON.parse(fragments.join("")));
    const created = await client.messages.create(request);
    expect(call.input).toEqual(created.content.find((b): b is Anthropic.ToolUseBlock => b.type === "tool_use")!.input);
  });

  it("ignores unknown fields, thinking blocks, server tools and anthropic-beta headers", async () => {
    const message = await client.beta.messages.create({
      ...hello,
      betas: ["interleaved-thinking-2025-05-14"],
      system: [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }],
      thinking: { type: "enabled", budget_tokens: 1024 },
      metadata: { user_id: "someone" },
      tools: [{ type: "web_search_20250305", name: "web_search" }],
      messages: [
        { role: "user", content: "Hi" },
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "hmm", signature: "sig" },
            { type: "text", text: "Hello." },
          ],
        },
        { role: "user", content: "Say hi" },
      ],
    });
    expect(message.content[0].type).toBe("text");
  });
});

describe("POST /v1/messages/count_tokens", () => {
  it("counts the prompt the local model would run, as usage.input_tokens reports it", async () => {
    const { input_tokens } = await client.messages.countTokens({ model: hello.model, messages: hello.messages });
    expect(input_tokens).toBe((await client.messages.create(hello)).usage.input_tokens);
    const withTools = await client.messages.countTokens({ model: hello.model, messages: hello.messages, tools: [weather] });
    expect(withTools.input_tokens).toBeGreaterThan(input_tokens);
  });
});

describe("GET /v1/models", () => {
  it("lists the local model and the Claude aliases it answers to, in the Anthropic list shape", async () => {
    const page = await client.models.list();
    const ids = page.data.map((m) => m.id);
    expect(ids[0]).toBe("tiny-phi4");
    expect(ids).toContain("claude-sonnet-4-5");
    expect(page.data[0]).toMatchObject({ type: "model", display_name: "tiny-phi4", created_at: expect.any(String) });
    const body = await (await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${KEY}` } })).json();
    expect(body).toMatchObject({ has_more: false, first_id: "tiny-phi4", last_id: ids.at(-1) });
    expect((await client.models.retrieve("claude-opus-5")).id).toBe("claude-opus-5");
  });
});

describe("errors", () => {
  it("a bad body is a 400 invalid_request_error that names the field", async () => {
    const error = await client.messages.create({ ...hello, max_tokens: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect((error as APIError).type).toBe("invalid_request_error");
    expect((error as Error).message).toMatch(/max_tokens/);
    const bad = await client.messages
      .create({ ...hello, messages: [{ role: "user", content: [{ type: "text", text: 5 as unknown as string }] }] })
      .catch((e: unknown) => e);
    expect((bad as Error).message).toMatch(/messages\.0\.content\.0\.text/);
  });

  it("a prompt beyond the capacity is a 400 that says by how much; an image is a clear 400", async () => {
    const long = await client.messages.create({ ...hello, messages: [{ role: "user", content: "word ".repeat(400) }] }).catch((e: unknown) => e);
    expect(long).toBeInstanceOf(Anthropic.BadRequestError);
    expect((long as Error).message).toMatch(/prompt is too long: \d+ tokens > 255 maximum \(\d+ over/);
    const image = { type: "image" as const, source: { type: "base64" as const, media_type: "image/png" as const, data: "iVBORw0KGgo=" } };
    const refused = await client.messages.create({ ...hello, messages: [{ role: "user", content: [image] }] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
    expect((refused as Error).message).toMatch(/image content is not supported.*text only/);
  });

  it("a wrong or missing key is a 401 authentication_error", async () => {
    const wrong = new Anthropic({ baseURL: server.url, apiKey: "not-the-key", maxRetries: 0 });
    await expect(wrong.messages.create(hello)).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
    const missing = await fetch(`${server.url}/health`);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ type: "error", error: { type: "authentication_error" } });
    const bearer = new Anthropic({ baseURL: server.url, apiKey: null, authToken: KEY, maxRetries: 0 });
    expect((await bearer.messages.create(hello)).type).toBe("message");
  });

  it("an unknown route is a 404 not_found_error", async () => {
    await expect(client.get("/v1/completions")).rejects.toBeInstanceOf(Anthropic.NotFoundError);
    await expect(client.models.retrieve("gpt-5")).rejects.toBeInstanceOf(Anthropic.NotFoundError);
  });

  it("a body over the limit is a 413 request_too_large", async () => {
    const error = await client.messages.create({ ...hello, messages: [{ role: "user", content: "x".repeat(2 << 20) }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect(error).toMatchObject({ status: 413, type: "request_too_large" });
  });
});

describe("GET /health and /metrics", () => {
  it("reports health, and Prometheus text with requests, tokens, latency, queue depth and prefix-cache counters", async () => {
    const headers = { "x-api-key": KEY };
    expect(await (await fetch(`${server.url}/health`, { headers })).json()).toMatchObject({ status: "ok", model: "tiny-phi4", queue_depth: 0 });
    const res = await fetch(`${server.url}/metrics`, { headers });
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toMatch(/^phi4_requests_total\{route="\/v1\/messages",status="200"\} \d+$/m);
    expect(text).toMatch(/^phi4_requests_total\{route="\/v1\/messages",status="400"\} \d+$/m);
    expect(text).toMatch(/^phi4_tokens_total\{kind="output"\} [1-9]\d*$/m);
    expect(text).toMatch(/^phi4_request_duration_seconds_bucket\{route="\/v1\/messages",le="\+Inf"\} \d+$/m);
    expect(text).toMatch(/^phi4_queue_depth 0$/m);
    expect(text).toMatch(/^phi4_prefix_cache_hits_total \d+$/m);
  });
});
