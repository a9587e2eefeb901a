/**
 * A stream of events with a result, the face of every long-running call here (a generation, a tool
 * turn, an agent run): iterate it once for the events as they happen, await `result` for the outcome.
 *
 *   - The producer gets an AbortSignal that fires when the consumer stops iterating before the end
 *     (`break`, `return`, a throw in the loop body) or when the caller's own signal aborts.
 *   - A failure reaches both faces: `result` rejects and the iterator throws, after the events
 *     produced before it. A caller who only iterates sees it there, so `result` is never reported
 *     as an unhandled rejection.
 *   - `result` alone is enough: events are buffered for a consumer who may never come.
 */
export interface ResultStreamOptions {
  /** The caller's abort signal; the producer's signal follows it too. */
  signal?: AbortSignal;
  /** Runs once the producer has settled, before the end (or failure) is visible on either face. */
  onSettled?: () => void;
}

/** The producer: emits events, resolves with the result, and stops soon after `signal` aborts. */
export type Producer<T, R> = (emit: (event: T) => void, signal: AbortSignal) => Promise<R>;

export class ResultStream<T, R> implements AsyncIterable<T> {
  readonly result: Promise<R>;
  private readonly items: T[] = [];
  private end: { done: true } | { error: unknown } | null = null;
  private wake: (() => void) | null = null;
  private readonly abort = new AbortController();
  private iterated = false;

  constructor(produce: Producer<T, R>, options: ResultStreamOptions = {}) {
    const signal = options.signal ? AbortSignal.any([options.signal, this.abort.signal]) : this.abort.signal;
    const settle = (end: { done: true } | { error: unknown }) => {
      options.onSettled?.();
      this.end = end;
      this.notify();
    };
    let produced: Promise<R>;
    try {
      produced = produce((event) => this.push(event), signal);
    } catch (error) {
      produced = Promise.reject(error); // a producer that throws before its first await fails through `result` too
    }
    this.result = produced.then(
      (value) => {
        settle({ done: true });
        return value;
      },
      (error: unknown) => {
        settle({ error });
        throw error;
      },
    );
    this.result.catch(() => undefined);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.iterated) throw new Error("a stream can be iterated once");
    this.iterated = true;
    let finished = false;
    try {
      for (;;) {
        if (this.items.length > 0) {
          yield this.items.shift()!;
          continue;
        }
        const end = this.end;
        if (end && "error" in end) {
          finished = true;
          throw end.error;
        }
        if (end) {
          finished = true;
          return;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      if (!finished) this.abort.abort(); // the consumer stopped reading
    }
  }

  private push(event: T): void {
    this.items.push(event);
    this.notify();
  }

  private notify(): void {
    this.wake?.();
    this.wake = null;
  }
}
