/**
 * A tolerant reader of the JSON-like values models write in tool calls: JSON, plus Python literals
 * (single-quoted strings, True/False/None, \x escapes), bare object keys and trailing commas.
 *
 * A recursive-descent parser rather than regular expressions, because arguments nest arbitrarily
 * (vLLM's regex parser cuts calls whose arguments contain arrays). It reports where a value ends so a
 * caller can read several values in a row, and tells "the text stopped early" apart from "the text is
 * wrong", which a streaming caller needs to decide whether to wait for more.
 */

export class LiteralError extends Error {
  constructor(
    message: string,
    /** Offset of the problem in the text. */
    readonly offset: number,
    /** True when the text ended before the value did (more text could complete it). */
    readonly incomplete: boolean,
  ) {
    super(message);
  }
}

const MAX_DEPTH = 256;
const IDENTIFIERS: Record<string, unknown> = { true: true, false: false, null: null, True: true, False: false, None: null };
const SIMPLE_ESCAPES: Record<string, string> = { '"': '"', "'": "'", "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", "\n": "" };

/**
 * Reads one value starting at `start` (leading whitespace skipped). `final` says the text is complete:
 * when false, a number or word that reaches the end of the text is incomplete (more digits may come).
 */
export function parseLiteral(text: string, start = 0, final = true): { value: unknown; end: number } {
  const reader = new Reader(text, final);
  reader.pos = start;
  const value = reader.value(0);
  return { value, end: reader.pos };
}

export function isWhitespace(c: string | undefined): boolean {
  return c === " " || c === "\n" || c === "\t" || c === "\r";
}

class Reader {
  pos = 0;

  constructor(
    private readonly text: string,
    private readonly final: boolean,
  ) {}

  value(depth: number): unknown {
    if (depth > MAX_DEPTH) throw this.error(`nested deeper than ${MAX_DEPTH} levels`);
    this.skipWhitespace();
    const c = this.peek();
    if (c === "{") return this.object(depth);
    if (c === "[") return this.array(depth);
    if (c === '"' || c === "'") return this.string();
    if (c !== undefined && /[-+.0-9]/.test(c)) return this.number();
    if (c !== undefined && /[A-Za-z_]/.test(c)) {
      const start = this.pos;
      const word = this.word();
      if (Object.hasOwn(IDENTIFIERS, word)) return IDENTIFIERS[word];
      this.pos = start;
      throw this.error(`unexpected word "${word}"`);
    }
    throw this.error(c === undefined ? "expected a value" : `unexpected "${c}"`);
  }

  private object(depth: number): Record<string, unknown> {
    this.pos++; // {
    const out: Record<string, unknown> = {};
    this.members("}", () => {
      const key = this.key();
      this.skipWhitespace();
      this.expect(":");
      out[key] = this.value(depth + 1);
    });
    return out;
  }

  private array(depth: number): unknown[] {
    this.pos++; // [
    const out: unknown[] = [];
    this.members("]", () => out.push(this.value(depth + 1)));
    return out;
  }

  /** Comma-separated members up to `close`; a trailing comma is allowed. */
  private members(close: string, member: () => void): void {
    for (;;) {
      this.skipWhitespace();
      if (this.peek() === close) {
        this.pos++;
        return;
      }
      member();
      this.skipWhitespace();
      const c = this.peek();
      if (c === ",") this.pos++;
      else if (c !== close) throw this.error(c === undefined ? `expected "," or "${close}"` : `expected "," or "${close}", got "${c}"`);
    }
  }

  private key(): string {
    const c = this.peek();
    if (c === '"' || c === "'") return this.string();
    if (c !== undefined && /[A-Za-z_$]/.test(c)) return this.word();
    throw this.error(c === undefined ? "expected a key" : `expected a key, got "${c}"`);
  }

  private string(): string {
    const quote = this.text[this.pos++];
    let out = "";
    for (;;) {
      const c = this.text[this.pos++];
      if (c === undefined) throw this.error("unterminated string", true);
      if (c === quote) return out;
      if (c !== "\\") {
        out += c;
        continue;
      }
      const e = this.text[this.pos++];
      if (e === undefined) throw this.error("unterminated string", true);
      if (Object.hasOwn(SIMPLE_ESCAPES, e)) out += SIMPLE_ESCAPES[e];
      else if (e === "u") out += this.hexChar(4);
      else if (e === "x") out += this.hexChar(2);
      else if (e === "U") out += this.hexChar(8);
      else out += "\\" + e; // Python keeps unknown escapes as written
    }
  }

  private hexChar(digits: number): string {
    const hex = this.text.slice(this.pos, this.pos + digits);
    if (hex.length < digits && /^[0-9a-fA-F]*$/.test(hex)) throw this.error("unterminated string", true);
    const code = /^[0-9a-fA-F]+$/.test(hex) ? parseInt(hex, 16) : NaN;
    if (!(code <= 0x10ffff)) throw this.error(`bad escape "${hex}"`);
    this.pos += digits;
    return String.fromCodePoint(code);
  }

  private number(): number {
    const start = this.pos;
    const match = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(this.text.slice(start, start + 400));
    if (!match) throw this.error("bad number", start + 1 >= this.text.length && !this.final);
    this.pos += match[0].length;
    this.atTokenEnd();
    return Number(match[0]);
  }

  private word(): string {
    const match = /^[A-Za-z_$][\w$]*/.exec(this.text.slice(this.pos, this.pos + 200))!;
    this.pos += match[0].length;
    this.atTokenEnd();
    return match[0];
  }

  /** A number or word that runs to the end of unfinished text may go on in the next chunk. */
  private atTokenEnd(): void {
    if (this.pos >= this.text.length && !this.final) throw this.error("incomplete", true);
  }

  private skipWhitespace(): void {
    while (isWhitespace(this.text[this.pos])) this.pos++;
  }

  private expect(c: string): void {
    const got = this.peek();
    if (got !== c) throw this.error(got === undefined ? `expected "${c}"` : `expected "${c}", got "${got}"`);
    this.pos++;
  }

  private peek(): string | undefined {
    return this.text[this.pos];
  }

  /** Running into the end of the text is always "incomplete"; anything else is a syntax error. */
  private error(message: string, incomplete = this.pos >= this.text.length): LiteralError {
    return new LiteralError(message, this.pos, incomplete);
  }
}
