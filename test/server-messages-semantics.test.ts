/**
 * The server answers what real Messages API clients send as the Messages API would: a tool_choice
 * with no tool to call is a 400; an image inside a tool_result gets the same 400 as a top-level one;
 * server tools' calls and results and search results in the history are read as text; a request
 * with no temperature samples at 1.0 unless the server was started with other defaults; errors speak
 * of the request's fields by their wire names. The real server, in-process on loopback, with the
 * tiny-phi4 model and the official SDK client.
 */
import Anthropic, { type APIError } from "@anthropic-ai/sdk";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import { LocalProvider } from "../lib/providers/local.js";
import { parseMessagesBody } from "../lib/server/request-schema.js";
import { startServer, type Phi4Server } from "../lib/server/index.js";

const models = inject("models");
let model: Model;
let server: Phi4Server;
let greedyServer: Phi4Server;
let client: Anthropic;
let greedyClient: Anthropic;

beforeAll(async () => {
  model = await loadModel(models.tinyPhi4, { threads: 1 });
  server = await startServer({ model, port: 0, maxConcurrency: 2, capacity: 512 });
  // Started with other defaults: a request that sends no temperature is greedy here.
  greedyServer = await startServer({ model, port: 0, capacity: 512, sampling: { temperature: 0 } });
  client = new Anthropic({ baseURL: server.url, apiKey: "unused", maxRetries: 0 });
  greedyClient = new Anthropic({ baseURL: greedyServer.url, apiKey: "unused", maxRetries: 0 });
});
afterAll(async () => {
  await server?.close();
  await greedyServer?.close();
  await model?.dispose();
});

const ask = { role: "user" as const, content: "Say hi" };
const weather = {
  name: "get_weather",
  description: "Current weather for a city",
  input_schema: { type: "object" as const, properties: { city: { type: "string" } }, required: ["city"] },
};
const webSearch = { type: "web_search_20250305" as const, name: "web_search" as const };
const image = { type: "image" as const, source: { type: "base64" as const, media_type: "image/png" as const, data: "iVBORw0KGgo=" } };

/** The error a request fails with (the SDK's typed error), and the message in its body. */
async function failure(request: Record<string, unknown>): Promise<APIError & { text: string }> {
  const error = await client.messages.create({ model: "m", max_tokens: 8, messages: [ask], ...request } as never).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(Anthropic.APIError);
  return Object.assign(error as APIError, { text: String(((error as APIError).error as { error?: { message?: string } })?.error?.message) });
}

describe("tool_choice without a tool to call", () => {
  it("is a 400 invalid_request_error naming tool_choice: any or a named tool with no tools, a name not among them, only server tools", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ tool_choice: { type: "any" } }, /tool_choice "any" asks for a tool call, but no tools were sent/],
      [{ tool_choice: { type: "tool", name: "get_weather" } }, /tool_choice names "get_weather", but no tools were sent/],
      [{ tools: [weather], tool_choice: { type: "tool", name: "get_time" } }, /tool_choice names "get_time", which is not one of the tools/],
      [{ tools: [webSearch], tool_choice: { type: "any" } }, /tool_choice "any" asks for a tool call, but none of the tools sent can be called here/],
    ];
    for (const [request, message] of cases) {
      const error = await failure(request);
      expect(error.status).toBe(400);
      expect(error.error).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
      expect(error.text).toMatch(message);
    }
  });

  it("auto and none need no tools", async () => {
    for (const tool_choice of [{ type: "auto" as const }, { type: "none" as const }]) {
      const message = await client.messages.create({ model: "m", max_tokens: 2, temperature: 0, messages: [ask], tool_choice } as never);
      expect((message as Anthropic.Message).content[0].type).toBe("text");
    }
  });
});

describe("images", () => {
  it("inside a tool_result get the same 400 as at the top level, in create and in stream", async () => {
    const history = [
      ask,
      { role: "assistant" as const, content: [{ type: "tool_use" as const, id: "toolu_1", name: "get_weather", input: { city: "Paris" } }] },
      {
        role: "user" as const,
        content: [{ type: "tool_result" as const, tool_use_id: "toolu_1", content: [{ type: "text" as const, text: "a chart:" }, image] }],
      },
    ];
    const top = await failure({ messages: [{ role: "user", content: [image, { type: "text", text: "What is this?" }] }] });
    const inResult = await failure({ tools: [weather], messages: history });
    for (const error of [top, inResult]) {
      expect(error.status).toBe(400);
      expect(error.text).toMatch(/image content is not supported.*reads text only/);
    }
    expect(inResult.text).toMatch(/inside a tool_result/);
    const streamed = await client.messages
      .stream({ model: "m", max_tokens: 8, tools: [weather], messages: history })
      .finalMessage()
      .catch((e: unknown) => e);
    expect(streamed).toMatchObject({ status: 400, message: expect.stringMatching(/image content is not supported/) });
  });

  it("inside a tool_result are refused by the local provider itself, so a router can take them elsewhere", async () => {
    const local = new LocalProvider(model, { capacity: 256 });
    try {
      const request = {
        max_tokens: 4,
        tools: [weather],
        messages: [
          ask,
          { role: "assistant" as const, content: [{ type: "tool_use" as const, id: "toolu_1", name: "get_weather", input: { city: "Paris" } }] },
          { role: "user" as const, content: [{ type: "tool_result" as const, tool_use_id: "toolu_1", content: [image] }] },
        ],
      };
      await expect(local.create(request)).rejects.toMatchObject({ kind: "unsupported", message: expect.stringMatching(/image blocks in a tool_result/) });
    } finally {
      await local.close();
    }
  });
});

describe("server tools and search results in the history", () => {
  const history = [
    { role: "user", content: "Who won the 2022 World Cup? Also check my notes." },
    {
      role: "assistant",
      content: [
        { type: "text", text: "Let me search." },
        { type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: { query: "2022 World Cup winner" } },
        {
          type: "web_search_tool_result",
          tool_use_id: "srvtoolu_1",
          content: [
            { type: "web_search_result", title: "2022 FIFA World Cup final", url: "https://example.com/final", encrypted_content: "opaque", page_age: null },
          ],
        },
        { type: "text", text: "Argentina won." },
        { type: "server_tool_use", id: "srvtoolu_2", name: "web_fetch", input: { url: "https://example.com/final" } },
        { type: "web_fetch_tool_result", tool_use_id: "srvtoolu_2", content: { type: "web_fetch_result", url: "https://example.com/final", content: {} } },
      ],
    },
    {
      role: "user",
      content: [
        { type: "search_result", source: "notes://football", title: "My notes", content: [{ type: "text", text: "Messi scored twice." }] },
        { type: "text", text: "Does that match?" },
      ],
    },
  ];

  it("are accepted and become text that says what happened", () => {
    const { request } = parseMessagesBody({ model: "m", max_tokens: 8, messages: history, tools: [webSearch] });
    expect(request.tools).toBeUndefined();
    expect(request.messages[1].content).toEqual([
      { type: "text", text: "Let me search." },
      { type: "text", text: '[server tool call web_search srvtoolu_1: {"query":"2022 World Cup winner"}]\n' },
      { type: "text", text: "[web search results for srvtoolu_1:\n1. 2022 FIFA World Cup final <https://example.com/final>]\n" },
      { type: "text", text: "Argentina won." },
      { type: "text", text: '[server tool call web_fetch srvtoolu_2: {"url":"https://example.com/final"}]\n' },
      { type: "text", text: "[web_fetch_tool_result for srvtoolu_2 omitted]\n" },
    ]);
    expect(request.messages[2].content).toEqual([
      { type: "text", text: "Search result: My notes (notes://football)\nMessi scored twice.\n" },
      { type: "text", text: "Does that match?" },
    ]);
  });

  it("a search_result inside a tool_result is read as text; Claude's tool search results load deferred tools", () => {
    const deferred = { ...weather, defer_loading: true };
    const messages = [
      ask,
      {
        role: "assistant",
        content: [
          { type: "server_tool_use", id: "srvtoolu_1", name: "tool_search_tool_regex", input: { pattern: "weather" } },
          {
            type: "tool_search_tool_result",
            tool_use_id: "srvtoolu_1",
            content: { type: "tool_search_tool_search_result", tool_references: [{ type: "tool_reference", tool_name: "get_weather" }] },
          },
          { type: "tool_use", id: "toolu_1", name: "lookup", input: {} },
        ],
      },
      {
        role: "user",
        content: [
          {
            type: "tool_result",
            tool_use_id: "toolu_1",
            content: [{ type: "search_result", source: "kb://1", title: "KB", content: [{ type: "text", text: "Sunny." }] }],
          },
        ],
      },
    ];
    const lookup = { name: "lookup", input_schema: { type: "object" } };
    const { request } = parseMessagesBody({
      model: "m",
      max_tokens: 8,
      messages,
      tools: [lookup, deferred],
      tool_choice: { type: "tool", name: "get_weather" },
    });
    expect(request.tools?.map((t) => t.name)).toEqual(["lookup", "get_weather"]);
    expect((request.messages[1].content as { text?: string }[])[1]).toEqual({ type: "text", text: "[tool search for srvtoolu_1 loaded: get_weather]\n" });
    expect(request.messages[2].content).toEqual([
      { type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "Search result: KB (kb://1)\nSunny.\n" }] },
    ]);
  });

  it("the server answers such a conversation, and its prompt holds their text", async () => {
    const request = { model: "m", max_tokens: 4, temperature: 0, tools: [webSearch], messages: history } as never;
    const message = await client.messages.create(request);
    expect(message.content[0].type).toBe("text");
    const counted = await client.messages.countTokens(request);
    const withoutResults = await client.messages.countTokens({
      model: "m",
      messages: [history[0], { role: "assistant", content: "Let me search.Argentina won." }, { role: "user", content: "Does that match?" }],
    } as never);
    // The rendered results (titles, URLs, the notes) are in the prompt: it is longer than the text around them.
    expect(counted.input_tokens).toBeGreaterThan(withoutResults.input_tokens + 20);
  });
});

describe("sampling defaults", () => {
  const hello = { model: "m", max_tokens: 8, messages: [ask] };
  const answers = async (c: Anthropic, request: Record<string, unknown>, n: number) =>
    Promise.all(Array.from({ length: n }, () => c.messages.create(request as never).then((m) => JSON.stringify(m.content))));

  it("a request with no temperature samples at 1.0, as the Messages API does; temperature 0 is greedy", async () => {
    // The test model's weights are random, so its next-token distributions are close to flat over the
    // 200k-token vocabulary: eight 8-token samples at temperature 1 all alike would be a vanishing chance.
    expect(new Set(await answers(client, hello, 8)).size).toBeGreaterThan(1);
    expect(new Set(await answers(client, { ...hello, temperature: 0 }, 3)).size).toBe(1);
  });

  it("a server started with temperature 0 answers a request with none greedily; a request's own temperature still wins", async () => {
    const [greedy] = await answers(client, { ...hello, temperature: 0 }, 1);
    expect(await answers(greedyClient, hello, 3)).toEqual([greedy, greedy, greedy]);
    expect(new Set(await answers(greedyClient, { ...hello, temperature: 1 }, 8)).size).toBeGreaterThan(1);
  });

  it("defaults outside the request's ranges are refused by their wire names", () => {
    expect(() => new LocalProvider(model, { sampling: { temperature: 1.5 } })).toThrow(/default temperature must be between 0 and 1/);
    expect(() => new LocalProvider(model, { sampling: { top_p: 0 } })).toThrow(/default top_p/);
    expect(() => new LocalProvider(model, { sampling: { top_k: 2.5 } })).toThrow(/default top_k/);
  });
});

describe("errors", () => {
  it("name the request's fields as the client sent them (max_tokens, not the engine's maxTokens)", async () => {
    const error = await failure({ max_tokens: 2, tools: [weather], tool_choice: { type: "tool", name: "get_weather" } });
    expect(error.status).toBe(400);
    expect(error.text).toMatch(/max_tokens 2 is too small for a complete tool call/);
    expect(error.text).not.toMatch(/maxTokens|topP|topK|stopSequences|maxQueue/);
  });
});
