/**
 * The server in front of the router (phi4 serve --router): one endpoint, the local model first and
 * Claude (a loopback stand-in speaking the Messages API) when the rules or a local failure say so.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import { parseRouterConfig } from "../lib/router/config.js";
import { createRouter } from "../lib/router/from-config.js";
import { startServer, type Phi4Server } from "../lib/server/index.js";
import { startMockAnthropic, text, toolUse, type MockAnthropic } from "./helpers/mock-anthropic.js";

const models = inject("models");
let model: Model;
let claude: MockAnthropic;
let server: Phi4Server;
let client: Anthropic;

beforeAll(async () => {
  model = await loadModel(models.tinyPhi4, { threads: 1 });
  claude = await startMockAnthropic();
  const config = parseRouterConfig({
    providers: {
      local: { type: "local", capacity: 128 },
      claude: { type: "anthropic", model: "claude-test", baseURL: claude.url, apiKey: "sk-upstream", maxRetries: 0 },
    },
  });
  server = await startServer({ model, provider: createRouter(config, { model }), port: 0 });
  client = new Anthropic({ baseURL: server.url, apiKey: "unused", maxRetries: 0 });
});
afterAll(async () => {
  await server?.close();
  await claude?.close();
  await model?.dispose();
});

const metricsText = async () => (await fetch(`${server.url}/metrics`)).text();

describe("serve --router", () => {
  it("answers on the local model first", async () => {
    const before = claude.requests.length;
    const message = await client.messages.create({ model: "claude-opus-5", max_tokens: 4, messages: [{ role: "user", content: "Hi" }] });
    expect(message.model).toBe("tiny-phi4");
    expect(claude.requests.length).toBe(before);
  });

  it("falls back to Claude when the local model cannot take the request (an image), with Claude's configured model", async () => {
    claude.enqueue(text("A red square."));
    const image = { type: "image" as const, source: { type: "base64" as const, media_type: "image/png" as const, data: "iVBORw0KGgo=" } };
    const message = await client.messages.create({
      model: "claude-opus-5",
      max_tokens: 16,
      messages: [{ role: "user", content: [image, { type: "text", text: "What is this?" }] }],
    });
    expect(message).toMatchObject({ model: "claude-test", content: [{ type: "text", text: "A red square." }] });
    expect(claude.requests.at(-1)!.body).toMatchObject({ model: "claude-test", messages: [{ role: "user", content: [{ type: "image" }, { type: "text" }] }] });
    expect(await metricsText()).toMatch(/^phi4_router_fallbacks_total\{provider="local"\} 1$/m);
  });

  it("streams a context too long for the local model from Claude", async () => {
    claude.enqueue(text("Summarized."));
    const stream = client.messages.stream({ model: "any", max_tokens: 16, messages: [{ role: "user", content: "Summarize: " + "lorem ipsum ".repeat(200) }] });
    let streamed = "";
    stream.on("text", (delta) => (streamed += delta));
    const final = await stream.finalMessage();
    expect(streamed).toBe("Summarized.");
    expect(final).toMatchObject({ model: "claude-test", stop_reason: "end_turn" });
    expect(await metricsText()).toMatch(/^phi4_router_attempts_total\{provider="claude"\} 2$/m);
  });

  it("serves OpenAI clients through the same router: locally first, an image falls back to Claude, a tool call streams back as tool_calls", async () => {
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const before = claude.requests.length;
    expect((await openai.chat.completions.create({ model: "gpt-4o", max_tokens: 4, messages: [{ role: "user", content: "Hi" }] })).model).toBe("tiny-phi4");
    expect(claude.requests.length).toBe(before);

    claude.enqueue(toolUse({ name: "describe", input: { color: "red" } }));
    const image = { type: "image_url" as const, image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } };
    const tools = [{ type: "function" as const, function: { name: "describe", parameters: { type: "object", properties: { color: { type: "string" } } } } }];
    const stream = openai.chat.completions.stream({
      model: "gpt-4o",
      max_tokens: 16,
      tools,
      messages: [{ role: "user", content: [image, { type: "text", text: "What is this?" }] }],
    });
    const final = await stream.finalChatCompletion();
    expect(final.model).toBe("claude-test");
    expect(final.choices[0].finish_reason).toBe("tool_calls");
    expect(final.choices[0].message.tool_calls).toMatchObject([{ type: "function", function: { name: "describe", arguments: '{"color":"red"}' } }]);
    expect(claude.requests.at(-1)!.body).toMatchObject({
      messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png" } }, { type: "text" }] }],
      tools: [{ name: "describe" }],
    });
  });

  it("an image inside a tool_result falls back to Claude like a top-level one; the local sampling defaults do not travel with it", async () => {
    claude.enqueue(text("A screenshot of a login form."));
    const image = { type: "image" as const, source: { type: "base64" as const, media_type: "image/png" as const, data: "iVBORw0KGgo=" } };
    const shoot = { name: "screenshot", description: "Capture the screen", input_schema: { type: "object" as const, properties: {} } };
    const message = await client.messages.create({
      model: "claude-opus-5",
      max_tokens: 16,
      tools: [shoot],
      messages: [
        { role: "user", content: "What is on the screen?" },
        { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: "screenshot", input: {} }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: [image] }] },
      ],
    });
    expect(message).toMatchObject({ model: "claude-test", content: [{ type: "text", text: "A screenshot of a login form." }] });
    const body = claude.requests.at(-1)!.body as Record<string, unknown>;
    expect(body).toMatchObject({ messages: [{}, {}, { content: [{ type: "tool_result", content: [{ type: "image" }] }] }] });
    expect(body).not.toHaveProperty("temperature");
  });
});
