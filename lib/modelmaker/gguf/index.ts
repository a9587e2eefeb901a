// Writes a preset's network as one GGUF file of llama.cpp's phi3 architecture, with the same random
// weights (same seed) as the ONNX folder makeModel writes, and its tokenizer: llama.cpp and phi4-onnx
// then run the same model (up to the fp16 rounding of the int4 scales, see q4-0.ts).

import { mkdir } from "node:fs/promises";
import path from "node:path";

import { phi3Weights } from "../phi3-weights.js";
import { MODEL_PRESETS, parameterCount, type ModelPreset } from "../presets.js";
import { buildTokenizerFiles } from "../tokenizer-files.js";
import { phi3Metadata, phi3Tensors } from "./phi3.js";
import { tokenizerMetadata } from "./tokenizer.js";
import { writeGguf } from "./write.js";

export interface MakeGgufOptions {
  preset: ModelPreset;
  outFile: string;
  /** Weight seed (default 0), as makeModel's. */
  seed?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface MadeGguf {
  outFile: string;
  parameters: number;
  bytes: number;
}

export async function makeGguf(opts: MakeGgufOptions): Promise<MadeGguf> {
  const shape = MODEL_PRESETS[opts.preset];
  if (!shape) throw new Error(`unknown model preset: ${String(opts.preset)}`);
  const seed = opts.seed ?? 0;
  const tok = buildTokenizerFiles(shape.tokenizer);
  const weights = phi3Weights(shape, tok.vocabSize, seed, "fp32");
  const metadata = [...phi3Metadata(shape, `phi4-onnx random ${opts.preset} seed ${seed}`), ...tokenizerMetadata(tok)];
  await mkdir(path.dirname(path.resolve(opts.outFile)), { recursive: true });
  const bytes = await writeGguf(opts.outFile, metadata, phi3Tensors(shape, weights), opts.onProgress);
  return { outFile: opts.outFile, parameters: parameterCount(shape, tok.vocabSize), bytes };
}
