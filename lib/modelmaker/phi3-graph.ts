// The decoder graph of onnxruntime-genai's builder for Phi-3/Phi-4-mini (Phi3MiniLongRoPEModel), int4:
// node names, op types, domains, attributes and I/O as the builder and onnxruntime's MatMulNBits
// quantizer emit them, with random weights in place of the checkpoint's.
//
// Two flavours, as the builder's io_dtype makes them:
// - fp32: the CPU export (cpu-int4-rtn-block-32-acc-level-4). Everything float is float32;
//   MatMulNBits accuracy_level 4 (the builder's default for the cpu and webgpu EPs).
// - fp16: the GPU exports (gpu-int4-rtn-block-32 for CUDA and DirectML; WebGPU is the same graph with
//   accuracy_level 4). past/present KV, logits, activations, the embedding table, norm weights,
//   MatMulNBits scales and the cos/sin caches in the If branches are float16; MatMulNBits has
//   accuracy_level 0 (the builder's default for cuda and dml). The graph is otherwise node for node
//   the fp32 one: the same names, ops, attributes and I/O shapes.
//
// The fp16 graph holds no Cast nodes that a GPU export lacks. onnxruntime 1.30's CPU EP has fp16
// kernels for Gather, SimplifiedLayerNormalization, SkipSimplifiedLayerNormalization, MatMulNBits,
// GroupQueryAttention and If, but none for Sigmoid and Mul (the SiLU and the gate product). For those
// two, onnxruntime inserts Casts itself when it creates a CPU session ("InsertedPrecisionFreeCast_*":
// fp16 -> fp32, the op in fp32, fp32 -> fp16), so the model runs on CPU as written and the result is
// what an fp16 kernel that computes in fp32 and rounds its output gives. test/fp16-model.test.ts
// checks that this is still the only change the CPU session makes.

import { BLOCK } from "./quantize.js";
import { toFloat16 } from "./float16.js";
import { attr, DataType, GraphBuilder, inlineTensor, valueInfo, type BuiltGraph, type GraphProto, type TensorSpec } from "./graph-builder.js";
import type { ModelPrecision, ModelShape } from "./presets.js";
import { phi3Weights, type Int4MatMul } from "./phi3-weights.js";
import { longFactors, ropeCache, shortFactors, type RopeCache } from "./rope.js";
import { floatType } from "./weights.js";

const MS_DOMAIN = "com.microsoft";

/** Graph I/O names; genai_config.json's inputs/outputs blocks point at these. */
export const IO_NAMES = {
  inputIds: "input_ids",
  attentionMask: "attention_mask",
  pastKey: "past_key_values.%d.key",
  pastValue: "past_key_values.%d.value",
  logits: "logits",
  presentKey: "present.%d.key",
  presentValue: "present.%d.value",
} as const;

const layerName = (pattern: string, layer: number) => pattern.replace("%d", String(layer));

export interface Phi3GraphOptions {
  shape: ModelShape;
  vocabSize: number;
  seed: number;
  /** fp32 (default): the CPU export; fp16: the GPU exports (see the top of this file). */
  precision?: ModelPrecision;
}

/** MatMulNBits accuracy_level the builder uses for each flavour (its cpu and cuda/dml defaults). */
export const ACCURACY_LEVEL: Record<ModelPrecision, number> = { fp32: 4, fp16: 0 };

export function buildPhi3Graph({ shape, vocabSize, seed, precision = "fp32" }: Phi3GraphOptions): BuiltGraph {
  const g = new GraphBuilder();
  const float = floatType(precision);
  const accuracyLevel = ACCURACY_LEVEL[precision];
  const kvDims = ["batch_size", shape.numKvHeads, "past_sequence_length", shape.headSize];
  const presentDims = ["batch_size", shape.numKvHeads, "total_sequence_length", shape.headSize];

  g.inputs.push(valueInfo(IO_NAMES.inputIds, DataType.INT64, ["batch_size", "sequence_length"]));
  g.inputs.push(valueInfo(IO_NAMES.attentionMask, DataType.INT64, ["batch_size", "total_sequence_length"]));
  g.outputs.push(valueInfo(IO_NAMES.logits, float, ["batch_size", "sequence_length", vocabSize]));
  for (let i = 0; i < shape.numLayers; i++) {
    g.inputs.push(valueInfo(layerName(IO_NAMES.pastKey, i), float, kvDims));
    g.inputs.push(valueInfo(layerName(IO_NAMES.pastValue, i), float, kvDims));
    g.outputs.push(valueInfo(layerName(IO_NAMES.presentKey, i), float, presentDims));
    g.outputs.push(valueInfo(layerName(IO_NAMES.presentValue, i), float, presentDims));
  }

  const { seqlensK, totalSeqLen, totalSeqLenInt64 } = attentionMaskSubgraph(g);
  const [cosCache, sinCache] = ropeCacheSwitch(g, shape, totalSeqLenInt64, precision);

  const weights = phi3Weights(shape, vocabSize, seed, precision);
  // MatMulNBits as onnxruntime's quantizer leaves it: node `<MatMul name>_Q4`, output named after the float MatMul.
  const matmul = (m: Int4MatMul, input: string, output = `${m.node}/output_0`): string =>
    matmulNBits(g, m.node, [input, g.initializer(m.weight), g.initializer(m.scales)], m.k, m.n, output, accuracyLevel);

  const embedName = g.initializer(weights.embedding);
  let root = g.op("Gather", "/model/embed_tokens/Gather", [embedName, IO_NAMES.inputIds]);
  let skip = root;

  // Residual stream as the builder threads it: each SkipSimplifiedLayerNormalization adds `skip` to
  // `root`, normalizes, and its 4th output (the sum) becomes the next `root`.
  const norm = (layer: number, location: string, spec: TensorSpec, last = false): string => {
    const weight = g.initializer(spec);
    const base = `/model/layers.${layer}/${location}_layernorm`;
    const out0 = `${base}/output_0`;
    if (layer === 0 && location === "input") {
      g.node(
        "SimplifiedLayerNormalization",
        `${base}/LayerNorm`,
        [root, weight],
        [out0],
        [attr.float("epsilon", shape.rmsNormEps), attr.int("axis", -1), attr.int("stash_type", 1)],
      );
      return out0;
    }
    const out3 = `${base}/output_3`;
    const outputs = last ? [out0] : [out0, "", "", out3];
    g.node("SkipSimplifiedLayerNormalization", `${base}/SkipLayerNorm`, [root, skip, weight], outputs, [attr.float("epsilon", shape.rmsNormEps)], MS_DOMAIN);
    if (!last) root = out3;
    return out0;
  };

  weights.layers.forEach((layer, i) => {
    const attnIn = norm(i, "input", layer.inputNorm);
    const qkv = matmul(layer.qkv, attnIn);
    const gqaName = `/model/layers.${i}/attn/GroupQueryAttention`;
    const [attnOut] = g.node(
      "GroupQueryAttention",
      gqaName,
      [qkv, "", "", layerName(IO_NAMES.pastKey, i), layerName(IO_NAMES.pastValue, i), seqlensK, totalSeqLen, cosCache, sinCache],
      [`${gqaName}/output_0`, layerName(IO_NAMES.presentKey, i), layerName(IO_NAMES.presentValue, i)],
      [
        attr.int("num_heads", shape.numHeads),
        attr.int("kv_num_heads", shape.numKvHeads),
        attr.float("scale", 1 / Math.sqrt(shape.headSize)),
        attr.int("local_window_size", shape.slidingWindow),
        attr.int("do_rotary", 1),
        attr.int("rotary_interleaved", 0),
      ],
      MS_DOMAIN,
    );
    skip = matmul(layer.o, attnOut);

    const mlpIn = norm(i, "post_attention", layer.postAttentionNorm);
    const mlp = `/model/layers.${i}/mlp`;
    const gate = matmul(layer.gate, mlpIn);
    const up = matmul(layer.up, mlpIn);
    const sigmoid = g.op("Sigmoid", `${mlp}/act_fn/Sigmoid`, [gate]);
    const silu = g.op("Mul", `${mlp}/act_fn/Mul`, [gate, sigmoid]);
    const product = g.op("Mul", `${mlp}/Mul`, [silu, up]);
    skip = matmul(layer.down, product);
  });

  const finalOut = norm(shape.numLayers, "final_norm", weights.finalNorm, true);
  // Tied embeddings: lm_head is the int4 quantization of the embedding table itself.
  matmul(weights.lmHead, finalOut, IO_NAMES.logits);

  return g.build("main_graph");
}

function matmulNBits(g: GraphBuilder, name: string, inputs: string[], k: number, n: number, output: string, accuracyLevel: number): string {
  return g.node(
    "MatMulNBits",
    `${name}_Q4`,
    inputs,
    [output],
    [attr.int("K", k), attr.int("N", n), attr.int("bits", 4), attr.int("block_size", BLOCK), attr.int("accuracy_level", accuracyLevel)],
    MS_DOMAIN,
  )[0];
}

/**
 * GQA's length inputs from the 2-D mask: seqlens_k = Cast<int32>(ReduceSum(mask, [1]) - 1) (tokens
 * before the last one, per row) and total_seq_len = Cast<int32>(Shape(mask)[1]).
 */
function attentionMaskSubgraph(g: GraphBuilder) {
  const base = "/model/attn_mask_reformat/attn_mask_subgraph";
  const sum = g.op("ReduceSum", `${base}/ReduceSum`, [IO_NAMES.attentionMask, g.int64Constant("[1]")], [attr.int("keepdims", 0)]);
  const sub = g.op("Sub", `${base}/Sub`, [sum, g.int64Constant("1")]);
  const seqlensK = g.op("Cast", `${base}/Sub/Cast`, [sub], [attr.int("to", DataType.INT32)]);
  const shape = g.op("Shape", `${base}/Shape`, [IO_NAMES.attentionMask]);
  const totalSeqLenInt64 = g.op("Gather", `${base}/Gather`, [shape, g.int64Constant("1")], [attr.int("axis", 0)]);
  const totalSeqLen = g.op("Cast", `${base}/Gather/Cast`, [totalSeqLenInt64], [attr.int("to", DataType.INT32)]);
  return { seqlensK, totalSeqLen, totalSeqLenInt64 };
}

/**
 * LongRoPE cache choice: If(total_seq_len > original_max_position_embeddings) yields the long-factor
 * caches, else the short ones; each branch is two Constant nodes, as in the builder, in the folder's
 * float type (the builder casts the caches to io_dtype).
 */
function ropeCacheSwitch(g: GraphBuilder, shape: ModelShape, totalSeqLen: string, precision: ModelPrecision): string[] {
  const base = "/model/rotemb_caches_subgraph";
  const threshold = g.int64Constant(String(shape.originalMaxPositionEmbeddings));
  const greater = g.op("Greater", `${base}/Greater`, [totalSeqLen, threshold]);
  const large = ropeCache(shape, longFactors(shape), shape.maxPositionEmbeddings);
  const small = ropeCache(shape, shortFactors(shape), shape.originalMaxPositionEmbeddings);
  return g.node(
    "If",
    `${base}/If`,
    [greater],
    ["cos_cache", "sin_cache"],
    [attr.graph("then_branch", cacheBranch("large", large, precision)), attr.graph("else_branch", cacheBranch("small", small, precision))],
  );
}

function cacheBranch(size: "large" | "small", cache: RopeCache, precision: ModelPrecision): GraphProto {
  const dims = [cache.rows, cache.width];
  const float = floatType(precision);
  const constant = (kind: "cos" | "sin", values: Float32Array) => {
    const output = `${kind}_cache_${size}`;
    const data = precision === "fp16" ? toFloat16(values) : values;
    return {
      node: {
        opType: "Constant",
        name: `/${size}/${kind}_cache/Constant`,
        input: [],
        output: [output],
        attribute: [attr.tensor("value", inlineTensor(output, float, dims, data))],
        domain: "",
      },
      output: valueInfo(output, float, dims),
    };
  };
  const cos = constant("cos", cache.cos);
  const sin = constant("sin", cache.sin);
  return { name: `${size}_rotemb_caches_graph`, node: [cos.node, sin.node], output: [cos.output, sin.output] };
}
