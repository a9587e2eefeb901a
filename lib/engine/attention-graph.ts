/**
 * The graph rewrite that runs attention on the addon's own CPU kernel (native/attention.h): each
 * GroupQueryAttention node it can run becomes a phi4_onnx.Attention node with the same inputs,
 * attributes and outputs.
 *
 * It takes the nodes of the genai export: fp32 KV (a graph input of type float), packed QKV (no
 * separate key and value inputs), rotary inside the node (do_rotary 1, non-interleaved, cos and sin
 * caches given), no softcap, no smooth softmax, none of the newer optional inputs. Any other node
 * stays with ONNX Runtime.
 *
 * With `halfKv`, the KV cache is stored in fp16 instead: the nodes become phi4_onnx.AttentionHalfKv
 * and the graph's past_key_values inputs and present outputs change type to float16 (the engine reads
 * the KV type from them). Only when every GroupQueryAttention node can run on the kernel and its
 * cache tensors are graph inputs and outputs, so that no other node sees an fp16 tensor; otherwise the
 * cache keeps its type.
 */
import onnxProto from "onnx-proto";

import { CUSTOM_OP_DOMAIN, importCustomOpDomain } from "./custom-op-domain.js";

const { onnx } = onnxProto;

const ATTENTION_OP = "Attention";
const ATTENTION_HALF_KV_OP = "AttentionHalfKv";

export interface AttentionRewrite {
  /** GroupQueryAttention nodes now running on the kernel. */
  nodes: number;
  /** The KV cache is fp16 now (asked for and possible). */
  halfKv: boolean;
}

/** Switches every eligible GroupQueryAttention node of `model` to the kernel. */
export function useAttentionKernel(model: onnxProto.onnx.IModelProto, { halfKv = false } = {}): AttentionRewrite {
  const graph = model.graph;
  if (!graph) return { nodes: 0, halfKv: false };
  const floatInputs = new Set((graph.input ?? []).filter((i) => i.type?.tensorType?.elemType === onnx.TensorProto.DataType.FLOAT).map((i) => i.name ?? ""));
  const nodes = (graph.node ?? []).filter((node) => node.opType === "GroupQueryAttention" && node.domain === "com.microsoft");
  const chosen = nodes.filter((node) => eligible(node, floatInputs));
  const half = halfKv && chosen.length > 0 && chosen.length === nodes.length && chosen.every((node) => cacheIsGraphIo(graph, node));
  for (const node of chosen) {
    node.domain = CUSTOM_OP_DOMAIN;
    node.opType = half ? ATTENTION_HALF_KV_OP : ATTENTION_OP;
  }
  if (half) {
    const cache = new Set(chosen.flatMap((node) => [node.input![3], node.input![4], node.output![1], node.output![2]]));
    for (const info of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) {
      if (cache.has(info.name ?? "") && info.type?.tensorType) info.type.tensorType.elemType = onnx.TensorProto.DataType.FLOAT16;
    }
  }
  if (chosen.length > 0) importCustomOpDomain(model);
  return { nodes: chosen.length, halfKv: half };
}

/** The node's past K/V are graph inputs that only it reads, its present K/V graph outputs that no node reads. */
function cacheIsGraphIo(graph: onnxProto.onnx.IGraphProto, node: onnxProto.onnx.INodeProto): boolean {
  const [, , , pastKey, pastValue] = node.input ?? [];
  const [, presentKey, presentValue] = node.output ?? [];
  const outputs = new Set((graph.output ?? []).map((o) => o.name ?? ""));
  if (!outputs.has(presentKey ?? "") || !outputs.has(presentValue ?? "")) return false;
  const names = new Set([pastKey, pastValue, presentKey, presentValue]);
  return (graph.node ?? []).every((other) => other === node || !(other.input ?? []).some((name) => names.has(name)));
}

function eligible(node: onnxProto.onnx.INodeProto, floatInputs: Set<string>): boolean {
  if (node.opType !== "GroupQueryAttention" || node.domain !== "com.microsoft") return false;
  const attribute = (name: string) => node.attribute?.find((a) => a.name === name);
  const int = (name: string, fallback: number) => Number(attribute(name)?.i ?? fallback);
  if (int("do_rotary", 0) !== 1 || int("rotary_interleaved", 0) !== 0 || int("smooth_softmax", 0) !== 0) return false;
  if ((attribute("softcap")?.f ?? 0) !== 0 || attribute("qk_output")) return false;
  const inputs = node.input ?? [];
  const [, key, value, pastKey, pastValue, seqlensK, , cos, sin] = inputs;
  if (inputs.length < 9 || inputs.slice(9).some((name) => name !== "")) return false; // position_ids, attention_bias, head_sink
  if (key || value || !seqlensK || !cos || !sin) return false;
  return floatInputs.has(pastKey ?? "") && floatInputs.has(pastValue ?? "") && (node.output ?? []).length === 3;
}
