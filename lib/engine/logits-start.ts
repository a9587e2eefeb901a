/**
 * The name of the input the last-position rewrite adds (last-position-graph.ts): an int64 [1] tensor,
 * where the lm_head's slice starts counted from the end of each row (-1: the last position only;
 * -(k+1): the last k+1, for a speculative step verifying k drafted tokens). The addon feeds it on
 * every run. Its own module so that the engine names it without loading the rewrite's protobuf code.
 */
export const LOGITS_START_INPUT = "phi4_onnx_logits_start";
