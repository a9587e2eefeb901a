/** Tool calling for Phi-4-mini: prompts, a tolerant call parser, schema validation, guaranteed-valid calls. */
export { ToolCatalog, type CatalogTool } from "./catalog.js";
export { resolveToolChoice, type ResolvedToolChoice, type ToolChoiceInput } from "./choice.js";
export {
  createToolConstraint,
  ToolCallConstraint,
  type CreateToolConstraintOptions,
  type ToolConstraintMode,
  type ToolConstraintOptions,
} from "./constraint/tool-constraint.js";
export { parseLiteral, LiteralError } from "./literal.js";
export { renderToolPrompt, type ToolPrompt, type ToolPromptOptions, type ToolResultFormat } from "./prompt.js";
export { parseToolCalls, ToolCallStreamParser, TOOL_CALL_CLOSE, TOOL_CALL_OPEN, type ToolParseEvent } from "./stream-parser.js";
export {
  generateToolTurn,
  streamLiveToolTurn,
  streamToolTurn,
  ToolTurnStream,
  type LiveToolTurnEvent,
  type ToolCall,
  type ToolTurnEvent,
  type ToolTurnOptions,
  type ToolTurnResult,
} from "./turn.js";
export type * from "./types.js";
// The Messages API shapes the tool layer takes (conversations, tool choice, tool definitions) and gives (stop reasons).
export type {
  ImageBlockParam,
  MessageParam,
  StopReason,
  TextBlockParam,
  ToolChoice,
  ToolDefinition,
  ToolResultBlockParam,
  ToolUseBlockParam,
} from "../messages/types.js";
