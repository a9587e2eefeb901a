/**
 * Context: a set of sequences that share one KV pool and decode together (continuous batching).
 * Concurrent generations on its sequences share each decode step; new requests are prefilled in
 * chunks between steps. For request-style use, `generate` takes a free sequence (preferring the idle
 * one whose KV shares the longest prefix with the prompt), waits in a bounded FIFO queue when all
 * are busy, and is refused with OVERLOADED past it.
 *
 *   const context = await model.createContext({ sequences: 4 });
 *   const results = await Promise.all(prompts.map((p) => context.generateText(p, { maxTokens: 64 })));
 */
import { callNativeSync, Phi4Error } from "./errors.js";
import type { Generation, GenerateOptions, GenerationResult } from "./generation.js";
import type { ModelHost } from "./model-host.js";
import type { NativeContext, NativeKvMemory } from "./native-types.js";
import { pickIdle } from "./prefix-reuse.js";
import { Scheduler, type SchedulerStats } from "./scheduler.js";
import { Sequence } from "./sequence.js";
import { kvBytesPerToken } from "./sequence-state.js";

export interface ContextOptions {
  /** Sequences (KV slots) that can generate at once. Default 4. */
  sequences?: number;
  /** KV capacity (most tokens) of each sequence. Default: the model's defaultCapacity (its context length for host KV). */
  capacity?: number;
  /**
   * Bytes of KV memory the context's sequences may hold together (host KV grows as they do; past it,
   * KV_MEMORY_EXCEEDED). Default: the model's kvMemory.
   */
  kvMemory?: number;
  /** Requests that may wait for a free sequence; one more is OVERLOADED. Default 64. */
  maxQueue?: number;
}

interface Waiter {
  prompt: readonly number[];
  resolve: (sequence: Sequence) => void;
  reject: (error: unknown) => void;
}

export interface ContextStats extends SchedulerStats {
  sequences: number;
  /** Sequences generating right now. */
  active: number;
  /** Requests waiting for a free sequence. */
  queued: number;
}

/** What a context uses of its model: a sequence's needs, and registering the sequences it creates. */
export interface ContextHost extends ModelHost {
  /** @internal Registers a context's sequence (disposed with the model); returns its unregister function. */
  registerSequence(sequence: Sequence): () => void;
}

export class Context {
  private readonly idle: Sequence[] = [];
  private readonly taken = new Set<Sequence>();
  private readonly queue: Waiter[] = [];
  private readonly scheduler: Scheduler;
  private disposed = false;

  /** @internal Use Model.createContext. */
  constructor(
    private readonly native: NativeContext,
    readonly model: ContextHost,
    readonly maxQueue: number,
    prefillChunk: number,
    private readonly onDispose: () => void,
  ) {
    this.scheduler = new Scheduler(native, prefillChunk);
  }

  get size(): number {
    return this.native.slots;
  }

  get capacity(): number {
    return this.native.capacity;
  }

  /**
   * KV bytes held now (the high-water marks of its sequences; for device KV, the whole allocation)
   * and the budget. Idle sequences keep their KV for prefix reuse and count too.
   */
  get kvMemory(): NativeKvMemory {
    return this.native.kvMemory;
  }

  get stats(): ContextStats {
    return { ...this.scheduler.stats, sequences: this.size, active: this.taken.size, queued: this.queue.length };
  }

  /** A sequence of this context for your own use, until you dispose it. BUSY when all are taken. */
  getSequence(): Sequence {
    this.assertLive();
    const sequence = this.take([]);
    if (!sequence) throw new Phi4Error("BUSY", `all ${this.size} sequences of this context are in use`);
    return sequence;
  }

  /** Requests holding a sequence plus those waiting for one. */
  get depth(): number {
    return this.taken.size + this.queue.length;
  }

  /**
   * Lends a sequence for one request: the idle one whose KV shares the longest prefix with `prompt`,
   * else a new one, else the first to come free (FIFO; OVERLOADED past maxQueue waiting). Give it
   * back with release().
   */
  async acquire(prompt: readonly number[] = [], signal?: AbortSignal): Promise<Sequence> {
    this.assertLive();
    const sequence = this.take(prompt) ?? (await this.wait(prompt, signal));
    this.makeRoom(prompt.length);
    return sequence;
  }

  /** Returns a sequence lent by acquire(); it keeps its KV for the next request sharing its prefix. */
  release(sequence: Sequence): void {
    this.taken.delete(sequence);
    if (sequence.isDisposed) return;
    const waiter = this.queue.shift();
    if (waiter) {
      this.taken.add(sequence);
      waiter.resolve(sequence);
    } else {
      this.idle.push(sequence);
    }
  }

  /**
   * Generates from `input` (the whole context: prefixes known to the model are reused) on a free
   * sequence, waiting for one if needed. Resolves once a sequence is assigned; the sequence returns
   * to the context when the generation settles.
   */
  async generate(input: readonly number[] | string, options: Omit<GenerateOptions, "append"> = {}): Promise<Generation> {
    const prompt = typeof input === "string" ? this.model.tokenizer.encode(input) : input;
    const sequence = await this.acquire(prompt, options.signal);
    try {
      const generation = sequence.generate(prompt, { ...options, append: false });
      generation.result.then(
        () => this.release(sequence),
        () => this.release(sequence),
      );
      return generation;
    } catch (error) {
      this.release(sequence);
      throw error;
    }
  }

  async generateText(input: readonly number[] | string, options: Omit<GenerateOptions, "append"> = {}): Promise<GenerationResult> {
    return (await this.generate(input, options)).result;
  }

  /** Rejects waiting requests, disposes the sequences (aborting their generations) and frees the pool. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const waiter of this.queue.splice(0)) waiter.reject(new Phi4Error("DISPOSED", "the context was disposed"));
    await Promise.all([...this.idle, ...this.taken].map((sequence) => sequence.dispose()));
    this.native.dispose();
    this.onDispose();
  }

  /**
   * Idle sequences keep their KV for prefix reuse, and it counts against the KV memory budget: when a
   * prompt of `tokens` would not fit beside them, the longest idle give theirs back (they stay
   * usable, with nothing to reuse), so a new request is not refused for memory it could have had.
   */
  private makeRoom(tokens: number): void {
    const memory = this.native.kvMemory;
    if (!memory.growsOnDemand) return;
    let committed = memory.committed;
    const needed = tokens * kvBytesPerToken(this.model.kvLayout);
    const idle = [...this.idle].sort((a, b) => b.length - a.length);
    for (const sequence of idle) {
      if (committed + needed <= memory.budget) return;
      if (sequence.length === 0 || sequence.isBusy) continue;
      try {
        sequence.rewind(0);
      } catch {
        continue; // another sequence is copying its KV right now (prefix reuse): it keeps it
      }
      committed = this.native.kvMemory.committed;
    }
  }

  /** An idle sequence (the one sharing the longest prefix with `prompt`) or a new one, if any is free. */
  private take(prompt: readonly number[]): Sequence | undefined {
    const best = pickIdle(this.idle, prompt);
    let sequence: Sequence | undefined;
    if (best !== -1) {
      sequence = this.idle.splice(best, 1)[0];
    } else if (this.native.freeSlots > 0) {
      const native = callNativeSync(() => this.native.createSequence());
      let unregister = () => {};
      const created: Sequence = new Sequence(native, this.model, () => (unregister(), this.forget(created)), this.scheduler);
      unregister = this.model.registerSequence(created);
      sequence = created;
    }
    if (sequence) this.taken.add(sequence);
    return sequence;
  }

  private wait(prompt: readonly number[], signal?: AbortSignal): Promise<Sequence> {
    if (this.queue.length >= this.maxQueue) {
      return Promise.reject(
        new Phi4Error(
          "OVERLOADED",
          `all ${this.size} sequences are busy and ${this.queue.length} requests are already waiting (maxQueue ${this.maxQueue}); retry later`,
        ),
      );
    }
    if (signal?.aborted) return Promise.reject(new Phi4Error("ABORTED", "generation was aborted"));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { prompt, resolve, reject };
      this.queue.push(waiter);
      signal?.addEventListener(
        "abort",
        () => {
          const index = this.queue.indexOf(waiter);
          if (index !== -1) this.queue.splice(index, 1);
          reject(new Phi4Error("ABORTED", "generation was aborted while waiting for a sequence"));
        },
        { once: true },
      );
    });
  }

  /** A sequence disposed by its user frees its slot for a new one. */
  private forget(sequence: Sequence): void {
    this.taken.delete(sequence);
    const index = this.idle.indexOf(sequence);
    if (index !== -1) this.idle.splice(index, 1);
    const waiter = this.disposed ? undefined : this.queue[0];
    if (waiter) {
      const next = this.take(waiter.prompt);
      if (next) {
        this.queue.shift();
        waiter.resolve(next);
      }
    }
  }

  private assertLive(): void {
    if (this.disposed) throw new Phi4Error("DISPOSED", "the context has been disposed");
  }
}
