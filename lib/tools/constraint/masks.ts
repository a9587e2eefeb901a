/**
 * Token masks for automaton states: walk the vocabulary trie from the state, keeping each token whose
 * bytes the grammar accepts. Masks are cached by state key (LRU, bounded in bytes), since generations
 * revisit the same states: between keys, after a comma, inside strings of a given room.
 */
import { advance, type State } from "./automaton.js";
import { StringFrame } from "./frames.js";
import { UnionFrame } from "./union-frame.js";
import type { ByteTrie } from "./trie.js";
import type { Vocabulary } from "./vocabulary.js";

export interface MaskEntry {
  /** Bit i set = token i allowed (shared: never modify). */
  readonly bits: Uint8Array;
  /** The most any allowed token adds to the state's distance (bytes left to finish). */
  readonly growth: number;
}

export class MaskCache {
  private readonly entries = new Map<string, MaskEntry>();
  private readonly capacity: number;

  constructor(
    private readonly vocabulary: Vocabulary,
    budgetBytes = 64 << 20,
  ) {
    this.capacity = Math.max(1, Math.floor(budgetBytes / vocabulary.maskBytes));
  }

  /**
   * The tokens allowed at `state`; with `slack`, only those after which the distance grows by at most
   * that much (near the end of the token budget). Both depend only on the state's key and the slack.
   */
  get(state: State, slack = Number.POSITIVE_INFINITY): MaskEntry {
    const key = slack === Number.POSITIVE_INFINITY ? state.key : `${state.key}@${slack}`;
    let entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key); // most recently used goes last
    } else {
      entry = state.top instanceof UnionFrame ? this.unionMask(state, state.top, slack) : computeMask(this.vocabulary, state, state.distance + slack);
      if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
    }
    this.entries.set(key, entry);
    return entry;
  }

  /**
   * A union's mask: the tokens some live branch allows, each branch's mask computed as a state of its
   * own (so a branch inside a string gets the string's fast masks). A token after which the union's
   * distance fits the limit is one after which some branch's does.
   */
  private unionMask(state: State, union: UnionFrame, slack: number): MaskEntry {
    const bits = new Uint8Array(this.vocabulary.maskBytes);
    const limit = state.distance + slack;
    let growth = Number.NEGATIVE_INFINITY;
    for (const alternative of union.alternatives(state.below)) {
      const entry = this.get(alternative, limit - alternative.distance);
      for (let i = 0; i < bits.length; i++) bits[i] |= entry.bits[i];
      growth = Math.max(growth, entry.growth + alternative.distance - state.distance);
    }
    return { bits, growth };
  }
}

/** The tokens allowed at `state` after which at most `limit` bytes remain to finish (Infinity: all). */
function computeMask(vocabulary: Vocabulary, state: State, limit: number): MaskEntry {
  const bits = new Uint8Array(vocabulary.maskBytes);
  const base = state.distance;
  let growth = Number.NEGATIVE_INFINITY;
  let trie: ByteTrie = vocabulary.trie;
  const top = state.top;
  if (top instanceof StringFrame && top.phase === "text") {
    // Tokens that stay inside the string depend only on its room and need, not on the grammar around
    // it: they come from the vocabulary's precomputed classes, and only tokens that close it are walked.
    // (Mid-escape or mid-character, few bytes can follow: the whole trie prunes fast there.)
    growth = addStringTokens(bits, vocabulary, top, base, limit);
    trie = vocabulary.closingTrie;
  }
  const visit = (node: number, s: State) => {
    const first = trie.firstEdge[node];
    const end = first + trie.edgeCount[node];
    for (let e = first; e < end; e++) {
      const next = advance(s, trie.edgeByte[e]);
      if (next === null) continue;
      const child = trie.edgeChild[e];
      if (trie.token[child] >= 0 && next.distance <= limit) {
        growth = Math.max(growth, next.distance - base);
        for (let t = trie.token[child]; t >= 0; t = trie.sameBytes[t]) bits[t >> 3] |= 1 << (t & 7);
      }
      if (trie.edgeCount[child] > 0) visit(child, next);
    }
  };
  visit(0, state);
  return { bits, growth };
}

/**
 * Adds the tokens that stay inside a string (in its text phase) and fit its room and the limit. A
 * token of c characters lowers the distance by min(c, characters still needed) and may owe the bytes
 * of an escape or a character it leaves open. Returns the most it raises the distance.
 */
function addStringTokens(bits: Uint8Array, vocabulary: Vocabulary, top: StringFrame, distance: number, limit: number): number {
  let growth = Number.NEGATIVE_INFINITY;
  // Plain tokens owe nothing, so the limit is a bound on their length: masks by length do it.
  const fewest = Math.max(1, distance - limit);
  if (fewest <= top.room && (distance <= limit || fewest <= top.need)) {
    const all = vocabulary.plainMask(top.room);
    const tooShort = vocabulary.plainMask(fewest - 1);
    for (let i = 0; i < bits.length; i++) bits[i] |= all[i] & ~tooShort[i];
    growth = 0;
  }
  for (const { id, chars, owed } of vocabulary.inner) {
    const delta = owed - Math.min(chars, top.need);
    if (chars <= top.room && distance + delta <= limit) {
      bits[id >> 3] |= 1 << (id & 7);
      growth = Math.max(growth, delta);
    }
  }
  return growth;
}
