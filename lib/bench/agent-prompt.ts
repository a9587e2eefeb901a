/**
 * A Claude Code-shaped request for the prefix benchmark: the billing-header system block (whose hash
 * changes per session), a long system prompt, 24 coding-agent tools named and shaped like Claude
 * Code's, and a short question. The system prompt is grown paragraph by paragraph to a token target,
 * measured with the prompt the local provider renders for the model.
 */
import type { MessageRequest, ToolDefinition } from "../messages/types.js";

type Props = Record<string, { type: string; description?: string; items?: object; enum?: string[] }>;

const str = (description: string) => ({ type: "string", description });
const num = (description: string) => ({ type: "number", description });
const bool = (description: string) => ({ type: "boolean", description });

const TOOLS: [string, string, Props, string[]][] = [
  [
    "Task",
    "Launch a new agent to handle complex, multi-step tasks autonomously. Give it a detailed task description and the type of agent to use.",
    {
      description: str("A short description of the task"),
      prompt: str("The task for the agent to perform"),
      subagent_type: str("The type of specialized agent"),
    },
    ["description", "prompt", "subagent_type"],
  ],
  [
    "Bash",
    "Executes a given bash command in a persistent shell session with optional timeout, ensuring proper handling and security measures. Quote paths that contain spaces.",
    {
      command: str("The command to execute"),
      timeout: num("Optional timeout in milliseconds (max 600000)"),
      description: str("What this command does in 5-10 words"),
      run_in_background: bool("Run the command in the background"),
    },
    ["command"],
  ],
  [
    "Glob",
    "Fast file pattern matching tool that works with any codebase size. Returns matching file paths sorted by modification time.",
    { pattern: str("The glob pattern to match files against"), path: str("The directory to search in") },
    ["pattern"],
  ],
  [
    "Grep",
    "A powerful search tool built on ripgrep. Supports full regex syntax, file type and glob filters, and several output modes.",
    {
      pattern: str("The regular expression pattern to search for"),
      path: str("File or directory to search in"),
      glob: str("Glob pattern to filter files"),
      output_mode: { type: "string", enum: ["content", "files_with_matches", "count"] },
      "-i": bool("Case insensitive search"),
      head_limit: num("Limit output to the first N lines"),
    },
    ["pattern"],
  ],
  [
    "LS",
    "Lists files and directories in a given path. The path must be absolute. Optionally ignore glob patterns.",
    { path: str("The absolute path to the directory to list"), ignore: { type: "array", items: { type: "string" }, description: "Glob patterns to ignore" } },
    ["path"],
  ],
  [
    "ExitPlanMode",
    "Use this tool when you are in plan mode and have finished presenting your plan and are ready to code.",
    { plan: str("The plan you came up with") },
    ["plan"],
  ],
  [
    "Read",
    "Reads a file from the local filesystem. By default it reads up to 2000 lines from the beginning; an offset and a limit read a part of a long file.",
    {
      file_path: str("The absolute path to the file to read"),
      offset: num("The line number to start reading from"),
      limit: num("The number of lines to read"),
    },
    ["file_path"],
  ],
  [
    "Edit",
    "Performs exact string replacements in files. The edit fails if old_string is not unique in the file unless replace_all is set.",
    {
      file_path: str("The absolute path to the file to modify"),
      old_string: str("The text to replace"),
      new_string: str("The text to replace it with"),
      replace_all: bool("Replace all occurrences"),
    },
    ["file_path", "old_string", "new_string"],
  ],
  [
    "MultiEdit",
    "Makes multiple edits to a single file in one operation, applied in sequence; either all succeed or none are applied.",
    {
      file_path: str("The absolute path to the file to modify"),
      edits: { type: "array", items: { type: "object" }, description: "Edits to perform sequentially" },
    },
    ["file_path", "edits"],
  ],
  [
    "Write",
    "Writes a file to the local filesystem, overwriting the existing file if there is one. Read an existing file first.",
    { file_path: str("The absolute path to the file to write"), content: str("The content to write to the file") },
    ["file_path", "content"],
  ],
  [
    "NotebookEdit",
    "Completely replaces the contents of a specific cell in a Jupyter notebook with new source.",
    {
      notebook_path: str("The absolute path to the notebook"),
      cell_id: str("The ID of the cell to edit"),
      new_source: str("The new source for the cell"),
      edit_mode: { type: "string", enum: ["replace", "insert", "delete"] },
    },
    ["notebook_path", "new_source"],
  ],
  [
    "WebFetch",
    "Fetches content from a specified URL and processes it using a prompt; converts HTML to markdown.",
    { url: str("The URL to fetch content from"), prompt: str("The prompt to run on the fetched content") },
    ["url", "prompt"],
  ],
  [
    "TodoWrite",
    "Use this tool to create and manage a structured task list for your current coding session, to track progress and show it to the user.",
    { todos: { type: "array", items: { type: "object" }, description: "The updated todo list" } },
    ["todos"],
  ],
  [
    "WebSearch",
    "Allows searching the web and using the results to inform responses, with up-to-date information beyond the knowledge cutoff.",
    {
      query: str("The search query to use"),
      allowed_domains: { type: "array", items: { type: "string" } },
      blocked_domains: { type: "array", items: { type: "string" } },
    },
    ["query"],
  ],
  [
    "BashOutput",
    "Retrieves output from a running or completed background bash shell, only the new output since the last check.",
    { bash_id: str("The ID of the background shell"), filter: str("Optional regular expression to filter the output lines") },
    ["bash_id"],
  ],
  ["KillShell", "Kills a running background bash shell by its ID.", { shell_id: str("The ID of the background shell to kill") }, ["shell_id"]],
  [
    "SlashCommand",
    "Execute a slash command within the main conversation, for custom commands the user has defined.",
    { command: str("The slash command to execute with its arguments") },
    ["command"],
  ],
  [
    "Skill",
    "Execute a skill within the main conversation: skills provide specialized capabilities and domain knowledge.",
    { command: str("The skill name, no arguments") },
    ["command"],
  ],
  [
    "AskUserQuestion",
    "Ask the user questions during execution to gather preferences, clarify ambiguous instructions or offer choices.",
    { questions: { type: "array", items: { type: "object" }, description: "Questions to ask the user (1-4)" } },
    ["questions"],
  ],
  [
    "TaskOutput",
    "Retrieves the output of a running or completed background task, waiting up to a timeout for it to finish.",
    { task_id: str("The task ID"), block: bool("Wait for completion"), timeout: num("Max wait time in ms (max 600000)") },
    ["task_id"],
  ],
  ["EnterPlanMode", "Switch to plan mode to explore the codebase and design an implementation approach before writing code.", {}, []],
  [
    "ListMcpResources",
    "Lists the resources available from configured MCP servers, each with its server name.",
    { server: str("Optional server name to filter resources by") },
    [],
  ],
  [
    "ReadMcpResource",
    "Reads a specific resource from an MCP server, identified by server name and resource URI.",
    { server: str("The MCP server name"), uri: str("The resource URI to read") },
    ["server", "uri"],
  ],
  [
    "NotebookRead",
    "Reads a Jupyter notebook and returns all of its cells with their outputs.",
    { notebook_path: str("The absolute path to the notebook file") },
    ["notebook_path"],
  ],
];

export const AGENT_TOOLS: ToolDefinition[] = TOOLS.map(([name, description, properties, required]) => ({
  name,
  description,
  input_schema: { type: "object", properties, ...(required.length > 0 && { required }) },
}));

const PARAGRAPH =
  "When you work on a software engineering task, first read the relevant files and search the codebase to understand its conventions; " +
  "mimic the existing code style, use the libraries the project already uses, and never assume a library is available. " +
  "Keep your answers short and direct, explain non-trivial commands before running them, and verify your changes with the project's tests.";

/** The request of one session: `hash` is its billing hash (three hex digits), `paragraphs` the system prompt's length. */
export function claudeCodeRequest(hash: string, question: string, paragraphs: number): MessageRequest {
  const instructions = ["You are Claude Code, an interactive command line tool that helps users with software engineering tasks."];
  for (let i = 0; i < paragraphs; i++) instructions.push(`${i + 1}. ${PARAGRAPH}`);
  return {
    model: "claude-sonnet-4-5",
    max_tokens: 1,
    temperature: 0,
    system: [
      { type: "text", text: `x-anthropic-billing-header: cc_version=2.1.197.${hash}; cc_entrypoint=cli;` },
      { type: "text", text: instructions.join("\n\n"), cache_control: { type: "ephemeral" } },
    ],
    tools: AGENT_TOOLS,
    messages: [
      {
        role: "user",
        content: [
          { type: "text", text: "<system-reminder>Today's date is 2026-12-03.</system-reminder>" },
          { type: "text", text: question },
        ],
      },
    ],
  };
}

/** The paragraph count whose prompt (as `count` renders it) comes closest to `target` tokens from below, and its length. */
export function fitParagraphs(target: number, count: (request: MessageRequest) => number): { paragraphs: number; tokens: number } {
  const base = count(claudeCodeRequest("000", "?", 0));
  const per = Math.max(1, count(claudeCodeRequest("000", "?", 1)) - base);
  let paragraphs = Math.max(0, Math.floor((target - base) / per));
  while (paragraphs > 0 && count(claudeCodeRequest("000", "?", paragraphs)) > target) paragraphs--;
  return { paragraphs, tokens: count(claudeCodeRequest("000", "?", paragraphs)) };
}
