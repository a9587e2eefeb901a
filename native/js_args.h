// Reading typed fields from the option objects the TS layer passes in; wrong types become
// INVALID_ARGUMENT errors instead of crashes.
#pragma once

#include <napi.h>

#include <string>

#include "errors.h"

namespace phi4 {

inline Napi::Object RequireObject(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (info.Length() <= index || !info[index].IsObject()) ThrowJs(info.Env(), code::kInvalidArgument, std::string(what) + " must be an object");
  return info[index].As<Napi::Object>();
}

inline std::string GetString(const Napi::Object& obj, const char* key, const std::string& fallback = "") {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsString()) ThrowJs(obj.Env(), code::kInvalidArgument, std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

inline double GetNumber(const Napi::Object& obj, const char* key, double fallback) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsNumber()) ThrowJs(obj.Env(), code::kInvalidArgument, std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

inline int GetInt(const Napi::Object& obj, const char* key, int fallback) { return static_cast<int>(GetNumber(obj, key, fallback)); }

inline bool GetBool(const Napi::Object& obj, const char* key, bool fallback) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  return v.ToBoolean().Value();
}

// The data of typed array `key` of `o`, which must be of `type` and hold exactly `count` elements.
template <typename T>
T* GetTypedArray(const Napi::Object& o, const char* key, napi_typedarray_type type, size_t count) {
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    ThrowJs(o.Env(), code::kInvalidArgument, std::string(key) + " has the wrong type");
  }
  Napi::TypedArrayOf<T> array = v.As<Napi::TypedArrayOf<T>>();
  if (array.ElementLength() != count) {
    ThrowJs(o.Env(), code::kInvalidArgument, std::string(key) + " must have " + std::to_string(count) + " elements");
  }
  return array.Data();
}

}  // namespace phi4
