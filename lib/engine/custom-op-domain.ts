/**
 * The "phi4_onnx" operator domain of the addon's own CPU kernels (native/custom_ops.h): graph
 * rewrites point nodes at its ops, and the graph must then import the domain.
 */
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

export const CUSTOM_OP_DOMAIN = "phi4_onnx";

/** Adds the domain to `model`'s opset imports unless it is there. */
export function importCustomOpDomain(model: onnxProto.onnx.IModelProto): void {
  if ((model.opsetImport ?? []).some((o) => o.domain === CUSTOM_OP_DOMAIN)) return;
  model.opsetImport = [...(model.opsetImport ?? []), onnx.OperatorSetIdProto.create({ domain: CUSTOM_OP_DOMAIN, version: 1 })];
}
