/**
 * Prefix reuse: the one policy that decides where a generation's context starts from: which idle
 * sequence of a context a request takes (pickIdle), and which KV it starts from (planReuse). Candidates are
 * the sequence's own KV, the other sequences of the model that offer theirs (idle ones, or siblings of
 * the same context, whose copy waits for a gap between steps), and the prefix cache. The policy reads
 * what each candidate says it holds and picks the longest usable prefix; the sequence then applies
 * the plan with its own native operations.
 */
import type { NativeSequence } from "./native-types.js";
import { commonPrefixLength, type PrefixCache } from "./prefix-cache.js";
import { isLongRopeRegime } from "./rope-regime.js";
import type { SequenceState } from "./sequence-state.js";

/** Where a generation's reused prefix came from. */
export type ReuseSource = "none" | "self" | "cache" | "disk" | "sequence";

export interface ReuseResult {
  source: ReuseSource;
  /** Prompt tokens whose KV was reused instead of prefilled. */
  reusedTokens: number;
}

/** What a sequence offers as a source of KV: a read-only view, and the native handle to copy from. */
export interface KvDonor {
  /** Tokens whose KV is in the cache. */
  readonly evaluatedTokens: readonly number[];
  readonly longRope: boolean;
  /** Running an operation now (a copy from it must wait for a gap between its steps). */
  readonly busy: boolean;
  /** The scheduler its steps go through, if it belongs to a context. */
  readonly group: object | undefined;
  readonly native: NativeSequence;
}

export type ReusePlan =
  | { source: "none" | "self"; length: number }
  | { source: "sequence"; length: number; donor: KvDonor }
  | { source: "cache" | "disk"; length: number; state: SequenceState };

export interface ReuseCandidates {
  own: KvDonor;
  /** Other sequences of the model (never `own`). */
  donors: Iterable<KvDonor>;
  cache: PrefixCache | null;
  ropeOriginalLength: number;
}

/**
 * Which of `idle` a request for `prompt` should take: the one whose KV shares the longest prefix
 * with it (the first on a tie); -1 when there is none.
 */
export function pickIdle(idle: readonly { readonly evaluatedTokens: readonly number[] }[], prompt: readonly number[]): number {
  let best = -1;
  let bestShared = -1;
  idle.forEach((candidate, i) => {
    const shared = commonPrefixLength(candidate.evaluatedTokens, prompt);
    if (shared > bestShared) [best, bestShared] = [i, shared];
  });
  return best;
}

/**
 * The longest prefix of `target` that can be reused, leaving at least its last token to run (so the
 * model produces logits). A donor or cached prefix shorter than the cache's minimum is not worth a
 * copy; the sequence's own KV is reused at any length. KV built under the other LongRoPE regime than
 * `target` needs is never reused.
 */
export function planReuse(target: readonly number[], { own, donors, cache, ropeOriginalLength }: ReuseCandidates): ReusePlan {
  const limit = target.length - 1;
  const minTokens = cache?.minTokens ?? 1;
  const wantLong = isLongRopeRegime(ropeOriginalLength, target.length);
  const sameRegime = own.evaluatedTokens.length === 0 || own.longRope === wantLong;
  const ownLength = sameRegime ? Math.min(commonPrefixLength(own.evaluatedTokens, target), limit) : 0;
  let best: ReusePlan = { source: ownLength > 0 ? "self" : "none", length: ownLength };
  for (const donor of donors) {
    // A sibling of the same context may be generating: the copy then waits for a gap between steps.
    if (donor.busy && (own.group === undefined || donor.group !== own.group)) continue;
    if (donor.longRope !== wantLong) continue;
    const length = Math.min(commonPrefixLength(donor.evaluatedTokens, target), limit);
    if (length >= minTokens && length > best.length) best = { source: "sequence", length, donor };
  }
  const cached = cache?.match(target, wantLong, limit);
  if (cached && cached.length > best.length) best = { source: "cache", length: cached.length, state: cached.state };
  return best;
}
