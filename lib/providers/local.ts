/**
 * The local model behind the provider interface. Requests borrow sequences of one engine Context:
 * concurrent requests share batched decode steps, and a request that repeats a prefix (system
 * prompt, tools, earlier turns) reuses its KV instead of prefilling it again.
 *
 * - Plain turns (no tools anywhere in the request) render with the model's chat template and stream
 *   their text as it is generated.
 * - Tool turns go through the tools layer (Phi-4 tool prompt, call parser, constrained decoding,
 *   retries with the errors fed back). Streamed, their text and calls go out as they are generated
 *   (see toolTurn for what that means for retries). A turn whose calls are still invalid after the
 *   retries is an "invalid_output" error, so a router can fall back.
 */
import { randomUUID } from "node:crypto";
import path from "node:path";

import type { Context } from "../engine/context.js";
import { Phi4Error, type Phi4ErrorCode } from "../engine/errors.js";
import { formatBytes } from "../engine/kv-memory.js";
import type { GenerationResult, GenerationStopReason } from "../engine/generation.js";
import type { Model } from "../engine/model.js";
import type { SamplingOptions } from "../engine/sampling.js";
import type { Sequence } from "../engine/sequence.js";
import type { PromptText } from "../tokenizer/prompt-text.js";
import { renderToolPrompt } from "../tools/prompt.js";
import { streamLiveToolTurn, streamToolTurn, type LiveToolTurnEvent, type ToolTurnOptions, type ToolTurnResult, type ToolTurnStream } from "../tools/turn.js";
import { collectMessage } from "./accumulate.js";
import { ProviderError, type ProviderErrorKind } from "./errors.js";
import { systemText } from "./flatten.js";
import { withoutClientMetadata } from "./client-metadata.js";
import { plainChatMessages, toolConversation, usesTools } from "./local-prompt.js";
import { MessageEvents } from "./message-events.js";
import { checkSamplingDefaults, withDefaults, type RequestSampling } from "./sampling-defaults.js";
import type { MessageRequest, MessageResponse, StopReason, StreamEvent } from "../messages/types.js";
import type { CallOptions, Provider, ToolCallTokens } from "./types.js";

export interface LocalProviderOptions {
  /** Name in routing decisions and metrics. Default "local". */
  name?: string;
  /**
   * Tokens per request (prompt + output): the KV capacity of each sequence. Default: the model's
   * defaultCapacity (its context length where KV grows on demand, within the model's kvMemory).
   */
  capacity?: number;
  /** Requests that generate at once, their decode steps batched; their KV shares the model's kvMemory budget. Default 1. */
  concurrency?: number;
  /** Requests that may wait for a sequence; one more fails at once with kind "overloaded". Default 64. */
  maxQueue?: number;
  /** Attempts after the first when a tool turn's calls fail validation. Default 2 (the tools layer's). */
  maxRetries?: number;
  /** The `model` reported in responses. Default: the model folder's name. */
  modelId?: string;
  /**
   * Sampling for a request that does not send temperature, top_p or top_k (each field on its own).
   * Default none: the model's genai_config. A server passes the Messages API's (sampling-defaults.ts).
   */
  sampling?: RequestSampling;
  /**
   * Keep client metadata system blocks (Claude Code's billing header) in the prompt. Default false:
   * they are left out, so sessions whose metadata differs share the prefill of the rest (client-metadata.ts).
   */
  keepClientMetadata?: boolean;
  /**
   * Jump-forward in tool turns: text the tool-call grammar forces is appended in one model run
   * (docs/tool-calling.md#jump-forward). Default true.
   */
  jumpForward?: boolean;
}

export class LocalProvider implements Provider {
  readonly name: string;
  readonly locality = "local" as const;
  readonly contextTokens: number;
  private readonly modelId: string;
  private context: Promise<Context> | undefined;
  /** The context once made (it is made on the first request). */
  private ready: Context | undefined;

  constructor(
    private readonly model: Model,
    private readonly options: LocalProviderOptions = {},
  ) {
    this.name = options.name ?? "local";
    this.contextTokens = Math.min(options.capacity ?? model.defaultCapacity, model.contextLength);
    this.modelId = options.modelId ?? path.basename(model.folder.dir);
    if (options.sampling) checkSamplingDefaults(options.sampling);
  }

  /** Requests running or waiting. */
  get queueDepth(): number {
    return this.ready?.depth ?? 0;
  }

  /** The final attempts of tool turns: tokens sampled, and tokens jump-forward appended. */
  readonly toolCallTokens: ToolCallTokens = { sampled: 0, jumped: 0 };

  create(request: MessageRequest, options: CallOptions = {}): Promise<MessageResponse> {
    return collectMessage(this.name, this.events(request, options, false));
  }

  stream(request: MessageRequest, options: CallOptions = {}): AsyncIterable<StreamEvent> {
    return this.events(request, options, options.buffered !== true);
  }

  /** The answer as Messages events; `live` when they are shown as they come (see toolTurn). */
  private async *events(original: MessageRequest, options: CallOptions, live: boolean): AsyncGenerator<StreamEvent> {
    const request = this.modelView(original);
    let context: Context | undefined;
    let sequence: Sequence | undefined;
    try {
      // Checked before waiting in line: a request the model cannot take should fail at once.
      const prompt = await this.fittingPrompt(request);
      context = await this.sequences();
      sequence = await context.acquire(prompt, options.signal);
      yield* usesTools(request) ? this.toolTurn(sequence, prompt, request, options, live) : this.plainTurn(sequence, prompt, request, options);
    } catch (error) {
      throw this.wrap(error, options.signal);
    } finally {
      if (sequence) context!.release(sequence);
    }
  }

  /** Disposes the engine context behind this provider (the model stays loaded). */
  async close(): Promise<void> {
    const context = this.context;
    this.context = undefined;
    this.ready = undefined;
    if (context) await (await context).dispose();
  }

  private sequences(): Promise<Context> {
    this.context ??= this.model
      .createContext({ sequences: this.options.concurrency ?? 1, capacity: this.contextTokens, maxQueue: this.options.maxQueue ?? 64 })
      .then((context) => (this.ready = context));
    return this.context;
  }

  /**
   * The prompt the local model runs for `request`, in tokens: the chat template for plain turns, the
   * tools layer's prompt for tool turns. Its length is what a count_tokens endpoint reports. With
   * maxTokens, a longer prompt throws CAPACITY_EXCEEDED (without tokenizing all of it).
   */
  promptTokens(request: MessageRequest, opts: { maxTokens?: number } = {}): number[] {
    return this.model.tokenizer.encode(this.prompt(request), opts);
  }

  /** promptTokens, with a long prompt tokenized off the event loop. */
  promptTokensAsync(request: MessageRequest, opts: { maxTokens?: number } = {}): Promise<number[]> {
    return this.model.tokenizer.encodeAsync(this.prompt(request), opts);
  }

  /** The prompt's text; messages, tool results and tool definitions are content, never special tokens. */
  private prompt(original: MessageRequest): PromptText {
    const request = this.modelView(original);
    const tokenizer = this.model.tokenizer;
    return usesTools(request)
      ? renderToolPrompt(tokenizer, {
          messages: toolConversation(this.name, request),
          system: systemText(request),
          tools: request.tools ?? [],
          toolChoice: request.tool_choice,
        }).prompt
      : tokenizer.renderPrompt(plainChatMessages(this.name, request));
  }

  /** What of the request the model sees: without client metadata, unless asked to keep it. */
  private modelView(request: MessageRequest): MessageRequest {
    return this.options.keepClientMetadata ? request : withoutClientMetadata(request);
  }

  /**
   * The prompt, if it leaves room for at least one output token in the capacity and in the KV memory
   * budget; Anthropic's "prompt is too long" wording, plus by how much and what limits it.
   */
  private async fittingPrompt(request: MessageRequest): Promise<number[]> {
    const info = this.model.info;
    const budgetTokens = info.kvOnHost ? Math.floor(this.model.kvMemory / info.kvBytesPerToken) : Number.POSITIVE_INFINITY;
    const maximum = Math.min(this.contextTokens, budgetTokens) - 1;
    const limit =
      budgetTokens < this.contextTokens
        ? `the local KV memory budget of ${formatBytes(this.model.kvMemory)} holds ${budgetTokens} tokens, including at least one to answer; raise it with kvMemory (--kv-memory)`
        : `the local capacity is ${this.contextTokens} tokens, including at least one to answer`;
    const tooLong = (what: string, over: string) =>
      new ProviderError(this.name, "context_exceeded", `prompt is too long: ${what} > ${maximum} maximum (${over} over; ${limit})`);
    let prompt: number[];
    try {
      // Tokenizing stops at twice the maximum: a prompt that is a little too long is told by how much,
      // and a huge one costs no more than twice the capacity's worth of work.
      prompt = await this.promptTokensAsync(request, { maxTokens: 2 * maximum });
    } catch (error) {
      if (error instanceof Phi4Error && error.code === "CAPACITY_EXCEEDED") throw tooLong(`more than ${2 * maximum} tokens`, `more than ${maximum}`);
      throw error;
    }
    if (prompt.length > maximum) throw tooLong(`${prompt.length} tokens`, String(prompt.length - maximum));
    return prompt;
  }

  private async *plainTurn(sequence: Sequence, prompt: number[], request: MessageRequest, { signal, seed }: CallOptions): AsyncGenerator<StreamEvent> {
    const stop = stoppable(signal);
    // append false: the prompt is the whole context, so a prefix the sequence (or the model) already holds is reused.
    const generation = sequence.generate(prompt, {
      append: false,
      // Past the capacity (contextTokens) the generation stops with "capacity", reported as such.
      maxTokens: request.max_tokens,
      sampling: sampling(withDefaults(request, this.options.sampling), seed),
      stop: request.stop_sequences,
      signal: stop.signal,
    });
    let result: GenerationResult | undefined;
    try {
      yield { type: "message_start", message: { ...this.emptyMessage(request), usage: { input_tokens: prompt.length, output_tokens: 0 } } };
      yield { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } };
      for await (const chunk of generation) {
        if (chunk.text) yield { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: chunk.text } };
      }
      result = await generation.result;
    } finally {
      // A consumer that stopped reading ends the generation; the sequence goes back only once it has stopped.
      if (!result) stop.abort();
      await generation.result.catch(() => undefined);
    }
    yield { type: "content_block_stop", index: 0 };
    yield {
      type: "message_delta",
      delta: { stop_reason: stopReason(result.stopReason), stop_sequence: result.stopSequence ?? null },
      usage: { output_tokens: result.usage.outputTokens },
    };
    yield { type: "message_stop" };
  }

  /**
   * A tool turn. Live (stream), its text and calls go out as they are generated, a call's input as
   * the constraint writes it. What was sent cannot be taken back, so an attempt that has shown
   * anything is not retried: constrained decoding makes its calls valid as they are written, and in
   * the rare case that one still fails (a schema keyword the grammar does not enforce, a stop sequence
   * cutting a call short) the stream ends with the invalid_output error create gives once its retries
   * are spent. Not live (create), an attempt's events wait until it has passed, so a failed attempt
   * is retried unseen; when the streamed turn succeeds, create gives the same content.
   */
  private async *toolTurn(
    sequence: Sequence,
    prompt: number[],
    request: MessageRequest,
    { signal, seed }: CallOptions,
    live: boolean,
  ): AsyncGenerator<StreamEvent> {
    const stop = stoppable(signal);
    // The prompt was encoded (and checked against the capacity) from the same request.
    const options = { ...this.toolTurnOptions(request, stop.signal, seed), promptTokens: prompt };
    const turn: ToolTurnStream<LiveToolTurnEvent> = live ? streamLiveToolTurn(sequence, options) : streamToolTurn(sequence, options);
    const start = { ...this.emptyMessage(request), usage: { input_tokens: prompt.length, output_tokens: 0 } };
    let message = new MessageEvents(start);
    let held: StreamEvent[] = [];
    let result: ToolTurnResult | undefined;
    try {
      for await (const event of turn) {
        if (event.type === "retry") {
          // The superseded attempt's events were held back (live, it showed nothing): they are dropped.
          message = new MessageEvents(start);
          held = [];
        } else if (live) yield* this.blockEvents(message, event);
        else held.push(...this.blockEvents(message, event));
      }
      result = await turn.result;
      this.toolCallTokens.sampled += result.generation.steps.sampled;
      this.toolCallTokens.jumped += result.generation.steps.jumpedTokens;
    } finally {
      // A consumer that stopped reading ends the turn; the sequence goes back only once it has stopped.
      if (!result) stop.abort();
      await turn.result.catch(() => undefined);
    }
    if (result.toolCalls.length === 0 && result.errors.length > 0) {
      throw new ProviderError(
        this.name,
        "invalid_output",
        `no valid tool call after ${result.retries} retries: ${result.errors.map((e) => e.message).join("; ")}`,
      );
    }
    yield* held;
    yield* message.end({ stop_reason: result.stopReason, stop_sequence: result.stopSequence ?? null }, result.usage.outputTokens);
  }

  private toolTurnOptions(request: MessageRequest, signal: AbortSignal, seed: number | undefined): ToolTurnOptions {
    return {
      messages: toolConversation(this.name, request),
      system: systemText(request),
      tools: request.tools ?? [],
      toolChoice: request.tool_choice,
      maxTokens: request.max_tokens,
      maxRetries: this.options.maxRetries,
      sampling: sampling(withDefaults(request, this.options.sampling), seed),
      stop: request.stop_sequences,
      jumpForward: this.options.jumpForward,
      signal,
    };
  }

  /** A tools-layer event as Messages events. */
  private blockEvents(message: MessageEvents, event: Exclude<LiveToolTurnEvent, { type: "retry" }>): StreamEvent[] {
    switch (event.type) {
      case "text":
        return message.text(event.text);
      case "tool_use_start":
        return message.toolStart(event.id, event.name);
      case "tool_use_delta":
        return message.toolInput(event.json);
      case "tool_use":
        return message.tool({ type: "tool_use", id: event.call.id, name: event.call.name, input: event.call.arguments });
      case "tool_use_invalid":
        throw new ProviderError(
          this.name,
          "invalid_output",
          `a tool call failed validation after its input was streamed (so it was not retried): ${event.errors.map((e) => e.message).join("; ")}`,
        );
    }
  }

  private emptyMessage(request: MessageRequest) {
    return {
      id: `msg_${randomUUID()}`,
      type: "message" as const,
      role: "assistant" as const,
      content: [],
      model: request.model ?? this.modelId,
      stop_reason: null,
      stop_sequence: null,
    };
  }

  private wrap(error: unknown, signal: AbortSignal | undefined): ProviderError {
    if (error instanceof ProviderError) return error;
    if (signal?.aborted) return new ProviderError(this.name, "aborted", "the request was aborted", { cause: error });
    // The engine's message names its own option (maxQueue); an HTTP client knows none of them.
    if (error instanceof Phi4Error && error.code === "OVERLOADED")
      return new ProviderError(this.name, "overloaded", "every sequence of the local model is busy and its wait queue is full; retry later", { cause: error });
    const code = error instanceof Phi4Error ? error.code : undefined;
    return new ProviderError(this.name, errorKind(code), `${code ? `${code}: ` : ""}${(error as Error)?.message ?? String(error)}`, { cause: error });
  }
}

function errorKind(code: Phi4ErrorCode | undefined): ProviderErrorKind {
  switch (code) {
    case "CAPACITY_EXCEEDED":
    case "KV_MEMORY_EXCEEDED":
      return "context_exceeded";
    case "OVERLOADED":
      return "overloaded";
    case "INVALID_ARGUMENT":
      return "invalid_request";
    case "ABORTED":
      return "aborted";
    default:
      return "internal";
  }
}

/** The request's signal, and a stop of our own for a consumer that stops reading. */
function stoppable(signal: AbortSignal | undefined): { signal: AbortSignal; abort: () => void } {
  const stop = new AbortController();
  return { signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal, abort: () => stop.abort() };
}

/** Anthropic's temperature 0 is greedy; other knobs sample; none at all keeps genai_config's defaults (a seed alone seeds them). */
function sampling(request: RequestSampling, seed: number | undefined): SamplingOptions | undefined {
  if (request.temperature === 0) return { greedy: true };
  if (request.temperature === undefined && request.top_p === undefined && request.top_k === undefined && seed === undefined) return undefined;
  return { temperature: request.temperature, topP: request.top_p, topK: request.top_k, ...(seed !== undefined && { seed }) };
}

function stopReason(reason: GenerationStopReason): StopReason {
  switch (reason) {
    case "eos":
      return "end_turn";
    case "stop":
      return "stop_sequence";
    case "max_tokens":
      return "max_tokens";
    case "capacity":
    case "kv_memory":
      return "model_context_window_exceeded";
  }
}
