// The ONNX Runtime custom op that runs int4_matmul.h's kernel: "Int4MatMul" in the "phi4_onnx"
// domain (custom_ops.h), a drop-in for MatMulNBits nodes with 4 bits, block 32, accuracy level 4
// and no zero points (inputs A, B, scales; attributes K and N). lib/engine/int4-kernel-graph.ts
// points such nodes at it when the model loads. Where B and scales lie in the external data file, the
// rewrite takes them out of the graph and names them instead (attributes weights_path,
// weights_offset, scales_path, scales_offset: int4_weights_file.h), so that ONNX Runtime never loads
// them. An optional `variant` attribute names the micro-kernel set (default: the fastest here). Either way the kernel packs the weights once, at load
// (int4_matmul.h).
#pragma once

#include "ort_api.h"

namespace phi4 {

inline constexpr const char* kInt4OpName = "Int4MatMul";

const OrtCustomOp& Int4MatMulOp();

}  // namespace phi4
