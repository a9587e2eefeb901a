/**
 * Blocks a conversation's history may hold that no provider here takes as such: Anthropic's server
 * tools' calls and results (`server_tool_use`, `web_search_tool_result`, `tool_search_tool_result`,
 * the code execution and web fetch results) and `search_result` blocks. A client that talked to Claude
 * sends them back in later turns; they are accepted and become text blocks that say what happened, so
 * the model reads the history it is continuing. Their zod schemas are lenient past `type` (the shapes
 * keep growing fields) and read only what the text needs.
 */
import { z } from "zod";

import type { TextBlockParam } from "../messages/types.js";

const textPart = z.looseObject({ type: z.literal("text"), text: z.string() });

/** A search result (a client's RAG hit), top level or inside a tool result. */
export const searchResult = z.looseObject({ type: z.literal("search_result"), source: z.string(), title: z.string(), content: z.array(textPart) });

const serverToolUse = z.looseObject({ type: z.literal("server_tool_use"), id: z.string(), name: z.string(), input: z.unknown() });

const webSearchResult = z.looseObject({ type: z.literal("web_search_result"), title: z.string(), url: z.string() });
const webSearchToolResult = z.looseObject({
  type: z.literal("web_search_tool_result"),
  tool_use_id: z.string(),
  content: z.union([z.array(webSearchResult), z.looseObject({ error_code: z.string() })]),
});

const toolReference = z.looseObject({ type: z.literal("tool_reference"), tool_name: z.string() });
/** Claude's own tool search: its references load deferred tools, as a client's tool_reference does. */
const toolSearchToolResult = z.looseObject({
  type: z.literal("tool_search_tool_result"),
  tool_use_id: z.string(),
  content: z.union([z.looseObject({ tool_references: z.array(toolReference) }), z.looseObject({ error_code: z.string() })]),
});

/** Results whose content only Claude reads back (encrypted or container state): named, not rendered. */
const otherServerResult = z.looseObject({
  type: z.enum(["web_fetch_tool_result", "code_execution_tool_result", "bash_code_execution_tool_result", "text_editor_code_execution_tool_result"]),
  tool_use_id: z.string(),
});

/** The blocks, for the request schema's union of content blocks. */
export const historyBlocks = [searchResult, serverToolUse, webSearchToolResult, toolSearchToolResult, otherServerResult] as const;

type HistoryBlock = z.infer<(typeof historyBlocks)[number]>;
const HISTORY_TYPES = new Set<string>([
  ...searchResult.shape.type.values,
  ...serverToolUse.shape.type.values,
  ...webSearchToolResult.shape.type.values,
  ...toolSearchToolResult.shape.type.values,
  ...otherServerResult.shape.type.options,
]);

export function isHistoryBlock(block: { type: string }): block is HistoryBlock {
  return HISTORY_TYPES.has(block.type);
}

/** The block as the text the model reads in its place; each ends its line, so text around it stays apart. */
export function historyText(block: HistoryBlock): TextBlockParam {
  return { type: "text", text: `${describe(block)}\n` };
}

function describe(block: HistoryBlock): string {
  switch (block.type) {
    case "search_result":
      return `Search result: ${block.title} (${block.source})\n${block.content.map((part) => part.text).join("\n")}`;
    case "server_tool_use":
      return `[server tool call ${block.name} ${block.id}: ${JSON.stringify(block.input ?? {})}]`;
    case "web_search_tool_result":
      return Array.isArray(block.content)
        ? `[web search results for ${block.tool_use_id}:${block.content.map((r, i) => `\n${i + 1}. ${r.title} <${r.url}>`).join("") || " none"}]`
        : `[web search failed for ${block.tool_use_id}: ${block.content.error_code}]`;
    case "tool_search_tool_result": {
      const names = references(block);
      return names
        ? `[tool search for ${block.tool_use_id} loaded: ${names.join(", ") || "nothing"}]`
        : `[tool search failed for ${block.tool_use_id}: ${String(block.content.error_code)}]`;
    }
    default:
      return `[${block.type} for ${block.tool_use_id} omitted]`;
  }
}

/** Tool names a history block loads (Claude's tool search results). */
export function loadedBy(block: { type: string }): string[] {
  return block.type === "tool_search_tool_result" ? (references(block as z.infer<typeof toolSearchToolResult>) ?? []) : [];
}

/** A tool search's tool names, or undefined for its error. */
function references(block: z.infer<typeof toolSearchToolResult>): string[] | undefined {
  const refs = block.content.tool_references as z.infer<typeof toolReference>[] | undefined;
  return Array.isArray(refs) ? refs.map((r) => r.tool_name) : undefined;
}
