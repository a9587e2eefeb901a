/**
 * Text of the Messages parts that a text-only prompt takes as plain strings: a tool result's content
 * (images and documents are named, not sent). Shared by the tool prompt and the providers that
 * flatten requests for backends other than Claude.
 */
import type { ToolResultBlockParam } from "./types.js";

export function toolResultText(result: ToolResultBlockParam): string {
  const content = result.content ?? "";
  return typeof content === "string" ? content : content.map((b) => (b.type === "text" ? b.text : `[${b.type} omitted]`)).join("\n");
}
