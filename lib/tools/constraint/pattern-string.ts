/**
 * A JSON string whose characters follow a character automaton (a `pattern`, a `format`), within its
 * length limits. Each character the bytes spell (raw UTF-8, or one of the escapes \" \\ \/ \b \f \n
 * \r \t; no \u escapes) moves the automaton; a byte is allowed only if the string can still be finished
 * as a match within its limits, and the closing quote only on a match.
 *
 * Shortest completions come from a table of the fewest bytes that finish a match from each state in
 * exactly n more characters (n up to the longest allowed string), so distances are exact and following
 * a completion never dead-ends.
 */
import { type Dfa, move } from "./dfa.js";
import { BACKSLASH, DONE, Frame, QUOTE, type Step } from "./frame.js";
import { StringFrame, type StringBounds } from "./string-frame.js";
import { utf8Sequence } from "./utf8.js";

const INF = 0x3fffffff;

/** The JSON escapes a patterned string may use, by letter, and the character each stands for. */
const ESCAPES: readonly (readonly [number, number])[] = [
  [0x22, 0x22],
  [0x5c, 0x5c],
  [0x2f, 0x2f],
  [0x62, 0x08],
  [0x66, 0x0c],
  [0x6e, 0x0a],
  [0x72, 0x0d],
  [0x74, 0x09],
];

/** The bytes (a binary string) that write `cp` in a JSON string the cheapest way. */
function encode(cp: number): string {
  if (cp === 0x22 || cp === 0x5c) return `\\${String.fromCharCode(cp)}`;
  if (cp < 0x20) return `\\${String.fromCharCode(ESCAPES.find(([, c]) => c === cp)![0])}`;
  return Buffer.from(String.fromCodePoint(cp), "utf8").toString("latin1");
}

/** The cheapest code point of a range to write, and its length in bytes. */
function cheapest(lo: number, hi: number): { cp: number; bytes: number } {
  let best = { cp: lo, bytes: encode(lo).length };
  // Plain printable ASCII (one byte) if the range has any; "a" first, for readable completions.
  for (const cp of [0x61, 0x30, Math.max(lo, 0x20)]) {
    if (cp >= lo && cp <= hi && cp < 0x7f && cp !== 0x22 && cp !== 0x5c) return { cp, bytes: 1 };
  }
  for (const cp of [0x23, 0x5d, 0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x22, 0x5c, 0x80, 0x800, 0x10000]) {
    if (cp >= lo && cp <= hi && encode(cp).length < best.bytes) best = { cp, bytes: encode(cp).length };
  }
  return best;
}

export class PatternSpec {
  /** cost[n * states + q]: fewest bytes of exactly n characters from state q to a match (INF: none). */
  private readonly cost: Int32Array;
  /** upTo[r * states + q]: the fewest over n <= r. */
  private readonly upTo: Int32Array;
  private readonly charCost: { cp: number; bytes: number }[][];
  private readonly states: number;
  /** From this many characters of room on, upTo no longer changes (cache keys clamp room there). */
  readonly settled: number;

  constructor(
    readonly id: number,
    readonly dfa: Dfa,
    readonly minLength: number,
    readonly maxLength: number,
    /** The longest token in bytes plus one: what room counts up to in a cache key, beyond `settled`. */
    readonly clamp: number,
    /** The same limits without a pattern: a string in a free state of the automaton is any string. */
    readonly plain: StringBounds,
  ) {
    const states = (this.states = dfa.edges.length);
    this.charCost = dfa.edges.map((edges) => edges.map((e) => cheapest(e.lo, e.hi)));
    this.cost = new Int32Array((maxLength + 1) * states).fill(INF);
    this.upTo = new Int32Array((maxLength + 1) * states).fill(INF);
    let settled = 0;
    for (let n = 0; n <= maxLength; n++) {
      for (let q = 0; q < states; q++) {
        let best = n === 0 ? (dfa.accepting[q] ? 0 : INF) : INF;
        if (n > 0) {
          dfa.edges[q].forEach((e, i) => {
            const rest = this.cost[(n - 1) * states + e.to];
            if (rest !== INF) best = Math.min(best, rest + this.charCost[q][i].bytes);
          });
        }
        this.cost[n * states + q] = best;
        const before = n === 0 ? INF : this.upTo[(n - 1) * states + q];
        this.upTo[n * states + q] = Math.min(before, best);
        if (best < before) settled = n;
      }
    }
    this.settled = settled;
  }

  /** Whether the automaton's start can reach a match within the limits at all. */
  satisfiable(): boolean {
    return this.best(0, 0) !== INF;
  }

  /** Fewest bytes to finish a match from state q with `count` characters written (INF: impossible). */
  best(q: number, count: number): number {
    const room = this.maxLength - count;
    if (room < 0) return INF;
    const need = Math.max(0, this.minLength - count);
    if (need === 0) return this.upTo[room * this.states + q];
    let best = INF;
    for (let n = need; n <= room; n++) best = Math.min(best, this.cost[n * this.states + q]);
    return best;
  }

  /** The bytes of the cheapest match's rest from state q (count characters written), closing quote excluded. */
  rest(q: number, count: number): string {
    const target = this.best(q, count);
    const need = Math.max(0, this.minLength - count);
    let n = need;
    while (this.cost[n * this.states + q] !== target) n++;
    let out = "";
    for (; n > 0; n--) {
      const edges = this.dfa.edges[q];
      const i = edges.findIndex((e, k) => this.cost[(n - 1) * this.states + e.to] + this.charCost[q][k].bytes === this.cost[n * this.states + q]);
      out += encode(this.charCost[q][i].cp);
      q = edges[i].to;
    }
    return out;
  }
}

type Phase = "text" | "escape" | "utf8";

export class PatternStringFrame extends Frame {
  constructor(
    readonly spec: PatternSpec,
    readonly state: number,
    readonly count: number,
    readonly phase: Phase = "text",
    /** utf8: the code point's bits so far, the continuation bytes still due, and the next byte's range. */
    readonly bits = 0,
    readonly pending = 0,
    readonly lo = 0,
    readonly hi = 0,
  ) {
    super();
  }

  get key(): string {
    const { spec, count } = this;
    const room = spec.maxLength - count;
    // Beyond `settled`, more room changes nothing for a token's characters; while characters are still
    // needed, room counts exactly.
    const shown = count >= spec.minLength ? Math.min(room, spec.settled + spec.clamp) : room;
    return `p${spec.id}:${this.state}:${shown}:${Math.max(0, spec.minLength - count)}:${this.phase}:${this.bits}:${this.pending}:${this.lo}:${this.hi}`;
  }

  step(b: number): Step {
    switch (this.phase) {
      case "text": {
        if (b === QUOTE) return this.count >= this.spec.minLength && this.spec.dfa.accepting[this.state] ? DONE : null;
        if (b < 0x20 || this.count >= this.spec.maxLength) return null;
        if (b === BACKSLASH)
          return ESCAPES.some(([, cp]) => this.after(cp) !== null) ? new PatternStringFrame(this.spec, this.state, this.count, "escape") : null;
        if (b < 0x80) return this.after(b);
        const seq = utf8Sequence(b);
        if (!seq) return null;
        const lead = b & (seq.length === 2 ? 0x1f : seq.length === 3 ? 0x0f : 0x07);
        return this.partial(lead, seq.length - 1, seq.lo, seq.hi);
      }
      case "escape": {
        const escape = ESCAPES.find(([letter]) => letter === b);
        return escape ? this.after(escape[1]) : null;
      }
      case "utf8": {
        if (b < this.lo || b > this.hi) return null;
        const bits = (this.bits << 6) | (b & 0x3f);
        return this.pending === 1 ? this.after(bits) : this.partial(bits, this.pending - 1, 0x80, 0xbf);
      }
    }
  }

  /**
   * After a whole character: the next text frame, if a match can still be finished. In a free state
   * the rest is any string: a plain string frame takes over, whose masks come from the vocabulary's
   * string classes instead of a walk of the whole vocabulary.
   */
  private after(cp: number): Frame | null {
    const to = move(this.spec.dfa, this.state, cp);
    if (to < 0 || this.spec.best(to, this.count + 1) === INF) return null;
    return this.spec.dfa.free[to] ? new StringFrame(this.spec.plain, this.count + 1, "text") : new PatternStringFrame(this.spec, to, this.count + 1);
  }

  /** Inside a character: allowed if some code point it can still become leads on to a match. */
  private partial(bits: number, pending: number, lo: number, hi: number): PatternStringFrame | null {
    const frame = new PatternStringFrame(this.spec, this.state, this.count, "utf8", bits, pending, lo, hi);
    return frame.choice() ? frame : null;
  }

  /** utf8: the code points this character can still become, as [first, last]. */
  private span(): [number, number] {
    const low = 6 * (this.pending - 1);
    return [((this.bits << 6) | (this.lo & 0x3f)) << low, (((this.bits << 6) | (this.hi & 0x3f)) << low) | ((1 << low) - 1)];
  }

  /** utf8: the best code point this character can become (fewest bytes to finish after it), or null. */
  private choice(): { cp: number; to: number; rest: number } | null {
    const [first, last] = this.span();
    let best: { cp: number; to: number; rest: number } | null = null;
    for (const e of this.spec.dfa.edges[this.state]) {
      if (e.hi < first || e.lo > last) continue;
      const rest = this.spec.best(e.to, this.count + 1);
      if (rest !== INF && (best === null || rest < best.rest)) best = { cp: Math.max(first, e.lo), to: e.to, rest };
    }
    return best;
  }

  override completionLength(): number {
    return this.phase === "text" ? this.spec.best(this.state, this.count) + 1 : super.completionLength();
  }

  protected finish(): string {
    const { spec } = this;
    if (this.phase === "text") return `${spec.rest(this.state, this.count)}"`;
    if (this.phase === "escape") {
      let best: { letter: number; to: number; rest: number } | null = null;
      for (const [letter, cp] of ESCAPES) {
        const to = move(spec.dfa, this.state, cp);
        const rest = to >= 0 ? spec.best(to, this.count + 1) : INF;
        if (rest !== INF && (best === null || rest < best.rest)) best = { letter, to, rest };
      }
      return `${String.fromCharCode(best!.letter)}${spec.rest(best!.to, this.count + 1)}"`;
    }
    const { cp, to } = this.choice()!;
    return `${encode(cp).slice(-this.pending)}${spec.rest(to, this.count + 1)}"`;
  }
}
