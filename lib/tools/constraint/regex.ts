/**
 * The regular expressions of JSON Schema's `pattern` (ECMAScript syntax, with the `u` flag, as ajv
 * compiles them), parsed into a tree that an automaton can be built from. The subset: literals and
 * escapes, `.`, classes (ranges, negation, \d \w \s and their negations), groups (capturing,
 * non-capturing, named), alternation, the quantifiers * + ? {n} {n,} {n,m} (lazy or not: the same
 * strings match), and anchors ^ and $ at the ends of the top-level alternatives. Anything else
 * (back-references, look-around, \b, \p{...}) throws UnsupportedPattern: such a pattern is left to the
 * validator.
 *
 * A pattern matches anywhere in the string unless anchored, so an unanchored end becomes "anything".
 */
import { ANY, complement, DIGITS, DOT, single, SPACE, union, WORD, type CharSet } from "./charset.js";

export type RegexNode =
  | { kind: "chars"; set: CharSet }
  | { kind: "seq"; items: RegexNode[] }
  | { kind: "alt"; options: RegexNode[] }
  | { kind: "repeat"; node: RegexNode; min: number; max: number };

export class UnsupportedPattern extends Error {}

type Parsed = RegexNode | { kind: "start" } | { kind: "end" };

const anything: RegexNode = { kind: "repeat", node: { kind: "chars", set: ANY }, min: 0, max: Infinity };

/** The tree of a whole pattern, as a match of the whole string. */
export function parsePattern(source: string): RegexNode {
  const parser = new Parser(source);
  const options = parser.alternatives();
  if (!parser.done()) throw new UnsupportedPattern(`unexpected "${parser.peek()}" in the pattern`);
  return {
    kind: "alt",
    options: options.map((items) => {
      const anchoredStart = items[0]?.kind === "start";
      const anchoredEnd = items.length > (anchoredStart ? 1 : 0) && items.at(-1)?.kind === "end";
      const body = items.slice(anchoredStart ? 1 : 0, anchoredEnd ? -1 : undefined);
      if (body.some((n) => n.kind === "start" || n.kind === "end")) throw new UnsupportedPattern("an anchor inside the pattern");
      return { kind: "seq", items: [...(anchoredStart ? [] : [anything]), ...(body as RegexNode[]), ...(anchoredEnd ? [] : [anything])] };
    }),
  };
}

const SIMPLE_ESCAPES: Record<string, number> = { n: 0x0a, r: 0x0d, t: 0x09, f: 0x0c, v: 0x0b, "0": 0 };
const SYNTAX = "^$\\.*+?()[]{}|/";

class Parser {
  private readonly chars: string[];
  private pos = 0;

  constructor(source: string) {
    this.chars = [...source]; // by code point, as the u flag reads it
  }

  done(): boolean {
    return this.pos >= this.chars.length;
  }

  peek(): string | undefined {
    return this.chars[this.pos];
  }

  private next(): string {
    if (this.done()) throw new UnsupportedPattern("the pattern ends too early");
    return this.chars[this.pos++];
  }

  private eat(c: string): boolean {
    if (this.peek() !== c) return false;
    this.pos++;
    return true;
  }

  /** Alternatives up to a ")" or the end, each a list of items (anchors included, for the top level). */
  alternatives(): Parsed[][] {
    const options: Parsed[][] = [this.sequence()];
    while (this.eat("|")) options.push(this.sequence());
    return options;
  }

  private group(): RegexNode {
    const options = this.alternatives();
    if (!this.eat(")")) throw new UnsupportedPattern("an unclosed group");
    return {
      kind: "alt",
      options: options.map((items) => {
        if (items.some((n) => n.kind === "start" || n.kind === "end")) throw new UnsupportedPattern("an anchor inside a group");
        return { kind: "seq", items: items as RegexNode[] };
      }),
    };
  }

  private sequence(): Parsed[] {
    const items: Parsed[] = [];
    for (let c = this.peek(); c !== undefined && c !== "|" && c !== ")"; c = this.peek()) {
      const atom = this.atom();
      items.push(atom.kind === "start" || atom.kind === "end" ? atom : this.quantified(atom));
    }
    return items;
  }

  private atom(): Parsed {
    const c = this.next();
    switch (c) {
      case "^":
        return { kind: "start" };
      case "$":
        return { kind: "end" };
      case ".":
        return { kind: "chars", set: DOT };
      case "[":
        return { kind: "chars", set: this.charClass() };
      case "(":
        if (this.eat("?")) {
          if (this.eat(":")) return this.group();
          if (this.eat("<") && this.peek() !== "=" && this.peek() !== "!") {
            while (this.next() !== ">");
            return this.group();
          }
          throw new UnsupportedPattern("look-around");
        }
        return this.group();
      case "\\":
        return { kind: "chars", set: this.escape(false) };
      case "*":
      case "+":
      case "?":
      case "{":
      case ")":
      case "]":
      case "}":
        throw new UnsupportedPattern(`"${c}" with nothing to repeat or match`);
      default:
        return { kind: "chars", set: single(c.codePointAt(0)!) };
    }
  }

  private quantified(node: RegexNode): RegexNode {
    let min: number;
    let max: number;
    const c = this.peek();
    if (c === "*") [min, max] = [0, Infinity];
    else if (c === "+") [min, max] = [1, Infinity];
    else if (c === "?") [min, max] = [0, 1];
    else if (c === "{") {
      const match = /^\{(\d+)(,(\d*))?\}/.exec(this.chars.slice(this.pos, this.pos + 24).join(""));
      if (!match) throw new UnsupportedPattern('a "{" that is not a quantifier');
      min = Number(match[1]);
      max = match[2] === undefined ? min : match[3] === "" ? Infinity : Number(match[3]);
      if (max < min) throw new UnsupportedPattern("a quantifier whose maximum is below its minimum");
      this.pos += match[0].length - 1;
    } else return node;
    this.pos++;
    this.eat("?"); // lazy: matches the same strings
    return this.quantified({ kind: "repeat", node, min, max });
  }

  private charClass(): CharSet {
    const negated = this.eat("^");
    const parts: CharSet[] = [];
    while (!this.eat("]")) {
      const from = this.classAtom();
      if (this.peek() === "-" && this.chars[this.pos + 1] !== "]" && this.chars[this.pos + 1] !== undefined) {
        this.pos++;
        const to = this.classAtom();
        if (from.length !== 1 || to.length !== 1 || from[0][0] !== from[0][1] || to[0][0] !== to[0][1])
          throw new UnsupportedPattern("a class range between sets");
        if (to[0][0] < from[0][0]) throw new UnsupportedPattern("a class range out of order");
        parts.push([[from[0][0], to[0][0]]]);
      } else parts.push(from);
    }
    const set = union(...parts);
    return negated ? complement(set) : set;
  }

  private classAtom(): CharSet {
    const c = this.next();
    if (c !== "\\") return single(c.codePointAt(0)!);
    return this.escape(true);
  }

  private escape(inClass: boolean): CharSet {
    const c = this.next();
    switch (c) {
      case "d":
        return DIGITS;
      case "D":
        return complement(DIGITS);
      case "w":
        return WORD;
      case "W":
        return complement(WORD);
      case "s":
        return SPACE;
      case "S":
        return complement(SPACE);
      case "b":
        if (inClass) return single(0x08);
        throw new UnsupportedPattern("a word boundary (\\b)");
      case "x":
        return single(this.hex(2));
      case "u":
        if (this.eat("{")) {
          let digits = "";
          while (!this.eat("}")) digits += this.next();
          const cp = Number.parseInt(digits, 16);
          if (!/^[0-9a-fA-F]+$/.test(digits) || cp > 0x10ffff) throw new UnsupportedPattern("a bad \\u{...} escape");
          return single(cp);
        }
        return single(this.hex(4));
      case "-":
        if (inClass) return single(0x2d);
        break;
    }
    if (c in SIMPLE_ESCAPES && !(c === "0" && /\d/.test(this.peek() ?? ""))) return single(SIMPLE_ESCAPES[c]);
    if (SYNTAX.includes(c)) return single(c.codePointAt(0)!);
    throw new UnsupportedPattern(`the escape \\${c}`);
  }

  private hex(length: number): number {
    let digits = "";
    for (let i = 0; i < length; i++) digits += this.next();
    if (!/^[0-9a-fA-F]+$/.test(digits)) throw new UnsupportedPattern("a bad hex escape");
    return Number.parseInt(digits, 16);
  }
}
