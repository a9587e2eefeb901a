// Network shapes of the model folders the model maker can write. The vocabulary size is not part of a
// shape: it is the embedding row count the preset's tokenizer asks for (tokenizer-files.ts), so a tiny
// network can be paired with either the tiny or the real Phi-4 vocabulary.

import type { TokenizerPreset } from "./tokenizer-files.js";

export type ModelPreset = "tiny" | "tiny-phi4" | "tiny-phi4-long" | "phi4-mini";

/**
 * Floating-point type of a folder's activations, I/O, KV cache and float weights. "fp32" is the genai
 * builder's CPU export (cpu-int4-rtn-block-32-acc-level-4); "fp16" its GPU exports (CUDA, DirectML,
 * WebGPU: gpu-int4-rtn-block-32), where logits and past/present KV are float16 too.
 */
export type ModelPrecision = "fp32" | "fp16";
export const MODEL_PRECISIONS: readonly ModelPrecision[] = ["fp32", "fp16"];

export interface ModelShape {
  tokenizer: TokenizerPreset;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headSize: number;
  intermediateSize: number;
  /** context_length / max_position_embeddings: rows of the long RoPE cache. */
  maxPositionEmbeddings: number;
  /** original_max_position_embeddings: rows of the short RoPE cache and the If threshold. */
  originalMaxPositionEmbeddings: number;
  partialRotaryFactor: number;
  ropeTheta: number;
  rmsNormEps: number;
  /** Phi-4-mini's config.json sliding_window; the builder copies it into GQA local_window_size. */
  slidingWindow: number;
  /** Weights go to model.onnx.data instead of model.onnx (needed past protobuf's 2 GiB limit). */
  externalData: boolean;
}

const TINY: Omit<ModelShape, "tokenizer"> = {
  hiddenSize: 256,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headSize: 64,
  intermediateSize: 512,
  maxPositionEmbeddings: 256,
  originalMaxPositionEmbeddings: 64,
  partialRotaryFactor: 0.75,
  ropeTheta: 10000,
  rmsNormEps: 1e-5,
  slidingWindow: 262144,
  externalData: false,
};

export const MODEL_PRESETS: Record<ModelPreset, ModelShape> = {
  tiny: { ...TINY, tokenizer: "tiny" },
  "tiny-phi4": { ...TINY, tokenizer: "phi4" },
  // The same network with Phi-4-mini's context (131072, RoPE switch at 4096): long prompts such as
  // Claude Code's system prompt and tools fit. Only the long RoPE cache grows (about 25 MB).
  "tiny-phi4-long": { ...TINY, tokenizer: "phi4", maxPositionEmbeddings: 131072, originalMaxPositionEmbeddings: 4096 },
  "phi4-mini": {
    tokenizer: "phi4",
    hiddenSize: 3072,
    numLayers: 32,
    numHeads: 24,
    numKvHeads: 8,
    headSize: 128,
    intermediateSize: 8192,
    maxPositionEmbeddings: 131072,
    originalMaxPositionEmbeddings: 4096,
    partialRotaryFactor: 0.75,
    ropeTheta: 10000,
    rmsNormEps: 1e-5,
    slidingWindow: 262144,
    externalData: true,
  },
};

/** Number of rotated channels per head (96 for Phi-4-mini); the cos/sin caches are half as wide. */
export function rotaryDim(shape: ModelShape): number {
  return Math.floor(shape.headSize * shape.partialRotaryFactor);
}

/** Output width of the packed QKV projection. */
export function qkvSize(shape: ModelShape): number {
  return (shape.numHeads + 2 * shape.numKvHeads) * shape.headSize;
}

/** Parameters of the equivalent Hugging Face model (tied embeddings counted once). */
export function parameterCount(shape: ModelShape, vocabSize: number): number {
  const h = shape.hiddenSize;
  const perLayer = h * qkvSize(shape) + shape.numHeads * shape.headSize * h + 3 * h * shape.intermediateSize + 2 * h;
  return vocabSize * h + shape.numLayers * perLayer + h;
}
