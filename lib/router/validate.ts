/**
 * The router's quality check of an answer before it is accepted: tool_choice was obeyed, and every
 * tool call names a tool of the request with input that satisfies its input_schema (checked by the
 * tools layer's catalog, the same validators local tool calls are made with). An answer that fails
 * makes the router fall back.
 */
import type { MessageRequest, MessageResponse } from "../messages/types.js";
import { ToolCatalog } from "../tools/catalog.js";

/** Why the answer is not acceptable, or undefined when it is. */
export function checkAnswer(request: MessageRequest, message: MessageResponse): string | undefined {
  const calls = message.content.filter((b) => b.type === "tool_use");
  const choice = request.tool_choice;
  if (choice?.type === "none" && calls.length > 0) return "tool_choice none, but the answer calls a tool";
  if (choice?.type === "any" && calls.length === 0) return "tool_choice any, but the answer calls no tool";
  if (choice?.type === "tool" && !calls.some((c) => c.name === choice.name)) return `tool_choice ${choice.name}, but the answer does not call it`;
  if (calls.length > 1 && choice && "disable_parallel_tool_use" in choice && choice.disable_parallel_tool_use) {
    return `parallel tool use is disabled, but the answer makes ${calls.length} calls`;
  }
  if (calls.length === 0) return undefined;
  let catalog: ToolCatalog;
  try {
    catalog = ToolCatalog.from(request.tools ?? []);
  } catch {
    // The request's own tool definitions do not compile: no answer could be checked against them.
    return undefined;
  }
  for (const call of calls) {
    const tool = catalog.get(call.name);
    if (!tool) return `the answer calls ${call.name}, which is not among the request's tools`;
    const problems = catalog.check(tool, call.input);
    if (problems.length > 0) return `the input of ${call.name} does not match its schema: ${problems.join("; ")}`;
  }
  return undefined;
}
