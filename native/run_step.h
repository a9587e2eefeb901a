// One model run, shared by the single-sequence path (prefill chunks and decode steps,
// sequence_core.cc) and batched decode steps (batch_decode.cc), split the way onnxruntime-genai
// splits its generator state:
//   StepInputs          input ids, attention mask and position ids of the run's rows;
//   the KV cache        the pool's slot views, bound as both past and present (kv_pool.h);
//   logits              a preallocated [rows, 1, vocab] output or one ORT allocates, and the row to read.
// RunModel puts them together under the caller's RunOptions, so a cancel can stop either path.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "model_core.h"

namespace phi4 {

// One row of a run: `count` new tokens after `past` positions that already have KV. A row without
// tokens is a filler: a slot inside a batched range that is not stepping (see batch_decode.cc).
struct RunRow {
  int past = 0;
  int count = 0;
  const int32_t* tokens = nullptr;
};

class StepInputs {
 public:
  // Fills ids and positions [rows, n] and the mask [rows, width] (width: MaskWidth, the LongRoPE
  // rule). Every real row has exactly n tokens and attends to its past and itself; a filler row's
  // dummy token (id 0, n == 1) sits at position 0 and attends to itself only. The buffers
  // are kept between runs, so a decode step allocates nothing once they have grown.
  // `logitsRows`: positions per row whose logits the run computes, the last ones (a graph with the
  // logits start input; 1 unless a speculative step verifies a draft).
  void Build(const ModelCore& model, bool longRope, const RunRow* rows, int rowCount, int n, int logitsRows = 1);
  int rows() const { return rows_; }
  int width() const { return width_; }
  // Tensors over the buffers, in the order the session takes them (ids, mask, positions if it has them).
  std::vector<ValuePtr> Values(const ModelCore& model);

 private:
  std::vector<int64_t> ids_, positions_, mask_;
  int rows_ = 0, n_ = 0, width_ = 0;
  int64_t logitsStart_ = -1;
};

// Runs the session over `inputs` and the KV views `kv` (each bound as past and present: GroupQuery-
// Attention writes the new positions in place). Logits go into `logits` when given (a [rows, 1, vocab]
// tensor), else into a tensor ORT allocates, which is returned. A failed run is ABORTED when
// `cancelled` is set: the RunOptions' terminate flag stopped it.
ValuePtr RunModel(const ModelCore& model, OrtRunOptions* options, const std::atomic<bool>& cancelled, StepInputs& inputs, const std::vector<ValuePtr>& kv,
                  OrtValue* logits);

// The logits of position `position` (0 <= position < n, among the last ones the run computed) of row
// `row` of a run's [rows, n or fewer, vocab] output (shape checked).
const void* PositionLogits(const ModelCore& model, const OrtValue* logits, int rows, int n, int row, int position);
// The logits of the last position of row `row`.
inline const void* LastPositionLogits(const ModelCore& model, const OrtValue* logits, int rows, int n, int row) {
  return PositionLogits(model, logits, rows, n, row, n - 1);
}

// A logits row (float or float16, the model's logits type) as floats in `out` (vocab entries).
void ReadLogitsRow(const ModelCore& model, const void* row, std::vector<float>& out);

}  // namespace phi4
