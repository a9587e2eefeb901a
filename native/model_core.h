// The loaded model: one ORT session plus what the decode loop needs to know about its inputs and
// outputs. Shared (shared_ptr) by every sequence made from it, so the session outlives them all.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "custom_ops.h"
#include "ort_handles.h"
#include "runtime_core.h"

namespace phi4 {

struct ProviderSpec {
  std::string name;  // "cpu", "cuda", "dml" or "webgpu"
  std::map<std::string, std::string> options;
};

// What the TS layer read from genai_config.json (validated there) plus session settings.
struct ModelSpec {
  std::string modelPath;
  // When set: the graph to load instead of the file at modelPath (model.onnx rewritten at load, see
  // lib/engine/graph-rewrites.ts). External data is still read from modelPath's folder. Freed once the
  // session exists.
  std::vector<uint8_t> modelBytes;
  // What the rewrite did: the lm_head runs on the last position only; MatMulNBits nodes run as
  // phi4_onnx.Int4MatMul (int4_matmul_op.h), GroupQueryAttention nodes as phi4_onnx.Attention
  // (attention_op.h), whose domain (custom_ops.h) the session then needs.
  bool lastPositionLogits = false;
  // With lastPositionLogits: the int64 [1] input where the lm_head's slice starts, -(logits rows per
  // run row) (lib/engine/logits-start.ts); empty for a graph sliced to the last position for good.
  std::string logitsStartName;
  bool int4Kernel = false;
  std::string int4Variant;  // with int4Kernel: the variant its nodes name (the fastest here by default)
  bool attentionKernel = false;
  int intraOpThreads = 0;  // 0 = ORT default
  bool allowSpinning = false;
  int logLevel = 3;  // ORT_LOGGING_LEVEL_ERROR
  std::vector<ProviderSpec> providers;
  std::string inputIdsName, attentionMaskName, positionIdsName;
  std::string pastKeyFormat, pastValueFormat, logitsName, presentKeyFormat, presentValueFormat;
  int numLayers = 0, numKvHeads = 0, headSize = 0, vocabSize = 0;
  // LongRoPE: sequences longer than this run under the long-factor cache (0 = no switch).
  int ropeOriginalLength = 0;
  int prefillChunk = 256;
};

class ModelCore {
 public:
  // Creates the ORT session in `runtime`'s env, which it keeps alive (blocking: call from a worker thread).
  ModelCore(std::shared_ptr<RuntimeCore> runtime, ModelSpec spec);

  const ModelSpec& spec() const { return spec_; }
  OrtSession* session() const { return session_.get(); }
  bool hasPositionIds() const { return hasPositionIds_; }
  // True when a run's logits are [rows, logitsRows, vocab] (the rewritten graph: 1 unless a
  // speculative step asks for more), whatever the input length.
  bool lastPositionLogits() const { return spec_.lastPositionLogits; }
  bool hasLogitsStart() const { return !spec_.logitsStartName.empty(); }
  ONNXTensorElementDataType kvType() const { return kvType_; }
  ONNXTensorElementDataType logitsType() const { return logitsType_; }
  const OrtMemoryInfo* cpuMemory() const { return cpuMemory_.get(); }
  // Allocator for KV buffers: device memory of the first non-CPU provider, else CPU.
  OrtAllocator* kvAllocator() const { return kvAllocator_; }
  // True when KV buffers live in host memory (CPU provider), so state can be copied with memcpy.
  bool kvOnHost() const { return !deviceAllocator_; }
  const std::vector<std::string>& inputNames() const { return inputNames_; }
  const std::vector<std::string>& outputNames() const { return outputNames_; }
  // Bytes of KV cache per token (all layers, K and V).
  size_t kvBytesPerToken() const;

  // Input and output names in the order the sequence passes values to Run().
  const std::vector<const char*>& runInputNames() const { return runInputs_; }
  const std::vector<const char*>& runOutputNames() const { return runOutputs_; }

 private:
  void AppendProviders(OrtSessionOptions* options);
  void ReadSignature();
  void PrepareRunNames();
  void PrepareKvAllocator();

  std::shared_ptr<RuntimeCore> runtime_;  // first member: released after the session
  ModelSpec spec_;
  CustomOpDomainPtr opDomain_;  // declared before session_ so that it is released after it
  SessionPtr session_;
  MemoryInfoPtr cpuMemory_;
  AllocatorPtr deviceAllocator_;
  OrtAllocator* kvAllocator_ = nullptr;
  bool hasPositionIds_ = false;
  ONNXTensorElementDataType kvType_ = ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  ONNXTensorElementDataType logitsType_ = ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  std::vector<std::string> inputNames_, outputNames_;
  std::vector<std::string> kvInputNames_, kvOutputNames_;
  std::vector<const char*> runInputs_, runOutputs_;
};

// Available execution providers of the loaded library, as ORT names them (e.g. CPUExecutionProvider).
std::vector<std::string> AvailableProviders();

// genai_config's KV names are patterns like "past_key_values.%d.key": text with the layer index in
// place of its one "%d". They are data from a file, never a format string.
bool IsLayerNamePattern(const std::string& pattern);
// The name for one layer (throws MODEL_LOAD_FAILED for a pattern IsLayerNamePattern refuses).
std::string LayerName(const std::string& pattern, int layer);

}  // namespace phi4
