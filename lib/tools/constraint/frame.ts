/**
 * The base of the byte-level automaton's frames (see frames.ts): a frame takes one byte and says what
 * comes next. Kept apart from the concrete frames so that frames in other files (numbers with bounds,
 * strings with a pattern) can extend it without an import cycle.
 */

export const DONE = 1;
export const DONE_REFEED = 2;

/** Run `child` on the byte; `next` is what this frame becomes once the child's value is complete. */
export class Descend {
  constructor(
    readonly child: Frame,
    readonly next: Frame,
  ) {}
}

/**
 * This frame gives way to a stack of frames (`frames`, the innermost first) that has read the byte: a
 * union of branches down to its one live branch, which carries on as that branch's own frames.
 */
export class Unwrap {
  constructor(readonly frames: readonly Frame[]) {}
}

export type Step = Frame | Descend | Unwrap | typeof DONE | typeof DONE_REFEED | null;

export abstract class Frame {
  private cachedCompletion?: string;
  abstract get key(): string;
  abstract step(b: number): Step;
  protected abstract finish(): string;

  /** The shortest bytes (a binary string) that complete this frame, once any child value above it is complete. */
  completion(): string {
    return (this.cachedCompletion ??= this.finish());
  }

  /**
   * True when a whitespace byte here would be JSON layout between tokens rather than content (inside
   * a string, a key or a literal it is content). Jump-forward does not count layout as a choice.
   */
  get layoutWhitespace(): boolean {
    return false;
  }

  /** completion().length; a frame that knows it without spelling the bytes out says so (mask walks ask it of every token). */
  completionLength(): number {
    return this.completion().length;
  }
}

/** After the whole list: nothing more (the closer is a special token, outside the byte grammar). */
export class AcceptFrame extends Frame {
  get key(): string {
    return "#";
  }

  step(): Step {
    return null;
  }

  protected finish(): string {
    return "";
  }
}

export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
/** JSON's insignificant whitespace: space, line feed, tab, carriage return. */
export const isWhitespace = (b: number) => b === 0x20 || b === 0x0a || b === 0x09 || b === 0x0d;
