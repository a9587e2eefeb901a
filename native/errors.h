// Engine errors: every failure inside the addon becomes an EngineError with a stable code, which the
// N-API layer turns into a JS Error carrying `code` (the TS layer maps it to Phi4Error).
#pragma once

#include <napi.h>

#include <exception>
#include <new>
#include <stdexcept>
#include <string>

namespace phi4 {

// Stable codes shared with lib/engine/errors.ts. Keep the two lists in step.
namespace code {
inline constexpr const char* kRuntimeLoadFailed = "RUNTIME_LOAD_FAILED";
inline constexpr const char* kModelLoadFailed = "MODEL_LOAD_FAILED";
inline constexpr const char* kModelInvalid = "MODEL_INVALID";
inline constexpr const char* kProviderUnavailable = "PROVIDER_UNAVAILABLE";
inline constexpr const char* kTokenOutOfRange = "TOKEN_OUT_OF_RANGE";
inline constexpr const char* kCapacityExceeded = "CAPACITY_EXCEEDED";
inline constexpr const char* kKvMemoryExceeded = "KV_MEMORY_EXCEEDED";
inline constexpr const char* kDisposed = "DISPOSED";
inline constexpr const char* kBusy = "BUSY";
inline constexpr const char* kAborted = "ABORTED";
inline constexpr const char* kInvalidArgument = "INVALID_ARGUMENT";
inline constexpr const char* kOutOfMemory = "OUT_OF_MEMORY";
inline constexpr const char* kOrtError = "ORT_ERROR";
}  // namespace code

class EngineError : public std::runtime_error {
 public:
  EngineError(const char* code, const std::string& message) : std::runtime_error(message), code_(code) {}
  const char* code() const { return code_; }

 private:
  const char* code_;
};

// Builds the JS error object for an engine error (message + `code`).
inline Napi::Error MakeJsError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

// Throws a JS error with a code from a synchronous N-API method.
[[noreturn]] inline void ThrowJs(Napi::Env env, const char* code, const std::string& message) { throw MakeJsError(env, code, message); }

// Runs the body of a synchronous N-API method so that no C++ exception escapes into node-addon-api
// (which only converts Napi::Error, and terminates the process on anything else): an EngineError
// becomes a JS error with its code, std::bad_alloc OUT_OF_MEMORY, any other exception ORT_ERROR.
template <typename Body>
auto GuardSync(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const EngineError& e) {
    ThrowJs(env, e.code(), e.what());
  } catch (const std::bad_alloc&) {
    ThrowJs(env, code::kOutOfMemory, "out of memory");
  } catch (const std::exception& e) {
    ThrowJs(env, code::kOrtError, e.what());
  }
}

}  // namespace phi4
