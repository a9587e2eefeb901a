/**
 * The graph rewrite that runs attention on the addon's own CPU kernel (native/attention.h): each
 * GroupQueryAttention node it can run becomes a phi4_onnx.Attention node with the same inputs,
 * attributes and outputs.
 *
 * It takes the nodes of the genai export: fp32 KV (a graph input of type float), packed QKV (no
 * separate key and value inputs), rotary inside the node (do_rotary 1, non-interleaved, cos and sin
 * caches given), no softcap, no smooth softmax, none of the newer optional inputs. Any other node
 * stays with ONNX Runtime.
 */
import onnxProto from "onnx-proto";

import { CUSTOM_OP_DOMAIN, importCustomOpDomain } from "./custom-op-domain.js";

const { onnx } = onnxProto;

const ATTENTION_OP = "Attention";

/** Switches every eligible GroupQueryAttention node of `model` to the kernel; returns how many. */
export function useAttentionKernel(model: onnxProto.onnx.IModelProto): number {
  const graph = model.graph;
  if (!graph) return 0;
  const floatInputs = new Set((graph.input ?? []).filter((i) => i.type?.tensorType?.elemType === onnx.TensorProto.DataType.FLOAT).map((i) => i.name ?? ""));
  let count = 0;
  for (const node of graph.node ?? []) {
    if (!eligible(node, floatInputs)) continue;
    node.domain = CUSTOM_OP_DOMAIN;
    node.opType = ATTENTION_OP;
    count++;
  }
  if (count > 0) importCustomOpDomain(model);
  return count;
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
