// Context: a KvPool of `slots` sequences that can decode together. JS: model.createContext(slots,
// capacity, kvMemory) -> Promise<Context>; context.createSequence() -> Sequence; context.decode(sequences,
// samplings) -> Promise<(number | Error)[]> runs one batched decode step: each sequence's pending
// token, and the next token sampled (or the error that sequence failed with on its own).
#pragma once

#include <napi.h>

#include <memory>

#include "kv_pool.h"

namespace phi4 {

class Context : public Napi::ObjectWrap<Context> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object NewInstance(Napi::Env env, std::shared_ptr<KvPool> pool);
  explicit Context(const Napi::CallbackInfo& info);

 private:
  Napi::Value CreateSequence(const Napi::CallbackInfo& info);
  Napi::Value Decode(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Slots(const Napi::CallbackInfo& info);
  Napi::Value Capacity(const Napi::CallbackInfo& info);
  Napi::Value FreeSlots(const Napi::CallbackInfo& info);
  // { committed, budget, releasing, growsOnDemand }: KV bytes accounted as backed, the budget, bytes
  // still being given back (kv_pool.h).
  Napi::Value KvMemory(const Napi::CallbackInfo& info);

  // Released by dispose(); sequences keep the pool alive until they go.
  std::shared_ptr<KvPool> pool_;
};

}  // namespace phi4
