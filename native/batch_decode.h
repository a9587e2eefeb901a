// One decode step for several sequences of a context in one ORT run (continuous batching).
#pragma once

#include <string>
#include <vector>

#include "sampler.h"
#include "sequence_core.h"

namespace phi4 {

struct BatchMember {
  SequenceCore* sequence = nullptr;
  int32_t token = 0;  // the token to append (the one sampled last step)
  SamplingParams params;
  int32_t next = -1;  // the token sampled after it
  // Set when this member's step failed (bad input, cancelled, failed run or sampling): the member is
  // then left exactly as it was before the step, and the other members are unaffected.
  const char* errorCode = nullptr;
  std::string error;
};

// Appends each member's token and samples its next one. Members share one run per RoPE regime; a
// member whose step would change its regime (or whose KV is not current) runs on its own, since that
// needs a full re-prefill. A member fails alone: its input is checked before the shared run, and when
// a shared run fails each of its members is retried on its own, so only the one that causes the
// failure reports it. Never throws for a member's failure (only for a member of another context).
void DecodeBatch(KvPool& pool, std::vector<BatchMember>& members);

}  // namespace phi4
