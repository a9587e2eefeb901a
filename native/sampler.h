// Token sampling on one logits row: repetition penalty, then greedy or temperature / top-k / top-p.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace phi4 {

struct SamplingParams {
  bool greedy = true;
  float temperature = 1.0f;
  int topK = 0;                    // 0 = no limit
  float topP = 1.0f;               // 1 = no limit
  float repetitionPenalty = 1.0f;  // 1 = off; HF semantics (divide positive logits, multiply negative)
  // Constrained decoding: bit i set = token i may be sampled (LSB first). Empty = every token.
  std::vector<uint8_t> allowed;
};

class Sampler {
 public:
  void Seed(uint64_t seed) { rng_.seed(seed); }

  // Picks the next token from `logits` (modified in place). `history` is the sequence so far, used by
  // the repetition penalty. Throws INVALID_ARGUMENT when the mask allows no token.
  int32_t Sample(std::vector<float>& logits, const std::vector<int32_t>& history, const SamplingParams& params);

 private:
  int32_t SampleFromCandidates(std::vector<float>& logits, const SamplingParams& params);

  std::mt19937_64 rng_{0x5eed};
  std::vector<int32_t> candidates_;  // reused between calls: no allocation per token
  std::vector<uint8_t> seen_;
};

}  // namespace phi4
