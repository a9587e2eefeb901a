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
import { seamTokens, type Seam } from "./jump-forward.js";
import { PromptLookup, resolveSpeculative, type SpeculativeOptions } from "./prompt-lookup.js";

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
  /**
   * Jump-forward (optional): the bytes the constraint allows as the only continuation from its current
   * state (empty when the next byte is a choice). They end on a whole UTF-8 character.
   */
  forced?(): Uint8Array;
  /**
   * The generation appended forced()'s bytes: the last `takenBack` accepted tokens were replaced by
   * `tokens`, whose bytes are theirs followed by the forced ones. Returns false, changing nothing, when
   * the constraint's budget has no room for that.
   */
  acceptForced?(takenBack: number, tokens: readonly number[]): boolean;
  /**
   * Speculative decoding (optional): a copy in the same state that advances on its own, on which a
   * drafted run of tokens is checked token by token before the model verifies it. A constraint
   * without it is never drafted for.
   */
  fork?(): TokenConstraint;
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
  /**
   * With a constraint that can say what it forces (the tool-call constraint does): append the forced
   * text in one run instead of sampling it token by token (see docs/tool-calling.md). Default true.
   */
  jumpForward?: boolean;
  /** Called after each chunk of a prefill longer than one chunk (see also Model.onPrefillProgress). */
  onPrefillProgress?: (progress: PrefillProgress) => void;
  /**
   * Prompt-lookup speculative decoding (docs/speculative.md): tokens that followed an earlier
   * occurrence of the sequence's last few tokens are checked in one model run, and the ones sampling
   * accepts are kept (greedy output is unchanged; sampled output keeps its distribution). Default: the
   * model's `speculative` option (on); false turns it off; an object tunes it.
   */
  speculative?: boolean | SpeculativeOptions;
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
  timings: {
    ttftMs: number;
    prefillTokensPerSec: number;
    decodeTokensPerSec: number;
    totalMs: number;
    /** Sampled tokens per model step that sampled them (above 1 when speculative drafts are accepted). */
    tokensPerStep: number;
    /** Accepted of the drafted tokens (0 when nothing was drafted). */
    acceptanceRate: number;
  };
  /**
   * Sampled tokens (accepted draft tokens included: sampling produced them; sampled - acceptedTokens
   * model steps), jumps with the tokens they appended (of `tokens`, or taken back later), and
   * speculative steps with the tokens they drafted and the drafted tokens accepted.
   */
  steps: { sampled: number; jumps: number; jumpedTokens: number; drafts: number; draftedTokens: number; acceptedTokens: number };
}

/** @internal What a generation drives: its sequence. Sequence implements it; naming this interface instead of the class keeps generation.ts from importing sequence.ts, which imports it. */
export interface GenerationTarget {
  readonly model: ModelHost;
  readonly length: number;
  readonly capacity: number;
  /** Every token of the sequence (read once, when a generation starts drafting). */
  readonly tokens: readonly number[];
  adopt(target: readonly number[]): Promise<{ rest: number[]; reuse: ReuseResult }>;
  step(
    tokens: readonly number[],
    options: NativeEvalOptions,
    signal?: AbortSignal,
    onProgress?: (progress: PrefillProgress) => void,
  ): Promise<NativeEvalResult>;
  storePrompt(prompt: readonly number[]): Promise<void>;
  /** Keeps the first `length` tokens while a generation runs (a jump-forward's seam). */
  truncate(length: number): void;
}

/** The mask of a position where any token may follow (the native sampler reads an empty mask so). */
const ANY_TOKEN = new Uint8Array(0);

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

  /**
   * The next step; a speculative one whose draft the KV memory budget has no room for runs again
   * without it (the draft's positions count against the budget until they are rejected).
   */
  private async next(sequence: GenerationTarget, tokens: readonly number[], options: NativeEvalOptions, signal: AbortSignal): Promise<NativeEvalResult> {
    try {
      return await sequence.step(tokens, options, signal);
    } catch (error) {
      if (!options.draft || !(error instanceof Phi4Error && error.code === "KV_MEMORY_EXCEEDED")) throw error;
      return sequence.step(tokens, { sampling: options.sampling }, signal);
    }
  }

  private async run(
    sequence: GenerationTarget,
    prompt: number[],
    options: GenerateOptions,
    signal: AbortSignal,
    emit: (chunk: GenerationChunk) => void,
  ): Promise<GenerationResult> {
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
      throw new Phi4Error(
        "CAPACITY_EXCEEDED",
        `the input has ${total} tokens but the sequence's capacity is ${sequence.capacity}: at least one position must stay free for the answer`,
      );
    }
    const tokenizer = model.tokenizer;
    let decoder = new StreamDecoder(tokenizer);
    const stops = new StopStringMatcher(options.stop ?? []);

    const constraint = options.constraint;
    const constrained = () => {
      const allowedTokens = constraint?.allowedTokens();
      return allowedTokens ? { ...sampling, allowedTokens } : sampling;
    };

    const generated: number[] = [];
    let text = "";
    let stopReason: GenerationStopReason | undefined;
    let stopSequence: string | undefined;
    const steps = { sampled: 0, jumps: 0, jumpedTokens: 0, drafts: 0, draftedTokens: 0, acceptedTokens: 0 };
    const speculative = options.speculative ?? model.defaultSpeculative;
    // A constraint must be able to check a draft on a copy of itself.
    const drafting = speculative !== false && (!constraint || constraint.fork !== undefined);
    const lookupOptions = drafting ? resolveSpeculative(speculative === true ? {} : speculative) : null;
    /** The sequence's tokens as the drafter sees them: created at the first draft, then kept in step with `generated`. */
    let lookup: PromptLookup | null = null;

    const jumping = options.jumpForward !== false && constraint?.forced !== undefined && constraint.acceptForced !== undefined;
    const stopStrings = options.stop ?? [];
    const longestStop = Math.max(0, ...stopStrings.map((s) => s.length));
    /**
     * A jump from here, already accepted by the constraint, or null. `room`: how many tokens the
     * output and the sequence may still grow by, the token sampled after the jump included.
     */
    const planJump = (room: number): Seam | null => {
      if (!jumping || decoder.holding) return null;
      const bytes = constraint!.forced!();
      if (bytes.length === 0) return null;
      const forced = Buffer.from(bytes).toString("utf8");
      // Text that could complete a stop string goes token by token, where stops are handled.
      if (longestStop > 0) {
        const probe = tokenizer.decode(generated.slice(-longestStop)) + forced;
        if (stopStrings.some((s) => probe.includes(s))) return null;
      }
      // The window never reaches into the prompt: its tokens are the caller's.
      const seam = seamTokens(tokenizer, generated, forced);
      if (seam.tokens.length - seam.takeBack >= room) return null;
      return constraint!.acceptForced!(seam.takeBack, seam.tokens) ? seam : null;
    };
    /** Streams a jump's tokens as ordinary chunks (only the forced text: the taken-back text was streamed). */
    const emitJump = (seam: Seam) => {
      generated.splice(generated.length - seam.takeBack);
      lookup?.truncate(lookup.length - seam.takeBack);
      lookup?.push(...seam.tokens);
      const fresh = new StreamDecoder(tokenizer);
      let skip = seam.takenText.length;
      for (const token of seam.tokens) {
        let piece = fresh.push(token);
        const cut = Math.min(skip, piece.length);
        piece = piece.slice(cut);
        skip -= cut;
        generated.push(token);
        const matched = stops.push(piece);
        text += matched.text;
        emit({ token, text: matched.text });
      }
      decoder = fresh;
      steps.jumps++;
      steps.jumpedTokens += seam.tokens.length;
    };

    /**
     * A draft for the next step (with each checked position's token mask under a constraint), or null.
     * It leaves room for the token sampled after it within maxTokens and the capacity, and ends at a
     * token the constraint forbids.
     */
    const planDraft = (): { draft: number[]; draftMasks?: Uint8Array[]; draftBatchRows?: number } | null => {
      if (!lookupOptions) return null;
      if (!lookup) {
        lookup = new PromptLookup(vocab, lookupOptions);
        lookup.push(...sequence.tokens);
      }
      const limit = Math.min(maxTokens - generated.length, sequence.capacity - sequence.length) - 1;
      const draft = lookup.propose(limit, stopTokens);
      if (draft.length === 0) return null;
      const draftBatchRows = lookupOptions.batchRows;
      if (!constraint) return { draft, draftBatchRows };
      const check = constraint.fork!();
      const draftMasks: Uint8Array[] = [];
      for (let i = 0; ; i++) {
        const mask = check.allowedTokens();
        draftMasks.push(mask ? mask.slice() : ANY_TOKEN);
        if (i === draft.length) break;
        const token = draft[i];
        if (mask && !((mask[token >> 3] >> (token & 7)) & 1)) {
          draft.length = i;
          break;
        }
        check.accept(token);
        if (check.isComplete()) {
          // The generation ends with this token: nothing after it is worth checking.
          draft.length = i + 1;
          draftMasks.push(ANY_TOKEN);
          break;
        }
      }
      return draft.length > 0 ? { draft, draftMasks, draftBatchRows } : null;
    };

    const started = performance.now();
    const adopted = options.append === false ? await sequence.adopt(prompt) : { rest: prompt, reuse: { reusedTokens: 0 } };
    const first = planJump(Math.min(maxTokens, sequence.capacity - total));
    if (first) emitJump(first);
    const input = first ? [...adopted.rest, ...first.tokens] : adopted.rest;
    let step = await sequence.step(input, { sampling: constrained(), seed: options.sampling?.seed }, signal, options.onPrefillProgress);
    const firstTokenAt = performance.now();

    /**
     * Takes one sampled token as plain decoding would; true when the generation ends with it.
     * `length`: the sequence's length once plain decoding had sampled it.
     */
    const take = (token: number, length: number): boolean => {
      generated.push(token);
      lookup?.push(token);
      steps.sampled++;
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
      if (!stopReason && length >= sequence.capacity) stopReason = "capacity";
      return stopReason !== undefined;
    };

    for (;;) {
      // A speculative step appended the accepted draft tokens before the sampled one.
      const taken = [...(step.accepted ?? []), step.token!];
      let ended = -1;
      for (let i = 0; i < taken.length && ended === -1; i++) if (take(taken[i], sequence.length - (taken.length - 1 - i))) ended = i;
      if (ended !== -1) {
        // Tokens after the one that ended it were appended too; plain decoding would not hold them.
        const extra = taken.length - 1 - ended;
        if (extra > 0) sequence.truncate(sequence.length - extra);
        break;
      }
      const seam = planJump(Math.min(maxTokens - generated.length, sequence.capacity - sequence.length));
      if (seam) {
        if (seam.takeBack > 0) sequence.truncate(sequence.length - seam.takeBack);
        emitJump(seam);
      }
      const draft = seam ? null : planDraft();
      try {
        // A jump runs as a prefill chunk of its own (outside the context's batched decode step).
        step = await this.next(sequence, seam ? seam.tokens : [], { sampling: constrained(), ...draft }, signal);
      } catch (error) {
        // The budget ran out evaluating the last sampled token (or a jump): the answer so far stands
        // (the sequence keeps what it had, the last token without KV; a jump's text was already
        // streamed, though the sequence does not hold it), and the caller learns why it ended.
        if (!(error instanceof Phi4Error && error.code === "KV_MEMORY_EXCEEDED")) throw error;
        stopReason = "kv_memory";
        break;
      }
      if (draft && step.accepted) {
        steps.drafts++;
        steps.draftedTokens += draft.draft.length;
        steps.acceptedTokens += step.accepted.length;
        lookup!.record(draft.draft.length, step.accepted.length);
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
    model.recordSpeculation(steps);
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
        tokensPerStep: steps.sampled > 0 ? steps.sampled / (steps.sampled - steps.acceptedTokens) : 0,
        acceptanceRate: steps.draftedTokens > 0 ? steps.acceptedTokens / steps.draftedTokens : 0,
      },
      steps,
    };
  }
}
