// Memory read bandwidth probe for the benchmarks' decode roofline (bench/, lib/bench/machine.ts).
#pragma once

#include <napi.h>

namespace phi4 {

// measureReadBandwidth(megabytes, threads) -> Promise<number>: the best of several passes, in bytes/s,
// of `threads` threads summing a `megabytes` MiB buffer.
Napi::Value MeasureReadBandwidth(const Napi::CallbackInfo& info);

}  // namespace phi4
