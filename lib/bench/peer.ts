/**
 * The peer benchmark: phi4-onnx against transformers.js (the same model.onnx on the same
 * onnxruntime-node library) and llama.cpp (node-llama-cpp, on a GGUF of the same network and weights),
 * at the same thread count, on the same prompt ids, generating the same number of greedy tokens. Each
 * engine runs in a child process of its own, one after the other (the next starts when the last has
 * exited), so they never share the CPU, memory or event loop. Per engine: prefill and decode speed at
 * each prompt length, aggregate decode with several requests at once, load time and peak RSS.
 */
import { fork } from "node:child_process";
import { access, readFile } from "node:fs/promises";
import path from "node:path";

import { Phi4Error, type Phi4ErrorCode } from "../engine/errors.js";
import { loadModelFolder } from "../engine/genai-config.js";
import type { Int4KernelChoice, KvType } from "../engine/model.js";
import { positiveInt, PROMPT_ID_LIMIT } from "./common.js";
import type { PeerChildMessage, PeerChildRequest, PeerChildResult, PeerRun } from "./peer-child.js";
import { PEER_ENGINES, type PeerEngineName } from "./peer-engine.js";
import { machineFacts, type MachineFacts } from "./machine.js";

export interface PeerBenchOptions {
  modelDir: string;
  /** The same model as a GGUF file, for llama.cpp (phi4 make-model --format gguf writes one per preset). */
  gguf?: string;
  /** Engines to run (phi4-onnx among them); default phi4-onnx and transformers.js, and llama.cpp when a GGUF is given. */
  engines?: PeerEngineName[];
  /** Prompt lengths in tokens (default 128, 1024, 4096). */
  promptLengths?: number[];
  /** Tokens generated per request (default 64; at least 2). */
  genTokens?: number;
  /** Requests at once for the batched runs (default 1, 4), each with a `batchPromptTokens` prompt (default 32). */
  concurrency?: number[];
  batchPromptTokens?: number;
  /** Intra-op threads for every engine (default 2). */
  threads?: number;
  /** phi4-onnx's LoadModelOptions.int4Kernel (default true); false runs it on ONNX Runtime's MatMulNBits, as transformers.js. */
  int4Kernel?: Int4KernelChoice;
  /** phi4-onnx's LoadModelOptions.kvType (default: fp16 on the CPU); "float32" computes what transformers.js does. */
  kvType?: KvType;
  onProgress?: (message: string) => void;
}

/** phi4-onnx against one other engine at one prompt length. Speedups above 1: phi4-onnx is faster. */
export interface PeerComparison {
  promptTokens: number;
  engine: PeerEngineName;
  prefillSpeedup: number;
  decodeSpeedup: number;
  ttftSpeedup: number;
  /**
   * How many leading generated tokens agree with phi4-onnx's. transformers.js with the same int4
   * kernel and KV type (int4Kernel false, kvType float32) computes the same thing and agrees on all; llama.cpp rounds differently
   * (fp16 scales, q8_0 activations), which on random weights, whose top logits are near-ties, soon
   * picks another token (test/gguf-llama.test.ts holds its logits to a bound instead).
   */
  matchingTokens: number;
}

export interface PeerBenchResult {
  benchmark: "peer";
  date: string;
  settings: {
    engines: PeerEngineName[];
    promptLengths: number[];
    genTokens: number;
    concurrency: number[];
    batchPromptTokens: number;
    threads: number;
    int4Kernel: boolean;
    int4KernelVariant: string | null;
    /** The model's original context (LongRoPE switch): runs whose prompt plus output cross it make phi4-onnx re-prefill. */
    originalContext: number | null;
  };
  /** Each engine's own measurements, phi4-onnx first. */
  engines: PeerChildResult[];
  comparisons: PeerComparison[];
  machine: MachineFacts;
}

const DEFAULT_THREADS = 2;

export async function benchPeer(options: PeerBenchOptions): Promise<PeerBenchResult> {
  const promptLengths = (options.promptLengths ?? [128, 1024, 4096]).map((n) => positiveInt("prompt-tokens", n, 1));
  const genTokens = positiveInt("gen-tokens", options.genTokens ?? 64, 2);
  const concurrency = (options.concurrency ?? [1, 4]).map((n) => positiveInt("concurrency", n, 1));
  const batchPromptTokens = positiveInt("batch-prompt-tokens", options.batchPromptTokens ?? 32, 1);
  const threads = positiveInt("threads", options.threads ?? DEFAULT_THREADS, 1);
  const engines = peerEngines(options.engines, options.gguf);
  const progress = options.onProgress ?? (() => undefined);
  const folder = await loadModelFolder(options.modelDir);
  const longest = Math.max(...promptLengths) + genTokens;
  if (longest > folder.contextLength) {
    throw new Phi4Error(
      "INVALID_ARGUMENT",
      `the longest prompt plus --gen-tokens is ${longest} tokens, past the model's context length of ${folder.contextLength}`,
    );
  }
  if (options.gguf !== undefined && engines.includes("llama.cpp")) {
    await access(options.gguf).catch((error: unknown) => {
      throw new Phi4Error("INVALID_ARGUMENT", `--gguf ${options.gguf}: no such file`, { cause: error });
    });
  }
  const date = new Date().toISOString();
  const config = {
    modelDir: folder.dir,
    gguf: options.gguf === undefined ? undefined : path.resolve(options.gguf),
    threads,
    int4Kernel: options.int4Kernel ?? true,
    kvType: options.kvType,
    maxSequence: Math.max(longest, batchPromptTokens + genTokens),
  };
  const base = { config, promptLengths, genTokens, concurrency, batchPromptTokens, idLimit: Math.min(folder.vocabSize, PROMPT_ID_LIMIT) };

  const results: PeerChildResult[] = [];
  for (const engine of engines) results.push(await runChild({ ...base, engine }, progress));
  const [ours, ...others] = results;
  return {
    benchmark: "peer",
    date,
    // What phi4-onnx's model reported, not what was asked: the kernel needs an AVX2 CPU.
    settings: {
      engines,
      promptLengths,
      genTokens,
      concurrency,
      batchPromptTokens,
      threads,
      int4Kernel: ours.int4Kernel,
      int4KernelVariant: ours.int4KernelVariant,
      originalContext: await originalContext(folder.dir),
    },
    engines: results,
    comparisons: others.flatMap((other) => ours.runs.map((run, i) => compare(run, other.engine, other.runs[i]))),
    machine: machineFacts(),
  };
}

/** The engines to run, phi4-onnx first: every comparison is against it. */
function peerEngines(asked: PeerEngineName[] | undefined, gguf: string | undefined): PeerEngineName[] {
  const names = asked ?? (gguf === undefined ? ["phi4-onnx", "transformers.js"] : [...PEER_ENGINES]);
  for (const name of names) {
    if (!PEER_ENGINES.includes(name)) throw new Phi4Error("INVALID_ARGUMENT", `unknown engine "${name}" (expected some of ${PEER_ENGINES.join(", ")})`);
  }
  if (!names.includes("phi4-onnx")) throw new Phi4Error("INVALID_ARGUMENT", "--engines must include phi4-onnx: every other engine is compared with it");
  if (names.includes("llama.cpp") && gguf === undefined) {
    throw new Phi4Error(
      "INVALID_ARGUMENT",
      "llama.cpp needs the model as a GGUF file: --gguf FILE (phi4 make-model --preset P --format gguf --out FILE writes one)",
    );
  }
  return ["phi4-onnx", ...new Set(names.filter((n) => n !== "phi4-onnx"))];
}

/** original_max_position_embeddings from config.json, where the folder has one. */
async function originalContext(dir: string): Promise<number | null> {
  try {
    const config = JSON.parse(await readFile(path.join(dir, "config.json"), "utf8")) as { original_max_position_embeddings?: number };
    return config.original_max_position_embeddings ?? null;
  } catch {
    return null;
  }
}

/** The other engine's run at a prompt length, or null. */
export function peerRun(r: PeerBenchResult, engine: PeerEngineName, promptTokens: number): PeerRun | null {
  return r.engines.find((e) => e.engine === engine)?.runs.find((x) => x.promptTokens === promptTokens) ?? null;
}

export function peerComparison(r: PeerBenchResult, engine: PeerEngineName, promptTokens: number): PeerComparison | null {
  return r.comparisons.find((c) => c.engine === engine && c.promptTokens === promptTokens) ?? null;
}

function compare(ours: PeerRun, engine: PeerEngineName, other: PeerRun): PeerComparison {
  let matchingTokens = 0;
  while (matchingTokens < ours.tokens.length && ours.tokens[matchingTokens] === other.tokens[matchingTokens]) matchingTokens++;
  return {
    promptTokens: ours.promptTokens,
    engine,
    prefillSpeedup: ours.prefillTokensPerSec / other.prefillTokensPerSec,
    decodeSpeedup: ours.decodeTokensPerSec / other.decodeTokensPerSec,
    ttftSpeedup: other.ttftMs / ours.ttftMs,
    matchingTokens,
  };
}

/** Forks peer-child.js (next to this file in dist/), sends it the request, and resolves once it has reported and exited. */
function runChild(request: PeerChildRequest, progress: (message: string) => void): Promise<PeerChildResult> {
  const script = path.join(path.dirname(new URL(import.meta.url).pathname), "peer-child.js");
  return new Promise((resolve, reject) => {
    const child = fork(script, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    let outcome: (() => void) | undefined;
    child.on("message", (message: PeerChildMessage) => {
      if (message.type === "progress") progress(message.message);
      else if (message.type === "result") outcome ??= () => resolve(message.result);
      else outcome ??= () => reject(new Phi4Error(message.code as Phi4ErrorCode, `${request.engine}: ${message.message}`));
    });
    child.on("error", (error) => {
      outcome ??= () => reject(error);
    });
    child.on("exit", (code, signal) => {
      (
        outcome ?? (() => reject(new Phi4Error("ORT_ERROR", `the ${request.engine} benchmark process exited (${signal ?? `code ${code}`}) without a result`)))
      )();
    });
    child.send(request);
  });
}
