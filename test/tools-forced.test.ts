/**
 * The bytes the call-list grammar forces (jump-forward's input), on the automaton alone: what is forced
 * from a state, where a choice stops it, and which whitespace counts as layout.
 */
import { describe, expect, it } from "vitest";

import { ToolCatalog } from "../lib/tools/catalog.js";
import { ACCEPT, advanceBytes, type State } from "../lib/tools/constraint/automaton.js";
import { forcedBytes } from "../lib/tools/constraint/forced.js";
import { ToolCallGrammar } from "../lib/tools/constraint/grammar.js";
import type { ToolDefinition } from "../lib/messages/types.js";
import type { JsonSchema } from "../lib/tools/types.js";

const OPTIONS = { maxStringLength: 16, maxWhitespace: 2, clamp: 16 };
const object = (properties: Record<string, JsonSchema>, required: string[]): JsonSchema => ({
  type: "object",
  properties,
  required,
  additionalProperties: false,
});

// Test schemas are any JSON Schema; the catalog checks them at run time.
function grammarOf(tools: Record<string, JsonSchema>, maxCalls = 8, options = OPTIONS): ToolCallGrammar {
  const definitions = Object.entries(tools).map(([name, schema]): ToolDefinition => ({ name, input_schema: schema as ToolDefinition["input_schema"] }));
  return new ToolCallGrammar(ToolCatalog.from(definitions), maxCalls, options);
}

/** The forced text after `written` (the call list so far), and the state after it. */
function forcedAfter(grammar: ToolCallGrammar, written: string): { text: string; state: State } {
  const bytes = Buffer.from(written, "utf8");
  const state = advanceBytes(grammar.start, bytes);
  if (!state) throw new Error(`the grammar rejects ${JSON.stringify(written)}`);
  const forced = forcedBytes(state, bytes.length > 0 ? bytes[bytes.length - 1] : -1, 128);
  return { text: Buffer.from(forced.bytes).toString("utf8"), state: forced.state };
}

describe("forced bytes", () => {
  const weather = object({ city: { type: "string" }, unit: { enum: ["celsius", "fahrenheit"] } }, ["city", "unit"]);
  const time = object({ zone: { type: "string" } }, ["zone"]);

  it("run to the first choice: the opening up to a shared name prefix, the rest of a name once it is unique", () => {
    const grammar = grammarOf({ get_weather: weather, get_time: time });
    expect(forcedAfter(grammar, "").text).toBe('[{"name": "get_');
    expect(forcedAfter(grammar, '[{"name": "get_w').text).toBe('eather", "arguments": {"');
    expect(forcedAfter(grammar, '[{"name": "get_t').text).toBe('ime", "arguments": {"zone": "');
    // Which of two required properties comes first is the model's choice; the rest of a key is not.
    expect(forcedAfter(grammar, '[{"name": "get_weather", "arguments": {"c').text).toBe('ity": "');
    // An enum's value is a choice until it is unique; then its rest, and "}" once every property is written.
    expect(forcedAfter(grammar, '[{"name": "get_weather", "arguments": {"city": "x", "unit": "').text).toBe("");
    expect(forcedAfter(grammar, '[{"name": "get_weather", "arguments": {"city": "x", "unit": "f').text).toBe('ahrenheit"}}');
    // Inside a free string nothing is forced; after the call, "," or "]" is a choice.
    expect(forcedAfter(grammar, '[{"name": "get_time", "arguments": {"zone": "').text).toBe("");
    expect(forcedAfter(grammar, '[{"name": "get_time", "arguments": {"zone": "x"}}').text).toBe("");
  });

  it("end the list when no other call may follow, but leave the closer token to the model", () => {
    const grammar = grammarOf({ get_time: time }, 1);
    const after = forcedAfter(grammar, '[{"name": "get_time", "arguments": {"zone": "x"');
    expect(after.text).toBe("}}]");
    expect(after.state).toBe(ACCEPT);
  });

  it("write json.dumps layout: one space after a comma or colon the model wrote, none elsewhere, and follow the model's own whitespace", () => {
    const grammar = grammarOf({ t: object({ a: { type: "string" }, b: { type: "string" } }, ["a", "b"]) });
    expect(forcedAfter(grammar, '[{"name": "t", "arguments": {"a": "x",').text).toBe(' "b": "');
    expect(forcedAfter(grammar, '[{"name": "t", "arguments": {"a": "x",\n').text).toBe('"b": "');
    expect(forcedAfter(grammar, '[{"name": "t", "arguments": {"a":').text).toBe(' "');
    // maxWhitespace 0: no layout at all.
    const tight = grammarOf({ t: object({ a: { type: "string" }, b: { type: "string" } }, ["a", "b"]) }, 8, { ...OPTIONS, maxWhitespace: 0 });
    expect(forcedAfter(tight, '[{"name": "t", "arguments": {"a":"x",').text).toBe('"b":"');
  });

  it("treat whitespace inside keys and literals as content, never as layout", () => {
    const grammar = grammarOf({ t: object({ mode: { enum: ["a b", "ab"] }, "x y": { type: "integer" }, xz: { type: "integer" } }, ["mode"]) });
    // After "a" a space and "b" are both allowed: a choice, not layout to skip.
    expect(forcedAfter(grammar, '[{"name": "t", "arguments": {"mode": "a').text).toBe("");
    expect(forcedAfter(grammar, '[{"name": "t", "arguments": {"mode": "ab", "x').text).toBe("");
  });

  it("stop before a character is complete", () => {
    const grammar = grammarOf({ t: object({ sym: { const: "é€" } }, ["sym"]) });
    // The whole constant is forced (and the brackets after it), and a cap stops on a character boundary.
    expect(forcedAfter(grammar, '[{"name": "t", "arguments": {"sym": "').text).toBe('é€"}}');
    const capped = forcedBytes(advanceBytes(grammar.start, Buffer.from('[{"name": "t", "arguments": {"sym": "'))!, 0x20, 4);
    expect(Buffer.from(capped.bytes).toString("utf8")).toBe("é"); // 4 bytes would end inside "€"
  });
});
