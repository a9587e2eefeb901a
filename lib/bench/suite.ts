/**
 * `phi4 bench`: every benchmark on one model folder in one go (decode with the roofline, prefix
 * reuse, batching, the transformers.js comparison, the micro-benchmarks), one after the other so none disturbs another,
 * and the targets each result stands against. The report (report-suite.ts) is what bench/results holds.
 */
import { benchBatch, type BatchBenchResult } from "./batch.js";
import { benchDecode, type DecodeBenchResult } from "./decode.js";
import { machineFacts, type MachineFacts } from "./machine.js";
import { benchMicro, type MicroBenchResult } from "./micro.js";
import { benchPeer, type PeerBenchResult } from "./peer.js";
import { benchPrefix, type PrefixBenchResult } from "./prefix.js";
import { evaluateTargets, type TargetStatus } from "./targets.js";

export interface SuiteBenchOptions {
  modelDir: string;
  threads?: number;
  /** Tokens generated per request in every benchmark, and timed decode runs (defaults: each benchmark's own; runs 3). */
  genTokens?: number;
  runs?: number;
  /** Prefix benchmark: shared prefix length and conversation turns (defaults 2000, 10). */
  prefixTokens?: number;
  turns?: number;
  /** Batch benchmark concurrency levels (default 1, 2, 4, 8). */
  concurrency?: number[];
  /** Peer comparison prompt lengths (default 128, 1024, 2048). */
  peerPromptTokens?: number[];
  /** Seconds per micro-benchmark measurement (default 2). */
  microMaxTime?: number;
  onProgress?: (message: string) => void;
}

export interface SuiteBenchResult {
  benchmark: "suite";
  date: string;
  machine: MachineFacts & { readBandwidthBytesPerSec: number };
  threads: number;
  model: DecodeBenchResult["model"];
  targets: TargetStatus[];
  decode: DecodeBenchResult;
  prefix: PrefixBenchResult;
  batch: BatchBenchResult;
  peer: PeerBenchResult;
  micro: MicroBenchResult;
}

export async function benchSuite(options: SuiteBenchOptions): Promise<SuiteBenchResult> {
  const date = new Date().toISOString();
  const { modelDir, threads } = options;
  const step = (name: string) => (message: string) => options.onProgress?.(`${name}: ${message}`);

  const decode = await benchDecode({
    modelDir,
    threads,
    genTokens: options.genTokens,
    runs: options.runs,
    onProgress: step("decode"),
  });
  // Every later benchmark runs with the thread count the decode benchmark settled on (the model's default when none is given).
  const common = { modelDir, threads: decode.settings.threads };
  const prefix = await benchPrefix({ ...common, prefixTokens: options.prefixTokens, turns: options.turns, onProgress: step("prefix") });
  const batch = await benchBatch({ ...common, concurrency: options.concurrency, genTokens: options.genTokens, onProgress: step("batch") });
  // The suite's peer run: the transformers.js comparison its targets are set at (no batched runs: the batch benchmark has those).
  const peer = await benchPeer({
    ...common,
    promptLengths: options.peerPromptTokens ?? [128, 1024, 2048],
    genTokens: options.genTokens,
    concurrency: [],
    onProgress: step("peer"),
  });
  const micro = await benchMicro({ modelDir, maxTime: options.microMaxTime, onProgress: step("micro") });
  return {
    benchmark: "suite",
    date,
    machine: { ...machineFacts(), readBandwidthBytesPerSec: decode.results.readBandwidthBytesPerSec },
    threads: decode.settings.threads,
    model: decode.model,
    targets: evaluateTargets({ decode, batch, peer }),
    decode,
    prefix,
    batch,
    peer,
    micro,
  };
}

/** A short, file-name-safe name for the machine, e.g. "amd-epyc-2c": the CPU model's first words and the physical core count. */
export function machineSlug(machine: MachineFacts): string {
  const words = machine.cpuModel
    .toLowerCase()
    .replace(/\((r|tm)\)|\bcpu\b|\bprocessor\b|@.*$|\d+-core/g, " ")
    .split(/[^a-z0-9]+/)
    .filter(Boolean)
    .slice(0, 3);
  return [...words, `${machine.physicalCores}c`].join("-");
}
