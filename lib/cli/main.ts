/** The phi4 command: dispatches to one module per subcommand; errors print their code and message. */
import { Phi4Error } from "../engine/errors.js";

interface Command {
  summary: string;
  /** The command's module, imported when the command runs: `phi4 serve` never loads the bench or the model maker. */
  load: () => Promise<LoadedCommand>;
}

interface LoadedCommand {
  run: (argv: string[]) => Promise<void>;
  /** The full usage `phi4 <command> --help` prints (given the command's other arguments). */
  usage: string | ((argv: string[]) => string);
}

const COMMANDS: Record<string, Command> = {
  generate: {
    load: () => import("./commands/generate.js").then((m) => ({ run: m.generateCommand, usage: m.generateUsage })),
    summary: "generate from --tokens, --prompt or --chat (--json for one JSON object)",
  },
  info: {
    load: () => import("./commands/info.js").then((m) => ({ run: m.infoCommand, usage: m.infoUsage })),
    summary: "ONNX Runtime version and providers; --model DIR for a model folder",
  },
  "make-model": {
    load: () => import("./commands/make-model.js").then((m) => ({ run: m.makeModelCommand, usage: m.makeModelUsage })),
    summary:
      "write a random-weight model folder (--preset tiny|tiny-phi4|tiny-phi4-long|phi4-mini --out DIR [--precision fp16]), or with --format gguf the same model as one GGUF file for llama.cpp",
  },
  pull: {
    load: () => import("./commands/pull.js").then((m) => ({ run: m.pullCommand, usage: m.pullUsage })),
    summary: "download a model folder from Hugging Face: pull <owner/repo> [--include FOLDER] [--dir DIR] [--endpoint URL]",
  },
  bench: {
    load: () => import("./commands/bench.js").then((m) => ({ run: m.benchCommand, usage: m.benchUsage })),
    summary: "benchmarks: bench --model DIR (the suite: report, plots, targets) or bench decode|prefix|batch|peer|constraint|speculative|micro",
  },
  agent: {
    load: () => import("./commands/agent.js").then((m) => ({ run: m.agentCommand, usage: m.agentUsage })),
    summary: "run a task with MCP tools: --mcp-config FILE --task TEXT [--model DIR] [--router FILE] [--json]",
  },
  chat: {
    load: () => import("./commands/chat.js").then((m) => ({ run: m.chatCommand, usage: m.chatUsage })),
    summary: "interactive chat with streaming and MCP tools: --model DIR [--mcp-config FILE] [--router FILE]",
  },
  serve: {
    load: () => import("./commands/serve.js").then((m) => ({ run: m.serveCommand, usage: m.serveUsage })),
    summary: "Anthropic-compatible server: --model DIR [--port 8080] [--api-key KEY] [--router FILE] [--max-concurrency N]",
  },
  demo: {
    load: () => import("./commands/demo.js").then((m) => ({ run: m.demoCommand, usage: m.demoUsage })),
    summary: "stream a chat reply from the tiny-phi4 test model (npm start)",
  },
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
  try {
    const loaded = await command.load();
    if (rest.includes("--help") || rest.includes("-h")) {
      const usage = typeof loaded.usage === "string" ? loaded.usage : loaded.usage(rest.filter((a) => a !== "--help" && a !== "-h"));
      process.stdout.write(`phi4 ${name}: ${command.summary}\n\n${usage}\n`);
      return 0;
    }
    await loaded.run(rest);
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
