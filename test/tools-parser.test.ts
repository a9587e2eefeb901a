/** The tool-call parser: every form Phi-4-mini writes, what it must reject, and streaming at every split. */
import { describe, expect, it } from "vitest";

import { LiteralError, parseLiteral } from "../lib/tools/literal.js";
import { parseToolCalls, ToolCallStreamParser } from "../lib/tools/stream-parser.js";
import type { AnyToolDefinition, ToolCallParseResult } from "../lib/tools/types.js";

const TOOLS: AnyToolDefinition[] = [
  {
    name: "get_weather",
    description: "Weather for a city",
    input_schema: {
      type: "object",
      properties: { city: { type: "string" }, days: { type: "integer" }, unit: { enum: ["celsius", "fahrenheit"] } },
      required: ["city"],
      additionalProperties: false,
    },
  },
  {
    name: "plan_trip",
    description: "Plan a trip",
    inputSchema: {
      type: "object",
      properties: {
        stops: {
          type: "array",
          items: {
            type: "object",
            properties: { city: { type: "string" }, nights: { type: "integer" }, tags: { type: "array", items: { type: "string" } } },
            required: ["city"],
          },
        },
        budget: { type: ["number", "null"] },
        flexible: { type: "boolean" },
      },
      required: ["stops"],
    },
  },
];

const paris = { name: "get_weather", arguments: { city: "Paris" } };
const rome = { name: "get_weather", arguments: { city: "Rome", days: 3 } };
const trip = {
  name: "plan_trip",
  arguments: {
    stops: [
      { city: "Oslo", nights: 2, tags: ["fjords", "museums"] },
      { city: "Bergen", tags: [] },
    ],
    budget: null,
    flexible: true,
  },
};

interface Case {
  name: string;
  output: string;
  text?: string;
  calls?: unknown[];
  /** Patterns the error messages must match, in order. */
  errors?: RegExp[];
}

// Every accepted form of the issue, and the rejected ones.
const CORPUS: Case[] = [
  {
    name: "the native format",
    output: '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]<|/tool_call|>',
    calls: [paris],
  },
  {
    name: "text around a call",
    output: 'Let me look.<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]<|/tool_call|> Done.',
    text: "Let me look. Done.",
    calls: [paris],
  },
  { name: "missing closer", output: '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]', calls: [paris] },
  {
    name: "missing closer, text after",
    output: '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}] I called it.',
    text: "I called it.",
    calls: [paris],
  },
  {
    name: "parallel calls not wrapped in a list",
    output:
      '<|tool_call|>{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_weather", "arguments": {"city": "Rome", "days": 3}}<|/tool_call|>',
    calls: [paris, rome],
  },
  {
    name: "unwrapped calls on separate lines, no commas",
    output: '<|tool_call|>{"name": "get_weather", "arguments": {"city": "Paris"}}\n{"name": "get_weather", "arguments": {"city": "Rome", "days": 3}}',
    calls: [paris, rome],
  },
  {
    name: "one list per call",
    output:
      '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]<|/tool_call|><|tool_call|>[{"name": "get_weather", "arguments": {"city": "Rome", "days": 3}}]<|/tool_call|>',
    calls: [paris, rome],
  },
  {
    name: "list items that are JSON strings",
    output: '<|tool_call|>["{\\"name\\": \\"get_weather\\", \\"arguments\\": {\\"city\\": \\"Paris\\"}}"]<|/tool_call|>',
    calls: [paris],
  },
  {
    name: "arguments as a JSON string",
    output: '<|tool_call|>[{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}]<|/tool_call|>',
    calls: [paris],
  },
  { name: "functools[...]", output: 'functools[{"name": "get_weather", "arguments": {"city": "Paris"}}]', calls: [paris] },
  {
    name: "functools with text after",
    output: 'Sure. functools [{"name": "get_weather", "arguments": {"city": "Paris"}}] ok',
    text: "Sure.  ok",
    calls: [paris],
  },
  { name: "a bare leading list", output: '[{"name": "get_weather", "arguments": {"city": "Paris"}}]', calls: [paris] },
  {
    name: "a bare leading object, then text",
    output: '  {"name": "get_weather", "arguments": {"city": "Paris"}}\nThat is the call.',
    text: "That is the call.",
    calls: [paris],
  },
  {
    name: "bare JSON after text is text",
    output: 'Example: [{"name": "get_weather", "arguments": {"city": "Paris"}}]',
    text: 'Example: [{"name": "get_weather", "arguments": {"city": "Paris"}}]',
  },
  {
    name: "a markdown fence",
    output: 'Calling:\n```json\n[{"name": "get_weather", "arguments": {"city": "Paris"}}]\n```\nWait.',
    text: "Calling:\n\nWait.",
    calls: [paris],
  },
  {
    name: "a fence inside the tags",
    output: '<|tool_call|>```json\n[{"name": "get_weather", "arguments": {"city": "Paris"}}]\n```<|/tool_call|>',
    calls: [paris],
  },
  { name: "a code fence that is not a call stays text", output: "Run:\n```python\nprint('hi')\n```", text: "Run:\n```python\nprint('hi')\n```" },
  {
    name: "single-quoted Python literals with True/False/None",
    output:
      "<|tool_call|>[{'name': 'plan_trip', 'arguments': {'stops': [{'city': 'Oslo', 'nights': 2, 'tags': ['fjords', 'museums']}, {'city': 'Bergen', 'tags': []}], 'budget': None, 'flexible': True}}]<|/tool_call|>",
    calls: [trip],
  },
  {
    name: "trailing commas",
    output: '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Rome", "days": 3,},},]<|/tool_call|>',
    calls: [rome],
  },
  {
    name: "nested arrays and objects in arguments (vLLM's regex parser truncates these)",
    output: `<|tool_call|>[${JSON.stringify(trip)}]<|/tool_call|>`,
    calls: [trip],
  },
  { name: "parameters instead of arguments", output: '<|tool_call|>[{"name": "get_weather", "parameters": {"city": "Paris"}}]<|/tool_call|>', calls: [paris] },
  {
    name: "escapes in strings",
    output: '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "S\\u00e3o \\"Paulo\\"\\n"}}]',
    calls: [{ name: "get_weather", arguments: { city: 'São "Paulo"\n' } }],
  },
  {
    name: "an echoed tool definition is rejected",
    output: '<|tool_call|>[{"name": "get_weather", "description": "Weather for a city", "parameters": {"city": {"type": "string"}}}]<|/tool_call|>',
    errors: [/unexpected key "description" \(an echoed tool definition\?\)/],
  },
  {
    name: "type and function keys are rejected",
    output: '<|tool_call|>[{"type": "function", "name": "get_weather", "arguments": {}}]',
    errors: [/unexpected key "type"/],
  },
  { name: "an unknown tool is rejected", output: '<|tool_call|>[{"name": "get_time", "arguments": {}}]<|/tool_call|>', errors: [/unknown tool "get_time"/] },
  {
    name: "schema failures name the field and the reason",
    output: '<|tool_call|>[{"name": "get_weather", "arguments": {"city": 7, "days": 1.5, "unit": "kelvin", "wind": true}}]<|/tool_call|>',
    errors: [
      /arguments: must NOT have additional properties \("wind"\)/,
      /arguments\.city: must be string/,
      /arguments\.days: must be integer/,
      /arguments\.unit: must be equal to one of the allowed values \("celsius", "fahrenheit"\)/,
    ],
  },
  {
    name: "a missing required argument",
    output: '<|tool_call|>[{"name": "get_weather", "arguments": {}}]',
    errors: [/get_weather: arguments: must have required property 'city'/],
  },
  {
    name: "a nested schema failure has its path",
    output: '<|tool_call|>[{"name": "plan_trip", "arguments": {"stops": [{"city": "Oslo"}, {"nights": 2}]}}]',
    errors: [/plan_trip: arguments\.stops\[1\]: must have required property 'city'/],
  },
  {
    name: "one bad call does not spoil the good one",
    output: '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "nope", "arguments": {}}]<|/tool_call|>',
    calls: [paris],
    errors: [/unknown tool "nope"/],
  },
  { name: "a truncated call is an error", output: '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Par', errors: [/unterminated tool call/] },
  {
    name: "malformed JSON is an error",
    output: '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris" "days": 2}}]<|/tool_call|>After.',
    text: "After.",
    errors: [/malformed tool call: expected "," or "}"/],
  },
  { name: "words in the tags are an error", output: "<|tool_call|>I will check the weather.<|/tool_call|>", errors: [/expected a tool call/] },
  { name: "plain text", output: "Hello there, no tools needed.", text: "Hello there, no tools needed." },
];

describe("parseToolCalls", () => {
  for (const c of CORPUS) {
    it(c.name, () => {
      const result = parseToolCalls(c.output, TOOLS);
      expect(result.text).toBe(c.text ?? "");
      expect(result.calls).toEqual(c.calls ?? []);
      expect(result.errors.map((e) => e.message)).toEqual((c.errors ?? []).map((pattern) => expect.stringMatching(pattern)));
      for (const error of result.errors) expect(c.output).toContain(error.raw);
    });
  }

  it("keeps the raw text of a rejected call", () => {
    const { errors } = parseToolCalls('<|tool_call|>[{"name": "nope", "arguments": {"a": [1, 2]}}]<|/tool_call|>', TOOLS);
    expect(errors).toEqual([{ message: 'unknown tool "nope"', raw: '{"name": "nope", "arguments": {"a": [1, 2]}}' }]);
  });
});

/** Feeds `chunks` to a streaming parser and folds its events into a parse result. */
function streamed(chunks: string[]): ToolCallParseResult & { events: string[] } {
  const parser = new ToolCallStreamParser(TOOLS);
  const result = { text: "", calls: [] as ToolCallParseResult["calls"], errors: [] as ToolCallParseResult["errors"], events: [] as string[] };
  for (const event of [...chunks.flatMap((chunk) => parser.push(chunk)), ...parser.end()]) {
    result.events.push(event.type);
    if (event.type === "text") result.text += event.text;
    else if (event.type === "call") result.calls.push(event.call);
    else result.errors.push(event.error);
  }
  result.text = result.text.trim();
  return result;
}

describe("ToolCallStreamParser", () => {
  const sample =
    "Checking 🌦 both.<|tool_call|>[{'name': 'get_weather', 'arguments': {'city': 'Paris'}}, " +
    `${JSON.stringify(trip)}, {"name": "nope", "arguments": {}},]<|/tool_call|> Also functools[{"name": "get_weather", "arguments": {"city": "Rome", "days": 3,}}]` +
    ' then\n```json\n{"name": "get_weather", "parameters": {"city": "Paris"}}\n```\nbye';

  it("gives the batch result for a split at every position of a sample", () => {
    const expected = parseToolCalls(sample, TOOLS);
    expect(expected.calls).toEqual([paris, trip, rome, paris]);
    expect(expected.errors.map((e) => e.message)).toEqual(['unknown tool "nope"']);
    expect(expected.text).toBe("Checking 🌦 both. Also  then\n\nbye");
    const points = [...sample].map((_, i, chars) => chars.slice(0, i).join("").length);
    for (const at of points) {
      const { events: _events, ...result } = streamed([sample.slice(0, at), sample.slice(at)]);
      expect(result, `split at ${at}`).toEqual(expected);
    }
  });

  it("gives the batch result fed one character at a time, for every corpus case", () => {
    for (const c of CORPUS) {
      const { events: _events, ...result } = streamed([...c.output]);
      expect(result, c.name).toEqual(parseToolCalls(c.output, TOOLS));
    }
  });

  it("emits each call as soon as its object closes, before the list does", () => {
    const parser = new ToolCallStreamParser(TOOLS);
    expect(parser.push('Hi <|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}')).toEqual([{ type: "text", text: "Hi " }]);
    expect(parser.push("}")).toEqual([{ type: "call", call: paris }]);
    expect(parser.push(', {"name": "get_weather", "arguments": {"city": "Rome", "days": 3}}')).toEqual([{ type: "call", call: rome }]);
    expect(parser.push("]<|/tool_call|> bye")).toEqual([{ type: "text", text: " bye" }]);
    expect(parser.end()).toEqual([]);
  });

  it("holds back only what could start a call", () => {
    const parser = new ToolCallStreamParser(TOOLS);
    expect(parser.push("Hello <|tool")).toEqual([{ type: "text", text: "Hello " }]);
    expect(parser.push("box|> and func")).toEqual([{ type: "text", text: "<|toolbox|> and " }]);
    expect(parser.push("tion")).toEqual([{ type: "text", text: "function" }]);
    expect(parser.end()).toEqual([]);
  });
});

describe("parseLiteral", () => {
  it("reads JSON and Python literals", () => {
    expect(parseLiteral(`{'a': (1), "b": [True, False, None, 1e3, -2.5, .5, +1], c: 'it\\'s', "d": "\\u00e9\\x41", }`.replace("(1)", "1")).value).toEqual({
      a: 1,
      b: [true, false, null, 1000, -2.5, 0.5, 1],
      c: "it's",
      d: "éA",
    });
  });

  it("reports where a value ends, so values can be read in a row", () => {
    const text = '{"a": 1} [2]';
    const first = parseLiteral(text);
    expect(first).toEqual({ value: { a: 1 }, end: 8 });
    expect(parseLiteral(text, first.end)).toEqual({ value: [2], end: 12 });
  });

  it("tells an early end from a syntax error", () => {
    const fail = (text: string, final = true) => {
      try {
        parseLiteral(text, 0, final);
      } catch (error) {
        return error as LiteralError;
      }
      throw new Error(`parsed ${text}`);
    };
    expect(fail('{"a": [1, 2').incomplete).toBe(true);
    expect(fail('{"a": "x').incomplete).toBe(true);
    expect(fail("[1, 2", false).incomplete).toBe(true);
    expect(fail("12", false).incomplete).toBe(true); // more digits may follow
    expect(fail("tru", false).incomplete).toBe(true);
    expect(fail('{"a" 1}').incomplete).toBe(false);
    expect(fail("[1 2]").incomplete).toBe(false);
    expect(fail("[nope]").message).toMatch(/unexpected word "nope"/);
    expect(fail("[".repeat(300)).message).toMatch(/nested deeper/);
  });
});
