/**
 * One generation on a sequence: the decode loop (sample in native code, detokenize, check stops) and
 * its two faces, a stream of chunks (`for await`) and a final result (`await generation.result`).
 * The loop starts at once; breaking out of the stream aborts it.
 */
import { StreamDecoder } from "../tokenizer/stream-decoder.js";
import { ResultStream } from "../util/result-stream.js";
import { Phi4Error } from "./errors.js";
import { resolveSampling, type SamplingOptions } from "./sampling.js";
import type { ModelHost, PrefillProgress } from "./model-host.js";
import type { NativeEvalOptions, NativeEvalResult } from "./native-types.js";
import type { ReuseResult } from "./prefix-reuse.js";
import { StopStringMatcher } from "./stop-strings.js";

/**
 * Why a generation ended: an end-of-sequence token, maxTokens, a stop string (or a completed
 * constraint), the sequence's capacity (at most the model's context length), or the KV memory budget
 * of its context (the KV of one more token could not be backed: KV_MEMORY_EXCEEDED mid-answer).
 */
export type GenerationStopReason = "eos" | "max_tokens" | "stop" | "capacity" | "kv_memory";

/**
 * Restricts which tokens may be sampled (constrained decoding). The mask is applied in native code
 * before sampling, so every sampling mode only ever sees allowed tokens.
 */
export interface TokenConstraint {
  /** Bit mask of the tokens allowed next (bit i, LSB first, = token i), or null when any may follow. */
  allowedTokens(): Uint8Array | null;
  /** Called with every sampled token, in order. */
  accept(token: number): void;
  /** True once the constrained output is complete: the generation then stops with reason "stop". */
  isComplete(): boolean;
}

export interface GenerateOptions {
  /** Most tokens to generate. Default: until end-of-sequence or the sequence's capacity. */
  maxTokens?: number;
  sampling?: SamplingOptions;
  /** Stop when the text contains one of these (the stop string is not part of the output). */
  stop?: string[];
  /** Token ids that end the generation. Default: genai_config's eos_token_id. */
  stopTokens?: number[];
  signal?: AbortSignal;
  constraint?: TokenConstraint;
  /**
   * true (default): `input` is appended to the sequence. false: `input` is the whole context; the
   * longest prefix of it already computed (in this sequence, an idle sequence of the model or the
   * prefix cache) is reused and only the rest is prefilled.
   */
  append?: boolean;
  /** Called after each chunk of a prefill longer than one chunk (see also Model.onPrefillProgress). */
  onPrefillProgress?: (progress: PrefillProgress) => void;
}

export interface GenerationChunk {
  /** The token this chunk comes from; absent on a final chunk that only releases held-back text. */
  token?: number;
  /** Text this token completed (may be "" while a multi-byte character or a possible stop string is held back). */
  text: string;
}

export interface GenerationResult {
  /** Generated token ids (the end-of-sequence token included when that is why it stopped). */
  tokens: number[];
  text: string;
  stopReason: GenerationStopReason;
  /** The stop string that ended it, when stopReason is "stop". */
  stopSequence?: string;
  /** promptTokens counts the whole input; cachedTokens those of them reused instead of prefilled. */
  usage: { promptTokens: number; outputTokens: number; cachedTokens: number };
  timings: { ttftMs: number; prefillTokensPerSec: number; decodeTokensPerSec: number; totalMs: number };
}

/** @internal What a generation drives: its sequence. Sequence implements it; naming this interface instead of the class keeps generation.ts from importing sequence.ts, which imports it. */
export interface GenerationTarget {
  readonly model: ModelHost;
  readonly length: number;
  readonly capacity: number;
  adopt(target: readonly number[]): Promise<{ rest: number[]; reuse: ReuseResult }>;
  step(tokens: readonly number[], options: NativeEvalOptions, signal?: AbortSignal, onProgress?: (progress: PrefillProgress) => void): Promise<NativeEvalResult>;
  storePrompt(prompt: readonly number[]): Promise<void>;
}

export class Generation implements AsyncIterable<GenerationChunk> {
  readonly result: Promise<GenerationResult>;
  private readonly stream: ResultStream<GenerationChunk, GenerationResult>;
  private iterated = false;

  /** @internal Use Sequence.generate. */
  constructor(sequence: GenerationTarget, prompt: number[], options: GenerateOptions, onSettled: () => void) {
    // onSettled runs before anyone awaiting `result` resumes, so the sequence is idle by then.
    this.stream = new ResultStream((emit, signal) => this.run(sequence, prompt, options, signal, emit), { signal: options.signal, onSettled });
    this.result = this.stream.result;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GenerationChunk> {
    if (this.iterated) throw new Phi4Error("INVALID_ARGUMENT", "a generation can be iterated once");
    this.iterated = true;
    yield* this.stream;
  }

  private async run(sequence: GenerationTarget, prompt: number[], options: GenerateOptions, signal: AbortSignal, emit: (chunk: GenerationChunk) => void): Promise<GenerationResult> {
    const model = sequence.model;
    const sampling = resolveSampling(model.defaultSampling, options.sampling);
    const stopTokens = new Set(options.stopTokens ?? model.folder.eosTokenIds);
    const maxTokens = options.maxTokens ?? Number.POSITIVE_INFINITY;
    if (!(maxTokens >= 1)) throw new Phi4Error("INVALID_ARGUMENT", `maxTokens must be at least 1 (got ${options.maxTokens})`);
    if (prompt.length === 0 && sequence.length === 0) throw new Phi4Error("INVALID_ARGUMENT", "nothing to generate from: the prompt is empty");
    if (signal.aborted) throw new Phi4Error("ABORTED", "generation was aborted");
    const vocab = model.folder.vocabSize;
    const bad = prompt.find((t) => !Number.isInteger(t) || t < 0 || t >= vocab);
    if (bad !== undefined) throw new Phi4Error("TOKEN_OUT_OF_RANGE", `token id ${bad} is not one of this model's (0..${vocab - 1})`);
    // The input must leave a position free: the token sampled after a full sequence could never be
    // evaluated, and a sequence holding capacity + 1 tokens could not restore its own saved state.
    const total = options.append === false ? prompt.length : sequence.length + prompt.length;
    if (total >= sequence.capacity) {
      throw new Phi4Error("CAPACITY_EXCEEDED", `the input has ${total} tokens but the sequence's capacity is ${sequence.capacity}: at least one position must stay free for the answer`);
    }
    const decoder = new StreamDecoder(model.tokenizer);
    const stops = new StopStringMatcher(options.stop ?? []);

    const constraint = options.constraint;
    const constrained = () => {
      const allowedTokens = constraint?.allowedTokens();
      return allowedTokens ? { ...sampling, allowedTokens } : sampling;
    };

    const started = performance.now();
    const adopted = options.append === false ? await sequence.adopt(prompt) : { rest: prompt, reuse: { reusedTokens: 0 } };
    let step = await sequence.step(adopted.rest, { sampling: constrained(), seed: options.sampling?.seed }, signal, options.onPrefillProgress);
    const firstTokenAt = performance.now();
    const generated: number[] = [];
    let text = "";
    let stopReason: GenerationStopReason | undefined;
    let stopSequence: string | undefined;

    for (;;) {
      const token = step.token!;
      generated.push(token);
      constraint?.accept(token);
      if (stopTokens.has(token)) {
        stopReason = "eos";
      } else {
        const matched = stops.push(decoder.push(token));
        text += matched.text;
        emit({ token, text: matched.text });
        if (matched.stop !== undefined) {
          stopReason = "stop";
          stopSequence = matched.stop;
        }
      }
      if (!stopReason && constraint?.isComplete()) stopReason = "stop";
      if (!stopReason && generated.length >= maxTokens) stopReason = "max_tokens";
      if (!stopReason && sequence.length >= sequence.capacity) stopReason = "capacity";
      if (stopReason) break;
      try {
        step = await sequence.step([], { sampling: constrained() }, signal);
      } catch (error) {
        // The budget ran out evaluating the last sampled token: the answer so far stands (the
        // sequence keeps it, that token without KV), and the caller learns why it ended.
        if (!(error instanceof Phi4Error && error.code === "KV_MEMORY_EXCEEDED")) throw error;
        stopReason = "kv_memory";
        break;
      }
    }
    // A stop string swallows what it held back; any other ending (a constraint completing too) releases it.
    if (stopSequence === undefined) {
      const tail = stops.push(decoder.flush()).text + stops.flush();
      if (tail) {
        text += tail;
        emit({ text: tail });
      }
    }
    const finished = performance.now();
    const decodeMs = finished - firstTokenAt;
    if (options.append === false) await sequence.storePrompt(prompt);
    return {
      tokens: generated,
      text,
      stopReason: stopReason!,
      stopSequence,
      usage: { promptTokens: prompt.length, outputTokens: generated.length, cachedTokens: adopted.reuse.reusedTokens },
      timings: {
        ttftMs: firstTokenAt - started,
        prefillTokensPerSec: (adopted.rest.length / (firstTokenAt - started)) * 1000,
        decodeTokensPerSec: generated.length > 1 && decodeMs > 0 ? ((generated.length - 1) / decodeMs) * 1000 : 0,
        totalMs: finished - started,
      },
    };
  }
}
