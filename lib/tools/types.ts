/** The shapes of tool calling: definitions (Anthropic and MCP), tool choice, conversations, parsed calls. */

/** A JSON Schema object (draft-07 / 2020-12 as tools use them). */
export type JsonSchema = Record<string, unknown>;

/** A tool as Anthropic's Messages API defines it. */
export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: JsonSchema;
}

/** A tool as an MCP server lists it (`tools/list`). */
export interface McpTool {
  name: string;
  description?: string;
  inputSchema: JsonSchema;
}

export type ToolDefinition = AnthropicTool | McpTool;

/**
 * Anthropic's tool_choice, or its type as a plain string. `any` = some tool must be called, `tool` = that
 * tool must be called, `none` = no call may be made.
 */
export type ToolChoice =
  | "auto"
  | "any"
  | "none"
  | { type: "auto" | "any" | "none"; disable_parallel_tool_use?: boolean }
  | { type: "tool"; name: string; disable_parallel_tool_use?: boolean };

export interface TextBlock {
  type: "text";
  text: string;
}

export interface ToolUseBlock {
  type: "tool_use";
  id: string;
  name: string;
  input: unknown;
}

export interface ToolResultBlock {
  type: "tool_result";
  tool_use_id: string;
  content?: string | TextBlock[];
  is_error?: boolean;
}

export type ContentBlock = TextBlock | ToolUseBlock | ToolResultBlock;

/** One turn of a conversation, shaped like an Anthropic message (tool results come in user turns). */
export interface ConversationMessage {
  role: "user" | "assistant";
  content: string | ContentBlock[];
}

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
