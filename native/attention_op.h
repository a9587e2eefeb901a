// The ONNX Runtime custom op that runs attention.h's kernel: "Attention" in the "phi4_onnx" domain
// (custom_ops.h), a drop-in for the genai export's GroupQueryAttention nodes with fp32 tensors,
// packed QKV, rotary inside (non-interleaved), no softcap, and past and present sharing one KV
// buffer (the engine binds them so). lib/engine/attention-graph.ts points such nodes at it.
// "AttentionHalfKv" is the same op over an fp16 KV cache (past and present fp16, everything else
// fp32): the rewrite's choice for models loaded with kvType float16.
#pragma once

#include "ort_api.h"

namespace phi4 {

inline constexpr const char* kAttentionOpName = "Attention";
inline constexpr const char* kAttentionHalfKvOpName = "AttentionHalfKv";

const OrtCustomOp& AttentionOp();
const OrtCustomOp& AttentionHalfKvOp();

}  // namespace phi4
