// Token sampling on one logits row: repetition penalty, then greedy or temperature / top-k / top-p;
// and the speculative check of a drafted token against the same distribution.
#pragma once

#include <cstddef>
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

// The tokens before the position being sampled (what the repetition penalty looks at).
struct History {
  const int32_t* tokens;
  size_t length;
};

class Sampler {
 public:
  void Seed(uint64_t seed) { rng_.seed(seed); }

  // Picks the next token from `logits` (modified in place). Throws INVALID_ARGUMENT when the mask
  // allows no token.
  int32_t Sample(std::vector<float>& logits, History history, const SamplingParams& params);

  // Speculative decoding with a deterministic draft (the draft proposes `draft` with probability 1):
  // sets `accepted` and returns `draft` when sampling accepts it, else the token to emit instead.
  // Greedy: accepted exactly when `draft` is the argmax, else the argmax (what Sample returns).
  // Sampling (the standard rejection rule, which leaves the output distribution that of Sample):
  // accepted with probability p(draft) under the target distribution p (after the penalty, the mask,
  // temperature, top-k and top-p); on rejection a token drawn from p without `draft`, renormalized.
  int32_t Verify(std::vector<float>& logits, History history, const SamplingParams& params, int32_t draft, bool& accepted);

 private:
  // Penalty and mask on `logits`; true when the parameters make the choice the argmax.
  bool Prepare(std::vector<float>& logits, History history, const SamplingParams& params);
  // The tokens p gives weight to, most likely first when an order is needed, in candidates_[0, keep)
  // with their unnormalised weights in weights_; returns keep, and their total in `total`.
  size_t Candidates(const std::vector<float>& logits, const SamplingParams& params, double& total);
  // A draw from candidates_[0, keep) by weight, leaving out `skip` (-1: none), whose weights sum to `total`.
  int32_t Draw(size_t keep, double total, int32_t skip);

  std::mt19937_64 rng_{0x5eed};
  std::vector<int32_t> candidates_;  // reused between calls: no allocation per token
  std::vector<double> weights_;
  std::vector<uint8_t> seen_;
};

}  // namespace phi4
