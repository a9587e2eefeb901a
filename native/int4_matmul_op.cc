#include "int4_matmul_op.h"

#include <algorithm>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "custom_ops.h"
#include "int4_matmul.h"
#include "int4_weights_file.h"

namespace phi4 {
namespace {

// Rows quantized per parallel task (only prefill has more than one task).
constexpr size_t kRowsPerTask = 16;

struct Kernel {
  std::shared_ptr<const int4::PackedWeights> weights;
  int4::Variant variant;  // the fastest this CPU runs, chosen once per node
};

OrtStatus* Fail(const OrtApi* api, const std::string& message) { return CustomOpError(api, kInt4OpName, message); }

// A constant input's data and element count (weights held inline in the graph).
OrtStatus* ConstantInput(const OrtApi* api, const OrtKernelInfo* info, size_t index, ONNXTensorElementDataType type, const void** data, size_t* count) {
  int isConstant = 0;
  const OrtValue* value = nullptr;
  if (OrtStatus* s = api->KernelInfoGetConstantInput_tensor(info, index, &isConstant, &value)) return s;
  if (!isConstant || !value) return Fail(api, "input " + std::to_string(index) + " must be a constant initializer");
  OrtTensorTypeAndShapeInfo* shape = nullptr;
  if (OrtStatus* s = api->GetTensorTypeAndShape(value, &shape)) return s;
  ONNXTensorElementDataType actual;
  OrtStatus* s = api->GetTensorElementType(shape, &actual);
  if (!s) s = api->GetTensorShapeElementCount(shape, count);
  api->ReleaseTensorTypeAndShapeInfo(shape);
  if (s) return s;
  if (actual != type) return Fail(api, "input " + std::to_string(index) + " has an unexpected element type");
  void* mutableData = nullptr;
  // ORT's C API of version 21 has no const accessor; the kernel only reads.
  if (OrtStatus* st = api->GetTensorMutableData(const_cast<OrtValue*>(value), &mutableData)) return st;
  *data = mutableData;
  return nullptr;
}

// A string attribute, or "" when the node has none.
std::string StringAttribute(const OrtApi* api, const OrtKernelInfo* info, const char* name) {
  size_t size = 0;
  if (OrtStatus* s = api->KernelInfoGetAttribute_string(info, name, nullptr, &size)) {
    api->ReleaseStatus(s);
    return "";
  }
  std::string value(size, '\0');
  if (OrtStatus* s = api->KernelInfoGetAttribute_string(info, name, value.data(), &size)) {
    api->ReleaseStatus(s);
    return "";
  }
  value.resize(size > 0 ? size - 1 : 0);  // the size counts the terminating NUL
  return value;
}

// The weights the graph rewrite left in the external data file (attributes weights_path, ...).
OrtStatus* WeightsFromFile(const OrtApi* api, const OrtKernelInfo* info, const std::string& dataPath, size_t n, size_t k, Kernel* kernel) {
  int4::FileRange data{dataPath, 0}, scales{StringAttribute(api, info, "scales_path"), 0};
  int64_t dataOffset = 0, scalesOffset = 0;
  if (OrtStatus* s = api->KernelInfoGetAttribute_int64(info, "weights_offset", &dataOffset)) return s;
  if (OrtStatus* s = api->KernelInfoGetAttribute_int64(info, "scales_offset", &scalesOffset)) return s;
  if (scales.path.empty() || dataOffset < 0 || scalesOffset < 0) return Fail(api, "weights_path needs scales_path and non-negative offsets");
  data.offset = static_cast<uint64_t>(dataOffset);
  scales.offset = static_cast<uint64_t>(scalesOffset);
  std::string error;
  kernel->weights = int4::LoadPackedWeights(data, scales, n, k, &error);
  return kernel->weights ? nullptr : Fail(api, error);
}

// The weights held inline in the graph (inputs 1 and 2).
OrtStatus* WeightsFromInputs(const OrtApi* api, const OrtKernelInfo* info, size_t n, size_t k, Kernel* kernel) {
  const void* data = nullptr;
  const void* scales = nullptr;
  size_t dataCount = 0, scaleCount = 0;
  if (OrtStatus* s = ConstantInput(api, info, 1, ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8, &data, &dataCount)) return s;
  if (OrtStatus* s = ConstantInput(api, info, 2, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &scales, &scaleCount)) return s;
  const size_t blocks = k / int4::kBlock;
  if (dataCount != n * blocks * 16 || scaleCount != n * blocks) {
    return Fail(api, "B or scales do not match K=" + std::to_string(k) + ", N=" + std::to_string(n) + " with 4 bits in blocks of 32");
  }
  kernel->weights = int4::Pack(static_cast<const uint8_t*>(data), static_cast<const float*>(scales), n, k);
  return nullptr;
}

OrtStatus* ORT_API_CALL CreateKernel(const OrtCustomOp*, const OrtApi* api, const OrtKernelInfo* info, void** out) {
  int64_t k = 0, n = 0;
  if (OrtStatus* s = api->KernelInfoGetAttribute_int64(info, "K", &k)) return s;
  if (OrtStatus* s = api->KernelInfoGetAttribute_int64(info, "N", &n)) return s;
  if (k <= 0 || n <= 0 || k % 64 != 0) return Fail(api, "K must be a positive multiple of 64 and N positive");
  try {
    auto kernel = std::make_unique<Kernel>();
    const std::string dataPath = StringAttribute(api, info, "weights_path");
    OrtStatus* status = dataPath.empty() ? WeightsFromInputs(api, info, static_cast<size_t>(n), static_cast<size_t>(k), kernel.get())
                                         : WeightsFromFile(api, info, dataPath, static_cast<size_t>(n), static_cast<size_t>(k), kernel.get());
    if (status) return status;
    // The variant the graph rewrite names (a benchmark of another instruction set), else the fastest.
    const std::string variant = StringAttribute(api, info, "variant");
    kernel->variant = int4::BestVariant();
    if (!variant.empty() && (!int4::ParseVariant(variant, &kernel->variant) || !int4::VariantSupported(kernel->variant))) {
      return Fail(api, "this CPU cannot run the int4 kernel variant '" + variant + "'");
    }
    *out = kernel.release();
    return nullptr;
  } catch (const std::bad_alloc&) {
    return Fail(api, "out of memory for the packed weights (K=" + std::to_string(k) + ", N=" + std::to_string(n) + ")");
  }
}

struct Work {
  const float* a;
  int4::QuantizedRows rows;
  const Kernel* kernel;
  float* out;
};

void QuantizeTask(void* data, size_t task) {
  Work& work = *static_cast<Work*>(data);
  const size_t begin = task * kRowsPerTask;
  int4::QuantizeRows(work.kernel->variant, work.a, begin, std::min(begin + kRowsPerTask, work.rows.rows), work.rows);
}

void MultiplyTask(void* data, size_t task) {
  Work& work = *static_cast<Work*>(data);
  const size_t begin = task * int4::kColumnsPerTask;
  const int4::PackedWeights& w = *work.kernel->weights;
  int4::MultiplyColumns(work.kernel->variant, work.rows, w, begin, std::min(begin + int4::kColumnsPerTask, w.n()), work.out);
}

OrtStatus* ORT_API_CALL Compute(void* kernelData, OrtKernelContext* context) {
  const OrtApi* api = &Ort();
  const Kernel& kernel = *static_cast<Kernel*>(kernelData);
  const int4::PackedWeights& w = *kernel.weights;
  const OrtValue* input = nullptr;
  if (OrtStatus* s = api->KernelContext_GetInput(context, 0, &input)) return s;
  OrtTensorTypeAndShapeInfo* shape = nullptr;
  if (OrtStatus* s = api->GetTensorTypeAndShape(input, &shape)) return s;
  size_t rank = 0;
  OrtStatus* s = api->GetDimensionsCount(shape, &rank);
  std::vector<int64_t> dims(rank);
  if (!s) s = api->GetDimensions(shape, dims.data(), rank);
  api->ReleaseTensorTypeAndShapeInfo(shape);
  if (s) return s;
  if (rank == 0 || dims.back() != static_cast<int64_t>(w.k())) return Fail(api, "A's last dimension must be K");
  size_t rows = 1;
  for (size_t i = 0; i + 1 < rank; ++i) rows *= static_cast<size_t>(dims[i]);
  dims.back() = static_cast<int64_t>(w.n());
  OrtValue* output = nullptr;
  if (OrtStatus* st = api->KernelContext_GetOutput(context, 0, dims.data(), rank, &output)) return st;
  if (rows == 0) return nullptr;
  void* a = nullptr;
  void* out = nullptr;
  if (OrtStatus* st = api->GetTensorMutableData(const_cast<OrtValue*>(input), &a)) return st;
  if (OrtStatus* st = api->GetTensorMutableData(output, &out)) return st;

  Work work{static_cast<const float*>(a), {}, &kernel, static_cast<float*>(out)};
  work.rows.Resize(rows, w.k());
  const size_t rowTasks = (rows + kRowsPerTask - 1) / kRowsPerTask;
  if (rowTasks == 1) {
    int4::QuantizeRows(kernel.variant, work.a, 0, rows, work.rows);
  } else if (OrtStatus* st = api->KernelContext_ParallelFor(context, QuantizeTask, rowTasks, 0, &work)) {
    return st;
  }
  const size_t columnTasks = (w.n() + int4::kColumnsPerTask - 1) / int4::kColumnsPerTask;
  return api->KernelContext_ParallelFor(context, MultiplyTask, columnTasks, 0, &work);
}

void ORT_API_CALL DestroyKernel(void* kernel) { delete static_cast<Kernel*>(kernel); }

}  // namespace

const OrtCustomOp& Int4MatMulOp() {
  static const OrtCustomOp op = [] {
    OrtCustomOp o = CustomOpBase();
    o.GetName = [](const OrtCustomOp*) { return kInt4OpName; };
    // A, then B and scales when the weights are held inline (otherwise attributes say where they lie).
    o.GetInputTypeCount = [](const OrtCustomOp*) -> size_t { return 3; };
    o.GetInputType = [](const OrtCustomOp*, size_t index) { return index == 1 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8 : ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT; };
    o.GetOutputTypeCount = [](const OrtCustomOp*) -> size_t { return 1; };
    o.GetOutputType = [](const OrtCustomOp*, size_t) { return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT; };
    o.GetInputCharacteristic = [](const OrtCustomOp*, size_t index) { return index == 0 ? INPUT_OUTPUT_REQUIRED : INPUT_OUTPUT_OPTIONAL; };
    o.GetOutputCharacteristic = [](const OrtCustomOp*, size_t) { return INPUT_OUTPUT_REQUIRED; };
    o.CreateKernelV2 = CreateKernel;
    o.KernelComputeV2 = Compute;
    o.KernelDestroy = DestroyKernel;
    return o;
  }();
  return op;
}

}  // namespace phi4
