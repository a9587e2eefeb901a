/**
 * Renders an Anthropic-shaped conversation with tools into Phi-4-mini's prompt through the model's own
 * chat template: the tools go in the system message's tool block, assistant calls become
 * `<|tool_call|>[...]<|/tool_call|>`, tool results become `<|tool_response|>...<|end|>` (or the
 * template's generic `<|tool|>...<|end|>`).
 */
import { Phi4Error } from "../engine/errors.js";
import { toolsJson, type ChatMessage } from "../tokenizer/chat-template.js";
import { PromptText } from "../tokenizer/prompt-text.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { ToolCatalog } from "./catalog.js";
import { choicePrefill, resolveToolChoice, type ToolChoiceInput } from "./choice.js";
import { TOOL_CALL_CLOSE, TOOL_CALL_OPEN } from "./stream-parser.js";
import { toolResultText } from "../messages/text.js";
import type { ContentBlockParam, MessageParam, TextBlockParam, ToolResultBlockParam } from "../messages/types.js";
import type { AnyToolDefinition } from "./types.js";

/** The role tool results are rendered with: `<|tool_response|>` (llama.cpp's Phi-4 template) or `<|tool|>`. */
export type ToolResultFormat = "tool_response" | "tool";

export interface ToolPromptOptions {
  messages: readonly MessageParam[];
  system?: string | readonly TextBlockParam[];
  tools?: readonly AnyToolDefinition[] | ToolCatalog;
  toolChoice?: ToolChoiceInput;
  /** Default "tool_response". */
  toolResultFormat?: ToolResultFormat;
}

export interface ToolPrompt {
  /** The whole prompt, ending with `prefill`. */
  text: string;
  /** The same, knowing its content from its markup: encode this one (see PromptText). */
  prompt: PromptText;
  /** The start of the assistant's answer that the prompt already holds (the call opener for a forced choice). */
  prefill: string;
}

export function renderToolPrompt(tokenizer: Tokenizer, options: ToolPromptOptions): ToolPrompt {
  const catalog = ToolCatalog.from(options.tools ?? []);
  const last = options.messages.at(-1);
  if (last?.role !== "user") throw new Phi4Error("INVALID_ARGUMENT", "the conversation must end with a user message (a prompt or tool results)");
  const messages: ChatMessage[] = [];
  const system = typeof options.system === "string" ? options.system : options.system?.map((b) => b.text).join("\n");
  if (system !== undefined) messages.push({ role: "system", content: system });
  for (const message of options.messages) messages.push(...renderMessage(message, options.toolResultFormat ?? "tool_response"));
  const tools = catalog.tools.length > 0 ? catalog.promptTools() : undefined;
  const prefill = choicePrefill(resolveToolChoice(options.toolChoice, catalog));
  const prompt = PromptText.join([tokenizer.renderPrompt(messages, { tools }), prefillPrompt(prefill)]);
  return { text: prompt.text, prompt, prefill };
}

/** A prefill as prompt text: its call opener is markup, the tool name after it came from a client or a tool server. */
export function prefillPrompt(prefill: string): PromptText {
  const opener = prefill.startsWith(TOOL_CALL_OPEN) ? TOOL_CALL_OPEN : "";
  return PromptText.join([opener, PromptText.content(prefill.slice(opener.length))]);
}

function renderMessage(message: MessageParam, resultFormat: ToolResultFormat): ChatMessage[] {
  if (typeof message.content === "string") return [{ role: message.role, content: message.content }];
  if (message.role === "assistant") return [{ role: "assistant", content: assistantContent(message.content) }];
  // A user turn: each tool result is its own message; runs of text between them are user messages.
  const out: ChatMessage[] = [];
  let text: string[] = [];
  const flushText = () => {
    if (text.length > 0) out.push({ role: "user", content: text.join("\n") });
    text = [];
  };
  for (const block of message.content) {
    if (block.type === "image") throw new Phi4Error("INVALID_ARGUMENT", "the model takes text only, not image blocks");
    if (block.type === "text") text.push(block.text);
    else if (block.type === "tool_result") {
      flushText();
      // The template renders any role as <|role|>content<|end|>; ChatMessage's role type is narrower.
      out.push({ role: resultFormat as ChatMessage["role"], content: resultText(block) });
    }
  }
  flushText();
  return out;
}

/** The assistant's text and calls; the call tags are markup, the call names and arguments content. */
function assistantContent(blocks: readonly ContentBlockParam[]): PromptText {
  const text = PromptText.content(blocks.flatMap((b) => (b.type === "text" ? [b.text] : [])).join(""));
  const calls = blocks.flatMap((b) => (b.type === "tool_use" ? [{ name: b.name, arguments: b.input ?? {} }] : []));
  return calls.length === 0 ? text : PromptText.join([text, TOOL_CALL_OPEN, PromptText.content(toolsJson(calls)), TOOL_CALL_CLOSE]);
}

function resultText(block: ToolResultBlockParam): string {
  return block.is_error ? `Error: ${toolResultText(block)}` : toolResultText(block);
}
