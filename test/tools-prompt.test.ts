/** Tool prompts through Phi-4-mini's own chat template, checked against hand-written strings. */
import { beforeAll, describe, expect, inject, it } from "vitest";

import { Tokenizer } from "../lib/tokenizer/tokenizer.js";
import { renderToolPrompt } from "../lib/tools/prompt.js";
import type { MessageParam } from "../lib/messages/types.js";
import type { AnyToolDefinition } from "../lib/tools/types.js";

const models = inject("models");

const weather: AnyToolDefinition = {
  name: "get_weather",
  description: "Weather for a city",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};
const clock: AnyToolDefinition = {
  name: "get_time",
  description: "Local time in a time zone",
  inputSchema: { type: "object", properties: { zone: { type: "string" } } },
};

const TOOL_BLOCK =
  '<|tool|>[{"name": "get_weather", "description": "Weather for a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}, ' +
  '{"name": "get_time", "description": "Local time in a time zone", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}}]<|/tool|>';

const HISTORY: MessageParam[] = [
  { role: "user", content: "Weather in Paris and São Paulo, and the time in Tokyo?" },
  {
    role: "assistant",
    content: [
      { type: "text", text: "Let me check." },
      { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } },
      { type: "tool_use", id: "toolu_2", name: "get_weather", input: { city: "São Paulo" } },
      { type: "tool_use", id: "toolu_3", name: "get_time", input: { zone: "Asia/Tokyo" } },
    ],
  },
  {
    role: "user",
    content: [
      { type: "tool_result", tool_use_id: "toolu_1", content: "18°C, sunny" },
      { type: "tool_result", tool_use_id: "toolu_2", content: [{ type: "text", text: '{"temp": 25}' }] },
      { type: "tool_result", tool_use_id: "toolu_3", content: "unknown zone", is_error: true },
      { type: "text", text: "Thanks! Summarize." },
    ],
  },
];

const HISTORY_TEXT = (result: string) =>
  "<|user|>Weather in Paris and São Paulo, and the time in Tokyo?<|end|>" +
  '<|assistant|>Let me check.<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_weather", "arguments": {"city": "S\\u00e3o Paulo"}}, ' +
  '{"name": "get_time", "arguments": {"zone": "Asia/Tokyo"}}]<|/tool_call|><|end|>' +
  `<|${result}|>18°C, sunny<|end|><|${result}|>{"temp": 25}<|end|><|${result}|>Error: unknown zone<|end|>` +
  "<|user|>Thanks! Summarize.<|end|><|assistant|>";

describe("renderToolPrompt", () => {
  let tokenizer: Tokenizer;
  beforeAll(async () => {
    tokenizer = await Tokenizer.fromModelDir(models.tinyPhi4);
  });

  it("puts Anthropic and MCP tools in the system message's tool block", () => {
    const { text, prefill } = renderToolPrompt(tokenizer, { system: "You are helpful.", messages: [{ role: "user", content: "Hi" }], tools: [weather, clock] });
    expect(text).toBe(`<|system|>You are helpful.${TOOL_BLOCK}<|end|><|user|>Hi<|end|><|assistant|>`);
    expect(prefill).toBe("");
  });

  it("adds an empty system message for the tools when there is no system prompt", () => {
    const { text } = renderToolPrompt(tokenizer, { messages: [{ role: "user", content: "Hi" }], tools: [weather, clock] });
    expect(text).toBe(`<|system|>${TOOL_BLOCK}<|end|><|user|>Hi<|end|><|assistant|>`);
  });

  it("renders calls and tool results of a conversation (default <|tool_response|>)", () => {
    const { text } = renderToolPrompt(tokenizer, { system: [{ type: "text", text: "Be brief." }], messages: HISTORY, tools: [weather, clock] });
    expect(text).toBe(`<|system|>Be brief.${TOOL_BLOCK}<|end|>${HISTORY_TEXT("tool_response")}`);
  });

  it("renders tool results as <|tool|> when asked", () => {
    const { text } = renderToolPrompt(tokenizer, { messages: HISTORY, tools: [weather, clock], toolResultFormat: "tool" });
    expect(text).toBe(`<|system|>${TOOL_BLOCK}<|end|>${HISTORY_TEXT("tool")}`);
  });

  it("starts the answer with the call for tool_choice any and tool", () => {
    const base = { messages: [{ role: "user" as const, content: "Hi" }], tools: [weather, clock] };
    const any = renderToolPrompt(tokenizer, { ...base, toolChoice: "any" });
    expect(any.prefill).toBe("<|tool_call|>");
    expect(any.text).toBe(`<|system|>${TOOL_BLOCK}<|end|><|user|>Hi<|end|><|assistant|><|tool_call|>`);
    const named = renderToolPrompt(tokenizer, { ...base, toolChoice: { type: "tool", name: "get_time", disable_parallel_tool_use: true } });
    expect(named.prefill).toBe('<|tool_call|>[{"name": "get_time", "arguments": ');
    expect(named.text.endsWith('<|assistant|><|tool_call|>[{"name": "get_time", "arguments": ')).toBe(true);
    expect(renderToolPrompt(tokenizer, { ...base, toolChoice: { type: "none" } }).prefill).toBe("");
  });

  it("renders a conversation without tools as a plain chat", () => {
    const { text } = renderToolPrompt(tokenizer, {
      messages: [
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello!" },
        { role: "user", content: "Bye" },
      ],
    });
    expect(text).toBe("<|user|>Hi<|end|><|assistant|>Hello!<|end|><|user|>Bye<|end|><|assistant|>");
  });

  it("rejects what it cannot render", () => {
    const messages: MessageParam[] = [{ role: "user", content: "Hi" }];
    expect(() => renderToolPrompt(tokenizer, { messages: [...messages, { role: "assistant", content: "Hel" }] })).toThrow(/must end with a user message/);
    expect(() => renderToolPrompt(tokenizer, { messages, tools: [weather], toolChoice: { type: "tool", name: "nope" } })).toThrow(
      /"nope", which is not one of the tools/,
    );
    expect(() => renderToolPrompt(tokenizer, { messages, tools: [weather, weather] })).toThrow(/two tools are named "get_weather"/);
    expect(() => renderToolPrompt(tokenizer, { messages, tools: [{ name: "x" } as unknown as AnyToolDefinition] })).toThrow(/needs an input_schema/);
    expect(() => renderToolPrompt(tokenizer, { messages, tools: [{ name: "x", input_schema: { type: "nonsense" } } as unknown as AnyToolDefinition] })).toThrow(
      /invalid input schema/,
    );
    expect(() => renderToolPrompt(tokenizer, { messages, toolChoice: "any" })).toThrow(/needs at least one tool/);
  });
});
