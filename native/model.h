// Model: JS handle on a loaded ModelCore. createSequence(capacity) -> Promise<Sequence> (a sequence
// with its own KV); createContext(slots, capacity) -> Promise<Context> (sequences that decode together).
#pragma once

#include <napi.h>

#include <memory>

#include "model_core.h"

namespace phi4 {

class Model : public Napi::ObjectWrap<Model> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object NewInstance(Napi::Env env, std::shared_ptr<ModelCore> core);
  explicit Model(const Napi::CallbackInfo& info);

 private:
  ModelCore& core(Napi::Env env);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value CreateSequence(const Napi::CallbackInfo& info);
  Napi::Value CreateContext(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  // Released by dispose(); sequences keep their own reference, so the session lives until they go.
  std::shared_ptr<ModelCore> core_;
};

}  // namespace phi4
