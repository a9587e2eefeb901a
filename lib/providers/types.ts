/**
 * One model interface for every backend (local Phi-4, Claude, OpenAI-compatible servers): a Provider
 * takes a Messages API request (lib/messages) and answers with a message or its stream of events.
 */
import type { MessageRequest, MessageResponse, StreamEvent } from "../messages/types.js";
import type { MetricsSnapshot, RouteDecision } from "./routing.js";

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
  /** Seeds the sampler, for repeatable sampled answers (OpenAI's `seed`); providers that cannot seed ignore it. */
  seed?: number;
}

export interface Provider {
  readonly name: string;
  /** "local" providers never send a byte off this machine; the router's privacy rule relies on it. */
  readonly locality: "local" | "remote";
  /** Prompt + output tokens one request may use, when the backend is bounded that tightly (local KV capacity). */
  readonly contextTokens?: number;
  /** Requests running or waiting, for providers that queue them (the local engine); routers overflow on it. */
  readonly queueDepth?: number;
  /** Output tokens of tool turns so far, sampled by a decode step or appended by jump-forward (the local engine); /metrics shows them. */
  readonly toolCallTokens?: ToolCallTokens;
  /** Counters of a provider that spreads requests over others (the router); /metrics and the chat's /stats show them. */
  metricsSnapshot?(): MetricsSnapshot;
  create(request: MessageRequest, options?: CallOptions): Promise<MessageResponse>;
  stream(request: MessageRequest, options?: CallOptions): AsyncIterable<StreamEvent>;
}

export interface ToolCallTokens {
  sampled: number;
  jumped: number;
}
