/**
 * One assistant turn with tools: render the conversation, generate (constrained or not), find the
 * calls, check them against their schemas, and retry with the errors fed back when they fail. The
 * Anthropic-compatible server and the agent loop build on this.
 *
 *   const turn = await generateToolTurn(model, { messages, tools, toolChoice: "any", maxTokens: 256 });
 *   turn.toolCalls // [{ id: "toolu_...", name: "get_weather", arguments: { city: "Paris" } }]
 */
import { randomBytes } from "node:crypto";

import { Phi4Error } from "../engine/errors.js";
import type { GenerationResult, TokenConstraint } from "../engine/generation.js";
import { Model } from "../engine/model.js";
import type { SamplingOptions } from "../engine/sampling.js";
import type { Sequence } from "../engine/sequence.js";
import { ToolCatalog } from "./catalog.js";
import { resolveToolChoice, type ResolvedToolChoice } from "./choice.js";
import { createToolConstraint, type ToolConstraintOptions } from "./constraint/tool-constraint.js";
import { EventQueue } from "./event-queue.js";
import { renderToolPrompt, type ToolPromptOptions } from "./prompt.js";
import { TOOL_CALL_OPEN, ToolCallStreamParser, type ToolParseEvent } from "./stream-parser.js";
import type { ToolCallError, ToolDefinition } from "./types.js";

export interface ToolTurnOptions extends Omit<ToolPromptOptions, "tools">, ToolConstraintOptions {
  tools: readonly ToolDefinition[] | ToolCatalog;
  /** Most tokens per attempt (default 1024, and at most what the sequence has room for). */
  maxTokens?: number;
  sampling?: SamplingOptions;
  /** Stop sequences (stopReason "stop_sequence"). */
  stop?: string[];
  /** Make invalid calls impossible with token masks (default true). */
  constrained?: boolean;
  /** Attempts after the first when calls fail validation, each told what was wrong (default 2). */
  maxRetries?: number;
  /** KV capacity of the sequence made when the target is a Model (default: the model's). */
  capacity?: number;
  signal?: AbortSignal;
}

export interface ToolCall {
  id: string;
  name: string;
  arguments: Record<string, unknown>;
}

export type ToolTurnStopReason = "tool_use" | "end_turn" | "max_tokens" | "stop_sequence";

export interface ToolTurnResult {
  /** What the model said outside its calls (final attempt). */
  text: string;
  toolCalls: ToolCall[];
  stopReason: ToolTurnStopReason;
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

export class ToolTurnStream implements AsyncIterable<ToolTurnEvent> {
  readonly result: Promise<ToolTurnResult>;
  private readonly events = new EventQueue<ToolTurnEvent>();
  private readonly abort = new AbortController();

  /** @internal Use streamToolTurn. */
  constructor(target: Sequence | Model, options: ToolTurnOptions) {
    const signal = options.signal ? AbortSignal.any([options.signal, this.abort.signal]) : this.abort.signal;
    this.result = runTurn(target, { ...options, signal }, (event) => this.events.push(event)).then(
      (result) => {
        this.events.close();
        return result;
      },
      (error: unknown) => {
        this.events.fail(error);
        throw error;
      },
    );
    this.result.catch(() => undefined); // a caller who only iterates sees the error there
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ToolTurnEvent> {
    let finished = false;
    try {
      yield* this.events;
      finished = true;
    } finally {
      if (!finished) this.abort.abort(); // the consumer stopped reading
    }
  }
}

/** Streams a tool turn: text deltas and calls as they close (see ToolTurnEvent); `.result` has the whole turn. */
export function streamToolTurn(target: Sequence | Model, options: ToolTurnOptions): ToolTurnStream {
  return new ToolTurnStream(target, options);
}

export function generateToolTurn(target: Sequence | Model, options: ToolTurnOptions): Promise<ToolTurnResult> {
  return streamToolTurn(target, options).result;
}

const DEFAULT_MAX_TOKENS = 1024;
const END = "<|end|>";

async function runTurn(target: Sequence | Model, options: ToolTurnOptions, emit: (event: ToolTurnEvent) => void): Promise<ToolTurnResult> {
  const model = target instanceof Model ? target : target.model;
  const catalog = ToolCatalog.from(options.tools);
  const choice = resolveToolChoice(options.toolChoice, catalog);
  const maxRetries = options.maxRetries ?? 2;
  const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new Phi4Error("INVALID_ARGUMENT", `maxRetries must be a non-negative integer (got ${maxRetries})`);
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new Phi4Error("INVALID_ARGUMENT", `maxTokens must be a positive integer (got ${maxTokens})`);
  const prompt = renderToolPrompt(model.tokenizer, { ...options, tools: catalog });
  const promptTokens = model.tokenizer.encode(prompt.text);
  const sequence = target instanceof Model ? await model.createSequence({ capacity: options.capacity }) : target;
  const toolResponse = model.tokenizer.tokenToId("<|tool_response|>");
  // A model that goes on to write the tool's answer itself has finished its turn.
  const stopTokens = [...model.folder.eosTokenIds, ...(toolResponse === undefined ? [] : [toolResponse])];
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
        generate: { maxTokens: budget, sampling: options.sampling, stop: options.stop, stopTokens, signal: options.signal, append },
        constraint: options.constrained === false ? undefined : await constraintFor(model, catalog, choice, prompt.prefill, budget, options),
      });
      outputTokens += attempt.generation.usage.outputTokens;
      cachedTokens ??= attempt.generation.usage.cachedTokens;
      const retry = attempt.errors.length > 0 && retries < maxRetries ? feedbackTokens(model, attempt.generation, attempt.errors, prompt.prefill) : undefined;
      // A retry needs room for the feedback and an answer at least as long as this one.
      if (!retry || sequence.capacity - sequence.length - retry.length < attempt.generation.tokens.length) {
        return {
          text: attempt.text.trim(),
          toolCalls: attempt.calls,
          stopReason: stopReason(attempt.generation, attempt.calls.length > 0),
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
  emit: (event: ToolTurnEvent) => void;
  generate: { maxTokens: number; sampling?: SamplingOptions; stop?: string[]; stopTokens: number[]; signal?: AbortSignal; append: boolean };
  constraint?: TokenConstraint;
}

/** One generation, parsed as it streams. */
async function runAttempt(sequence: Sequence, input: number[], setup: AttemptSetup) {
  const { choice, emit } = setup;
  const parser = new ToolCallStreamParser(setup.catalog);
  const calls: ToolCall[] = [];
  const errors: ToolCallError[] = [];
  let text = "";
  const handle = (events: ToolParseEvent[]) => {
    for (const event of events) {
      if (event.type === "text") {
        text += event.text;
        emit({ type: "text", text: event.text });
      } else if (event.type === "error") {
        errors.push(event.error);
      } else if (choice.kind === "none") {
        errors.push({ message: 'tool_choice is "none", but the model called a tool', raw: JSON.stringify(event.call) });
      } else if (choice.parallel || calls.length === 0) {
        const call = { id: `toolu_${randomBytes(16).toString("base64url")}`, ...event.call };
        calls.push(call);
        emit({ type: "tool_use", call });
      }
    }
  };
  handle(parser.push(setup.prefill));
  const generation = sequence.generate(input, { ...setup.generate, constraint: setup.constraint });
  for await (const chunk of generation) handle(parser.push(chunk.text));
  handle(parser.end());
  const result = await generation.result;
  if ((choice.kind === "any" || choice.kind === "tool") && calls.length === 0 && errors.length === 0) {
    errors.push({ message: "no tool call was made, but tool_choice requires one", raw: result.text });
  }
  return { text, calls, errors, generation: result };
}

/** The constraint for a tool choice: a call from the first token (any, tool), once one starts (auto), or none at all (none). */
function constraintFor(model: Model, catalog: ToolCatalog, choice: ResolvedToolChoice, prefill: string, budget: number, options: ToolConstraintOptions) {
  const maxCalls = choice.parallel ? options.maxCalls : 1;
  if (choice.kind === "none") return createToolConstraint(model, catalog, { ...options, mode: "forbid", budget });
  if (choice.kind === "auto") return createToolConstraint(model, catalog, { ...options, maxCalls, mode: "lazy", budget });
  const tools = choice.kind === "tool" ? catalog.only(choice.name!) : catalog;
  return createToolConstraint(model, tools, { ...options, maxCalls, mode: "call", budget, prefix: prefill.slice(TOOL_CALL_OPEN.length) });
}

function stopReason(generation: GenerationResult, called: boolean): ToolTurnStopReason {
  if (called) return "tool_use";
  if (generation.stopReason === "stop" && generation.stopSequence !== undefined) return "stop_sequence";
  return generation.stopReason === "max_tokens" || generation.stopReason === "capacity" ? "max_tokens" : "end_turn";
}

/** What a retry appends: the end of the failed answer, a user turn that says what was wrong, the prefill again. */
function feedbackTokens(model: Model, failed: GenerationResult, errors: ToolCallError[], prefill: string): number[] {
  const closed = failed.tokens.at(-1) === model.tokenizer.tokenToId(END);
  const message = `Your tool call was not valid:\n${errors.map((e) => `- ${e.message}`).join("\n")}\nAnswer again, with calls that name one of the tools and whose arguments match its input schema.`;
  return model.tokenizer.encode((closed ? "" : END) + model.tokenizer.applyChatTemplate([{ role: "user", content: message }]) + prefill);
}
