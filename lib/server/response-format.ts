/**
 * response_format `json_object` and `json_schema` through the constrained decoding of tool calls: the
 * format becomes a tool whose input is the answer (the "answer tool"), which the model is made to
 * call, and that call's input is the message content. Strict or not, the constraint writes JSON that
 * follows the schema, as it does for any tool call, and the answer is checked against the schema
 * like any call (docs/tool-calling.md).
 *
 * With other tools and tool_choice auto, the model must call one of them or the answer tool, so an
 * answer is tool calls or JSON content. With tool_choice required or a named function a tool call is
 * asked for, not the answer, and the format does not apply (OpenAI's shapes the final answer only).
 */
import type { MessageRequest, MessageResponse, StreamEvent, ToolChoice, ToolDefinition } from "../messages/types.js";
import { ApiError } from "./errors.js";

export type ResponseFormat =
  { type: "text" } | { type: "json_object" } | { type: "json_schema"; json_schema: { name: string; description?: string; schema?: Record<string, unknown> } };

/** The request with the answer tool offered and called for, and its name (none when the format does not apply). */
export function withResponseFormat(request: MessageRequest, format: ResponseFormat | undefined): { request: MessageRequest; answerTool?: string } {
  if (format === undefined || format.type === "text") return { request };
  const tool = answerTool(format);
  const choice = request.tool_choice;
  if (choice?.type === "any" || choice?.type === "tool") return { request };
  const param = format.type === "json_schema" ? "response_format.json_schema.name" : "response_format";
  if (request.tools?.some((t) => t.name === tool.name))
    throw new ApiError("invalid_request_error", `the response format's name "${tool.name}" is also a tool's: rename one of them`, param);
  const single = choice?.type === "auto" && choice.disable_parallel_tool_use ? { disable_parallel_tool_use: true } : {};
  // Other tools under auto: a call to one of them, or the answer. Otherwise (none, or no tools): the answer.
  const tool_choice: ToolChoice =
    request.tools?.length && choice?.type !== "none" ? { type: "any", ...single } : { type: "tool", name: tool.name, disable_parallel_tool_use: true };
  return { request: { ...request, tools: [...(request.tools ?? []), tool], tool_choice }, answerTool: tool.name };
}

function answerTool(format: Exclude<ResponseFormat, { type: "text" }>): ToolDefinition {
  if (format.type === "json_object") return { name: "json_answer", description: "Give your answer as a JSON object.", input_schema: { type: "object" } };
  const { name, description, schema } = format.json_schema;
  return {
    name,
    description: description ?? "Give your answer as JSON that matches this schema.",
    input_schema: (schema ?? { type: "object" }) as ToolDefinition["input_schema"],
  };
}

/** The answer tool's call as a text block holding its JSON, streamed as written; tool_use ends the turn only when another tool was called. */
export async function* answerEvents(events: AsyncIterable<StreamEvent>, name: string | undefined): AsyncGenerator<StreamEvent> {
  if (name === undefined) return yield* events;
  const answers = new Set<number>();
  let calls = 0;
  for await (const event of events) {
    if (event.type === "content_block_start" && event.content_block.type === "tool_use") {
      if (event.content_block.name !== name) calls++;
      else {
        answers.add(event.index);
        yield { type: "content_block_start", index: event.index, content_block: { type: "text", text: "" } };
        continue;
      }
    }
    if (event.type === "content_block_delta" && event.delta.type === "input_json_delta" && answers.has(event.index)) {
      yield { type: "content_block_delta", index: event.index, delta: { type: "text_delta", text: event.delta.partial_json } };
    } else if (event.type === "message_delta" && event.delta.stop_reason === "tool_use" && calls === 0) {
      yield { ...event, delta: { stop_reason: "end_turn", stop_sequence: null } };
    } else yield event;
  }
}

/** answerEvents for a whole message. */
export function answerMessage(message: MessageResponse, name: string | undefined): MessageResponse {
  if (name === undefined) return message;
  const content = message.content.map((b) => (b.type === "tool_use" && b.name === name ? { type: "text" as const, text: JSON.stringify(b.input) } : b));
  const called = content.some((b) => b.type === "tool_use");
  return { ...message, content, ...(message.stop_reason === "tool_use" && !called && { stop_reason: "end_turn" as const }) };
}
