/**
 * One model interface for every backend (local Phi-4, Claude, OpenAI-compatible servers), shaped like
 * the Anthropic Messages API: the same request fields, content blocks, stop reasons, usage fields and
 * stream events. Request-side blocks are the SDK's own types, so a request built here goes to
 * `@anthropic-ai/sdk` unchanged; response types are narrowed to what every backend can produce (text
 * and tool_use), which keeps them assignable back into the next request's assistant turn.
 */
import type Anthropic from "@anthropic-ai/sdk";

import type { RouteDecision } from "../router/decision.js";

export type TextBlockParam = Anthropic.TextBlockParam;
export type ImageBlockParam = Anthropic.ImageBlockParam;
export type ToolUseBlockParam = Anthropic.ToolUseBlockParam;
export type ToolResultBlockParam = Anthropic.ToolResultBlockParam;
export type ToolChoice = Anthropic.ToolChoice;

/** The blocks a conversation may carry between providers (server tools and documents are Claude-only). */
export type ContentBlockParam = TextBlockParam | ImageBlockParam | ToolUseBlockParam | ToolResultBlockParam;

export interface MessageParam {
  role: "user" | "assistant";
  content: string | ContentBlockParam[];
}

/** What running a tool produced: a tool_result block's content and error flag, before its tool_use_id is attached. */
export interface ToolOutput {
  content: (TextBlockParam | ImageBlockParam)[];
  is_error: boolean;
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

export interface TextBlock {
  type: "text";
  text: string;
}

export interface ToolUseBlock {
  type: "tool_use";
  id: string;
  name: string;
  input: Record<string, unknown>;
}

export type ContentBlock = TextBlock | ToolUseBlock;

/** model_context_window_exceeded: the answer ran out of context (the model's length, or the local KV memory budget). */
export type StopReason = "end_turn" | "max_tokens" | "stop_sequence" | "tool_use" | "model_context_window_exceeded";

export interface Usage {
  input_tokens: number;
  output_tokens: number;
}

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

/** What a caller knows about a task. A router routes on it; a plain provider ignores it. */
export interface TaskHints {
  /** "high": the request must not leave this machine, even when every local attempt fails. */
  privacy?: "normal" | "high";
  complexity?: "low" | "medium" | "high";
  /** The task is a multi-step tool loop from the start (the router also infers it from the history). */
  multiStep?: boolean;
}

export interface CallOptions {
  signal?: AbortSignal;
  hints?: TaskHints;
  /** Told of each routing decision (the first choice and every fallback) when a router serves the call. */
  onRoute?: (decision: RouteDecision) => void;
  /**
   * The caller shows nothing of a stream before it has ended (it collects the whole message, or may
   * still discard it): a provider may then keep retrying after output it would otherwise have shown.
   */
  buffered?: boolean;
}

export interface Provider {
  readonly name: string;
  /** "local" providers never send a byte off this machine; the router's privacy rule relies on it. */
  readonly locality: "local" | "remote";
  /** Prompt + output tokens one request may use, when the backend is bounded that tightly (local KV capacity). */
  readonly contextTokens?: number;
  /** Requests running or waiting, for providers that queue them (the local engine); routers overflow on it. */
  readonly queueDepth?: number;
  create(request: MessageRequest, options?: CallOptions): Promise<MessageResponse>;
  stream(request: MessageRequest, options?: CallOptions): AsyncIterable<StreamEvent>;
}
