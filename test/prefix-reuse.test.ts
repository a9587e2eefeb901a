/** The prefix reuse policy on its own: which candidate's KV a generation starts from, and why. */
import { describe, expect, it } from "vitest";

import type { NativeSequence } from "../lib/engine/native-types.js";
import { PrefixCache } from "../lib/engine/prefix-cache.js";
import { pickIdle, planReuse, type KvDonor } from "../lib/engine/prefix-reuse.js";
import type { SequenceState } from "../lib/engine/sequence-state.js";

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const groupA = {};
const groupB = {};

function donor(evaluatedTokens: number[], options: Partial<Omit<KvDonor, "evaluatedTokens">> = {}): KvDonor {
  return { evaluatedTokens, longRope: false, busy: false, group: undefined, native: {} as NativeSequence, ...options };
}

function cached(tokens: number[], longRope = false): SequenceState {
  const layout = { fingerprint: "x", kvType: "float32" as const, layers: 1, kvHeads: 1, headSize: 4, vocabSize: 1000 };
  return { ...layout, tokens: Int32Array.from(tokens), kvLength: tokens.length, longRope, kv: new Uint8Array(tokens.length * 32) };
}

describe("planReuse", () => {
  const target = range(0, 40);
  const plan = (own: KvDonor, donors: KvDonor[], cache: PrefixCache | null = null, ropeOriginalLength = 0) =>
    planReuse(target, { own, donors, cache, ropeOriginalLength });

  it("reuses the sequence's own KV at any length, but always leaves the last token to run", () => {
    expect(plan(donor(range(0, 3)), [])).toEqual({ source: "self", length: 3 });
    expect(plan(donor(range(0, 50)), [])).toEqual({ source: "self", length: 39 });
    expect(plan(donor([]), [])).toEqual({ source: "none", length: 0 });
  });

  it("takes a longer prefix from another sequence, not one under the cache's minimum", () => {
    const other = donor(range(0, 30));
    expect(plan(donor(range(0, 5)), [other])).toMatchObject({ source: "sequence", length: 30, donor: other });
    const cache = new PrefixCache({ minTokens: 31 });
    expect(plan(donor(range(0, 5)), [other], cache)).toEqual({ source: "self", length: 5 });
  });

  it("skips a busy sequence unless it decodes in the same context, and KV under the other RoPE regime", () => {
    const own = donor([], { group: groupA });
    expect(plan(own, [donor(range(0, 30), { busy: true, group: groupB })]).source).toBe("none");
    expect(plan(own, [donor(range(0, 30), { busy: true, group: groupA })]).source).toBe("sequence");
    expect(plan(own, [donor(range(0, 30), { longRope: true })]).source).toBe("none");
    // A 40-token target is past a switch at 32: only long-regime KV counts, its own included.
    expect(plan(donor(range(0, 30), { longRope: false }), [donor(range(0, 20), { longRope: true })], null, 32)).toMatchObject({
      source: "sequence",
      length: 20,
    });
  });

  it("takes the prefix cache's state when it is the longest", () => {
    const cache = new PrefixCache({ minTokens: 4 });
    cache.add(cached(range(0, 35)));
    const result = plan(donor(range(0, 5)), [donor(range(0, 30))], cache);
    expect(result).toMatchObject({ source: "cache", length: 35 });
  });
});

describe("pickIdle", () => {
  it("takes the idle sequence sharing the longest prefix, the first on a tie, any when none shares", () => {
    const idle = [{ evaluatedTokens: [1, 2] }, { evaluatedTokens: [5, 6, 7] }, { evaluatedTokens: [5, 6, 8] }];
    expect(pickIdle(idle, [5, 6, 7, 9])).toBe(1);
    expect(pickIdle(idle, [5, 6])).toBe(1);
    expect(pickIdle(idle, [9])).toBe(0);
    expect(pickIdle([], [1])).toBe(-1);
  });
});
