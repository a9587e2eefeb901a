/**
 * Ten realistic agent tools, as their clients declare them (descriptions shortened): Claude Code's
 * Read, Edit, Bash, Grep, Glob, WebFetch, TodoWrite and TaskOutput, the MCP filesystem server's
 * edit_file and the MCP memory server's create_entities. `phi4 bench constraint` times forced calls to
 * them, and the tests check that every forced call validates.
 */
import type { ToolDefinition } from "../messages/types.js";

const tool = (name: string, description: string, properties: Record<string, unknown>, required: string[]): ToolDefinition => ({
  name,
  description,
  input_schema: { type: "object", properties, required, additionalProperties: false },
});

export const AGENT_TOOLS: ToolDefinition[] = [
  tool(
    "Read",
    "Reads a file from the local filesystem.",
    {
      file_path: { type: "string", description: "The absolute path to the file to read" },
      offset: { type: "number", description: "The line number to start reading from" },
      limit: { type: "number", description: "The number of lines to read" },
    },
    ["file_path"],
  ),
  tool(
    "Edit",
    "Performs exact string replacements in files.",
    {
      file_path: { type: "string" },
      old_string: { type: "string" },
      new_string: { type: "string" },
      replace_all: { type: "boolean", default: false },
    },
    ["file_path", "old_string", "new_string"],
  ),
  tool(
    "Bash",
    "Executes a bash command.",
    {
      command: { type: "string" },
      timeout: { type: "number", description: "Optional timeout in milliseconds (max 600000)", maximum: 600000 },
      description: { type: "string" },
      run_in_background: { type: "boolean" },
    },
    ["command"],
  ),
  tool(
    "Grep",
    "A search tool built on ripgrep.",
    {
      pattern: { type: "string" },
      path: { type: "string" },
      glob: { type: "string" },
      output_mode: { type: "string", enum: ["content", "files_with_matches", "count"] },
      "-i": { type: "boolean" },
      "-n": { type: "boolean" },
      "-C": { type: "number" },
      head_limit: { type: "number" },
    },
    ["pattern"],
  ),
  tool("Glob", "Fast file pattern matching.", { pattern: { type: "string" }, path: { type: "string" } }, ["pattern"]),
  tool("WebFetch", "Fetches content from a URL and processes it with a prompt.", { url: { type: "string", format: "uri" }, prompt: { type: "string" } }, [
    "url",
    "prompt",
  ]),
  tool(
    "TodoWrite",
    "Creates and manages a structured task list.",
    {
      todos: {
        type: "array",
        items: {
          type: "object",
          properties: {
            content: { type: "string", minLength: 1 },
            status: { type: "string", enum: ["pending", "in_progress", "completed"] },
            activeForm: { type: "string", minLength: 1 },
          },
          required: ["content", "status", "activeForm"],
          additionalProperties: false,
        },
      },
    },
    ["todos"],
  ),
  tool(
    "TaskOutput",
    "Retrieves output from a running or completed task.",
    {
      task_id: { type: "string" },
      block: { type: "boolean", default: true },
      timeout: { type: "number", minimum: 0, maximum: 600000, default: 30000 },
    },
    ["task_id", "block", "timeout"],
  ),
  tool(
    "edit_file",
    "Make line-based edits to a text file.",
    {
      path: { type: "string" },
      edits: {
        type: "array",
        items: {
          type: "object",
          properties: { oldText: { type: "string" }, newText: { type: "string" } },
          required: ["oldText", "newText"],
          additionalProperties: false,
        },
      },
      dryRun: { type: "boolean", default: false },
    },
    ["path", "edits"],
  ),
  tool(
    "create_entities",
    "Create multiple new entities in the knowledge graph.",
    {
      entities: {
        type: "array",
        items: {
          type: "object",
          properties: { name: { type: "string" }, entityType: { type: "string" }, observations: { type: "array", items: { type: "string" } } },
          required: ["name", "entityType", "observations"],
          additionalProperties: false,
        },
      },
    },
    ["entities"],
  ),
];
