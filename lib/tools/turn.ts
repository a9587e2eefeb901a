/**
 * One assistant turn with tools: render the conversation, generate (constrained or not), find the
 * calls, check them against their schemas, and retry with the errors fed back when they fail. The
 * Anthropic-compatible server and the agent loop build on this.
 *
 *   const turn = await generateToolTurn(model, { messages, tools, toolChoice: "any", maxTokens: 256 });
 *   turn.toolCalls // [{ id: "toolu_...", name: "get_weather", arguments: { city: "Paris" } }]
 *
 * streamLiveToolTurn is the variant for consumers that cannot take back what they have shown (the
 * server streaming to its client): calls stream as the constraint writes them, and an attempt that has
 * shown anything is final.
 */
import { randomBytes } from "node:crypto";

import { Phi4Error } from "../engine/errors.js";
import type { GenerationChunk, GenerationResult, TokenConstraint } from "../engine/generation.js";
import { Model } from "../engine/model.js";
import type { ModelHost } from "../engine/model-host.js";
import type { SamplingOptions } from "../engine/sampling.js";
import type { StopReason } from "../messages/types.js";
import { ResultStream } from "../util/result-stream.js";
import type { Sequence } from "../engine/sequence.js";
import { ToolCatalog } from "./catalog.js";
import { resolveToolChoice, type ResolvedToolChoice } from "./choice.js";
import { createToolConstraint, type ToolConstraintOptions } from "./constraint/tool-constraint.js";
import { CallListScanner, type ListPart } from "./call-list-scanner.js";
import { PromptText } from "../tokenizer/prompt-text.js";
import { prefillPrompt, renderToolPrompt, type ToolPromptOptions } from "./prompt.js";
import { parseToolCalls, TOOL_CALL_CLOSE, TOOL_CALL_OPEN, ToolCallStreamParser, type ToolParseEvent } from "./stream-parser.js";
import type { AnyToolDefinition, ParsedToolCall, ToolCallError } from "./types.js";

export interface ToolTurnOptions extends Omit<ToolPromptOptions, "tools">, ToolConstraintOptions {
  tools: readonly AnyToolDefinition[] | ToolCatalog;
  /** Most tokens per attempt (default 1024, and at most what the sequence has room for). */
  maxTokens?: number;
  sampling?: SamplingOptions;
  /** Stop sequences (stopReason "stop_sequence"). */
  stop?: string[];
  /** Make invalid calls impossible with token masks (default true). */
  constrained?: boolean;
  /**
   * Constrained calls: append the text the grammar forces (the call's opening, the rest of a tool
   * name, required property names, closing brackets) in one run instead of token by token (default true).
   */
  jumpForward?: boolean;
  /** Attempts after the first when calls fail validation, each told what was wrong (default 2). */
  maxRetries?: number;
  /** KV capacity of the sequence made when the target is a Model (default: the model's). */
  capacity?: number;
  signal?: AbortSignal;
  /**
   * The tokens of these options' prompt, when the caller has already encoded it
   * (`tokenizer.encode(renderToolPrompt(tokenizer, options).prompt)`): a long prompt is then not
   * tokenized twice.
   */
  promptTokens?: readonly number[];
}

export interface ToolCall {
  id: string;
  name: string;
  arguments: Record<string, unknown>;
}

export interface ToolTurnResult {
  /** What the model said outside its calls (final attempt). */
  text: string;
  toolCalls: ToolCall[];
  stopReason: StopReason;
  stopSequence?: string;
  /** Attempts after the first. */
  retries: number;
  /** What was wrong with the final attempt's calls (they are not in toolCalls). */
  errors: ToolCallError[];
  /** promptTokens: the rendered conversation, of which cachedTokens had their KV reused; outputTokens: all attempts. */
  usage: { promptTokens: number; cachedTokens: number; outputTokens: number };
  /** The final attempt's generation (tokens, raw text, timings). */
  generation: GenerationResult;
}

export type ToolTurnEvent =
  | { type: "text"; text: string }
  | { type: "tool_use"; call: ToolCall }
  /** The attempt so far failed validation and is being retried: what it streamed is superseded. */
  | { type: "retry"; retry: number; errors: ToolCallError[] };

/**
 * What a live turn streams (streamLiveToolTurn): the ToolTurnEvents, and each call the constraint
 * writes, as it is written: tool_use_start once its opening has named the tool, tool_use_delta with
 * its arguments' JSON text as it comes (the fragments concatenate to the arguments exactly as the
 * model wrote them), then, once the parser has checked the whole call, its tool_use event (same id)
 * or tool_use_invalid.
 */
export type LiveToolTurnEvent =
  | ToolTurnEvent
  | { type: "tool_use_start"; id: string; name: string }
  | { type: "tool_use_delta"; id: string; json: string }
  | { type: "tool_use_invalid"; id: string; errors: ToolCallError[] };

/** A tool turn's events and, in `result`, the whole turn; breaking out of the events aborts the turn. */
export class ToolTurnStream<E extends LiveToolTurnEvent = ToolTurnEvent> extends ResultStream<E, ToolTurnResult> {
  /** @internal Use streamToolTurn or streamLiveToolTurn. */
  constructor(target: Sequence | Model, options: ToolTurnOptions, live = false) {
    // Only a live turn emits the live kinds of event, and only streamLiveToolTurn types its stream with them.
    super((emit, signal) => runTurn(target, { ...options, signal }, live, (event) => emit(event as E)), { signal: options.signal });
  }
}

/** Streams a tool turn: text deltas and calls as they close (see ToolTurnEvent); `.result` has the whole turn. */
export function streamToolTurn(target: Sequence | Model, options: ToolTurnOptions): ToolTurnStream {
  return new ToolTurnStream(target, options);
}

/**
 * Streams a tool turn for a consumer that cannot take back what it has shown (a server streaming to
 * its client). With constrained decoding (the default), each call streams as it is written (see
 * LiveToolTurnEvent). An attempt that has shown anything (text other than whitespace, a call) is
 * final: it is not retried, and its errors are the result's. The constraint makes its calls valid as
 * they are written, except for schema keywords the grammar does not enforce and a stop sequence that
 * cuts a call short; such a call ends as tool_use_invalid.
 */
export function streamLiveToolTurn(target: Sequence | Model, options: ToolTurnOptions): ToolTurnStream<LiveToolTurnEvent> {
  return new ToolTurnStream<LiveToolTurnEvent>(target, options, true);
}

export function generateToolTurn(target: Sequence | Model, options: ToolTurnOptions): Promise<ToolTurnResult> {
  return streamToolTurn(target, options).result;
}

const DEFAULT_MAX_TOKENS = 1024;
const END = "<|end|>";

async function runTurn(target: Sequence | Model, options: ToolTurnOptions, live: boolean, emit: (event: LiveToolTurnEvent) => void): Promise<ToolTurnResult> {
  const model: ModelHost = target instanceof Model ? target : target.model;
  const catalog = ToolCatalog.from(options.tools);
  const choice = resolveToolChoice(options.toolChoice, catalog);
  const maxRetries = options.maxRetries ?? 2;
  const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new Phi4Error("INVALID_ARGUMENT", `maxRetries must be a non-negative integer (got ${maxRetries})`);
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new Phi4Error("INVALID_ARGUMENT", `maxTokens must be a positive integer (got ${maxTokens})`);
  const prompt = renderToolPrompt(model.tokenizer, { ...options, tools: catalog });
  const promptTokens = options.promptTokens ? [...options.promptTokens] : await model.tokenizer.encodeAsync(prompt.prompt);
  const sequence = target instanceof Model ? await target.createSequence({ capacity: options.capacity }) : target;
  const toolResponse = model.tokenizer.tokenToId("<|tool_response|>");
  // A model that goes on to write the tool's answer itself has finished its turn.
  const stopTokens = [...model.folder.eosTokenIds, ...(toolResponse === undefined ? [] : [toolResponse])];
  const follow = live && options.constrained !== false ? listStart(model, choice) : undefined;
  try {
    // The first attempt gives the whole conversation and the engine reuses the KV of the longest prefix
    // it already has (earlier turns); retries append to the failed attempt.
    let input = promptTokens;
    let append = false;
    let outputTokens = 0;
    let cachedTokens: number | undefined;
    for (let retries = 0; ; retries++) {
      const budget = Math.min(maxTokens, sequence.capacity - (append ? sequence.length : 0) - input.length);
      if (budget < 1) throw new Phi4Error("CAPACITY_EXCEEDED", `the sequence has no room left to answer (capacity ${sequence.capacity})`);
      const attempt = await runAttempt(sequence, input, {
        catalog,
        choice,
        prefill: prompt.prefill,
        emit,
        follow,
        generate: {
          maxTokens: budget,
          sampling: options.sampling,
          stop: options.stop,
          stopTokens,
          signal: options.signal,
          append,
          jumpForward: options.jumpForward,
        },
        constraint: options.constrained === false ? undefined : await constraintFor(model, catalog, choice, prompt.prefill, budget, options),
      });
      outputTokens += attempt.generation.usage.outputTokens;
      cachedTokens ??= attempt.generation.usage.cachedTokens;
      // Live, what an attempt has shown cannot be taken back, so only an attempt that showed nothing is retried.
      const retriable = attempt.errors.length > 0 && retries < maxRetries && !(live && attempt.shown);
      const retry = retriable ? feedbackTokens(model, attempt.generation, attempt.errors, prompt.prefill) : undefined;
      // A retry needs room for the feedback and an answer at least as long as this one.
      if (!retry || sequence.capacity - sequence.length - retry.length < attempt.generation.tokens.length) {
        return {
          text: attempt.text.trim(),
          toolCalls: attempt.calls,
          stopReason: stopReason(attempt.generation, attempt.calls.length > 0, budget < maxTokens),
          stopSequence: attempt.generation.stopSequence,
          retries,
          errors: attempt.errors,
          usage: { promptTokens: promptTokens.length, cachedTokens, outputTokens },
          generation: attempt.generation,
        };
      }
      emit({ type: "retry", retry: retries + 1, errors: attempt.errors });
      input = retry;
      append = true;
    }
  } finally {
    if (target instanceof Model) await sequence.dispose();
  }
}

interface AttemptSetup {
  catalog: ToolCatalog;
  choice: ResolvedToolChoice;
  prefill: string;
  emit: (event: LiveToolTurnEvent) => void;
  /** Live only: where the constrained call list starts, to follow it as it is written (see listStart). */
  follow?: "prefill" | number;
  generate: {
    maxTokens: number;
    sampling?: SamplingOptions;
    stop?: string[];
    stopTokens: number[];
    signal?: AbortSignal;
    append: boolean;
    jumpForward?: boolean;
  };
  constraint?: TokenConstraint;
}

/** One generation, parsed as it streams. */
async function runAttempt(sequence: Sequence, input: number[], setup: AttemptSetup) {
  const output = new AttemptOutput(setup);
  const generation = sequence.generate(input, { ...setup.generate, constraint: setup.constraint });
  for await (const chunk of generation) output.push(chunk);
  output.end();
  const result = await generation.result;
  const { calls, errors } = output;
  if ((setup.choice.kind === "any" || setup.choice.kind === "tool") && calls.length === 0 && errors.length === 0) {
    errors.push({ message: "no tool call was made, but tool_choice requires one", raw: result.text });
  }
  return { text: output.text, calls, errors, shown: output.shown, generation: result };
}

/**
 * Where a live attempt's call list starts, when the constraint writes it: right away for any and tool
 * (the prefill opens it), at the model's own <|tool_call|> token for auto (its id), never for none.
 * The token, not its text: text that merely spells the tag is not under the constraint.
 */
function listStart(model: ModelHost, choice: ResolvedToolChoice): "prefill" | number | undefined {
  if (choice.kind === "any" || choice.kind === "tool") return "prefill";
  return choice.kind === "auto" ? model.tokenizer.tokenToId(TOOL_CALL_OPEN) : undefined;
}

const newCallId = () => `toolu_${randomBytes(16).toString("base64url")}`;

/** A call of the list being written, live (see AttemptOutput.streaming). */
interface StreamingCall {
  id: string;
  name: string;
  /** Its arguments' text so far. */
  json: string;
  held: boolean;
}

/**
 * One attempt's output as it streams: its text, calls and errors, each emitted as soon as it is known.
 * Text goes through the tolerant parser. Live, the call list the constraint writes goes through a
 * CallListScanner instead, so that a call is shown from its first tokens; each of its calls is still
 * checked by the parser, on its own, once it closes.
 */
class AttemptOutput {
  text = "";
  readonly calls: ToolCall[] = [];
  readonly errors: ToolCallError[] = [];
  /** Something a consumer would show went out: text other than whitespace, or a call. */
  shown = false;
  private readonly parser: ToolCallStreamParser;
  private readonly list: CallListScanner;
  /** armed: the model sampled <|tool_call|>, whose text may come a chunk later (a held-back stop string). */
  private phase: "text" | "armed" | "list";
  /** Text since the <|tool_call|> token, while armed. */
  private held = "";
  /**
   * The list's call being streamed. `held`: it names a tool already called and its arguments so far
   * repeat an earlier call's, so nothing of it is shown until they differ (an identical repeat is dropped).
   */
  private streaming: StreamingCall | undefined;
  /** Each kept call's name and arguments as written, to recognise a repeat while it is written. */
  private readonly written: { name: string; json: string }[] = [];

  constructor(private readonly setup: AttemptSetup) {
    this.parser = new ToolCallStreamParser(setup.catalog);
    this.list = new CallListScanner(setup.catalog);
    this.phase = setup.follow === "prefill" ? "list" : "text";
    if (this.phase === "list") this.scan(setup.prefill.slice(TOOL_CALL_OPEN.length));
    else this.parse(setup.prefill);
  }

  push(chunk: GenerationChunk): void {
    if (this.phase === "list") return this.scan(chunk.text);
    if (this.phase === "text" && chunk.token !== undefined && chunk.token === this.setup.follow) this.phase = "armed";
    if (this.phase === "text") return this.parse(chunk.text);
    this.held += chunk.text;
    const at = this.held.indexOf(TOOL_CALL_OPEN);
    if (at === -1) return;
    this.parse(this.held.slice(0, at), true);
    this.phase = "list";
    this.scan(this.held.slice(at + TOOL_CALL_OPEN.length));
    this.held = "";
  }

  /** The generation is over: flushes held text, and reports a call left open. */
  end(): void {
    if (this.phase === "list") this.onList(this.list.end());
    else this.parse(this.held, true);
  }

  private parse(text: string, last = false): void {
    this.handle(this.parser.push(text));
    if (last) this.handle(this.parser.end());
  }

  private handle(events: ToolParseEvent[]): void {
    for (const event of events) {
      if (event.type === "text") this.addText(event.text);
      else if (event.type === "error") this.errors.push(event.error);
      else this.addCall(event.call);
    }
  }

  private addText(text: string): void {
    this.text += text;
    this.shown ||= text.trim() !== "";
    this.setup.emit({ type: "text", text });
  }

  /**
   * A checked call: kept and emitted, unless the tool choice forbids calls, it is one too many, or it
   * repeats an earlier call of this turn exactly (a small model in a loop writes the same call again
   * and again; nobody wants it run twice). `id`: a live call already shown under it, which must end.
   */
  private addCall(parsed: ParsedToolCall, id?: string, json = JSON.stringify(parsed.arguments)): void {
    if (this.setup.choice.kind === "none") {
      this.errors.push({ message: 'tool_choice is "none", but the model called a tool', raw: JSON.stringify(parsed) });
    } else if (id === undefined && this.repeats(parsed)) {
      return;
    } else if (this.takesCall()) {
      id ??= newCallId();
      this.written.push({ name: parsed.name, json });
      const call = { id, ...parsed };
      this.calls.push(call);
      this.shown = true;
      this.setup.emit({ type: "tool_use", call });
    }
  }

  private repeats(call: ParsedToolCall): boolean {
    const args = JSON.stringify(call.arguments);
    return this.calls.some((c) => c.name === call.name && JSON.stringify(c.arguments) === args);
  }

  /** Without parallel tool use, calls after the first are dropped. */
  private takesCall(): boolean {
    return this.setup.choice.parallel || this.calls.length === 0;
  }

  private scan(text: string): void {
    this.onList(this.list.push(text));
  }

  private onList(parts: ListPart[]): void {
    for (const part of parts) {
      if (part.type === "start") this.startCall(part.name);
      else if (part.type === "arguments") this.streamArguments(part.json);
      else this.endCall(part.raw, part.complete);
    }
  }

  private startCall(name: string): void {
    if (!this.takesCall()) return; // one too many: it will be dropped, so it is not shown
    this.streaming = { id: newCallId(), name, json: "", held: this.written.some((w) => w.name === name) };
    if (!this.streaming.held) this.show(this.streaming);
  }

  private streamArguments(json: string): void {
    const streaming = this.streaming;
    if (!streaming) return;
    streaming.json += json;
    if (!streaming.held) this.setup.emit({ type: "tool_use_delta", id: streaming.id, json });
    else if (!this.written.some((w) => w.name === streaming.name && w.json.startsWith(streaming.json))) this.release(streaming);
  }

  private show(streaming: { id: string; name: string }): void {
    this.shown = true;
    this.setup.emit({ type: "tool_use_start", id: streaming.id, name: streaming.name });
  }

  /** A held call turned out different from every earlier one: it is shown, with what it has written so far. */
  private release(streaming: StreamingCall): void {
    streaming.held = false;
    this.show(streaming);
    if (streaming.json !== "") this.setup.emit({ type: "tool_use_delta", id: streaming.id, json: streaming.json });
  }

  /** A call of the list, checked by the parser on its own; a streamed one ends as tool_use or tool_use_invalid. */
  private endCall(raw: string, complete: boolean): void {
    const { calls, errors } = parseToolCalls(TOOL_CALL_OPEN + raw + (complete ? TOOL_CALL_CLOSE : ""), this.setup.catalog);
    const streaming = this.streaming;
    this.streaming = undefined;
    this.errors.push(...errors);
    if (!streaming) {
      for (const call of calls) this.addCall(call);
      return;
    }
    if (streaming.held) {
      if (calls.length === 1 && errors.length === 0 && this.repeats(calls[0])) return; // never shown: dropped
      this.release(streaming);
    }
    if (calls.length === 1 && errors.length === 0) this.addCall(calls[0], streaming.id, streaming.json);
    else this.setup.emit({ type: "tool_use_invalid", id: streaming.id, errors });
  }
}

/** The constraint for a tool choice: a call from the first token (any, tool), once one starts (auto), or none at all (none). */
function constraintFor(model: ModelHost, catalog: ToolCatalog, choice: ResolvedToolChoice, prefill: string, budget: number, options: ToolConstraintOptions) {
  const maxCalls = choice.parallel ? options.maxCalls : 1;
  if (choice.kind === "none") return createToolConstraint(model, catalog, { ...options, mode: "forbid", budget });
  if (choice.kind === "auto") return createToolConstraint(model, catalog, { ...options, maxCalls, mode: "lazy", budget });
  const tools = choice.kind === "tool" ? catalog.only(choice.name!) : catalog;
  return createToolConstraint(model, tools, { ...options, maxCalls, mode: "call", budget, prefix: prefill.slice(TOOL_CALL_OPEN.length) });
}

/** `contextBound`: the attempt's token budget was cut to the room left in the sequence, below maxTokens. */
function stopReason(generation: GenerationResult, called: boolean, contextBound: boolean): StopReason {
  if (called) return "tool_use";
  if (generation.stopReason === "stop" && generation.stopSequence !== undefined) return "stop_sequence";
  if (generation.stopReason === "capacity" || generation.stopReason === "kv_memory" || (generation.stopReason === "max_tokens" && contextBound))
    return "model_context_window_exceeded";
  return generation.stopReason === "max_tokens" ? "max_tokens" : "end_turn";
}

/** What a retry appends: the end of the failed answer, a user turn that says what was wrong, the prefill again. */
function feedbackTokens(model: ModelHost, failed: GenerationResult, errors: ToolCallError[], prefill: string): number[] {
  const closed = failed.tokens.at(-1) === model.tokenizer.tokenToId(END);
  const message = `Your tool call was not valid:\n${errors.map((e) => `- ${e.message}`).join("\n")}\nAnswer again, with calls that name one of the tools and whose arguments match its input schema.`;
  return model.tokenizer.encode(
    PromptText.join([closed ? "" : END, model.tokenizer.renderPrompt([{ role: "user", content: message }]), prefillPrompt(prefill)]),
  );
}
