/**
 * The two engines the peer benchmark compares, behind one small interface: phi4-onnx, and
 * transformers.js (`@huggingface/transformers`), which runs the same model.onnx on the same
 * onnxruntime-node library. Each is driven the same way: greedy, exactly `genTokens` tokens from the
 * same prompt ids, every token reported as it arrives on the event loop.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { packageRoot } from "../engine/binding.js";
import { Phi4Error } from "../engine/errors.js";
import { loadModel } from "../engine/model.js";

export type PeerEngineName = "phi4-onnx" | "transformers.js";

export interface PeerEngine {
  /** Library version, for the report. */
  readonly version: string;
  /** The int4 products run on phi4-onnx's kernel (model.info.int4Kernel; transformers.js: never). */
  readonly int4Kernel: boolean;
  /** Generates exactly `genTokens` tokens greedily after `prompt` (no stop token), calling `onToken` for each. */
  generate(prompt: number[], genTokens: number, onToken: (token: number) => void): Promise<void>;
  dispose(): Promise<void>;
}

export async function openEngine(name: PeerEngineName, modelDir: string, threads: number, int4Kernel: boolean): Promise<PeerEngine> {
  return name === "phi4-onnx" ? openPhi4(modelDir, threads, int4Kernel) : openTransformers(modelDir, threads);
}

async function openPhi4(modelDir: string, threads: number, int4Kernel: boolean): Promise<PeerEngine> {
  const model = await loadModel(modelDir, { threads, int4Kernel });
  return {
    version: await packageVersion(packageRoot()),
    int4Kernel: model.info.int4Kernel,
    async generate(prompt, genTokens, onToken) {
      const sequence = await model.createSequence({ capacity: prompt.length + genTokens });
      try {
        const generation = sequence.generate(prompt, { maxTokens: genTokens, sampling: { greedy: true }, stopTokens: [] });
        for await (const chunk of generation) if (chunk.token !== undefined) onToken(chunk.token);
      } finally {
        await sequence.dispose();
      }
    },
    dispose: () => model.dispose(),
  };
}

/** The subset of transformers.js this benchmark uses (the package ships its own types; this keeps the import dynamic). */
interface TransformersModule {
  env: { allowRemoteModels: boolean; localModelPath: string; readonly version: string };
  Tensor: new (type: "int64", data: BigInt64Array, dims: number[]) => unknown;
  BaseStreamer: new () => { put(value: bigint[][]): void; end(): void };
  AutoModelForCausalLM: {
    from_pretrained(id: string, options: Record<string, unknown>): Promise<{ generate(options: Record<string, unknown>): Promise<unknown>; dispose(): Promise<unknown> }>;
  };
}

async function importTransformers(): Promise<{ module: TransformersModule; version: string }> {
  const id = "@huggingface/transformers";
  let module: TransformersModule;
  try {
    module = (await import(id)) as TransformersModule;
  } catch (error) {
    throw new Phi4Error("INVALID_ARGUMENT", `the peer benchmark needs ${id}, a development dependency: run "npm install" in the phi4-onnx checkout (not --omit=dev)`, { cause: error });
  }
  return { module, version: module.env.version };
}

async function packageVersion(dir: string): Promise<string> {
  return (JSON.parse(await readFile(path.join(dir, "package.json"), "utf8")) as { version: string }).version;
}

async function openTransformers(modelDir: string, threads: number): Promise<PeerEngine> {
  const { module: tjs, version } = await importTransformers();
  const layout = await transformersLayout(modelDir);
  try {
    tjs.env.allowRemoteModels = false;
    tjs.env.localModelPath = layout.root;
    // dtype fp32 selects onnx/model.onnx, the genai CPU export itself (int4 MatMulNBits weights, fp32 I/O and KV).
    const model = await tjs.AutoModelForCausalLM.from_pretrained(layout.id, {
      dtype: "fp32",
      device: "cpu",
      session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
    });
    return {
      version,
      int4Kernel: false,
      async generate(prompt, genTokens, onToken) {
        const ids = BigInt64Array.from(prompt, BigInt);
        let promptSeen = false;
        const streamer = new (class extends tjs.BaseStreamer {
          override put(value: bigint[][]) {
            // The first put is the prompt itself; every later one is one new token per batch row.
            if (promptSeen) onToken(Number(value[0][0]));
            promptSeen = true;
          }
          override end() {}
        })();
        await model.generate({
          input_ids: new tjs.Tensor("int64", ids, [1, prompt.length]),
          attention_mask: new tjs.Tensor("int64", new BigInt64Array(prompt.length).fill(1n), [1, prompt.length]),
          max_new_tokens: genTokens,
          do_sample: false,
          // No end-of-sequence token stops it (the same as stopTokens: [] on our side; a minimum length would mask EOS logits instead).
          eos_token_id: [],
          streamer,
        });
      },
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
