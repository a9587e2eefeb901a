/**
 * phi4 chat: an interactive terminal chat. Replies stream as they are generated; with --mcp-config
 * the model can call MCP tools (the agent loop runs them and feeds the results back); with --router
 * turns go where the router sends them. Slash commands: /reset, /save FILE, /load FILE, /stats,
 * /help, /exit. Ctrl-C stops a reply; at the prompt it exits (as does the end of the input).
 *
 * /save writes an engine state file: the KV of the conversation as the local model sees it (copied
 * from the sequence that served the last turn, so saving costs little; prefilled when Claude served
 * it) with the messages as its metadata. /load checks it belongs to this model and hands the KV to the model's prefix cache, so
 * the next turn after a restart prefills only what is new.
 */
import readline from "node:readline";
import { parseArgs } from "node:util";

import { runAgent } from "../../agent/loop.js";
import type { ToolSet } from "../../agent/tool-set.js";
import { Phi4Error } from "../../engine/errors.js";
import type { Model } from "../../engine/model.js";
import { checkStateFits, readStateFile, writeStateFile } from "../../engine/sequence-state.js";
import { McpBridge } from "../../mcp/bridge.js";
import { loadMcpConfig } from "../../mcp/config.js";
import { toolError } from "../../mcp/results.js";
import { LocalProvider } from "../../providers/local.js";
import type { MessageParam, MessageRequest } from "../../messages/types.js";
import type { Provider } from "../../providers/types.js";
import { openBackend } from "../../server/backend.js";
import { printAgentEvent } from "../agent-events.js";
import { JUMP_FORWARD_HELP, KV_MEMORY_HELP, optionalByteSize, optionalNumber } from "../args.js";
import { showPrefillProgress } from "../prefill-progress.js";
import { prefixCacheArgs, prefixCacheDisk, prefixCacheUsage } from "../prefix-cache-args.js";

export const chatUsage = `usage: phi4 chat --model DIR [--mcp-config FILE] [--router FILE] [--system TEXT]
       [--max-tokens N] [--capacity N] [--kv-memory SIZE] [--threads N] [--no-jump-forward]
${KV_MEMORY_HELP}
${JUMP_FORWARD_HELP}
  Type a message and press Enter. Commands: /reset, /save FILE, /load FILE, /stats, /help, /exit.
${prefixCacheUsage}`;

const HELP = `/reset        start a new conversation
/save FILE    save the conversation and its KV cache
/load FILE    resume a saved conversation
/stats        turns, tokens, speed, prefix cache (and routing)
/exit         quit (so does Ctrl-D)`;

/** What /save writes as the state file's metadata. */
interface SavedChat {
  kind: "phi4-chat";
  messages: MessageParam[];
  system?: string;
}

export async function chatCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" },
      "mcp-config": { type: "string" },
      router: { type: "string" },
      system: { type: "string" },
      "max-tokens": { type: "string" },
      capacity: { type: "string" },
      "kv-memory": { type: "string" },
      threads: { type: "string" },
      "no-jump-forward": { type: "boolean" },
      ...prefixCacheArgs,
    },
  });
  const mcpConfig = values["mcp-config"] === undefined ? undefined : await loadMcpConfig(values["mcp-config"]);
  const backend = await openBackend(
    {
      modelDir: values.model,
      routerFile: values.router,
      threads: optionalNumber(values, "threads", true),
      capacity: optionalNumber(values, "capacity", true),
      concurrency: 1,
      kvMemory: optionalByteSize(values, "kv-memory"),
      jumpForward: values["no-jump-forward"] === true ? false : undefined,
      prefixCacheDisk: prefixCacheDisk(values),
    },
    chatUsage,
  );
  const bridge = mcpConfig ? new McpBridge(mcpConfig) : undefined;
  const hideProgress = showPrefillProgress(backend.model);
  try {
    const tools: ToolSet = bridge ?? { tools: async () => [], call: async (name) => toolError(`there is no tool ${name}`) };
    const offered = await tools.tools();
    for (const [server, error] of bridge?.serverErrors ?? []) process.stderr.write(`phi4 chat: MCP server "${server}" is unavailable: ${error}\n`);
    process.stderr.write(
      `[${backend.model.folder.dir}${values.router ? ` behind the router in ${values.router}` : ""}; ${offered.length} tools; /help for commands]\n`,
    );
    const chat = new Conversation(backend.model, backend.provider, tools, {
      system: values.system,
      maxTokens: optionalNumber(values, "max-tokens", true) ?? 1024,
      capacity: optionalNumber(values, "capacity", true),
    });
    await repl(chat);
  } finally {
    hideProgress();
    await bridge?.close();
    await backend.close();
  }
}

/** Reads lines until /exit or the end of the input; a turn runs to its end before the next line is read. */
async function repl(chat: Conversation): Promise<void> {
  const terminal = process.stdin.isTTY === true;
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal });
  let turn: AbortController | undefined;
  // Ctrl-C stops the reply being generated; at the prompt it leaves.
  rl.on("SIGINT", () => (turn ? turn.abort() : rl.close()));
  const prompt = () => terminal && rl.prompt();
  prompt();
  for await (const raw of rl) {
    const line = raw.trim();
    if (line === "/exit" || line === "/quit") break;
    try {
      if (line.startsWith("/")) process.stdout.write(`${await command(chat, line)}\n`);
      else if (line !== "") {
        turn = new AbortController();
        await chat.send(line, turn.signal);
      }
    } catch (error) {
      process.stderr.write(`phi4 chat: ${(error as Error).message}\n`);
    } finally {
      turn = undefined;
    }
    prompt();
  }
  rl.close();
}

async function command(chat: Conversation, line: string): Promise<string> {
  const [name, ...rest] = line.split(/\s+/);
  const file = rest.join(" ");
  const needFile = () => {
    if (!file) throw new Phi4Error("INVALID_ARGUMENT", `${name} needs a file name`);
    return file;
  };
  switch (name) {
    case "/reset":
      chat.reset();
      return "[new conversation]";
    case "/save":
      await chat.save(needFile());
      return `[saved ${chat.messages.length} messages to ${file}]`;
    case "/load":
      await chat.load(needFile());
      return `[loaded ${chat.messages.length} messages from ${file}]`;
    case "/stats":
      return chat.stats();
    case "/help":
      return HELP;
    default:
      return `unknown command ${name}; /help lists them`;
  }
}

/** One conversation: its messages, the turns that extend it, and its file. */
class Conversation {
  messages: MessageParam[] = [];
  private system: string | undefined;
  private readonly totals = { turns: 0, input: 0, output: 0 };
  private last: { outputTokens: number; ms: number } | undefined;
  /** Renders the conversation as the local model sees it (no engine context is made for that). */
  private readonly renderer: LocalProvider;

  constructor(
    private readonly model: Model,
    private readonly provider: Provider,
    private readonly tools: ToolSet,
    private readonly options: { system?: string; maxTokens: number; capacity?: number },
  ) {
    this.system = options.system;
    this.renderer = provider instanceof LocalProvider ? provider : new LocalProvider(model, { capacity: options.capacity });
  }

  /** Runs a user turn (tool calls included) and prints it as it streams; the conversation grows only if it completes. */
  async send(text: string, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    const run = runAgent({
      provider: this.provider,
      tools: this.tools,
      task: [...this.messages, { role: "user", content: text }],
      system: this.system,
      maxTokens: this.options.maxTokens,
      signal,
    });
    for await (const event of run) printAgentEvent(event, { quietSingleProvider: true, maxResultLines: 8 });
    const result = await run.result;
    process.stdout.write("\n");
    if (result.stopReason === "aborted") {
      process.stderr.write("[stopped; the turn was not kept]\n");
      return;
    }
    this.messages = result.messages;
    this.totals.turns++;
    this.totals.input += result.usage.input_tokens;
    this.totals.output += result.usage.output_tokens;
    this.last = { outputTokens: result.usage.output_tokens, ms: performance.now() - started };
    if (result.stopReason === "max_tokens" || result.stopReason === "model_context_window_exceeded" || result.stopReason === "max_iterations")
      process.stderr.write(`[${result.stopReason}]\n`);
  }

  reset(): void {
    this.messages = [];
    this.system = this.options.system;
  }

  async save(file: string): Promise<void> {
    const capacity = this.renderer.contextTokens;
    const sequence = await this.model.createSequence({ capacity });
    try {
      const tokens = this.messages.length > 0 ? this.renderer.promptTokens(await this.nextTurn()) : [];
      const metadata: SavedChat = { kind: "phi4-chat", messages: this.messages, system: this.system };
      if (tokens.length > 0 && tokens.length < capacity) {
        await sequence.generateText(tokens, { append: false, maxTokens: 1 });
        await sequence.saveStateFile(file, metadata);
      } else {
        // No KV to keep (no turn yet, or a conversation too long for the local model, served by
        // Claude): the messages alone, in a state without tokens.
        await writeStateFile(
          file,
          { ...this.model.kvLayout, tokens: new Int32Array(0), kvLength: 0, longRope: false, kv: new Uint8Array(0), metadata },
          { allowEmpty: true },
        );
      }
    } finally {
      await sequence.dispose();
    }
  }

  async load(file: string): Promise<void> {
    const state = await readStateFile(file);
    const saved = state.metadata as Partial<SavedChat> | undefined;
    if (saved?.kind !== "phi4-chat" || !Array.isArray(saved.messages)) throw new Phi4Error("STATE_INVALID", `${file} is a sequence state, not a saved chat`);
    checkStateFits(state, this.model.kvLayout);
    if (state.tokens.length > 0) this.model.prefixCache?.add(state);
    this.messages = saved.messages;
    this.system = saved.system;
  }

  stats(): string {
    const lines = [`turns: ${this.totals.turns}, messages: ${this.messages.length}, tokens: ${this.totals.input} input + ${this.totals.output} output`];
    if (this.last)
      lines.push(
        `last turn: ${this.last.outputTokens} tokens in ${(this.last.ms / 1000).toFixed(2)} s (${((this.last.outputTokens * 1000) / this.last.ms).toFixed(1)} tokens/s)`,
      );
    const cache = this.model.prefixCache?.stats;
    if (cache)
      lines.push(
        `prefix cache: ${cache.hits} hits, ${cache.misses} misses, ${cache.reusedTokens} tokens reused, ${cache.prefilledTokens} prefilled, ${cache.entries} entries`,
      );
    const routing = this.provider.metricsSnapshot?.();
    if (routing) {
      const providers = Object.entries(routing.providers);
      lines.push(`routing: ${providers.map(([name, m]) => `${name} ${m.requests} requests, ${m.fallbacks} fallbacks`).join("; ") || "no requests yet"}`);
    }
    return lines.join("\n");
  }

  /**
   * The next turn's request as the agent loop will send it, with an empty user message standing in
   * for the one to come: its prompt holds every token of the conversation the next prompt will share.
   */
  private async nextTurn(): Promise<MessageRequest> {
    const tools = await this.tools.tools();
    return {
      max_tokens: 1,
      system: this.system,
      messages: [...this.messages, { role: "user", content: "" }],
      ...(tools.length > 0 && { tools, tool_choice: { type: "auto" } }),
    };
  }
}

/** A tool result's text, cut to a few lines for the terminal (the model gets all of it). */
