#include "batch_decode.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>

#include "int4_matmul.h"
#include "rope_regime.h"

namespace phi4 {
namespace {

// Rows a batched step may hold, drafted positions included: half a register tile of the model's int4
// kernel (4 on AVX-512, 2 on AVX2; ONNX Runtime's own kernel as AVX2). Up to there a step stays bound
// by the weight reads; past it every row, drafted or padding, adds arithmetic (measured on phi4-mini,
// 2 AVX-512 cores: 4 sequences with a 1-token draft each, 8 rows, took 93 ms a step against 78 ms
// without drafts, more than the drafts accepted on free text gave back).
int DraftRowBudget(const ModelCore& model) {
  int4::Variant variant;
  if (!model.spec().int4Kernel || !int4::ParseVariant(model.spec().int4Variant, &variant)) return 2;
  return static_cast<int>(int4::TileRows(variant)) / 2;
}

template <typename Step>
void Isolated(BatchMember& m, Step&& step) {
  try {
    step();
  } catch (const EngineError& e) {
    m.errorCode = e.code();
    m.error = e.what();
  } catch (const std::bad_alloc&) {
    m.errorCode = code::kOutOfMemory;
    m.error = "out of memory";
  } catch (const std::exception& e) {
    m.errorCode = code::kOrtError;
    m.error = e.what();
  }
}

// Runs the members (all of one regime) as one batch over the contiguous slot range they span.
//
// Slots inside that range that are not members (idle sequences, free slots) are rows of the batch
// too: ORT needs one contiguous [B, ...] KV tensor. Such a row is a filler (StepInputs): its dummy
// token's K/V lands at position 0 (a fixed position, so an idle slot of growing host KV keeps at most
// its first page of each region backed, instead of one page more per step); that one position is
// saved before the run and put back after it, so whatever the slot holds is left exactly as it was. The save is a host copy, so a
// range with fillers needs host-memory KV; on a device the members then run one by one.
void RunGroup(KvPool& pool, std::vector<BatchMember*>& group, bool longRope, int draftRows) {
  const ModelCore& model = *pool.model();
  const ModelSpec& spec = model.spec();
  std::sort(group.begin(), group.end(), [](BatchMember* a, BatchMember* b) { return a->sequence->slot() < b->sequence->slot(); });
  const int first = group.front()->sequence->slot();
  const int rows = group.back()->sequence->slot() - first + 1;

  // Each member runs its pending last token, at position length - 1; other rows are fillers.
  const bool fillers = rows > static_cast<int>(group.size());
  if (fillers && !model.kvOnHost())
    throw EngineError(code::kInvalidArgument, "a batched range with idle slots needs host-memory KV; the sequences run one by one");

  // Speculative rows (docs/speculative.md): every row holds its pending token and as many positions
  // after it as the longest draft, within what each row may verify now (DraftLimit). A shorter draft
  // is padded with its pending token: a position's results do not depend on the positions after it,
  // and the padding's are dropped. Not in a range with idle slots: a filler touches position 0 only.
  // The run's rows stay within DraftRowBudget: 2 sequences may verify a token each on AVX-512, 4
  // decode plainly.
  int drafted = 0;
  if (!fillers) {
    for (BatchMember* m : group) drafted = std::max(drafted, static_cast<int>(m->draft.size()));
    drafted = std::min(drafted, std::max(0, (draftRows > 0 ? draftRows : DraftRowBudget(model)) / rows - 1));
    for (BatchMember* m : group) drafted = std::min(drafted, m->sequence->DraftLimit(drafted));
  }
  const int n = 1 + drafted;
  std::vector<int32_t> rowTokens(static_cast<size_t>(rows) * n);
  std::vector<RunRow> runRows(rows);
  for (BatchMember* m : group) {
    const SequenceCore& sequence = *m->sequence;
    m->draft.resize(std::min(m->draft.size(), static_cast<size_t>(drafted)));
    if (n > 1) pool.Grow(sequence.slot(), sequence.length() - 1 + n);
    int32_t* row = rowTokens.data() + static_cast<size_t>(sequence.slot() - first) * n;
    std::fill(row, row + n, sequence.tokens().back());
    std::copy(m->draft.begin(), m->draft.end(), row + 1);
    runRows[sequence.slot() - first] = {sequence.length() - 1, n, row};
  }
  StepInputs& inputs = pool.batchInputs();
  inputs.Build(model, longRope, runRows.data(), rows, n, n);

  // Save the one position each filler row's dummy token will overwrite (position 0, StepInputs).
  const size_t rowBytes = pool.rowBytes();
  std::vector<uint8_t> saved;
  auto forEachDummyRegion = [&](auto&& f) {
    for (int row = 0; row < rows; ++row) {
      if (runRows[row].count > 0) continue;
      for (size_t t = 0; t < pool.tensorCount(); ++t) {
        uint8_t* slot = pool.SlotData(t, first + row);
        for (int head = 0; head < spec.numKvHeads; ++head) f(slot + static_cast<size_t>(head) * pool.capacity() * rowBytes);
      }
    }
  };
  forEachDummyRegion([&](uint8_t* position) { saved.insert(saved.end(), position, position + rowBytes); });
  auto restoreDummyRegions = [&] {
    const uint8_t* restore = saved.data();
    forEachDummyRegion([&](uint8_t* position) {
      std::memcpy(position, restore, rowBytes);
      restore += rowBytes;
    });
  };

  const size_t logitsRowBytes = static_cast<size_t>(spec.vocabSize) * ElementSize(model.logitsType());
  std::vector<uint8_t>& logits = pool.batchLogits();
  const size_t logitsBytes = static_cast<size_t>(rows) * n * logitsRowBytes;
  logits.resize(std::max(logits.size(), logitsBytes));
  const int64_t logitsShape[3] = {rows, n, spec.vocabSize};
  ValuePtr logitsValue = TensorView(model.cpuMemory(), logits.data(), logitsBytes, logitsShape, 3, model.logitsType());
  std::vector<const std::atomic<bool>*> cancelFlags;
  for (BatchMember* m : group) cancelFlags.push_back(&m->sequence->cancelFlag());
  pool.BeginBatchRun(std::move(cancelFlags));
  try {
    RunModel(model, pool.batchRunOptions(), pool.batchCancelled(), inputs, pool.Views(first, rows), logitsValue.get());
  } catch (...) {
    pool.EndBatchRun();
    restoreDummyRegions();
    throw;
  }
  pool.EndBatchRun();
  restoreDummyRegions();

  for (BatchMember* m : group) {
    const int row = m->sequence->slot() - first;
    if (m->draft.empty()) {
      m->sequence->CommitBatchedToken(PositionLogits(model, logitsValue.get(), rows, n, row, 0));
      continue;
    }
    // Verified here (DecodeBatch does not sample it again); a mask that allows nothing fails this member alone.
    m->verified = true;
    Isolated(*m, [&] {
      const auto* rowLogits = static_cast<const uint8_t*>(PositionLogits(model, logitsValue.get(), rows, n, row, 0));
      m->accepted = m->sequence->CommitBatchedDraft(rowLogits, logitsRowBytes, m->draft, m->positions);
      m->next = m->accepted.back();
      m->accepted.pop_back();
    });
  }
}

}  // namespace

namespace {

// Runs `step` for one member and records a failure on the member. Every step of a member is
// all-or-nothing on the sequence (a run commits only when it succeeds), so a failed member is left
// with the tokens and KV it had, at most with its pending token evaluated.
void ThrowIfCancelled(const SequenceCore& sequence) {
  if (sequence.cancelled()) throw EngineError(code::kAborted, "generation was aborted");
}

}  // namespace

void DecodeBatch(KvPool& pool, std::vector<BatchMember>& members, int draftRows) {
  for (BatchMember& m : members) {
    if (&m.sequence->pool() != &pool) throw EngineError(code::kInvalidArgument, "every sequence of a batched step must belong to the context running it");
  }
  auto failed = [](const BatchMember& m) { return m.errorCode != nullptr; };

  std::vector<BatchMember*> shortGroup, longGroup;
  for (BatchMember& m : members) {
    if (failed(m)) continue;  // refused while reading its arguments
    Isolated(m, [&] {
      ThrowIfCancelled(*m.sequence);
      if (m.sequence->CanJoinBatch()) {
        pool.Grow(m.sequence->slot(), m.sequence->length());  // KV_MEMORY_EXCEEDED fails this member alone
        (m.sequence->longRopeRegime() ? longGroup : shortGroup).push_back(&m);
      } else {
        m.sequence->Append({});  // several positions to run, or a regime change: a prefill of its own
      }
    });
  }
  for (auto* group : {&shortGroup, &longGroup}) {
    if (group->empty()) continue;
    try {
      std::lock_guard<std::mutex> lock(pool.mutex());
      RunGroup(pool, *group, group == &longGroup, draftRows);
    } catch (...) {
      // Nothing of a failed shared run was committed: run each member alone, so that only the
      // member that makes the run fail reports the failure.
      for (BatchMember* m : *group) Isolated(*m, [&] { m->sequence->Append({}); });
    }
  }
  for (BatchMember& m : members) {
    if (failed(m)) continue;
    // A cancel that came while the step ran: the member reports ABORTED (its token was evaluated).
    Isolated(m, [&] {
      ThrowIfCancelled(*m.sequence);
      if (!m.verified) m.next = m.sequence->Sample(m.params);
    });
  }
}

}  // namespace phi4
