/**
 * The Messages shape <-> OpenAI's chat completions, both ways, in one module: the OpenAI-compatible
 * provider maps its requests out and its upstream's answers back in; the server's
 * /v1/chat/completions maps its clients' requests in and the provider's answers back out. Each pair
 * below is one correspondence read in the two directions: tool choices, finish reasons, tools, tool
 * calls, turns, usage, whole responses. (Streams: openai-stream.ts.)
 *
 *   system prompt            <-> leading system / developer messages
 *   tool_use blocks          <-> an assistant message's tool_calls
 *   tool_result blocks       <-> role "tool" messages (which come first in their user turn)
 *   tool_choice auto/any/none/tool <-> "auto" / "required" / "none" / a named function
 *   disable_parallel_tool_use <-> parallel_tool_calls: false
 *   stop reasons             <-> finish_reason (end_turn and stop_sequence are both "stop")
 */
import { randomUUID } from "node:crypto";

import type OpenAI from "openai";

import { ProviderError } from "./errors.js";
import { systemText, toolResultText } from "./flatten.js";
import type {
  ContentBlock,
  ContentBlockParam,
  ImageBlockParam,
  MessageParam,
  MessageRequest,
  MessageResponse,
  StopReason,
  TextBlockParam,
  ToolChoice,
  ToolDefinition,
  ToolResultBlockParam,
  Usage,
} from "../messages/types.js";

export type ChatCompletion = OpenAI.Chat.ChatCompletion;
export type ChatRequest = OpenAI.Chat.ChatCompletionCreateParamsNonStreaming;
type ChatMessage = OpenAI.Chat.ChatCompletionMessageParam;
type ContentPart = OpenAI.Chat.ChatCompletionContentPart;
export type ChatToolCall = OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
export type ChatTool = OpenAI.Chat.ChatCompletionFunctionTool;
export type FinishReason = "stop" | "length" | "tool_calls";

// ---- Tool choice ----

/** The tool choices both APIs have, as [Messages, OpenAI]. */
const CHOICES = [
  ["auto", "auto"],
  ["any", "required"],
  ["none", "none"],
] as const;

export type ChatToolChoice = (typeof CHOICES)[number][1] | { type: "function"; function: { name: string } };

export function toOpenAIToolChoice(choice: ToolChoice | undefined): { tool_choice?: ChatToolChoice; parallel_tool_calls?: false } {
  if (!choice) return {};
  const parallel = "disable_parallel_tool_use" in choice && choice.disable_parallel_tool_use ? { parallel_tool_calls: false as const } : {};
  if (choice.type === "tool") return { tool_choice: { type: "function", function: { name: choice.name } }, ...parallel };
  return { tool_choice: CHOICES.find(([ours]) => ours === choice.type)![1], ...parallel };
}

/** OpenAI's choice (default auto) and parallel_tool_calls (default true), as one Messages tool_choice. */
export function fromOpenAIToolChoice(choice: ChatToolChoice | undefined, parallel: boolean | undefined): ToolChoice | undefined {
  const single = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === undefined) return parallel === false ? { type: "auto", ...single } : undefined;
  if (typeof choice !== "string") return { type: "tool", name: choice.function.name, ...single };
  const ours = CHOICES.find(([, theirs]) => theirs === choice)![0];
  return ours === "none" ? { type: "none" } : { type: ours, ...single };
}

// ---- Finish reasons ----

// An answer cut short by the context window is a "length" finish to OpenAI clients.
const FINISH: Record<StopReason, FinishReason> = {
  end_turn: "stop",
  stop_sequence: "stop",
  max_tokens: "length",
  model_context_window_exceeded: "length",
  tool_use: "tool_calls",
};

export const finishReason = (stop: StopReason): FinishReason => FINISH[stop];

/**
 * The way back loses which "stop" it was: vLLM names the stop string that matched in `stop_reason`
 * (other servers don't say). Tool calls decide "tool_use" whatever finish_reason says (Ollama reports
 * "stop" with tool calls).
 */
export function stopReason(
  finish: string | null | undefined,
  matched: string | number | null | undefined,
  hasToolCalls: boolean,
): { stop_reason: StopReason; stop_sequence: string | null } {
  if (hasToolCalls) return { stop_reason: "tool_use", stop_sequence: null };
  if (finish === "length") return { stop_reason: "max_tokens", stop_sequence: null };
  if (typeof matched === "string") return { stop_reason: "stop_sequence", stop_sequence: matched };
  return { stop_reason: "end_turn", stop_sequence: null };
}

// ---- Tools and tool calls ----

export const toOpenAITool = (tool: ToolDefinition): ChatTool => ({
  type: "function",
  function: { name: tool.name, ...(tool.description !== undefined && { description: tool.description }), parameters: tool.input_schema },
});

/** A function without parameters takes none: an empty object. */
export const fromOpenAITool = (tool: { function: { name: string; description?: string; parameters?: Record<string, unknown> } }): ToolDefinition => ({
  name: tool.function.name,
  ...(tool.function.description !== undefined && { description: tool.function.description }),
  input_schema: (tool.function.parameters ?? { type: "object", properties: {} }) as ToolDefinition["input_schema"],
});

export const toOpenAIToolCall = (block: { id: string; name: string; input: unknown }): ChatToolCall => ({
  id: block.id,
  type: "function",
  function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) },
});

/** A call's arguments text as the object it must be; undefined when it is not a JSON object ("" is none: {}). */
export function argumentsObject(json: string | undefined): Record<string, unknown> | undefined {
  if (json === undefined || json.trim() === "") return {};
  try {
    const value: unknown = JSON.parse(json);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** An upstream's call as a tool_use block; arguments that are not a JSON object are an invalid response. */
export function fromOpenAIToolCall(provider: string, call: ChatToolCall): ContentBlock {
  const input = argumentsObject(call.function.arguments);
  if (!input)
    throw new ProviderError(
      provider,
      "invalid_response",
      `the arguments of the ${call.function.name} call are not a JSON object: ${call.function.arguments.slice(0, 200)}`,
    );
  return { type: "tool_use", id: call.id || toolUseId(), name: call.function.name, input };
}

// ---- Turns ----

type TextPart = { type: "text"; text: string };

/** The messages this mapping takes in: OpenAI's, less what the server refuses before (audio, files, legacy function calls). */
export type ChatInMessage =
  | { role: "system" | "developer"; content: string | TextPart[] }
  | { role: "user"; content: string | (TextPart | { type: "image_url"; image_url: { url: string } })[] }
  | { role: "assistant"; content?: string | (TextPart | { type: "refusal"; refusal: string })[] | null; tool_calls?: ChatToolCall[] | null }
  | { role: "tool"; tool_call_id: string; content: string | TextPart[] };

/** A Messages turn, or a system message left where it was said (the Messages request parser folds those into user turns). */
export type ChatInTurn = MessageParam | { role: "system"; content: TextBlockParam[] };

/**
 * OpenAI messages as a Messages conversation: the leading system and developer messages are the
 * system prompt; tool messages are tool_result blocks, which open a user turn that the tool messages
 * and a user message after them join. Arguments must already be known to be JSON objects.
 */
export function fromOpenAIMessages(messages: readonly ChatInMessage[]): { system: TextBlockParam[] | undefined; turns: ChatInTurn[] } {
  let start = 0;
  const system: TextBlockParam[] = [];
  for (; start < messages.length; start++) {
    const m = messages[start];
    if (m.role !== "system" && m.role !== "developer") break;
    system.push(...textBlocks(m.content));
  }
  const turns: ChatInTurn[] = [];
  for (const m of messages.slice(start)) {
    if (m.role === "system" || m.role === "developer") turns.push({ role: "system", content: textBlocks(m.content) });
    else if (m.role === "assistant") turns.push({ role: "assistant", content: assistantBlocks(m) });
    else if (m.role === "tool") joinToolTurn(turns, [{ type: "tool_result", tool_use_id: m.tool_call_id, content: textBlocks(m.content) }]);
    else joinToolTurn(turns, typeof m.content === "string" ? m.content : m.content.map(userBlock));
  }
  return { system: system.length > 0 ? system : undefined, turns };
}

/** A user turn that holds tool results takes the content; otherwise it is a user turn of its own. */
function joinToolTurn(turns: ChatInTurn[], content: string | ContentBlockParam[]): void {
  const last = turns.at(-1);
  if (last?.role === "user" && typeof last.content !== "string" && last.content.some((b) => b.type === "tool_result")) {
    last.content.push(...(typeof content === "string" ? [{ type: "text" as const, text: content }] : content));
  } else turns.push({ role: "user", content });
}

const textBlocks = (content: string | TextPart[]): TextBlockParam[] =>
  typeof content === "string" ? [{ type: "text", text: content }] : content.map((p) => ({ type: "text", text: p.text }));

function assistantBlocks(m: Extract<ChatInMessage, { role: "assistant" }>): ContentBlockParam[] {
  const content = m.content ?? [];
  const text: ContentBlockParam[] =
    typeof content === "string"
      ? content === ""
        ? []
        : [{ type: "text", text: content }]
      : content.flatMap((p) => (p.type === "text" ? [{ type: "text" as const, text: p.text }] : []));
  const calls = (m.tool_calls ?? []).map((c): ContentBlockParam => ({
    type: "tool_use",
    id: c.id,
    name: c.function.name,
    input: argumentsObject(c.function.arguments) ?? {},
  }));
  return [...text, ...calls];
}

function userBlock(part: Extract<ChatInMessage, { role: "user" }>["content"][number] & object): ContentBlockParam {
  return part.type === "text" ? { type: "text", text: part.text } : imageFromUrl(part.image_url.url);
}

const DATA_URL = /^data:(image\/(?:jpeg|png|gif|webp));base64,(.*)$/s;

/** An image_url part's image: a base64 data URL of a type the Messages API takes, or a URL to fetch. */
export function imageFromUrl(url: string): ImageBlockParam {
  const data = DATA_URL.exec(url);
  if (data) return { type: "image", source: { type: "base64", media_type: data[1] as "image/png", data: data[2] } };
  return { type: "image", source: { type: "url", url } };
}

/** Whether imageFromUrl takes `url`: a data URL of JPEG, PNG, GIF or WebP, or an http(s) URL. */
export const isImageUrl = (url: string) => DATA_URL.test(url) || /^https?:\/\//i.test(url);

function imageUrl(provider: string, image: ImageBlockParam): string {
  if (image.source.type === "base64") return `data:${image.source.media_type};base64,${image.source.data}`;
  if (image.source.type === "url") return image.source.url;
  throw new ProviderError(provider, "unsupported", "file-id images exist only on Anthropic's API");
}

/** A Messages request's conversation as OpenAI messages. */
export function toOpenAIMessages(provider: string, request: MessageRequest): ChatMessage[] {
  const messages: ChatMessage[] = [];
  const system = systemText(request);
  if (system) messages.push({ role: "system", content: system });
  for (const message of request.messages) {
    const blocks: ContentBlockParam[] = typeof message.content === "string" ? [{ type: "text", text: message.content }] : message.content;
    if (message.role === "assistant") messages.push(assistantMessage(provider, blocks));
    else messages.push(...userMessages(provider, blocks));
  }
  return messages;
}

function assistantMessage(provider: string, blocks: ContentBlockParam[]): ChatMessage {
  const text = blocks.flatMap((b) => (b.type === "text" ? [b.text] : [])).join("");
  const toolCalls = blocks.flatMap((b) => (b.type === "tool_use" ? [toOpenAIToolCall(b)] : []));
  const other = blocks.find((b) => b.type !== "text" && b.type !== "tool_use");
  if (other) throw new ProviderError(provider, "unsupported", `an assistant turn cannot carry a ${other.type} block here`);
  return { role: "assistant", content: text === "" ? null : text, ...(toolCalls.length > 0 && { tool_calls: toolCalls }) };
}

/** Tool results become "tool" messages, which must come right after the assistant turn: so they go first. */
function userMessages(provider: string, blocks: ContentBlockParam[]): ChatMessage[] {
  const results = blocks.filter((b): b is ToolResultBlockParam => b.type === "tool_result");
  const parts = blocks.flatMap((b): ContentPart[] => {
    if (b.type === "text") return [{ type: "text", text: b.text }];
    if (b.type === "image") return [{ type: "image_url", image_url: { url: imageUrl(provider, b) } }];
    if (b.type === "tool_use") throw new ProviderError(provider, "unsupported", "a user turn cannot carry a tool_use block");
    return [];
  });
  const messages: ChatMessage[] = results.map((r) => ({
    role: "tool",
    tool_call_id: r.tool_use_id,
    content: `${r.is_error ? "Error: " : ""}${toolResultText(r)}`,
  }));
  if (parts.length > 0) {
    const texts = parts.flatMap((p) => (p.type === "text" ? [p.text] : []));
    messages.push({ role: "user", content: texts.length === parts.length ? texts.join("") : parts });
  }
  return messages;
}

// ---- Requests, responses, usage ----

/** A Messages request as a chat-completions body (non-streaming; the provider adds `stream`). */
export function toOpenAIRequest(provider: string, request: MessageRequest, options: { model: string; seed?: number }): ChatRequest {
  const tools = request.tools?.length ? request.tools : undefined;
  return {
    model: options.model,
    messages: toOpenAIMessages(provider, request),
    max_tokens: request.max_tokens,
    ...(request.temperature !== undefined && { temperature: request.temperature }),
    ...(request.top_p !== undefined && { top_p: request.top_p }),
    // Not in OpenAI's API, but vLLM, llama.cpp, Ollama and this project's server read it.
    ...(request.top_k !== undefined && ({ top_k: request.top_k } as object)),
    ...(request.stop_sequences?.length && { stop: request.stop_sequences }),
    ...(options.seed !== undefined && { seed: options.seed }),
    ...(tools && { tools: tools.map(toOpenAITool), ...toOpenAIToolChoice(request.tool_choice) }),
  };
}

export const toOpenAIUsage = (usage: Usage): OpenAI.CompletionUsage => ({
  prompt_tokens: usage.input_tokens,
  completion_tokens: usage.output_tokens,
  total_tokens: usage.input_tokens + usage.output_tokens,
});

export const fromOpenAIUsage = (usage: { prompt_tokens: number; completion_tokens: number } | null | undefined): Usage => ({
  input_tokens: usage?.prompt_tokens ?? 0,
  output_tokens: usage?.completion_tokens ?? 0,
});

/** Text blocks of one answer are separated by this in a chat completion's single content string (the stream sends it too). */
export const TEXT_BLOCK_SEPARATOR = "\n\n";

/** A message as a chat.completion. */
export function toChatCompletion(message: MessageResponse, created: number): ChatCompletion {
  const text = message.content.flatMap((b) => (b.type === "text" ? [b.text] : []));
  const calls = message.content.flatMap((b) => (b.type === "tool_use" ? [toOpenAIToolCall(b)] : []));
  return {
    id: chatCompletionId(message.id),
    object: "chat.completion",
    created,
    model: message.model,
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: text.length > 0 ? text.join(TEXT_BLOCK_SEPARATOR) : null,
          refusal: null,
          ...(calls.length > 0 && { tool_calls: calls }),
        },
        logprobs: null,
        finish_reason: finishReason(message.stop_reason),
        ...matchedStop(message.stop_sequence),
      },
    ],
    usage: toOpenAIUsage(message.usage),
  };
}

/**
 * The stop sequence that ended the answer, as vLLM names it (`stop_reason` beside finish_reason "stop"):
 * not OpenAI's field, but the way back (stopReason) reads it, so the Messages stop_sequence survives.
 */
export const matchedStop = (stop: string | null): { stop_reason?: string } => (stop === null ? {} : { stop_reason: stop });

/** A chat.completion (from an upstream) as a message. */
export function fromOpenAIResponse(provider: string, response: ChatCompletion): MessageResponse {
  const choice = response.choices?.[0];
  if (!choice?.message) throw new ProviderError(provider, "invalid_response", "the response has no choices[0].message");
  const content: ContentBlock[] = [];
  if (choice.message.content) content.push({ type: "text", text: choice.message.content });
  for (const call of choice.message.tool_calls ?? []) {
    if (call.type !== "function") throw new ProviderError(provider, "invalid_response", `a ${call.type} tool call, where only function calls were offered`);
    content.push(fromOpenAIToolCall(provider, call));
  }
  const matched = (choice as { stop_reason?: string | number | null }).stop_reason;
  return {
    id: messageId(response.id),
    type: "message",
    role: "assistant",
    content,
    model: response.model,
    ...stopReason(
      choice.finish_reason,
      matched,
      content.some((b) => b.type === "tool_use"),
    ),
    usage: fromOpenAIUsage(response.usage),
  };
}

/** Ids both ways: chatcmpl-X <-> msg_X, so an id keeps its identity across the translation. */
export const messageId = (id: string | undefined) => `msg_${(id ?? randomUUID()).replace(/^chatcmpl-/, "")}`;
export const chatCompletionId = (id: string) => `chatcmpl-${id.replace(/^msg_/, "")}`;
export const toolUseId = () => `toolu_${randomUUID().replaceAll("-", "")}`;
