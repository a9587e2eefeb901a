/**
 * What a provider that spreads requests over others (the router) reports through the Provider
 * contract: its decisions (CallOptions.onRoute) and its counters (Provider.metricsSnapshot). Declared
 * here, below the router, so callers (agent loop, server, CLI) read them without knowing the router.
 *
 * A decision says what was chosen and why: one record for the first choice of a request, one per
 * fallback, and one when every candidate failed. Kept in the router's log, passed to
 * CallOptions.onRoute, and printed by `phi4 agent --json` under "routing".
 */

/** The rule that ordered the candidates. */
export type RouteRule = "privacy" | "context" | "multi_step" | "complexity" | "queue_overflow" | "latency_overflow" | "local_first";

/** Why an attempt did not produce the answer. */
export type AttemptFailure = "error" | "timeout" | "invalid_output";

export type RouteDecision =
  | {
      kind: "route";
      at: number;
      /** The provider tried first. */
      provider: string;
      /** Every candidate, in the order they will be tried. */
      chain: string[];
      rule: RouteRule;
      reason: string;
    }
  | {
      kind: "fallback";
      at: number;
      /** The provider tried next. */
      provider: string;
      from: string;
      failure: AttemptFailure;
      reason: string;
    }
  | {
      kind: "exhausted";
      at: number;
      /** The last provider tried, if any was. */
      provider: string | null;
      reason: string;
    };

/** One underlying provider's counters, as the router kept them. */
export interface ProviderMetrics {
  /** Attempts sent to this provider. */
  requests: number;
  /** Attempts that failed (error, timeout or invalid output). */
  errors: number;
  timeouts: number;
  invalidOutputs: number;
  /** Failed attempts after which another provider took the work over. */
  fallbacks: number;
  /** Over the last `window` successful attempts, start to last event. */
  latencyMs: { p50: number | null; p95: number | null };
  tokens: { input: number; output: number };
  /** At this provider's own price (0 when it has none). */
  costUsd: number;
}

export interface MetricsSnapshot {
  providers: Record<string, ProviderMetrics>;
  /** Local tokens priced at the reference price. */
  costAvoidedUsd: number;
}
