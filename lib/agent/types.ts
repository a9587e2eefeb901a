/** The agent loop's options, events and result. */
import type { MessageParam, StopReason, ToolChoice, ToolOutput, ToolUseBlock, Usage } from "../messages/types.js";
import type { Provider, TaskHints } from "../providers/types.js";
import type { RouteDecision } from "../providers/routing.js";
import type { ToolSet } from "./tool-set.js";

export interface AgentOptions {
  /** The model side: a Router, or any single provider. */
  provider: Provider;
  tools: ToolSet;
  /** The user's request, or a whole conversation to continue. */
  task: string | MessageParam[];
  system?: string;
  /** Only these tools (exposed names) are offered to the model. Default: all of `tools`. */
  allowedTools?: string[];
  /** tool_choice of the first turn (e.g. force a tool); later turns use "auto" so the loop can end. */
  toolChoice?: ToolChoice;
  /** Most model turns. Default 10. */
  maxIterations?: number;
  /** max_tokens of each turn. Default 1024. */
  maxTokens?: number;
  temperature?: number;
  /** Passed to the provider (privacy, complexity, multiStep): a router routes on them. */
  hints?: TaskHints;
  signal?: AbortSignal;
}

export type AgentEvent =
  /** The provider serving the turn changed: the first choice (from null), a fallback, or a new route. */
  | { type: "provider_switch"; step: number; from: string | null; to: string; reason: string }
  | { type: "text"; step: number; text: string }
  | { type: "tool_call"; step: number; call: ToolUseBlock }
  | { type: "tool_result"; step: number; toolUseId: string; name: string; output: ToolOutput };

export interface AgentToolResult extends ToolOutput {
  tool_use_id: string;
  name: string;
}

/** One model turn and the tool calls it made. */
export interface AgentStep {
  provider: string;
  model: string;
  text: string;
  toolCalls: ToolUseBlock[];
  toolResults: AgentToolResult[];
  stopReason: StopReason;
  usage: Usage;
}

export type AgentStopReason = "end_turn" | "max_tokens" | "stop_sequence" | "model_context_window_exceeded" | "max_iterations" | "aborted";

export interface AgentResult {
  /** The text of the last turn. */
  finalText: string;
  stopReason: AgentStopReason;
  steps: AgentStep[];
  /** The whole conversation, ready to continue. */
  messages: MessageParam[];
  usage: Usage;
  /** The routing decisions of this run (empty unless the provider is a router). */
  routing: RouteDecision[];
}
