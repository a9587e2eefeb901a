/**
 * Sequence: one conversation's tokens and KV cache. Generation streams tokens as an AsyncIterable;
 * every model call runs in native code off the event loop. States can be saved and restored (in
 * memory or to a file), and a generation can start from the longest prefix already computed anywhere
 * on the model (this sequence, an idle sibling, the prefix cache and its disk tier; see prefix-reuse.ts).
 *
 * The native sequence owns the state (tokens, KV validity, the logits of the last position, a
 * sampled token waiting to be evaluated); this class reads its snapshots and keeps no copy.
 */
import { callNative, callNativeSync, Phi4Error } from "./errors.js";
import { Generation, type GenerateOptions } from "./generation.js";
import type { ModelHost, PrefillProgress } from "./model-host.js";
import type { NativeEvalOptions, NativeEvalResult, NativeSequence } from "./native-types.js";
import { commonPrefixLength } from "./prefix-cache.js";
import { planReuse, type KvDonor, type ReuseResult } from "./prefix-reuse.js";
import { isLongRopeRegime } from "./rope-regime.js";
import type { Scheduler } from "./scheduler.js";
import { checkStateFits, kvBytesPerToken, readStateFile, writeStateFile, type SequenceState } from "./sequence-state.js";

export type { ReuseResult, ReuseSource } from "./prefix-reuse.js";

export class Sequence {
  private running: Promise<unknown> | null = null;
  private disposed = false;
  /** What this sequence offers other sequences of the model as a source of KV. */
  private readonly donor: KvDonor;
  private readonly unregisterDonor: () => void;

  /** @internal Created by Model.createSequence and Context. */
  constructor(
    private readonly native: NativeSequence,
    readonly model: ModelHost,
    private readonly onDispose: () => void,
    /** The context's scheduler, which batches this sequence's decode steps with its siblings'. */
    private readonly scheduler?: Scheduler,
  ) {
    const self = this;
    this.donor = {
      get evaluatedTokens() {
        return self.evaluatedTokens;
      },
      get longRope() {
        return native.longRope;
      },
      get busy() {
        return self.isBusy;
      },
      group: scheduler,
      native,
    };
    this.unregisterDonor = model.offerKv(this.donor);
  }

  /** Tokens in the sequence (prompt, then generated ones). */
  get tokens(): readonly number[] {
    return Array.from(this.native.tokens());
  }

  get length(): number {
    return this.native.length;
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

  /** Tokens whose KV is in the cache (all but those the next call evaluates, such as a sampled last token). */
  get evaluatedTokens(): readonly number[] {
    return Array.from(this.native.tokens().subarray(0, this.native.kvValid));
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
    if (!Number.isInteger(length) || length < 0 || length > this.length) {
      throw new Phi4Error("INVALID_ARGUMENT", `cannot rewind to ${length}: the sequence has ${this.length} tokens`);
    }
    callNativeSync(() => this.native.rewind(length));
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
    this.unregisterDonor();
    this.onDispose();
  }

  /**
   * @internal Makes the sequence hold the longest prefix of `target` that can be reused (its own
   * KV, another sequence's, the prefix cache: prefix-reuse.ts decides) and returns the tokens still
   * to evaluate (at least one, so the model produces logits). Tokens this sequence held beyond the
   * reused prefix are saved to the prefix cache first, so a conversation switched away from can come
   * back cheaply.
   */
  async adopt(target: readonly number[]): Promise<{ rest: number[]; reuse: ReuseResult }> {
    if (target.length === 0) throw new Phi4Error("INVALID_ARGUMENT", "nothing to generate from: the prompt is empty");
    if (target.length > this.capacity) {
      throw new Phi4Error("CAPACITY_EXCEEDED", `the prompt has ${target.length} tokens but the sequence's capacity is ${this.capacity}`);
    }
    const cache = this.model.prefixCache;
    const minTokens = cache?.minTokens ?? 1;
    const ropeOriginalLength = this.model.folder.ropeOriginalLength;
    let plan = planReuse(target, { own: this.donor, donors: this.model.kvDonors(this.donor), cache, ropeOriginalLength });
    // The disk tier is read only when what memory offers leaves a long prefix to prefill.
    const stored = await this.model.prefixDisk?.load(target, isLongRopeRegime(ropeOriginalLength, target.length), target.length - 1, plan.length);
    if (stored) {
      plan = { source: "disk", length: stored.length, state: stored.state };
      cache?.add(stored.state);
    }

    const kept = plan.source === "self" ? plan.length : 0;
    if (cache && this.native.kvValid - kept >= minTokens && cache.fits(this.native.kvValid * kvBytesPerToken(this.model.kvLayout)))
      cache.add(await this.snapshot());
    const prefix = target.slice(0, plan.length);
    if (plan.source === "cache" || plan.source === "disk") {
      const state = plan.state;
      cache?.use(state);
      await callNative(() => this.native.loadState(state.kv, state.kvLength, prefix, prefix.length, state.longRope));
    } else if (plan.source === "sequence") {
      const source = plan.donor.native;
      const copy = () => this.native.copyFrom(source, prefix);
      // The source checks natively that it still holds `prefix`; if it moved on, prefill it all.
      const copied = await callNative(() => (this.scheduler ? this.scheduler.exclusive(copy) : copy())).then(
        () => true,
        () => false,
      );
      if (!copied) {
        callNativeSync(() => this.native.rewind(0));
        plan = { source: "none", length: 0 };
      }
    } else {
      callNativeSync(() => this.native.rewind(plan.length));
    }
    cache?.record(plan.length >= minTokens, plan.length, target.length - plan.length);
    return { rest: target.slice(plan.length), reuse: { source: plan.source, reusedTokens: plan.length } };
  }

  /**
   * @internal Hands the KV of `prompt` (or of its longest prefix a file can hold) to the prefix
   * cache's disk tier when it wants it (a long prompt not stored yet), after a generation from it:
   * decoding only appended after the prompt, so its KV is still intact. The write itself runs in the
   * background.
   */
  async storePrompt(prompt: readonly number[]): Promise<void> {
    const disk = this.model.prefixDisk;
    const longRope = this.native.longRope;
    if (!disk || this.native.kvValid < prompt.length) return;
    const length = disk.storableLength(prompt, longRope);
    if (length === 0) return;
    const tokens = Int32Array.from(prompt.slice(0, length));
    if (commonPrefixLength(this.native.tokens(), tokens) < tokens.length) return;
    const save = () => this.native.saveState(tokens.length);
    try {
      // Between two steps of the context: its KV pool is not written meanwhile.
      const kv = await callNative(() => (this.scheduler ? this.scheduler.exclusive(save) : save()));
      disk.store({ ...this.model.kvLayout, tokens, kvLength: tokens.length, longRope, kv });
    } catch {
      // No host memory for the copy, or the sequence was disposed: the generation itself succeeded.
      disk.skipped();
    }
  }

  /**
   * @internal Appends `tokens` and runs the model over every position still to evaluate (a sampled
   * token included); returns the sampled next token (now the sequence's last, pending token) and/or
   * the logits.
   */
  async step(
    tokens: readonly number[],
    options: NativeEvalOptions,
    signal?: AbortSignal,
    onProgress?: (progress: PrefillProgress) => void,
  ): Promise<NativeEvalResult> {
    // Checked before every step: an abort or a dispose between two native calls stops the loop here.
    if (signal?.aborted) throw new Phi4Error("ABORTED", "generation was aborted");
    if (this.disposed) throw new Phi4Error("ABORTED", "generation was aborted: the sequence was disposed");
    const onAbort = () => this.native.cancel();
    signal?.addEventListener("abort", onAbort, { once: true });
    // The whole input decides the LongRoPE regime, even when the scheduler feeds it in chunks.
    const evalOptions = { ...options, regimeLength: this.native.length + tokens.length };
    const input = [...tokens];
    const report = this.progressReporter(input.length, onProgress);
    try {
      if (this.scheduler) return await callNative(() => this.scheduler!.step(this.native, input, evalOptions, signal, report));
      return await (report ? this.evalInChunks(input, evalOptions, report, signal) : callNative(() => this.native.eval(input, evalOptions)));
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** @internal Keeps the first `length` tokens between two steps of this sequence's own generation (a jump-forward's seam). */
  truncate(length: number): void {
    callNativeSync(() => this.native.rewind(length));
  }

  /** Who hears of a long prefill's progress (the caller, the model's listeners), or undefined when nobody does or it is one chunk. */
  private progressReporter(total: number, onProgress?: (progress: PrefillProgress) => void): ((done: number) => void) | undefined {
    const model = this.model;
    if (total <= model.prefillChunk || (!onProgress && !model.hasPrefillListeners)) return undefined;
    return (done) => {
      const progress = { done, total };
      onProgress?.(progress);
      model.reportPrefill(progress);
    };
  }

  /**
   * What native eval does with a long input, one prefill chunk per call so that progress can be told
   * between them (the chunks are the ones native prefill would run: the same results). A failure
   * or an abort between chunks undoes the chunks already run.
   */
  private async evalInChunks(input: number[], options: NativeEvalOptions, report: (done: number) => void, signal?: AbortSignal): Promise<NativeEvalResult> {
    const chunk = this.model.prefillChunk;
    const startLength = this.native.length;
    try {
      let done = 0;
      for (; input.length - done > chunk; done += chunk) {
        await callNative(() => this.native.eval(input.slice(done, done + chunk), { regimeLength: options.regimeLength }));
        report(done + chunk);
        if (signal?.aborted || this.disposed) throw new Phi4Error("ABORTED", "generation was aborted");
      }
      const result = await callNative(() => this.native.eval(input.slice(done), options));
      report(input.length);
      return result;
    } catch (error) {
      if (!this.disposed && this.native.length > startLength) callNativeSync(() => this.native.rewind(startLength));
      throw error;
    }
  }

  private async snapshot(metadata?: unknown): Promise<SequenceState> {
    const kvLength = this.native.kvValid;
    const kv = await callNative(() => this.native.saveState(kvLength));
    return { ...this.model.kvLayout, tokens: this.native.tokens(), kvLength, longRope: this.native.longRope, kv, metadata };
  }

  private async load(state: SequenceState): Promise<void> {
    checkStateFits(state, this.model.kvLayout);
    if (state.tokens.length > this.capacity) {
      throw new Phi4Error("CAPACITY_EXCEEDED", `the state holds ${state.tokens.length} tokens but the sequence's capacity is ${this.capacity}`);
    }
    // Tokens past the saved KV (a sampled last token) are evaluated by the next call, and so is the
    // last position when the state has KV for every token: a state carries no logits.
    const kvLength = Math.min(state.kvLength, state.tokens.length);
    await callNative(() => this.native.loadState(state.kv, state.kvLength, state.tokens, kvLength, state.longRope));
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
