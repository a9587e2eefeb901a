/**
 * A number with bounds (minimum, maximum, exclusive ones, an integer multipleOf), written as a plain
 * decimal: `-?(0|[1-9][0-9]*)(\.[0-9]+)?` with at most 15 digits. A byte is allowed only if some
 * allowed value still starts with the text so far, and the number may end only on an allowed value,
 * so the grammar never reaches a number it cannot finish and never finishes one ajv rejects.
 */
import { DONE_REFEED, Frame, isDigit, type Step } from "./frame.js";
import { MAX_DIGITS, reachable, satisfies, shortestRest, type NumberBounds, type NumberPrefix } from "./numbers.js";

export interface BoundedNumberSpec {
  readonly id: number;
  readonly integer: boolean;
  readonly bounds: NumberBounds;
}

const MINUS = 0x2d;
const DOT = 0x2e;

export class BoundedNumberFrame extends Frame implements NumberPrefix {
  constructor(
    readonly spec: BoundedNumberSpec,
    readonly negative: boolean,
    readonly int: string,
    readonly dot: boolean,
    readonly frac: string,
  ) {
    super();
  }

  /** The first byte of the number (a minus sign or a digit). */
  static first(spec: BoundedNumberSpec, b: number): Step {
    const empty = new BoundedNumberFrame(spec, false, "", false, "");
    if (b !== MINUS) return empty.step(b);
    return empty.extend(true, "", false, "");
  }

  get key(): string {
    // Whether a digit may follow depends on the whole value so far.
    return `N${this.spec.id}:${this.negative ? "-" : ""}${this.int}${this.dot ? "." : ""}${this.frac}`;
  }

  step(b: number): Step {
    const digits = this.int.length + this.frac.length;
    if (isDigit(b) && digits < MAX_DIGITS) {
      const digit = String.fromCharCode(b);
      if (this.dot) return this.extend(this.negative, this.int, true, this.frac + digit);
      if (this.int !== "0") return this.extend(this.negative, this.int + digit, false, "");
    }
    if (b === DOT && !this.spec.integer && !this.dot && this.int !== "" && digits < MAX_DIGITS) {
      return this.extend(this.negative, this.int, true, "");
    }
    // Any other byte ends the number (it belongs to the parent), if the value is allowed.
    return !isDigit(b) && b !== DOT && satisfies(this, this.spec.bounds) ? DONE_REFEED : null;
  }

  private extend(negative: boolean, int: string, dot: boolean, frac: string): Step {
    const next = new BoundedNumberFrame(this.spec, negative, int, dot, frac);
    return reachable(next, this.spec.integer, this.spec.bounds) ? next : null;
  }

  protected finish(): string {
    // A frame exists only while some allowed value is reachable, so there is a shortest rest.
    return shortestRest(this, this.spec.integer, this.spec.bounds)!;
  }
}
