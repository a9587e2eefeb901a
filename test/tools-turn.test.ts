/** generateToolTurn / streamToolTurn on the tiny-phi4 random model: events, retries, stop tokens, KV reuse. */
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import type { Sequence } from "../lib/engine/sequence.js";
import type { TokenConstraint } from "../lib/engine/generation.js";
import { generateToolTurn, streamLiveToolTurn, streamToolTurn, type LiveToolTurnEvent, type ToolTurnEvent } from "../lib/tools/turn.js";
import type { MessageParam, ToolDefinition } from "../lib/messages/types.js";

const models = inject("models");

const TOOLS: ToolDefinition[] = [
  {
    name: "get_weather",
    description: "Weather for a city",
    input_schema: {
      type: "object",
      properties: { city: { type: "string", maxLength: 8 }, days: { type: "integer" } },
      required: ["city"],
      additionalProperties: false,
    },
  },
];
const ASK: MessageParam[] = [{ role: "user", content: "Weather in Paris?" }];

describe("tool turns", () => {
  let model: Model;
  let sequence: Sequence;

  beforeAll(async () => {
    model = await loadModel(models.tinyPhi4);
    sequence = await model.createSequence({ capacity: 256 });
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it("streams text and calls as events that add up to the result", async () => {
    const stream = streamToolTurn(sequence, {
      messages: ASK,
      tools: TOOLS,
      toolChoice: { type: "any" },
      maxTokens: 40,
      sampling: { temperature: 1, seed: 11 },
    });
    const events: ToolTurnEvent[] = [];
    for await (const event of stream) events.push(event);
    const result = await stream.result;
    expect(result.stopReason).toBe("tool_use");
    expect(events.filter((e) => e.type === "tool_use").map((e) => e.type === "tool_use" && e.call)).toEqual(result.toolCalls);
    expect(result.toolCalls[0]).toMatchObject({ name: "get_weather", arguments: { city: expect.any(String) } });
    expect(result.usage.outputTokens).toBe(result.generation.tokens.length);
    expect(result.usage.promptTokens).toBe(
      model.tokenizer.encode(
        model.tokenizer.applyChatTemplate([{ role: "user", content: "Weather in Paris?" }], {
          tools: [{ name: "get_weather", description: "Weather for a city", parameters: TOOLS[0].input_schema }],
        }) + "<|tool_call|>",
      ).length,
    );
  });

  it("stops on <|tool_response|> as well as the eos tokens", async () => {
    const generate = vi.spyOn(sequence, "generate");
    try {
      await generateToolTurn(sequence, { messages: ASK, tools: TOOLS, maxTokens: 2, sampling: { seed: 1, temperature: 1 } });
      expect(generate.mock.calls[0][1]?.stopTokens).toEqual([...model.folder.eosTokenIds, model.tokenizer.tokenToId("<|tool_response|>")]);
    } finally {
      generate.mockRestore();
    }
  });

  it("unconstrained, invalid calls are retried with the errors fed back, and the retries are reported", async () => {
    const events: ToolTurnEvent[] = [];
    const stream = streamToolTurn(sequence, {
      messages: ASK,
      tools: TOOLS,
      toolChoice: "any",
      constrained: false,
      maxRetries: 2,
      maxTokens: 6,
      sampling: { temperature: 1, seed: 3 },
    });
    for await (const event of stream) events.push(event);
    const result = await stream.result;
    // A random model does not write a valid call in 6 tokens.
    expect(result.retries).toBe(2);
    expect(result.toolCalls).toEqual([]);
    expect(result.errors.length).toBeGreaterThan(0);
    expect(result.stopReason).toBe("max_tokens");
    expect(events.filter((e) => e.type === "retry").map((e) => e.type === "retry" && e.retry)).toEqual([1, 2]);
    expect(result.usage.outputTokens).toBe(18);
    // The sequence holds the failed attempts and the feedback, then the last attempt.
    const held = model.tokenizer.decode(sequence.tokens);
    expect(held.match(/Your tool call was not valid:\n- /g)).toHaveLength(2);
  });

  it("reuses the KV of a conversation's earlier turns", async () => {
    const first = await generateToolTurn(sequence, { messages: ASK, tools: TOOLS, toolChoice: "any", maxTokens: 30, sampling: { temperature: 1, seed: 4 } });
    const call = first.toolCalls[0];
    const messages: MessageParam[] = [
      ...ASK,
      { role: "assistant", content: [{ type: "tool_use", id: call.id, name: call.name, input: call.arguments }] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "18°C" }] },
    ];
    const second = await generateToolTurn(sequence, { messages, tools: TOOLS, maxTokens: 4, sampling: { temperature: 1, seed: 4 } });
    // The KV of the first turn's prompt is reused; only what follows it is prefilled.
    expect(second.usage.cachedTokens).toBeGreaterThanOrEqual(first.usage.promptTokens - 1);
    expect(second.usage.cachedTokens).toBeLessThan(second.usage.promptTokens);
    expect(second.toolCalls).toEqual([]);
    expect(second.text.length).toBeGreaterThan(0);
    expect(["end_turn", "max_tokens"]).toContain(second.stopReason);
  });

  it("tool_choice none never lets <|tool_call|> be sampled", async () => {
    const turn = await generateToolTurn(sequence, { messages: ASK, tools: TOOLS, toolChoice: "none", maxTokens: 12, sampling: { temperature: 2, seed: 9 } });
    expect(turn.generation.tokens).not.toContain(model.tokenizer.tokenToId("<|tool_call|>"));
    expect(turn.toolCalls).toEqual([]);
  });

  it("runs on a Model with a sequence of its own", async () => {
    const turn = await generateToolTurn(model, {
      messages: ASK,
      tools: TOOLS,
      toolChoice: "any",
      maxTokens: 30,
      capacity: 160,
      sampling: { temperature: 1, seed: 5 },
    });
    expect(turn.toolCalls).toHaveLength(1);
  });

  it("stops the turn when the reader stops reading", async () => {
    const stream = streamToolTurn(sequence, { messages: ASK, tools: TOOLS, constrained: false, maxTokens: 50, sampling: { temperature: 1, seed: 6 } });
    for await (const event of stream) {
      expect(event.type).toBe("text");
      break;
    }
    await expect(stream.result).rejects.toMatchObject({ code: "ABORTED" });
    // The sequence is free again.
    await generateToolTurn(sequence, { messages: ASK, tools: TOOLS, maxTokens: 1 });
  });

  it("rejects bad options", async () => {
    await expect(generateToolTurn(sequence, { messages: ASK, tools: TOOLS, maxRetries: -1 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(generateToolTurn(sequence, { messages: ASK, tools: TOOLS, toolChoice: { type: "tool", name: "nope" } })).rejects.toThrow(
      /not one of the tools/,
    );
    await expect(generateToolTurn(sequence, { messages: ASK, tools: TOOLS, maxStringLength: 0 })).rejects.toThrow(/maxStringLength must be an integer >= 1/);
  });

  /** Makes the constrained model write `text` then the closer, checking each token against the real constraint. */
  function scripted(text: string) {
    const tokens = [...model.tokenizer.encode(text, { allowSpecial: false }), model.tokenizer.tokenToId("<|/tool_call|>")!];
    const mask = new Uint8Array(Math.ceil(model.tokenizer.vocabSize / 8));
    const generate = sequence.generate.bind(sequence);
    return vi.spyOn(sequence, "generate").mockImplementation((input, options = {}) => {
      const real = options.constraint!;
      let step = 0;
      const constraint: TokenConstraint = {
        allowedTokens: () => {
          const token = tokens[step];
          const bits = real.allowedTokens();
          expect(bits === null || (bits[token >> 3] & (1 << (token & 7))) !== 0, `token ${step} of the script is not allowed`).toBe(true);
          mask.fill(0);
          mask[token >> 3] |= 1 << (token & 7);
          return mask;
        },
        accept: (token) => (step++, real.accept(token)),
        isComplete: () => real.isComplete(),
      };
      return generate(input, { ...options, constraint });
    });
  }

  it("a call that repeats an earlier one exactly is dropped, live without ever being shown", async () => {
    const paris = '{"name": "get_weather", "arguments": {"city": "Paris"}}';
    const text = `{"city": "Paris"}}, ${paris}, {"name": "get_weather", "arguments": {"city": "Rome"}}, ${paris}]`;
    const options = { messages: ASK, tools: TOOLS, toolChoice: { type: "tool" as const, name: "get_weather" }, maxTokens: 150 };
    const spy = scripted(text);
    try {
      const events: LiveToolTurnEvent[] = [];
      const stream = streamLiveToolTurn(sequence, options);
      for await (const event of stream) events.push(event);
      const cities = (await stream.result).toolCalls.map((c) => c.arguments.city);
      expect(cities).toEqual(["Paris", "Rome"]);
      const starts = events.filter((e) => e.type === "tool_use_start");
      expect(starts.length).toBe(2);
      // Rome's call was held while it read like Paris's, then shown with everything it had written.
      const rome = starts[1].type === "tool_use_start" ? starts[1].id : "";
      const json = events.flatMap((e) => (e.type === "tool_use_delta" && e.id === rome ? [e.json] : [])).join("");
      expect(JSON.parse(json)).toEqual({ city: "Rome" });
      expect(events.filter((e) => e.type === "tool_use").length).toBe(2);

      const turn = await generateToolTurn(sequence, options);
      expect(turn.toolCalls.map((c) => c.arguments.city)).toEqual(["Paris", "Rome"]);
      expect(turn.errors).toEqual([]);
    } finally {
      spy.mockRestore();
    }
  });
});
