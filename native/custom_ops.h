// The ONNX Runtime custom ops of the "phi4_onnx" domain, which load-time graph rewrites point nodes
// at (lib/engine/graph-rewrites.ts): Int4MatMul (int4_matmul_op.h) for eligible MatMulNBits nodes
// and Attention (attention_op.h) for eligible GroupQueryAttention nodes.
#pragma once

#include <memory>
#include <string>

#include "ort_api.h"

namespace phi4 {

inline constexpr const char* kCustomOpDomain = "phi4_onnx";

struct OrtCustomOpDomainDeleter {
  void operator()(OrtCustomOpDomain* d) const {
    if (d) Ort().ReleaseCustomOpDomain(d);
  }
};
using CustomOpDomainPtr = std::unique_ptr<OrtCustomOpDomain, OrtCustomOpDomainDeleter>;

// Registers every op of the domain with `options`. The returned domain must outlive every session
// made with them.
CustomOpDomainPtr AddCustomOpDomain(OrtSessionOptions* options);

// Shared by the ops: an ORT_INVALID_ARGUMENT status naming the op.
OrtStatus* CustomOpError(const OrtApi* api, const char* op, const std::string& message);

// The fields every op of the domain fills alike: CPU provider, versions, variadic defaults.
OrtCustomOp CustomOpBase();

}  // namespace phi4
