/**
 * A load-time rewrite of model.onnx so the lm_head runs on the last position of each run only.
 *
 * The genai export computes logits for every input position: a prompt chunk of n tokens multiplies
 * n hidden states by the vocab x hidden lm_head (200064 x 3072 for Phi-4-mini, about 16% of the
 * model's weights) and writes an n x vocab tensor, of which the decode loop reads only the last row.
 * Inserting `Slice(axis 1, last)` in front of the lm_head MatMul removes that work from prefill (and
 * the n x vocab allocation) and changes nothing else: every engine run, a prompt chunk or a batched
 * decode step (one token per row), needs exactly the last position of each row.
 *
 * The rewritten graph goes to ONNX Runtime as bytes; the weights stay in the external data file,
 * which ONNX Runtime reads from the model folder as before. The file on disk is never changed.
 */
import { readFile, stat } from "node:fs/promises";

import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

/** model.onnx files above this hold their weights inline; re-encoding them costs more than it saves at load. */
const MAX_GRAPH_BYTES = 512 * 1024 * 1024;

/** Ops the walk from the logits output back to the lm_head may pass through (they act per position). */
const PASS_THROUGH = new Set(["Cast", "Identity"]);
/** The lm_head itself: a position-wise matrix product of the hidden states (input 0) with a weight. */
const LM_HEAD_OPS = new Set(["MatMul", "MatMulNBits"]);

const NAME = "phi4_onnx/last_position";

/**
 * The graph of `modelPath` with the lm_head restricted to the last position, serialized, or null when
 * the graph does not have the expected shape (logits produced by a MatMul of the hidden states,
 * possibly through Casts) or is not readable: such a file is then loaded as it is.
 */
export async function lastPositionGraph(modelPath: string, logitsName: string): Promise<Uint8Array | null> {
  if ((await stat(modelPath)).size > MAX_GRAPH_BYTES) return null;
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(await readFile(modelPath));
  } catch {
    return null; // not a readable ONNX file: loading it as it is gives ONNX Runtime's own error
  }
  const graph = model.graph;
  if (!graph) return null;
  const producer = new Map<string, onnxProto.onnx.INodeProto>();
  for (const node of graph.node ?? []) for (const output of node.output ?? []) producer.set(output, node);

  let node = producer.get(logitsName);
  while (node && PASS_THROUGH.has(node.opType ?? "")) node = producer.get(node.input?.[0] ?? "");
  if (!node || !LM_HEAD_OPS.has(node.opType ?? "") || !node.input?.[0]) return null;
  const logitsOutput = graph.output?.find((o) => o.name === logitsName);
  const dims = logitsOutput?.type?.tensorType?.shape?.dim;
  if (!dims || dims.length !== 3) return null;

  const int64 = (suffix: string, value: number) => onnx.TensorProto.create({ name: `${NAME}/${suffix}`, dataType: onnx.TensorProto.DataType.INT64, dims: [1], int64Data: [value] });
  graph.initializer = [...(graph.initializer ?? []), int64("starts", -1), int64("ends", Number.MAX_SAFE_INTEGER), int64("axes", 1)];
  const hidden = node.input[0];
  const sliced = `${NAME}/hidden`;
  const slice = onnx.NodeProto.create({ name: NAME, opType: "Slice", input: [hidden, `${NAME}/starts`, `${NAME}/ends`, `${NAME}/axes`], output: [sliced] });
  const nodes = graph.node ?? [];
  nodes.splice(nodes.indexOf(node), 0, slice);
  node.input[0] = sliced;
  // The output now has one position per row; a symbolic "sequence_length" there would be wrong.
  dims[1] = onnx.TensorShapeProto.Dimension.create({ dimValue: 1 });
  return onnx.ModelProto.encode(model).finish();
}
