/**
 * The peer benchmark: phi4-onnx against transformers.js on the same model.onnx, the same
 * onnxruntime-node library, the same thread count, the same prompt ids and the same number of
 * greedy tokens, at several prompt lengths. Each engine runs in a child process of its own, one
 * after the other, so they never share the CPU, memory or event loop.
 */
import { fork } from "node:child_process";
import path from "node:path";

import { Phi4Error, type Phi4ErrorCode } from "../engine/errors.js";
import { loadModelFolder } from "../engine/genai-config.js";
import { physicalCoreCount } from "../engine/threads.js";
import { positiveInt, PROMPT_ID_LIMIT } from "./common.js";
import type { PeerChildMessage, PeerChildRequest, PeerChildResult, PeerRun } from "./peer-child.js";
import { machineFacts, type MachineFacts } from "./machine.js";

export interface PeerBenchOptions {
  modelDir: string;
  /** Prompt lengths in tokens (default 128, 1024, 2048). */
  promptLengths?: number[];
  /** Tokens generated at each length (default 64; at least 2). */
  genTokens?: number;
  /** Intra-op threads for both engines (default: physical cores). */
  threads?: number;
  /** phi4-onnx's LoadModelOptions.int4Kernel (default true); false runs both engines on ONNX Runtime's MatMulNBits. */
  int4Kernel?: boolean;
  onProgress?: (message: string) => void;
}

export interface PeerComparison {
  promptTokens: number;
  ours: PeerRun;
  peer: PeerRun;
  /** ours / peer decode tokens/s: above 1, phi4-onnx decodes faster. */
  decodeSpeedup: number;
  /** peer / ours time to first token: above 1, phi4-onnx answers sooner. */
  ttftSpeedup: number;
  /**
   * How many leading generated tokens the two engines agree on. With the same int4 kernel (int4Kernel
   * false) they compute the same thing and agree on all; phi4-onnx's kernel rounds activations the same
   * way but adds in another order, which on random-weight models, whose top logits are near-ties,
   * soon picks a different token.
   */
  matchingTokens: number;
}

export interface PeerBenchResult {
  benchmark: "peer";
  date: string;
  settings: { promptLengths: number[]; genTokens: number; threads: number; int4Kernel: boolean };
  engines: Record<"ours" | "peer", Omit<PeerChildResult, "runs">>;
  results: PeerComparison[];
  machine: MachineFacts;
}

export async function benchPeer(options: PeerBenchOptions): Promise<PeerBenchResult> {
  const promptLengths = (options.promptLengths ?? [128, 1024, 2048]).map((n) => positiveInt("prompt-tokens", n, 1));
  const genTokens = positiveInt("gen-tokens", options.genTokens ?? 64, 2);
  const threads = positiveInt("threads", options.threads ?? physicalCoreCount(), 1);
  const progress = options.onProgress ?? (() => undefined);
  const folder = await loadModelFolder(options.modelDir);
  const longest = Math.max(...promptLengths) + genTokens;
  if (longest > folder.contextLength) {
    throw new Phi4Error("INVALID_ARGUMENT", `the longest prompt plus --gen-tokens is ${longest} tokens, past the model's context length of ${folder.contextLength}`);
  }
  const date = new Date().toISOString();
  const request = { modelDir: folder.dir, threads, int4Kernel: options.int4Kernel !== false, promptLengths, genTokens, idLimit: Math.min(folder.vocabSize, PROMPT_ID_LIMIT) };

  const ours = await runChild({ ...request, engine: "phi4-onnx" }, progress);
  const peer = await runChild({ ...request, engine: "transformers.js" }, progress);
  const strip = ({ runs: _runs, ...rest }: PeerChildResult) => rest;
  return {
    benchmark: "peer",
    date,
    // What phi4-onnx's model reported, not what was asked: the kernel needs an AVX2 CPU.
    settings: { promptLengths, genTokens, threads, int4Kernel: ours.int4Kernel },
    engines: { ours: strip(ours), peer: strip(peer) },
    results: ours.runs.map((run, i) => compare(run, peer.runs[i])),
    machine: machineFacts(),
  };
}

function compare(ours: PeerRun, peer: PeerRun): PeerComparison {
  let matchingTokens = 0;
  while (matchingTokens < ours.tokens.length && ours.tokens[matchingTokens] === peer.tokens[matchingTokens]) matchingTokens++;
  return {
    promptTokens: ours.promptTokens,
    ours,
    peer,
    decodeSpeedup: ours.decodeTokensPerSec / peer.decodeTokensPerSec,
    ttftSpeedup: peer.ttftMs / ours.ttftMs,
    matchingTokens,
  };
}

/** Forks peer-child.js (next to this file in dist/), sends it the request and waits for its result. */
function runChild(request: PeerChildRequest, progress: (message: string) => void): Promise<PeerChildResult> {
  const script = path.join(path.dirname(new URL(import.meta.url).pathname), "peer-child.js");
  return new Promise((resolve, reject) => {
    const child = fork(script, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      outcome();
    };
    child.on("message", (message: PeerChildMessage) => {
      if (message.type === "progress") progress(message.message);
      else if (message.type === "result") settle(() => resolve(message.result));
      else settle(() => reject(new Phi4Error(message.code as Phi4ErrorCode, `${request.engine}: ${message.message}`)));
    });
    child.on("error", (error) => settle(() => reject(error)));
    child.on("exit", (code, signal) =>
      settle(() => reject(new Phi4Error("ORT_ERROR", `the ${request.engine} benchmark process exited (${signal ?? `code ${code}`}) without a result`))),
    );
    child.send(request);
  });
}
