/**
 * MCP tools are exposed as `mcp__<server>__<tool>`, the names Claude Code gives them, so prompts,
 * allow-lists and transcripts read the same in both. Tool names in the Messages API allow only
 * letters, digits, "_" and "-"; any other character becomes "_".
 */
const clean = (part: string) => part.replace(/[^A-Za-z0-9_-]/g, "_");

export function exposedToolName(server: string, tool: string): string {
  return `mcp__${clean(server)}__${clean(tool)}`;
}
