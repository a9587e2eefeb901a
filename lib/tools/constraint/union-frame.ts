/**
 * anyOf / oneOf branches that start alike (two object shapes, a plain string and a patterned one, an
 * integer range and a number range): the branches run side by side, each as its own stack of frames,
 * and a byte is allowed when some live branch takes it. A branch that rejects a byte drops out; once
 * one branch is left, the union gives way to that branch's own frames (Unwrap), so the rest of the
 * value costs what a single shape costs. The value may end wherever a live branch ends.
 *
 * Branches read the same bytes as JSON, and JSON's structure is fixed by its bytes, so live branches
 * are always at the same depth; only where a value ends may differ (a literal 12 is complete where a
 * number 12 may go on to 123). A byte some branch continues with is taken as content: the bytes a
 * number continues with (digits, ".", "e", sign) are never what follows a value.
 */
import { advanceWithin, framesOf, stacked, State } from "./automaton.js";
import { DONE, DONE_REFEED, Frame, Unwrap, type Step } from "./frame.js";
import type { UnionSpec } from "./grammar-nodes.js";

export class UnionFrame extends Frame {
  constructor(
    readonly spec: UnionSpec,
    /** The live branches, each a stack whose bottom frame is the branch's value. */
    readonly branches: readonly State[],
    /** Some branch's value ended on the last byte: the union's value may end here. */
    readonly complete: boolean,
  ) {
    super();
  }

  /** The union's first byte: the branches that start with it (often one: then no union frame at all). */
  static first(spec: UnionSpec, b: number): Step {
    return unionStep(
      spec,
      spec.branches.map((branch) => new State(branch.start, null)),
      b,
    );
  }

  override get layoutWhitespace(): boolean {
    return this.branches[0]?.top.layoutWhitespace ?? false;
  }

  get key(): string {
    return `U${this.spec.id}${this.complete ? "!" : ""}(${this.branches.map((b) => b.key).join(")(")})`;
  }

  step(b: number): Step {
    const step = unionStep(this.spec, this.branches, b);
    // No branch takes the byte: if the value could end before it, the byte is its parent's.
    return step === null && this.complete ? DONE_REFEED : step;
  }

  override completionLength(): number {
    return this.complete ? 0 : Math.min(...this.branches.map((b) => b.distance));
  }

  protected finish(): string {
    if (this.complete) return "";
    const best = this.branches.reduce((a, b) => (b.distance < a.distance ? b : a));
    return best.completion();
  }

  /** The states this union stands for, each a plain stack on `below` (its masks are theirs, together). */
  alternatives(below: State | null): State[] {
    const states = this.branches.map((branch) => stacked(framesOf(branch), below));
    if (this.complete && below) states.push(below);
    return states;
  }
}

/** Each of `branches` advanced by `b`, as the union's step. */
function unionStep(spec: UnionSpec, branches: readonly State[], b: number): Step {
  const live: State[] = [];
  let done = false;
  let ended = false;
  for (const branch of branches) {
    const next = advanceWithin(branch, b);
    if (next === DONE) done = true;
    else if (next === DONE_REFEED) ended = true;
    else if (next !== null) live.push(next);
  }
  if (live.length === 0) return done ? DONE : ended ? DONE_REFEED : null;
  if (live.length === 1 && !done) return new Unwrap(framesOf(live[0]));
  return new UnionFrame(spec, live, done);
}
