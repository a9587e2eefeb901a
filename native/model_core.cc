#include "model_core.h"

#include <algorithm>
#include <cstdio>

namespace phi4 {
namespace {

// Our short provider names -> ORT's registered names and the memory name of their device buffers.
struct ProviderInfo {
  const char* shortName;
  const char* ortName;
  const char* appendName;  // name for SessionOptionsAppendExecutionProvider, or null for CUDA's own API
  const char* memoryName;
};
constexpr ProviderInfo kProviders[] = {
    {"cuda", "CUDAExecutionProvider", nullptr, "Cuda"},
    {"dml", "DmlExecutionProvider", "DML", "DML"},
    {"webgpu", "WebGpuExecutionProvider", "WebGPU", "WebGPU_Buffer"},
};

const ProviderInfo* FindProvider(const std::string& name) {
  for (const auto& p : kProviders)
    if (name == p.shortName) return &p;
  return nullptr;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

ONNXTensorElementDataType ElementTypeOf(OrtTypeInfo* info, std::vector<int64_t>& shape) {
  const OrtTensorTypeAndShapeInfo* tensor = nullptr;
  Check(Ort().CastTypeInfoToTensorInfo(info, &tensor));
  ONNXTensorElementDataType type;
  Check(Ort().GetTensorElementType(tensor, &type));
  size_t rank = 0;
  Check(Ort().GetDimensionsCount(tensor, &rank));
  shape.assign(rank, -1);
  if (rank > 0) Check(Ort().GetDimensions(tensor, shape.data(), rank));
  return type;
}

}  // namespace

bool IsLayerNamePattern(const std::string& pattern) {
  const size_t at = pattern.find("%d");
  return at != std::string::npos && pattern.find('%') == at && pattern.find('%', at + 2) == std::string::npos;
}

std::string LayerName(const std::string& pattern, int layer) {
  if (!IsLayerNamePattern(pattern))
    throw EngineError(code::kModelLoadFailed, "KV name \"" + pattern + "\" must contain \"%d\" (the layer index) once and no other '%'");
  const size_t at = pattern.find("%d");
  return pattern.substr(0, at) + std::to_string(layer) + pattern.substr(at + 2);
}

std::vector<std::string> AvailableProviders() {
  char** names = nullptr;
  int count = 0;
  Check(Ort().GetAvailableProviders(&names, &count));
  std::vector<std::string> out(names, names + count);
  Check(Ort().ReleaseAvailableProviders(names, count));
  return out;
}

namespace {

// The folder of a file path ("." for a bare name); both separators, for Windows paths.
std::string ParentFolder(const std::string& path) {
  const size_t slash = path.find_last_of("/\\");
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

}  // namespace

ModelCore::ModelCore(std::shared_ptr<RuntimeCore> runtime, ModelSpec spec) : runtime_(std::move(runtime)), spec_(std::move(spec)) {
  OrtEnv* env = runtime_->env();
  OrtSessionOptions* raw = nullptr;
  Check(Ort().CreateSessionOptions(&raw));
  SessionOptionsPtr options(raw);
  if (spec_.intraOpThreads > 0) Check(Ort().SetIntraOpNumThreads(raw, spec_.intraOpThreads));
  Check(Ort().SetInterOpNumThreads(raw, 1));
  Check(Ort().SetSessionGraphOptimizationLevel(raw, ORT_ENABLE_ALL));
  // Between decode steps the pool would otherwise spin and burn the cores the event loop and the
  // tokenizer need.
  Check(Ort().AddSessionConfigEntry(raw, "session.intra_op.allow_spinning", spec_.allowSpinning ? "1" : "0"));
  AppendProviders(raw);
  if (spec_.int4Kernel || spec_.attentionKernel) opDomain_ = AddCustomOpDomain(raw);

  OrtSession* session = nullptr;
  if (!spec_.modelBytes.empty()) {
    const std::string folder = ParentFolder(spec_.modelPath);
    Check(Ort().AddSessionConfigEntry(raw, "session.model_external_initializers_file_folder_path", folder.c_str()));
    Check(Ort().CreateSessionFromArray(env, spec_.modelBytes.data(), spec_.modelBytes.size(), raw, &session), code::kModelLoadFailed);
    std::vector<uint8_t>().swap(spec_.modelBytes);
  } else {
#ifdef _WIN32
    std::wstring widePath(spec_.modelPath.begin(), spec_.modelPath.end());
    Check(Ort().CreateSession(env, widePath.c_str(), raw, &session), code::kModelLoadFailed);
#else
    Check(Ort().CreateSession(env, spec_.modelPath.c_str(), raw, &session), code::kModelLoadFailed);
#endif
  }
  session_.reset(session);

  OrtMemoryInfo* memory = nullptr;
  Check(Ort().CreateCpuMemoryInfo(OrtDeviceAllocator, OrtMemTypeDefault, &memory));
  cpuMemory_.reset(memory);

  ReadSignature();
  PrepareRunNames();
  PrepareKvAllocator();
}

void ModelCore::AppendProviders(OrtSessionOptions* options) {
  std::vector<std::string> available = AvailableProviders();
  for (const auto& provider : spec_.providers) {
    if (provider.name == "cpu") continue;  // always present, always last in ORT's own order
    const ProviderInfo* info = FindProvider(provider.name);
    if (!info) {
      throw EngineError(code::kProviderUnavailable, "Unknown execution provider \"" + provider.name + "\"; use one of cpu, cuda, dml, webgpu");
    }
    if (std::find(available.begin(), available.end(), info->ortName) == available.end()) {
      throw EngineError(code::kProviderUnavailable, "Execution provider \"" + provider.name + "\" is not in the loaded ONNX Runtime " + OrtVersion() +
                                                        " (it offers: " + Join(available) +
                                                        "). Load a build that has it with the ORT_LIB environment variable or the libraryPath option.");
    }
    std::vector<const char*> keys, values;
    for (const auto& [k, v] : provider.options) {
      keys.push_back(k.c_str());
      values.push_back(v.c_str());
    }
    if (provider.name == "cuda") {
      OrtCUDAProviderOptionsV2* cuda = nullptr;
      Check(Ort().CreateCUDAProviderOptions(&cuda), code::kProviderUnavailable);
      OrtStatus* status = Ort().UpdateCUDAProviderOptions(cuda, keys.data(), values.data(), keys.size());
      if (!status) status = Ort().SessionOptionsAppendExecutionProvider_CUDA_V2(options, cuda);
      Ort().ReleaseCUDAProviderOptions(cuda);
      Check(status, code::kProviderUnavailable);
    } else {
      Check(Ort().SessionOptionsAppendExecutionProvider(options, info->appendName, keys.data(), values.data(), keys.size()), code::kProviderUnavailable);
    }
  }
}

namespace {

// Names of the session's inputs (or outputs), and the element type and shape (-1: symbolic) of the one called `typedName`.
std::vector<std::string> ReadIoNames(OrtSession* session, bool inputs, const std::string& typedName, ONNXTensorElementDataType& type,
                                     std::vector<int64_t>& shape) {
  const OrtApi& api = Ort();
  auto getCount = inputs ? api.SessionGetInputCount : api.SessionGetOutputCount;
  auto getName = inputs ? api.SessionGetInputName : api.SessionGetOutputName;
  auto getTypeInfo = inputs ? api.SessionGetInputTypeInfo : api.SessionGetOutputTypeInfo;
  OrtAllocator* allocator = nullptr;
  Check(api.GetAllocatorWithDefaultOptions(&allocator));
  size_t count = 0;
  Check(getCount(session, &count));
  std::vector<std::string> names;
  for (size_t i = 0; i < count; ++i) {
    char* name = nullptr;
    Check(getName(session, i, allocator, &name));
    names.emplace_back(name);
    Check(api.AllocatorFree(allocator, name));
    if (names.back() == typedName) {
      OrtTypeInfo* info = nullptr;
      Check(getTypeInfo(session, i, &info));
      TypeInfoPtr owned(info);
      type = ElementTypeOf(info, shape);
    }
  }
  return names;
}

}  // namespace

void ModelCore::ReadSignature() {
  std::vector<int64_t> kvShape, logitsShape;
  inputNames_ = ReadIoNames(session_.get(), true, LayerName(spec_.pastKeyFormat, 0), kvType_, kvShape);
  outputNames_ = ReadIoNames(session_.get(), false, spec_.logitsName, logitsType_, logitsShape);
  // Sizes in genai_config.json that disagree with the graph's fixed dimensions would load and fail
  // on the first run with an ORT error: say which field is wrong instead.
  auto checkDim = [](const std::vector<int64_t>& shape, size_t axis, int64_t want, const char* field, const std::string& tensor) {
    if (shape.size() > axis && shape[axis] > 0 && shape[axis] != want)
      throw EngineError(code::kModelInvalid, std::string("genai_config.json has ") + field + " " + std::to_string(want) + " but model.onnx's " + tensor +
                                                 " has " + std::to_string(shape[axis]));
  };
  checkDim(kvShape, 1, spec_.numKvHeads, "num_key_value_heads", LayerName(spec_.pastKeyFormat, 0));
  checkDim(kvShape, 3, spec_.headSize, "head_size", LayerName(spec_.pastKeyFormat, 0));
  checkDim(logitsShape, 2, spec_.vocabSize, "vocab_size", spec_.logitsName);

  auto requireIn = [&](const std::string& name) {
    if (std::find(inputNames_.begin(), inputNames_.end(), name) == inputNames_.end())
      throw EngineError(code::kModelLoadFailed, "model.onnx has no input \"" + name + "\" that genai_config.json names (inputs: " + Join(inputNames_) + ")");
  };
  auto requireOut = [&](const std::string& name) {
    if (std::find(outputNames_.begin(), outputNames_.end(), name) == outputNames_.end())
      throw EngineError(code::kModelLoadFailed, "model.onnx has no output \"" + name + "\" that genai_config.json names (outputs: " + Join(outputNames_) + ")");
  };
  requireIn(spec_.inputIdsName);
  requireIn(spec_.attentionMaskName);
  if (hasLogitsStart()) requireIn(spec_.logitsStartName);
  requireOut(spec_.logitsName);
  for (int layer = 0; layer < spec_.numLayers; ++layer) {
    requireIn(LayerName(spec_.pastKeyFormat, layer));
    requireIn(LayerName(spec_.pastValueFormat, layer));
    requireOut(LayerName(spec_.presentKeyFormat, layer));
    requireOut(LayerName(spec_.presentValueFormat, layer));
  }
  // position_ids is optional: builds with fused rotary (CPU, CUDA) have none.
  hasPositionIds_ = !spec_.positionIdsName.empty() && std::find(inputNames_.begin(), inputNames_.end(), spec_.positionIdsName) != inputNames_.end();
  for (const auto& type : {kvType_, logitsType_}) {
    if (type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT && type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16)
      throw EngineError(code::kModelLoadFailed, "model.onnx uses a KV or logits type other than float32/float16");
  }
}

void ModelCore::PrepareRunNames() {
  // Order: input_ids, attention_mask, [position_ids], [logits start], past K/V per layer. Outputs: logits, present K/V.
  runInputs_ = {spec_.inputIdsName.c_str(), spec_.attentionMaskName.c_str()};
  if (hasPositionIds_) runInputs_.push_back(spec_.positionIdsName.c_str());
  if (hasLogitsStart()) runInputs_.push_back(spec_.logitsStartName.c_str());
  for (int layer = 0; layer < spec_.numLayers; ++layer) {
    kvInputNames_.push_back(LayerName(spec_.pastKeyFormat, layer));
    kvInputNames_.push_back(LayerName(spec_.pastValueFormat, layer));
    kvOutputNames_.push_back(LayerName(spec_.presentKeyFormat, layer));
    kvOutputNames_.push_back(LayerName(spec_.presentValueFormat, layer));
  }
  for (const auto& name : kvInputNames_) runInputs_.push_back(name.c_str());
  runOutputs_ = {spec_.logitsName.c_str()};
  for (const auto& name : kvOutputNames_) runOutputs_.push_back(name.c_str());
}

void ModelCore::PrepareKvAllocator() {
  Check(Ort().GetAllocatorWithDefaultOptions(&kvAllocator_));
  for (const auto& provider : spec_.providers) {
    const ProviderInfo* info = FindProvider(provider.name);
    if (!info) continue;
    // Past and present must be the same device buffer for GroupQueryAttention to update it in place.
    OrtMemoryInfo* memory = nullptr;
    Check(Ort().CreateMemoryInfo(info->memoryName, OrtDeviceAllocator, 0, OrtMemTypeDefault, &memory));
    MemoryInfoPtr owned(memory);
    OrtAllocator* allocator = nullptr;
    Check(Ort().CreateAllocator(session_.get(), memory, &allocator), code::kProviderUnavailable);
    deviceAllocator_.reset(allocator);
    kvAllocator_ = allocator;
    return;
  }
}

size_t ModelCore::kvBytesPerToken() const { return static_cast<size_t>(spec_.numLayers) * 2 * spec_.numKvHeads * spec_.headSize * ElementSize(kvType_); }

}  // namespace phi4
