/**
 * The continuous-batching scheduler of a context. Every model call of the context's sequences comes
 * here as a step request. Single-token decode steps that are waiting at the same time run as one
 * batched ORT run (decoding is bound by reading the weights, so B sequences cost little more than
 * one); prompts run in chunks of `prefillChunk` tokens, one chunk between two decode steps, so a long
 * prompt joining does not stall the running sequences for long. Native calls run one at a time; the
 * event loop is free while they run.
 */
import { callNative, fromNative, Phi4Error } from "./errors.js";
import type { NativeContext, NativeEvalOptions, NativeEvalResult, NativeSequence } from "./native-types.js";

interface Job {
  native: NativeSequence;
  input: number[];
  options: NativeEvalOptions;
  resolve: (result: NativeEvalResult) => void;
  reject: (error: unknown) => void;
  /** The sequence's length before the job's first chunk: a failed or aborted prompt rewinds to it. */
  startLength: number;
  aborted: boolean;
  /** Told the prompt tokens run so far after each chunk. */
  onChunk?: (done: number) => void;
  done: number;
}

export interface SchedulerStats {
  /** Batched decode steps run, and the sequences they carried in total. */
  decodeSteps: number;
  decodedTokens: number;
  prefillChunks: number;
  /** Speculative rows whose drafts were verified inside batched steps, beside other sequences. */
  batchedDrafts: number;
  /** Step requests waiting right now. */
  waiting: number;
}

export class Scheduler {
  private readonly decodes: Job[] = [];
  private readonly prefills: Job[] = [];
  /** Other native calls that must not overlap the context's steps (KV copies between its sequences). */
  private readonly exclusives: (() => Promise<void>)[] = [];
  private running = false;
  /** The jobs of the native call in flight (they leave their queue only when it returns). */
  private readonly inFlight = new Set<Job>();
  private lastWasDecode = false;
  private readonly counters = { decodeSteps: 0, decodedTokens: 0, prefillChunks: 0, batchedDrafts: 0 };

  constructor(
    private readonly context: NativeContext,
    private readonly prefillChunk: number,
  ) {}

  /** Runs `input` on `native` (as its eval would) when the scheduler gets to it. */
  step(native: NativeSequence, input: number[], options: NativeEvalOptions, signal?: AbortSignal, onChunk?: (done: number) => void): Promise<NativeEvalResult> {
    return new Promise((resolve, reject) => {
      // A step that only evaluates the sequence's pending token and samples: one row of a batched step
      // (a speculative step too: its draft is verified in the same run, see runDecodes).
      const batchable = input.length === 0 && options.sampling !== undefined && !options.returnLogits && options.seed === undefined;
      const queue = batchable ? this.decodes : this.prefills;
      const onAbort = () => {
        job.aborted = true;
        // A waiting job leaves its queue at once; one in flight is rejected when its native call returns.
        const index = queue.indexOf(job);
        if (index !== -1 && !this.inFlight.has(job)) {
          queue.splice(index, 1);
          this.fail(job, new Phi4Error("ABORTED", "generation was aborted"));
        }
      };
      const settle = () => signal?.removeEventListener("abort", onAbort);
      const job: Job = {
        native,
        input,
        options,
        resolve: (result) => (settle(), resolve(result)),
        reject: (error) => (settle(), reject(error)),
        startLength: native.length,
        aborted: false,
        onChunk,
        done: 0,
      };
      queue.push(job);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.wake();
    });
  }

  /** Runs `task` between two steps, when no native call of the context is in flight. */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      this.exclusives.push(() => task().then(resolve, reject));
      this.wake();
    });
  }

  get stats(): SchedulerStats {
    return { ...this.counters, waiting: this.decodes.length + this.prefills.length };
  }

  private wake(): void {
    if (this.running) return;
    this.running = true;
    // setImmediate: let every sequence whose step just finished queue its next one first.
    setImmediate(() => void this.tick());
  }

  private async tick(): Promise<void> {
    // Alternate a decode step and a prefill chunk while both kinds wait.
    const exclusive = this.exclusives.shift();
    const decode = !exclusive && this.decodes.length > 0 && (this.prefills.length === 0 || !this.lastWasDecode);
    try {
      if (exclusive) await exclusive();
      else if (decode) await this.runDecodes();
      else if (this.prefills.length > 0) await this.runPrefillChunk();
    } finally {
      if (!exclusive) this.lastWasDecode = decode;
      this.running = false;
      if (this.exclusives.length > 0 || this.decodes.length > 0 || this.prefills.length > 0) this.wake();
    }
  }

  private async runDecodes(): Promise<void> {
    const jobs = this.decodes.splice(0);
    this.counters.decodeSteps++;
    this.counters.decodedTokens += jobs.length;
    jobs.forEach((job) => this.inFlight.add(job));
    // A speculative step alone verifies its draft in a run of its own; beside other sequences, in
    // their batched step (every row then runs as many positions as the longest draft needs).
    if (jobs.length === 1 && jobs[0].options.draft) {
      const job = jobs[0];
      try {
        job.resolve(await callNative(() => job.native.eval([], job.options)));
      } catch (error) {
        this.fail(job, error);
      } finally {
        this.inFlight.delete(job);
      }
      return;
    }
    try {
      const next = await callNative(() =>
        this.context.decode(
          jobs.map((j) => j.native),
          jobs.map((j) => j.options.sampling!),
          jobs.some((j) => j.options.draft) ? jobs.map(({ options: { draft, draftMasks } }) => (draft ? { draft, draftMasks } : undefined)) : undefined,
          // The most rows any of them allows for a step with drafts (0: the native default).
          Math.max(0, ...jobs.map((j) => j.options.draftBatchRows ?? 0)),
        ),
      );
      // Each job settles on its own outcome: one bad request does not fail the others.
      jobs.forEach((job, i) => {
        const outcome = next[i];
        // A plain number for a drafted row: its draft was not verified (no room in this run), only dropped.
        if (typeof outcome === "number") job.resolve({ token: outcome });
        else if (outcome instanceof Error) this.fail(job, fromNative(outcome));
        else {
          this.counters.batchedDrafts++;
          job.resolve(outcome);
        }
      });
    } catch (error) {
      for (const job of jobs) this.fail(job, error);
    } finally {
      jobs.forEach((job) => this.inFlight.delete(job));
    }
  }

  private async runPrefillChunk(): Promise<void> {
    const job = this.prefills[0];
    const last = job.input.length <= this.prefillChunk;
    const chunk = last ? job.input : job.input.slice(0, this.prefillChunk);
    // Earlier chunks only fill the cache; the last one carries the caller's options (sampling, logits).
    const options: NativeEvalOptions = last ? job.options : { regimeLength: job.options.regimeLength };
    this.counters.prefillChunks++;
    this.inFlight.add(job);
    try {
      const result = await callNative(() => job.native.eval(chunk, options));
      if (job.aborted) throw new Phi4Error("ABORTED", "generation was aborted");
      job.done += chunk.length;
      job.onChunk?.(job.done);
      if (last) {
        this.prefills.shift();
        job.resolve(result);
      } else {
        job.input = job.input.slice(this.prefillChunk);
      }
    } catch (error) {
      this.prefills.shift();
      this.fail(job, error);
    } finally {
      this.inFlight.delete(job);
    }
  }

  /** Rejects a job, first undoing the chunks of its prompt that already ran. */
  private fail(job: Job, error: unknown): void {
    try {
      if (job.native.length > job.startLength) job.native.rewind(job.startLength);
    } catch {
      // disposed meanwhile: nothing left to undo
    }
    job.reject(error);
  }
}
