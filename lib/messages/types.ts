/**
 * The Messages API shapes every layer above the engine speaks: tools (conversations, tool choice,
 * tool definitions), providers (requests, responses, stream events), the agent loop and the server.
 * One declaration of each, built on `@anthropic-ai/sdk`'s types: request-side blocks are the SDK's
 * own, so a request built here goes to the SDK unchanged; response types are the SDK's narrowed to
 * what every backend can produce (text and tool_use), which keeps them assignable back into the
 * next request's assistant turn.
 */
import type Anthropic from "@anthropic-ai/sdk";

export type TextBlockParam = Anthropic.TextBlockParam;
export type ImageBlockParam = Anthropic.ImageBlockParam;
export type ToolUseBlockParam = Anthropic.ToolUseBlockParam;
export type ToolResultBlockParam = Anthropic.ToolResultBlockParam;
/** `any` = some tool must be called, `tool` = that tool must be called, `none` = no call may be made. */
export type ToolChoice = Anthropic.ToolChoice;

/** The blocks a conversation may carry between providers (server tools and documents are Claude-only). */
export type ContentBlockParam = TextBlockParam | ImageBlockParam | ToolUseBlockParam | ToolResultBlockParam;

/** One turn of a conversation (tool results come in user turns). */
export interface MessageParam {
  role: "user" | "assistant";
  content: string | ContentBlockParam[];
}

/** A client tool, as sent in `tools` (and as MCP tools are exposed). */
export interface ToolDefinition {
  name: string;
  description?: string;
  input_schema: Anthropic.Tool.InputSchema;
}

export interface MessageRequest {
  /** Model id; each provider has a default. */
  model?: string;
  max_tokens: number;
  messages: MessageParam[];
  system?: string | TextBlockParam[];
  tools?: ToolDefinition[];
  tool_choice?: ToolChoice;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  stop_sequences?: string[];
}

export type TextBlock = Pick<Anthropic.TextBlock, "type" | "text">;

export type ToolUseBlock = Pick<Anthropic.ToolUseBlock, "type" | "id" | "name"> & { input: Record<string, unknown> };

export type ContentBlock = TextBlock | ToolUseBlock;

/**
 * Why a message ended, of the reasons every backend can give; model_context_window_exceeded: the answer
 * ran out of context (the model's length, or the local KV memory budget).
 */
export type StopReason = Extract<Anthropic.StopReason, "end_turn" | "max_tokens" | "stop_sequence" | "tool_use" | "model_context_window_exceeded">;

export type Usage = Pick<Anthropic.Usage, "input_tokens" | "output_tokens">;

export interface MessageResponse {
  id: string;
  type: "message";
  role: "assistant";
  content: ContentBlock[];
  model: string;
  stop_reason: StopReason;
  stop_sequence: string | null;
  usage: Usage;
}

export type StreamEvent =
  | { type: "message_start"; message: Omit<MessageResponse, "stop_reason"> & { stop_reason: null } }
  | { type: "content_block_start"; index: number; content_block: ContentBlock }
  | {
      type: "content_block_delta";
      index: number;
      delta: { type: "text_delta"; text: string } | { type: "input_json_delta"; partial_json: string };
    }
  | { type: "content_block_stop"; index: number }
  | {
      type: "message_delta";
      delta: { stop_reason: StopReason; stop_sequence: string | null };
      /** Cumulative, as in the Messages API; input_tokens when the backend reports it only at the end. */
      usage: { output_tokens: number; input_tokens?: number };
    }
  | { type: "message_stop" };

/** What running a tool produced: a tool_result block's content and error flag, before its tool_use_id is attached. */
export interface ToolOutput {
  content: (TextBlockParam | ImageBlockParam)[];
  is_error: boolean;
}
