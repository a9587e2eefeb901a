/**
 * Runs the load-time graph rewrite (graph-rewrites.ts) on a worker thread. Decoding and re-encoding
 * model.onnx takes about 0.6 s for Phi-4-mini; on the main thread that would block the event loop,
 * and every other request of the process, while a model loads. Run from the TypeScript sources
 * (tests), where there is no compiled worker to start, or where a worker cannot start, it runs in the
 * calling thread.
 */
import { Worker } from "node:worker_threads";

import type { GraphRewriteOptions, RewrittenGraph } from "./graph-rewrites.js";

/** What the worker (graph-rewrite-worker.ts) is given. */
export interface GraphRewriteJob {
  modelPath: string;
  options: GraphRewriteOptions;
}

export function rewriteGraphOffThread(modelPath: string, options: GraphRewriteOptions): Promise<RewrittenGraph | null> {
  if (options.lastPositionLogits === null && !options.int4Kernel && !options.attentionKernel) return Promise.resolve(null);
  if (!import.meta.url.endsWith(".js")) return rewriteHere(modelPath, options);
  return new Promise((resolve, reject) => {
    const job: GraphRewriteJob = { modelPath, options };
    // No execArgv of the process: flags such as --input-type (node -e) would stop the worker starting.
    const worker = new Worker(new URL("./graph-rewrite-worker.js", import.meta.url), { workerData: job, execArgv: [] });
    let settled = false;
    worker.once("message", (graph: RewrittenGraph | null) => {
      settled = true;
      resolve(graph);
    });
    worker.once("error", () => {
      settled = true;
      rewriteHere(modelPath, options).then(resolve, reject);
    });
    worker.once("exit", (code) => {
      if (!settled) reject(new Error(`the graph rewrite worker exited with code ${code} before answering`));
    });
  });
}

/** The rewrite in this thread, its module (and onnx-proto's protobuf code) loaded only when it runs here. */
async function rewriteHere(modelPath: string, options: GraphRewriteOptions): Promise<RewrittenGraph | null> {
  const { rewriteGraph } = await import("./graph-rewrites.js");
  return rewriteGraph(modelPath, options);
}
