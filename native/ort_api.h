// The ONNX Runtime C API, loaded at run time. The addon never links libonnxruntime: one build serves
// whichever library the user loads (CPU from onnxruntime-node, or a CUDA / DirectML / WebGPU build).
#pragma once

#include <onnxruntime_c_api.h>

#include <string>
#include <vector>

#include "errors.h"

namespace phi4 {

// Opens the library at `path` and returns its API table (version ORT_API_VERSION of the headers we
// were compiled with; newer runtimes serve older API versions). Idempotent for the same path;
// loading a second, different library in one process is refused because ORT keeps global state.
const OrtApi* LoadOrt(const std::string& path);

// The API table of the loaded library; throws if LoadOrt has not succeeded.
const OrtApi& Ort();

// Version string of the loaded library, e.g. "1.30.0".
std::string OrtVersion();

// Throws EngineError(code) with ORT's message when `status` is an error; frees the status.
void Check(OrtStatus* status, const char* code = code::kOrtError);

// Size in bytes of one element of an ORT tensor type we handle (float, float16, int32, int64).
size_t ElementSize(ONNXTensorElementDataType type);

}  // namespace phi4
