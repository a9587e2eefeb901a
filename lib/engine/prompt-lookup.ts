/**
 * Prompt-lookup drafting for speculative decoding (docs/speculative.md): the tokens that followed the
 * most recent earlier occurrence of the sequence's last n tokens (n from `maxNgram` down to
 * `minNgram`, longest first) are proposed as what comes next. Agent output repeats its context a lot
 * (a tool call quotes a path or an id, an edit rewrites a file it was shown), so these guesses are
 * often right, and they cost no second model.
 *
 * The draft length adapts: it grows after a draft is accepted whole and shrinks to just past the
 * accepted part after a rejection; drafts rejected outright in a row pause the lookup for a growing
 * number of steps, so output that does not repeat its context (free text) runs as plain decoding.
 */
import { Phi4Error } from "./errors.js";

export interface SpeculativeOptions {
  /**
   * Most tokens one step proposes. Default 7: a verify run of 8 rows, one register tile of the AVX-512
   * int4 kernel (docs/speculative.md).
   */
  maxDraft?: number;
  /** Longest suffix looked up, in tokens. Default 3. */
  maxNgram?: number;
  /** Shortest suffix looked up, in tokens. Default 1. */
  minNgram?: number;
  /**
   * Most rows of a batched decode step that carries drafts (each sequence's row then runs as many
   * positions as the longest draft). Default: half the int4 kernel's register tile, 4 on AVX-512 and
   * 2 on AVX2, where a step is still bound by its weight reads; past it the extra rows cost more than
   * drafts give back on text that does not repeat (docs/speculative.md).
   */
  batchRows?: number;
}

// minNgram 1: a copy often starts from one matching token (the first token of a quoted id), and a
// draft that fails costs a few rows of one run (the adaptive size keeps it short); measured on
// phi4-mini, 2 would halve the tool-call gain (docs/speculative.md).
const DEFAULTS = { maxDraft: 7, maxNgram: 3, minNgram: 1 };
/** The draft length a generation starts with. */
const FIRST_DRAFT = 4;
/** Longest pause, in steps, after drafts rejected outright in a row. */
const MAX_PAUSE = 32;

/** SpeculativeOptions with their defaults (batchRows stays unset: the native default). */
export type ResolvedSpeculativeOptions = Required<Omit<SpeculativeOptions, "batchRows">> & Pick<SpeculativeOptions, "batchRows">;

/** Checked speculative options with their defaults. */
export function resolveSpeculative(options: SpeculativeOptions = {}): ResolvedSpeculativeOptions {
  const resolved = { ...DEFAULTS, ...options };
  for (const [name, value] of Object.entries(resolved)) {
    if (value === undefined && name === "batchRows") continue;
    if (!Number.isInteger(value) || value < 1 || value > 64)
      throw new Phi4Error("INVALID_ARGUMENT", `speculative.${name} must be an integer from 1 to 64 (got ${value})`);
  }
  if (resolved.minNgram > resolved.maxNgram)
    throw new Phi4Error("INVALID_ARGUMENT", `speculative.minNgram (${resolved.minNgram}) must not exceed maxNgram (${resolved.maxNgram})`);
  return resolved;
}

export class PromptLookup {
  private readonly tokens: number[] = [];
  /**
   * Per n - minNgram: a key of n tokens -> where the tokens after its most recent occurrence start.
   * The sequence's own suffix is indexed only once a token follows it. Keys may collide (and
   * entries go stale after a truncation): a hit is checked against the tokens before it is used.
   */
  private readonly index: Map<number, number>[];
  private size = FIRST_DRAFT;
  private failures = 0;
  private pause = 0;

  constructor(
    private readonly vocabSize: number,
    private readonly options: ResolvedSpeculativeOptions,
  ) {
    this.index = Array.from({ length: options.maxNgram - options.minNgram + 1 }, () => new Map());
  }

  get length(): number {
    return this.tokens.length;
  }

  /** Appends tokens of the sequence (its context first, then each token of the output). */
  push(...tokens: readonly number[]): void {
    for (const token of tokens) {
      const end = this.tokens.length;
      // The n-grams ending here stop being the suffix: they are indexed, pointing at `token`.
      for (let n = this.options.minNgram; n <= this.options.maxNgram && n <= end; n++) this.index[n - this.options.minNgram].set(this.key(end - n, n), end);
      this.tokens.push(token);
    }
  }

  /** Keeps the first `length` tokens (the sequence took some back). */
  truncate(length: number): void {
    this.tokens.length = Math.min(this.tokens.length, length);
  }

  /**
   * Up to `limit` tokens guessed to follow the sequence; none when nothing matches, the lookup is
   * paused, or `limit` is below 1. A stop token ends the draft (it is its last token).
   */
  propose(limit: number, stopTokens: ReadonlySet<number>): number[] {
    if (this.pause > 0) {
      this.pause--;
      return [];
    }
    const want = Math.min(this.size, limit);
    if (want < 1) return [];
    const length = this.tokens.length;
    for (let n = Math.min(this.options.maxNgram, length - 1); n >= this.options.minNgram; n--) {
      const start = this.index[n - this.options.minNgram].get(this.key(length - n, n));
      if (start === undefined || start >= length || !this.matches(start - n, length - n, n)) continue;
      // One matching token is weak evidence (free text repeats single tokens all the time): its draft
      // is one token, which costs a verify run one row; once that is accepted, longer matches follow.
      const most = n === 1 ? Math.min(want, 1) : want;
      const draft: number[] = [];
      for (let i = start; i < length && draft.length < most; i++) {
        draft.push(this.tokens[i]);
        if (stopTokens.has(this.tokens[i])) break;
      }
      return draft;
    }
    return [];
  }

  /** How the last draft fared: `accepted` of its `proposed` tokens. */
  record(proposed: number, accepted: number): void {
    if (proposed === 0) return;
    if (accepted === proposed) this.size = Math.min(this.options.maxDraft, this.size + 2);
    else this.size = Math.max(1, accepted + 1);
    this.failures = accepted === 0 ? this.failures + 1 : 0;
    // Two outright rejections in a row pause the lookup 1 step, then 2, 4, ... up to MAX_PAUSE.
    if (this.failures >= 2) this.pause = Math.min(MAX_PAUSE, 2 ** (this.failures - 2));
  }

  private key(from: number, n: number): number {
    // Exact for n <= 2 with vocabularies up to 2^26; longer keys fold (collisions are checked).
    let key = 0;
    for (let i = from; i < from + n; i++) key = (key % 2 ** 32) * this.vocabSize + this.tokens[i];
    return key;
  }

  private matches(a: number, b: number, n: number): boolean {
    for (let i = 0; i < n; i++) if (this.tokens[a + i] !== this.tokens[b + i]) return false;
    return true;
  }
}
