/**
 * llama.cpp (through node-llama-cpp, a development dependency) as a peer-benchmark engine, on a GGUF
 * of the same model (`phi4 make-model --format gguf` writes one for every preset). CPU only and never a
 * source build: the prebuilt binary from npm. Several requests are sequences of one context, which
 * node-llama-cpp decodes together in one batch per step. llama.cpp's own defaults otherwise (flash
 * attention auto, fp16 KV cache, batch 512), as a user of it gets them.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";

import { Phi4Error } from "../engine/errors.js";
import { importDevDependency, packageVersion, type PeerEngine, type PeerEngineConfig } from "./peer-engine.js";

type NodeLlamaCpp = typeof import("node-llama-cpp");
type Token = import("node-llama-cpp").Token;
type LlamaContextSequence = import("node-llama-cpp").LlamaContextSequence;

const ID = "node-llama-cpp";

export async function openLlamaCpp(config: PeerEngineConfig): Promise<PeerEngine> {
  if (config.gguf === undefined)
    throw new Phi4Error(
      "INVALID_ARGUMENT",
      "llama.cpp needs the model as a GGUF file: --gguf FILE (phi4 make-model --preset P --format gguf --out FILE writes one)",
    );
  const nlc = await importDevDependency<NodeLlamaCpp>(ID);
  const llama = await nlc.getLlama({ gpu: false, build: "never", maxThreads: config.threads, logLevel: nlc.LlamaLogLevel.error, progressLogs: false });
  const model = await llama.loadModel({ modelPath: config.gguf, gpuLayers: 0 });
  // node-llama-cpp shifts a context's oldest tokens out once a sequence fills it: leave one cell spare.
  const single = await model.createContext({ contextSize: config.maxSequence + 1, sequences: 1, threads: config.threads });
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.resolve(ID))), "..");
  const version = `${await packageVersion(root)} (llama.cpp ${llama.llamaCppRelease.release})`;
  return {
    version,
    int4Kernel: false,
    int4KernelVariant: null,
    async generate(prompt, genTokens, onToken) {
      const sequence = single.getSequence();
      try {
        await greedy(sequence, prompt, genTokens, onToken);
      } finally {
        sequence.dispose();
      }
    },
    async generateBatch(prompts, genTokens, onToken) {
      const longest = Math.max(...prompts.map((p) => p.length));
      const context = await model.createContext({ contextSize: longest + genTokens + 1, sequences: prompts.length, threads: config.threads });
      try {
        await Promise.all(prompts.map((prompt, row) => greedy(context.getSequence(), prompt, genTokens, (token) => onToken(row, token))));
      } finally {
        await context.dispose();
      }
    },
    async dispose() {
      await single.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}

async function greedy(sequence: LlamaContextSequence, prompt: number[], genTokens: number, onToken: (token: number) => void): Promise<void> {
  let count = 0;
  // temperature 0: greedy. End-of-generation tokens are yielded and decoding goes on, as stopTokens: [] does on our side.
  for await (const token of sequence.evaluate(prompt as Token[], { temperature: 0, yieldEogToken: true })) {
    onToken(token);
    if (++count === genTokens) break;
  }
}
