#include "custom_ops.h"

#include <climits>

#include "attention_op.h"
#include "int4_matmul_op.h"

namespace phi4 {

CustomOpDomainPtr AddCustomOpDomain(OrtSessionOptions* options) {
  OrtCustomOpDomain* raw = nullptr;
  Check(Ort().CreateCustomOpDomain(kCustomOpDomain, &raw));
  CustomOpDomainPtr domain(raw);
  Check(Ort().CustomOpDomain_Add(raw, const_cast<OrtCustomOp*>(&Int4MatMulOp())));
  Check(Ort().CustomOpDomain_Add(raw, const_cast<OrtCustomOp*>(&AttentionOp())));
  Check(Ort().CustomOpDomain_Add(raw, const_cast<OrtCustomOp*>(&AttentionHalfKvOp())));
  Check(Ort().AddCustomOpDomain(options, raw));
  return domain;
}

OrtStatus* CustomOpError(const OrtApi* api, const char* op, const std::string& message) {
  return api->CreateStatus(ORT_INVALID_ARGUMENT, (std::string("phi4_onnx.") + op + ": " + message).c_str());
}

OrtCustomOp CustomOpBase() {
  OrtCustomOp o{};
  o.version = ORT_API_VERSION;
  o.GetExecutionProviderType = [](const OrtCustomOp*) -> const char* { return "CPUExecutionProvider"; };
  o.GetInputMemoryType = [](const OrtCustomOp*, size_t) { return OrtMemTypeDefault; };
  o.GetVariadicInputMinArity = [](const OrtCustomOp*) { return 1; };
  o.GetVariadicInputHomogeneity = [](const OrtCustomOp*) { return 1; };
  o.GetVariadicOutputMinArity = [](const OrtCustomOp*) { return 1; };
  o.GetVariadicOutputHomogeneity = [](const OrtCustomOp*) { return 1; };
  o.GetStartVersion = [](const OrtCustomOp*) { return 1; };
  o.GetEndVersion = [](const OrtCustomOp*) { return INT_MAX; };
  return o;
}

}  // namespace phi4
