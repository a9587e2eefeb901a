/** AnthropicProvider through the real @anthropic-ai/sdk against a loopback server speaking the Messages wire format. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { collectMessage } from "../lib/providers/accumulate.js";
import { AnthropicProvider } from "../lib/providers/anthropic.js";
import { ProviderError } from "../lib/providers/errors.js";
import type { MessageRequest, StreamEvent } from "../lib/messages/types.js";
import { startMockAnthropic, text, toolUse, type MockAnthropic } from "./helpers/mock-anthropic.js";

let claude: MockAnthropic;
let provider: AnthropicProvider;

beforeAll(async () => {
  claude = await startMockAnthropic();
  provider = new AnthropicProvider({ baseURL: claude.url, apiKey: "sk-test", model: "claude-test", maxRetries: 0 });
});

afterAll(() => claude.close());

const request: MessageRequest = {
  max_tokens: 64,
  system: "Be brief.",
  messages: [{ role: "user", content: "What is 2 + 3?" }],
  tools: [
    { name: "add", description: "Adds", input_schema: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } }, required: ["a", "b"] } },
  ],
};

async function failure(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

describe("AnthropicProvider", () => {
  it("create sends the request with the default model and key, and returns the message", async () => {
    claude.enqueue(text("5"));
    const message = await provider.create(request);
    expect(message).toMatchObject({
      type: "message",
      role: "assistant",
      content: [{ type: "text", text: "5" }],
      model: "claude-test",
      stop_reason: "end_turn",
      stop_sequence: null,
    });
    expect(message.usage.input_tokens).toBeGreaterThan(0);
    const seen = claude.requests.at(-1)!;
    expect(seen.body).toMatchObject({ model: "claude-test", max_tokens: 64, system: "Be brief.", messages: request.messages, tools: request.tools });
    expect(`${seen.headers["x-api-key"] ?? ""} ${seen.headers.authorization ?? ""}`).toContain("sk-test");
  });

  it("streams events in the Messages order; tool_use input arrives in fragments", async () => {
    claude.enqueue({
      blocks: [
        { type: "text", text: "Let me add." },
        { type: "tool_use", name: "add", input: { a: 2, b: 3 } },
      ],
      stopReason: "tool_use",
    });
    const events: StreamEvent[] = [];
    for await (const event of provider.stream(request)) events.push(event);
    expect(events.map((e) => e.type)).toEqual([
      "message_start",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    expect(claude.requests.at(-1)!.body.stream).toBe(true);

    claude.enqueue(toolUse({ name: "add", input: { a: 2, b: 3 } }));
    const message = await collectMessage("claude", provider.stream(request));
    expect(message.content).toEqual([{ type: "tool_use", id: expect.stringMatching(/^toolu_/), name: "add", input: { a: 2, b: 3 } }]);
    expect(message.stop_reason).toBe("tool_use");
    expect(message.usage.output_tokens).toBeGreaterThan(1);
  });

  it("maps HTTP errors, timeouts and aborts to ProviderError kinds", async () => {
    claude.enqueue({ status: 529, errorType: "overloaded_error", message: "Overloaded" });
    const overloaded = await failure(provider.create(request));
    expect(overloaded).toMatchObject({ kind: "http", status: 529 });
    expect(overloaded.message).toContain("Overloaded");

    claude.enqueue({ status: 400, errorType: "invalid_request_error", message: "max_tokens: too large" });
    expect(await failure(collectMessage("claude", provider.stream(request)))).toMatchObject({ kind: "http", status: 400 });

    const impatient = new AnthropicProvider({ baseURL: claude.url, apiKey: "sk-test", model: "claude-test", maxRetries: 0, timeoutMs: 150 });
    claude.enqueue({ ...text("late"), delayMs: 2000 });
    expect(await failure(impatient.create(request))).toMatchObject({ kind: "timeout" });

    claude.enqueue({ ...text("late"), delayMs: 2000 });
    const abort = new AbortController();
    const seen = claude.requests.length;
    const aborted = failure(provider.create(request, { signal: abort.signal }));
    // Aborted while the server holds the request (it answers only after 2 s).
    await claude.received(seen + 1);
    abort.abort();
    expect(await aborted).toMatchObject({ kind: "aborted" });
  });
});
