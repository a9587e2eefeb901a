/**
 * What the agent loop runs tools through. The MCP bridge is one; a caller's own functions can be
 * another. A tool's failure is a ToolOutput with is_error set (the model reads it and carries on);
 * only an abort of the caller's signal may throw.
 */
import type { ToolDefinition, ToolOutput } from "../messages/types.js";

export interface ToolSet {
  tools(): Promise<ToolDefinition[]>;
  call(name: string, input: Record<string, unknown>, options?: { signal?: AbortSignal }): Promise<ToolOutput>;
}
