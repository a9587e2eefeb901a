/**
 * The model-level prefix cache: saved sequence states (host memory), looked up by the longest common
 * token prefix. Tokens are compared one by one, never trusted by length; a state is only offered to a
 * request under the same LongRoPE regime. Least recently used entries go first when the byte budget
 * is exceeded.
 */
import { constants as bufferConstants } from "node:buffer";
import os from "node:os";

import type { SequenceState } from "./sequence-state.js";

export interface PrefixCacheOptions {
  /** Byte budget for cached KV. Default: 2 GiB or an eighth of the machine's memory, whichever is less. */
  maxBytes?: number;
  /** Shorter prefixes are not worth a copy: they are neither stored nor reused. Default 16. */
  minTokens?: number;
}

export interface PrefixCacheStats {
  /** Lookups that reused at least minTokens of a prefix (a cached state, an idle sequence or the sequence's own KV). */
  hits: number;
  misses: number;
  /** Tokens whose prefill was skipped thanks to reuse (including a sequence's own KV). */
  reusedTokens: number;
  /** Tokens that had to be prefilled after the reused prefix. */
  prefilledTokens: number;
  entries: number;
  bytes: number;
  maxBytes: number;
  inserts: number;
  evictions: number;
}

export interface PrefixMatch {
  state: SequenceState;
  length: number;
}

/** Length of the common prefix of two token lists. */
export function commonPrefixLength(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export class PrefixCache {
  readonly maxBytes: number;
  readonly minTokens: number;
  /** Insertion order is recency order: a hit moves its entry to the end. */
  private readonly entries = new Map<SequenceState, number>();
  private bytes = 0;
  private readonly counters = { hits: 0, misses: 0, reusedTokens: 0, prefilledTokens: 0, inserts: 0, evictions: 0 };

  constructor(options: PrefixCacheOptions = {}) {
    this.maxBytes = options.maxBytes ?? Math.min(2 * 2 ** 30, Math.floor(os.totalmem() / 8));
    this.minTokens = options.minTokens ?? 16;
  }

  /**
   * Stores a state. A state that extends a cached one replaces it; one already covered by a cached
   * state (its tokens a prefix of that entry's KV) is not stored twice.
   */
  add(state: SequenceState): void {
    const size = state.kv.byteLength;
    if (state.kvLength < this.minTokens || size > this.maxBytes) return;
    const tokens = state.tokens.subarray(0, state.kvLength);
    for (const entry of this.entries.keys()) {
      if (entry.longRope !== state.longRope) continue;
      const common = commonPrefixLength(entry.tokens.subarray(0, entry.kvLength), tokens);
      if (common === state.kvLength) return; // already covered
      if (common === entry.kvLength) this.remove(entry); // superseded
    }
    this.entries.set(state, size);
    this.bytes += size;
    this.counters.inserts++;
    for (const oldest of this.entries.keys()) {
      if (this.bytes <= this.maxBytes) break;
      this.remove(oldest);
      this.counters.evictions++;
    }
  }

  /** Whether a state of `bytes` of KV could be kept (within the budget, and in one Node.js buffer): a larger one is not worth the copy. */
  fits(bytes: number): boolean {
    return bytes <= this.maxBytes && bytes <= bufferConstants.MAX_LENGTH;
  }

  /**
   * The cached state sharing the longest prefix with `tokens` (at most `limit` tokens used), if any.
   * A lookup does not count as use: the caller may take a longer prefix elsewhere; see `use`.
   */
  match(tokens: ArrayLike<number>, longRope: boolean, limit: number): PrefixMatch | undefined {
    let best: PrefixMatch | undefined;
    for (const state of this.entries.keys()) {
      if (state.longRope !== longRope) continue;
      const length = Math.min(commonPrefixLength(state.tokens.subarray(0, state.kvLength), tokens), limit);
      if (length >= this.minTokens && length > (best?.length ?? 0)) best = { state, length };
    }
    return best;
  }

  /** Marks a state returned by `match` as just used (most recent), if it is still cached. */
  use(state: SequenceState): void {
    const size = this.entries.get(state);
    if (size === undefined) return;
    this.entries.delete(state);
    this.entries.set(state, size);
  }

  /** Records the outcome of one lookup (reused may come from the cache, an idle sequence or the sequence itself). */
  record(hit: boolean, reusedTokens: number, prefilledTokens: number): void {
    if (hit) this.counters.hits++;
    else this.counters.misses++;
    this.counters.reusedTokens += reusedTokens;
    this.counters.prefilledTokens += prefilledTokens;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  get stats(): PrefixCacheStats {
    return { ...this.counters, entries: this.entries.size, bytes: this.bytes, maxBytes: this.maxBytes };
  }

  private remove(state: SequenceState): void {
    this.bytes -= this.entries.get(state) ?? 0;
    this.entries.delete(state);
  }
}
