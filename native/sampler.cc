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

bool Sampler::Prepare(std::vector<float>& logits, History history, const SamplingParams& params) {
  if (params.repetitionPenalty != 1.0f && history.length > 0) {
    seen_.assign(logits.size(), 0);
    for (size_t i = 0; i < history.length; ++i) {
      const int32_t token = history.tokens[i];
      if (token < 0 || static_cast<size_t>(token) >= logits.size() || seen_[token]) continue;
      seen_[token] = 1;
      float& l = logits[token];
      l = l > 0 ? l / params.repetitionPenalty : l * params.repetitionPenalty;
    }
  }
  if (!params.allowed.empty()) ApplyMask(logits, params.allowed);
  return params.greedy || params.temperature <= 0.0f || params.topK == 1;
}

int32_t Sampler::Sample(std::vector<float>& logits, History history, const SamplingParams& params) {
  if (Prepare(logits, history, params)) return Argmax(logits);
  double total = 0;
  const size_t keep = Candidates(logits, params, total);
  return Draw(keep, total, -1);
}

int32_t Sampler::Verify(std::vector<float>& logits, History history, const SamplingParams& params, int32_t draft, bool& accepted) {
  if (Prepare(logits, history, params)) {
    const int32_t best = Argmax(logits);
    accepted = best == draft;
    return best;
  }
  double total = 0;
  const size_t keep = Candidates(logits, params, total);
  double weight = 0;  // p(draft) * total: zero when top-k / top-p / the mask cut it
  for (size_t i = 0; i < keep; ++i) {
    if (candidates_[i] == draft) weight = weights_[i];
  }
  accepted = std::uniform_real_distribution<double>(0.0, 1.0)(rng_) * total < weight;
  if (accepted) return draft;
  // Rejected: the residual max(p - q, 0) of a one-hot draft q is p without the draft, renormalized.
  return Draw(keep, total - weight, weight > 0 ? draft : -1);
}

size_t Sampler::Candidates(const std::vector<float>& logits, const SamplingParams& params, double& total) {
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
  double all = 0;
  for (size_t i = 0; i < vocab; ++i) all += std::exp((logits[i] - maxLogit) * invT);

  if (nucleus) {
    double mass = 0;
    size_t cut = 0;
    while (cut < window) {
      mass += std::exp((logits[candidates_[cut]] - maxLogit) * invT) / all;
      ++cut;
      if (mass >= params.topP) break;
    }
    if (mass < params.topP && window < keep) {
      // The nucleus is wider than the window: sort everything and cut again.
      std::sort(candidates_.begin(), candidates_.end(), byLogit);
      for (; cut < keep && mass < params.topP; ++cut) mass += std::exp((logits[candidates_[cut]] - maxLogit) * invT) / all;
    }
    keep = std::min(keep, cut);
  } else {
    keep = std::min(keep, window);
  }

  weights_.resize(keep);
  total = 0;
  for (size_t i = 0; i < keep; ++i) {
    weights_[i] = std::exp((logits[candidates_[i]] - maxLogit) * invT);
    total += weights_[i];
  }
  return keep;
}

int32_t Sampler::Draw(size_t keep, double total, int32_t skip) {
  std::uniform_real_distribution<double> uniform(0.0, total);
  double r = uniform(rng_);
  int32_t last = -1;
  for (size_t i = 0; i < keep; ++i) {
    if (candidates_[i] == skip) continue;
    last = candidates_[i];
    r -= weights_[i];
    if (r <= 0) return last;
  }
  return last >= 0 ? last : candidates_[0];
}

}  // namespace phi4
