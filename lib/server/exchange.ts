/**
 * What every route handler gets: the exchange (one request being served) and the state the handlers
 * share. Declared apart from routes.ts, which imports the handlers, so handlers (messages.ts) import
 * these types without importing the route table back.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

import type { LocalProvider } from "../providers/local.js";
import type { Provider } from "../providers/types.js";
import type { ModelInfo } from "./model-names.js";
import type { ServerMetrics } from "./server-metrics.js";

/** One request being served. */
export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  requestId: string;
  /** Aborted when the client goes away, or by a shutdown (its reason then an ApiError). */
  signal: AbortSignal;
  /** The route's captured path segment, if it has one. */
  param?: string;
  /** Tokens of the answer, for the access log (set by the handlers that know them). */
  usage?: { input_tokens: number; output_tokens?: number };
  /** A failure reported inside a stream that had already started (its status stays 200). */
  streamError?: unknown;
}

/** What the handlers share. */
export interface ServerState {
  provider: Provider;
  /** Renders prompts as the local model sees them, for count_tokens (it creates no engine context for that). */
  renderer: LocalProvider;
  metrics: ServerMetrics;
  models: ModelInfo[];
  localId: string;
  maxBodyBytes: number;
  /** Most tokens count_tokens counts. */
  maxCountTokens: number;
  /** How long a stream's status line waits for its first event (messages.ts). */
  firstEventWaitMs: number;
}
