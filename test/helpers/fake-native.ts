/**
 * A fake of the addon's context and sequences for scheduler and context tests: every native call is
 * recorded and stays pending until the test settles it, so a test decides exactly what runs when,
 * with no model and no timing.
 */
import type { NativeContext, NativeEvalOptions, NativeEvalResult, NativeSampling, NativeSequence } from "../../lib/engine/native-types.js";

/** A native error as the addon makes them: an Error with a `code`. */
export function nativeError(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

type Outcome = NativeEvalResult | (number | Error)[];

/** One recorded native call: an eval (its sequence and options) or a batched decode (its sequences). */
export interface FakeCall {
  kind: "eval" | "decode";
  sequence?: FakeSequence;
  sequences?: FakeSequence[];
  tokens: number[];
  options?: NativeEvalOptions;
  /** Settles the call: an eval's result, or a decode's per-member tokens and errors. */
  resolve(value: Outcome): void;
  reject(error: unknown): void;
}

export class FakeSequence implements NativeSequence {
  readonly capacity = 1000;
  /** Like the addon's: a sampled token is held without KV until the next run. */
  kvValid = 0;
  readonly longRope = false;
  busy = false;
  disposed = false;
  cancels = 0;
  readonly rewinds: number[] = [];
  private held: number[] = [];

  constructor(
    private readonly native: FakeContext,
    readonly name: string,
  ) {}

  get length(): number {
    return this.held.length;
  }

  /** Runs when the test resolves the call: like the addon, the tokens (and a sampled one) are kept only on success. */
  eval(tokens: Int32Array | number[], options: NativeEvalOptions = {}): Promise<NativeEvalResult> {
    const input = Array.from(tokens);
    return this.native.record<NativeEvalResult>({ kind: "eval", sequence: this, tokens: input, options }, (result) => this.ran(input, result.token));
  }

  rewind(length: number): void {
    this.rewinds.push(length);
    this.held.length = length;
    this.kvValid = Math.min(this.kvValid, length);
  }

  saveState(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array());
  }

  loadState(): Promise<void> {
    return Promise.resolve();
  }

  copyFrom(): Promise<void> {
    return Promise.resolve();
  }

  cancel(): void {
    this.cancels++;
  }

  dispose(): void {
    this.disposed = true;
  }

  tokens(): Int32Array {
    return Int32Array.from(this.held);
  }

  /** Appends without a call, all evaluated (the state a finished step leaves). */
  hold(tokens: number[]): void {
    this.held.push(...tokens);
    this.kvValid = this.held.length;
  }

  /** A run's effect: `input` appended, everything evaluated, then the sampled token held pending. */
  ran(input: number[], sampled: number | null): void {
    this.hold(input);
    if (sampled !== null) this.held.push(sampled);
  }
}

export class FakeContext implements NativeContext {
  readonly capacity = 1000;
  readonly kvMemory = { committed: 0, budget: 1, releasing: 0, growsOnDemand: false };
  readonly calls: FakeCall[] = [];
  private readonly waiters: ((call: FakeCall) => void)[] = [];
  private created = 0;

  constructor(readonly slots: number) {}

  get freeSlots(): number {
    return this.slots - this.created;
  }

  createSequence(): FakeSequence {
    return new FakeSequence(this, `s${this.created++}`);
  }

  decode(sequences: NativeSequence[], _samplings: NativeSampling[]): Promise<(number | Error)[]> {
    const members = sequences as FakeSequence[];
    return this.record<(number | Error)[]>({ kind: "decode", sequences: members, tokens: [] }, (results) =>
      results.forEach((result, i) => typeof result === "number" && members[i].ran([], result)),
    );
  }

  dispose(): void {}

  /**
   * Settles every call from now on as it comes: evals and decodes sample `token`, unless `answer`
   * returns an error for the call. Returns the function that stops serving.
   */
  serve(token: number, answer: (call: FakeCall) => Error | undefined = () => undefined): () => void {
    let serving = true;
    void (async () => {
      while (serving) {
        const call = await this.nextCall();
        if (!serving) break;
        const error = answer(call);
        if (error) call.reject(error);
        else if (call.kind === "eval") call.resolve({ token: call.options?.sampling ? token : null });
        else call.resolve(call.sequences!.map(() => token));
      }
    })();
    return () => (serving = false);
  }

  /** The next call the scheduler makes (at once if one is already waiting to be taken). */
  nextCall(): Promise<FakeCall> {
    const taken = this.calls.find((call) => !this.seen.has(call));
    if (taken) {
      this.seen.add(taken);
      return Promise.resolve(taken);
    }
    return new Promise((resolve) =>
      this.waiters.push((call) => {
        this.seen.add(call);
        resolve(call);
      }),
    );
  }

  private readonly seen = new Set<FakeCall>();

  /** Records a call; `onSuccess` applies its effect (tokens kept) when the test resolves it. */
  record<T extends Outcome>(call: Omit<FakeCall, "resolve" | "reject">, onSuccess: (value: T) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const full: FakeCall = {
        ...call,
        resolve: (value) => {
          onSuccess(value as T);
          resolve(value as T);
        },
        reject,
      };
      this.calls.push(full);
      this.waiters.shift()?.(full);
    });
  }
}
