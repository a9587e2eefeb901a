// The random tensors of the phi3 network, named as the genai builder and onnxruntime's MatMulNBits
// quantizer name them. This is the one place that says which tensors a preset and seed have: the ONNX
// graph (phi3-graph.ts) and the GGUF file (gguf/) both read these specs, so the two files hold the same
// weights. Each spec regenerates its bytes from a (seed, name) stream whenever it is read.

import type { TensorSpec } from "./graph-builder.js";
import { qkvSize, type ModelPrecision, type ModelShape } from "./presets.js";
import { embedding, normWeight, randomInt4Scales, randomInt4Weight, tiedLmHead } from "./weights.js";

/** An int4 MatMulNBits weight: B uint8 [N, K/32, 16] and its scales [N * K/32]. */
export interface Int4MatMul {
  /** Name of the float MatMul node the quantizer replaced (the MatMulNBits node is this plus `_Q4`). */
  node: string;
  k: number;
  n: number;
  weight: TensorSpec;
  scales: TensorSpec;
}

export interface Phi3LayerWeights {
  inputNorm: TensorSpec;
  qkv: Int4MatMul;
  o: Int4MatMul;
  postAttentionNorm: TensorSpec;
  gate: Int4MatMul;
  up: Int4MatMul;
  down: Int4MatMul;
}

export interface Phi3Weights {
  /** [vocab, hidden], read by the Gather. */
  embedding: TensorSpec;
  layers: Phi3LayerWeights[];
  finalNorm: TensorSpec;
  /** Tied: the int4 quantization of the embedding table (row v is output column v). */
  lmHead: Int4MatMul;
}

export function phi3Weights(shape: ModelShape, vocabSize: number, seed: number, precision: ModelPrecision = "fp32"): Phi3Weights {
  const h = shape.hiddenSize;
  // As onnxruntime's quantizer leaves a MatMul: B and scales named after the float weight `<path>.weight`.
  const matmul = (node: string, k: number, n: number): Int4MatMul => {
    const weight = `${node.slice(1).replaceAll("/", ".")}.weight`;
    return { node, k, n, weight: randomInt4Weight(`${weight}_Q4`, n, k, seed), scales: randomInt4Scales(`${weight}_scales`, n, k, seed, precision) };
  };
  const norm = (layer: number, location: string) => normWeight(`model.layers.${layer}.${location}_layernorm.weight`, h, seed, precision);

  const embed = embedding("model.embed_tokens.weight", vocabSize, h, seed, precision);
  const layers = Array.from({ length: shape.numLayers }, (_, i): Phi3LayerWeights => {
    const mlp = `/model/layers.${i}/mlp`;
    return {
      inputNorm: norm(i, "input"),
      qkv: matmul(`/model/layers.${i}/attn/qkv_proj/MatMul`, h, qkvSize(shape)),
      o: matmul(`/model/layers.${i}/attn/o_proj/MatMul`, shape.numHeads * shape.headSize, h),
      postAttentionNorm: norm(i, "post_attention"),
      gate: matmul(`${mlp}/gate_proj/MatMul`, h, shape.intermediateSize),
      up: matmul(`${mlp}/up_proj/MatMul`, h, shape.intermediateSize),
      down: matmul(`${mlp}/down_proj/MatMul`, shape.intermediateSize, h),
    };
  });
  const lmHead = tiedLmHead("lm_head.MatMul.weight_Q4", "lm_head.MatMul.weight_scales", embed.name, vocabSize, h, seed, precision);
  return {
    embedding: embed,
    layers,
    finalNorm: norm(shape.numLayers, "final_norm"),
    lmHead: { node: "/lm_head/MatMul", k: h, n: vocabSize, ...lmHead },
  };
}
