/**
 * Text of the request parts that backends other than Claude take as plain strings: the system prompt
 * (a string or text blocks) and a tool result's content (images and documents are named, not sent).
 */
import type { MessageRequest } from "../messages/types.js";

export function systemText(request: MessageRequest): string | undefined {
  return typeof request.system === "string" ? request.system : request.system?.map((b) => b.text).join("\n");
}

export { toolResultText } from "../messages/text.js";
