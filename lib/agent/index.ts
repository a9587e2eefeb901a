export { runAgent, type AgentRun } from "./loop.js";
export type { AgentEvent, AgentOptions, AgentResult, AgentStep, AgentStopReason, AgentToolResult } from "./types.js";
export type { ToolSet } from "./tool-set.js";
