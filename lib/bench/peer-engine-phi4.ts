/** phi4-onnx as a peer-benchmark engine: one sequence per request, a batched context for several. */
import { packageRoot } from "../engine/binding.js";
import { loadModel } from "../engine/model.js";
import { packageVersion, type PeerEngine, type PeerEngineConfig } from "./peer-engine.js";

/** Greedy, exactly maxTokens: no stop token ends a run early. */
const greedy = (maxTokens: number) => ({ sampling: { greedy: true }, stopTokens: [], maxTokens });

export async function openPhi4(config: PeerEngineConfig): Promise<PeerEngine> {
  // No prefix cache: every prompt is prefilled in full, as the other engines do.
  // Plain decode, as the other engines decode (speculation has its own benchmark, speculative.ts).
  const model = await loadModel(config.modelDir, {
    threads: config.threads,
    int4Kernel: config.int4Kernel,
    kvType: config.kvType,
    prefixCache: false,
    speculative: false,
  });
  return {
    version: await packageVersion(packageRoot()),
    int4Kernel: model.info.int4Kernel,
    int4KernelVariant: model.info.int4KernelVariant,
    async generate(prompt, genTokens, onToken) {
      const sequence = await model.createSequence({ capacity: prompt.length + genTokens });
      try {
        for await (const chunk of sequence.generate(prompt, greedy(genTokens))) if (chunk.token !== undefined) onToken(chunk.token);
      } finally {
        await sequence.dispose();
      }
    },
    async generateBatch(prompts, genTokens, onToken) {
      const longest = Math.max(...prompts.map((p) => p.length));
      const context = await model.createContext({ sequences: prompts.length, capacity: longest + genTokens });
      try {
        await Promise.all(
          prompts.map(async (prompt, row) => {
            const generation = await context.generate(prompt, greedy(genTokens));
            for await (const chunk of generation) if (chunk.token !== undefined) onToken(row, chunk.token);
          }),
        );
      } finally {
        await context.dispose();
      }
    },
    dispose: () => model.dispose(),
  };
}
