/** Worker thread entry of graph-rewrite-thread.ts: rewrites one model.onnx and posts the result back. */
import { parentPort, workerData } from "node:worker_threads";

import type { GraphRewriteJob } from "./graph-rewrite-thread.js";
import { rewriteGraph } from "./graph-rewrites.js";

const job = workerData as GraphRewriteJob;
const graph = await rewriteGraph(job.modelPath, job.options);
// Hand the bytes over without a copy when they own their whole buffer (not a slice of a pool).
const transfer = graph && graph.bytes.byteOffset === 0 && graph.bytes.byteLength === graph.bytes.buffer.byteLength ? [graph.bytes.buffer as ArrayBuffer] : [];
parentPort!.postMessage(graph, transfer);
