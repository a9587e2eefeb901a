/** The phi4 command: dispatches to one module per subcommand; errors print their code and message. */
import { Phi4Error } from "../engine/errors.js";
import { agentCommand, agentUsage } from "./commands/agent.js";
import { benchCommand, benchUsage } from "./commands/bench.js";
import { chatCommand, chatUsage } from "./commands/chat.js";
import { demoCommand, demoUsage } from "./commands/demo.js";
import { generateCommand, generateUsage } from "./commands/generate.js";
import { infoCommand, infoUsage } from "./commands/info.js";
import { makeModelCommand, makeModelUsage } from "./commands/make-model.js";
import { pullCommand, pullUsage } from "./commands/pull.js";
import { serveCommand, serveUsage } from "./commands/serve.js";

interface Command {
  run: (argv: string[]) => Promise<void>;
  summary: string;
  /** The full usage `phi4 <command> --help` prints (given the command's other arguments). */
  usage: (argv: string[]) => string;
}

const fixed = (text: string) => () => text;

const COMMANDS: Record<string, Command> = {
  generate: { run: generateCommand, usage: fixed(generateUsage), summary: "generate from --tokens, --prompt or --chat (--json for one JSON object)" },
  info: { usage: fixed(infoUsage), run: infoCommand, summary: "ONNX Runtime version and providers; --model DIR for a model folder" },
  "make-model": { usage: fixed(makeModelUsage), run: makeModelCommand, summary: "write a random-weight model folder (--preset tiny|tiny-phi4|tiny-phi4-long|phi4-mini --out DIR [--precision fp16]), or with --format gguf the same model as one GGUF file for llama.cpp" },
  pull: { usage: fixed(pullUsage), run: pullCommand, summary: "download a model folder from Hugging Face: pull <owner/repo> [--include FOLDER] [--dir DIR] [--endpoint URL]" },
  bench: { usage: benchUsage, run: benchCommand, summary: "benchmarks: bench --model DIR (the suite: report, plots, targets) or bench decode|prefix|batch|peer|constraint|micro" },
  agent: { usage: fixed(agentUsage), run: agentCommand, summary: "run a task with MCP tools: --mcp-config FILE --task TEXT [--model DIR] [--router FILE] [--json]" },
  chat: { usage: fixed(chatUsage), run: chatCommand, summary: "interactive chat with streaming and MCP tools: --model DIR [--mcp-config FILE] [--router FILE]" },
  serve: { usage: fixed(serveUsage), run: serveCommand, summary: "Anthropic-compatible server: --model DIR [--port 8080] [--api-key KEY] [--router FILE] [--max-concurrency N]" },
  demo: { usage: fixed(demoUsage), run: demoCommand, summary: "stream a chat reply from the tiny-phi4 test model (npm start)" },
};

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  return ["usage: phi4 <command> [options]", "", ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(help() + "\n");
    return name ? 0 : 1;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`phi4: unknown command "${name}"\n${help()}\n`);
    return 1;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(`phi4 ${name}: ${command.summary}\n\n${command.usage(rest.filter((a) => a !== "--help" && a !== "-h"))}\n`);
    return 0;
  }
  try {
    await command.run(rest);
    return 0;
  } catch (error) {
    if (error instanceof Phi4Error) {
      process.stderr.write(`phi4 ${name}: ${error.code}: ${error.message}\n`);
    } else if (isUserFacing(error)) {
      process.stderr.write(`phi4 ${name}: ${(error as Error).message}\n`);
    } else {
      process.stderr.write(`phi4 ${name}: ${(error as Error).stack ?? String(error)}\n`);
    }
    return 1;
  }
}

/**
 * Errors about the user's input or machine rather than a bug, printed without a stack: bad options,
 * and system errors (a file that exists or is missing, a port in use, no permission), whose
 * message already names the path and the reason.
 */
function isUserFacing(error: unknown): boolean {
  const { code, syscall } = (error ?? {}) as { code?: unknown; syscall?: unknown };
  return (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) || typeof syscall === "string";
}
