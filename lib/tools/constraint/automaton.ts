/**
 * A position in the grammar: a stack of frames (the innermost value on top). Immutable and shared:
 * advancing by a byte allocates only the frames that change, so a trie walk can branch from any state.
 */
import { AcceptFrame, Descend, DONE, DONE_REFEED, Unwrap, type Frame } from "./frame.js";

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
  const next = advanceWithin(state, b);
  // The whole output is complete: after its last byte (DONE) nothing more; a byte after it (DONE_REFEED) is not allowed.
  if (next === DONE) return ACCEPT;
  return next === DONE_REFEED ? null : next;
}

/**
 * `state` advanced by one byte, where the stack's bottom frame is a value of its own (a union's
 * branch): DONE when that value completes on the byte, DONE_REFEED when it was complete before it
 * (the byte is whatever follows the value), null when the byte is not allowed.
 */
export function advanceWithin(state: State, b: number): State | typeof DONE | typeof DONE_REFEED | null {
  let s = state;
  for (;;) {
    const step = s.top.step(b);
    if (step === null) return null;
    if (step instanceof Descend) {
      s = new State(step.child, new State(step.next, s.below));
      continue;
    }
    if (step instanceof Unwrap) return stacked(step.frames, s.below);
    if (typeof step !== "number") return new State(step, s.below);
    // The top value is complete: its parent (already in its after-value phase) carries on.
    if (s.below === null) return step;
    if (step === DONE) return s.below;
    s = s.below; // DONE_REFEED: the byte is the parent's
  }
}

/** `frames` (the innermost first) stacked on `below`. */
export function stacked(frames: readonly Frame[], below: State | null): State {
  let s = below;
  for (let i = frames.length - 1; i >= 0; i--) s = new State(frames[i], s);
  return s!;
}

/** The frames of `state`, the innermost first. */
export function framesOf(state: State): Frame[] {
  const frames: Frame[] = [];
  for (let s: State | null = state; s; s = s.below) frames.push(s.top);
  return frames;
}

export function advanceBytes(state: State, bytes: ArrayLike<number>): State | null {
  let s: State | null = state;
  for (let i = 0; i < bytes.length && s; i++) s = advance(s, bytes[i]);
  return s;
}
