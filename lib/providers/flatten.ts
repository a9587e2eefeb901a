/**
 * Text of the request parts that backends other than Claude take as plain strings: the system prompt
 * (a string or text blocks) and a tool result's content (images and documents are named, not sent).
 */
import type { MessageRequest, ToolResultBlockParam } from "./types.js";

export function systemText(request: MessageRequest): string | undefined {
  return typeof request.system === "string" ? request.system : request.system?.map((b) => b.text).join("\n");
}

export function toolResultText(result: ToolResultBlockParam): string {
  const content = result.content ?? "";
  return typeof content === "string" ? content : content.map((b) => (b.type === "text" ? b.text : `[${b.type} omitted]`)).join("\n");
}
