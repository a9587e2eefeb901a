#include "run_step.h"

#include <algorithm>

#include "half.h"
#include "rope_regime.h"

namespace phi4 {

void StepInputs::Build(const ModelCore& model, bool longRope, const RunRow* rows, int rowCount, int n, int logitsRows) {
  logitsStart_ = -std::max(1, std::min(logitsRows, n));
  int longest = 0;
  for (int r = 0; r < rowCount; ++r) {
    if (rows[r].count > 0) longest = std::max(longest, rows[r].past + rows[r].count);
  }
  rows_ = rowCount;
  n_ = n;
  width_ = MaskWidth(model.spec(), longRope, longest);
  const size_t cells = static_cast<size_t>(rowCount) * n;
  if (ids_.size() < cells) {
    ids_.resize(cells);
    positions_.resize(cells);
  }
  const size_t maskCells = static_cast<size_t>(rowCount) * width_;
  if (mask_.size() < maskCells) mask_.resize(maskCells);
  for (int r = 0; r < rowCount; ++r) {
    const RunRow& row = rows[r];
    int64_t* ids = ids_.data() + static_cast<size_t>(r) * n;
    int64_t* positions = positions_.data() + static_cast<size_t>(r) * n;
    int64_t* mask = mask_.data() + static_cast<size_t>(r) * width_;
    if (row.count == 0) {
      // A filler: one dummy token at position 0 that attends to itself only (batch_decode.cc).
      std::fill(ids, ids + n, 0);
      std::fill(positions, positions + n, 0);
      std::fill(mask, mask + width_, 0);
      mask[0] = 1;
      continue;
    }
    for (int i = 0; i < n; ++i) {
      ids[i] = row.tokens[i];
      positions[i] = row.past + i;
    }
    const int attended = row.past + row.count;
    std::fill(mask, mask + attended, 1);
    std::fill(mask + attended, mask + width_, 0);
  }
}

std::vector<ValuePtr> StepInputs::Values(const ModelCore& model) {
  const OrtMemoryInfo* cpu = model.cpuMemory();
  const int64_t idsShape[2] = {rows_, n_};
  const int64_t maskShape[2] = {rows_, width_};
  const size_t cells = static_cast<size_t>(rows_) * n_;
  std::vector<ValuePtr> values;
  values.push_back(TensorView(cpu, ids_.data(), cells * sizeof(int64_t), idsShape, 2, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64));
  values.push_back(TensorView(cpu, mask_.data(), static_cast<size_t>(rows_) * width_ * sizeof(int64_t), maskShape, 2, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64));
  if (model.hasPositionIds()) values.push_back(TensorView(cpu, positions_.data(), cells * sizeof(int64_t), idsShape, 2, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64));
  const int64_t startShape[1] = {1};
  if (model.hasLogitsStart()) values.push_back(TensorView(cpu, &logitsStart_, sizeof(int64_t), startShape, 1, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64));
  return values;
}

ValuePtr RunModel(const ModelCore& model, OrtRunOptions* options, const std::atomic<bool>& cancelled, StepInputs& inputs, const std::vector<ValuePtr>& kv,
                  OrtValue* logits) {
  std::vector<ValuePtr> held = inputs.Values(model);
  std::vector<const OrtValue*> in;
  for (const auto& value : held) in.push_back(value.get());
  std::vector<OrtValue*> out = {logits};
  for (const auto& value : kv) {
    in.push_back(value.get());
    out.push_back(value.get());
  }
  OrtStatus* status =
      Ort().Run(model.session(), options, model.runInputNames().data(), in.data(), in.size(), model.runOutputNames().data(), out.size(), out.data());
  ValuePtr allocated(logits ? nullptr : out[0]);
  if (status) {
    if (cancelled.load()) {
      Ort().ReleaseStatus(status);
      throw EngineError(code::kAborted, "generation was aborted");
    }
    Check(status);
  }
  return allocated;
}

const void* PositionLogits(const ModelCore& model, const OrtValue* logits, int rows, int n, int row, int position) {
  const int64_t vocab = model.spec().vocabSize;
  OrtTensorTypeAndShapeInfo* info = nullptr;
  Check(Ort().GetTensorTypeAndShape(logits, &info));
  size_t rank = 0;
  OrtStatus* status = Ort().GetDimensionsCount(info, &rank);
  int64_t dims[3] = {0, 0, 0};
  if (!status && rank == 3) status = Ort().GetDimensions(info, dims, 3);
  Ort().ReleaseTensorTypeAndShapeInfo(info);
  Check(status);
  // n positions per row, or the last few when the graph slices before the lm_head.
  if (rank != 3 || dims[0] != rows || dims[1] < 1 || dims[1] > n || dims[2] != vocab)
    throw EngineError(code::kModelLoadFailed, "logits output has an unexpected shape; genai_config.json's vocab_size must match the model's lm_head");
  const int64_t computed = position - (n - dims[1]);  // index among the positions the run computed
  if (computed < 0 || position >= n) throw EngineError(code::kInvalidArgument, "the run computed no logits for that position");
  void* data = nullptr;
  Check(Ort().GetTensorMutableData(const_cast<OrtValue*>(logits), &data));
  const size_t cell = static_cast<size_t>(row) * dims[1] + computed;
  return static_cast<const uint8_t*>(data) + cell * vocab * ElementSize(model.logitsType());
}

void ReadLogitsRow(const ModelCore& model, const void* data, std::vector<float>& out) {
  const size_t vocab = static_cast<size_t>(model.spec().vocabSize);
  out.resize(vocab);
  if (model.logitsType() == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16) {
    const uint16_t* row = static_cast<const uint16_t*>(data);
    for (size_t i = 0; i < vocab; ++i) out[i] = HalfToFloat(row[i]);
  } else {
    const float* row = static_cast<const float*>(data);
    std::copy(row, row + vocab, out.begin());
  }
}

}  // namespace phi4
