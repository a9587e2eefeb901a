// Writes a complete onnxruntime-genai "phi3" model folder with seeded random weights: the graph of the
// genai builder's CPU int4 export (or, with precision "fp16", of its GPU int4 exports), its
// genai_config.json, Hugging Face configs and tokenizer files.

import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { genaiConfig, generationConfig, hfConfig } from "./folder.js";
import { writeOnnxModel } from "./onnx-writer.js";
import { buildPhi3Graph } from "./phi3-graph.js";
import { MODEL_PRECISIONS, MODEL_PRESETS, parameterCount, type ModelPrecision, type ModelPreset } from "./presets.js";
import { buildTokenizerFiles } from "./tokenizer-files.js";

export { MODEL_PRECISIONS, MODEL_PRESETS, parameterCount, qkvSize, rotaryDim, type ModelPrecision, type ModelPreset, type ModelShape } from "./presets.js";
export { IO_NAMES } from "./phi3-graph.js";

export interface MakeModelOptions {
  preset: ModelPreset;
  outDir: string;
  /** Weight seed (default 0); the same seed writes byte-identical files. */
  seed?: number;
  /**
   * "fp32" (default): the CPU export. "fp16": the GPU exports' graph (fp16 logits, KV, activations and
   * float weights; see phi3-graph.ts), holding the fp32 folder's weights of the same seed rounded to fp16.
   */
  precision?: ModelPrecision;
  /** Weights in model.onnx.data, as real exports keep them (default: the preset's choice; phi4-mini needs it). */
  externalData?: boolean;
  /** Called as weight bytes are produced; `total` is the sum of all initializer bytes. */
  onProgress?: (done: number, total: number) => void;
}

export interface MadeModel {
  outDir: string;
  /** File names written, relative to outDir. */
  files: string[];
  /** Parameters of the equivalent Hugging Face model (tied embeddings counted once). */
  parameters: number;
  /** Total size of the files written. */
  bytes: number;
  precision: ModelPrecision;
}

const MODEL_FILE = "model.onnx";

export async function makeModel(opts: MakeModelOptions): Promise<MadeModel> {
  const shape = MODEL_PRESETS[opts.preset];
  if (!shape) throw new Error(`unknown model preset: ${String(opts.preset)}`);
  const seed = opts.seed ?? 0;
  const precision = opts.precision ?? "fp32";
  if (!MODEL_PRECISIONS.includes(precision)) throw new Error(`unknown precision: ${String(precision)} (expected ${MODEL_PRECISIONS.join(" or ")})`);
  await mkdir(opts.outDir, { recursive: true });

  const tok = buildTokenizerFiles(shape.tokenizer);
  const json: [string, object][] = [
    ["genai_config.json", genaiConfig(shape, tok, MODEL_FILE)],
    ["config.json", hfConfig(shape, tok)],
    ["generation_config.json", generationConfig(tok)],
    ["tokenizer.json", tok.tokenizerJson],
    ["tokenizer_config.json", tok.tokenizerConfig],
    ["special_tokens_map.json", tok.specialTokensMap],
  ];
  let bytes = 0;
  for (const [name, value] of json) {
    const text = JSON.stringify(value, null, 2) + "\n";
    await writeFile(path.join(opts.outDir, name), text);
    bytes += Buffer.byteLength(text);
  }

  const graph = buildPhi3Graph({ shape, vocabSize: tok.vocabSize, seed, precision });
  const onnxFiles = await writeOnnxModel({
    graph,
    dir: opts.outDir,
    fileName: MODEL_FILE,
    externalData: opts.externalData ?? shape.externalData,
    onProgress: opts.onProgress,
  });

  return {
    outDir: opts.outDir,
    files: [...json.map(([name]) => name), ...onnxFiles.files],
    parameters: parameterCount(shape, tok.vocabSize),
    bytes: bytes + onnxFiles.bytes,
    precision,
  };
}

export { makeGguf, type MadeGguf, type MakeGgufOptions } from "./gguf/index.js";
