/**
 * The shapes of tool calling beyond the Messages API's (lib/messages: conversations, tool choice,
 * Anthropic tool definitions): MCP tool definitions, JSON Schema, parsed calls.
 */
import type { ToolDefinition } from "../messages/types.js";

/** A JSON Schema object (draft-07 / 2020-12 as tools use them). */
export type JsonSchema = Record<string, unknown>;

/** A tool as an MCP server lists it (`tools/list`). */
export interface McpTool {
  name: string;
  description?: string;
  inputSchema: JsonSchema;
}

/** A tool in either shape: Anthropic's (`input_schema`, lib/messages) or MCP's (`inputSchema`). */
export type AnyToolDefinition = ToolDefinition | McpTool;

/** A call found in model output (arguments already checked against the tool's input schema). */
export interface ParsedToolCall {
  name: string;
  arguments: Record<string, unknown>;
}

/** Something in the output that looked like a call but is not a valid one. */
export interface ToolCallError {
  message: string;
  /** The text it came from. */
  raw: string;
}

export interface ToolCallParseResult {
  /** What the model said outside its calls. */
  text: string;
  calls: ParsedToolCall[];
  errors: ToolCallError[];
}
