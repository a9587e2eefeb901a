/**
 * One engine's side of the peer benchmark, in a process of its own (forked by peer.ts): its memory
 * peak and event loop are then its own, and neither engine warms the other's caches. It loads the
 * model, warms up, times one greedy generation per prompt length, and reports over IPC.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";

import { Phi4Error } from "../engine/errors.js";
import { lcgPrompt } from "./common.js";
import { openEngine, type PeerEngine, type PeerEngineName } from "./peer-engines.js";

export interface PeerChildRequest {
  engine: PeerEngineName;
  modelDir: string;
  threads: number;
  /** phi4-onnx's LoadModelOptions.int4Kernel, as asked (transformers.js always runs ONNX Runtime's kernel). */
  int4Kernel: boolean;
  promptLengths: number[];
  genTokens: number;
  /** Prompt ids are drawn below this. */
  idLimit: number;
}

export interface PeerRun {
  promptTokens: number;
  /** From the call to the first generated token reaching JavaScript. */
  ttftMs: number;
  /** Tokens after the first, over the time from the first to the last. */
  decodeTokensPerSec: number;
  /** Event-loop delay while this generation ran (monitorEventLoopDelay, 1 ms resolution). */
  eventLoopDelayMsP99: number;
  eventLoopDelayMsMax: number;
  tokens: number[];
}

export interface PeerChildResult {
  engine: PeerEngineName;
  version: string;
  /** The int4 products ran on phi4-onnx's kernel. */
  int4Kernel: boolean;
  loadMs: number;
  runs: PeerRun[];
  /** Peak resident set size of the process over load and all runs. */
  peakRssBytes: number;
}

export type PeerChildMessage =
  | { type: "progress"; message: string }
  | { type: "result"; result: PeerChildResult }
  | { type: "error"; code: string; message: string };

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
  return {
    promptTokens: prompt.length,
    ttftMs: times[0] - start,
    decodeTokensPerSec: ((genTokens - 1) / (times[genTokens - 1] - times[0])) * 1000,
    eventLoopDelayMsP99: delay.percentile(99) / 1e6,
    eventLoopDelayMsMax: delay.max / 1e6,
    tokens,
  };
}

async function runChild(request: PeerChildRequest, progress: (message: string) => void): Promise<PeerChildResult> {
  const loadStart = performance.now();
  const engine = await openEngine(request.engine, request.modelDir, request.threads, request.int4Kernel);
  const loadMs = performance.now() - loadStart;
  try {
    progress(`${request.engine} ${engine.version}: loaded in ${(loadMs / 1000).toFixed(1)} s; warm-up`);
    await engine.generate(lcgPrompt(16, request.idLimit, 7), 4, () => undefined);
    const runs: PeerRun[] = [];
    for (const length of request.promptLengths) {
      progress(`${request.engine}: prompt ${length} tokens, ${request.genTokens} generated`);
      runs.push(await timedRun(engine, lcgPrompt(length, request.idLimit), request.genTokens));
    }
    return { engine: request.engine, version: engine.version, int4Kernel: engine.int4Kernel, loadMs, runs, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
  } finally {
    await engine.dispose();
  }
}

process.once("message", (request: PeerChildRequest) => {
  const send = (message: PeerChildMessage) => process.send?.(message);
  runChild(request, (message) => send({ type: "progress", message })).then(
    (result) => send({ type: "result", result }),
    (error: unknown) =>
      send({ type: "error", code: error instanceof Phi4Error ? error.code : "ORT_ERROR", message: error instanceof Error ? error.message : String(error) }),
  ).finally(() => process.disconnect?.());
});
