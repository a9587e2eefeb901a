// The network of a model-maker preset as a GGUF of llama.cpp's "phi3" architecture, holding the same
// weights as the ONNX folder of the same preset and seed (phi3-weights.ts). What llama.cpp's phi3
// loader and graph read (src/models/phi3 and llama-model.cpp's hparams), and how the ONNX graph maps:
//   token_embd [hidden, vocab] F32         model.embed_tokens (Gather input, fp32 in the CPU export)
//   output     [hidden, vocab] Q4_0        lm_head MatMulNBits: the int4 copy of the embedding, kept as
//                                          its own tensor because the ONNX model's lm_head is that copy,
//                                          not the fp32 table llama.cpp would reuse if it were absent
//   output_norm, blk.N.attn_norm, blk.N.ffn_norm  F32   the RMSNorm weights (final, input, post-attention)
//   blk.N.attn_qkv [hidden, q + 2 kv] Q4_0 qkv_proj: rows Q heads, then K, then V, the order GQA's packed
//                                          input and llama.cpp's split both use
//   blk.N.attn_output Q4_0                 o_proj
//   blk.N.ffn_up [hidden, 2 * ff] Q4_0     gate_proj rows, then up_proj rows: llama.cpp's phi3 FFN is
//                                          SWIGLU over one fused tensor, silu(first half) * second half,
//                                          as Hugging Face's gate_up_proj; the ONNX graph has
//                                          silu(gate) * up from two MatMuls
//   blk.N.ffn_down Q4_0                    down_proj
//   rope_factors_long / rope_factors_short [rotary/2] F32: the LongRoPE frequency divisors the ONNX
//     caches were built with. llama.cpp picks long when the context per sequence exceeds
//     rope.scaling.original_context_length, where the ONNX graph switches on the current length
//     (attention_mask width): the two agree for a sequence when the context is sized to the regime.
//   rope.scaling.attn_factor: the "su" magnitude scale the ONNX cos/sin caches carry (both caches), as
//     llama.cpp multiplies its cos/sin by it. rope.dimension_count is the rotated width per head (partial
//     rotary); llama.cpp's phi3 rope is NEOX style, rotating halves as GQA's rotary_interleaved 0 does.
//   Q is scaled by 1/sqrt(head_size) in both. No sliding window is written: the ONNX GQA window (262144)
//   exceeds every context, and llama.cpp's phi3 disables windows anyway.

import type { TensorSpec } from "../graph-builder.js";
import { DataType } from "../graph-builder.js";
import type { Phi3Weights, Int4MatMul } from "../phi3-weights.js";
import { rotaryDim, type ModelShape } from "../presets.js";
import { longFactors, ropeScale, shortFactors } from "../rope.js";
import { gguf, GgmlType, type GgufTensor, type GgufValue } from "./format.js";
import { q4_0Chunks, readScales } from "./q4-0.js";

const ARCH = "phi3";
/** llama_ftype LLAMA_FTYPE_MOSTLY_Q4_0: the matrices are Q4_0 (the embedding and norms stay F32). */
const FTYPE_MOSTLY_Q4_0 = 2;

export function phi3Metadata(shape: ModelShape, name: string): [string, GgufValue][] {
  const key = (k: string) => `${ARCH}.${k}`;
  return [
    ["general.architecture", gguf.string(ARCH)],
    ["general.name", gguf.string(name)],
    ["general.file_type", gguf.u32(FTYPE_MOSTLY_Q4_0)],
    ["general.quantization_version", gguf.u32(2)],
    [key("context_length"), gguf.u32(shape.maxPositionEmbeddings)],
    [key("embedding_length"), gguf.u32(shape.hiddenSize)],
    [key("feed_forward_length"), gguf.u32(shape.intermediateSize)],
    [key("block_count"), gguf.u32(shape.numLayers)],
    [key("attention.head_count"), gguf.u32(shape.numHeads)],
    [key("attention.head_count_kv"), gguf.u32(shape.numKvHeads)],
    [key("attention.key_length"), gguf.u32(shape.headSize)],
    [key("attention.value_length"), gguf.u32(shape.headSize)],
    [key("attention.layer_norm_rms_epsilon"), gguf.f32(shape.rmsNormEps)],
    [key("rope.dimension_count"), gguf.u32(rotaryDim(shape))],
    [key("rope.freq_base"), gguf.f32(shape.ropeTheta)],
    [key("rope.scaling.original_context_length"), gguf.u32(shape.originalMaxPositionEmbeddings)],
    [key("rope.scaling.attn_factor"), gguf.f32(ropeScale(shape))],
  ];
}

export function phi3Tensors(shape: ModelShape, weights: Phi3Weights): GgufTensor[] {
  const blocks = weights.layers.flatMap((layer, i) => [
    f32Tensor(`blk.${i}.attn_norm.weight`, layer.inputNorm),
    q4_0Tensor(`blk.${i}.attn_qkv.weight`, [layer.qkv]),
    q4_0Tensor(`blk.${i}.attn_output.weight`, [layer.o]),
    f32Tensor(`blk.${i}.ffn_norm.weight`, layer.postAttentionNorm),
    q4_0Tensor(`blk.${i}.ffn_up.weight`, [layer.gate, layer.up]),
    q4_0Tensor(`blk.${i}.ffn_down.weight`, [layer.down]),
  ]);
  return [
    f32Tensor("token_embd.weight", weights.embedding),
    f32Values("rope_factors_long.weight", longFactors(shape)),
    f32Values("rope_factors_short.weight", shortFactors(shape)),
    ...blocks,
    f32Tensor("output_norm.weight", weights.finalNorm),
    q4_0Tensor("output.weight", [weights.lmHead]),
  ];
}

/** An fp32 ONNX initializer as an F32 tensor: the same bytes, the dimensions in ggml's order. */
function f32Tensor(name: string, spec: TensorSpec): GgufTensor {
  if (spec.dataType !== DataType.FLOAT) throw new Error(`${spec.name}: the GGUF writer takes the fp32 (CPU) export's weights`);
  return { name, dims: [...spec.dims].reverse(), type: GgmlType.F32, chunks: () => spec.chunks() };
}

function f32Values(name: string, values: number[]): GgufTensor {
  return { name, dims: [values.length], type: GgmlType.F32, chunks: () => [new Uint8Array(Float32Array.from(values).buffer)] };
}

/** One Q4_0 tensor of the rows of `parts` in order (all with the same K). */
function q4_0Tensor(name: string, parts: Int4MatMul[]): GgufTensor {
  const k = parts[0].k;
  if (parts.some((p) => p.k !== k)) throw new Error(`${name}: parts with different row lengths`);
  return {
    name,
    dims: [k, parts.reduce((n, p) => n + p.n, 0)],
    type: GgmlType.Q4_0,
    *chunks() {
      // Scales first: a tied lm_head's scales come from a pass over the embedding stream.
      for (const part of parts) yield* q4_0Chunks(part.weight.chunks(), readScales(part.scales));
    },
  };
}
