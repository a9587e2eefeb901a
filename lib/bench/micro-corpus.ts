/**
 * The inputs of phi4 bench micro, built in code so every run and machine measures the same bytes: an
 * English + code text for the tokenizer, and tool-call outputs in the forms Phi-4-mini really writes
 * (docs/tool-calling.md) for the parser and the constraint, with the number of calls each one holds.
 */
import { toolsJson } from "../tokenizer/chat-template.js";
import { TOOL_CALL_CLOSE, TOOL_CALL_OPEN } from "../tools/stream-parser.js";
import type { ToolDefinition } from "../messages/types.js";
import { lcgPrompt } from "./common.js";
import { BENCH_TOOL_SETS, tool } from "./constraint.js";

/**
 * A dozen coding-agent tools with simple schemas, which the calls below use (the constraint
 * benchmark's `agent` set holds the real clients' tools instead, whose schemas these calls would not
 * all meet; some share names with these).
 */
const CODING_TOOLS: ToolDefinition[] = [
  tool("read_file", { path: { type: "string" }, offset: { type: "integer" }, limit: { type: "integer" } }, ["path"]),
  tool("write_file", { path: { type: "string" }, content: { type: "string" } }, ["path", "content"]),
  tool("edit_file", { path: { type: "string" }, old_string: { type: "string" }, new_string: { type: "string" }, replace_all: { type: "boolean" } }, [
    "path",
    "old_string",
    "new_string",
  ]),
  tool("bash", { command: { type: "string" }, timeout: { type: "integer" }, description: { type: "string" } }, ["command"]),
  tool("glob", { pattern: { type: "string" }, path: { type: "string" } }, ["pattern"]),
  tool("grep", { pattern: { type: "string" }, path: { type: "string" }, mode: { enum: ["content", "files", "count"] }, ignore_case: { type: "boolean" } }, [
    "pattern",
  ]),
  tool("list_dir", { path: { type: "string" } }, ["path"]),
  tool("web_fetch", { url: { type: "string" }, prompt: { type: "string" } }, ["url", "prompt"]),
  tool(
    "todo_write",
    {
      todos: {
        type: "array",
        items: {
          type: "object",
          properties: { content: { type: "string" }, status: { enum: ["pending", "in_progress", "completed"] } },
          required: ["content", "status"],
          additionalProperties: false,
        },
      },
    },
    ["todos"],
  ),
  tool("ask_user", { question: { type: "string" }, options: { type: "array", items: { type: "string" }, maxItems: 4 } }, ["question"]),
];

/** The constraint benchmark's other sets and the coding tools, as one agent's catalog: the calls below use them. */
export const MICRO_TOOLS: ToolDefinition[] = [
  ...Object.entries(BENCH_TOOL_SETS)
    .filter(([name]) => name !== "agent")
    .flatMap(([, tools]) => tools),
  ...CODING_TOOLS,
];

// Prose of the kind a chat prompt holds (docs, questions, a little non-ASCII), and code in the languages
// an assistant is asked about. Each piece differs, so the text is not one paragraph repeated.
const PIECES = [
  `Phi-4-mini is a 3.8 billion parameter language model with a 200k-token vocabulary. It runs on a laptop CPU when its weights are quantized to four bits, and it answers in a few hundred milliseconds per sentence. The tokenizer is byte-level BPE: every byte has a token, so no input is ever out of vocabulary, and common words, identifiers and whitespace runs each become a single token.\n\n`,
  `Could you summarize the meeting notes below and list the action items with their owners? We agreed to ship the release on Thursday, after the benchmark numbers are checked on the two reference machines. Ana will update the changelog; Li will re-run the regression suite — including the slow tests — and report anything over 5% slower than last week.\n\n`,
  `The café on Rue de Rivoli opens at 7:30, and the naïve estimate of a ten-minute walk from the hotel was wrong: it took twenty-five, mostly because of the rain. Prices are in euros (€4.20 for a crème) and the Wi-Fi password is on the receipt. Next stop: Zürich, then 東京 in April 🚀.\n\n`,
  `## Installation\n\nRun \`npm install\` in the project folder. The install script builds the native addon with cmake-js unless a prebuilt binary matches your platform. If the build fails, check that a C++17 compiler and CMake 3.20 or newer are on your PATH, then run \`npm run build:addon\` to see the full compiler output.\n\n`,
  "```ts\nexport async function retry<T>(run: () => Promise<T>, attempts = 3, delayMs = 250): Promise<T> {\n  let lastError: unknown;\n  for (let i = 0; i < attempts; i++) {\n    try {\n      return await run();\n    } catch (error) {\n      lastError = error;\n      await new Promise((resolve) => setTimeout(resolve, delayMs * 2 ** i));\n    }\n  }\n  throw lastError;\n}\n```\n\n",
  '```python\nimport json\nfrom pathlib import Path\n\n\ndef load_records(folder: Path) -> list[dict]:\n    """Read every .jsonl file under folder, skipping blank lines."""\n    records = []\n    for path in sorted(folder.glob("**/*.jsonl")):\n        with path.open(encoding="utf-8") as f:\n            records.extend(json.loads(line) for line in f if line.strip())\n    return records\n\n\nif __name__ == "__main__":\n    print(len(load_records(Path("data"))))\n```\n\n',
  "```cpp\n#include <vector>\n#include <numeric>\n\nfloat dot(const std::vector<float>& a, const std::vector<float>& b) {\n  float sum = 0.0f;\n  for (size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];\n  return sum;\n}\n\nint main() {\n  std::vector<float> x(1024, 0.5f), y(1024, 2.0f);\n  return dot(x, y) == 1024.0f ? 0 : 1;\n}\n```\n\n",
  '```sh\nset -euo pipefail\nfor f in bench/results/*.json; do\n  jq -r \'.results.decodeTokensPerSec // empty\' "$f" | awk -v f="$f" \'{ printf "%-60s %8.2f\\n", f, $1 }\'\ndone | sort -k2 -n -r | head -n 10\n```\n\n',
  '```json\n{\n  "name": "phi4-onnx",\n  "version": "0.1.0",\n  "scripts": { "test": "vitest run", "bench": "node bin/phi4.js bench" },\n  "engines": { "node": ">=20.12" },\n  "dependencies": { "onnxruntime-node": "^1.30.0", "ajv": "^8.20.0" }\n}\n```\n\n',
  "```sql\nSELECT u.id, u.email, COUNT(o.id) AS orders, SUM(o.total_cents) / 100.0 AS revenue\nFROM users AS u\nLEFT JOIN orders AS o ON o.user_id = u.id AND o.created_at >= DATE '2026-01-01'\nGROUP BY u.id, u.email\nHAVING COUNT(o.id) > 3\nORDER BY revenue DESC\nLIMIT 20;\n```\n\n",
  `Why does the KV cache grow linearly with the context? Each layer keeps one key and one value vector per head for every token seen so far, so a 4096-token conversation on a model with 32 layers, 8 KV heads and a head size of 128 holds 4096 × 32 × 2 × 8 × 128 half-precision numbers: about 512 MiB. Grouped-query attention is what keeps that figure small.\n\n`,
  `Error: ENOENT: no such file or directory, open '/home/dev/project/models/tiny-phi4/genai_config.json'\n    at async open (node:internal/fs/promises:639:25)\n    at async readFile (node:internal/fs/promises:1242:14)\n    at async loadModelFolder (file:///home/dev/project/dist/engine/genai-config.js:118:18)\nWhat does this mean, and how do I fix it?\n\n`,
];

/** About `bytes` bytes (UTF-8) of the pieces above in a fixed pseudo-random order, each piece whole. */
export function microText(bytes = 32 * 1024): string {
  const picks = lcgPrompt(Math.ceil(bytes / 200), PIECES.length, 2024);
  let text = "";
  for (const pick of picks) {
    if (Buffer.byteLength(text) >= bytes) break;
    text += PIECES[pick];
  }
  return text;
}

export interface MicroCall {
  name: string;
  arguments: Record<string, unknown>;
}

/** One model output and the valid calls in it. */
export interface SampleOutput {
  format: string;
  text: string;
  calls: MicroCall[];
}

const call = (name: string, args: Record<string, unknown>): MicroCall => ({ name, arguments: args });

/** What an agent turn asks for: one call, parallel calls, nested arguments, code inside strings. */
const TURNS: MicroCall[][] = [
  [call("get_weather", { city: "Paris", unit: "celsius" })],
  [call("get_weather", { city: "Zürich", unit: "fahrenheit", days: 3 }), call("get_weather", { city: "Tokyo", days: 5 })],
  [
    call("create_event", {
      title: "Design review: tool-call parser",
      start: { date: "2026-03-02", hour: 14 },
      attendees: [
        { email: "ana@example.com", name: "Ana" },
        { email: "li@example.com", optional: true },
      ],
      priority: "high",
      reminders: [10, 60],
    }),
  ],
  [
    call("search", {
      query: "onnxruntime int4 MatMulNBits block size 32 accuracy level 4",
      filters: { site: null, tags: ["onnx", "quantization"], safe: true, score: 0.75 },
      limit: 5,
    }),
  ],
  [
    call("read_file", { path: "lib/tools/stream-parser.ts", offset: 120, limit: 80 }),
    call("grep", { pattern: "TOOL_CALL_CLOSE", path: "lib", mode: "content", ignore_case: false }),
  ],
  [call("write_file", { path: "scripts/check.py", content: PIECES[5].replace(/^```python\n|```\n\n$/g, "") })],
  [
    call("edit_file", {
      path: "lib/bench/common.ts",
      old_string: "export function median(values: number[]): number {",
      new_string: "/** The middle value (mean of the two middle ones for an even count). */\nexport function median(values: number[]): number {",
      replace_all: false,
    }),
  ],
  [
    call("bash", {
      command: "npm run build:ts && npx vitest run test/bench.test.ts --reporter=dot",
      timeout: 120000,
      description: "Build and run the benchmark tests",
    }),
  ],
  [
    call("todo_write", {
      todos: [
        { content: "Measure tokenizer encode and decode throughput", status: "completed" },
        { content: "Measure the tool-call parser on every output format", status: "in_progress" },
        { content: "Time the constraint mask per token", status: "pending" },
        { content: "Document the micro benchmark in bench/README.md", status: "pending" },
      ],
    }),
  ],
  [
    call("web_fetch", {
      url: "https://onnxruntime.ai/docs/performance/tune-performance/threading.html",
      prompt: "How do intra-op threads interact with spinning?",
    }),
    call("ask_user", { question: "Which machine should the results come from?", options: ["laptop", "CI runner", "both"] }),
  ],
  [call("glob", { pattern: "test/**/*.test.ts" }), call("list_dir", { path: "lib/bench" }), call("read_file", { path: "bench/README.md" })],
];

/** Python's repr of JSON-like values, as Phi-4-mini writes calls after Python examples. */
function pythonLiteral(value: unknown): string {
  if (value === null) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "string") return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'").replaceAll("\n", "\\n")}'`;
  if (Array.isArray(value)) return `[${value.map(pythonLiteral).join(", ")}]`;
  if (typeof value === "object")
    return `{${Object.entries(value)
      .map(([k, v]) => `${pythonLiteral(k)}: ${pythonLiteral(v)}`)
      .join(", ")}}`;
  return String(value);
}

/** The forms the parser accepts (docs/tool-calling.md, "The parser"); turn i is written in form i mod their count. */
const FORMATS: [string, (calls: MicroCall[]) => string][] = [
  ["tags", (calls) => `${TOOL_CALL_OPEN}${toolsJson(calls)}${TOOL_CALL_CLOSE}`],
  ["unwrapped", (calls) => `${TOOL_CALL_OPEN}${calls.map((c) => JSON.stringify(c)).join(", ")}${TOOL_CALL_CLOSE}`],
  ["python", (calls) => `${TOOL_CALL_OPEN}${pythonLiteral(calls)}${TOOL_CALL_CLOSE}`],
  ["fence", (calls) => `\`\`\`json\n${JSON.stringify(calls, null, 2)}\n\`\`\``],
  ["no closer", (calls) => `I'll look at the code first.${TOOL_CALL_OPEN}${toolsJson(calls)}`],
  [
    "string arguments",
    (calls) => `${TOOL_CALL_OPEN}${toolsJson(calls.map((c) => ({ name: c.name, arguments: JSON.stringify(c.arguments) })))}${TOOL_CALL_CLOSE}`,
  ],
  ["parameters", (calls) => `${TOOL_CALL_OPEN}${toolsJson(calls.map((c) => ({ name: c.name, parameters: c.arguments })))}${TOOL_CALL_CLOSE}`],
  ["functools", (calls) => `functools${toolsJson(calls)}`],
  ["bare", (calls) => toolsJson(calls)],
  ["one per line", (calls) => `${TOOL_CALL_OPEN}\n${calls.map((c) => JSON.stringify(c)).join("\n")}\n${TOOL_CALL_CLOSE}`],
  ["text then tags", (calls) => `Let me gather the context before answering.\n\n${TOOL_CALL_OPEN}${toolsJson(calls)}${TOOL_CALL_CLOSE}`],
];

/** Every turn in one of the formats, so each format and each tool is parsed. */
export function toolOutputs(): SampleOutput[] {
  return TURNS.map((calls, i) => {
    const [format, write] = FORMATS[i % FORMATS.length];
    return { format, text: write(calls), calls };
  });
}

/** Each turn as the constraint makes the model write it after `<|tool_call|>`: json.dumps spacing, the closer token after. */
export function constrainedCallTexts(): string[] {
  return TURNS.map((calls) => toolsJson(calls));
}
