// o200k_base as a Hugging Face BPE vocabulary + merge list, derived from js-tiktoken's rank table.
//
// tiktoken has no merge list: it repeatedly joins the adjacent pair whose concatenation has the lowest
// rank. A merge list that reproduces it is found per token: run tiktoken's procedure on the token's own
// bytes using only ranks below the token's rank; it stops at exactly two parts, which are that token's
// merge, and the merge's priority is the token's rank (the method of HF's tiktoken converter).

import o200k from "js-tiktoken/ranks/o200k_base";
import { binaryToByteLevel } from "./byte-level.js";

export interface BpeTables {
  vocab: Record<string, number>;
  merges: string[];
  /** Number of BPE ids (0..size-1); added tokens start at or after it. */
  size: number;
}

/** Token byte strings (latin1, one char per byte) indexed by rank. */
function loadRanks(): string[] {
  const tokens: string[] = [];
  for (const line of o200k.bpe_ranks.split("\n")) {
    if (!line) continue;
    const [, offsetStr, ...encoded] = line.split(" ");
    const offset = Number.parseInt(offsetStr, 10);
    encoded.forEach((b64, i) => (tokens[offset + i] = Buffer.from(b64, "base64").toString("latin1")));
  }
  return tokens;
}

// Merge simulation does ~4M lookups of byte strings that are not yet strings (a part joined to its
// neighbour). A string-keyed Map makes that take seconds, so byte strings are identified by a polynomial
// hash instead: two moduli below 2^26, combinable from a pair's halves in O(1), stored in an
// open-addressing table of typed arrays. A hit is confirmed by length; the pair of hashes (51 bits) makes
// a false match vanishingly unlikely, and the result is fixed for the fixed rank table (the tests compare
// the finished tokenizer against an independent o200k implementation).
const P1 = 67108859; // 2^26 - 5
const P2 = 33554393; // 2^25 - 39
const BASE = 257;
const TABLE_BITS = 20;
const TABLE_MASK = (1 << TABLE_BITS) - 1;

class RankIndex {
  // Slot holds h1 + 1 (0 = empty), h2, and the rank of the token with those hashes.
  private readonly slotH1 = new Int32Array(1 << TABLE_BITS);
  private readonly slotH2 = new Int32Array(1 << TABLE_BITS);
  private readonly slotRank = new Int32Array(1 << TABLE_BITS);

  constructor(private readonly tokens: string[]) {
    tokens.forEach((token, rank) => {
      let h1 = 0;
      let h2 = 0;
      for (let i = 0; i < token.length; i++) {
        const c = token.charCodeAt(i) + 1;
        h1 = (h1 * BASE + c) % P1;
        h2 = (h2 * BASE + c) % P2;
      }
      let slot = h1 & TABLE_MASK;
      while (this.slotH1[slot] !== 0) {
        if (this.slotH1[slot] === h1 + 1 && this.slotH2[slot] === h2) throw new Error("o200k hash collision");
        slot = (slot + 1) & TABLE_MASK;
      }
      this.slotH1[slot] = h1 + 1;
      this.slotH2[slot] = h2;
      this.slotRank[slot] = rank;
    });
  }

  /** Rank of the byte string with these hashes and length, or Infinity when it is not a token. */
  rankOf(h1: number, h2: number, length: number): number {
    for (let slot = h1 & TABLE_MASK; this.slotH1[slot] !== 0; slot = (slot + 1) & TABLE_MASK) {
      if (this.slotH1[slot] === h1 + 1 && this.slotH2[slot] === h2) {
        const rank = this.slotRank[slot];
        return this.tokens[rank].length === length ? rank : Infinity;
      }
    }
    return Infinity;
  }
}

/** Scratch arrays for lastMergeSplit, reused across tokens (allocating typed arrays per token dominated). */
class Scratch {
  next = new Int32Array(0);
  h1 = new Float64Array(0);
  h2 = new Float64Array(0);
  p1 = new Float64Array(0); // BASE^length of the part, mod P1
  p2 = new Float64Array(0);
  pairRank = new Float64Array(0); // rank of part i joined with the part after it

  ensure(n: number): void {
    if (this.next.length > n) return;
    const size = 2 * (n + 1);
    this.next = new Int32Array(size);
    for (const key of ["h1", "h2", "p1", "p2", "pairRank"] as const) this[key] = new Float64Array(size);
  }
}

/** Where tiktoken's merging splits `token` into its last two parts when limited to ranks below `maxRank`.
 * Parts are indexed by their first byte and linked by `next`, so merging allocates nothing. */
function lastMergeSplit(token: string, maxRank: number, index: RankIndex, scratch: Scratch): number {
  const n = token.length;
  scratch.ensure(n);
  const { next, h1, h2, p1, p2, pairRank } = scratch;
  for (let i = 0; i < n; i++) {
    next[i] = i + 1;
    h1[i] = h2[i] = token.charCodeAt(i) + 1;
    p1[i] = p2[i] = BASE;
  }
  const joinRank = (i: number) => {
    const j = next[i];
    if (j >= n) return Infinity;
    return index.rankOf((h1[i] * p1[j] + h1[j]) % P1, (h2[i] * p2[j] + h2[j]) % P2, next[j] - i);
  };
  for (let i = 0; i < n; i++) pairRank[i] = joinRank(i);
  let parts = n;
  for (;;) {
    let best = -1;
    let bestRank = maxRank;
    let prevOfBest = -1;
    for (let i = 0, prev = -1; i < n; prev = i, i = next[i]) {
      if (pairRank[i] < bestRank) {
        bestRank = pairRank[i];
        best = i;
        prevOfBest = prev;
      }
    }
    if (best < 0) break;
    const j = next[best];
    h1[best] = (h1[best] * p1[j] + h1[j]) % P1;
    h2[best] = (h2[best] * p2[j] + h2[j]) % P2;
    p1[best] = (p1[best] * p1[j]) % P1;
    p2[best] = (p2[best] * p2[j]) % P2;
    next[best] = next[j];
    parts--;
    pairRank[best] = joinRank(best);
    if (prevOfBest >= 0) pairRank[prevOfBest] = joinRank(prevOfBest);
  }
  if (parts !== 2) throw new Error(`o200k token of rank ${maxRank} is not reachable by one merge`);
  return next[0];
}

export function buildO200k(): BpeTables {
  const tokens = loadRanks();
  const index = new RankIndex(tokens);
  const scratch = new Scratch();
  // A null-prototype object takes 200k string keys about twice as fast as a plain one.
  const vocab: Record<string, number> = Object.create(null);
  const merges: string[] = [];
  tokens.forEach((token, rank) => {
    const text = binaryToByteLevel(token);
    vocab[text] = rank;
    if (token.length < 2) return;
    // One byte-level char per byte, so the byte split index splits the vocab string too. Byte-level
    // strings never contain a space, so the classic "a b" merge format is unambiguous and readable by
    // every tokenizer.json consumer (onnxruntime-extensions included).
    const split = lastMergeSplit(token, rank, index, scratch);
    merges.push(`${text.slice(0, split)} ${text.slice(split)}`);
  });
  return { vocab, merges, size: tokens.length };
}
