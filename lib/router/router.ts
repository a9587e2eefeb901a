/**
 * The hybrid router: a Provider that serves each request from an ordered chain of providers (local
 * Phi-4, Claude, OpenAI-compatible servers) chosen by the routing rules, falling back along the chain
 * on an error, a timeout or an answer that fails validation, and recording every decision and metric.
 *
 * Streaming: an attempt that may still be replaced by a fallback is buffered and replayed once it has
 * passed, so a caller never sees half an answer from a provider that then failed; the last candidate
 * streams live.
 */
import { collectMessage, MessageAccumulator } from "../providers/accumulate.js";
import { ProviderError } from "../providers/errors.js";
import type { MessageRequest, MessageResponse, StreamEvent } from "../messages/types.js";
import type { CallOptions, Provider, ToolCallTokens } from "../providers/types.js";
import type { AttemptFailure, MetricsSnapshot, RouteDecision } from "../providers/routing.js";
import { RouterMetrics, type TokenPrice } from "./metrics.js";
import { DEFAULT_RULES, planRoute, type RoutingRules } from "./rules.js";
import { checkAnswer } from "./validate.js";

export interface RouterOptions {
  /** Candidates; within local and within remote ones, earlier ones are preferred. */
  providers: Provider[];
  rules?: Partial<RoutingRules>;
  /** Per provider name: how long one attempt may take before the router falls back. */
  attemptTimeoutMs?: Record<string, number>;
  /** Which failures fall back to the next candidate (all by default); the others are thrown at once. */
  fallbackOn?: Partial<Record<AttemptFailure, boolean>>;
  /** Per provider name, for the cost metrics. */
  prices?: Record<string, TokenPrice>;
  /** What local tokens are saved at. Default: the price of the first remote provider that has one. */
  referencePrice?: TokenPrice;
  /** Decisions kept in `decisions`. Default 1000. */
  decisionLog?: number;
}

export interface AttemptError {
  provider: string;
  failure: AttemptFailure;
  message: string;
}

/** Every candidate failed (or there was none): the attempts say why. */
export class RouterError extends Error {
  override readonly name = "RouterError";
  constructor(
    message: string,
    readonly attempts: AttemptError[],
  ) {
    super(message);
  }
}

export class Router implements Provider {
  readonly name = "router";
  readonly locality: "local" | "remote";
  readonly metrics: RouterMetrics;
  private readonly rules: RoutingRules;
  private readonly inFlight = new Map<string, number>();
  private readonly log: RouteDecision[] = [];

  constructor(private readonly options: RouterOptions) {
    if (options.providers.length === 0) throw new Error("a router needs at least one provider");
    const names = options.providers.map((p) => p.name);
    if (new Set(names).size !== names.length) throw new Error(`provider names must be unique (got ${names.join(", ")})`);
    this.rules = { ...DEFAULT_RULES, ...options.rules };
    this.locality = options.providers.some((p) => p.locality === "remote") ? "remote" : "local";
    const reference =
      options.referencePrice ??
      options.providers
        .filter((p) => p.locality === "remote")
        .map((p) => options.prices?.[p.name])
        .find(Boolean);
    this.metrics = new RouterMetrics(options.prices, reference);
  }

  /** The local providers' tool-call tokens, summed. */
  get toolCallTokens(): ToolCallTokens {
    const sum = { sampled: 0, jumped: 0 };
    for (const p of this.options.providers) {
      sum.sampled += p.toolCallTokens?.sampled ?? 0;
      sum.jumped += p.toolCallTokens?.jumped ?? 0;
    }
    return sum;
  }

  metricsSnapshot(): MetricsSnapshot {
    return this.metrics.snapshot();
  }

  /** Recent decisions, oldest first. */
  get decisions(): readonly RouteDecision[] {
    return this.log;
  }

  create(request: MessageRequest, options: CallOptions = {}): Promise<MessageResponse> {
    return collectMessage(this.name, this.stream(request, { ...options, buffered: true }));
  }

  async *stream(request: MessageRequest, options: CallOptions = {}): AsyncIterable<StreamEvent> {
    const local = this.options.providers.filter((p) => p.locality === "local");
    const plan = planRoute(request, options.hints ?? {}, this.options.providers, this.rules, {
      // The provider's own count also sees work that reached it without this router.
      queueDepth: local.reduce((sum, p) => sum + Math.max(this.inFlight.get(p.name) ?? 0, p.queueDepth ?? 0), 0),
      medianLatencyMs: this.metrics.medianLatency(local.map((p) => p.name)),
    });
    const { chain } = plan;
    if (chain.length === 0) {
      const reason = `${plan.reason}; no provider qualifies`;
      this.decide(options, { kind: "exhausted", at: Date.now(), provider: null, reason });
      throw new RouterError(reason, []);
    }
    this.decide(options, { kind: "route", at: Date.now(), provider: chain[0].name, chain: chain.map((p) => p.name), rule: plan.rule, reason: plan.reason });

    const failures: AttemptError[] = [];
    for (const [i, provider] of chain.entries()) {
      const last = i === chain.length - 1;
      // Only the last provider's events may go out as they come, and only to a caller that shows them.
      const outcome = yield* this.attempt(provider, request, options, last && options.buffered !== true);
      if (outcome === "ok") return;
      failures.push(outcome);
      const next = chain[i + 1];
      const fallBack = next !== undefined && this.options.fallbackOn?.[outcome.failure] !== false;
      this.metrics.failure(provider.name, outcome.failure, fallBack);
      if (!fallBack) break;
      this.decide(options, {
        kind: "fallback",
        at: Date.now(),
        provider: next.name,
        from: provider.name,
        failure: outcome.failure,
        reason: `${outcome.failure}: ${outcome.message}`,
      });
    }
    const reason = `${plan.rule === "privacy" ? "privacy high, so nothing was sent off this machine; " : ""}${failures.map((f) => `${f.provider} ${f.failure}: ${f.message}`).join("; ")}`;
    this.decide(options, { kind: "exhausted", at: Date.now(), provider: failures.at(-1)!.provider, reason });
    throw new RouterError(reason, failures);
  }

  /** One provider's try: its events (buffered unless `live`), then "ok" or why it failed. */
  private async *attempt(provider: Provider, request: MessageRequest, options: CallOptions, live: boolean): AsyncGenerator<StreamEvent, "ok" | AttemptError> {
    const timeoutMs = this.options.attemptTimeoutMs?.[provider.name];
    const timeout = new AbortController();
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => timeout.abort(), timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal;
    const accumulator = new MessageAccumulator(provider.name);
    const buffered: StreamEvent[] = [];
    const started = performance.now();
    this.inFlight.set(provider.name, (this.inFlight.get(provider.name) ?? 0) + 1);
    try {
      for await (const event of provider.stream(request, { signal, hints: options.hints, buffered: !live, seed: options.seed })) {
        accumulator.push(event);
        if (live) yield event;
        else buffered.push(event);
      }
      const message = accumulator.result();
      const invalid = checkAnswer(request, message);
      if (invalid) return { provider: provider.name, failure: "invalid_output", message: invalid };
      this.metrics.success(provider.name, provider.locality === "local", performance.now() - started, message.usage);
      yield* buffered;
      return "ok";
    } catch (error) {
      // The caller's own abort ends the request; it is nobody's failure.
      if (options.signal?.aborted) throw error;
      const kind = error instanceof ProviderError ? error.kind : undefined;
      const failure: AttemptFailure = timeout.signal.aborted || kind === "timeout" ? "timeout" : kind === "invalid_output" ? "invalid_output" : "error";
      const message = timeout.signal.aborted ? `no answer within ${timeoutMs} ms` : ((error as Error)?.message ?? String(error));
      return { provider: provider.name, failure, message };
    } finally {
      clearTimeout(timer);
      this.inFlight.set(provider.name, this.inFlight.get(provider.name)! - 1);
    }
  }

  private decide(options: CallOptions, decision: RouteDecision): void {
    this.log.push(decision);
    if (this.log.length > (this.options.decisionLog ?? 1000)) this.log.shift();
    options.onRoute?.(decision);
  }
}
