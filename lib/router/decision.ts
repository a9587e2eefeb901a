/**
 * What the router decided and why: one record for the first choice of a request, one per fallback,
 * and one when every candidate failed. Kept in the router's log, passed to CallOptions.onRoute, and
 * printed by `phi4 agent --json` under "routing".
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
