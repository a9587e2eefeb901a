/**
 * Messages API <-> OpenAI chat completions, for servers that speak the latter (vLLM, llama.cpp
 * server, Ollama): system prompt -> system message, tool_use blocks <-> assistant tool_calls,
 * tool_result blocks -> role "tool" messages, tools -> functions, tool_choice -> auto / required /
 * none / a named function.
 */
import { randomUUID } from "node:crypto";

import { ProviderError } from "./errors.js";
import { systemText, toolResultText } from "./flatten.js";
import type { ContentBlock, ContentBlockParam, ImageBlockParam, MessageRequest, MessageResponse, StopReason, ToolChoice, ToolResultBlockParam } from "../messages/types.js";

export interface OpenAIToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

type OpenAIContentPart = { type: "text"; text: string } | { type: "image_url"; image_url: { url: string } };

export type OpenAIChatMessage =
  | { role: "system"; content: string }
  | { role: "user"; content: string | OpenAIContentPart[] }
  | { role: "assistant"; content: string | null; tool_calls?: OpenAIToolCall[] }
  | { role: "tool"; tool_call_id: string; content: string };

export interface OpenAIChatRequest {
  model: string;
  messages: OpenAIChatMessage[];
  max_tokens: number;
  temperature?: number;
  top_p?: number;
  /** Not in OpenAI's API, but vLLM, llama.cpp and Ollama read it. */
  top_k?: number;
  stop?: string[];
  tools?: { type: "function"; function: { name: string; description?: string; parameters: object } }[];
  tool_choice?: "auto" | "required" | "none" | { type: "function"; function: { name: string } };
  parallel_tool_calls?: boolean;
  stream?: boolean;
  stream_options?: { include_usage: boolean };
}

/** The parts of a chat.completion (or of a chunk's totals) that map back. */
export interface OpenAIChatResponse {
  id: string;
  model: string;
  choices: { message: { content?: string | null; tool_calls?: OpenAIToolCall[] }; finish_reason: string | null; stop_reason?: string | number | null }[];
  usage?: { prompt_tokens: number; completion_tokens: number };
}

export function toOpenAIRequest(provider: string, request: MessageRequest, model: string, stream: boolean): OpenAIChatRequest {
  const messages: OpenAIChatMessage[] = [];
  const system = systemText(request);
  if (system) messages.push({ role: "system", content: system });
  for (const message of request.messages) {
    const blocks: ContentBlockParam[] = typeof message.content === "string" ? [{ type: "text", text: message.content }] : message.content;
    if (message.role === "assistant") messages.push(assistantMessage(provider, blocks));
    else messages.push(...userMessages(provider, blocks));
  }
  const tools = request.tools?.length ? request.tools : undefined;
  return {
    model,
    messages,
    max_tokens: request.max_tokens,
    ...(request.temperature !== undefined && { temperature: request.temperature }),
    ...(request.top_p !== undefined && { top_p: request.top_p }),
    ...(request.top_k !== undefined && { top_k: request.top_k }),
    ...(request.stop_sequences?.length && { stop: request.stop_sequences }),
    ...(tools && {
      tools: tools.map((t) => ({ type: "function" as const, function: { name: t.name, description: t.description, parameters: t.input_schema } })),
      ...toolChoice(request.tool_choice),
    }),
    ...(stream && { stream: true, stream_options: { include_usage: true } }),
  };
}

function assistantMessage(provider: string, blocks: ContentBlockParam[]): OpenAIChatMessage {
  const text = blocks.flatMap((b) => (b.type === "text" ? [b.text] : [])).join("");
  const toolCalls = blocks.flatMap((b): OpenAIToolCall[] =>
    b.type === "tool_use" ? [{ id: b.id, type: "function", function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } }] : [],
  );
  const other = blocks.find((b) => b.type !== "text" && b.type !== "tool_use");
  if (other) throw new ProviderError(provider, "unsupported", `an assistant turn cannot carry a ${other.type} block here`);
  return { role: "assistant", content: text === "" ? null : text, ...(toolCalls.length > 0 && { tool_calls: toolCalls }) };
}

/** Tool results become "tool" messages, which must come right after the assistant turn: so they go first. */
function userMessages(provider: string, blocks: ContentBlockParam[]): OpenAIChatMessage[] {
  const results = blocks.filter((b): b is ToolResultBlockParam => b.type === "tool_result");
  const parts = blocks.flatMap((b): OpenAIContentPart[] => {
    if (b.type === "text") return [{ type: "text", text: b.text }];
    if (b.type === "image") return [{ type: "image_url", image_url: { url: imageUrl(provider, b) } }];
    if (b.type === "tool_use") throw new ProviderError(provider, "unsupported", "a user turn cannot carry a tool_use block");
    return [];
  });
  const messages: OpenAIChatMessage[] = results.map((r) => ({ role: "tool", tool_call_id: r.tool_use_id, content: `${r.is_error ? "Error: " : ""}${toolResultText(r)}` }));
  if (parts.length > 0) {
    const textOnly = parts.every((p) => p.type === "text");
    messages.push({ role: "user", content: textOnly ? parts.map((p) => (p as { text: string }).text).join("") : parts });
  }
  return messages;
}

function imageUrl(provider: string, image: ImageBlockParam): string {
  if (image.source.type === "base64") return `data:${image.source.media_type};base64,${image.source.data}`;
  if (image.source.type === "url") return image.source.url;
  throw new ProviderError(provider, "unsupported", "file-id images exist only on Anthropic's API");
}

function toolChoice(choice: ToolChoice | undefined): Pick<OpenAIChatRequest, "tool_choice" | "parallel_tool_calls"> {
  if (!choice) return {};
  const parallel = "disable_parallel_tool_use" in choice && choice.disable_parallel_tool_use ? { parallel_tool_calls: false } : {};
  switch (choice.type) {
    case "auto":
      return { tool_choice: "auto", ...parallel };
    case "any":
      return { tool_choice: "required", ...parallel };
    case "none":
      return { tool_choice: "none" };
    case "tool":
      return { tool_choice: { type: "function", function: { name: choice.name } }, ...parallel };
  }
}

export function fromOpenAIResponse(provider: string, response: OpenAIChatResponse): MessageResponse {
  const choice = response.choices?.[0];
  if (!choice?.message) throw new ProviderError(provider, "invalid_response", "the response has no choices[0].message");
  const content: ContentBlock[] = [];
  if (choice.message.content) content.push({ type: "text", text: choice.message.content });
  for (const call of choice.message.tool_calls ?? []) {
    content.push({ type: "tool_use", id: call.id || toolUseId(), name: call.function.name, input: parseArguments(provider, call.function.name, call.function.arguments) });
  }
  const stop = stopReason(choice.finish_reason, choice.stop_reason, content.some((b) => b.type === "tool_use"));
  return {
    id: messageId(response.id),
    type: "message",
    role: "assistant",
    content,
    model: response.model,
    ...stop,
    usage: { input_tokens: response.usage?.prompt_tokens ?? 0, output_tokens: response.usage?.completion_tokens ?? 0 },
  };
}

/**
 * Tool calls decide "tool_use" whatever finish_reason says (Ollama reports "stop" with tool calls).
 * vLLM names the stop string that matched in `stop_reason`; other servers don't say which one did.
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

export function parseArguments(provider: string, tool: string, json: string | undefined): Record<string, unknown> {
  if (json === undefined || json.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new ProviderError(provider, "invalid_response", `the arguments of the ${tool} call are not JSON: ${json.slice(0, 200)}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ProviderError(provider, "invalid_response", `the arguments of the ${tool} call are not a JSON object`);
  }
  return value as Record<string, unknown>;
}

export const messageId = (id: string | undefined) => `msg_${id ?? randomUUID()}`;
export const toolUseId = () => `toolu_${randomUUID().replaceAll("-", "")}`;
