/**
 * transformers.js (`@huggingface/transformers`) as a peer-benchmark engine: the same model.onnx on the
 * same onnxruntime-node library. Several requests are one static batch (equal-length prompts, no padding).
 */
import { mkdir, mkdtemp, readdir, rm, stat, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { Phi4Error } from "../engine/errors.js";
import { importDevDependency, type PeerEngine, type PeerEngineConfig } from "./peer-engine.js";

/** The subset of transformers.js this benchmark uses (the package ships its own types; this keeps the import dynamic). */
interface TransformersModule {
  env: { allowRemoteModels: boolean; localModelPath: string; readonly version: string };
  Tensor: new (type: "int64", data: BigInt64Array, dims: number[]) => unknown;
  BaseStreamer: new () => { put(value: bigint[][]): void; end(): void };
  AutoModelForCausalLM: {
    from_pretrained(
      id: string,
      options: Record<string, unknown>,
    ): Promise<{ generate(options: Record<string, unknown>): Promise<unknown>; dispose(): Promise<unknown> }>;
  };
}

export async function openTransformers(config: PeerEngineConfig): Promise<PeerEngine> {
  const tjs = await importDevDependency<TransformersModule>("@huggingface/transformers");
  const layout = await transformersLayout(config.modelDir);
  try {
    tjs.env.allowRemoteModels = false;
    tjs.env.localModelPath = layout.root;
    // dtype fp32 selects onnx/model.onnx, the genai CPU export itself (int4 MatMulNBits weights, fp32 I/O and KV).
    const model = await tjs.AutoModelForCausalLM.from_pretrained(layout.id, {
      dtype: "fp32",
      device: "cpu",
      session_options: { intraOpNumThreads: config.threads, interOpNumThreads: 1 },
    });
    const generateBatch = async (prompts: number[][], genTokens: number, onToken: (row: number, token: number) => void) => {
      const length = prompts[0].length;
      if (prompts.some((p) => p.length !== length)) throw new Phi4Error("INVALID_ARGUMENT", "transformers.js batches prompts of one length here (no padding)");
      const ids = BigInt64Array.from(prompts.flat(), BigInt);
      let promptSeen = false;
      const streamer = new (class extends tjs.BaseStreamer {
        override put(value: bigint[][]) {
          // The first put is the prompt itself; every later one is one new token per batch row.
          if (promptSeen) value.forEach((row, i) => onToken(i, Number(row[0])));
          promptSeen = true;
        }
        override end() {}
      })();
      await model.generate({
        input_ids: new tjs.Tensor("int64", ids, [prompts.length, length]),
        attention_mask: new tjs.Tensor("int64", new BigInt64Array(ids.length).fill(1n), [prompts.length, length]),
        max_new_tokens: genTokens,
        do_sample: false,
        // No end-of-sequence token stops it (the same as stopTokens: [] on our side; a minimum length would mask EOS logits instead).
        eos_token_id: [],
        streamer,
      });
    };
    return {
      version: tjs.env.version,
      int4Kernel: false,
      int4KernelVariant: null,
      generate: (prompt, genTokens, onToken) => generateBatch([prompt], genTokens, (_row, token) => onToken(token)),
      generateBatch,
      async dispose() {
        await model.dispose();
        await layout.remove();
      },
    };
  } catch (error) {
    await layout.remove();
    throw error;
  }
}

/**
 * transformers.js expects the Hugging Face layout: config.json at the top and the graph under onnx/.
 * A genai folder has config.json next to model.onnx, so link (never copy: gigabytes) the files into
 * a temporary folder of that shape. The external data keeps its name, so ONNX Runtime finds it
 * through the graph's own reference, relative to onnx/model.onnx.
 */
async function transformersLayout(modelDir: string): Promise<{ root: string; id: string; remove: () => Promise<void> }> {
  const source = path.resolve(modelDir);
  const names = await readdir(source);
  for (const required of ["config.json", "model.onnx"]) {
    if (!names.includes(required)) throw new Phi4Error("MODEL_INVALID", `${source} has no ${required}, which transformers.js needs`);
  }
  const root = await mkdtemp(path.join(os.tmpdir(), "phi4-peer-"));
  const id = path.basename(source);
  await mkdir(path.join(root, id, "onnx"), { recursive: true });
  for (const name of names) {
    if (!(await stat(path.join(source, name))).isFile()) continue;
    const inOnnx = name.startsWith("model.onnx");
    await symlink(path.join(source, name), path.join(root, id, inOnnx ? "onnx" : "", name));
  }
  return { root, id, remove: () => rm(root, { recursive: true, force: true }) };
}
