/**
 * Sequence: one conversation's tokens and KV cache. Generation streams tokens as an AsyncIterable;
 * every model call runs in native code off the event loop. States can be saved and restored (in
 * memory or to a file), and a generation can start from the longest prefix already computed anywhere
 * on the model (this sequence, an idle sibling, the prefix cache).
 */
import { callNative, callNativeSync, Phi4Error } from "./errors.js";
import { Generation, type GenerateOptions } from "./generation.js";
import type { Model } from "./model.js";
import type { NativeEvalOptions, NativeSequence } from "./native-types.js";
import { commonPrefixLength } from "./prefix-cache.js";
import type { Scheduler } from "./scheduler.js";
import { checkStateFits, readStateFile, writeStateFile, type SequenceState } from "./sequence-state.js";

/** Where a generation's reused prefix came from. */
export type ReuseSource = "none" | "self" | "cache" | "sequence";

export interface ReuseResult {
  source: ReuseSource;
  /** Prompt tokens whose KV was reused instead of prefilled. */
  reusedTokens: number;
}

export class Sequence {
  /** Every token of the sequence, including a sampled token not yet run through the model. */
  private readonly allTokens: number[] = [];
  /** The last token when it has not been evaluated yet (a sampled token; or the last kept one after a rewind or restore). */
  private pending: number | null = null;
  private running: Promise<unknown> | null = null;
  private disposed = false;

  /** @internal Created by Model.createSequence and Context. */
  constructor(
    private readonly native: NativeSequence,
    readonly model: Model,
    private readonly onDispose: () => void,
    /** The context's scheduler, which batches this sequence's decode steps with its siblings'. */
    private readonly scheduler?: Scheduler,
  ) {}

  /** Tokens in the sequence (prompt, then generated ones). */
  get tokens(): readonly number[] {
    return this.allTokens;
  }

  get length(): number {
    return this.allTokens.length;
  }

  /** Tokens the sequence can hold. */
  get capacity(): number {
    return this.native.capacity;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** True while a generation or another operation runs on this sequence. */
  get isBusy(): boolean {
    return this.running !== null;
  }

  /** Tokens whose KV is in the cache (all but a pending last token). */
  get evaluatedTokens(): readonly number[] {
    return this.pending === null ? this.allTokens : this.allTokens.slice(0, -1);
  }

  /**
   * Generates from `input` (token ids or raw text) until an end-of-sequence token, a stop string,
   * `maxTokens` or the capacity. By default `input` is appended to the sequence; with
   * `append: false` it is the whole context, and the longest prefix of it already computed (here, in
   * an idle sequence or in the model's prefix cache) is reused. Iterate the result for streaming
   * chunks, or await `.result`.
   */
  generate(input: readonly number[] | string, options: GenerateOptions = {}): Generation {
    this.assertIdle();
    const tokens = typeof input === "string" ? this.model.tokenizer.encode(input) : [...input];
    const generation = new Generation(this, tokens, options, () => (this.running = null));
    this.running = generation.result.catch(() => undefined);
    return generation;
  }

  /** One-shot generation: the whole result at once. */
  generateText(input: readonly number[] | string, options: GenerateOptions = {}) {
    return this.generate(input, options).result;
  }

  /**
   * Appends tokens and runs the model over them; returns the logits of the last position (for callers
   * that sample themselves, and for the correctness oracle).
   */
  evaluate(tokens: readonly number[]): Promise<Float32Array> {
    return this.exclusive(async () => (await this.step(tokens, { returnLogits: true })).logits!);
  }

  /**
   * Keeps the first `length` tokens. The last kept token is re-evaluated by the next call, so
   * `generate([])` continues from exactly there. (The KV cache is not cleared; later positions are
   * simply overwritten.)
   */
  rewind(length: number): void {
    this.assertIdle();
    if (!Number.isInteger(length) || length < 0 || length > this.allTokens.length) {
      throw new Phi4Error("INVALID_ARGUMENT", `cannot rewind to ${length}: the sequence has ${this.allTokens.length} tokens`);
    }
    if (length === this.allTokens.length) return;
    callNativeSync(() => this.native.rewind(Math.max(0, length - 1)));
    this.allTokens.length = length;
    this.pending = length > 0 ? this.allTokens[length - 1] : null;
  }

  /** A snapshot of the tokens and KV cache (host memory), restorable into any sequence of this model. */
  saveState(metadata?: unknown): Promise<SequenceState> {
    return this.exclusive(() => this.snapshot(metadata));
  }

  /** Replaces this sequence's content with a saved state. A state from another model is STATE_MISMATCH. */
  restoreState(state: SequenceState): Promise<void> {
    return this.exclusive(() => this.load(state));
  }

  /** Writes the state to `file` (atomically, with a checksum). */
  async saveStateFile(file: string, metadata?: unknown): Promise<void> {
    await writeStateFile(file, await this.saveState(metadata));
  }

  /**
   * Restores a state file written by saveStateFile; returns its metadata. A truncated or corrupt file
   * is STATE_INVALID, another model's is STATE_MISMATCH; either way this sequence is left untouched.
   */
  async loadStateFile(file: string): Promise<unknown> {
    const state = await readStateFile(file);
    await this.restoreState(state);
    return state.metadata;
  }

  /** Aborts a running generation and frees the KV cache. Safe to call twice. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.native.cancel();
    await this.running;
    this.native.dispose();
    this.onDispose();
  }

  /**
   * @internal Makes the sequence hold a prefix of `target` as long as can be reused from its own KV,
   * an idle sequence of the model or the prefix cache, and returns the tokens still to evaluate
   * (at least one, so the model produces logits). Tokens this sequence held beyond the reused prefix
   * are saved to the prefix cache first, so a conversation switched away from can come back cheaply.
   */
  async adopt(target: readonly number[]): Promise<{ rest: number[]; reuse: ReuseResult }> {
    if (target.length === 0) throw new Phi4Error("INVALID_ARGUMENT", "nothing to generate from: the prompt is empty");
    if (target.length > this.capacity) {
      throw new Phi4Error("CAPACITY_EXCEEDED", `the prompt has ${target.length} tokens but the sequence's capacity is ${this.capacity}`);
    }
    const limit = target.length - 1;
    const cache = this.model.prefixCache;
    const minTokens = cache?.minTokens ?? 1;
    const ropeSwitch = this.model.folder.ropeOriginalLength;
    const wantLong = ropeSwitch > 0 && target.length > ropeSwitch;

    // Own KV built under the other LongRoPE regime would be recomputed anyway: it is no reuse.
    const sameRegime = this.evaluatedTokens.length === 0 || this.native.longRope === wantLong;
    const own = sameRegime ? Math.min(commonPrefixLength(this.evaluatedTokens, target), limit) : 0;
    let best: { source: ReuseSource; length: number; from?: Sequence; state?: SequenceState } = { source: own > 0 ? "self" : "none", length: own };
    for (const other of this.model.donorSequences(this)) {
      // A sibling of the same context may be generating: the copy then waits for a gap between steps.
      if (other.isBusy && (!this.scheduler || other.scheduler !== this.scheduler)) continue;
      if (other.native.longRope !== wantLong) continue;
      const length = Math.min(commonPrefixLength(other.evaluatedTokens, target), limit);
      if (length >= minTokens && length > best.length) best = { source: "sequence", length, from: other };
    }
    const cached = cache?.match(target, wantLong, limit);
    if (cached && cached.length > best.length) best = { source: "cache", length: cached.length, state: cached.state };

    const kept = best.source === "self" ? best.length : 0;
    if (cache && this.evaluatedTokens.length - kept >= minTokens) cache.add(await this.snapshot());
    if (best.source === "cache") {
      const state = best.state!;
      cache!.use(state);
      await callNative(() => this.native.loadState(state.kv, state.kvLength, target.slice(0, best.length), state.longRope));
    } else if (best.source === "sequence") {
      const prefix = target.slice(0, best.length);
      const copy = () => this.native.copyFrom(best.from!.native, prefix);
      // The source checks natively that it still holds `prefix`; if it moved on, prefill it all.
      const copied = await callNative(() => (this.scheduler ? this.scheduler.exclusive(copy) : copy())).then(
        () => true,
        () => false,
      );
      if (!copied) {
        callNativeSync(() => this.native.rewind(0));
        best = { source: "none", length: 0 };
      }
    } else {
      callNativeSync(() => this.native.rewind(best.length));
    }
    this.allTokens.length = 0;
    this.allTokens.push(...target.slice(0, best.length));
    this.pending = null;
    cache?.record(best.length >= minTokens, best.length, target.length - best.length);
    return { rest: target.slice(best.length), reuse: { source: best.source, reusedTokens: best.length } };
  }

  /**
   * @internal Runs the model over `tokens` (after a pending token, if any) and returns the sampled
   * next token and/or logits.
   */
  async step(tokens: readonly number[], options: NativeEvalOptions, signal?: AbortSignal) {
    const input = this.pending === null ? [...tokens] : [this.pending, ...tokens];
    // Checked before every step: an abort or a dispose between two native calls stops the loop here.
    if (signal?.aborted) throw new Phi4Error("ABORTED", "generation was aborted");
    if (this.disposed) throw new Phi4Error("ABORTED", "generation was aborted: the sequence was disposed");
    const onAbort = () => this.native.cancel();
    signal?.addEventListener("abort", onAbort, { once: true });
    // The whole input decides the LongRoPE regime, even when the scheduler feeds it in chunks.
    const evalOptions = { ...options, regimeLength: this.native.length + input.length };
    try {
      const result = await callNative(() =>
        this.scheduler ? this.scheduler.step(this.native, input, evalOptions, signal) : this.native.eval(input, evalOptions),
      );
      this.allTokens.push(...tokens);
      this.pending = null;
      return result;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** @internal Records a sampled token that the next step will evaluate. */
  pushPending(token: number): void {
    this.allTokens.push(token);
    this.pending = token;
  }

  private async snapshot(metadata?: unknown): Promise<SequenceState> {
    const kvLength = this.evaluatedTokens.length;
    const kv = await callNative(() => this.native.saveState(kvLength));
    return { ...this.model.kvLayout, tokens: Int32Array.from(this.allTokens), kvLength, longRope: this.native.longRope, kv, metadata };
  }

  private async load(state: SequenceState): Promise<void> {
    checkStateFits(state, this.model.kvLayout);
    if (state.tokens.length > this.capacity) {
      throw new Phi4Error("CAPACITY_EXCEEDED", `the state holds ${state.tokens.length} tokens but the sequence's capacity is ${this.capacity}`);
    }
    // The last token is left pending (re-evaluated by the next call): a state carries no logits.
    const evaluated = Math.min(state.kvLength, Math.max(0, state.tokens.length - 1));
    await callNative(() => this.native.loadState(state.kv, state.kvLength, state.tokens.subarray(0, evaluated), state.longRope));
    this.allTokens.length = 0;
    this.allTokens.push(...state.tokens);
    this.pending = state.tokens.length > evaluated ? state.tokens[state.tokens.length - 1] : null;
  }

  /** Runs `task` as this sequence's one operation (BUSY for anything else meanwhile). */
  private async exclusive<T>(task: () => Promise<T>): Promise<T> {
    this.assertIdle();
    const running = task();
    this.running = running.catch(() => undefined);
    try {
      return await running;
    } finally {
      this.running = null;
    }
  }

  private assertIdle(): void {
    if (this.disposed) throw new Phi4Error("DISPOSED", "the sequence has been disposed");
    if (this.running) throw new Phi4Error("BUSY", "the sequence is already generating; await or abort it first");
  }
}
