/**
 * Guaranteed-valid calls on the tiny-phi4 random model (Phi-4's real 200064-token vocabulary, random
 * weights): whatever it samples, toolChoice "any" must give calls that validate, within maxTokens.
 * Checked with an ajv of the test's own and strict JSON.parse, not with the library's validator.
 */
import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import type { Sequence } from "../lib/engine/sequence.js";
import { generateToolTurn } from "../lib/tools/turn.js";
import type { ToolDefinition } from "../lib/messages/types.js";

const models = inject("models");

const object = (properties: Record<string, unknown>, required: string[]) => ({ type: "object" as const, properties, required, additionalProperties: false });

// Realistic schemas: nested objects, arrays of objects, enums, integers, optional fields, unions.
const TOOL_SETS: Record<string, ToolDefinition[]> = {
  calendar: [
    {
      name: "create_event",
      description: "Create an event",
      input_schema: object(
        {
          title: { type: "string", minLength: 1 },
          start: object({ date: { type: "string" }, hour: { type: "integer" } }, ["date", "hour"]),
          attendees: { type: "array", items: object({ email: { type: "string" }, optional: { type: "boolean" } }, ["email"]), maxItems: 3 },
          priority: { enum: ["low", "normal", "high"] },
        },
        ["title", "start"],
      ),
    },
  ],
  shop: [
    {
      name: "add_to_cart",
      description: "Add items to the cart",
      input_schema: object(
        {
          items: { type: "array", items: object({ sku: { type: "string" }, quantity: { type: "integer" } }, ["sku", "quantity"]), minItems: 1 },
          coupon: { type: ["string", "null"] },
          gift: { type: "boolean" },
        },
        ["items"],
      ),
    },
  ],
  weatherAndSearch: [
    {
      name: "get_weather",
      description: "Weather",
      input_schema: object({ city: { type: "string" }, unit: { enum: ["c", "f"] }, days: { type: "integer" } }, ["city"]),
    },
    {
      name: "search",
      description: "Search",
      input_schema: object(
        {
          query: { type: "string" },
          limit: { type: "integer" },
          filters: object({ tags: { type: "array", items: { type: "string" } }, score: { type: "number" } }, []),
        },
        ["query"],
      ),
    },
  ],
  files: [
    {
      name: "write_file",
      description: "Write a file",
      input_schema: object({ path: { type: "string" }, content: { type: "string" }, mode: { const: "overwrite" } }, ["path", "content"]),
    },
    { name: "move", description: "Move a file", input_schema: object({ from: { type: "string" }, to: { type: "string" } }, ["from", "to"]) },
  ],
};

const RUNS_PER_SET = 50; // 4 sets: 200 runs
const MAX_TOKENS = 48; // small enough that many runs end by the budget forcing the call closed

describe("constrained tool calls on the tiny-phi4 random model", () => {
  let model: Model;
  let sequence: Sequence;
  const ajv = new Ajv({ allErrors: true });

  beforeAll(async () => {
    model = await loadModel(models.tinyPhi4);
    sequence = await model.createSequence({ capacity: 256 });
  });
  afterAll(async () => {
    await model?.dispose();
  });

  for (const [setName, tools] of Object.entries(TOOL_SETS)) {
    it(`toolChoice "any": ${RUNS_PER_SET} seeded runs with "${setName}" all give schema-valid calls`, async () => {
      const validators = new Map(tools.map((t) => [t.name, ajv.compile(t.input_schema)]));
      for (let seed = 0; seed < RUNS_PER_SET; seed++) {
        const turn = await generateToolTurn(sequence, {
          messages: [{ role: "user", content: "Do it." }],
          tools,
          toolChoice: "any",
          maxTokens: MAX_TOKENS,
          sampling: { temperature: 1, seed },
          maxStringLength: 10,
          maxWhitespace: 1,
        });
        const where = `${setName}, seed ${seed}: ${turn.generation.text}`;
        expect(turn.stopReason, where).toBe("tool_use");
        expect(turn.retries, where).toBe(0);
        expect(turn.errors, where).toEqual([]);
        expect(turn.generation.tokens.length, where).toBeLessThanOrEqual(MAX_TOKENS);
        // The raw output after the prefilled <|tool_call|> is strict JSON, then the closer.
        expect(turn.generation.text.endsWith("<|/tool_call|>"), where).toBe(true);
        const calls = JSON.parse(turn.generation.text.slice(0, -"<|/tool_call|>".length)) as { name: string; arguments: unknown }[];
        expect(calls.length, where).toBeGreaterThan(0);
        expect(
          calls.map((c) => ({ name: c.name, arguments: c.arguments })),
          where,
        ).toEqual(turn.toolCalls.map((c) => ({ name: c.name, arguments: c.arguments })));
        for (const call of calls) {
          const validate = validators.get(call.name);
          expect(validate, where).toBeDefined();
          expect(validate!(call.arguments), `${where}\n${JSON.stringify(validate!.errors)}`).toBe(true);
        }
      }
    });
  }

  it("a named tool choice calls that tool, even with the smallest budget that fits a call", async () => {
    const options = {
      messages: [{ role: "user" as const, content: "Move it." }],
      tools: TOOL_SETS.files,
      toolChoice: { type: "tool" as const, name: "move", disable_parallel_tool_use: true },
    };
    const tooSmall = await generateToolTurn(sequence, { ...options, maxTokens: 1 }).catch((error: Error) => error.message);
    const smallest = Number(/needs at least (\d+)/.exec(String(tooSmall))?.[1]);
    expect(smallest).toBeGreaterThan(1);
    for (let seed = 0; seed < 5; seed++) {
      const turn = await generateToolTurn(sequence, { ...options, maxTokens: smallest, sampling: { temperature: 1, seed } });
      expect(turn.stopReason).toBe("tool_use");
      expect(turn.toolCalls).toHaveLength(1);
      expect(turn.toolCalls[0]).toMatchObject({
        id: expect.stringMatching(/^toolu_/),
        name: "move",
        arguments: { from: expect.any(String), to: expect.any(String) },
      });
      expect(turn.generation.tokens.length).toBeLessThanOrEqual(smallest);
    }
  });

  it("refuses a budget too small for any complete call", async () => {
    await expect(
      generateToolTurn(sequence, { messages: [{ role: "user", content: "Go." }], tools: TOOL_SETS.calendar, toolChoice: "any", maxTokens: 3 }),
    ).rejects.toThrow(/max_tokens 3 is too small for a complete tool call: it needs at least \d+/);
  });
});
