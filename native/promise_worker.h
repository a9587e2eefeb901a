// Base for every blocking operation: runs Execute() on the libuv thread pool and settles a Promise.
// EngineError codes survive the thread hop and become the rejected error's `code`.
#pragma once

#include <napi.h>

#include <exception>
#include <memory>
#include <new>
#include <string>

#include "errors.h"

namespace phi4 {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  // Work done off the event loop. Throw EngineError to reject with a code.
  virtual void Run() = 0;
  // Builds the resolved value on the event loop.
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }
  // Runs on the event loop after success or failure (release busy flags and the like).
  virtual void Settle() {}

 private:
  void Execute() override {
    try {
      Run();
    } catch (const EngineError& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = code::kOutOfMemory;
      SetError("out of memory");
    } catch (const std::exception& e) {
      code_ = code::kOrtError;
      SetError(e.what());
    }
  }

  void OnOK() override {
    Settle();
    Napi::Env env = Env();
    try {
      deferred_.Resolve(Result(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error& error) override {
    Settle();
    deferred_.Reject(MakeJsError(Env(), code_, error.Message()).Value());
  }

  Napi::Promise::Deferred deferred_;
  const char* code_ = code::kOrtError;
};

// Builds a core object (a session, a KV cache: slow) off the event loop and wraps it for JS:
// Make() runs on a worker thread, Wrap(env, shared_ptr) on the event loop.
template <typename Core, typename Make, Napi::Object (*Wrap)(Napi::Env, std::shared_ptr<Core>)>
class ConstructWorker : public PromiseWorker {
 public:
  ConstructWorker(Napi::Env env, Make make) : PromiseWorker(env), make_(std::move(make)) {}

 protected:
  void Run() override { core_ = make_(); }
  Napi::Value Result(Napi::Env env) override { return Wrap(env, std::move(core_)); }

 private:
  Make make_;
  std::shared_ptr<Core> core_;
};

template <typename Core, Napi::Object (*Wrap)(Napi::Env, std::shared_ptr<Core>), typename Make>
Napi::Promise QueueConstruct(Napi::Env env, Make make) {
  auto* worker = new ConstructWorker<Core, Make, Wrap>(env, std::move(make));
  worker->Queue();
  return worker->Promise();
}

// Returns a promise already rejected with an engine error (for argument checks in async methods).
inline Napi::Promise RejectedPromise(Napi::Env env, const char* code, const std::string& message) {
  auto deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(MakeJsError(env, code, message).Value());
  return deferred.Promise();
}

}  // namespace phi4
