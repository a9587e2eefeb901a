/**
 * The agent loop: a model turn (streamed), then every tool call of that turn run in parallel, the
 * results sent back as one user turn, and again, until the model answers without calling a tool,
 * `maxIterations` turns have run, or the signal aborts. Iterate the run for events as they happen;
 * await `run.result` for the transcript, usage and routing decisions.
 *
 *   const run = runAgent({ provider: router, tools: mcpBridge, task: "What is 2 + 3? Use a tool." });
 *   for await (const event of run) if (event.type === "text") process.stdout.write(event.text);
 *   const { finalText, steps, usage } = await run.result;
 */
import { toolError } from "../mcp/results.js";
import { MessageAccumulator } from "../providers/accumulate.js";
import type { MessageParam, MessageRequest, MessageResponse, ToolDefinition, ToolOutput, ToolUseBlock } from "../messages/types.js";
import type { RouteDecision } from "../providers/routing.js";
import { ResultStream } from "../util/result-stream.js";
import type { AgentEvent, AgentOptions, AgentResult, AgentStep, AgentStopReason, AgentToolResult } from "./types.js";

export interface AgentRun extends AsyncIterable<AgentEvent> {
  readonly result: Promise<AgentResult>;
}

/** Starts the loop; breaking out of its events aborts it (its result then ends with stop reason "aborted"). */
export function runAgent(options: AgentOptions): AgentRun {
  return new ResultStream<AgentEvent, AgentResult>((emit, signal) => new AgentLoop({ ...options, signal }, emit).run(), { signal: options.signal });
}

class AgentLoop {
  private readonly messages: MessageParam[];
  private readonly steps: AgentStep[] = [];
  private readonly routing: RouteDecision[] = [];
  /** The provider that served (or is serving) the current turn. */
  private current: string | null = null;

  constructor(
    private readonly options: AgentOptions,
    private readonly emit: (event: AgentEvent) => void,
  ) {
    this.messages = typeof options.task === "string" ? [{ role: "user", content: options.task }] : [...options.task];
  }

  async run(): Promise<AgentResult> {
    const maxIterations = this.options.maxIterations ?? 10;
    let stopReason: AgentStopReason = "max_iterations";
    try {
      const tools = await this.offeredTools();
      for (let step = 0; step < maxIterations; step++) {
        const message = await this.turn(step, tools);
        const calls = message.content.filter((b): b is ToolUseBlock => b.type === "tool_use");
        const toolResults = message.stop_reason === "tool_use" && step + 1 < maxIterations ? await this.runTools(step, calls, tools) : [];
        this.steps.push({
          provider: this.current ?? this.options.provider.name,
          model: message.model,
          text: textOf(message),
          toolCalls: calls,
          toolResults,
          stopReason: message.stop_reason,
          usage: message.usage,
        });
        this.messages.push({ role: "assistant", content: message.content });
        if (message.stop_reason !== "tool_use") {
          stopReason = message.stop_reason;
          break;
        }
        // The last allowed turn's calls are not run: nobody would read their results.
        if (toolResults.length === 0) break;
        this.messages.push({
          role: "user",
          content: toolResults.map(({ tool_use_id, content, is_error }) => ({ type: "tool_result" as const, tool_use_id, content, is_error })),
        });
      }
    } catch (error) {
      if (!this.options.signal?.aborted) throw error;
      stopReason = "aborted";
    }
    return {
      finalText: this.steps.at(-1)?.text ?? "",
      stopReason,
      steps: this.steps,
      messages: this.messages,
      usage: {
        input_tokens: this.steps.reduce((sum, s) => sum + s.usage.input_tokens, 0),
        output_tokens: this.steps.reduce((sum, s) => sum + s.usage.output_tokens, 0),
      },
      routing: this.routing,
    };
  }

  private async offeredTools(): Promise<ToolDefinition[]> {
    const all = await this.options.tools.tools();
    const allowed = this.options.allowedTools;
    return allowed ? all.filter((t) => allowed.includes(t.name)) : all;
  }

  private async turn(step: number, tools: ToolDefinition[]): Promise<MessageResponse> {
    const { provider, signal, hints } = this.options;
    const request: MessageRequest = {
      max_tokens: this.options.maxTokens ?? 1024,
      messages: [...this.messages],
      ...(this.options.system !== undefined && { system: this.options.system }),
      ...(this.options.temperature !== undefined && { temperature: this.options.temperature }),
      ...(tools.length > 0 && { tools, tool_choice: step === 0 && this.options.toolChoice ? this.options.toolChoice : { type: "auto" } }),
    };
    let routed = false;
    const onRoute = (decision: RouteDecision) => {
      routed = true;
      this.routing.push(decision);
      if (decision.kind !== "exhausted") this.switchTo(step, decision.provider, decision.reason);
    };
    const accumulator = new MessageAccumulator(provider.name);
    for await (const event of provider.stream(request, { signal, hints, onRoute })) {
      // A router decides before its first event; a plain provider never does: it serves the turn itself.
      if (!routed) this.switchTo(step, provider.name, "the only provider");
      accumulator.push(event);
      if (event.type === "content_block_delta" && event.delta.type === "text_delta") this.emit({ type: "text", step, text: event.delta.text });
    }
    return accumulator.result();
  }

  private switchTo(step: number, provider: string, reason: string): void {
    if (provider === this.current) return;
    this.emit({ type: "provider_switch", step, from: this.current, to: provider, reason });
    this.current = provider;
  }

  private runTools(step: number, calls: ToolUseBlock[], offered: ToolDefinition[]): Promise<AgentToolResult[]> {
    const { tools, signal } = this.options;
    return Promise.all(
      calls.map(async (call) => {
        this.emit({ type: "tool_call", step, call });
        let output: ToolOutput;
        if (!offered.some((t) => t.name === call.name)) output = toolError(`tool ${call.name} is not available`);
        else {
          try {
            output = await tools.call(call.name, call.input, { signal });
          } catch (error) {
            // A tool set should report failures as outputs; one that throws still must not end the run.
            if (signal?.aborted) throw error;
            output = toolError(`tool ${call.name} failed: ${(error as Error)?.message ?? String(error)}`);
          }
        }
        this.emit({ type: "tool_result", step, toolUseId: call.id, name: call.name, output });
        return { tool_use_id: call.id, name: call.name, ...output };
      }),
    );
  }
}

const textOf = (message: MessageResponse) => message.content.flatMap((b) => (b.type === "text" ? [b.text] : [])).join("");
