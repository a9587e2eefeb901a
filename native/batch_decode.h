// One decode step for several sequences of a context in one ORT run (continuous batching).
#pragma once

#include <string>
#include <vector>

#include "sampler.h"
#include "sequence_core.h"

namespace phi4 {

struct BatchMember {
  SequenceCore* sequence = nullptr;  // runs its pending last token (the one sampled last step)
  SamplingParams params;
  // A speculative row (docs/speculative.md): tokens drafted after the pending one, and the parameters
  // of each checked position (the draft's length + 1). Verified in the shared run; `accepted` gets
  // the prefix sampling accepts.
  std::vector<int32_t> draft;
  std::vector<SamplingParams> positions;
  std::vector<int32_t> accepted;
  bool verified = false;  // the draft was verified (and `next` sampled) in the shared run
  int32_t next = -1;      // the token sampled after it (appended to the sequence as its new pending token)
  // Set when this member's step failed (nothing to run, cancelled, failed run or sampling): the
  // member keeps its tokens, and the other members are unaffected.
  const char* errorCode = nullptr;
  std::string error;
};

// Evaluates each member's pending token and samples its next one. Members share one run per RoPE
// regime; when some have drafts, every row of the run holds as many positions as the longest draft
// needs (a row with a shorter draft, or none, is padded with tokens whose results are dropped: its
// own positions come out the same whatever follows them); a member with more to run (after a rewind, or a step that changes its regime: a full
// re-prefill) runs on its own. A member fails alone: it is checked before the shared run, and when a
// shared run fails each of its members is retried on its own, so only the one that causes the
// failure reports it. Never throws for a member's failure (only for a member of another context).
// `draftRows`: the most rows a run with drafts may hold (0: half the int4 kernel's register tile).
void DecodeBatch(KvPool& pool, std::vector<BatchMember>& members, int draftRows = 0);

}  // namespace phi4
