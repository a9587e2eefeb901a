// Int4MatMul's weights read straight from the model's external data file (model.onnx.data) and
// packed at load. The graph rewrite (lib/engine/int4-kernel-graph.ts) takes a node's weights and
// scales out of the graph and names where they lie instead, so ONNX Runtime never loads them: RSS
// holds the weights once, in the kernels' layout.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "int4_matmul.h"

namespace phi4::int4 {

// Where a tensor's bytes start in a file.
struct FileRange {
  std::string path;
  uint64_t offset = 0;
};

// MatMulNBits' data ([n][k / 32][16] bytes at `data`) and fp32 scales ([n][k / 32] at `scales`),
// packed. Nodes (and sessions of one process) that name the same bytes of the same unchanged file
// share one copy. On failure returns null and says why in `error`.
std::shared_ptr<const PackedWeights> LoadPackedWeights(const FileRange& data, const FileRange& scales, size_t n, size_t k, std::string* error);

}  // namespace phi4::int4
