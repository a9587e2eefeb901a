#include "sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "errors.h"

namespace phi4 {
namespace {

// Candidates kept before the nucleus cut when no top-k is given: the nucleus of a real LM almost
// always fits; if it does not, we fall back to the whole vocabulary.
constexpr size_t kNucleusWindow = 1024;

int32_t Argmax(const std::vector<float>& logits) { return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin()); }

// Disallowed tokens get -inf, so every sampling mode (and top-k / top-p) only sees allowed ones.
void ApplyMask(std::vector<float>& logits, const std::vector<uint8_t>& allowed) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  bool any = false;
  for (size_t i = 0; i < logits.size(); ++i) {
    const size_t byte = i >> 3;
    if (byte < allowed.size() && (allowed[byte] >> (i & 7)) & 1) {
      any = true;
    } else {
      logits[i] = kNegInf;
    }
  }
  if (!any) throw EngineError(code::kInvalidArgument, "the token mask allows no token of the " + std::to_string(logits.size()) + "-token vocabulary");
}

}  // namespace

int32_t Sampler::Sample(std::vector<float>& logits, const std::vector<int32_t>& history, const SamplingParams& params) {
  if (params.repetitionPenalty != 1.0f && !history.empty()) {
    seen_.assign(logits.size(), 0);
    for (int32_t token : history) {
      if (token < 0 || static_cast<size_t>(token) >= logits.size() || seen_[token]) continue;
      seen_[token] = 1;
      float& l = logits[token];
      l = l > 0 ? l / params.repetitionPenalty : l * params.repetitionPenalty;
    }
  }
  if (!params.allowed.empty()) ApplyMask(logits, params.allowed);
  if (params.greedy || params.temperature <= 0.0f || params.topK == 1) return Argmax(logits);
  return SampleFromCandidates(logits, params);
}

int32_t Sampler::SampleFromCandidates(std::vector<float>& logits, const SamplingParams& params) {
  const size_t vocab = logits.size();
  auto byLogit = [&](int32_t a, int32_t b) { return logits[a] > logits[b]; };
  candidates_.resize(vocab);
  std::iota(candidates_.begin(), candidates_.end(), 0);

  size_t keep = params.topK > 0 ? std::min<size_t>(params.topK, vocab) : vocab;
  const bool nucleus = params.topP < 1.0f;
  size_t window = nucleus && params.topK <= 0 ? std::min(kNucleusWindow, vocab) : keep;
  // Plain temperature sampling needs no order at all.
  if (window < vocab || nucleus) std::partial_sort(candidates_.begin(), candidates_.begin() + window, candidates_.end(), byLogit);

  // Softmax over the whole vocabulary (the normaliser must include every token for top-p to be right).
  const float maxLogit = *std::max_element(logits.begin(), logits.end());
  const float invT = 1.0f / params.temperature;
  double total = 0;
  for (size_t i = 0; i < vocab; ++i) total += std::exp((logits[i] - maxLogit) * invT);

  if (nucleus) {
    double mass = 0;
    size_t cut = 0;
    while (cut < window) {
      mass += std::exp((logits[candidates_[cut]] - maxLogit) * invT) / total;
      ++cut;
      if (mass >= params.topP) break;
    }
    if (mass < params.topP && window < keep) {
      // The nucleus is wider than the window: sort everything and cut again.
      std::sort(candidates_.begin(), candidates_.end(), byLogit);
      for (; cut < keep && mass < params.topP; ++cut) mass += std::exp((logits[candidates_[cut]] - maxLogit) * invT) / total;
    }
    keep = std::min(keep, cut);
  } else {
    keep = std::min(keep, window);
  }

  double kept = 0;
  for (size_t i = 0; i < keep; ++i) kept += std::exp((logits[candidates_[i]] - maxLogit) * invT);
  std::uniform_real_distribution<double> uniform(0.0, kept);
  double r = uniform(rng_);
  for (size_t i = 0; i < keep; ++i) {
    r -= std::exp((logits[candidates_[i]] - maxLogit) * invT);
    if (r <= 0) return candidates_[i];
  }
  return candidates_[keep - 1];
}

}  // namespace phi4
