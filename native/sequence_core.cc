#include "sequence_core.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "rope_regime.h"

namespace phi4 {

SequenceCore::SequenceCore(std::shared_ptr<KvPool> pool)
    : pool_(std::move(pool)), model_(pool_->model()), slot_(pool_->AcquireSlot()), capacity_(pool_->capacity()) {
  const ModelSpec& spec = model_->spec();
  kv_ = pool_->Views(slot_, 1);
  chunk_ = std::min(capacity_, std::max(spec.prefillChunk, 1));
  logits_.resize(spec.vocabSize);
  scratch_.resize(spec.vocabSize);

  const size_t logitsBytes = static_cast<size_t>(spec.vocabSize) * ElementSize(model_->logitsType());
  decodeLogitsData_.resize(logitsBytes);
  const int64_t logitsShape[3] = {1, 1, spec.vocabSize};
  decodeLogits_ = TensorView(model_->cpuMemory(), decodeLogitsData_.data(), logitsBytes, logitsShape, 3, model_->logitsType());

  OrtRunOptions* options = nullptr;
  Check(Ort().CreateRunOptions(&options));
  runOptions_.reset(options);
}

SequenceCore::~SequenceCore() { pool_->ReleaseSlot(slot_); }

void SequenceCore::Cancel() {
  cancelled_.store(true);
  if (OrtStatus* status = Ort().RunOptionsSetTerminate(runOptions_.get())) Ort().ReleaseStatus(status);
  pool_->MemberCancelled();  // stops a batched run once all of its members are cancelled
}

void SequenceCore::ResetCancel() {
  cancelled_.store(false);
  if (OrtStatus* status = Ort().RunOptionsUnsetTerminate(runOptions_.get())) Ort().ReleaseStatus(status);
}

void SequenceCore::Rewind(int length) {
  if (length < 0 || length > this->length())
    throw EngineError(code::kInvalidArgument,
                      "cannot rewind to " + std::to_string(length) + ": the sequence has " + std::to_string(this->length()) + " tokens");
  if (length == this->length()) return;
  logitsAt_ = -1;
  tokens_.resize(length);
  kvValid_ = std::min(kvValid_, length);
  pool_->Shrink(slot_, length, length == 0);  // emptied: everything goes back, however little
}

void SequenceCore::RequireHostKv() const {
  if (!model_->kvOnHost())
    throw EngineError(code::kInvalidArgument, "KV snapshots and prefix reuse need host-memory KV (the CPU provider); device KV is not supported yet");
}

template <typename F>
void SequenceCore::ForEachKvRegion(int length, F&& f) const {
  const ModelSpec& spec = model_->spec();
  const size_t row = static_cast<size_t>(spec.headSize) * ElementSize(model_->kvType());
  for (const auto& value : kv_) {
    void* data = nullptr;
    Check(Ort().GetTensorMutableData(value.get(), &data));
    for (int head = 0; head < spec.numKvHeads; ++head) {
      f(static_cast<uint8_t*>(data) + static_cast<size_t>(head) * capacity_ * row, static_cast<size_t>(length) * row);
    }
  }
}

size_t SequenceCore::StateBytes(int length) const { return static_cast<size_t>(length) * model_->kvBytesPerToken(); }

void SequenceCore::SaveState(int length, uint8_t* out) const {
  RequireHostKv();
  std::lock_guard<std::mutex> lock(pool_->mutex());
  if (length < 0 || length > kvValid_)
    throw EngineError(code::kInvalidArgument, "cannot save " + std::to_string(length) + " positions: only " + std::to_string(kvValid_) + " have valid KV");
  ForEachKvRegion(length, [&](const uint8_t* region, size_t bytes) {
    std::memcpy(out, region, bytes);
    out += bytes;
  });
}

void SequenceCore::LoadState(const uint8_t* data, size_t bytes, int stateLength, const std::vector<int32_t>& tokens, int kvLength, bool longRope) {
  RequireHostKv();
  const int length = kvLength;
  if (tokens.size() > static_cast<size_t>(capacity_))
    throw EngineError(code::kCapacityExceeded,
                      "the state holds " + std::to_string(tokens.size()) + " tokens but the sequence's capacity is " + std::to_string(capacity_));
  if (length < 0 || static_cast<size_t>(length) > tokens.size())
    throw EngineError(code::kInvalidArgument,
                      "cannot restore the KV of " + std::to_string(length) + " positions with " + std::to_string(tokens.size()) + " tokens");
  if (stateLength < length || bytes != StateBytes(stateLength))
    throw EngineError(code::kInvalidArgument, "the state has " + std::to_string(bytes) + " bytes of KV; " + std::to_string(stateLength) +
                                                  " positions of this model need " + std::to_string(StateBytes(stateLength)) + " (and at least " +
                                                  std::to_string(length) + " positions)");
  for (int32_t token : tokens) {
    if (token < 0 || token >= model_->spec().vocabSize)
      throw EngineError(code::kTokenOutOfRange, "the state holds token id " + std::to_string(token) + ", outside the vocabulary");
  }
  pool_->Grow(slot_, length);  // the last check: past it, nothing can fail
  std::lock_guard<std::mutex> lock(pool_->mutex());
  // The state's regions hold stateLength positions each; take the first `length` of every one.
  const size_t stride = static_cast<size_t>(stateLength) * model_->spec().headSize * ElementSize(model_->kvType());
  ForEachKvRegion(length, [&](uint8_t* region, size_t size) {
    std::memcpy(region, data, size);
    data += stride;
  });
  tokens_ = tokens;
  kvValid_ = length;
  kvLong_ = longRope;
  logitsAt_ = -1;
  pool_->Shrink(slot_, this->length());
}

void SequenceCore::CopyFrom(const SequenceCore& other, const std::vector<int32_t>& tokens) {
  RequireHostKv();
  const int length = static_cast<int>(tokens.size());
  if (other.model_ != model_) throw EngineError(code::kInvalidArgument, "cannot copy KV between sequences of different models");
  if (length > other.kvValid_ || !std::equal(tokens.begin(), tokens.end(), other.tokens_.begin()))
    throw EngineError(code::kInvalidArgument, "the source sequence no longer holds these " + std::to_string(length) + " tokens with valid KV");
  if (length > capacity_)
    throw EngineError(code::kCapacityExceeded, "cannot copy " + std::to_string(length) + " positions into a sequence of capacity " + std::to_string(capacity_));
  pool_->Grow(slot_, length);
  // Both pools' KV is read or written: lock both (once when they are the same pool).
  std::unique_lock<std::mutex> first(pool_->mutex(), std::defer_lock), second(other.pool_->mutex(), std::defer_lock);
  if (&other.pool_->mutex() == &pool_->mutex()) {
    first.lock();
  } else {
    std::lock(first, second);
  }
  // Regions come in the same order from both sequences; only their strides (capacities) differ.
  std::vector<const uint8_t*> sources;
  other.ForEachKvRegion(length, [&](const uint8_t* region, size_t) { sources.push_back(region); });
  size_t i = 0;
  ForEachKvRegion(length, [&](uint8_t* region, size_t size) { std::memcpy(region, sources[i++], size); });
  tokens_ = tokens;
  kvValid_ = length;
  kvLong_ = other.kvLong_;
  logitsAt_ = -1;
  pool_->Shrink(slot_, length);
}

void SequenceCore::CheckAppend(const std::vector<int32_t>& tokens) const {
  const ModelSpec& spec = model_->spec();
  const size_t total = tokens_.size() + tokens.size();
  if (total > static_cast<size_t>(capacity_)) {
    throw EngineError(code::kCapacityExceeded, "the sequence would hold " + std::to_string(total) + " tokens but its capacity is " + std::to_string(capacity_) +
                                                   "; create the sequence with a larger capacity (at most the model's context length)");
  }
  for (int32_t token : tokens) {
    if (token < 0 || token >= spec.vocabSize)
      throw EngineError(code::kTokenOutOfRange, "token id " + std::to_string(token) + " is outside the vocabulary [0, " + std::to_string(spec.vocabSize) + ")");
  }
}

void SequenceCore::Append(const std::vector<int32_t>& tokens, int regimeLength, int logitsRows) {
  const ModelSpec& spec = model_->spec();
  const size_t before = tokens_.size();
  const size_t total = before + tokens.size();
  CheckAppend(tokens);
  if (total == 0) throw EngineError(code::kInvalidArgument, "nothing to evaluate: the sequence is empty; pass at least one token");
  // Current logits and nothing new: nothing to run (the caller samples again).
  if (tokens.empty() && logitsAt_ == static_cast<int>(total)) return;
  // The run writes KV up to the last position: account for it before anything changes, and for the
  // whole of a prompt fed in pieces at its first piece, so one that cannot fit fails before any prefill.
  pool_->Grow(slot_, std::min(std::max(static_cast<int>(total), regimeLength), capacity_));
  const int logitsBefore = logitsAt_;
  logitsAt_ = -1;
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());

  // Phi-3 LongRoPE: the graph picks the long-factor cos/sin cache once the mask is wider than the
  // original context. KV built under one regime is wrong under the other, so on a change every
  // position is recomputed, as onnxruntime-genai does when a sequence reaches original + 1 tokens.
  const bool wantLong = LongRopeRegime(spec, std::max(total, static_cast<size_t>(std::max(regimeLength, 0))));
  if (wantLong != kvLong_) {
    kvValid_ = 0;
    kvLong_ = wantLong;
  }
  // Every position has KV but the last one's logits are gone (a rewind, a restored state): run it again.
  if (static_cast<size_t>(kvValid_) == total) --kvValid_;
  std::lock_guard<std::mutex> lock(pool_->mutex());
  try {
    while (static_cast<size_t>(kvValid_) < total) {
      if (cancelled_.load()) throw EngineError(code::kAborted, "generation was aborted");
      const int left = static_cast<int>(total - kvValid_);
      int count = std::min(chunk_, left);
      // The final chunk holds every position whose logits are kept.
      if (count < left && left - count < logitsRows) count = left - logitsRows;
      RunChunk(kvValid_, count, count == left, logitsRows);
      kvValid_ += count;
    }
    logitsAt_ = static_cast<int>(total);
  } catch (...) {
    tokens_.resize(before);
    kvValid_ = std::min(kvValid_, static_cast<int>(before));
    // The logits row is written only by a run that succeeds: the old one still stands.
    if (logitsBefore == static_cast<int>(before)) logitsAt_ = logitsBefore;
    throw;
  }
}

void SequenceCore::RunChunk(int start, int count, bool last, int logitsRows) {
  const RunRow row{start, count, tokens_.data() + start};
  const int rows = last ? std::min(logitsRows, count) : 1;
  inputs_.Build(*model_, kvLong_, &row, 1, count, rows);
  // Logits of one position go into a preallocated row: single-token steps, and every run of a graph
  // that slices before the lm_head (the last `rows` positions into a buffer kept for them).
  // Otherwise a prompt chunk lets ORT allocate [1, n, vocab].
  OrtValue* preallocated = nullptr;
  ValuePtr rowsView;
  if (count == 1 || (model_->lastPositionLogits() && rows == 1)) {
    preallocated = decodeLogits_.get();
  } else if (model_->lastPositionLogits()) {
    const ModelSpec& spec = model_->spec();
    const size_t bytes = static_cast<size_t>(rows) * spec.vocabSize * ElementSize(model_->logitsType());
    if (rowsLogitsData_.size() < bytes) rowsLogitsData_.resize(bytes);
    const int64_t shape[3] = {1, rows, spec.vocabSize};
    rowsView = TensorView(model_->cpuMemory(), rowsLogitsData_.data(), bytes, shape, 3, model_->logitsType());
    preallocated = rowsView.get();
  }
  ValuePtr allocated = RunModel(*model_, runOptions_.get(), cancelled_, inputs_, kv_, preallocated);
  if (!last) return;
  const OrtValue* logits = preallocated ? preallocated : allocated.get();
  ReadLogitsRow(*model_, LastPositionLogits(*model_, logits, 1, count, 0), logits_);
  rowLogits_.resize(logitsRows > 1 ? rows : 0);
  for (int i = 0; i < static_cast<int>(rowLogits_.size()); ++i)
    ReadLogitsRow(*model_, PositionLogits(*model_, logits, 1, count, 0, count - rows + i), rowLogits_[i]);
}

bool SequenceCore::CanJoinBatch() const {
  const int n = length();
  return n > 0 && kvValid_ == n - 1 && logitsAt_ != n && LongRopeRegime(model_->spec(), n) == kvLong_;
}

void SequenceCore::CommitBatchedToken(const void* logitsRow) {
  kvValid_ = length();
  ReadLogitsRow(*model_, logitsRow, logits_);
  logitsAt_ = length();
}

int32_t SequenceCore::Sample(const SamplingParams& params) {
  if (logitsAt_ != length()) throw EngineError(code::kInvalidArgument, "nothing to sample from: the last position has not been evaluated");
  scratch_ = logits_;
  const int32_t token = sampler_.Sample(scratch_, {tokens_.data(), tokens_.size()}, params);
  if (length() < capacity_) tokens_.push_back(token);
  return token;
}

int SequenceCore::DraftLimit(int wanted) const {
  const ModelSpec& spec = model_->spec();
  const size_t before = tokens_.size();
  // Every position of the run under the regime plain decoding would run it in, and room for the new token.
  int d = wanted;
  while (d > 0 && (LongRopeRegime(spec, before + d) != LongRopeRegime(spec, before) || before + d >= static_cast<size_t>(capacity_))) --d;
  return d;
}

std::vector<int32_t> SequenceCore::Speculate(std::vector<int32_t> draft, const std::vector<SamplingParams>& params) {
  const size_t before = tokens_.size();
  if (params.empty()) throw EngineError(code::kInvalidArgument, "speculation needs the sampling parameters");
  draft.resize(std::min(static_cast<size_t>(DraftLimit(static_cast<int>(draft.size()))), params.size() - 1));
  const int d = static_cast<int>(draft.size());
  if (d == 0 || before == 0) {
    Append(draft);
    return {Sample(params[0])};
  }
  // The rows checked are those of the last token and of each drafted token, so the run includes the
  // last token even when it has KV already (its logits gone: a rewind, a restored state).
  kvValid_ = std::min(kvValid_, static_cast<int>(before) - 1);
  Append(draft, 0, d + 1);
  return AcceptDraft(before, draft, params);
}

std::vector<int32_t> SequenceCore::CommitBatchedDraft(const uint8_t* logitsRows, size_t rowBytes, const std::vector<int32_t>& draft,
                                                      const std::vector<SamplingParams>& params) {
  const size_t before = tokens_.size();
  const int d = static_cast<int>(draft.size());
  rowLogits_.resize(d + 1);
  for (int i = 0; i <= d; ++i) ReadLogitsRow(*model_, logitsRows + i * rowBytes, rowLogits_[i]);
  tokens_.insert(tokens_.end(), draft.begin(), draft.end());
  kvValid_ = static_cast<int>(before) + d;  // the run wrote every drafted position's KV
  return AcceptDraft(before, draft, params);
}

std::vector<int32_t> SequenceCore::AcceptDraft(size_t before, const std::vector<int32_t>& draft, const std::vector<SamplingParams>& params) {
  const int d = static_cast<int>(draft.size());
  // Position before - 1 + i predicts token before + i; history: the sequence up to that position.
  int accepted = 0;
  int32_t next = -1;
  try {
    for (; accepted <= d; ++accepted) {
      scratch_ = rowLogits_[accepted];
      const History history{tokens_.data(), before + accepted};
      if (accepted == d) {
        next = sampler_.Sample(scratch_, history, params[accepted]);
        break;
      }
      bool ok = false;
      next = sampler_.Verify(scratch_, history, params[accepted], draft[accepted], ok);
      if (!ok) break;
    }
  } catch (...) {
    // A mask that allows nothing: the sequence as Sample leaves it when it throws (last token evaluated).
    tokens_.resize(before);
    kvValid_ = static_cast<int>(before);
    logits_ = rowLogits_[0];
    logitsAt_ = static_cast<int>(before);
    throw;
  }
  const int kept = static_cast<int>(before) + accepted;
  tokens_.resize(kept);
  kvValid_ = kept;
  logits_ = rowLogits_[accepted];
  logitsAt_ = kept;
  if (length() < capacity_) tokens_.push_back(next);
  std::vector<int32_t> appended(draft.begin(), draft.begin() + accepted);
  appended.push_back(next);
  return appended;
}

}  // namespace phi4
