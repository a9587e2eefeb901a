/**
 * One engine's side of the peer benchmark, in a process of its own (forked by peer.ts): its memory
 * peak and event loop are then its own, and no engine warms another's caches. It loads the model,
 * warms up, times one greedy generation per prompt length and one batch per concurrency level, and
 * reports over IPC.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";

import { Phi4Error } from "../engine/errors.js";
import { lcgPrompt } from "./common.js";
import { openEngine, type PeerEngine, type PeerEngineConfig, type PeerEngineName } from "./peer-engines.js";
import { concurrentRates } from "./throughput.js";

export interface PeerChildRequest {
  engine: PeerEngineName;
  config: PeerEngineConfig;
  promptLengths: number[];
  genTokens: number;
  /** Requests at once in the batched runs, and the prompt length of each. */
  concurrency: number[];
  batchPromptTokens: number;
  /** Prompt ids are drawn below this. */
  idLimit: number;
}

export interface PeerRun {
  promptTokens: number;
  /** From the call to the first generated token reaching JavaScript: the prompt's forward pass and one sampling. */
  ttftMs: number;
  /** Prompt tokens over the time to first token. */
  prefillTokensPerSec: number;
  /** Tokens after the first, over the time from the first to the last. */
  decodeTokensPerSec: number;
  /** Event-loop delay while this generation ran (monitorEventLoopDelay, 1 ms resolution). */
  eventLoopDelayMsP99: number;
  eventLoopDelayMsMax: number;
  tokens: number[];
}

export interface PeerBatchRun {
  concurrency: number;
  /** Decode tokens/s of all requests together while all decode (throughput.ts), and end to end. */
  aggregateTokensPerSec: number;
  endToEndTokensPerSec: number;
  /** aggregateTokensPerSec over the concurrency-1 figure (1 where that level was not run). */
  speedup: number;
}

export interface PeerChildResult {
  engine: PeerEngineName;
  version: string;
  /** The int4 products ran on phi4-onnx's kernel. */
  int4Kernel: boolean;
  /** With int4Kernel: the kernel's micro-kernel set on this CPU. */
  int4KernelVariant: string | null;
  threads: number;
  loadMs: number;
  runs: PeerRun[];
  batch: PeerBatchRun[];
  /** Peak resident set size of the process over load and all runs. */
  peakRssBytes: number;
}

export type PeerChildMessage =
  { type: "progress"; message: string } | { type: "result"; result: PeerChildResult } | { type: "error"; code: string; message: string };

async function timedRun(engine: PeerEngine, prompt: number[], genTokens: number): Promise<PeerRun> {
  const times: number[] = [];
  const tokens: number[] = [];
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const start = performance.now();
  await engine.generate(prompt, genTokens, (token) => {
    times.push(performance.now());
    tokens.push(token);
  });
  delay.disable();
  if (tokens.length !== genTokens) throw new Phi4Error("INVALID_ARGUMENT", `expected ${genTokens} tokens, the engine produced ${tokens.length}`);
  const ttftMs = times[0] - start;
  return {
    promptTokens: prompt.length,
    ttftMs,
    prefillTokensPerSec: (prompt.length / ttftMs) * 1000,
    decodeTokensPerSec: ((genTokens - 1) / (times[genTokens - 1] - times[0])) * 1000,
    eventLoopDelayMsP99: delay.percentile(99) / 1e6,
    eventLoopDelayMsMax: delay.max / 1e6,
    tokens,
  };
}

async function timedBatch(engine: PeerEngine, prompts: number[][], genTokens: number): Promise<Omit<PeerBatchRun, "speedup">> {
  const times = prompts.map((): number[] => []);
  await engine.generateBatch(prompts, genTokens, (row, _token) => times[row].push(performance.now()));
  for (const [row, t] of times.entries()) {
    if (t.length !== genTokens)
      throw new Phi4Error("INVALID_ARGUMENT", `request ${row} of ${prompts.length}: expected ${genTokens} tokens, the engine produced ${t.length}`);
  }
  return { concurrency: prompts.length, ...concurrentRates(times) };
}

async function runChild(request: PeerChildRequest, progress: (message: string) => void): Promise<PeerChildResult> {
  const loadStart = performance.now();
  const engine = await openEngine(request.engine, request.config);
  const loadMs = performance.now() - loadStart;
  try {
    progress(`${request.engine} ${engine.version}: loaded in ${(loadMs / 1000).toFixed(1)} s; warm-up`);
    await engine.generate(lcgPrompt(16, request.idLimit, 7), 4, () => undefined);
    const runs: PeerRun[] = [];
    for (const length of request.promptLengths) {
      progress(`${request.engine}: prompt ${length} tokens, ${request.genTokens} generated`);
      runs.push(await timedRun(engine, lcgPrompt(length, request.idLimit), request.genTokens));
    }
    const levels: Omit<PeerBatchRun, "speedup">[] = [];
    for (const concurrency of request.concurrency) {
      progress(`${request.engine}: ${concurrency} requests at once, ${request.batchPromptTokens}-token prompts`);
      const prompts = Array.from({ length: concurrency }, (_, i) => lcgPrompt(request.batchPromptTokens, request.idLimit, 1000 + i));
      levels.push(await timedBatch(engine, prompts, request.genTokens));
    }
    const base = levels.find((l) => l.concurrency === 1)?.aggregateTokensPerSec;
    return {
      engine: request.engine,
      version: engine.version,
      int4Kernel: engine.int4Kernel,
      int4KernelVariant: engine.int4KernelVariant,
      threads: request.config.threads,
      loadMs,
      runs,
      batch: levels.map((l) => ({ ...l, speedup: base === undefined ? 1 : l.aggregateTokensPerSec / base })),
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  } finally {
    await engine.dispose();
  }
}

process.once("message", (request: PeerChildRequest) => {
  const send = (message: PeerChildMessage) => process.send?.(message);
  runChild(request, (message) => send({ type: "progress", message }))
    .then(
      (result) => send({ type: "result", result }),
      (error: unknown) =>
        send({ type: "error", code: error instanceof Phi4Error ? error.code : "ORT_ERROR", message: error instanceof Error ? error.message : String(error) }),
    )
    .finally(() => process.disconnect?.());
});
