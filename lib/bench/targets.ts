/**
 * The performance targets the project holds itself to (phi4-mini preset, a 2-core CPU machine), and
 * where one benchmark run stands on each. A target whose measuring point was not part of the run
 * (say, a shorter prompt list) is reported as not measured rather than guessed.
 */
import type { BatchBenchResult } from "./batch.js";
import type { DecodeBenchResult } from "./decode.js";
import { peerComparison, type PeerBenchResult } from "./peer.js";

export interface TargetStatus {
  name: string;
  /** The goal, in words, e.g. ">= 1.5x". */
  goal: string;
  /** The measured value, or null when the run did not measure it. */
  value: number | null;
  /** How the value reads, e.g. "1.62x". */
  shown: string;
  met: boolean | null;
}

interface Parts {
  decode: DecodeBenchResult;
  batch: BatchBenchResult;
  peer: PeerBenchResult;
}

function target(name: string, goal: string, value: number | null, format: (v: number) => string, pass: (v: number) => boolean): TargetStatus {
  return { name, goal, value, shown: value === null ? "not measured" : format(value), met: value === null ? null : pass(value) };
}

const times = (v: number) => `${v.toFixed(2)}x`;

export function evaluateTargets({ decode, batch, peer }: Parts): TargetStatus[] {
  const at = (tokens: number) => peerComparison(peer, "transformers.js", tokens);
  const ours = peer.engines.find((e) => e.engine === "phi4-onnx")?.runs ?? [];
  const eventLoopP99 = Math.max(...ours.map((r) => r.eventLoopDelayMsP99), ...batch.results.map((r) => r.eventLoopDelayMsP99));
  const c4 = batch.results.find((r) => r.concurrency === 4);
  return [
    target("Decode vs transformers.js, 2048-token prompt", ">= 1.5x", at(2048)?.decodeSpeedup ?? null, times, (v) => v >= 1.5),
    target("Decode vs transformers.js, 128-token prompt", ">= 1.0x", at(128)?.decodeSpeedup ?? null, times, (v) => v >= 1),
    target(
      `Decode / memory-bandwidth roofline, ${decode.settings.promptTokens}-token prompt`,
      ">= 70%",
      decode.settings.promptTokens === 128 ? decode.results.rooflineFraction : null,
      (v) => `${(v * 100).toFixed(1)}%`,
      (v) => v >= 0.7,
    ),
    target("Time to first token vs transformers.js, 1024-token prompt", ">= 1.3x faster", at(1024)?.ttftSpeedup ?? null, times, (v) => v >= 1.3),
    target(
      "Event-loop delay p99 during generation (single and batched)",
      "< 20 ms",
      eventLoopP99,
      (v) => `${v.toFixed(1)} ms`,
      (v) => v < 20,
    ),
    target("Batched aggregate decode, concurrency 4 vs 1", ">= 3x", c4?.speedup ?? null, times, (v) => v >= 3),
  ];
}
