/**
 * The graph rewrite that runs int4 matrix products on the addon's own CPU kernel
 * (native/int4_matmul.h): each MatMulNBits node it can run becomes a phi4_onnx.Int4MatMul node with
 * the same attributes and output.
 *
 * It takes the nodes of Phi-4-mini's CPU export: 4 bits, blocks of 32, accuracy level 4 (int8
 * activations, which is what the kernel computes), float activations and scales, no zero points,
 * g_idx or bias, and K a multiple of 64. Any other node stays with ONNX Runtime.
 *
 * The kernel packs the weights into its own layout at load. Where a node's weights and scales lie in
 * the external data file (as in every real export), the rewrite takes them out of the graph and names
 * their file and offsets in attributes instead: ONNX Runtime then never loads them, and memory holds
 * the weights once, packed. Weights held inline stay inputs of the node.
 */
import path from "node:path";

import onnxProto from "onnx-proto";

import { CUSTOM_OP_DOMAIN, importCustomOpDomain } from "./custom-op-domain.js";

const { onnx } = onnxProto;

const INT4_OP = "Int4MatMul";

/**
 * Switches every eligible MatMulNBits node of `model` (read from `modelDir`) to the kernel, on
 * `variant` if given (else the fastest the CPU runs); returns how many.
 */
export function useInt4Kernel(model: onnxProto.onnx.IModelProto, modelDir: string, variant?: string): number {
  const graph = model.graph;
  if (!graph) return 0;
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? "", t]));
  const consumers = new Map<string, number>();
  for (const node of graph.node ?? []) for (const input of node.input ?? []) consumers.set(input, (consumers.get(input) ?? 0) + 1);
  const dropped = new Set<string>();
  let count = 0;
  for (const node of graph.node ?? []) {
    if (!eligible(node, initializers)) continue;
    node.domain = CUSTOM_OP_DOMAIN;
    node.opType = INT4_OP;
    node.input = node.input!.slice(0, 3);
    if (variant) node.attribute = [...(node.attribute ?? []), stringAttribute("variant", variant)];
    const [, weightsName, scalesName] = node.input;
    const weights = externalRange(initializers.get(weightsName)!, modelDir);
    const scales = externalRange(initializers.get(scalesName)!, modelDir);
    if (weights && scales && consumers.get(weightsName) === 1 && consumers.get(scalesName) === 1) {
      node.input = node.input.slice(0, 1);
      node.attribute = [
        ...(node.attribute ?? []),
        stringAttribute("weights_path", weights.path),
        intAttribute("weights_offset", weights.offset),
        stringAttribute("scales_path", scales.path),
        intAttribute("scales_offset", scales.offset),
      ];
      dropped.add(weightsName).add(scalesName);
    }
    count++;
  }
  if (dropped.size > 0) graph.initializer = (graph.initializer ?? []).filter((t) => !dropped.has(t.name ?? ""));
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

/**
 * Where an external initializer's bytes start: its file (inside the model folder, as ONNX Runtime
 * requires) and offset; null for an inline tensor, or one whose entry the kernel cannot vouch for
 * (a length that does not match its shape, a file outside the folder).
 */
function externalRange(tensor: onnxProto.onnx.ITensorProto, modelDir: string): { path: string; offset: number } | null {
  if (tensor.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) return null;
  const entry = (key: string) => tensor.externalData?.find((e) => e.key === key)?.value;
  const location = entry("location");
  if (!location || path.isAbsolute(location)) return null;
  const file = path.resolve(modelDir, location);
  if (path.relative(modelDir, file).startsWith("..")) return null;
  const elements = (tensor.dims ?? []).reduce<number>((product, d) => product * Number(d), 1);
  const bytes = elements * (tensor.dataType === onnx.TensorProto.DataType.FLOAT ? 4 : 1);
  const length = entry("length");
  if (length !== undefined && Number(length) !== bytes) return null;
  const offset = Number(entry("offset") ?? 0);
  return Number.isSafeInteger(offset) && offset >= 0 ? { path: file, offset } : null;
}

function stringAttribute(name: string, value: string): onnxProto.onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(value) };
}

function intAttribute(name: string, value: number): onnxProto.onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
}
