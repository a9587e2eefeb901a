/**
 * Inside a JSON string with length limits and no pattern: any characters, checked for JSON escapes and
 * strict UTF-8. (Masks for it come mostly from the vocabulary's precomputed string classes: masks.ts.)
 */
import { BACKSLASH, DONE, Frame, isDigit, QUOTE, type Step } from "./frame.js";
import { utf8Sequence } from "./utf8.js";

const isHex = (b: number) => isDigit(b) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46);

type StringPhase = "text" | "escape" | "hex" | "utf8";

/** A string value's bounds (a StringSpec without its pattern: what a plain string frame enforces). */
export interface StringBounds {
  readonly id: number;
  readonly minLength: number;
  readonly maxLength: number;
  /** String lengths at least this far from a limit behave alike for one token (cache keys clamp to it). */
  readonly clamp: number;
}

/**
 * Inside a string, `count` characters in: escapes (\uXXXX without lone surrogates), and strict UTF-8
 * (a token may end inside a character; the next must continue it correctly).
 */
export class StringFrame extends Frame {
  constructor(
    readonly spec: StringBounds,
    readonly count: number,
    readonly phase: StringPhase,
    /** hex: digits read; utf8: continuation bytes still due. */
    readonly pending = 0,
    /** hex: the first digit was d (a surrogate unless the next is 0-7); utf8: the next byte's range. */
    readonly lo = 0,
    readonly hi = 0,
  ) {
    super();
  }

  /** Characters still allowed, and still needed. */
  get room(): number {
    return this.spec.maxLength - this.count;
  }

  get need(): number {
    return Math.max(0, this.spec.minLength - this.count);
  }

  get key(): string {
    const c = this.spec.clamp;
    return `s${this.spec.id}:${Math.min(this.room, c)}:${Math.min(this.need, c)}:${this.phase}${this.pending}:${this.lo}:${this.hi}`;
  }

  step(b: number): Step {
    const text = (count: number) => new StringFrame(this.spec, count, "text");
    switch (this.phase) {
      case "text": {
        if (b === QUOTE) return this.need === 0 ? DONE : null;
        if (this.room <= 0 || b < 0x20) return null;
        if (b === BACKSLASH) return new StringFrame(this.spec, this.count + 1, "escape");
        if (b < 0x80) return text(this.count + 1);
        const seq = utf8Sequence(b);
        return seq ? new StringFrame(this.spec, this.count + 1, "utf8", seq.length - 1, seq.lo, seq.hi) : null;
      }
      case "escape":
        if (b === 0x75) return new StringFrame(this.spec, this.count, "hex", 0);
        return '"\\/bfnrt'.includes(String.fromCharCode(b)) ? text(this.count) : null;
      case "hex": {
        if (!isHex(b) || (this.lo === 1 && !(b >= 0x30 && b <= 0x37))) return null;
        if (this.pending === 3) return text(this.count);
        const surrogate = this.pending === 0 && (b === 0x64 || b === 0x44) ? 1 : 0;
        return new StringFrame(this.spec, this.count, "hex", this.pending + 1, surrogate);
      }
      case "utf8":
        if (b < this.lo || b > this.hi) return null;
        return this.pending === 1 ? text(this.count) : new StringFrame(this.spec, this.count, "utf8", this.pending - 1, 0x80, 0xbf);
    }
  }

  protected finish(): string {
    const close = "a".repeat(this.need) + '"';
    if (this.phase === "escape") return "n" + close;
    if (this.phase === "hex") return "0".repeat(4 - this.pending) + close;
    if (this.phase === "utf8") return String.fromCharCode(this.lo) + "\x80".repeat(this.pending - 1) + close;
    return close;
  }
}
