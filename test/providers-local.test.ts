/** LocalProvider on the tiny-phi4 model (real Phi-4 tokenizer and chat template, random weights). */
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";

import type { Generation, TokenConstraint } from "../lib/engine/generation.js";
import { loadModel, type Model } from "../lib/engine/model.js";
import { Sequence } from "../lib/engine/sequence.js";
import { collectMessage, MessageAccumulator } from "../lib/providers/accumulate.js";
import { ProviderError } from "../lib/providers/errors.js";
import { LocalProvider } from "../lib/providers/local.js";
import type { ContentBlock, MessageRequest, StreamEvent, ToolUseBlock } from "../lib/messages/types.js";

const models = inject("models");
let model: Model;
let local: LocalProvider;

beforeAll(async () => {
  model = await loadModel(models.tinyPhi4, { threads: 1 });
  local = new LocalProvider(model, { capacity: 128 });
});
afterAll(() => model?.dispose());

const ask = (max_tokens: number, extra: Partial<MessageRequest> = {}): MessageRequest => ({
  max_tokens,
  temperature: 0,
  system: "Be brief.",
  messages: [{ role: "user", content: "Say hi" }],
  ...extra,
});

/**
 * Holds every model step of the engine until release() (then restores Sequence.step), so a test can
 * look at requests while they are certainly admitted and not finished, whatever the machine's load.
 */
function holdSteps(): { release: () => void } {
  const step = Sequence.prototype.step;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const spy = vi.spyOn(Sequence.prototype, "step").mockImplementation(async function (this: Sequence, ...args) {
    await gate;
    return step.apply(this, args);
  });
  return {
    release: () => {
      spy.mockRestore();
      open();
    },
  };
}

/** Waits (polling, not a fixed delay) until `read` returns `expected`. */
const until = (read: () => number, expected: number) => vi.waitFor(() => expect(read()).toBe(expected), { timeout: 30_000, interval: 5 });

describe("LocalProvider", () => {
  it("answers in the Messages shape: text, stop reason, usage from the real prompt", async () => {
    const message = await local.create(ask(6));
    const prompt = model.tokenizer.encode(
      model.tokenizer.applyChatTemplate([
        { role: "system", content: "Be brief." },
        { role: "user", content: "Say hi" },
      ]),
    );
    expect(message).toMatchObject({ type: "message", role: "assistant", model: "tiny-phi4", usage: { input_tokens: prompt.length } });
    expect(message.content).toHaveLength(1);
    expect(message.content[0].type).toBe("text");
    expect(["end_turn", "max_tokens"]).toContain(message.stop_reason);
    expect(message.usage.output_tokens).toBeLessThanOrEqual(6);
  });

  it("streams the same greedy text as Messages events", async () => {
    const expected = await local.create(ask(8));
    const events: StreamEvent[] = [];
    for await (const event of local.stream(ask(8))) events.push(event);
    const types = events.map((e) => e.type);
    expect(types.slice(0, 2)).toEqual(["message_start", "content_block_start"]);
    expect(types.slice(-3)).toEqual(["content_block_stop", "message_delta", "message_stop"]);
    const text = events.flatMap((e) => (e.type === "content_block_delta" && e.delta.type === "text_delta" ? [e.delta.text] : [])).join("");
    expect(text).toBe((expected.content[0] as { text: string }).text);
  });

  it("stops on a stop sequence and reports it", async () => {
    const free = await local.create(ask(24));
    const text = (free.content[0] as { text: string }).text;
    const stop = text.trim().slice(2, 5);
    expect(stop.length).toBeGreaterThan(0);
    const stopped = await local.create(ask(24, { stop_sequences: [stop] }));
    expect(stopped).toMatchObject({ stop_reason: "stop_sequence", stop_sequence: stop });
    expect((stopped.content[0] as { text: string }).text).toBe(text.slice(0, text.indexOf(stop)));
  });

  it("refuses what it cannot do with a ProviderError kind a router can act on", async () => {
    const tiny = new LocalProvider(model, { capacity: 8 });
    await expect(tiny.create(ask(4))).rejects.toMatchObject({ kind: "context_exceeded" });
    const image = ask(4, { messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: "iVBOR" } }] }] });
    await expect(local.create(image)).rejects.toMatchObject({ kind: "unsupported" });
    const abort = new AbortController();
    abort.abort();
    const aborted = await local.create(ask(4), { signal: abort.signal }).catch((e: unknown) => e);
    expect(aborted).toBeInstanceOf(ProviderError);
    expect(aborted).toMatchObject({ kind: "aborted" });
  });

  it("queues requests beyond its concurrency, and refuses past maxQueue", async () => {
    const held = holdSteps();
    const first = local.create(ask(4));
    const second = local.create(ask(4));
    await until(() => local.queueDepth, 2);
    held.release();
    const [a, b] = await Promise.all([first, second]);
    expect(a.content).toEqual(b.content);
    expect(local.queueDepth).toBe(0);

    const strict = new LocalProvider(model, { capacity: 128, maxQueue: 0 });
    const heldStrict = holdSteps();
    try {
      const running = strict.create(ask(16));
      await until(() => strict.queueDepth, 1);
      // The engine's own option name (maxQueue) means nothing to an HTTP client: the message does not use it.
      await expect(strict.create(ask(4))).rejects.toMatchObject({ kind: "overloaded", message: expect.not.stringMatching(/maxQueue/) });
      heldStrict.release();
      await running;
    } finally {
      heldStrict.release();
      await strict.close();
    }
  });

  it("frees the sequence of a stream its consumer leaves early", async () => {
    for await (const event of local.stream(ask(64))) if (event.type === "content_block_start") break;
    expect(local.queueDepth).toBe(0);
    expect((await local.create(ask(4))).content[0].type).toBe("text");
  });

  it("runs concurrent requests together on its context's batched steps, with the same greedy answers", async () => {
    const batched = new LocalProvider(model, { capacity: 128, concurrency: 2 });
    try {
      const alone = await local.create(ask(8));
      const held = holdSteps();
      const pair = [batched.create(ask(8)), batched.create(ask(8))];
      await until(() => batched.queueDepth, 2);
      held.release();
      for (const message of await Promise.all(pair)) expect(message.content).toEqual(alone.content);
    } finally {
      await batched.close();
    }
  });
});

describe("LocalProvider tool turns (the tools layer)", () => {
  const echo = {
    name: "echo",
    description: "Echoes a message",
    input_schema: { type: "object" as const, properties: { message: { type: "string" } }, required: ["message"] },
  };

  it("a forced tool choice yields a schema-valid tool_use block, streamed as Messages events", async () => {
    const request = ask(48, { tools: [echo], tool_choice: { type: "tool", name: "echo" } });
    const events: StreamEvent[] = [];
    for await (const event of local.stream(request)) events.push(event);
    const message = await local.create(request);
    const call = message.content.find((b) => b.type === "tool_use");
    expect(call).toMatchObject({ type: "tool_use", id: expect.stringMatching(/^toolu_/), name: "echo", input: { message: expect.any(String) } });
    expect(message.stop_reason).toBe("tool_use");
    expect(message.usage.input_tokens).toBeGreaterThan(20);
    expect(events.map((e) => e.type)).toContain("content_block_start");
    expect(events.find((e) => e.type === "content_block_delta" && e.delta.type === "input_json_delta")).toBeTruthy();
    expect(events.at(-2)).toMatchObject({ type: "message_delta", delta: { stop_reason: "tool_use" } });
  });

  // One call, so that the events are one block's.
  const forced = (max_tokens = 48) => ask(max_tokens, { tools: [echo], tool_choice: { type: "tool", name: "echo", disable_parallel_tool_use: true } });
  const inputJson = (events: StreamEvent[]) =>
    events.flatMap((e) => (e.type === "content_block_delta" && e.delta.type === "input_json_delta" ? [e.delta.partial_json] : []));
  // Call ids are random; everything else must match.
  const sameIds = (content: ContentBlock[]) => content.map((b) => (b.type === "tool_use" ? { ...b, id: "toolu_x" } : b));

  it("streams a forced call as it is generated: the tool_use block first, then its input token by token", async () => {
    // Every generation is watched from its creation: one that has settled sets the flag within a microtask,
    // long before a delta it produced could reach this loop through the provider's stream.
    let settled = false;
    const original = Sequence.prototype.generate;
    const generate = vi.spyOn(Sequence.prototype, "generate").mockImplementation(function (
      this: Sequence,
      ...args: Parameters<Sequence["generate"]>
    ): Generation {
      const generation = original.apply(this, args);
      generation.result.then(
        () => (settled = true),
        () => (settled = true),
      );
      return generation;
    });
    const events: StreamEvent[] = [];
    let whileGenerating: string | undefined;
    try {
      for await (const event of local.stream(forced())) {
        events.push(event);
        if (event.type === "content_block_delta" && whileGenerating === undefined) whileGenerating = settled ? "finished" : "running";
      }
    } finally {
      generate.mockRestore();
    }
    expect(whileGenerating).toBe("running");
    expect(events.slice(0, 2)).toMatchObject([
      { type: "message_start" },
      { type: "content_block_start", index: 0, content_block: { type: "tool_use", name: "echo", input: {} } },
    ]);
    const deltas = events.slice(2, -3);
    expect(deltas.length).toBeGreaterThanOrEqual(3);
    for (const delta of deltas) expect(delta).toMatchObject({ type: "content_block_delta", index: 0, delta: { type: "input_json_delta" } });
    expect(events.slice(-3)).toMatchObject([
      { type: "content_block_stop", index: 0 },
      { type: "message_delta", delta: { stop_reason: "tool_use" } },
      { type: "message_stop" },
    ]);
    const created = await local.create(forced());
    expect(JSON.parse(inputJson(events).join(""))).toEqual((created.content[0] as ToolUseBlock).input);
  });

  it("creates the same content as the stream accumulates, greedy, whatever the tool choice", async () => {
    for (const tool_choice of [{ type: "tool", name: "echo" }, { type: "any" }, { type: "auto" }] as const) {
      const request = ask(48, { tools: [echo], tool_choice });
      const streamed = await collectMessage("local", local.stream(request));
      const created = await local.create(request);
      expect(sameIds(streamed.content), tool_choice.type).toEqual(sameIds(created.content));
      expect(streamed.stop_reason).toBe(created.stop_reason);
      expect(streamed.usage).toEqual(created.usage);
    }
  });

  it("aborts the generation and frees the sequence when its consumer stops reading mid tool call", async () => {
    const generate = vi.spyOn(Sequence.prototype, "generate");
    try {
      for await (const event of local.stream(forced(96))) if (event.type === "content_block_delta") break;
      expect(local.queueDepth).toBe(0);
      await expect((generate.mock.results.at(-1)!.value as Generation).result).rejects.toMatchObject({ code: "ABORTED" });
    } finally {
      generate.mockRestore();
    }
    expect((await local.create(forced())).content[0].type).toBe("tool_use");
  });

  it("with tool_choice auto, streams the text before a call as a text block, then the call; create gives the same", async () => {
    // A random model hardly ever samples <|tool_call|> by itself: make it the only choice at the fourth token.
    const opener = model.tokenizer.tokenToId("<|tool_call|>")!;
    const only = new Uint8Array(Math.ceil(model.tokenizer.vocabSize / 8));
    only[opener >> 3] |= 1 << (opener & 7);
    const generate = Sequence.prototype.generate;
    const spy = vi.spyOn(Sequence.prototype, "generate").mockImplementation(function (this: Sequence, input, options = {}) {
      const lazy = options.constraint!;
      let step = 0;
      const constraint: TokenConstraint = {
        allowedTokens: () => (step === 3 ? only : lazy.allowedTokens()),
        accept: (token) => (step++, lazy.accept(token)),
        isComplete: () => lazy.isComplete(),
      };
      return generate.call(this, input, { ...options, constraint });
    });
    try {
      const request = ask(48, { tools: [echo], tool_choice: { type: "auto", disable_parallel_tool_use: true } });
      const events: StreamEvent[] = [];
      for await (const event of local.stream(request)) events.push(event);
      const starts = events.flatMap((e) => (e.type === "content_block_start" ? [e.content_block.type] : []));
      expect(starts).toEqual(["text", "tool_use"]);
      const call = events.findIndex((e) => e.type === "content_block_start" && e.content_block.type === "tool_use");
      expect(events.slice(call + 1, -3).filter((e) => e.type === "content_block_delta").length).toBeGreaterThanOrEqual(3);
      const streamed = new MessageAccumulator("local");
      for (const event of events) streamed.push(event);
      expect(sameIds(streamed.result().content)).toEqual(sameIds((await local.create(request)).content));
    } finally {
      spy.mockRestore();
    }
  });

  it("does not retry an attempt it has streamed: a call cut short by a stop sequence ends the stream with invalid_output", async () => {
    const request = { ...forced(), stop_sequences: ['"'] };
    const events: StreamEvent[] = [];
    const error = await (async () => {
      for await (const event of local.stream(request)) events.push(event);
    })().catch((e: unknown) => e);
    expect(events.map((e) => e.type).slice(0, 2)).toEqual(["message_start", "content_block_start"]);
    expect(events.at(-1)).toMatchObject({ type: "content_block_delta", delta: { type: "input_json_delta" } });
    expect(error).toMatchObject({ kind: "invalid_output", message: expect.stringMatching(/not retried.*unterminated tool call/) });
    // Not streamed, the same request is retried (in vain: every attempt meets the stop sequence), given room for the retries.
    const roomy = new LocalProvider(model, { capacity: 512 });
    try {
      await expect(roomy.create(request)).rejects.toMatchObject({ kind: "invalid_output", message: expect.stringMatching(/after 2 retries/) });
      // A caller that collects the stream before showing it (a router's buffered attempt) gets create's retries too.
      const buffered = (async () => {
        for await (const event of roomy.stream(request, { buffered: true })) void event;
      })();
      await expect(buffered).rejects.toMatchObject({ kind: "invalid_output", message: expect.stringMatching(/after 2 retries/) });
    } finally {
      await roomy.close();
    }
  });

  it("takes a conversation with tool calls and results (the agent loop's second turn)", async () => {
    const request = ask(8, {
      tools: [echo],
      messages: [
        { role: "user", content: "Echo hi" },
        { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: "echo", input: { message: "hi" } }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "Echo: hi" }] }] },
      ],
      tool_choice: { type: "none" },
    });
    const message = await local.create(request);
    expect(message.content.every((b) => b.type === "text")).toBe(true);
    expect(["end_turn", "max_tokens"]).toContain(message.stop_reason);
  });
});
