/** The `phi4-onnx/messages` entry: the Messages API types (see types.ts) and the text of a tool result. */
export type * from "./types.js";
export { toolResultText } from "./text.js";
