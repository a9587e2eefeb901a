// One sequence: the one owner of its state (its tokens, how many of them have valid KV, the logits
// of its last position), its slot of a KvPool (the preallocated share-buffer KV cache) and the
// prefill / single-sequence decode loop over it. Batched decode steps are in batch_decode.cc.
//
// A token can be held without KV: a sampled token is appended at once (the next run evaluates it),
// and a rewind or a restored state can leave positions to recompute. Every run evaluates all the
// positions that lack KV, so callers never track which token is pending.
//
// KV layout per layer: K and V are each a [1, kv_heads, capacity, head_size] view of the pool slot
// (host KV: backed only as far as the sequence has grown; kv_pool.h).
// The same OrtValue is passed as past_key_values.i.* and bound as present.i.*, so GroupQueryAttention
// writes new positions in place (it detects the sharing by pointer) and nothing is copied or
// allocated per decode step.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "kv_pool.h"
#include "model_core.h"
#include "run_step.h"
#include "sampler.h"

namespace phi4 {

class SequenceCore {
 public:
  // Takes a free slot of `pool` (BUSY when there is none) and gives it back when destroyed.
  explicit SequenceCore(std::shared_ptr<KvPool> pool);
  ~SequenceCore();

  // Appends `tokens` and runs the model over every position whose KV is not yet valid (a pending
  // token, the new tokens, or the whole sequence after a LongRoPE regime change), in prefill chunks;
  // when every position has KV but there are no logits for the last one (after a rewind), the last
  // position is run again. Afterwards lastLogits() holds the logits row of the final position. On
  // failure (including cancellation) the sequence keeps its previous tokens and KV. An empty
  // `tokens` with current logits runs nothing (so the caller can sample again); an empty sequence
  // has nothing to evaluate.
  // `regimeLength`: the length the caller will reach with further appends (a prompt fed in pieces), so
  // the LongRoPE regime is chosen once for all of it instead of being switched halfway.
  // `logitsRows`: the last run also keeps the logits of that many last positions (rowLogits_), for
  // Speculate; the final chunk is made at least that long.
  void Append(const std::vector<int32_t>& tokens, int regimeLength = 0, int logitsRows = 1);
  // Samples the next token from the last logits and appends it without KV (the next run evaluates
  // it) while the capacity has room; returns it either way.
  int32_t Sample(const SamplingParams& params);
  // Speculative decoding (docs/speculative.md): runs the pending last token and `draft` after it as
  // one chunk with the logits of each of those positions, accepts the longest prefix of the draft that
  // sampling accepts (Sampler::Verify, position by position with params[i]: each position's own token
  // mask) and samples one more token after it, as Sample would have at that point. Leaves the
  // sequence as plain decoding would: the accepted tokens with KV, the new token pending; the KV the
  // rejected draft tokens wrote lies past kvValid and is overwritten by later runs. Returns the
  // tokens appended (the accepted draft, then the new token). The draft is cut where it would cross
  // the LongRoPE switch (plain decoding re-prefills there) or leave no room for the new token.
  std::vector<int32_t> Speculate(std::vector<int32_t> draft, const std::vector<SamplingParams>& params);
  // The longest draft (at most `wanted`) a run may verify now: the LongRoPE and capacity cuts above.
  int DraftLimit(int wanted) const;
  void Seed(uint64_t seed) { sampler_.Seed(seed); }

  const std::vector<float>& lastLogits() const { return logits_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  int length() const { return static_cast<int>(tokens_.size()); }
  int capacity() const { return capacity_; }
  // How many leading positions have valid KV under the current RoPE regime.
  int kvValid() const { return kvValid_; }
  bool longRopeRegime() const { return kvLong_; }
  const ModelCore& model() const { return *model_; }
  KvPool& pool() const { return *pool_; }
  int slot() const { return slot_; }

  // Batched decode (batch_decode.cc): whether the sequence's next run is exactly its one pending
  // last token under an unchanged RoPE regime (so it can share a run with other sequences), and
  // recording that run's result.
  bool CanJoinBatch() const;
  void CommitBatchedToken(const void* logitsRow);
  // A batched speculative row: the run evaluated the pending token and `draft` after it (at most
  // DraftLimit), whose logits are the first draft.size() + 1 rows at `logitsRows`. Accepts and
  // samples as Speculate does; returns the tokens appended.
  std::vector<int32_t> CommitBatchedDraft(const uint8_t* logitsRows, size_t rowBytes, const std::vector<int32_t>& draft,
                                          const std::vector<SamplingParams>& params);

  // Keeps the first `length` tokens; KV beyond them is ignored (share-buffer rewind), and its memory
  // goes back to the system when that is far below the sequence's high-water mark (or when nothing
  // is kept). The next run
  // evaluates the last kept position again, for its logits.
  void Rewind(int length);

  // KV state transfer (snapshots, prefix reuse). A state is the KV of positions [0, length) laid out
  // as [layer][K, V][kv head][position][head_size]; it is only valid with the RoPE regime it was
  // built under. Host-memory KV only (CPU provider) for now.
  size_t StateBytes(int length) const;
  // Copies the first `length` positions (which must have valid KV) into `out` (StateBytes(length)).
  void SaveState(int length, uint8_t* out) const;
  // Replaces the sequence with `tokens`, the first `kvLength` of them with their KV: the first
  // kvLength positions of a state of `stateLength` positions in `data` (a prefix of a saved state
  // can be restored). Tokens past kvLength are evaluated by the next run. Everything is checked
  // before the first byte is written, so a bad state leaves the sequence untouched.
  void LoadState(const uint8_t* data, size_t bytes, int stateLength, const std::vector<int32_t>& tokens, int kvLength, bool longRope);
  // Replaces the sequence with `tokens` and their KV from `other` (same model), which must hold exactly
  // these tokens first (checked: the source may have moved on since the caller looked).
  void CopyFrom(const SequenceCore& other, const std::vector<int32_t>& tokens);

  // Asks the running operation to stop: ORT's terminate flag for the current Run, and a flag checked
  // between prefill chunks and by batched steps. Thread-safe. ResetCancel() is called on the event
  // loop when any operation on the sequence is queued (Sequence::BeginOperation), so a cancel that
  // arrives before the worker starts is not lost and one meant for an earlier operation never
  // reaches a later one.
  void Cancel();
  void ResetCancel();
  bool cancelled() const { return cancelled_.load(); }
  const std::atomic<bool>& cancelFlag() const { return cancelled_; }

 private:
  // Refuses `tokens` (ids outside the vocabulary, past the capacity) before anything changes. (Past
  // the KV memory budget: KvPool::Grow, also before anything changes.)
  void CheckAppend(const std::vector<int32_t>& tokens) const;
  void RunChunk(int start, int count, bool last, int logitsRows);
  // With rowLogits_[0..d] the logits of the last token before the draft and of the d drafted tokens
  // (tokens_ ends with them, their KV valid): keeps the prefix sampling accepts, samples the next
  // token, and leaves the sequence as plain decoding would. Returns the tokens appended.
  std::vector<int32_t> AcceptDraft(size_t before, const std::vector<int32_t>& draft, const std::vector<SamplingParams>& params);
  void RequireHostKv() const;
  // Calls f(regionPointer, bytes) for each (layer, K/V, head) run of `length` positions, in state order.
  template <typename F>
  void ForEachKvRegion(int length, F&& f) const;

  std::shared_ptr<KvPool> pool_;
  std::shared_ptr<ModelCore> model_;
  const int slot_;
  const int capacity_;
  int chunk_;  // positions per prefill run
  std::vector<int32_t> tokens_;
  int kvValid_ = 0;
  bool kvLong_ = false;
  int logitsAt_ = -1;  // sequence length the logits_ row belongs to (-1: none)

  std::vector<ValuePtr> kv_;  // per layer: K, V  ([1, kv_heads, capacity, head_size])
  StepInputs inputs_;
  std::vector<uint8_t> decodeLogitsData_;
  ValuePtr decodeLogits_;                      // [1, 1, vocab], bound as the logits output of single-token steps
  std::vector<uint8_t> rowsLogitsData_;        // [1, rows, vocab] output of a run that keeps several rows
  std::vector<std::vector<float>> rowLogits_;  // those rows as floats, oldest position first
  std::vector<float> logits_;
  std::vector<float> scratch_;
  Sampler sampler_;
  RunOptionsPtr runOptions_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace phi4
