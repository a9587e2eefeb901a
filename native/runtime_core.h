// RuntimeCore: the loaded ONNX Runtime library's OrtEnv. Every model holds a shared_ptr to it, so the
// env outlives each session made in it, whatever order JS drops the objects in.
#pragma once

#include <string>

#include "ort_api.h"

namespace phi4 {

class RuntimeCore {
 public:
  RuntimeCore(const std::string& libraryPath, int logLevel);
  ~RuntimeCore();
  RuntimeCore(const RuntimeCore&) = delete;
  RuntimeCore& operator=(const RuntimeCore&) = delete;
  OrtEnv* env() const { return env_; }

 private:
  OrtEnv* env_ = nullptr;
};

}  // namespace phi4
