#include "ort_api.h"

#include <mutex>

#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#endif

namespace phi4 {
namespace {

std::mutex g_mutex;
const OrtApi* g_api = nullptr;
const OrtApiBase* g_base = nullptr;
std::string g_path;

void* OpenLibrary(const std::string& path, std::string& error) {
#ifdef _WIN32
  HMODULE handle = LoadLibraryA(path.c_str());
  if (!handle) error = "LoadLibrary failed with code " + std::to_string(GetLastError());
  return reinterpret_cast<void*>(handle);
#else
  // RTLD_GLOBAL so that provider libraries ORT opens later (libonnxruntime_providers_*.so) can
  // resolve symbols against it.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!handle) error = dlerror();
  return handle;
#endif
}

void* FindSymbol(void* handle, const char* name) {
#ifdef _WIN32
  return reinterpret_cast<void*>(GetProcAddress(reinterpret_cast<HMODULE>(handle), name));
#else
  return dlsym(handle, name);
#endif
}

}  // namespace

const OrtApi* LoadOrt(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_api) {
    if (path != g_path) {
      throw EngineError(code::kRuntimeLoadFailed,
                        "ONNX Runtime is already loaded from " + g_path + "; a process can load only one ONNX Runtime library (asked for " + path + ")");
    }
    return g_api;
  }
  std::string error;
  void* handle = OpenLibrary(path, error);
  if (!handle) {
    throw EngineError(code::kRuntimeLoadFailed, "Could not load the ONNX Runtime library " + path + ": " + error);
  }
  using GetApiBaseFn = const OrtApiBase* (*)();
  auto get_base = reinterpret_cast<GetApiBaseFn>(FindSymbol(handle, "OrtGetApiBase"));
  if (!get_base) {
    throw EngineError(code::kRuntimeLoadFailed, path + " is not an ONNX Runtime library (no OrtGetApiBase symbol)");
  }
  const OrtApiBase* base = get_base();
  const OrtApi* api = base->GetApi(ORT_API_VERSION);
  if (!api) {
    throw EngineError(code::kRuntimeLoadFailed, "ONNX Runtime " + std::string(base->GetVersionString()) + " at " + path + " does not serve C API version " +
                                                    std::to_string(ORT_API_VERSION) + "; use ONNX Runtime 1." + std::to_string(ORT_API_VERSION) + " or newer");
  }
  // The handle is deliberately never closed: ORT registers atexit handlers and thread-local state.
  g_base = base;
  g_api = api;
  g_path = path;
  return g_api;
}

const OrtApi& Ort() {
  if (!g_api) throw EngineError(code::kRuntimeLoadFailed, "ONNX Runtime has not been loaded");
  return *g_api;
}

std::string OrtVersion() { return g_base ? g_base->GetVersionString() : ""; }

void Check(OrtStatus* status, const char* code) {
  if (!status) return;
  std::string message = Ort().GetErrorMessage(status);
  Ort().ReleaseStatus(status);
  throw EngineError(code, message);
}

size_t ElementSize(ONNXTensorElementDataType type) {
  switch (type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32:
      return 4;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16:
      return 2;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64:
      return 8;
    default:
      throw EngineError(code::kModelLoadFailed, "unsupported tensor element type " + std::to_string(static_cast<int>(type)));
  }
}

}  // namespace phi4
