// Owning handles for ORT objects so that every early exit (an exception mid-run) releases them.
#pragma once

#include <memory>

#include "ort_api.h"

namespace phi4 {

struct OrtValueDeleter {
  void operator()(OrtValue* v) const {
    if (v) Ort().ReleaseValue(v);
  }
};
struct OrtSessionDeleter {
  void operator()(OrtSession* s) const {
    if (s) Ort().ReleaseSession(s);
  }
};
struct OrtSessionOptionsDeleter {
  void operator()(OrtSessionOptions* o) const {
    if (o) Ort().ReleaseSessionOptions(o);
  }
};
struct OrtRunOptionsDeleter {
  void operator()(OrtRunOptions* o) const {
    if (o) Ort().ReleaseRunOptions(o);
  }
};
struct OrtMemoryInfoDeleter {
  void operator()(OrtMemoryInfo* m) const {
    if (m) Ort().ReleaseMemoryInfo(m);
  }
};
struct OrtAllocatorDeleter {
  void operator()(OrtAllocator* a) const {
    if (a) Ort().ReleaseAllocator(a);
  }
};
struct OrtTypeInfoDeleter {
  void operator()(OrtTypeInfo* t) const {
    if (t) Ort().ReleaseTypeInfo(t);
  }
};

using ValuePtr = std::unique_ptr<OrtValue, OrtValueDeleter>;
using SessionPtr = std::unique_ptr<OrtSession, OrtSessionDeleter>;
using SessionOptionsPtr = std::unique_ptr<OrtSessionOptions, OrtSessionOptionsDeleter>;
using RunOptionsPtr = std::unique_ptr<OrtRunOptions, OrtRunOptionsDeleter>;
using MemoryInfoPtr = std::unique_ptr<OrtMemoryInfo, OrtMemoryInfoDeleter>;
using AllocatorPtr = std::unique_ptr<OrtAllocator, OrtAllocatorDeleter>;
using TypeInfoPtr = std::unique_ptr<OrtTypeInfo, OrtTypeInfoDeleter>;

// A tensor view over memory we own (no copy, no allocation of tensor data).
inline ValuePtr TensorView(const OrtMemoryInfo* memory, void* data, size_t bytes, const int64_t* shape, size_t rank, ONNXTensorElementDataType type) {
  OrtValue* value = nullptr;
  Check(Ort().CreateTensorWithDataAsOrtValue(memory, data, bytes, shape, rank, type, &value));
  return ValuePtr(value);
}

}  // namespace phi4
