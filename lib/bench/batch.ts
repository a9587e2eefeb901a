/**
 * The batching benchmark: `concurrency` requests at once on one context, for each concurrency level.
 * Reports aggregate decode tokens/s in the steady state and end to end (throughput.ts), per-request
 * inter-token latency, and the event loop's delay while it all runs (every model call is native and
 * off the event loop).
 */
import { monitorEventLoopDelay } from "node:perf_hooks";

import { type Int4KernelChoice, loadModel, type Model } from "../engine/model.js";
import { lcgPrompt, median, percentile, positiveInt, PROMPT_ID_LIMIT } from "./common.js";
import { machineFacts, type MachineFacts } from "./machine.js";
import { concurrentRates } from "./throughput.js";

export interface BatchBenchOptions {
  modelDir: string;
  concurrency?: number[];
  promptTokens?: number;
  genTokens?: number;
  threads?: number;
  /** Load with LoadModelOptions.int4Kernel (default true): false measures ONNX Runtime's own int4 kernel. */
  int4Kernel?: Int4KernelChoice;
  /** Speculative decoding in the batched steps (default false: one token per sequence and step). */
  speculative?: boolean;
  onProgress?: (message: string) => void;
}

export interface BatchLevelResult {
  concurrency: number;
  /** Steady state: all requests decoding together. */
  aggregateTokensPerSec: number;
  /** Including the prefills interleaved with decoding. */
  endToEndTokensPerSec: number;
  interTokenMsP50: number;
  interTokenMsP95: number;
  /** aggregateTokensPerSec / the concurrency-1 figure. */
  speedup: number;
  eventLoopDelayMsP99: number;
}

export interface BatchBenchResult {
  benchmark: "batch";
  date: string;
  settings: { promptTokens: number; genTokens: number; threads: number; int4Kernel: boolean; int4KernelVariant: string | null; speculative?: boolean };
  results: BatchLevelResult[];
  machine: MachineFacts;
}

async function runLevel(model: Model, concurrency: number, promptTokens: number, genTokens: number) {
  const context = await model.createContext({ sequences: concurrency, capacity: promptTokens + genTokens + 8 });
  const limit = Math.min(model.folder.vocabSize, PROMPT_ID_LIMIT);
  const delay = monitorEventLoopDelay({ resolution: 1 });
  try {
    delay.enable();
    const runs = await Promise.all(
      Array.from({ length: concurrency }, async (_, i) => {
        const generation = await context.generate(lcgPrompt(promptTokens, limit, 1000 + i), {
          maxTokens: genTokens,
          stopTokens: [],
          sampling: { greedy: true },
        });
        const times: number[] = [];
        for await (const chunk of generation) if (chunk.token !== undefined) times.push(performance.now());
        return times;
      }),
    );
    delay.disable();
    const gaps = runs.flatMap((t) => t.slice(1).map((time, i) => time - t[i]));
    return {
      ...concurrentRates(runs),
      interTokenMsP50: median(gaps),
      interTokenMsP95: percentile(gaps, 0.95),
      eventLoopDelayMsP99: delay.percentile(99) / 1e6,
    };
  } finally {
    await context.dispose();
  }
}

export async function benchBatch(options: BatchBenchOptions): Promise<BatchBenchResult> {
  const levels = (options.concurrency ?? [1, 2, 4, 8]).map((c) => positiveInt("concurrency", c, 1));
  const promptTokens = positiveInt("prompt-tokens", options.promptTokens ?? 32, 1);
  const genTokens = positiveInt("gen-tokens", options.genTokens ?? 32, 2);
  const progress = options.onProgress ?? (() => undefined);
  const date = new Date().toISOString();
  // Plain decode by default: one token per sequence and step (speculation has its own benchmark, speculative.ts).
  const model = await loadModel(options.modelDir, {
    threads: options.threads,
    prefixCache: false,
    int4Kernel: options.int4Kernel,
    speculative: options.speculative ?? false,
  });
  try {
    progress("warm-up");
    await runLevel(model, 1, promptTokens, Math.min(genTokens, 4));
    const measured: Omit<BatchLevelResult, "speedup">[] = [];
    for (const concurrency of levels) {
      progress(`concurrency ${concurrency}`);
      measured.push({ concurrency, ...(await runLevel(model, concurrency, promptTokens, genTokens)) });
    }
    const base = measured.find((m) => m.concurrency === 1)?.aggregateTokensPerSec ?? measured[0].aggregateTokensPerSec;
    return {
      benchmark: "batch",
      date,
      settings: {
        promptTokens,
        genTokens,
        threads: model.threads,
        int4Kernel: model.info.int4Kernel,
        int4KernelVariant: model.info.int4KernelVariant,
        speculative: options.speculative ?? false,
      },
      results: measured.map((m) => ({ ...m, speedup: m.aggregateTokensPerSec / base })),
      machine: machineFacts(),
    };
  } finally {
    await model.dispose();
  }
}
