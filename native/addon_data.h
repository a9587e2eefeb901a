// Per-addon-instance constructors, so native code can create Model and Sequence objects (worker
// threads in other Node environments get their own copy).
#pragma once

#include <napi.h>

namespace phi4 {

struct AddonData {
  Napi::FunctionReference model;
  Napi::FunctionReference context;
  Napi::FunctionReference sequence;
};

inline AddonData& GetAddonData(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace phi4
