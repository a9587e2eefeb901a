/**
 * The tool-call grammar and its token masks, fuzzed without running the network: each walk picks a
 * uniformly random allowed token of the real Phi-4 vocabulary at every step (far wilder than a model),
 * and the result must be a complete call that ajv accepts, valid UTF-8, within the token budget.
 */
import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import { ToolCatalog } from "../lib/tools/catalog.js";
import { addFormats } from "../lib/tools/formats.js";
import { advance, advanceBytes } from "../lib/tools/constraint/automaton.js";
import { ToolCallGrammar } from "../lib/tools/constraint/grammar.js";
import { MaskCache } from "../lib/tools/constraint/masks.js";
import { StringFrame } from "../lib/tools/constraint/string-frame.js";
import { createToolConstraint, type CreateToolConstraintOptions, type ToolCallConstraint } from "../lib/tools/constraint/tool-constraint.js";
import { Vocabulary } from "../lib/tools/constraint/vocabulary.js";
import type { ToolDefinition } from "../lib/messages/types.js";
import type { JsonSchema } from "../lib/tools/types.js";

const models = inject("models");
const OPEN = 200025;
const CLOSE = 200026;

/** Numerical Recipes LCG in [0, 1): the same walks on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

const allowed = (bits: Uint8Array | null, id: number) => bits === null || (bits[id >> 3] & (1 << (id & 7))) !== 0;

/** A uniformly random allowed token: a few blind tries (masks inside strings are dense), else a scan. */
function pick(bits: Uint8Array | null, size: number, rand: () => number): number {
  for (let i = 0; i < 16; i++) {
    const id = Math.floor(rand() * size);
    if (allowed(bits, id)) return id;
  }
  const ids: number[] = [];
  for (let id = 0; id < size; id++) if (allowed(bits, id)) ids.push(id);
  expect(ids.length).toBeGreaterThan(0);
  return ids[Math.floor(rand() * ids.length)];
}

// Corpus schemas are any JSON Schema; the catalog checks them at run time, as it does a client's.
const tool = (name: string, input_schema: JsonSchema): ToolDefinition => ({
  name,
  description: name,
  input_schema: input_schema as ToolDefinition["input_schema"],
});

const SCHEMAS: Record<string, JsonSchema> = {
  strings: {
    type: "object",
    properties: { s: { type: "string", minLength: 2, maxLength: 5 }, t: { type: "string", maxLength: 1 }, key: { type: "string" } },
    required: ["s", "t"],
    additionalProperties: false,
  },
  literals: {
    type: "object",
    properties: { n: { enum: [1, 12, 123, "x", null, true, { a: [1] }] }, c: { const: "fixed" }, e: { type: "string", enum: ["a", "ab", 3] } },
    required: ["n", "c", "e"],
    additionalProperties: false,
  },
  numbers: {
    type: "object",
    properties: { i: { type: "integer" }, f: { type: "number" }, list: { type: "array", items: { type: "number" }, minItems: 2, maxItems: 3 } },
    required: ["i", "f", "list"],
    additionalProperties: false,
  },
  unions: {
    type: "object",
    properties: {
      shapes: {
        oneOf: [
          { type: "object", properties: { kind: { const: "file" }, path: { type: "string", maxLength: 8 } }, required: ["kind", "path"] },
          { type: "object", properties: { kind: { const: "dir" }, depth: { type: "integer", minimum: 0, maximum: 3 } }, required: ["kind"] },
          { type: "array", items: { type: "number", minimum: 0, maximum: 5 }, maxItems: 2 },
          { type: "null" },
        ],
      },
      range: {
        oneOf: [
          { type: "integer", minimum: 0, maximum: 50 },
          { type: "integer", minimum: 40, maximum: 90 },
        ],
      },
      u: { type: ["string", "integer", "null", "boolean", "array", "object"] },
      anything: {},
      maybe: { anyOf: [{ type: "string", maxLength: 3 }, { type: "null" }] },
      nullable: { type: "integer", nullable: true },
    },
    required: ["shapes", "range", "u", "anything", "maybe", "nullable"],
    additionalProperties: false,
  },
  tree: {
    $ref: "#/$defs/node",
    $defs: {
      node: {
        type: "object",
        properties: { v: { type: "integer" }, kids: { type: "array", items: { $ref: "#/$defs/node" }, maxItems: 2 } },
        required: ["v"],
        additionalProperties: false,
      },
    },
  },
  bounds: {
    type: "object",
    properties: {
      timeout: { type: "number", minimum: 0, maximum: 600000 },
      step: { type: "integer", exclusiveMinimum: -30, exclusiveMaximum: 30, multipleOf: 7 },
      ratio: { type: "number", minimum: -1.5, maximum: 2.25 },
      below: { type: "integer", maximum: -600000 },
    },
    required: ["timeout", "step", "ratio", "below"],
    additionalProperties: false,
  },
  formats: {
    type: "object",
    properties: { when: { type: "string", format: "date" }, ip: { type: "string", format: "ipv4" }, slug: { type: "string", pattern: "^[a-z]+(-[a-z]+)*$" } },
    required: ["when", "ip", "slug"],
    additionalProperties: false,
  },
  tuples: {
    type: "object",
    properties: {
      pair: { type: "array", items: [{ type: "integer", minimum: 0, maximum: 9 }, { enum: ["x", "y"] }], additionalItems: false, minItems: 2 },
      head: { type: "array", prefixItems: [{ const: "first" }], maxItems: 3 },
      picks: { type: "array", items: { enum: ["a", "ab", 1, 12, true] }, uniqueItems: true, minItems: 2 },
    },
    required: ["pair", "head", "picks"],
    additionalProperties: false,
  },
  maps: {
    type: "object",
    properties: {
      labels: { type: "object", additionalProperties: { type: "string", maxLength: 4 } },
      merged: { allOf: [{ type: "object", properties: { a: { type: "boolean" } }, required: ["a"] }, { properties: { b: { type: "integer" } } }] },
      // additionalProperties false in one branch: only the keys that branch declares may appear.
      narrowed: {
        allOf: [
          { type: "object", properties: { a: {}, b: {} }, additionalProperties: false },
          { properties: { a: { type: "string" }, c: { type: "string" } } },
        ],
      },
    },
    required: ["labels", "merged", "narrowed"],
    additionalProperties: false,
  },
};

describe("tool-call grammar, fuzzed over the Phi-4 vocabulary", () => {
  let model: Model;
  let vocabulary: Vocabulary;
  const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
  const size = 200064;

  beforeAll(async () => {
    model = await loadModel(models.tinyPhi4);
    vocabulary = await Vocabulary.forModel(model);
  });
  afterAll(async () => {
    await model?.dispose();
  });

  /** Walks to completion; returns the tokens and the JSON text between the opener and the closer. */
  function walk(constraint: ToolCallConstraint, budget: number, rand: () => number, first: number[] = []) {
    const tokens: number[] = [];
    while (!constraint.isComplete()) {
      expect(tokens.length, "the budget ran out before the call was complete").toBeLessThan(budget);
      const bits = constraint.allowedTokens();
      const token = first.length > 0 ? first.shift()! : pick(bits, size, rand);
      expect(allowed(bits, token)).toBe(true);
      constraint.accept(token);
      tokens.push(token);
    }
    expect(tokens.at(-1)).toBe(CLOSE);
    const start = tokens.indexOf(OPEN) + 1;
    const bytes = tokens.slice(start, -1).flatMap((t) => [...vocabulary.tokenBytes[t]!]);
    const json = new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes));
    return { tokens, json };
  }

  for (const [name, schema] of Object.entries(SCHEMAS)) {
    it(`"${name}": random walks give calls that validate`, async () => {
      const validate = ajv.compile(schema);
      for (let seed = 1; seed <= 25; seed++) {
        const constraint = await createToolConstraint(model, [tool(name, schema)], { mode: "call", budget: 64, maxStringLength: 6, maxWhitespace: 2 });
        const { json } = walk(constraint, 64, random(seed));
        const calls = JSON.parse(json) as { name: string; arguments: unknown }[];
        for (const call of calls) {
          expect(call.name).toBe(name);
          expect(validate(call.arguments), `${json}\n${JSON.stringify(validate.errors)}`).toBe(true);
        }
      }
    });
  }

  it("finishes within every budget from the smallest that fits", async () => {
    const tools = [tool("tree", SCHEMAS.tree), tool("numbers", SCHEMAS.numbers)];
    const smallest = (await createToolConstraint(model, tools, { mode: "call", budget: 1000 })).minimumTokens;
    for (let budget = smallest; budget < smallest + 16; budget++) {
      for (let seed = 0; seed < 3; seed++) {
        const constraint = await createToolConstraint(model, tools, { mode: "call", budget });
        const { tokens, json } = walk(constraint, budget, random(budget * 7 + seed));
        expect(tokens.length).toBeLessThanOrEqual(budget);
        expect(() => JSON.parse(json)).not.toThrow();
      }
    }
    await expect(createToolConstraint(model, tools, { mode: "call", budget: smallest - 1 })).rejects.toThrow(/too small for a complete tool call/);
  });

  it("lazy mode: free text until <|tool_call|>, which is allowed only while a call still fits", async () => {
    const tools = [tool("numbers", SCHEMAS.numbers)];
    const options: CreateToolConstraintOptions = { mode: "lazy", budget: 40 };
    const constraint = await createToolConstraint(model, tools, options);
    const rand = random(5);
    for (let i = 0; i < 5; i++) {
      expect(constraint.allowedTokens()).toBeNull();
      constraint.accept(1000 + i);
    }
    const { tokens, json } = walk(constraint, 35, rand, [OPEN]);
    expect(tokens.length).toBeLessThanOrEqual(35);
    expect(ajv.compile(SCHEMAS.numbers)(JSON.parse(json)[0].arguments)).toBe(true);

    const late = await createToolConstraint(model, tools, { mode: "lazy", budget: 40 });
    for (let i = 0; i < 40 - late.minimumTokens; i++) {
      expect(late.allowedTokens()).toBeNull();
      late.accept(1000);
    }
    const mask = late.allowedTokens()!; // one token fewer and a call would no longer fit
    expect(allowed(mask, OPEN)).toBe(false);
    expect(allowed(mask, 1000)).toBe(true);
  });

  it("forbid mode (tool_choice none) allows every token but <|tool_call|>", async () => {
    const constraint = await createToolConstraint(model, [tool("numbers", SCHEMAS.numbers)], { mode: "forbid", budget: 10 });
    const mask = constraint.allowedTokens()!;
    let count = 0;
    for (let id = 0; id < size; id++) if (allowed(mask, id)) count++;
    expect(count).toBe(size - 1);
    expect(allowed(mask, OPEN)).toBe(false);
  });

  /** Whether a call-mode constraint over `tools`, started after `prefix`, lets `text` (as the tokenizer spells it) through. */
  async function constraintAccepts(tools: ToolDefinition[], prefix: string, text: string, maxCalls = 8): Promise<boolean> {
    const constraint = await createToolConstraint(model, tools, { mode: "call", budget: 100, prefix, maxCalls });
    for (const token of model.tokenizer.encode(text, { allowSpecial: false })) {
      if (!allowed(constraint.allowedTokens(), token)) return false;
      constraint.accept(token);
    }
    return true;
  }

  it("masks follow the grammar token by token", async () => {
    const weather = tool("get_weather", {
      type: "object",
      properties: { city: { type: "string" }, days: { type: "integer" } },
      required: ["city"],
      additionalProperties: false,
    });
    const accepts = (prefix: string, text: string, maxCalls = 8) => constraintAccepts([weather], prefix, text, maxCalls);
    const call = '[{"name": "get_weather", "arguments": ';
    expect(await accepts(call, '{"city": "Paris"}}]')).toBe(true);
    expect(await accepts(call, '{ "city" : "Paris" , "days" : -3 } } ]')).toBe(true);
    expect(await accepts(call, '{"city": "\\u00e9\\n\\"", "days": 0}}]')).toBe(true);
    expect(await accepts(call, '{"city": "Par"]')).toBe(false); // "]" cannot close an object
    expect(await accepts(call, '{"days": 2}}]')).toBe(false); // city is required
    expect(await accepts(call, '{"city": "x", "city": "y"}}]')).toBe(false); // each key once
    expect(await accepts(call, '{"city": "x", "wind": 1}}]')).toBe(false); // additionalProperties false
    expect(await accepts(call, '{"city": "x", "days": 1.5}}]')).toBe(false); // an integer
    expect(await accepts(call, '{"city": "x", "days": 01}}]')).toBe(false); // JSON numbers have no leading zero
    expect(await accepts(call, '{"city": "\\ud800"}}]')).toBe(false); // a lone surrogate
    expect(await accepts(call, '{"city": "x"     }}]')).toBe(false); // more whitespace than allowed (4)
    expect(await accepts(call, '{"city": "x"}}, {"name": "get_weather", "arguments": {"city": "y"}}]')).toBe(true);
    expect(await accepts(call, '{"city": "x"}}, {"name": "get_weather", "arguments": {"city": "y"}}]', 1)).toBe(false);

    const done = await createToolConstraint(model, [weather], { mode: "call", budget: 100, prefix: `${call}{"city": "x"}}` });
    expect(allowed(done.allowedTokens(), CLOSE)).toBe(false);
    done.accept(model.tokenizer.encode("]")[0]);
    const closerOnly = done.allowedTokens()!;
    expect(allowed(closerOnly, CLOSE)).toBe(true);
    expect(allowed(closerOnly, model.tokenizer.encode(" ")[0])).toBe(false);
    done.accept(CLOSE);
    expect(done.isComplete()).toBe(true);

    await expect(accepts('[{"name": "get_time", ', "")).rejects.toThrow(/does not start a call to one of the tools/);
  });

  it("numeric bounds hold token by token: no minus sign under a non-negative minimum, nothing past a maximum", async () => {
    const read = tool("read", {
      type: "object",
      properties: { limit: { type: "integer", exclusiveMinimum: 0 }, offset: { type: "number", minimum: 0 }, delta: { type: "integer", minimum: -5 } },
      additionalProperties: false,
    });
    const accepts = (text: string) => constraintAccepts([read], '[{"name": "read", "arguments": ', text);
    expect(await accepts('{"limit": 20, "offset": 0.5}}]')).toBe(true);
    expect(await accepts('{"limit": -883263695}}]')).toBe(false);
    expect(await accepts('{"offset": -1}}]')).toBe(false);
    expect(await accepts('{"delta": -3}}]')).toBe(true);
    expect(await accepts('{"delta": -6}}]')).toBe(false);
    const wait = tool("wait", { type: "object", properties: { timeout: { type: "number", maximum: 600000 } }, required: ["timeout"] });
    const waits = (text: string) => constraintAccepts([wait], '[{"name": "wait", "arguments": ', text);
    expect(await waits('{"timeout": 600000}}]')).toBe(true);
    expect(await waits('{"timeout": 6000000}}]')).toBe(false);
    expect(await waits('{"timeout": 600001}}]')).toBe(false);
  });

  it("a mask holds exactly the tokens the automaton accepts (brute force over the vocabulary)", () => {
    const schema = {
      type: "object",
      properties: {
        city: { type: "string", minLength: 3, maxLength: 40 },
        days: { type: "number" },
        unit: { enum: ["c", "f"] },
        site: { type: "string", format: "uri" },
        limit: { type: "integer", minimum: 1, maximum: 600000 },
        note: { type: "string", pattern: "x" },
        // Branches that start alike run side by side (union-frame.ts): their masks are the branches' together.
        either: {
          anyOf: [
            { type: "string", maxLength: 6 },
            { type: "string", format: "email" },
            { type: "integer", maximum: 99 },
            { type: "number", minimum: 1000 },
            { type: "object", properties: { a: { type: "string" } }, required: ["a"], additionalProperties: false },
            { type: "object", properties: { a: { type: "integer" }, b: { type: "boolean" } }, required: ["a"], additionalProperties: false },
          ],
        },
      },
      required: ["city"],
      additionalProperties: false,
    };
    const grammar = new ToolCallGrammar(ToolCatalog.from([tool("get_weather", schema)]), 2, {
      maxStringLength: 50,
      maxWhitespace: 2,
      clamp: vocabulary.maxTokenBytes + 1,
    });
    const masks = new MaskCache(vocabulary);
    const call = '[{"name": "get_weather", "arguments": {';
    const states = {
      start: grammar.start,
      key: grammar.after(`${call}"ci`)!,
      valueStart: grammar.after(`${call}"city": `)!,
      text: grammar.after(`${call}"city": "P`)!, // two characters short of minLength
      escape: grammar.after(`${call}"city": "Pa\\`)!,
      hex: grammar.after(`${call}"city": "\\u00`)!,
      utf8: advanceBytes(grammar.after(`${call}"city": "`)!, [0xe4, 0xb8])!, // inside a 3-byte character
      number: grammar.after(`${call}"city": "Paris", "days": 12`)!,
      enum: grammar.after(`${call}"unit": "`)!,
      afterCall: grammar.after(`${call}"city": "Paris"}}`)!,
      uriStart: grammar.after(`${call}"site": "`)!,
      uriPath: grammar.after(`${call}"site": "https://a.b/x`)!,
      uriScheme: grammar.after(`${call}"site": "h`)!,
      bounded: grammar.after(`${call}"limit": 60`)!,
      beforeMatch: grammar.after(`${call}"note": "ab`)!,
      afterMatch: grammar.after(`${call}"note": "abx`)!, // any string from here: a plain string frame
      unionString: grammar.after(`${call}"either": "ab`)!, // a short string or an e-mail address
      unionNumber: grammar.after(`${call}"either": 1`)!, // an integer up to 99 or a number from 1000
      unionEnded: grammar.after(`${call}"either": 12`)!, // may end here (the integer) or go on (the number)
      unionObject: grammar.after(`${call}"either": {"a": `)!, // a string or an integer next
    };
    for (const [name, state] of Object.entries(states)) {
      for (const slack of [Number.POSITIVE_INFINITY, 1, 0, -1]) {
        const bits = masks.get(state, slack).bits;
        let mismatches = 0;
        for (let id = 0; id < size; id++) {
          const bytes = vocabulary.tokenBytes[id];
          const next = bytes ? advanceBytes(state, bytes) : null;
          const expected = next !== null && next.distance <= state.distance + slack;
          if (expected !== allowed(bits, id)) mismatches++;
        }
        expect(mismatches, `${name}, slack ${slack}`).toBe(0);
      }
    }
    expect(advance(states.text, 0x22)).toBeNull(); // closing "P" would break minLength 3
    expect(states.afterMatch.top).toBeInstanceOf(StringFrame);
  });
});
