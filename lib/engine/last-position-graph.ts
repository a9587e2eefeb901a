/**
 * The graph rewrite that runs the lm_head on the last position of each run only.
 *
 * The genai export computes logits for every input position: a prompt chunk of n tokens multiplies
 * n hidden states by the vocab x hidden lm_head (200064 x 3072 for Phi-4-mini, about 16% of the
 * model's weights) and writes an n x vocab tensor, of which the decode loop reads only the last row.
 * Inserting `Slice(axis 1, from the end)` in front of the lm_head MatMul removes that work from
 * prefill (and the n x vocab allocation) and changes nothing else: nearly every engine run, a prompt
 * chunk or a batched decode step (one token per row), needs exactly the last position of each row.
 * Where the slice starts is a graph input (LOGITS_START_INPUT, `-rows`) that the addon feeds on every
 * run: -1 normally, and -(k+1) for a speculative step that verifies k drafted tokens, which needs the
 * logits of its last k+1 positions (docs/speculative.md).
 */
import onnxProto from "onnx-proto";

import { LOGITS_START_INPUT } from "./logits-start.js";

const { onnx } = onnxProto;

/** Ops the walk from the logits output back to the lm_head may pass through (they act per position). */
const PASS_THROUGH = new Set(["Cast", "Identity"]);
/** The lm_head itself: a position-wise matrix product of the hidden states (input 0) with a weight. */
const LM_HEAD_OPS = new Set(["MatMul", "MatMulNBits"]);

const NAME = "phi4_onnx/last_position";

/**
 * Restricts the lm_head of `graph` to the last position; false (graph untouched) when the graph does
 * not have the expected shape: logits produced by a MatMul of the hidden states, possibly through Casts.
 */
export function sliceLmHead(graph: onnxProto.onnx.IGraphProto, logitsName: string): boolean {
  const producer = new Map<string, onnxProto.onnx.INodeProto>();
  for (const node of graph.node ?? []) for (const output of node.output ?? []) producer.set(output, node);

  let node = producer.get(logitsName);
  while (node && PASS_THROUGH.has(node.opType ?? "")) node = producer.get(node.input?.[0] ?? "");
  if (!node || !LM_HEAD_OPS.has(node.opType ?? "") || !node.input?.[0]) return false;
  const logitsOutput = graph.output?.find((o) => o.name === logitsName);
  const dims = logitsOutput?.type?.tensorType?.shape?.dim;
  if (!dims || dims.length !== 3) return false;

  const int64 = (suffix: string, value: number) =>
    onnx.TensorProto.create({ name: `${NAME}/${suffix}`, dataType: onnx.TensorProto.DataType.INT64, dims: [1], int64Data: [value] });
  graph.initializer = [...(graph.initializer ?? []), int64("ends", Number.MAX_SAFE_INTEGER), int64("axes", 1)];
  const start = onnx.ValueInfoProto.create({
    name: LOGITS_START_INPUT,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.INT64, shape: { dim: [{ dimValue: 1 }] } } },
  });
  graph.input = [...(graph.input ?? []), start];
  const hidden = node.input[0];
  const sliced = `${NAME}/hidden`;
  const slice = onnx.NodeProto.create({ name: NAME, opType: "Slice", input: [hidden, LOGITS_START_INPUT, `${NAME}/ends`, `${NAME}/axes`], output: [sliced] });
  const nodes = graph.node ?? [];
  nodes.splice(nodes.indexOf(node), 0, slice);
  node.input[0] = sliced;
  // The output now has as many positions per row as the run asks for, not the input's "sequence_length".
  dims[1] = onnx.TensorShapeProto.Dimension.create({ dimParam: "logits_rows" });
  return true;
}
