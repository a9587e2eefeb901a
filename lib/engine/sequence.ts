/**
 * Sequence: one conversation's tokens and KV cache. Generation streams tokens as an AsyncIterable;
 * every model call runs in native code off the event loop.
 */
import { callNative, callNativeSync, Phi4Error } from "./errors.js";
import { Generation, type GenerateOptions } from "./generation.js";
import type { Model } from "./model.js";
import type { NativeEvalOptions, NativeSequence } from "./native-types.js";

export class Sequence {
  /** Every token of the sequence, including a sampled token not yet run through the model. */
  private readonly allTokens: number[] = [];
  /** The last sampled token when it has not been evaluated yet (it is evaluated on the next call). */
  private pending: number | null = null;
  private running: Promise<unknown> | null = null;
  private disposed = false;

  /** @internal Created by Model.createSequence. */
  constructor(
    private readonly native: NativeSequence,
    readonly model: Model,
    private readonly onDispose: () => void,
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

  /**
   * Generates from `input` (token ids or raw text, appended to the sequence) until an end-of-sequence
   * token, a stop string, `maxTokens` or the capacity. Iterate it for streaming chunks, or await
   * `.result`.
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
  async evaluate(tokens: readonly number[]): Promise<Float32Array> {
    this.assertIdle();
    const task = this.step(tokens, { returnLogits: true });
    this.running = task.catch(() => undefined);
    try {
      return (await task).logits!;
    } finally {
      this.running = null;
    }
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
   * @internal Runs the model over `tokens` (after a pending sampled token, if any) and returns the
   * sampled next token and/or logits.
   */
  async step(tokens: readonly number[], options: NativeEvalOptions, signal?: AbortSignal) {
    const input = this.pending === null ? [...tokens] : [this.pending, ...tokens];
    // Checked before every step: an abort or a dispose between two native calls stops the loop here.
    if (signal?.aborted) throw new Phi4Error("ABORTED", "generation was aborted");
    if (this.disposed) throw new Phi4Error("ABORTED", "generation was aborted: the sequence was disposed");
    const onAbort = () => this.native.cancel();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const result = await callNative(() => this.native.eval(input, options));
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


  private assertIdle(): void {
    if (this.disposed) throw new Phi4Error("DISPOSED", "the sequence has been disposed");
    if (this.running) throw new Phi4Error("BUSY", "the sequence is already generating; await or abort it first");
  }
}
