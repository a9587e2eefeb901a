/**
 * `uniqueItems` for an array whose items are literals (an enum, booleans): the array reads its items
 * itself, so it knows which values are written and offers only the others. (Distinct JSON texts of
 * enum values are distinct values, so distinct texts are enough.) For other items, uniqueItems is left
 * to the validator.
 */
import { DONE, Frame, isWhitespace, type Step } from "./frame.js";

export interface UniqueArraySpec {
  readonly id: number;
  /** The literal items' JSON texts, as sorted binary strings. */
  readonly values: readonly string[];
  readonly minItems: number;
  /** At most the number of values. */
  readonly maxItems: number;
  readonly maxWhitespace: number;
}

type Phase = "open" | "item" | "after" | "comma";

export class UniqueArrayFrame extends Frame {
  constructor(
    readonly spec: UniqueArraySpec,
    readonly phase: Phase,
    /** "0110": the values written so far. */
    readonly used: string,
    readonly ws = 0,
    /** item: the values the item's bytes so far can still be (unused ones in [lo, hi)), `pos` bytes in. */
    readonly lo = 0,
    readonly hi = 0,
    readonly pos = 0,
  ) {
    super();
  }

  static open(spec: UniqueArraySpec): UniqueArrayFrame {
    return new UniqueArrayFrame(spec, "open", "0".repeat(spec.values.length));
  }

  override get layoutWhitespace(): boolean {
    return this.phase !== "item";
  }

  get key(): string {
    return `u${this.spec.id}${this.phase}${this.used}:${this.ws}:${this.lo}:${this.hi}:${this.pos}`;
  }

  private get count(): number {
    return this.used.split("1").length - 1;
  }

  private unused(): number[] {
    return this.spec.values.flatMap((_, i) => (this.used[i] === "0" ? [i] : []));
  }

  step(b: number): Step {
    const { spec, phase } = this;
    if (phase !== "item" && isWhitespace(b)) {
      return this.ws < spec.maxWhitespace ? new UniqueArrayFrame(spec, phase, this.used, this.ws + 1, this.lo, this.hi, this.pos) : null;
    }
    switch (phase) {
      case "open":
        if (b === 0x5d) return spec.minItems === 0 ? DONE : null;
        return spec.maxItems > 0 ? this.item(0, spec.values.length, 0, b) : null;
      case "comma":
        return this.item(0, spec.values.length, 0, b);
      case "item":
        return this.item(this.lo, this.hi, this.pos, b);
      case "after":
        if (b === 0x5d) return this.count >= spec.minItems ? DONE : null;
        return b === 0x2c && this.count < spec.maxItems ? new UniqueArrayFrame(spec, "comma", this.used) : null;
    }
  }

  /** The item's next byte: narrows the candidates, or ends the item (a number followed by "," or "]"). */
  private item(lo: number, hi: number, pos: number, b: number): Step {
    const values = this.spec.values;
    let first = -1;
    let last = -1;
    for (let i = lo; i < hi; i++) {
      if (this.used[i] === "0" && values[i].charCodeAt(pos) === b) {
        if (first < 0) first = i;
        last = i;
      }
    }
    if (first < 0) {
      // A complete value that others extend (1 and 12): the byte after it belongs to the array.
      const done = pos > 0 ? this.candidates(lo, hi).find((i) => values[i].length === pos) : undefined;
      return done === undefined ? null : this.written(done).step(b);
    }
    const only = this.candidates(first, last + 1);
    if (only.length === 1 && values[only[0]].length === pos + 1) return this.written(only[0]);
    return new UniqueArrayFrame(this.spec, "item", this.used, 0, first, last + 1, pos + 1);
  }

  private candidates(lo: number, hi: number): number[] {
    const out: number[] = [];
    for (let i = lo; i < hi; i++) if (this.used[i] === "0") out.push(i);
    return out;
  }

  /** After value i is written. */
  private written(i: number): UniqueArrayFrame {
    return new UniqueArrayFrame(this.spec, "after", this.used.slice(0, i) + "1" + this.used.slice(i + 1));
  }

  /** The `n` shortest unused values, shortest first, as the items of a completion. */
  private shortestItems(n: number): string {
    return this.unused()
      .map((i) => this.spec.values[i])
      .sort((a, b) => a.length - b.length)
      .slice(0, n)
      .join(", ");
  }

  protected finish(): string {
    const need = Math.max(0, this.spec.minItems - this.count);
    switch (this.phase) {
      case "open":
        return `${this.shortestItems(need)}]`;
      case "comma":
        return `${this.shortestItems(Math.max(1, need))}]`;
      case "after":
        return need > 0 ? `, ${this.shortestItems(need)}]` : "]";
      case "item": {
        let best: string | undefined;
        for (const i of this.candidates(this.lo, this.hi)) {
          const rest = `${this.spec.values[i].slice(this.pos)}${this.written(i).completion()}`;
          if (best === undefined || rest.length < best.length) best = rest;
        }
        return best!;
      }
    }
  }
}
