#include "attention_op.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "attention.h"
#include "custom_ops.h"

namespace phi4 {
namespace {

struct Kernel {
  int heads = 0, kvHeads = 0, localWindow = -1;
  float scale = 0.f;
  bool halfKv = false;  // the op with an fp16 cache (kAttentionHalfKvOpName)
};

// The two ops differ only in the cache's element type; each OrtCustomOp is the first member of one
// of these, so the kernel knows which it is.
struct AttentionOpDef {
  OrtCustomOp op;
  bool halfKv;
};

OrtStatus* Fail(const OrtApi* api, const std::string& message) { return CustomOpError(api, kAttentionOpName, message); }

// GroupQueryAttention's inputs, in its order: query (packed QKV), key, value (absent), past_key,
// past_value, seqlens_k, total_sequence_length, cos_cache, sin_cache.
enum Input : size_t { kQkv = 0, kKey, kValue, kPastKey, kPastValue, kSeqlensK, kTotalLength, kCos, kSin, kInputCount };

OrtStatus* Shape(const OrtApi* api, const OrtValue* value, std::vector<int64_t>* dims) {
  OrtTensorTypeAndShapeInfo* info = nullptr;
  if (OrtStatus* s = api->GetTensorTypeAndShape(value, &info)) return s;
  size_t rank = 0;
  OrtStatus* s = api->GetDimensionsCount(info, &rank);
  dims->assign(rank, 0);
  if (!s) s = api->GetDimensions(info, dims->data(), rank);
  api->ReleaseTensorTypeAndShapeInfo(info);
  return s;
}

template <typename T>
OrtStatus* Data(const OrtApi* api, const OrtValue* value, T** out) {
  void* raw = nullptr;
  if (OrtStatus* s = api->GetTensorMutableData(const_cast<OrtValue*>(value), &raw)) return s;
  *out = static_cast<T*>(raw);
  return nullptr;
}

OrtStatus* ORT_API_CALL CreateKernel(const OrtCustomOp* op, const OrtApi* api, const OrtKernelInfo* info, void** out) {
  // An attribute's value, or `fallback` where the node does not set it.
  auto get = [&](const char* name, auto fallback) {
    decltype(fallback) v = fallback;
    OrtStatus* s = nullptr;
    if constexpr (std::is_same_v<decltype(fallback), float>) {
      s = api->KernelInfoGetAttribute_float(info, name, &v);
    } else {
      s = api->KernelInfoGetAttribute_int64(info, name, &v);
    }
    if (s) {
      api->ReleaseStatus(s);
      v = fallback;
    }
    return v;
  };
  auto kernel = std::make_unique<Kernel>();
  kernel->heads = static_cast<int>(get("num_heads", int64_t{0}));
  kernel->kvHeads = static_cast<int>(get("kv_num_heads", int64_t{0}));
  kernel->localWindow = static_cast<int>(get("local_window_size", int64_t{-1}));
  kernel->scale = get("scale", 0.f);
  kernel->halfKv = reinterpret_cast<const AttentionOpDef*>(op)->halfKv;
  if (kernel->heads <= 0 || kernel->kvHeads <= 0 || kernel->heads % kernel->kvHeads != 0) {
    return Fail(api, "num_heads must be a positive multiple of kv_num_heads");
  }
  // What the graph rewrite checked; refused here too rather than computed differently.
  if (get("do_rotary", int64_t{0}) != 1 || get("rotary_interleaved", int64_t{0}) != 0 || get("softcap", 0.f) != 0.f || get("smooth_softmax", int64_t{0}) != 0) {
    return Fail(api, "only do_rotary=1, rotary_interleaved=0, no softcap and no smooth_softmax are supported");
  }
  *out = kernel.release();
  return nullptr;
}

struct Work {
  attention::Problem problem;
};

void PrepareTask(void* data, size_t row) { attention::PrepareRows(static_cast<Work*>(data)->problem, row, row + 1); }
void AttendTask(void* data, size_t task) { attention::RunTask(static_cast<Work*>(data)->problem, task); }

OrtStatus* ORT_API_CALL Compute(void* kernelData, OrtKernelContext* context) {
  const OrtApi* api = &Ort();
  const Kernel& kernel = *static_cast<Kernel*>(kernelData);
  const OrtValue* in[kInputCount] = {};
  for (size_t i = 0; i < kInputCount; ++i) {
    if (OrtStatus* s = api->KernelContext_GetInput(context, i, &in[i])) return s;
  }
  if (in[kKey] || in[kValue]) return Fail(api, "separate key and value inputs are not supported (packed QKV only)");
  for (size_t i : {kQkv, kPastKey, kPastValue, kSeqlensK, kCos, kSin}) {
    if (!in[i]) return Fail(api, "input " + std::to_string(i) + " is missing");
  }
  std::vector<int64_t> qkvDims, pastDims, cosDims, sinDims, seqlensDims;
  for (auto [value, dims] :
       {std::pair{in[kQkv], &qkvDims}, {in[kPastKey], &pastDims}, {in[kCos], &cosDims}, {in[kSin], &sinDims}, {in[kSeqlensK], &seqlensDims}}) {
    if (OrtStatus* s = Shape(api, value, dims)) return s;
  }
  if (qkvDims.size() != 3 || pastDims.size() != 4 || cosDims.size() != 2 || cosDims != sinDims) return Fail(api, "unexpected input ranks");
  attention::Problem p;
  p.batch = static_cast<int>(qkvDims[0]);
  p.seq = static_cast<int>(qkvDims[1]);
  p.heads = kernel.heads;
  p.kvHeads = kernel.kvHeads;
  const int64_t width = qkvDims[2], parts = kernel.heads + 2 * kernel.kvHeads;
  if (width % parts != 0) return Fail(api, "the packed QKV width is not (num_heads + 2 kv_num_heads) x head size");
  p.headSize = static_cast<int>(width / parts);
  if (pastDims[0] != p.batch || pastDims[1] != p.kvHeads || pastDims[3] != p.headSize) return Fail(api, "past_key does not match the query");
  if (seqlensDims.empty() || seqlensDims[0] != p.batch) return Fail(api, "seqlens_k must hold one length per batch row");
  p.capacity = static_cast<int>(pastDims[2]);
  p.cacheRows = static_cast<int>(cosDims[0]);
  p.rotaryHalf = static_cast<int>(cosDims[1]);
  p.scale = kernel.scale != 0.f ? kernel.scale : 1.f / std::sqrt(static_cast<float>(p.headSize));
  if (OrtStatus* s = Data(api, in[kQkv], const_cast<float**>(&p.qkv))) return s;
  if (OrtStatus* s = Data(api, in[kSeqlensK], const_cast<int32_t**>(&p.seqlensK))) return s;
  if (OrtStatus* s = Data(api, in[kCos], const_cast<float**>(&p.cos))) return s;
  if (OrtStatus* s = Data(api, in[kSin], const_cast<float**>(&p.sin))) return s;
  if (kernel.localWindow > 0) {
    for (int b = 0; b < p.batch; ++b) {
      if (p.seqlensK[b] + 1 > kernel.localWindow) return Fail(api, "sequences longer than local_window_size are not supported");
    }
  }

  // Present K/V have past's shape: the engine binds them to the same buffer. Where they are not
  // the same memory, the past is copied over first.
  const int64_t outDims[3] = {p.batch, p.seq, static_cast<int64_t>(p.heads) * p.headSize};
  OrtValue* out = nullptr;
  OrtValue* presentKey = nullptr;
  OrtValue* presentValue = nullptr;
  if (OrtStatus* s = api->KernelContext_GetOutput(context, 0, outDims, 3, &out)) return s;
  if (OrtStatus* s = api->KernelContext_GetOutput(context, 1, pastDims.data(), 4, &presentKey)) return s;
  if (OrtStatus* s = api->KernelContext_GetOutput(context, 2, pastDims.data(), 4, &presentValue)) return s;
  void *pastKey = nullptr, *pastValue = nullptr, *key = nullptr, *value = nullptr;
  if (OrtStatus* s = Data(api, in[kPastKey], &pastKey)) return s;
  if (OrtStatus* s = Data(api, in[kPastValue], &pastValue)) return s;
  if (OrtStatus* s = Data(api, out, &p.out)) return s;
  if (OrtStatus* s = Data(api, presentKey, &key)) return s;
  if (OrtStatus* s = Data(api, presentValue, &value)) return s;
  const size_t cacheBytes = static_cast<size_t>(p.batch) * p.kvHeads * p.capacity * p.headSize * (kernel.halfKv ? 2 : 4);
  if (kernel.halfKv) {
    p.keyHalf = static_cast<uint16_t*>(key);
    p.valueHalf = static_cast<uint16_t*>(value);
  } else {
    p.key = static_cast<float*>(key);
    p.value = static_cast<float*>(value);
  }
  if (const char* problem = attention::Validate(p); *problem) return Fail(api, problem);
  if (key != pastKey) std::memcpy(key, pastKey, cacheBytes);
  if (value != pastValue) std::memcpy(value, pastValue, cacheBytes);

  std::vector<float> rotated(static_cast<size_t>(p.batch) * p.seq * p.heads * p.headSize);
  p.rotatedQuery = rotated.data();
  Work work{p};
  if (OrtStatus* s = api->KernelContext_ParallelFor(context, PrepareTask, static_cast<size_t>(p.batch) * p.seq, 0, &work)) return s;
  return api->KernelContext_ParallelFor(context, AttendTask, attention::TaskCount(p), 0, &work);
}

void ORT_API_CALL DestroyKernel(void* kernel) { delete static_cast<Kernel*>(kernel); }

bool HalfKv(const OrtCustomOp* op) { return reinterpret_cast<const AttentionOpDef*>(op)->halfKv; }

ONNXTensorElementDataType CacheType(const OrtCustomOp* op) { return HalfKv(op) ? ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 : ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT; }

AttentionOpDef MakeOp(bool halfKv) {
  OrtCustomOp o = CustomOpBase();
  o.GetName = [](const OrtCustomOp* op) { return HalfKv(op) ? kAttentionHalfKvOpName : kAttentionOpName; };
  o.GetInputTypeCount = [](const OrtCustomOp*) -> size_t { return kInputCount; };
  o.GetInputType = [](const OrtCustomOp* op, size_t index) {
    if (index == kSeqlensK || index == kTotalLength) return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32;
    return index == kPastKey || index == kPastValue ? CacheType(op) : ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  };
  o.GetInputCharacteristic = [](const OrtCustomOp*, size_t index) { return index == kKey || index == kValue ? INPUT_OUTPUT_OPTIONAL : INPUT_OUTPUT_REQUIRED; };
  o.GetOutputTypeCount = [](const OrtCustomOp*) -> size_t { return 3; };
  o.GetOutputType = [](const OrtCustomOp* op, size_t index) { return index == 0 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT : CacheType(op); };
  o.GetOutputCharacteristic = [](const OrtCustomOp*, size_t) { return INPUT_OUTPUT_REQUIRED; };
  o.CreateKernelV2 = CreateKernel;
  o.KernelComputeV2 = Compute;
  o.KernelDestroy = DestroyKernel;
  return {o, halfKv};
}

}  // namespace

const OrtCustomOp& AttentionOp() {
  static const AttentionOpDef def = MakeOp(false);
  return def.op;
}

const OrtCustomOp& AttentionHalfKvOp() {
  static const AttentionOpDef def = MakeOp(true);
  return def.op;
}

}  // namespace phi4
