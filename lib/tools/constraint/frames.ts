/**
 * The byte-level automaton's frames: one immutable object per position inside a JSON value (an
 * object between keys, a string after 3 characters, a number after its dot, ...). A frame takes one
 * byte and says what comes next: a new frame, a child value to run first (Descend), or that it is
 * complete (DONE; DONE_REFEED when the byte belongs to its parent, as after a number).
 *
 * Each frame also knows its shortest completion: the fewest bytes that finish it, which bounds how many
 * tokens the call still needs (the token budget) and spells out the fastest way to finish.
 *
 * Frames have a `key` that determines their behaviour for any next token: equal keys, equal masks.
 */
import type { ArraySpec, GrammarNode, LiteralSet, ObjectSpec, ValueGrammarNode } from "./grammar-nodes.js";
import { Descend, DONE, DONE_REFEED, Frame, isDigit, isWhitespace, QUOTE, type Step } from "./frame.js";
import { BoundedNumberFrame } from "./number-frame.js";
import { PatternStringFrame } from "./pattern-string.js";
import { StringFrame } from "./string-frame.js";
import { UnionFrame } from "./union-frame.js";
import { UniqueArrayFrame } from "./unique-array.js";

export { DONE, DONE_REFEED, Descend, Frame, type Step } from "./frame.js";
export { StringFrame } from "./string-frame.js";

const COMMA = 0x2c;
const COLON = 0x3a;

/** Before the first byte of a value: dispatches on it (every JSON type starts differently). */
export class ValueStart extends Frame {
  constructor(readonly node: ValueGrammarNode) {
    super();
  }

  get key(): string {
    return `v${this.node.id}`;
  }

  step(b: number): Step {
    const n = this.node;
    if (n.union) return UnionFrame.first(n.union, b);
    if (n.literals) {
      const literal = new LiteralFrame(n.literals, 0, n.literals.values.length, 0).step(b);
      if (literal !== null) return literal;
    }
    if (b === 0x7b && n.object) return new ObjectFrame(n.object, "open", "0".repeat(n.object.properties.length));
    if (b === 0x5b && n.array) return n.array.unique ? UniqueArrayFrame.open(n.array.unique) : new ArrayFrame(n.array, "open", 0);
    if (b === QUOTE && n.string) return n.string.pattern ? new PatternStringFrame(n.string.pattern, 0, 0) : new StringFrame(n.string, 0, "text");
    if (n.number && (b === 0x2d || isDigit(b))) {
      return n.number.bounded ? BoundedNumberFrame.first(n.number.bounded, b) : NumberFrame.first(n.number.integer, b);
    }
    return null;
  }

  protected finish(): string {
    return this.node.minimal();
  }
}

/** The values of `values[lo..hi)` that have byte `b` at `pos` (they share bytes before `pos`, so they are a run). */
function narrow(values: readonly string[], lo: number, hi: number, pos: number, b: number): [number, number] | null {
  let first = -1;
  let last = -1;
  for (let i = lo; i < hi; i++) {
    if (values[i].charCodeAt(pos) === b) {
      if (first < 0) first = i;
      last = i;
    }
  }
  return first < 0 ? null : [first, last + 1];
}

/** One of a set of literal texts (enum values, true/false/null), `pos` bytes in. */
class LiteralFrame extends Frame {
  constructor(
    readonly set: LiteralSet,
    readonly lo: number,
    readonly hi: number,
    readonly pos: number,
  ) {
    super();
  }

  get key(): string {
    return `l${this.set.id}:${this.lo}:${this.hi}:${this.pos}`;
  }

  step(b: number): Step {
    const values = this.set.values;
    const range = narrow(values, this.lo, this.hi, this.pos, b);
    // A complete value that others extend (1 and 12): the byte after it decides.
    if (!range) return values[this.lo].length === this.pos && this.pos > 0 ? DONE_REFEED : null;
    const pos = this.pos + 1;
    if (range[1] - range[0] === 1 && values[range[0]].length === pos) return DONE;
    return new LiteralFrame(this.set, range[0], range[1], pos);
  }

  protected finish(): string {
    let best: string | undefined;
    for (let i = this.lo; i < this.hi; i++) {
      const rest = this.set.values[i].slice(this.pos);
      if (best === undefined || rest.length < best.length) best = rest;
    }
    return best!;
  }
}

const MAX_INT_DIGITS = 15; // stays a safe integer
const MAX_FRACTION_DIGITS = 15;
const MAX_EXPONENT_DIGITS = 2; // 1e99 at most: never Infinity

type NumberPhase = "minus" | "zero" | "int" | "dot" | "frac" | "e" | "sign" | "exp";

/** -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)? with bounded digit runs; no fraction or exponent for integers. */
class NumberFrame extends Frame {
  constructor(
    readonly integer: boolean,
    readonly phase: NumberPhase,
    readonly digits = 0,
  ) {
    super();
  }

  static first(integer: boolean, b: number): Step {
    if (b === 0x2d) return new NumberFrame(integer, "minus");
    return new NumberFrame(integer, "minus").step(b);
  }

  get key(): string {
    return `n${this.integer ? 1 : 0}${this.phase}${this.digits}`;
  }

  step(b: number): Step {
    const at = (phase: NumberPhase, digits = 0) => new NumberFrame(this.integer, phase, digits);
    switch (this.phase) {
      case "minus":
        if (b === 0x30) return at("zero");
        return isDigit(b) ? at("int", 1) : null;
      case "zero":
        return this.afterInteger(b);
      case "int":
        return isDigit(b) && this.digits < MAX_INT_DIGITS ? at("int", this.digits + 1) : this.afterInteger(b);
      case "dot":
        return isDigit(b) ? at("frac", 1) : null;
      case "frac":
        if (isDigit(b) && this.digits < MAX_FRACTION_DIGITS) return at("frac", this.digits + 1);
        return b === 0x65 || b === 0x45 ? at("e") : DONE_REFEED;
      case "e":
        if (b === 0x2b || b === 0x2d) return at("sign");
        return isDigit(b) ? at("exp", 1) : null;
      case "sign":
        return isDigit(b) ? at("exp", 1) : null;
      case "exp":
        return isDigit(b) && this.digits < MAX_EXPONENT_DIGITS ? at("exp", this.digits + 1) : DONE_REFEED;
    }
  }

  private afterInteger(b: number): Step {
    if (!this.integer && b === 0x2e) return new NumberFrame(false, "dot");
    if (!this.integer && (b === 0x65 || b === 0x45)) return new NumberFrame(false, "e");
    return DONE_REFEED;
  }

  protected finish(): string {
    return this.phase === "minus" || this.phase === "dot" || this.phase === "e" || this.phase === "sign" ? "0" : "";
  }
}

type ObjectPhase = "open" | "key" | "colon" | "value" | "after" | "comma";

/**
 * Inside an object. `emitted` marks the declared properties written so far ("0110"): each at most once,
 * and "}" only once every required one is there. While reading a declared key, `candidates` are the
 * properties its bytes so far can still be.
 */
class ObjectFrame extends Frame {
  constructor(
    readonly spec: ObjectSpec,
    readonly phase: ObjectPhase,
    readonly emitted: string,
    readonly ws = 0,
    /** colon/value: the property being written (-1 = a free key). */
    readonly property = -1,
    readonly candidates: readonly number[] = [],
    readonly pos = 0,
  ) {
    super();
  }

  override get layoutWhitespace(): boolean {
    return this.phase !== "key";
  }

  get key(): string {
    const base = `o${this.spec.id}${this.phase}${this.emitted}:${this.ws}`;
    if (this.phase === "key") return `${base}:${this.candidates.join(",")}:${this.pos}`;
    return this.phase === "colon" || this.phase === "value" ? `${base}:${this.property}` : base;
  }

  step(b: number): Step {
    const { spec, phase, emitted } = this;
    if (phase !== "key" && isWhitespace(b)) {
      return this.ws < spec.maxWhitespace ? new ObjectFrame(spec, phase, emitted, this.ws + 1, this.property, this.candidates, this.pos) : null;
    }
    switch (phase) {
      case "open":
        if (b === 0x7d) return this.missing().length === 0 ? DONE : null;
        return b === QUOTE ? this.startKey() : null;
      case "comma":
        return b === QUOTE ? this.startKey() : null;
      case "key": {
        const candidates = this.candidates.filter((i) => spec.properties[i].tail.charCodeAt(this.pos) === b);
        if (candidates.length === 0) return null;
        const only = spec.properties[candidates[0]];
        if (candidates.length === 1 && only.tail.length === this.pos + 1) {
          const marked = emitted.slice(0, candidates[0]) + "1" + emitted.slice(candidates[0] + 1);
          return new ObjectFrame(spec, "colon", marked, 0, candidates[0]);
        }
        return new ObjectFrame(spec, "key", emitted, 0, -1, candidates, this.pos + 1);
      }
      case "colon":
        return b === COLON ? new ObjectFrame(spec, "value", emitted, 0, this.property) : null;
      case "value":
        return new Descend(this.valueNode(this.property).start, new ObjectFrame(spec, "after", emitted));
      case "after":
        if (b === 0x7d) return this.missing().length === 0 ? DONE : null;
        return b === COMMA && this.available().length > 0 ? new ObjectFrame(spec, "comma", emitted) : null;
    }
  }

  private startKey(): Step {
    if (this.spec.free) return new Descend(this.spec.freeKey.start, new ObjectFrame(this.spec, "colon", this.emitted, 0, -1));
    const candidates = this.available();
    return candidates.length > 0 ? new ObjectFrame(this.spec, "key", this.emitted, 0, -1, candidates, 0) : null;
  }

  /** Declared properties not written yet (for a free object: a free key, -1). */
  private available(emitted = this.emitted): number[] {
    if (this.spec.free) return [-1];
    return this.spec.properties.flatMap((_, i) => (emitted[i] === "0" ? [i] : []));
  }

  private missing(emitted = this.emitted): number[] {
    return this.spec.properties.flatMap((p, i) => (p.required && emitted[i] === "0" ? [i] : []));
  }

  private valueNode(property: number): ValueGrammarNode {
    return property < 0 ? this.spec.free! : this.spec.properties[property].value;
  }

  private member(property: number): string {
    const key = property < 0 ? '""' : `"${this.spec.properties[property].tail}`;
    return `${key}: ${this.valueNode(property).minimal()}`;
  }

  /** After a value, with `emitted` written: the missing required members, then "}". */
  private rest(emitted: string): string {
    const missing = this.missing(emitted).map((i) => this.member(i));
    return missing.length === 0 ? "}" : `, ${missing.join(", ")}}`;
  }

  protected finish(): string {
    const { phase, emitted } = this;
    const valueThenRest = (property: number, marked: string) => `${this.valueNode(property).minimal()}${this.rest(marked)}`;
    switch (phase) {
      case "open":
        return this.missing().length === 0
          ? "}"
          : `${this.missing()
              .map((i) => this.member(i))
              .join(", ")}}`;
      case "after":
        return this.rest(emitted);
      case "comma": {
        // A member must follow the comma: the missing required ones, or else the cheapest available.
        const missing = this.missing();
        if (missing.length > 0) return `${missing.map((i) => this.member(i)).join(", ")}}`;
        return shortest(this.available().map((i) => this.member(i))) + "}";
      }
      case "key":
        return shortest(
          this.candidates.map((i) => {
            const marked = emitted.slice(0, i) + "1" + emitted.slice(i + 1);
            return `${this.spec.properties[i].tail.slice(this.pos)}: ${valueThenRest(i, marked)}`;
          }),
        );
      case "colon":
        return `: ${valueThenRest(this.property, emitted)}`;
      case "value":
        return valueThenRest(this.property, emitted);
    }
  }
}

type ArrayPhase = "open" | "after" | "comma";

/** The node of the item at `index` of an array (a tuple's own, then the rest's). */
export function itemNode(spec: ArraySpec, index: number): GrammarNode {
  return spec.prefix && index < spec.prefix.length ? spec.prefix[index] : spec.items;
}

/** Inside an array, after `count` items. */
class ArrayFrame extends Frame {
  constructor(
    readonly spec: ArraySpec,
    readonly phase: ArrayPhase,
    readonly count: number,
    readonly ws = 0,
  ) {
    super();
  }

  override get layoutWhitespace(): boolean {
    return true;
  }

  get key(): string {
    // Past minItems and a tuple's items, the exact count only matters against a maxItems.
    const count = Number.isFinite(this.spec.maxItems) ? this.count : Math.min(this.count, Math.max(this.spec.minItems, this.spec.prefix?.length ?? 0));
    return `a${this.spec.id}${this.phase}${count}:${this.ws}`;
  }

  step(b: number): Step {
    const { spec, phase, count } = this;
    if (isWhitespace(b)) return this.ws < spec.maxWhitespace ? new ArrayFrame(spec, phase, count, this.ws + 1) : null;
    const item = () => new Descend(itemNode(spec, count).start, new ArrayFrame(spec, "after", count + 1));
    switch (phase) {
      case "open":
        if (b === 0x5d) return spec.minItems === 0 ? DONE : null;
        return spec.maxItems > 0 ? item() : null;
      case "comma":
        return item();
      case "after":
        if (b === 0x5d) return count >= spec.minItems ? DONE : null;
        return b === COMMA && count < spec.maxItems ? new ArrayFrame(spec, "comma", count) : null;
    }
  }

  protected finish(): string {
    const items = (n: number) => Array.from({ length: n }, (_, i) => itemNode(this.spec, this.count + i).minimal()).join(", ");
    const need = Math.max(0, this.spec.minItems - this.count);
    if (this.phase === "open") return `${items(need)}]`;
    if (this.phase === "comma") return `${items(Math.max(1, need))}]`;
    return need > 0 ? `, ${items(need)}]` : "]";
  }
}

export interface CallSpec {
  readonly id: number;
  /** `{"name": "NAME", "arguments": ` of each tool, as sorted binary strings. */
  readonly openings: LiteralSet;
  /** Argument nodes, in the order of `openings`. */
  readonly args: readonly ValueGrammarNode[];
  readonly maxWhitespace: number;
}

type CallPhase = "opening" | "arguments" | "close";

/** One call object: a tool's opening (which picks the tool), its arguments, "}". */
export class CallFrame extends Frame {
  constructor(
    readonly spec: CallSpec,
    readonly phase: CallPhase,
    readonly lo: number,
    readonly hi: number,
    /** opening: bytes read; close: whitespace read. */
    readonly pos: number,
  ) {
    super();
  }

  override get layoutWhitespace(): boolean {
    return this.phase === "close";
  }

  get key(): string {
    return `c${this.spec.id}${this.phase}${this.lo}:${this.hi}:${this.pos}`;
  }

  step(b: number): Step {
    const { spec } = this;
    switch (this.phase) {
      case "opening": {
        const range = narrow(spec.openings.values, this.lo, this.hi, this.pos, b);
        if (!range) return null;
        const complete = range[1] - range[0] === 1 && spec.openings.values[range[0]].length === this.pos + 1;
        return new CallFrame(spec, complete ? "arguments" : "opening", range[0], range[1], complete ? 0 : this.pos + 1);
      }
      case "arguments":
        return new Descend(spec.args[this.lo].start, new CallFrame(spec, "close", this.lo, this.hi, 0));
      case "close":
        if (b === 0x7d) return DONE;
        return isWhitespace(b) && this.pos < spec.maxWhitespace ? new CallFrame(spec, "close", this.lo, this.hi, this.pos + 1) : null;
    }
  }

  protected finish(): string {
    if (this.phase === "close") return "}";
    if (this.phase === "arguments") return `${this.spec.args[this.lo].minimal()}}`;
    const options: string[] = [];
    for (let i = this.lo; i < this.hi; i++) options.push(`${this.spec.openings.values[i].slice(this.pos)}${this.spec.args[i].minimal()}}`);
    return shortest(options);
  }
}

/** A node whose instances are tool call objects (the items of the root list). */
export class CallNode implements GrammarNode {
  readonly start: Frame;

  constructor(spec: CallSpec) {
    this.start = new CallFrame(spec, "opening", 0, spec.openings.values.length, 0);
  }

  minimal(): string {
    return this.start.completion();
  }
}

function shortest(options: string[]): string {
  return options.reduce((best, o) => (o.length < best.length ? o : best));
}
