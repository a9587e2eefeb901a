// Sequence: JS handle on one SequenceCore. eval(tokens, options) -> Promise<{ token, logits? }>;
// saveState / loadState / copyFrom move KV state (snapshots, prefix reuse).
// One operation at a time per sequence; a second one while busy is refused with BUSY.
// JS reads the core's state (tokens, length, kvValid, longRope) as a snapshot taken when the last
// operation settled: the core is its one owner and JS never keeps a copy of its own.
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

#include "sequence_core.h"

namespace phi4 {

// Reads { greedy, temperature, topK, topP, repetitionPenalty, allowedTokens } (throws INVALID_ARGUMENT).
SamplingParams ReadSamplingParams(const Napi::Object& options);

// A speculative step's draft from options { draft, draftMasks? } (draftMasks: the token mask of each
// checked position, the draft's length + 1, for a constrained generation), with `params` for every
// checked position (throws INVALID_ARGUMENT). False when the options hold no draft.
bool ReadDraft(const Napi::Object& options, const SamplingParams& params, std::vector<int32_t>* draft, std::vector<SamplingParams>* positions);

class Sequence : public Napi::ObjectWrap<Sequence> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object NewInstance(Napi::Env env, std::shared_ptr<SequenceCore> core);
  explicit Sequence(const Napi::CallbackInfo& info);

  // Called by the workers on the event loop when an operation starts and when it settles.
  void BeginOperation();
  void FinishOperation();
  // A rejected promise when the sequence is disposed or busy; an empty value when it is free.
  Napi::Value RefuseIfUnavailable(Napi::Env env);
  const std::shared_ptr<SequenceCore>& core() const { return core_; }

 private:
  SequenceCore& idleCore(Napi::Env env);
  Napi::Value Eval(const Napi::CallbackInfo& info);
  Napi::Value SaveState(const Napi::CallbackInfo& info);
  Napi::Value LoadState(const Napi::CallbackInfo& info);
  Napi::Value CopyFrom(const Napi::CallbackInfo& info);
  Napi::Value Rewind(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Length(const Napi::CallbackInfo& info);
  Napi::Value Capacity(const Napi::CallbackInfo& info);
  Napi::Value KvValid(const Napi::CallbackInfo& info);
  Napi::Value LongRope(const Napi::CallbackInfo& info);
  Napi::Value Tokens(const Napi::CallbackInfo& info);
  Napi::Value Busy(const Napi::CallbackInfo& info);

  // A running worker holds its own reference, so dispose() during an eval frees nothing under it.
  std::shared_ptr<SequenceCore> core_;
  bool busy_ = false;
  // Read on the event loop while a worker may be changing the core: refreshed when it finishes.
  int length_ = 0, kvValid_ = 0, capacity_ = 0;
  bool longRope_ = false;
  std::vector<int32_t> tokens_;
};

}  // namespace phi4
