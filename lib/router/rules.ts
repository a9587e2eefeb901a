/**
 * The routing rules: given a request, the task's hints and the local load, the order in which
 * providers are tried, and the rule that set it. Pure: the router supplies the state.
 *
 * In order of precedence:
 *  1. privacy "high": local providers only, and nothing else, ever (no fallback leaves the machine);
 *  2. an estimated context beyond every local provider's capacity: remote providers only;
 *  3. a multi-step tool loop, or high complexity: remote first (Phi-4-mini scores 0% on BFCL
 *     multi-turn), local as the fallback;
 *  4. a local queue or recent local latency beyond its limit: remote first (overflow);
 *  5. otherwise local first, remote as the fallback.
 */
import type { MessageRequest } from "../messages/types.js";
import type { Provider, TaskHints } from "../providers/types.js";
import type { RouteRule } from "../providers/routing.js";

export interface RoutingRules {
  /** Privacy of tasks whose hints do not say. Default "normal". */
  defaultPrivacy: "normal" | "high";
  /** A request whose history holds this many tool rounds (assistant turns with tool_use) is a multi-step loop. Default 2. */
  multiStepToolRounds: number;
  /** Complexity levels that prefer the remote model. Default ["high"]. */
  remoteComplexity: ("low" | "medium" | "high")[];
  /** Local requests queued or running at which new work overflows to remote. Default 4. */
  maxLocalQueueDepth: number;
  /** Median latency of recent local answers (ms) beyond which new work overflows to remote. Default none. */
  maxLocalLatencyMs?: number;
  /** Output tokens a local provider must have room for beyond the prompt: min(max_tokens, this). Default 256. */
  localOutputReserve: number;
  /** Characters per token for the prompt estimate (o200k averages about 4 on prose, less on JSON). Default 3. */
  charsPerToken: number;
}

export const DEFAULT_RULES: RoutingRules = {
  defaultPrivacy: "normal",
  multiStepToolRounds: 2,
  remoteComplexity: ["high"],
  maxLocalQueueDepth: 4,
  localOutputReserve: 256,
  charsPerToken: 3,
};

/** The local load, as the router measures it. */
export interface LocalLoad {
  queueDepth: number;
  /** Median of recent local latencies; undefined before any local answer. */
  medianLatencyMs: number | undefined;
}

/** What the rules read of a provider. */
export type ProviderTraits = Pick<Provider, "name" | "locality" | "contextTokens">;

export interface RoutePlan<P extends ProviderTraits = Provider> {
  chain: P[];
  rule: RouteRule;
  reason: string;
}

export function planRoute<P extends ProviderTraits>(
  request: MessageRequest,
  hints: TaskHints,
  providers: readonly P[],
  rules: RoutingRules,
  load: LocalLoad,
): RoutePlan<P> {
  const local = providers.filter((p) => p.locality === "local");
  const remote = providers.filter((p) => p.locality === "remote");
  if ((hints.privacy ?? rules.defaultPrivacy) === "high") {
    return { chain: local, rule: "privacy", reason: "privacy high: local providers only, no fallback off this machine" };
  }
  const needed = estimateTokens(request, rules.charsPerToken) + Math.min(request.max_tokens, rules.localOutputReserve);
  const fitting = local.filter((p) => p.contextTokens === undefined || needed <= p.contextTokens);
  if (local.length > 0 && fitting.length === 0) {
    const capacity = Math.max(...local.map((p) => p.contextTokens ?? 0));
    return { chain: remote, rule: "context", reason: `about ${needed} tokens needed; the local capacity is ${capacity}` };
  }
  const remoteFirst = (rule: RouteRule, reason: string): RoutePlan<P> => ({ chain: [...remote, ...fitting], rule, reason });
  const rounds = toolRounds(request);
  if (hints.multiStep || rounds >= rules.multiStepToolRounds) {
    return remoteFirst("multi_step", hints.multiStep ? "the task is a multi-step tool loop" : `${rounds} tool rounds so far: a multi-step tool loop`);
  }
  if (hints.complexity && rules.remoteComplexity.includes(hints.complexity)) {
    return remoteFirst("complexity", `complexity ${hints.complexity}`);
  }
  if (load.queueDepth >= rules.maxLocalQueueDepth) {
    return remoteFirst("queue_overflow", `local queue depth ${load.queueDepth} >= ${rules.maxLocalQueueDepth}`);
  }
  if (rules.maxLocalLatencyMs !== undefined && load.medianLatencyMs !== undefined && load.medianLatencyMs > rules.maxLocalLatencyMs) {
    return remoteFirst("latency_overflow", `local median latency ${Math.round(load.medianLatencyMs)} ms > ${rules.maxLocalLatencyMs} ms`);
  }
  return { chain: [...fitting, ...remote], rule: "local_first", reason: "local first" };
}

/** Prompt tokens, estimated from the characters of everything the model will read. */
export function estimateTokens(request: MessageRequest, charsPerToken: number): number {
  const chars = JSON.stringify([request.system ?? "", request.tools ?? [], request.messages]).length;
  return Math.ceil(chars / charsPerToken);
}

function toolRounds(request: MessageRequest): number {
  return request.messages.filter((m) => m.role === "assistant" && Array.isArray(m.content) && m.content.some((b) => b.type === "tool_use")).length;
}
