/**
 * The /v1/chat/completions body, validated with zod, and turned into the providers' MessageRequest by
 * the same path as a Messages body: OpenAI's messages, tools and tool_choice are mapped to the
 * Messages shape (providers/openai-mapping.ts), then go through request-schema.ts's toRequest (system
 * messages inside the conversation, tool_choice checks), and response_format becomes a forced tool
 * (response-format.ts). Unknown fields are dropped (user, metadata, store, service_tier...), and so
 * are frequency_penalty and presence_penalty; what is present must be well formed, and what this
 * server cannot do (n > 1, logprobs, audio and file parts, custom tools) is a 400 naming the field.
 */
import { z } from "zod";

import { argumentsObject, fromOpenAIMessages, fromOpenAITool, fromOpenAIToolChoice, isImageUrl, type ChatInMessage } from "../providers/openai-mapping.js";
import type { MessageRequest } from "../messages/types.js";
import { ApiError } from "./errors.js";
import { parse, toRequest, type CountTokensBody } from "./request-schema.js";
import { withResponseFormat } from "./response-format.js";

const text = z.object({ type: z.literal("text"), text: z.string() });
const textContent = z.union([z.string(), z.array(text)]);
const image = z.object({
  type: z.literal("image_url"),
  image_url: z.object({
    url: z.string().refine(isImageUrl, "an image URL is http(s), or a base64 data URL of a JPEG, PNG, GIF or WebP image"),
    detail: z.string().optional(),
  }),
});
const unsupportedPart = z.looseObject({ type: z.enum(["input_audio", "file"]) }).refine(() => false, "audio and file parts are not supported here: send text");
const refusal = z.object({ type: z.literal("refusal"), refusal: z.string() });
const toolCall = z.object({
  id: z.string(),
  type: z.literal("function"),
  function: z.object({ name: z.string(), arguments: z.string().refine((json) => argumentsObject(json) !== undefined, "arguments must be a JSON object") }),
});
const legacyFunction = z
  .looseObject({ role: z.literal("function") })
  .refine(() => false, "function messages (the legacy function calling) are not supported: use tools and tool messages");
const message = z.discriminatedUnion("role", [
  z.object({ role: z.literal("system"), content: textContent }),
  z.object({ role: z.literal("developer"), content: textContent }),
  z.object({ role: z.literal("user"), content: z.union([z.string(), z.array(z.discriminatedUnion("type", [text, image, unsupportedPart]))]) }),
  z.object({
    role: z.literal("assistant"),
    content: z.union([z.string(), z.array(z.discriminatedUnion("type", [text, refusal]))]).nullish(),
    tool_calls: z.array(toolCall).nullish(),
  }),
  z.object({ role: z.literal("tool"), tool_call_id: z.string(), content: textContent }),
  legacyFunction,
]);

const name = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "a name is 1 to 64 letters, digits, underscores or dashes");
const objectSchema = z.looseObject({ type: z.literal("object") });
const tool = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("function"),
    function: z.object({ name, description: z.string().nullish(), parameters: objectSchema.nullish(), strict: z.boolean().nullish() }),
  }),
  z.looseObject({ type: z.literal("custom") }).refine(() => false, "custom tools are not supported here: send function tools"),
]);
const toolChoice = z.union([z.enum(["auto", "none", "required"]), z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) })]);
const responseFormat = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    json_schema: z.object({ name, description: z.string().optional(), schema: objectSchema.optional(), strict: z.boolean().nullish() }),
  }),
]);

const chatBody = z.object({
  model: z.string().optional(),
  // The Messages API's limit, for the same reason (request-schema.ts).
  messages: z.array(message).min(1).max(100_000),
  max_tokens: z.number().int().min(1).nullish(),
  max_completion_tokens: z.number().int().min(1).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  // 0 would keep no token at all: nucleus sampling needs a positive mass.
  top_p: z.number().gt(0).max(1).nullish(),
  // Not OpenAI's, but vLLM's, llama.cpp's and Ollama's (and the OpenAI-compatible provider sends it).
  top_k: z.number().int().min(0).nullish(),
  seed: z.number().int().nullish(),
  // "" would match before the first token and end every answer empty.
  stop: z.union([z.string().min(1), z.array(z.string().min(1)).max(4)]).nullish(),
  n: z
    .number()
    .int()
    .nullish()
    .refine((n) => n == null || n === 1, "only n = 1 is supported: one choice per request (send the request again, with another seed, for more)"),
  logprobs: z
    .boolean()
    .nullish()
    .refine((wanted) => wanted !== true, "logprobs are not supported here"),
  tools: z.array(tool).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  response_format: responseFormat.nullish(),
});

export interface ParsedChat {
  request: MessageRequest;
  stream: boolean;
  /** stream_options.include_usage: a last chunk with the usage. */
  includeUsage: boolean;
  seed?: number;
  /** The tool that stands for response_format, whose call is the answer's content (response-format.ts). */
  answerTool?: string;
}

/** A /v1/chat/completions body. Without max_tokens (or max_completion_tokens), the answer may use `maxTokens`. */
export function parseChatBody(json: unknown, maxTokens: number): ParsedChat {
  const body = parse(chatBody, json);
  const forced = body.tool_choice != null && body.tool_choice !== "auto" && body.tool_choice !== "none";
  if (forced && !body.tools?.length) throw new ApiError("invalid_request_error", "tool_choice asks for a tool call, but no tools were sent", "tool_choice");
  // The refinements let no audio or file part and no function message through: the rest is what fromOpenAIMessages takes.
  const { system, turns } = fromOpenAIMessages(body.messages as ChatInMessage[]);
  const tools = body.tools?.flatMap((t) =>
    t.type === "function"
      ? [fromOpenAITool({ function: { ...t.function, description: t.function.description ?? undefined, parameters: t.function.parameters ?? undefined } })]
      : [],
  );
  const common = toRequest({
    messages: turns,
    system,
    tools,
    tool_choice: body.tools?.length ? fromOpenAIToolChoice(body.tool_choice ?? undefined, body.parallel_tool_calls ?? undefined) : undefined,
  } as CountTokensBody);
  const stop = typeof body.stop === "string" ? [body.stop] : (body.stop ?? undefined);
  const request: MessageRequest = {
    ...common,
    max_tokens: body.max_completion_tokens ?? body.max_tokens ?? maxTokens,
    ...(body.temperature != null && { temperature: body.temperature }),
    ...(body.top_p != null && { top_p: body.top_p }),
    ...(body.top_k != null && { top_k: body.top_k }),
    ...(stop && { stop_sequences: stop }),
  };
  const formatted = withResponseFormat(request, body.response_format ?? undefined);
  return {
    request: formatted.request,
    stream: body.stream ?? false,
    includeUsage: body.stream_options?.include_usage ?? false,
    ...(body.seed != null && { seed: body.seed }),
    ...(formatted.answerTool !== undefined && { answerTool: formatted.answerTool }),
  };
}
