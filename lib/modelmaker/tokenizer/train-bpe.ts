// A small deterministic byte-level BPE trainer for the "tiny" test tokenizer. Words come from the same
// o200k split the tokenizer uses at run time, so learned merges never cross a pre-token boundary.

import { binaryToByteLevel } from "./byte-level.js";
import { O200K_PATTERN } from "./phi4-format.js";
import type { BpeTables } from "./o200k.js";

// JavaScript has no inline (?i:...) group; spell the contractions' case variants out instead.
const O200K_JS = new RegExp(O200K_PATTERN.replaceAll("(?i:'s|'t|'re|'ve|'m|'ll|'d)", "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"), "gu");

/** Learns up to `maxMerges` merges from `corpus`; ids 0..255 are the bytes, merged tokens follow. */
export function trainByteLevelBpe(corpus: string, maxMerges: number): BpeTables {
  // word (symbols joined by " ") -> frequency; byte-level symbols never contain a space.
  const words = new Map<string, number>();
  for (const piece of corpus.match(O200K_JS) ?? []) {
    const symbols = Array.from(binaryToByteLevel(Buffer.from(piece, "utf8").toString("latin1")));
    const key = symbols.join(" ");
    words.set(key, (words.get(key) ?? 0) + 1);
  }
  let split = [...words].map(([key, count]) => ({ symbols: key.split(" "), count }));

  const vocab: Record<string, number> = {};
  for (let b = 0; b < 256; b++) vocab[binaryToByteLevel(String.fromCharCode(b))] = b;
  let size = 256;
  const merges: string[] = [];

  for (let m = 0; m < maxMerges; m++) {
    const pairs = new Map<string, number>();
    for (const { symbols, count } of split) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const pair = `${symbols[i]} ${symbols[i + 1]}`;
        pairs.set(pair, (pairs.get(pair) ?? 0) + count);
      }
    }
    // Most frequent pair; ties go to the lexicographically smallest so the result never varies.
    let best = "";
    let bestCount = 1;
    for (const [pair, count] of pairs) {
      if (count > bestCount || (count === bestCount && best !== "" && pair < best)) {
        best = pair;
        bestCount = count;
      }
    }
    if (best === "") break; // every remaining pair occurs once: nothing worth learning
    const [a, b] = best.split(" ");
    merges.push(best);
    // Two different merges can spell the same token ("ab c", "a bc"); it keeps its first id.
    if (!(a + b in vocab)) vocab[a + b] = size++;
    split = split.map(({ symbols, count }) => ({ symbols: mergePair(symbols, a, b), count }));
  }
  return { vocab, merges, size };
}

function mergePair(symbols: string[], a: string, b: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < symbols.length; i++) {
    if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
      out.push(a + b);
      i++;
    } else {
      out.push(symbols[i]);
    }
  }
  return out;
}
