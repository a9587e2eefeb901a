/**
 * What GET /metrics reports: requests by route and status, their latency, tokens, requests in flight,
 * and, read at scrape time, the local engine's queue depth, the prefix cache's counters and (behind a
 * router) each provider's attempts, errors and fallbacks.
 */
import type { Model } from "../engine/model.js";
import type { MetricsSnapshot } from "../providers/routing.js";
import type { Usage } from "../messages/types.js";
import type { Provider } from "../providers/types.js";
import { Counter, Histogram, snapshotMetric, type Labels } from "./prometheus.js";

export class ServerMetrics {
  private readonly requests = new Counter("phi4_requests_total", "HTTP requests answered, by route and status (499: the client went away first).");
  private readonly duration = new Histogram(
    "phi4_request_duration_seconds",
    "Time from a request's arrival to the end of its answer (the last event of a stream), by route.",
    [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
  );
  private readonly tokens = new Counter("phi4_tokens_total", "Tokens of the messages answered, by kind (input, output).");
  private readonly inFlight = new Map<string, number>();

  constructor(
    private readonly model: Model,
    private readonly provider: Provider,
  ) {}

  /** Counts a request in flight on `route`; call the returned function once with its final status. */
  begin(route: string): (status: number) => void {
    const started = performance.now();
    this.inFlight.set(route, (this.inFlight.get(route) ?? 0) + 1);
    let ended = false;
    return (status) => {
      if (ended) return;
      ended = true;
      this.inFlight.set(route, this.inFlight.get(route)! - 1);
      this.requests.inc({ route, status: String(status) });
      this.duration.observe({ route }, (performance.now() - started) / 1000);
    };
  }

  usage(usage: Usage): void {
    this.tokens.inc({ kind: "input" }, usage.input_tokens);
    this.tokens.inc({ kind: "output" }, usage.output_tokens);
  }

  render(): string {
    const parts = [
      this.requests.render(),
      this.duration.render(),
      this.tokens.render(),
      snapshotMetric(
        "phi4_requests_in_flight",
        "Requests being answered now, by route.",
        "gauge",
        [...this.inFlight].map(([route, n]): [Labels, number] => [{ route }, n]),
      ),
    ];
    if (this.provider.queueDepth !== undefined) {
      parts.push(
        snapshotMetric("phi4_queue_depth", "Requests generating or waiting for a sequence of the local model.", "gauge", [[{}, this.provider.queueDepth]]),
      );
    }
    const toolTokens = this.provider.toolCallTokens;
    if (toolTokens) {
      parts.push(
        snapshotMetric(
          "phi4_tool_call_tokens_total",
          "Output tokens of the local model's tool turns, by how they were written: sampled (one decode step each) or jumped (text the grammar forces, appended by jump-forward).",
          "counter",
          [
            [{ kind: "sampled" }, toolTokens.sampled],
            [{ kind: "jumped" }, toolTokens.jumped],
          ],
        ),
      );
    }
    const cache = this.model.prefixCache?.stats;
    if (cache) {
      parts.push(
        snapshotMetric("phi4_prefix_cache_hits_total", "Prompts that reused a cached or held prefix (own KV, an idle sequence, the prefix cache).", "counter", [
          [{}, cache.hits],
        ]),
        snapshotMetric("phi4_prefix_cache_misses_total", "Prompts prefilled from scratch.", "counter", [[{}, cache.misses]]),
        snapshotMetric("phi4_prefix_cache_reused_tokens_total", "Prompt tokens whose prefill was skipped.", "counter", [[{}, cache.reusedTokens]]),
        snapshotMetric("phi4_prefix_cache_prefilled_tokens_total", "Prompt tokens prefilled after the reused prefix.", "counter", [
          [{}, cache.prefilledTokens],
        ]),
        snapshotMetric("phi4_prefix_cache_bytes", "Host memory held by cached KV states.", "gauge", [[{}, cache.bytes]]),
      );
    }
    const disk = this.model.prefixDisk?.stats;
    if (disk) {
      parts.push(
        snapshotMetric("phi4_prefix_disk_hits_total", "Prompts whose prefix was read from the prefix cache's disk tier.", "counter", [[{}, disk.hits]]),
        snapshotMetric("phi4_prefix_disk_loaded_tokens_total", "Prompt tokens whose prefill a disk entry spared.", "counter", [[{}, disk.loadedTokens]]),
        snapshotMetric("phi4_prefix_disk_writes_total", "Entries written to the disk tier.", "counter", [[{}, disk.writes]]),
        snapshotMetric("phi4_prefix_disk_write_errors_total", "Disk tier writes that failed.", "counter", [[{}, disk.writeErrors]]),
        snapshotMetric("phi4_prefix_disk_invalid_removed_total", "Corrupt, truncated or foreign disk entries removed unused.", "counter", [
          [{}, disk.removedInvalid],
        ]),
      );
    }
    const speculation = this.model.speculativeStats;
    parts.push(
      snapshotMetric("phi4_decode_sampled_tokens_total", "Tokens the local model sampled (accepted draft tokens included).", "counter", [
        [{}, speculation.sampled],
      ]),
      snapshotMetric("phi4_speculative_steps_total", "Model steps that verified a prompt-lookup draft.", "counter", [[{}, speculation.drafts]]),
      snapshotMetric("phi4_speculative_drafted_tokens_total", "Tokens drafted by prompt lookup.", "counter", [[{}, speculation.draftedTokens]]),
      snapshotMetric("phi4_speculative_accepted_tokens_total", "Drafted tokens that sampling accepted.", "counter", [[{}, speculation.acceptedTokens]]),
      snapshotMetric("phi4_speculative_acceptance_ratio", "Accepted of the drafted tokens, since start (0 before any draft).", "gauge", [
        [{}, speculation.draftedTokens > 0 ? speculation.acceptedTokens / speculation.draftedTokens : 0],
      ]),
      snapshotMetric("phi4_decode_tokens_per_step", "Sampled tokens per model step that sampled them, since start (above 1 with accepted drafts).", "gauge", [
        [{}, speculation.sampled > 0 ? speculation.sampled / (speculation.sampled - speculation.acceptedTokens) : 0],
      ]),
    );
    const routing = this.provider.metricsSnapshot?.();
    if (routing) parts.push(routerMetrics(routing));
    parts.push(
      snapshotMetric("phi4_kv_memory_bytes", "KV cache memory the local model's sequences hold (host KV grows with them).", "gauge", [
        [{}, this.model.kvMemoryInUse],
      ]),
      snapshotMetric("phi4_kv_memory_budget_bytes", "KV cache memory budget of each engine context (--kv-memory).", "gauge", [[{}, this.model.kvMemory]]),
    );
    parts.push(snapshotMetric("process_resident_memory_bytes", "Resident set size of this process.", "gauge", [[{}, process.memoryUsage.rss()]]));
    return parts.join("");
  }
}

function routerMetrics(snapshot: MetricsSnapshot): string {
  const providers = Object.entries(snapshot.providers);
  const per = (pick: (m: (typeof providers)[number][1]) => number): [Labels, number][] => providers.map(([provider, m]) => [{ provider }, pick(m)]);
  return [
    snapshotMetric(
      "phi4_router_attempts_total",
      "Attempts the router sent to each provider.",
      "counter",
      per((m) => m.requests),
    ),
    snapshotMetric(
      "phi4_router_errors_total",
      "Attempts that failed (error, timeout or invalid output).",
      "counter",
      per((m) => m.errors),
    ),
    snapshotMetric(
      "phi4_router_fallbacks_total",
      "Failed attempts after which the next provider took the request over.",
      "counter",
      per((m) => m.fallbacks),
    ),
    snapshotMetric("phi4_router_cost_avoided_usd_total", "Local tokens priced at the reference (cloud) price.", "counter", [[{}, snapshot.costAvoidedUsd]]),
  ].join("");
}
