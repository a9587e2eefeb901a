// One decode step for several sequences of a context in one ORT run (continuous batching).
#pragma once

#include <vector>

#include "sampler.h"
#include "sequence_core.h"

namespace phi4 {

struct BatchMember {
  SequenceCore* sequence;
  int32_t token;  // the token to append (the one sampled last step)
  SamplingParams params;
  int32_t next = -1;  // the token sampled after it
};

// Appends each member's token and samples its next one. Members share one run per RoPE regime; a
// member whose step would change its regime (or whose KV is not current) runs on its own, since that
// needs a full re-prefill.
void DecodeBatch(KvPool& pool, std::vector<BatchMember>& members);

}  // namespace phi4
