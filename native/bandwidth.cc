#include "bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "promise_worker.h"

namespace phi4 {
namespace {

// Enough passes that one lands without page-cache, frequency-ramp or scheduler noise; best one wins.
constexpr int kPasses = 5;
// uint64 words summed per loop iteration: eight independent accumulators let the compiler vectorise
// the loop and keep several loads in flight, so the probe measures memory rather than an add chain.
constexpr size_t kLanes = 8;

uint64_t SumSlice(const uint64_t* data, size_t begin, size_t end) {
  uint64_t lanes[kLanes] = {};
  size_t i = begin;
  for (; i + kLanes <= end; i += kLanes) {
    for (size_t k = 0; k < kLanes; ++k) lanes[k] += data[i + k];
  }
  uint64_t sum = 0;
  for (; i < end; ++i) sum += data[i];
  for (uint64_t lane : lanes) sum += lane;
  return sum;
}

class BandwidthWorker : public PromiseWorker {
 public:
  BandwidthWorker(Napi::Env env, size_t bytes, int threads) : PromiseWorker(env), words_(bytes / sizeof(uint64_t)), threads_(threads) {}

 protected:
  void Run() override {
    // Writing every word commits every page, so no pass pays for page faults; word i holds i so the
    // sum has a known value (n(n-1)/2 mod 2^64).
    std::vector<uint64_t> buffer(words_);
    for (size_t i = 0; i < words_; ++i) buffer[i] = i;
    const uint64_t expected = words_ % 2 == 0 ? (words_ / 2) * (words_ - 1) : words_ * ((words_ - 1) / 2);

    std::vector<uint64_t> partial(threads_);
    const size_t slice = words_ / threads_;
    for (int pass = 0; pass < kPasses; ++pass) {
      std::vector<std::thread> pool;
      auto started = std::chrono::steady_clock::now();
      for (int t = 0; t < threads_; ++t) {
        const size_t begin = t * slice;
        const size_t end = t == threads_ - 1 ? words_ : begin + slice;
        pool.emplace_back([&, t, begin, end] { partial[t] = SumSlice(buffer.data(), begin, end); });
      }
      for (auto& thread : pool) thread.join();
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      uint64_t sum = 0;
      for (uint64_t p : partial) sum += p;
      // Checking the sum both keeps the loop from being optimised away and proves every word was read.
      if (sum != expected) throw EngineError(code::kOrtError, "bandwidth probe read back a wrong checksum");
      best_ = std::max(best_, static_cast<double>(words_ * sizeof(uint64_t)) / seconds);
    }
  }

  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, best_); }

 private:
  size_t words_;
  int threads_;
  double best_ = 0;
};

}  // namespace

Napi::Value MeasureReadBandwidth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double megabytes = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
  const double threads = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
  if (!(megabytes >= 1 && megabytes <= 1 << 20) || !(threads >= 1 && threads <= 1024) || threads != static_cast<int>(threads)) {
    return RejectedPromise(env, code::kInvalidArgument,
                           "measureReadBandwidth(megabytes, threads): megabytes must be in [1, 1048576] and threads an integer in [1, 1024]");
  }
  auto* worker = new BandwidthWorker(env, static_cast<size_t>(megabytes * (1 << 20)), static_cast<int>(threads));
  worker->Queue();
  return worker->Promise();
}

}  // namespace phi4
