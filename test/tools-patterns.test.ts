/**
 * `pattern` and `format` in the tool-call grammar. The regex compiler must agree with JavaScript's own
 * RegExp (u flag, as ajv uses) on every string it is asked about; the grammar's patterned strings must
 * never dead-end, must finish by the completion they name, and every string they let through must
 * validate under ajv with ajv-formats, the validator the tool catalog uses.
 */
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";

import { ToolCatalog } from "../lib/tools/catalog.js";
import { ACCEPT, advance, advanceBytes, type State } from "../lib/tools/constraint/automaton.js";
import { move, type Dfa } from "../lib/tools/constraint/dfa.js";
import { FORMAT_PATTERNS } from "../lib/tools/constraint/formats.js";
import { ToolCallGrammar } from "../lib/tools/constraint/grammar.js";
import { patternAutomaton } from "../lib/tools/constraint/string-automaton.js";
import { addFormats } from "../lib/tools/formats.js";
import type { JsonSchema } from "../lib/tools/types.js";

/** Numerical Recipes LCG in [0, 1): the same strings on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function matches(dfa: Dfa, text: string): boolean {
  let q = 0;
  for (const c of text) {
    q = move(dfa, q, c.codePointAt(0)!);
    if (q < 0) return false;
  }
  return dfa.accepting[q];
}

const PATTERNS: Record<string, string> = {
  anchoredClass: "^[a-z][a-z0-9_-]{0,7}$",
  unanchored: "ab+c",
  startOnly: "^v\\d+",
  alternation: "^(?:foo|ba[rz])|x$",
  quantifiers: "^a{2,3}(?:bc)*d?$",
  negatedClass: "^[^/\\\\]+\\.txt$",
  escapes: "^\\w+\\s\\W\\.\\u00e9$",
  dot: "^.{2}$",
  namedGroup: "^(?<year>\\d{4})-(\\d{2})$",
  lazy: "^a+?b*?$",
};
// Single characters, and pieces of the patterns' words so that matches are common.
const ALPHABET = [
  "a",
  "b",
  "c",
  "d",
  "f",
  "o",
  "r",
  "z",
  "x",
  "v",
  "_",
  "-",
  "0",
  "1",
  "9",
  "/",
  "\\",
  ".",
  "t",
  " ",
  "\n",
  "é",
  "€",
  "😀",
  "\t",
  ".txt",
  "foo",
  "bar",
  "2024",
  "bc",
];

describe("patterns compiled to automata", () => {
  for (const [name, source] of Object.entries(PATTERNS)) {
    it(`${name}: the automaton accepts exactly the strings RegExp matches`, () => {
      const dfa = patternAutomaton(source)!;
      expect(dfa).not.toBeNull();
      const regex = new RegExp(source, "u");
      const rand = random(name.length * 31);
      let matched = 0;
      for (let i = 0; i < 4000; i++) {
        const length = Math.floor(rand() * 7);
        let text = "";
        for (let k = 0; k < length; k++) text += ALPHABET[Math.floor(rand() * ALPHABET.length)];
        expect(matches(dfa, text), JSON.stringify(text)).toBe(regex.test(text));
        if (regex.test(text)) matched++;
      }
      // Strings the automaton itself writes (random walks) match too.
      for (let i = 0; i < 300; i++) {
        let q = 0;
        let text = "";
        while (!(dfa.accepting[q] && rand() < 0.3) && text.length < 40) {
          const edges = dfa.edges[q];
          if (edges.length === 0) break;
          const e = edges[Math.floor(rand() * edges.length)];
          const cp = e.lo + Math.floor(rand() * Math.min(e.hi - e.lo + 1, 200));
          text += String.fromCodePoint(cp);
          q = e.to;
        }
        if (dfa.accepting[q]) {
          expect(regex.test(text), JSON.stringify(text)).toBe(true);
          matched++;
        }
      }
      expect(matched).toBeGreaterThan(0);
    });
  }

  it("patterns outside the subset are left to the validator", () => {
    for (const source of ["(a)\\1", "^(?=a)", "(?<!a)b", "\\bword\\b", "\\p{L}+", "a{2,1}", "[z-a]"]) expect(patternAutomaton(source), source).toBeNull();
  });
});

const OPTIONS = { maxStringLength: 64, maxWhitespace: 1, clamp: 8 };
const PREFIX = '[{"name": "t", "arguments": {"x": ';
const SUFFIX = "}}]";
const bytes = (text: string) => [...Buffer.from(text, "latin1")];
const ajv = addFormats(new Ajv({ strict: false }));

function stringStart(x: JsonSchema): State {
  const schema = { type: "object" as const, properties: { x }, required: ["x"], additionalProperties: false };
  const grammar = new ToolCallGrammar(ToolCatalog.from([{ name: "t", input_schema: schema }]), 1, OPTIONS);
  return grammar.after(PREFIX)!;
}

const STRINGS: Record<string, JsonSchema> = {
  ...Object.fromEntries(Object.keys(FORMAT_PATTERNS).map((format) => [format, { type: "string", format }])),
  slug: { type: "string", pattern: "^[a-z0-9]+(?:-[a-z0-9]+)*$", maxLength: 12 },
  unanchored: { type: "string", pattern: "[0-9]{3}", minLength: 5 },
  quoteAndBackslash: { type: "string", pattern: '^["\\\\/]{2,4}é?$' },
  patternAndFormat: { type: "string", format: "uri", pattern: "^https://" },
};

describe("patterned strings in the grammar", () => {
  for (const [name, schema] of Object.entries(STRINGS)) {
    it(`${name}: random byte walks never dead-end and every string they finish validates`, () => {
      const validate = ajv.compile(schema);
      const start = stringStart(schema);
      for (let seed = 1; seed <= 150; seed++) {
        const rand = random(seed);
        let state = advance(start, 0x22)!;
        expect(state).not.toBeNull();
        let text = '"';
        for (;;) {
          const completion = state.completion();
          expect(completion.length).toBe(state.distance);
          expect(advanceBytes(state, bytes(completion))).toBe(ACCEPT);
          const canClose = advanceBytes(state, bytes(`"${SUFFIX}`)) === ACCEPT; // not just \" inside an escape
          const options: number[] = [];
          for (let b = 0; b < 256; b++) if (advance(state, b) !== null && !(b === 0x22 && canClose)) options.push(b);
          expect(options.length > 0 || canClose, `stuck after ${text}`).toBe(true);
          if (canClose && (options.length === 0 || rand() < 0.1)) break;
          // Half the time follow the completion (walks reach matches), else any allowed byte.
          const follow = completion.charCodeAt(0);
          const b = rand() < 0.5 && options.includes(follow) ? follow : options[Math.floor(rand() * options.length)];
          text += String.fromCharCode(b);
          state = advance(state, b)!;
        }
        const value = JSON.parse(Buffer.from(`${text}"`, "latin1").toString("utf8")) as unknown;
        expect(validate(value), `${JSON.stringify(value)}: ${JSON.stringify(validate.errors)}`).toBe(true);
        expect(advanceBytes(state, bytes(`"${SUFFIX}`))).toBe(ACCEPT);
      }
    });
  }

  it("a format's strings are checked: a bad date cannot be written", () => {
    const start = stringStart({ type: "string", format: "date" });
    expect(advanceBytes(start, bytes('"2024-02-28"'))).not.toBeNull();
    expect(advanceBytes(start, bytes('"2024-02-30'))).toBeNull();
    expect(advanceBytes(start, bytes('"2024-13'))).toBeNull();
    expect(advanceBytes(start, bytes('"yesterday'))).toBeNull();
    expect(advanceBytes(stringStart({ type: "string", format: "uri" }), bytes('"https://example.com/a?b=c#d"'))).not.toBeNull();
    expect(advanceBytes(stringStart({ type: "string", format: "uri" }), bytes('"not a url'))).toBeNull();
  });
});
