/**
 * The restarted process of the prefix benchmark (forked by prefix-agent.ts): it loads the model with
 * the same prefix cache directory as the first process, answers one prompt, and reports its time to
 * first token and how many prompt tokens came from the cache. Its memory tier starts empty: only the
 * disk tier can spare the prefill.
 */
import { loadModel } from "../engine/model.js";
import type { PrefixDiskOptions } from "../engine/prefix-disk.js";

export interface RestartRequest {
  modelDir: string;
  threads?: number;
  disk: PrefixDiskOptions;
  capacity: number;
  prompt: number[];
}

export type RestartMessage = { type: "result"; ttftMs: number; cachedTokens: number; loadMs: number } | { type: "error"; message: string };

process.once("message", (request: RestartRequest) => {
  const send = (message: RestartMessage) => process.send?.(message);
  void (async () => {
    const model = await loadModel(request.modelDir, { threads: request.threads, prefixCacheDisk: request.disk });
    try {
      const sequence = await model.createSequence({ capacity: request.capacity });
      const result = await sequence.generateText(request.prompt, { maxTokens: 1, append: false, sampling: { greedy: true } });
      send({ type: "result", ttftMs: result.timings.ttftMs, cachedTokens: result.usage.cachedTokens, loadMs: model.loadMs });
    } finally {
      await model.dispose();
    }
  })()
    .catch((error: unknown) => send({ type: "error", message: (error as Error).message }))
    .finally(() => process.disconnect?.());
});
