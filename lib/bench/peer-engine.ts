/**
 * What the peer benchmark asks of each engine it compares: greedy generation of exactly `genTokens`
 * tokens from given prompt ids (no stop token), one request or several at once, every token reported
 * as it reaches JavaScript. One implementation per engine (peer-engine-*.ts).
 */
import { readFile } from "node:fs/promises";
import path from "node:path";

import { Phi4Error } from "../engine/errors.js";
import type { Int4KernelChoice } from "../engine/model.js";

export const PEER_ENGINES = ["phi4-onnx", "transformers.js", "llama.cpp"] as const;
export type PeerEngineName = (typeof PEER_ENGINES)[number];

export interface PeerEngineConfig {
  /** The ONNX model folder (phi4-onnx, transformers.js). */
  modelDir: string;
  /** The GGUF of the same model (llama.cpp). */
  gguf?: string;
  threads: number;
  /** phi4-onnx's LoadModelOptions.int4Kernel, as asked. */
  int4Kernel: Int4KernelChoice;
  /** phi4-onnx's LoadModelOptions.kvType, as asked (undefined: its default). */
  kvType?: "float32" | "float16";
  /** The longest sequence a single request reaches (prompt plus generated tokens): sizes caches up front. */
  maxSequence: number;
}

export interface PeerEngine {
  /** Library version, for the report. */
  readonly version: string;
  /** The int4 products run on phi4-onnx's kernel (model.info.int4Kernel; the other engines: never). */
  readonly int4Kernel: boolean;
  /** With int4Kernel: the kernel's micro-kernel set on this CPU (model.info.int4KernelVariant); else null. */
  readonly int4KernelVariant: string | null;
  /** Generates exactly `genTokens` tokens greedily after `prompt`, calling `onToken` for each. */
  generate(prompt: number[], genTokens: number, onToken: (token: number) => void): Promise<void>;
  /** The same for several prompts at once, batched as the engine batches; `onToken` gets the prompt's index. */
  generateBatch(prompts: number[][], genTokens: number, onToken: (row: number, token: number) => void): Promise<void>;
  dispose(): Promise<void>;
}

/** A development dependency, imported when its engine is asked for (so installs without them still run phi4-onnx). */
export async function importDevDependency<T>(id: string): Promise<T> {
  try {
    return (await import(id)) as T;
  } catch (error) {
    throw new Phi4Error(
      "INVALID_ARGUMENT",
      `the peer benchmark needs ${id}, a development dependency: run "npm install" in the phi4-onnx checkout (not --omit=dev)`,
      { cause: error },
    );
  }
}

export async function packageVersion(dir: string): Promise<string> {
  return (JSON.parse(await readFile(path.join(dir, "package.json"), "utf8")) as { version: string }).version;
}
