/**
 * The decode benchmark: load time, time to first token, prefill and decode speed of one model folder,
 * and how close decode comes to the memory-bandwidth roofline (decode reads every weight once per token,
 * so bandwidth / weight bytes bounds its tokens/s).
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";

import { Phi4Error } from "../engine/errors.js";
import type { ModelFolder } from "../engine/genai-config.js";
import type { GenerationResult } from "../engine/generation.js";
import { type Int4KernelChoice, loadModel, type KvType, type Model } from "../engine/model.js";
import { lcgPrompt, median, positiveInt, PROMPT_ID_LIMIT } from "./common.js";
import { machineFacts, measureReadBandwidth, type MachineFacts } from "./machine.js";

export interface DecodeBenchOptions {
  modelDir: string;
  /** Prompt length in tokens (default 128). */
  promptTokens?: number;
  /** Tokens generated per run (default 64); at least 2, since decode speed is timed after the first. */
  genTokens?: number;
  /** Intra-op threads (default: the model's default, physical cores). */
  threads?: number;
  /** LoadModelOptions.int4Kernel (default true): false measures ONNX Runtime's own int4 kernel. */
  int4Kernel?: Int4KernelChoice;
  /** LoadModelOptions.kvType (default: the model's): "float16" measures the fp16 KV cache. */
  kvType?: KvType;
  /** Timed runs after one warm-up run; the medians are reported (default 3). */
  runs?: number;
  /** Buffer for the read-bandwidth probe, MiB (default 1024: far past any cache). */
  bandwidthMiB?: number;
  onProgress?: (message: string) => void;
}

export interface DecodeBenchResult {
  benchmark: "decode";
  date: string;
  settings: {
    promptTokens: number;
    genTokens: number;
    runs: number;
    threads: number;
    bandwidthMiB: number;
    int4Kernel: boolean;
    int4KernelVariant: string | null;
    kvType: KvType;
  };
  model: {
    /** The model folder's name (not its path). */
    name: string;
    /** Hash of model.onnx alone: with external data that is the graph, not the gigabytes of weights. */
    modelOnnxSha256: string;
    modelOnnxBytes: number;
    /** Total size of the external data file(s) next to model.onnx (not hashed: too slow). */
    externalDataBytes: number;
    vocabSize: number;
    hiddenSize: number;
    embeddingBytes: number;
    weightBytesPerToken: number;
  };
  machine: MachineFacts;
  results: {
    loadMs: number;
    ttftMs: number;
    prefillTokensPerSec: number;
    decodeTokensPerSec: number;
    /** Decode tokens/s of each timed run, in run order. */
    decodeTokensPerSecRuns: number[];
    /** Peak resident set size of the process up to the end of the runs (before the bandwidth probe). */
    peakRssBytes: number;
    readBandwidthBytesPerSec: number;
    rooflineTokensPerSec: number;
    /** decodeTokensPerSec / rooflineTokensPerSec. */
    rooflineFraction: number;
  };
}

export async function benchDecode(options: DecodeBenchOptions): Promise<DecodeBenchResult> {
  const promptTokens = positiveInt("prompt-tokens", options.promptTokens ?? 128, 1);
  const genTokens = positiveInt("gen-tokens", options.genTokens ?? 64, 2);
  const runs = positiveInt("runs", options.runs ?? 3, 1);
  const bandwidthMiB = positiveInt("bandwidth-mib", options.bandwidthMiB ?? 1024, 1);
  const progress = options.onProgress ?? (() => undefined);
  const date = new Date().toISOString();

  // Plain decode: one token per step, what the roofline bounds (speculation has its own benchmark, speculative.ts).
  const model = await loadModel(options.modelDir, { threads: options.threads, int4Kernel: options.int4Kernel, kvType: options.kvType, speculative: false });
  const { int4Kernel, int4KernelVariant, kvType } = model.info;
  const timings: GenerationResult["timings"][] = [];
  try {
    const prompt = lcgPrompt(promptTokens, Math.min(model.folder.vocabSize, PROMPT_ID_LIMIT));
    progress(`loaded ${model.folder.dir} in ${model.loadMs.toFixed(0)} ms; warm-up run`);
    await timedRun(model, prompt, genTokens);
    for (let i = 0; i < runs; i++) {
      progress(`run ${i + 1}/${runs}`);
      timings.push(await timedRun(model, prompt, genTokens));
    }
  } finally {
    await model.dispose();
  }
  // Read before the probe: its buffer would otherwise be the peak for any model smaller than it.
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  progress(`measuring read bandwidth (${bandwidthMiB} MiB, ${model.threads} threads)`);
  const bandwidth = await measureReadBandwidth(bandwidthMiB, model.threads);

  const files = await modelFiles(model.folder.modelPath);
  const weights = weightBytesPerToken(model.folder, files.modelOnnxBytes + files.externalDataBytes, int4Kernel);
  const decodeTokensPerSec = median(timings.map((t) => t.decodeTokensPerSec));
  const rooflineTokensPerSec = bandwidth / weights.perToken;
  return {
    benchmark: "decode",
    date,
    settings: { promptTokens, genTokens, runs, threads: model.threads, bandwidthMiB, int4Kernel, int4KernelVariant, kvType },
    model: {
      // The folder's name only: results are published, and the model file hash identifies the model.
      name: path.basename(model.folder.dir),
      ...files,
      vocabSize: model.folder.vocabSize,
      hiddenSize: model.folder.config.model.decoder.hidden_size,
      embeddingBytes: weights.embedding,
      weightBytesPerToken: weights.perToken,
    },
    machine: machineFacts(),
    results: {
      loadMs: model.loadMs,
      ttftMs: median(timings.map((t) => t.ttftMs)),
      prefillTokensPerSec: median(timings.map((t) => t.prefillTokensPerSec)),
      decodeTokensPerSec,
      decodeTokensPerSecRuns: timings.map((t) => t.decodeTokensPerSec),
      peakRssBytes,
      readBandwidthBytesPerSec: bandwidth,
      rooflineTokensPerSec,
      rooflineFraction: decodeTokensPerSec / rooflineTokensPerSec,
    },
  };
}

/** One greedy generation of exactly `genTokens` tokens (no stop token ends it early) on a fresh sequence. */
async function timedRun(model: Model, prompt: number[], genTokens: number): Promise<GenerationResult["timings"]> {
  const sequence = await model.createSequence({ capacity: prompt.length + genTokens });
  try {
    const result = await sequence.generateText(prompt, { maxTokens: genTokens, sampling: { greedy: true }, stopTokens: [] });
    return result.timings;
  } finally {
    await sequence.dispose();
  }
}

/** model.onnx's hash and size, and the size of its external data: files named after it (model.onnx.data, model.onnx_data). */
async function modelFiles(modelPath: string) {
  const dir = path.dirname(modelPath);
  const base = path.basename(modelPath);
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(modelPath)) hash.update(chunk as Buffer);
  let externalDataBytes = 0;
  for (const name of await readdir(dir)) {
    if (name !== base && name.startsWith(base)) externalDataBytes += (await stat(path.join(dir, name))).size;
  }
  return { modelOnnxSha256: hash.digest("hex"), modelOnnxBytes: (await stat(modelPath)).size, externalDataBytes };
}

/**
 * Weight bytes one decode step reads: every MatMul weight (int4 blocks and scales) once per token, so the
 * model files' size, less the embedding table, of which the Gather reads a single row. The table is
 * vocab x hidden in fp32 in the genai builder's CPU exports (its int4 quantization covers MatMuls only;
 * the tied lm_head is a separate int4 MatMul, counted as read) and fp16 in its GPU exports, which name
 * a GPU provider in genai_config. With the addon's int4 kernel, its packed weights. Left out: the KV cache (context x kvBytesPerToken, a few percent at
 * short contexts), norms' and activations' traffic, and the logits written.
 */
function weightBytesPerToken(folder: ModelFolder, fileBytes: number, int4Kernel: boolean): { embedding: number; perToken: number } {
  const hidden = folder.config.model.decoder.hidden_size;
  const bytesPerValue = folder.providers.some((p) => p.name !== "cpu") ? 2 : 4;
  const embedding = folder.vocabSize * hidden * bytesPerValue;
  // The addon's int4 kernel reads its packed copy, with fp16 scales: 18 bytes per block of 32 weights
  // where the file holds 20 (docs/engine.md: the int4 kernel).
  const perToken = (fileBytes - embedding) * (int4Kernel ? 18 / 20 : 1) + hidden * bytesPerValue;
  if (perToken <= 0) {
    throw new Phi4Error("MODEL_INVALID", `the model files (${fileBytes} bytes) are smaller than the ${embedding}-byte embedding table they should hold`);
  }
  return { embedding, perToken };
}
