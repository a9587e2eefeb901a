/**
 * Jump-forward's seam: the tokens that append text a constraint forces, spelled the way a real
 * tokenization of the text would spell them. Appending the forced text's own tokenization after the
 * last sampled token can leave a boundary the tokenizer would never produce (`"` then `,` where the
 * text tokenizes as `",`), which the model was not trained on. So the output is re-tokenized together
 * with the forced text (as SGLang does), and the tokens after the last boundary that the real
 * tokenization shares with the model's own are taken back and replaced by the real ones.
 */
import type { Tokenizer } from "../tokenizer/tokenizer.js";

export interface Seam {
  /** How many of the last tokens are taken back. */
  takeBack: number;
  /** The tokens that replace them and carry the forced text. */
  tokens: number[];
  /** The text of the taken-back tokens (already streamed: the new tokens repeat it first). */
  takenText: string;
}

/**
 * Tokens looked back at, at most. The tokenization starts over after a special token, so the window
 * usually reaches the start of the call list; only a long free text before it is cut.
 */
const WINDOW = 64;

/**
 * The seam between `previous` (tokens that may be taken back: this generation's own) and the `forced`
 * text. The window is re-encoded with the forced text; the seam moves back to the last point where the
 * model's tokens and the real tokenization both have a boundary (usually the seam itself or one token
 * before it), and the real tokens from there on replace the model's.
 */
export function seamTokens(tokenizer: Tokenizer, previous: readonly number[], forced: string): Seam {
  let start = previous.length;
  while (start > 0 && previous.length - start < WINDOW && !tokenizer.specialTokenIds.has(previous[start - 1])) start--;
  let window = previous.slice(start);
  // The window must start on a whole character (a token can end inside one).
  while (window.length > 0 && tokenizer.decode(window).startsWith("\uFFFD")) window = window.slice(1);
  const text = tokenizer.decode(window);
  const real = tokenizer.encode(text + forced, { allowSpecial: false });
  const forcedBytes = Buffer.byteLength(forced);
  // Walking back from the seam: `tail` bytes follow a boundary of the model's tokens, `realTail` follow
  // real[at]. Suffixes only, so the work stays proportional to how far back the seam moves.
  let at = real.length;
  let realTail = 0;
  for (let keep = window.length; keep >= 0; keep--) {
    const taken = tokenizer.decode(window.slice(keep));
    if (taken.startsWith("\uFFFD")) continue; // this boundary splits a character
    const tail = Buffer.byteLength(taken) + forcedBytes;
    while (at > 0 && realTail < tail) realTail = suffixBytes(tokenizer, real, --at);
    if (realTail === tail && !tokenizer.decode(real.slice(at)).startsWith("\uFFFD"))
      return { takeBack: window.length - keep, tokens: real.slice(at), takenText: taken };
  }
  return { takeBack: window.length, tokens: real, takenText: text };
}

/** Bytes of the text of tokens[from..] (a suffix that starts inside a character counts its U+FFFD). */
function suffixBytes(tokenizer: Tokenizer, tokens: readonly number[], from: number): number {
  return Buffer.byteLength(tokenizer.decode(tokens.slice(from)));
}
