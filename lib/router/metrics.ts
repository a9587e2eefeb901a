/**
 * Per-provider counters of what the router did: attempts, failures, fallbacks, latency percentiles
 * over a recent window, tokens, what the remote tokens cost, and what the local ones would have cost
 * at a reference (cloud) price: the saving that running locally bought.
 */
import type { AttemptFailure, MetricsSnapshot, ProviderMetrics } from "../providers/routing.js";
import type { Usage } from "../messages/types.js";

/** US dollars per million tokens. */
export interface TokenPrice {
  inputPerMTok: number;
  outputPerMTok: number;
}

interface Counters {
  requests: number;
  errors: number;
  timeouts: number;
  invalidOutputs: number;
  fallbacks: number;
  latencies: number[];
  input: number;
  output: number;
}

export class RouterMetrics {
  private readonly counters = new Map<string, Counters>();
  private avoided = 0;

  constructor(
    private readonly prices: Readonly<Record<string, TokenPrice>> = {},
    /** The price local tokens are saved at; usually the main cloud model's. */
    private readonly referencePrice: TokenPrice | undefined = undefined,
    private readonly window = 500,
  ) {}

  success(provider: string, local: boolean, latencyMs: number, usage: Usage): void {
    const c = this.get(provider);
    c.requests++;
    c.latencies.push(latencyMs);
    if (c.latencies.length > this.window) c.latencies.shift();
    c.input += usage.input_tokens;
    c.output += usage.output_tokens;
    if (local && this.referencePrice) this.avoided += cost(this.referencePrice, usage.input_tokens, usage.output_tokens);
  }

  failure(provider: string, failure: AttemptFailure, fellBack: boolean): void {
    const c = this.get(provider);
    c.requests++;
    c.errors++;
    if (failure === "timeout") c.timeouts++;
    if (failure === "invalid_output") c.invalidOutputs++;
    if (fellBack) c.fallbacks++;
  }

  /** Median of the recent latencies of these providers together. */
  medianLatency(providers: readonly string[]): number | undefined {
    const all = providers.flatMap((p) => this.counters.get(p)?.latencies ?? []);
    return all.length > 0 ? percentile(all, 50) : undefined;
  }

  snapshot(): MetricsSnapshot {
    const providers: Record<string, ProviderMetrics> = {};
    for (const [name, c] of this.counters) {
      const price = this.prices[name];
      providers[name] = {
        requests: c.requests,
        errors: c.errors,
        timeouts: c.timeouts,
        invalidOutputs: c.invalidOutputs,
        fallbacks: c.fallbacks,
        latencyMs: { p50: c.latencies.length ? percentile(c.latencies, 50) : null, p95: c.latencies.length ? percentile(c.latencies, 95) : null },
        tokens: { input: c.input, output: c.output },
        costUsd: price ? cost(price, c.input, c.output) : 0,
      };
    }
    return { providers, costAvoidedUsd: this.avoided };
  }

  private get(provider: string): Counters {
    let c = this.counters.get(provider);
    if (!c) {
      c = { requests: 0, errors: 0, timeouts: 0, invalidOutputs: 0, fallbacks: 0, latencies: [], input: 0, output: 0 };
      this.counters.set(provider, c);
    }
    return c;
  }
}

const cost = (price: TokenPrice, input: number, output: number) => (input * price.inputPerMTok + output * price.outputPerMTok) / 1e6;

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}
