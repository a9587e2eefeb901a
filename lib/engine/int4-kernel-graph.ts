/**
 * The graph rewrite that runs int4 matrix products on the addon's own CPU kernel
 * (native/int4_matmul.h): each MatMulNBits node it can run becomes a phi4_onnx.Int4MatMul node with
 * the same inputs, attributes and output.
 *
 * It takes the nodes of Phi-4-mini's CPU export: 4 bits, blocks of 32, accuracy level 4 (int8
 * activations, which is what the kernel computes), float activations and scales, no zero points,
 * g_idx or bias, and K a multiple of 64. Any other node stays with ONNX Runtime.
 */
import onnxProto from "onnx-proto";

import { CUSTOM_OP_DOMAIN, importCustomOpDomain } from "./custom-op-domain.js";

const { onnx } = onnxProto;

const INT4_OP = "Int4MatMul";

/** Switches every eligible MatMulNBits node of `model` to the kernel; returns how many. */
export function useInt4Kernel(model: onnxProto.onnx.IModelProto): number {
  const graph = model.graph;
  if (!graph) return 0;
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? "", t]));
  let count = 0;
  for (const node of graph.node ?? []) {
    if (!eligible(node, initializers)) continue;
    node.domain = CUSTOM_OP_DOMAIN;
    node.opType = INT4_OP;
    node.input = node.input!.slice(0, 3);
    count++;
  }
  if (count > 0) importCustomOpDomain(model);
  return count;
}

function eligible(node: onnxProto.onnx.INodeProto, initializers: Map<string, onnxProto.onnx.ITensorProto>): boolean {
  if (node.opType !== "MatMulNBits" || node.domain !== "com.microsoft") return false;
  const attr = (name: string, fallback: number) => Number(node.attribute?.find((a) => a.name === name)?.i ?? fallback);
  const k = attr("K", 0);
  if (attr("bits", 4) !== 4 || attr("block_size", 0) !== 32 || attr("accuracy_level", 0) !== 4 || k <= 0 || k % 64 !== 0) return false;
  const inputs = node.input ?? [];
  if (inputs.length < 3 || inputs.slice(3).some((name) => name !== "")) return false; // zero points, g_idx or bias
  const weights = initializers.get(inputs[1]);
  const scales = initializers.get(inputs[2]);
  return weights?.dataType === onnx.TensorProto.DataType.UINT8 && scales?.dataType === onnx.TensorProto.DataType.FLOAT;
}
