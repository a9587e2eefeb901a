// Chat prompts rendered by the model's own Jinja chat_template.
//
// Phi-4-mini's official template reads tools only from a system message's `tools` string
// ("<|system|>SYS<|tool|>TOOLS<|/tool|><|end|>") and ignores a top-level `tools` variable, so tools
// given as objects are serialized into messages[0].tools, adding an empty system message when the
// conversation has none (the template has no other place for them).
//
// Message content and tool definitions are content (see prompt-text.ts): they are rendered between
// marks, so that the prompt knows which of its text the template wrote.

import { Template } from "@huggingface/jinja";

import { CONTENT_CLOSE, CONTENT_OPEN, markContent, PromptText, stripMarks } from "./prompt-text.js";

export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  /** The message's text, all content; a PromptText may hold markup of its own (an assistant's tool-call tags). */
  content: string | PromptText;
  /** Pre-serialized tool list; only read on a system message. */
  tools?: string;
}

export interface RenderChatOptions {
  /** JSON tool definitions, serialized into the system message's `tools`. */
  tools?: unknown[];
  /** End with the assistant tag so the model answers next (default true). */
  addGenerationPrompt?: boolean;
  bosToken?: string;
  eosToken?: string;
}

// Parsing a template is far slower than rendering it, and a process uses one or two templates.
const parsed = new Map<string, Template>();

/** The rendered prompt as plain text (special-token text in messages is not told apart: see renderChatPrompt). */
export function renderChat(template: string, messages: ChatMessage[], opts: RenderChatOptions = {}): string {
  return renderChatPrompt(template, messages, opts).text;
}

/** The rendered prompt, knowing which of its text is content (messages, tools) and which the template's markup. */
export function renderChatPrompt(template: string, messages: ChatMessage[], opts: RenderChatOptions = {}): PromptText {
  let compiled = parsed.get(template);
  if (compiled === undefined) {
    compiled = new Template(template);
    parsed.set(template, compiled);
  }
  const withTools = opts.tools === undefined ? messages : attachTools(messages, toolsJson(opts.tools));
  const marked = compiled.render({
    messages: withTools.map(markMessage),
    tools: opts.tools === undefined ? undefined : markDeep(opts.tools),
    add_generation_prompt: opts.addGenerationPrompt ?? true,
    bos_token: opts.bosToken ?? "",
    eos_token: opts.eosToken ?? "",
  });
  return PromptText.fromMarked(marked);
}

function markMessage(message: ChatMessage): Record<string, unknown> {
  const content = typeof message.content === "string" ? markContent(message.content) : markPrompt(message.content);
  return { ...message, content, ...(message.tools === undefined ? {} : { tools: markContent(message.tools) }) };
}

/** Tool definitions for templates that render a top-level `tools` themselves: every string (keys too) is content. */
function markDeep(value: unknown): unknown {
  if (typeof value === "string") return markContent(value);
  if (Array.isArray(value)) return value.map(markDeep);
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [markContent(k), markDeep(v)]));
  return value;
}

function markPrompt(prompt: PromptText): string {
  let out = "";
  let from = 0;
  for (const [start, end] of prompt.content) {
    out += stripMarks(prompt.text.slice(from, start)) + CONTENT_OPEN + stripMarks(prompt.text.slice(start, end)) + CONTENT_CLOSE;
    from = end;
  }
  return out + stripMarks(prompt.text.slice(from));
}

function attachTools(messages: ChatMessage[], tools: string): ChatMessage[] {
  const [first, ...rest] = messages;
  if (first?.role === "system") return [{ ...first, tools }, ...rest];
  return [{ role: "system", content: "", tools }, ...messages];
}

/** Serializes tools the way Python's json.dumps does by default (", " and ": " separators, non-ASCII
 * escaped as \uXXXX), which is how Phi-4-mini's documented tool prompts were produced. */
export function toolsJson(tools: unknown[]): string {
  return pythonJson(tools);
}

function pythonJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => pythonJson(v ?? null)).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.map(([k, v]) => `${pythonString(k)}: ${pythonJson(v)}`).join(", ")}}`;
  }
  if (typeof value === "string") return pythonString(value);
  return JSON.stringify(value) ?? "null";
}

// JSON.stringify already escapes quotes, backslashes and control characters as Python does; ensure_ascii
// also escapes every UTF-16 unit above "~" (so astral characters become surrogate pairs).
const pythonString = (s: string) => JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
