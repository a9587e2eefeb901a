/**
 * anyOf / oneOf branches of one JSON type in the tool-call grammar (branch-union.ts): strings under
 * several patterns or formats, number ranges that meet or contain each other. The grammar must let
 * every branch's values through where it joins them, never let through a value the schema rejects
 * (checked by random byte walks and by seeded forced calls on a tiny random Phi-4-shaped model, each value
 * validated by ajv with ajv-formats), and keep the first branch where it cannot join.
 */
import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import type { Sequence } from "../lib/engine/sequence.js";
import type { ToolDefinition } from "../lib/messages/types.js";
import { ToolCatalog } from "../lib/tools/catalog.js";
import { ACCEPT, advance, advanceBytes, type State } from "../lib/tools/constraint/automaton.js";
import { ToolCallGrammar } from "../lib/tools/constraint/grammar.js";
import { addFormats } from "../lib/tools/formats.js";
import { generateToolTurn } from "../lib/tools/turn.js";
import type { JsonSchema } from "../lib/tools/types.js";

const models = inject("models");
const OPTIONS = { maxStringLength: 40, maxWhitespace: 1, clamp: 8 };
const PREFIX = '[{"name": "t", "arguments": {"x": ';
const SUFFIX = "}}]";
const bytes = (text: string) => [...Buffer.from(text, "utf8")];
/** The bytes of a binary string (a completion: one char per byte, which may end inside a UTF-8 character). */
const binaryBytes = (text: string) => [...Buffer.from(text, "latin1")];
const ajv = addFormats(new Ajv({ strict: false }));

/** Numerical Recipes LCG in [0, 1): the same walks on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** The grammar's state where the value of property x starts. */
function valueStart(x: JsonSchema): State {
  const schema = { type: "object" as const, properties: { x }, required: ["x"], additionalProperties: false };
  return new ToolCallGrammar(ToolCatalog.from([{ name: "t", input_schema: schema }]), 1, OPTIONS).after(PREFIX)!;
}

/** Whether the grammar lets `value` through as x. */
const writes = (x: JsonSchema, value: unknown) => advanceBytes(valueStart(x), bytes(`${JSON.stringify(value)}${SUFFIX}`)) === ACCEPT;

const SLUG = "^[a-z]+(?:-[a-z]+)*$";
const UNIONS: Record<string, { schema: JsonSchema; each: unknown[]; never: unknown[] }> = {
  "anyOf uri or slug": {
    schema: {
      anyOf: [
        { type: "string", format: "uri" },
        { type: "string", pattern: SLUG },
      ],
    },
    each: ["https://example.com/a", "my-page"],
    never: ["not a url", "Has Caps"],
  },
  "anyOf date or date-time": {
    schema: {
      anyOf: [
        { type: "string", format: "date" },
        { type: "string", format: "date-time" },
      ],
    },
    each: ["2024-02-28", "2024-02-28T10:00:00Z"],
    never: ["2024-02-30", "tomorrow"],
  },
  "oneOf overlapping patterns: strings of exactly one branch": {
    schema: {
      oneOf: [
        { type: "string", pattern: "^a[a-z]{0,3}$" },
        { type: "string", pattern: "^[a-z]{0,3}b$" },
      ],
    },
    each: ["acd", "xyb"],
    never: ["ab", "azzb"],
  },
  "anyOf integer ranges that meet": {
    schema: {
      anyOf: [
        { type: "integer", minimum: 0, maximum: 10 },
        { type: "integer", minimum: 11, maximum: 20 },
      ],
    },
    each: [0, 10, 11, 20],
    never: [-1, 21, 1.5],
  },
  "anyOf an integer range inside a number range": {
    schema: {
      anyOf: [
        { type: "integer", minimum: 0, maximum: 5 },
        { type: "number", minimum: -1, maximum: 10 },
      ],
    },
    each: [-0.5, 3, 9.75],
    never: [-2, 10.5],
  },
  "anyOf number ranges with a gap: both, side by side": {
    schema: {
      anyOf: [
        { type: "number", maximum: 0 },
        { type: "number", minimum: 100 },
      ],
    },
    each: [-3, 100, 1234.5],
    never: [50, 0.5, 99.99],
  },
  "oneOf disjoint number ranges: both": {
    schema: {
      oneOf: [
        { type: "integer", minimum: 0, maximum: 5 },
        { type: "integer", minimum: 10 },
      ],
    },
    each: [4, 12, 10],
    never: [7, -1],
  },
  "oneOf overlapping number ranges: the values of exactly one": {
    schema: {
      oneOf: [
        { type: "number", minimum: 0, maximum: 10 },
        { type: "number", minimum: 5, maximum: 20 },
      ],
    },
    each: [0, 4.999, 10.5, 20],
    never: [5, 7.5, 10, 21, -1],
  },
  "oneOf overlapping integer ranges, one unbounded": {
    schema: {
      oneOf: [
        { type: "integer", maximum: 10 },
        { type: "integer", minimum: 0 },
      ],
    },
    each: [-5, -1, 11, 300],
    never: [0, 5, 10, 1.5],
  },
  "anyOf strings of different lengths: both, side by side": {
    schema: {
      anyOf: [
        { type: "string", pattern: "^[0-9]+$", maxLength: 4 },
        { type: "string", format: "email" },
      ],
    },
    each: ["1234", "a@b.co"],
    never: ["12345", "a b"],
  },
  "anyOf a string or an object": {
    schema: {
      anyOf: [
        { type: "string", maxLength: 3 },
        { type: "object", properties: { n: { type: "integer" } }, required: ["n"], additionalProperties: false },
      ],
    },
    each: ["abc", { n: 3 }],
    never: ["abcd", {}, { n: "x" }],
  },
  "oneOf two objects with different required properties": {
    schema: {
      oneOf: [
        { type: "object", properties: { path: { type: "string" }, recursive: { type: "boolean" } }, required: ["path"] },
        { type: "object", properties: { path: { type: "string" }, pattern: { type: "string" } }, required: ["pattern"] },
      ],
    },
    each: [{ path: "a" }, { path: "a", recursive: true }, { pattern: "x" }],
    // Each matches both branches (neither closes its properties): the grammar of each leaves out the
    // optional property the other requires.
    never: [{ path: "a", pattern: "x", recursive: true }, { pattern: "x", path: "b" }, {}],
  },
  "oneOf objects told apart by a const": {
    schema: {
      oneOf: [
        { type: "object", properties: { kind: { const: "file" }, path: { type: "string" } }, required: ["kind", "path"] },
        { type: "object", properties: { kind: { const: "url" }, url: { type: "string", format: "uri" } }, required: ["kind", "url"] },
      ],
    },
    each: [
      { kind: "file", path: "a" },
      { kind: "url", url: "https://x.org/" },
    ],
    never: [
      { kind: "file", url: "https://x.org/" },
      { kind: "url", url: "not a url" },
    ],
  },
  "oneOf an array or null": {
    schema: { oneOf: [{ type: "array", items: { type: "string" }, maxItems: 2 }, { type: "null" }] },
    each: [["a", "b"], [], null],
    never: [["a", "b", "c"], "a"],
  },
  "oneOf beside properties: the schema's properties hold in every branch": {
    schema: {
      type: "object",
      properties: { a: { type: "string" }, b: { type: "string" } },
      oneOf: [{ required: ["a"] }, { required: ["b"] }],
      additionalProperties: false,
    },
    each: [{ a: "x" }, { b: "y" }],
    never: [{ a: "x", b: "y" }, {}, { c: "z" }],
  },
};

describe("branches of one type in the grammar", () => {
  for (const [name, { schema, each, never }] of Object.entries(UNIONS)) {
    it(`${name}: what it lets through, and random walks that all validate`, () => {
      const validate = ajv.compile(schema);
      for (const value of each) {
        expect(validate(value), JSON.stringify(value)).toBe(true);
        expect(writes(schema, value), JSON.stringify(value)).toBe(true);
      }
      for (const value of never) expect(writes(schema, value), JSON.stringify(value)).toBe(false);
      const start = valueStart(schema);
      for (let seed = 1; seed <= 120; seed++) {
        const rand = random(seed);
        let state = start;
        let text = "";
        for (;;) {
          const completion = state.completion();
          expect(advanceBytes(state, binaryBytes(completion))).toBe(ACCEPT);
          // The value ends where the call's closing bytes are accepted from here.
          if (text.length > 0 && advanceBytes(state, bytes(SUFFIX)) === ACCEPT && rand() < 0.15) break;
          const options: number[] = [];
          for (let b = 0; b < 256; b++) if (advance(state, b) !== null && !(b === 0x7d && text.length > 0)) options.push(b);
          if (options.length === 0) break;
          const follow = completion.charCodeAt(0);
          const b = rand() < 0.5 && options.includes(follow) ? follow : options[Math.floor(rand() * options.length)];
          text += String.fromCharCode(b);
          state = advance(state, b)!;
        }
        if (advanceBytes(state, bytes(SUFFIX)) !== ACCEPT) continue; // a walk that stopped inside a value
        const value = JSON.parse(Buffer.from(text, "latin1").toString("utf8")) as unknown;
        expect(validate(value), `${JSON.stringify(value)}: ${JSON.stringify(validate.errors)}`).toBe(true);
      }
    });
  }
});

describe("forced calls with branch unions on a tiny random model", () => {
  let model: Model;
  let sequence: Sequence;
  beforeAll(async () => {
    // The long-context variant: the tool prompt with these schemas is longer than tiny-phi4's 256 tokens.
    model = await loadModel(models.tinyPhi4Long, { threads: 1 });
    sequence = await model.createSequence({ capacity: 640 });
  });
  afterAll(() => model?.dispose());

  const tools: ToolDefinition[] = [
    {
      name: "link",
      description: "Link a page",
      input_schema: {
        type: "object",
        properties: {
          target: {
            anyOf: [
              { type: "string", format: "uri" },
              { type: "string", pattern: SLUG },
            ],
          },
          when: { anyOf: [{ type: "string", format: "date" }, { type: "string", format: "date-time" }, { type: "null" }] },
          code: {
            oneOf: [
              { type: "string", pattern: "^a[a-z]{0,3}$" },
              { type: "string", pattern: "^[a-z]{0,3}b$" },
            ],
          },
          weight: {
            anyOf: [
              { type: "integer", minimum: 0, maximum: 10 },
              { type: "integer", minimum: 11, maximum: 20 },
              { type: "number", minimum: 0, maximum: 25 },
            ],
          },
        },
        required: ["target", "when", "code", "weight"],
        additionalProperties: false,
      },
    },
  ];

  it("20 seeded forced calls all validate", async () => {
    const validate = ajv.compile(tools[0].input_schema);
    for (let seed = 0; seed < 20; seed++) {
      const turn = await generateToolTurn(sequence, {
        messages: [{ role: "user", content: "Link it." }],
        tools,
        toolChoice: { type: "tool", name: "link" },
        maxTokens: 160,
        sampling: { temperature: 1, seed },
        maxStringLength: 20,
        maxWhitespace: 1,
      });
      const where = `seed ${seed}: ${turn.generation.text}`;
      expect(turn.errors, where).toEqual([]);
      expect(turn.retries, where).toBe(0);
      expect(turn.toolCalls.length, where).toBeGreaterThan(0);
      for (const call of turn.toolCalls) expect(validate(call.arguments), `${where}\n${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });
});
