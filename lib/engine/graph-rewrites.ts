/**
 * Load-time rewrites of model.onnx, applied in memory: the graph goes to ONNX Runtime as bytes, the
 * weights stay in the external data file (read from the model folder as before), and the file on
 * disk is never changed.
 *
 * - last-position-graph.ts: the lm_head runs on the last position of each run only.
 * - int4-kernel-graph.ts: int4 MatMulNBits nodes run on the addon's own CPU kernel (which reads their
 *   weights from the external data file itself).
 * - attention-graph.ts: GroupQueryAttention nodes run on the addon's own CPU kernel.
 */
import { readFile, stat } from "node:fs/promises";
import path from "node:path";

import onnxProto from "onnx-proto";

import { useAttentionKernel } from "./attention-graph.js";
import { useInt4Kernel } from "./int4-kernel-graph.js";
import { sliceLmHead } from "./last-position-graph.js";

const { onnx } = onnxProto;

/** model.onnx files above this hold their weights inline; re-encoding them costs more than it saves at load. */
const MAX_GRAPH_BYTES = 512 * 1024 * 1024;

export interface GraphRewriteOptions {
  /** Name of the logits output, to slice the lm_head before it; null to leave the lm_head alone. */
  lastPositionLogits: string | null;
  /** Point int4 MatMulNBits nodes at the addon's kernel (only for sessions that run on the CPU). */
  int4Kernel: boolean;
  /** With int4Kernel: the micro-kernel set the nodes run on (default: the fastest this CPU runs). */
  int4KernelVariant?: string;
  /** Point GroupQueryAttention nodes at the addon's kernel (only for sessions that run on the CPU). */
  attentionKernel?: boolean;
  /** With attentionKernel: store the KV cache in fp16 (attention-graph.ts says when it can). */
  halfKv?: boolean;
}

export interface RewrittenGraph {
  bytes: Uint8Array;
  lastPositionLogits: boolean;
  /** MatMulNBits nodes now running as phi4_onnx.Int4MatMul. */
  int4Nodes: number;
  /** GroupQueryAttention nodes now running as phi4_onnx.Attention (or AttentionHalfKv). */
  attentionNodes: number;
  /** The graph's KV inputs and outputs are fp16 now. */
  halfKv: boolean;
}

/**
 * The rewritten graph of `modelPath`, or null when no rewrite applies (or the file is not a readable
 * ONNX graph: loading it as it is then gives ONNX Runtime's own error).
 */
export async function rewriteGraph(modelPath: string, options: GraphRewriteOptions): Promise<RewrittenGraph | null> {
  if (options.lastPositionLogits === null && !options.int4Kernel && !options.attentionKernel) return null;
  if ((await stat(modelPath)).size > MAX_GRAPH_BYTES) return null;
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(await readFile(modelPath));
  } catch {
    return null;
  }
  if (!model.graph) return null;
  const lastPositionLogits = options.lastPositionLogits !== null && sliceLmHead(model.graph, options.lastPositionLogits);
  const int4Nodes = options.int4Kernel ? useInt4Kernel(model, path.dirname(modelPath), options.int4KernelVariant) : 0;
  const attention = options.attentionKernel ? useAttentionKernel(model, { halfKv: options.halfKv }) : { nodes: 0, halfKv: false };
  if (!lastPositionLogits && int4Nodes === 0 && attention.nodes === 0) return null;
  return { bytes: onnx.ModelProto.encode(model).finish(), lastPositionLogits, int4Nodes, attentionNodes: attention.nodes, halfKv: attention.halfKv };
}
