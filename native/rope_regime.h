// The LongRoPE regime rule (Phi-3 / Phi-4), in one place for every run of the addon.
//
// The graph picks one of two cos/sin caches with an If on attention_mask.shape[1] > original context
// length. KV built under one cache is wrong under the other, so a sequence records the regime its KV
// was built under and is recomputed when a run changes it.
#pragma once

#include <algorithm>
#include <cstddef>

#include "model_core.h"

namespace phi4 {

// Whether a sequence of `length` positions runs under the long cache.
inline bool LongRopeRegime(const ModelSpec& spec, size_t length) {
  return spec.ropeOriginalLength > 0 && length > static_cast<size_t>(spec.ropeOriginalLength);
}

// Columns of the attention mask for a run whose longest row reaches `total` positions. Under the long
// regime the mask is right-padded with zeros to one past the switch length: the graph derives
// seqlens_k from the mask's sum (the real length) and picks the cos/sin cache from its width, so every
// run of a long sequence (prefill chunks from position 0, batched rows) uses the long cache.
inline int MaskWidth(const ModelSpec& spec, bool longRope, int total) { return longRope ? std::max(total, spec.ropeOriginalLength + 1) : total; }

}  // namespace phi4
