/**
 * Numeric bounds in the tool-call grammar, checked at the byte level against ajv: every number the
 * automaton lets through validates, every state it reaches can still be finished (by the completion it
 * names, of the length it claims), and for small ranges the accepted texts are exactly the valid ones.
 */
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";

import { ToolCatalog } from "../lib/tools/catalog.js";
import { ACCEPT, advance, advanceBytes, type State } from "../lib/tools/constraint/automaton.js";
import { ToolCallGrammar } from "../lib/tools/constraint/grammar.js";
import type { JsonSchema } from "../lib/tools/types.js";

// The catalog's options: a fractional multipleOf is checked to 6 decimals of the quotient (0.3 / 0.1 is not 3 in doubles).
const ajv = new Ajv({ strict: false, multipleOfPrecision: 6 });
const OPTIONS = { maxStringLength: 8, maxWhitespace: 1, clamp: 8 };
const PREFIX = '[{"name": "t", "arguments": {"x": ';
const SUFFIX = "}}]";

/** The state where the number begins, for a tool whose one required property `x` has this schema. */
function numberStart(x: JsonSchema): State {
  const schema = { type: "object" as const, properties: { x }, required: ["x"], additionalProperties: false };
  const grammar = new ToolCallGrammar(ToolCatalog.from([{ name: "t", input_schema: schema }]), 1, OPTIONS);
  return grammar.after(PREFIX)!;
}

const bytes = (text: string) => [...Buffer.from(text, "latin1")];
const finishes = (state: State | null) => state !== null && advanceBytes(state, bytes(SUFFIX)) === ACCEPT;

/** Numerical Recipes LCG in [0, 1): the same walks on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

const NUMBER_BYTES = bytes("-.0123456789");

const CASES: Record<string, JsonSchema> = {
  taskOutputTimeout: { type: "number", minimum: 0, maximum: 600000 },
  integerUpTo600000: { type: "integer", maximum: 600000 },
  exclusiveBoth: { type: "integer", exclusiveMinimum: -3, exclusiveMaximum: 1000 },
  multipleOfSeven: { type: "integer", minimum: -50, maximum: 100, multipleOf: 7 },
  wholeMultipleOfNumber: { type: "number", multipleOf: 25, minimum: 10 },
  fractionalBounds: { type: "number", minimum: -1.5, maximum: 2.25 },
  tinyPositive: { type: "number", exclusiveMinimum: 0, maximum: 0.001 },
  negativeOnly: { type: "integer", maximum: -600000 },
  farBounds: { type: "number", minimum: -1e300, exclusiveMaximum: 1e300 },
  longBound: { type: "number", exclusiveMaximum: 0.30000000000000004, minimum: 0.29 },
  narrowFraction: { type: "number", minimum: 10.01, maximum: 10.02 },
  cents: { type: "number", minimum: 0, maximum: 1000, multipleOf: 0.01 },
  halves: { type: "number", exclusiveMinimum: -3, multipleOf: 0.5 },
  stepOfFifteenThousandths: { type: "number", minimum: -2, maximum: 2, multipleOf: 0.015 },
  unboundedTenths: { type: "number", multipleOf: 0.1 },
};

describe("numeric bounds in the grammar", () => {
  for (const [name, schema] of Object.entries(CASES)) {
    it(`${name}: random byte walks never dead-end and every number they finish validates`, () => {
      const validate = ajv.compile(schema);
      const start = numberStart(schema);
      for (let seed = 1; seed <= 200; seed++) {
        const rand = random(seed);
        let state = start;
        let text = "";
        for (;;) {
          // From every reached state, the completion it names finishes it with exactly its distance.
          const completion = state.completion();
          expect(completion.length).toBe(state.distance);
          expect(advanceBytes(state, bytes(completion))).toBe(ACCEPT);
          const options = NUMBER_BYTES.filter((b) => advance(state, b) !== null);
          const canEnd = text !== "" && finishes(state);
          expect(options.length > 0 || canEnd, `stuck after ${JSON.stringify(text)}`).toBe(true);
          if (canEnd && (options.length === 0 || rand() < 0.3)) break;
          const b = options[Math.floor(rand() * options.length)];
          text += String.fromCharCode(b);
          state = advance(state, b)!;
        }
        const value = JSON.parse(text) as unknown;
        expect(validate(value), `${text}: ${JSON.stringify(validate.errors)}`).toBe(true);
      }
    });
  }

  /** Every number text of up to `length` bytes that the automaton accepts. */
  function accepted(schema: JsonSchema, length: number): string[] {
    const found: string[] = [];
    const visit = (state: State, text: string) => {
      if (text !== "" && finishes(state)) found.push(text);
      if (text.length === length) return;
      for (const b of NUMBER_BYTES) {
        const next = advance(state, b);
        if (next) visit(next, text + String.fromCharCode(b));
      }
    };
    visit(numberStart(schema), "");
    return found.sort();
  }

  it("a small integer range accepts exactly the valid integers", () => {
    const schema = { type: "integer", minimum: -20, exclusiveMaximum: 31, multipleOf: 3 };
    const expected: string[] = []; // no "-0": a minus sign starts only negative numbers
    for (let n = -20; n < 31; n++) if (n % 3 === 0) expected.push(String(n));
    expect(accepted(schema, 4)).toEqual(expected.sort());
  });

  it("a small decimal range accepts exactly the valid decimals of that length", () => {
    const validate = ajv.compile({ type: "number", exclusiveMinimum: -0.5, maximum: 1.25 });
    const texts = accepted({ type: "number", exclusiveMinimum: -0.5, maximum: 1.25 }, 5);
    // Every JSON decimal of up to 5 bytes, filtered by ajv.
    const all = new Set<string>();
    const grow = (text: string) => {
      const negativeZero = /^-0(\.0+)?$/.test(text);
      if (text.length > 0 && !negativeZero && /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/.test(text) && validate(JSON.parse(text))) all.add(text);
      if (text.length < 5) for (const c of "-.0123456789") grow(text + c);
    };
    grow("");
    expect(texts).toEqual([...all].sort());
    expect(texts).toContain("1.25");
    expect(texts).not.toContain("-0.5");
  });

  it("a fractional multipleOf accepts exactly its multiples", () => {
    const schema = { type: "number", minimum: -1, maximum: 1, multipleOf: 0.25 };
    const expected = ["-1", "-0.75", "-0.5", "-0.25", "0", "0.25", "0.5", "0.75", "1"];
    // Every text up to 5 bytes: the multiples, also with trailing zeros (0.50, 1.0), and nothing else.
    const texts = accepted(schema, 5);
    expect(
      texts
        .map((t) => String(Number(t)))
        .filter((t, i, all) => all.indexOf(t) === i)
        .sort(),
    ).toEqual([...expected].sort());
    expect(texts).toContain("0.50");
    const start = numberStart({ type: "number", multipleOf: 0.1 });
    expect(finishes(advanceBytes(start, bytes("0.3")))).toBe(true);
    expect(finishes(advanceBytes(start, bytes("0.35")))).toBe(false);
    // A multipleOf that is no decimal of 15 digits (1/3) is left to the validator: any number.
    expect(finishes(advanceBytes(numberStart({ type: "number", multipleOf: 1 / 3 }), bytes("0.5")))).toBe(true);
  });

  it("large bounds: 600000 is allowed, 600001 and 6000000 are not", () => {
    const start = numberStart({ type: "number", minimum: 0, maximum: 600000 });
    const after = (text: string) => advanceBytes(start, bytes(text));
    expect(finishes(after("600000"))).toBe(true);
    expect(finishes(after("599999.5"))).toBe(true);
    expect(after("600001")).toBeNull();
    expect(after("600000.1")).toBeNull();
    expect(after("6000000")).toBeNull();
    expect(after("-")).toBeNull(); // -0 is allowed by ajv, but never written
    expect(after("1e")).toBeNull(); // bounded numbers are plain decimals
  });

  it("bounds that no number meets are an error that names them", () => {
    expect(() => numberStart({ type: "integer", minimum: 5, maximum: 9, multipleOf: 10 })).toThrow(
      /allows no integer between its bounds \(minimum 5, maximum 9, multipleOf 10\)/,
    );
    expect(() => numberStart({ type: "number", exclusiveMinimum: 1, exclusiveMaximum: 1 })).toThrow(/allows no number/);
  });
});
