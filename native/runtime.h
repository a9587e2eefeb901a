// Runtime: the loaded ONNX Runtime library and its OrtEnv. JS: `new Runtime(libraryPath)`.
#pragma once

#include <napi.h>

#include <memory>

#include "runtime_core.h"

namespace phi4 {

class Runtime : public Napi::ObjectWrap<Runtime> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Runtime(const Napi::CallbackInfo& info);

 private:
  Napi::Value Version(const Napi::CallbackInfo& info);
  Napi::Value ApiVersion(const Napi::CallbackInfo& info);
  Napi::Value Providers(const Napi::CallbackInfo& info);
  // loadModel(spec) -> Promise<Model>
  Napi::Value LoadModel(const Napi::CallbackInfo& info);

  std::shared_ptr<RuntimeCore> core_;
};

}  // namespace phi4
