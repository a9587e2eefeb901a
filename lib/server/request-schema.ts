/**
 * The Messages API request body, validated with zod, and turned into the providers' MessageRequest.
 *
 * Clients send more than a local model uses, so unknown fields are dropped rather than refused
 * (Claude Code sends `thinking`, `output_config`, `context_management`, `metadata`, `cache_control`,
 * ...); thinking blocks in the history are dropped too, and so are server tools (web search, code
 * execution: Anthropic runs those, nobody here can), while their calls and results in the history
 * are read as text (history-blocks.ts). System messages inside the conversation are
 * folded into user turns. What is present must be well formed: a bad body is a 400 that names the
 * field.
 */
import { z } from "zod";

import type { ContentBlockParam, MessageParam, MessageRequest, TextBlockParam, ToolChoice, ToolDefinition } from "../messages/types.js";
import { ApiError } from "./errors.js";
import { historyBlocks, historyText, isHistoryBlock, loadedBy, searchResult } from "./history-blocks.js";

const text = z.object({ type: z.literal("text"), text: z.string() });
const image = z.object({
  type: z.literal("image"),
  source: z.discriminatedUnion("type", [
    z.object({ type: z.literal("base64"), media_type: z.enum(["image/jpeg", "image/png", "image/gif", "image/webp"]), data: z.string() }),
    z.object({ type: z.literal("url"), url: z.string() }),
  ]),
});
const toolUse = z.object({ type: z.literal("tool_use"), id: z.string(), name: z.string(), input: z.record(z.string(), z.unknown()) });
/** A tool search result that loads a deferred tool (see loadedTools); providers get it as text (see providerBlock). */
const toolReference = z.object({ type: z.literal("tool_reference"), tool_name: z.string() });
const toolResult = z.object({
  type: z.literal("tool_result"),
  tool_use_id: z.string(),
  content: z.union([z.string(), z.array(z.discriminatedUnion("type", [text, image, toolReference, searchResult]))]).optional(),
  is_error: z.boolean().optional(),
});
/** Earlier reasoning a client sends back: no backend here takes it, so it is accepted and dropped. */
const thinking = z.looseObject({ type: z.enum(["thinking", "redacted_thinking"]) });

const document = z
  .looseObject({ type: z.literal("document") })
  .refine(() => false, "document blocks are not supported here: send the document's text as a text block");

const block = z.discriminatedUnion("type", [text, image, toolUse, toolResult, thinking, document, ...historyBlocks]);
const turnContent = z.union([z.string(), z.array(block)]);
/**
 * A system message inside the conversation (Claude Code sends one, e.g. the list of its agent types,
 * under the `mid-conversation-system-2026-04-07` beta). The providers take user and assistant turns
 * only, so its text joins the user turn it follows (or, failing that, the next one): see conversation().
 */
const systemMessage = z.object({ role: z.literal("system"), content: z.union([z.string(), z.array(text)]) });
const message = z.discriminatedUnion("role", [
  z.object({ role: z.literal("user"), content: turnContent }),
  z.object({ role: z.literal("assistant"), content: turnContent }),
  systemMessage,
]);

const customTool = z.object({
  type: z.literal("custom").optional(),
  name: z.string().min(1),
  description: z.string().optional(),
  input_schema: z.looseObject({ type: z.literal("object") }),
  /** Kept out of the model's context until a tool_reference in the conversation loads it (tool search). */
  defer_loading: z.boolean().optional(),
});
/** Anthropic-hosted tools (`web_search_20250305`, ...): recognised, and dropped. */
const serverTool = z.looseObject({ type: z.string().refine((type) => type !== "custom"), name: z.string() }).transform(() => undefined);

const parallel = { disable_parallel_tool_use: z.boolean().optional() };
const toolChoice = z.discriminatedUnion("type", [
  z.object({ type: z.literal("auto"), ...parallel }),
  z.object({ type: z.literal("any"), ...parallel }),
  z.object({ type: z.literal("tool"), name: z.string(), ...parallel }),
  z.object({ type: z.literal("none") }),
]);

const countTokensBody = z.object({
  model: z.string().optional(),
  // The Messages API allows 100,000 messages a request; rendering more would hold the event loop for seconds.
  messages: z.array(message).min(1).max(100_000),
  system: z.union([z.string(), z.array(text)]).optional(),
  tools: z.array(z.union([customTool, serverTool])).optional(),
  tool_choice: toolChoice.optional(),
});

const messagesBody = countTokensBody.extend({
  max_tokens: z.number().int().min(1),
  stream: z.boolean().optional(),
  temperature: z.number().min(0).max(1).optional(),
  // 0 would keep no token at all: nucleus sampling needs a positive mass.
  top_p: z.number().gt(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  // "" would match before the first token and end every answer empty.
  stop_sequences: z.array(z.string().min(1)).optional(),
});

export type CountTokensBody = z.infer<typeof countTokensBody>;
type ContentBlock = Exclude<Extract<CountTokensBody["messages"][number], { role: "user" }>["content"], string>[number];

/** A /v1/messages body: the request for the providers, and whether the client wants it streamed. */
export function parseMessagesBody(json: unknown): { request: MessageRequest; stream: boolean } {
  const { max_tokens, stream, temperature, top_p, top_k, stop_sequences, ...common } = parse(messagesBody, json);
  const request: MessageRequest = { ...toRequest(common), max_tokens, temperature, top_p, top_k, stop_sequences };
  return { request, stream: stream ?? false };
}

/** A /v1/messages/count_tokens body. It has no max_tokens; 1 stands in for it (nothing counts it). */
export function parseCountTokensBody(json: unknown): MessageRequest {
  return { ...toRequest(parse(countTokensBody, json)), max_tokens: 1 };
}

/**
 * The `model` is not passed on: each provider answers with its own configured model, whatever alias
 * the client picked (see model-names.ts). /v1/chat/completions maps its body to this shape and
 * comes through here too.
 */
export function toRequest(body: CountTokensBody): Omit<MessageRequest, "max_tokens"> {
  const loaded = loadedTools(body.messages);
  const usable = body.tools?.flatMap((tool) => (tool && (!tool.defer_loading || loaded.has(tool.name)) ? [tool] : []));
  checkToolChoice(body, usable ?? []);
  const tools = usable?.map((tool): ToolDefinition => ({
    name: tool.name,
    description: tool.description,
    input_schema: tool.input_schema as ToolDefinition["input_schema"],
  }));
  return {
    messages: conversation(body.messages),
    system: body.system as string | TextBlockParam[] | undefined,
    // With only server tools sent, no tools are left for a tool_choice to apply to.
    ...(tools && tools.length > 0 && { tools, tool_choice: body.tool_choice as ToolChoice | undefined }),
  };
}

/**
 * A tool_choice that asks for a call (`any`, or `tool` with a name) needs a tool to call: with none
 * sent (or only server tools, which nobody here runs, or only tools still deferred), or naming one
 * that is not among them, it is a 400, as on the Messages API, rather than an answer that silently
 * ignores it.
 */
function checkToolChoice(body: CountTokensBody, usable: readonly { name: string }[]): void {
  const choice = body.tool_choice;
  if (choice?.type === "tool" && !usable.some((tool) => tool.name === choice.name)) {
    const deferred = body.tools?.some((tool) => tool?.name === choice.name && tool.defer_loading);
    throw new ApiError(
      "invalid_request_error",
      deferred
        ? `tool_choice names "${choice.name}", which has defer_loading and is not loaded yet: load it with a tool_reference first, or send it without defer_loading`
        : body.tools?.length
          ? `tool_choice names "${choice.name}", which is not one of the tools`
          : `tool_choice names "${choice.name}", but no tools were sent: send it in tools, or leave tool_choice out`,
      "tool_choice",
    );
  }
  if (choice?.type === "any" && usable.length === 0) {
    const why = body.tools?.length
      ? "none of the tools sent can be called here (server tools are not run by this server; deferred tools need a tool_reference first)"
      : "no tools were sent";
    throw new ApiError("invalid_request_error", `tool_choice "any" asks for a tool call, but ${why}`, "tool_choice");
  }
}

/**
 * The user and assistant turns, thinking blocks dropped. A system message's text blocks are appended
 * to the user turn before it, else to the next user turn (after any tool_result blocks, which must
 * come first), else they make a user turn of their own at the end.
 */
function conversation(messages: CountTokensBody["messages"]): MessageParam[] {
  const turns: MessageParam[] = [];
  let pending: TextBlockParam[] = [];
  const blocks = (content: MessageParam["content"]): ContentBlockParam[] => (typeof content === "string" ? [{ type: "text", text: content }] : content);
  for (const m of messages) {
    if (m.role === "system") {
      const texts: TextBlockParam[] = typeof m.content === "string" ? [{ type: "text", text: m.content }] : m.content;
      const previous = turns.at(-1);
      if (previous?.role === "user") previous.content = [...blocks(previous.content), ...texts];
      else pending.push(...texts);
      continue;
    }
    const content =
      typeof m.content === "string" ? m.content : m.content.filter((b) => b.type !== "thinking" && b.type !== "redacted_thinking").map(providerBlock);
    if (m.role === "user" && pending.length > 0) {
      turns.push({ role: "user", content: [...blocks(content), ...pending] });
      pending = [];
    } else turns.push({ role: m.role, content });
  }
  if (pending.length > 0) turns.push({ role: "user", content: pending });
  return turns;
}

/**
 * A block as providers take it: a tool_reference inside a tool result becomes the text `Tool loaded:
 * NAME`; server tools' calls and results and search results become text (see history-blocks.ts).
 */
function providerBlock(b: ContentBlock): ContentBlockParam {
  if (isHistoryBlock(b)) return historyText(b);
  if (b.type !== "tool_result" || !Array.isArray(b.content)) return b as ContentBlockParam;
  const content = b.content.map((part) =>
    part.type === "tool_reference" ? { type: "text" as const, text: `Tool loaded: ${part.tool_name}` } : isHistoryBlock(part) ? historyText(part) : part,
  );
  return { ...b, content } as ContentBlockParam;
}

/** The tools that tool_reference blocks (a tool search's results, the client's or Claude's) have loaded into the conversation. */
function loadedTools(messages: CountTokensBody["messages"]): Set<string> {
  const names = new Set<string>();
  for (const m of messages) {
    if (m.role === "system" || typeof m.content === "string") continue;
    for (const b of m.content) {
      for (const name of loadedBy(b)) names.add(name);
      if (b.type !== "tool_result" || !Array.isArray(b.content)) continue;
      for (const part of b.content) if (part.type === "tool_reference") names.add(part.tool_name);
    }
  }
  return names;
}

/** `json` as `schema` has it, or a 400 that names the fields at fault (the first as the error's param). */
export function parse<T>(schema: z.ZodType<T>, json: unknown): T {
  const result = schema.safeParse(json);
  if (!result.success) {
    const issues = result.error.issues.slice(0, 3);
    const param = issues[0]?.path.length ? issues[0].path.map(String).join(".") : undefined;
    throw new ApiError("invalid_request_error", issues.map((issue) => describe(issue)).join("; "), param);
  }
  return result.data;
}

/** "messages.0.content.1.text: Invalid input: expected string"; for a union, the branch that got furthest. */
function describe(issue: z.core.$ZodIssue, prefix: PropertyKey[] = []): string {
  const path = [...prefix, ...issue.path];
  if (issue.code === "invalid_union" && issue.errors.length > 0) {
    const deepest = issue.errors
      .map((branch) => branch[0])
      .filter(Boolean)
      .sort((a, b) => b.path.length - a.path.length)[0];
    if (deepest && deepest.path.length > 0) return describe(deepest, path);
  }
  return `${path.length > 0 ? path.map(String).join(".") : "body"}: ${issue.message}`;
}
