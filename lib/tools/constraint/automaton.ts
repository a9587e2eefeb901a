/**
 * A position in the grammar: a stack of frames (the innermost value on top). Immutable and shared:
 * advancing by a byte allocates only the frames that change, so a trie walk can branch from any state.
 */
import { AcceptFrame, Descend, DONE, type Frame } from "./frames.js";

export class State {
  private cachedKey?: string;
  private cachedDistance?: number;

  constructor(
    readonly top: Frame,
    readonly below: State | null,
  ) {}

  /** Equal keys behave alike for every token (the mask cache's key). */
  get key(): string {
    return (this.cachedKey ??= this.below ? `${this.top.key}|${this.below.key}` : this.top.key);
  }

  /** Fewest bytes that complete the whole output from here. */
  get distance(): number {
    return (this.cachedDistance ??= this.top.completionLength() + (this.below?.distance ?? 0));
  }

  /** Those bytes, as a binary string. */
  completion(): string {
    return this.top.completion() + (this.below?.completion() ?? "");
  }
}

/** The state after the whole output: only the closer token may follow. */
export const ACCEPT = new State(new AcceptFrame(), null);

/** The state after one more byte, or null if the grammar does not allow it. */
export function advance(state: State, b: number): State | null {
  let s = state;
  for (;;) {
    const step = s.top.step(b);
    if (step === null) return null;
    if (step instanceof Descend) {
      s = new State(step.child, new State(step.next, s.below));
      continue;
    }
    if (typeof step !== "number") return new State(step, s.below);
    // The top value is complete: its parent (already in its after-value phase) carries on.
    const parent = s.below ?? ACCEPT;
    if (step === DONE) return parent;
    s = parent; // DONE_REFEED: the byte is the parent's
  }
}

export function advanceBytes(state: State, bytes: ArrayLike<number>): State | null {
  let s: State | null = state;
  for (let i = 0; i < bytes.length && s; i++) s = advance(s, bytes[i]);
  return s;
}
