/**
 * An MCP CallToolResult as the content of an Anthropic tool_result block. Text and images in the
 * types the Messages API accepts pass through; structuredContent is added as JSON text unless a text
 * item already carries it (servers are asked to send both); audio, blobs and images of other types
 * are named rather than sent; resource links and text resources become text; isError -> is_error.
 */
import type { CallToolResult, ContentBlock as McpContent } from "@modelcontextprotocol/sdk/types.js";

import type { ImageBlockParam, TextBlockParam, ToolOutput } from "../messages/types.js";

const IMAGE_TYPES = new Set(["image/jpeg", "image/png", "image/gif", "image/webp"]);
type ImageMediaType = "image/jpeg" | "image/png" | "image/gif" | "image/webp";

/**
 * Text a tool result keeps by default: about 25,000 tokens (Claude Code's own cap on MCP output). A
 * tool that returns megabytes (a web page, a log) would otherwise fill any context, and the model
 * would get nothing but an error back.
 */
export const DEFAULT_MAX_RESULT_CHARS = 100_000;

export function toolOutputFromMcp(result: CallToolResult, maxTextChars = DEFAULT_MAX_RESULT_CHARS): ToolOutput {
  const content = (result.content ?? []).map(contentBlock);
  const structured = result.structuredContent;
  if (structured !== undefined && !content.some((b) => b.type === "text" && sameJson(b.text, structured))) {
    content.push({ type: "text", text: JSON.stringify(structured) });
  }
  return { content: capText(content, maxTextChars), is_error: result.isError === true };
}

/** The blocks with their text cut to `max` characters in all, the cut said in the text. */
function capText(blocks: Array<TextBlockParam | ImageBlockParam>, max: number): Array<TextBlockParam | ImageBlockParam> {
  const total = blocks.reduce((sum, b) => sum + (b.type === "text" ? b.text.length : 0), 0);
  if (total <= max) return blocks;
  let left = max;
  const out: Array<TextBlockParam | ImageBlockParam> = [];
  for (const block of blocks) {
    if (block.type !== "text") out.push(block);
    else if (left > 0) {
      out.push({ type: "text", text: block.text.slice(0, left) });
      left -= Math.min(left, block.text.length);
    }
  }
  out.push({ type: "text", text: `[${total - max} more characters cut: the tool's result was longer than ${max} characters]` });
  return out;
}

/** A failure of the call itself (crash, timeout, unknown tool) as a tool error the model can read. */
export function toolError(message: string): ToolOutput {
  return { content: [{ type: "text", text: message }], is_error: true };
}

function contentBlock(item: McpContent): TextBlockParam | ImageBlockParam {
  switch (item.type) {
    case "text":
      return { type: "text", text: item.text };
    case "image":
      if (IMAGE_TYPES.has(item.mimeType)) return { type: "image", source: { type: "base64", media_type: item.mimeType as ImageMediaType, data: item.data } };
      return { type: "text", text: `[${item.mimeType} image omitted: the Messages API accepts JPEG, PNG, GIF and WebP]` };
    case "audio":
      return { type: "text", text: `[${item.mimeType} audio omitted]` };
    case "resource_link":
      return { type: "text", text: `[resource ${item.uri}${item.name ? ` (${item.name})` : ""}${item.description ? `: ${item.description}` : ""}]` };
    case "resource": {
      const resource = item.resource;
      if ("text" in resource) return { type: "text", text: resource.text };
      return { type: "text", text: `[binary resource ${resource.uri}${resource.mimeType ? ` (${resource.mimeType})` : ""} omitted]` };
    }
  }
}

function sameJson(text: string, value: unknown): boolean {
  try {
    return JSON.stringify(JSON.parse(text)) === JSON.stringify(value);
  } catch {
    return false;
  }
}
