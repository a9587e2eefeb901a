/**
 * Jump-forward's seam: the tokens that append text a constraint forces, spelled the way a real
 * tokenization of the text would spell them. Appending the forced text's own tokenization after the
 * last sampled token can leave a boundary the tokenizer would never produce (`"` then `,` where the
 * text tokenizes as `",`), which the model was not trained on. So the last few tokens are re-tokenized
 * together with the forced text, and those a real tokenization would merge with it are taken back
 * (as SGLang does), to be replaced by the new tokens.
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
 * Tokens re-tokenized at the seam. A BPE merge across the seam stays within one pre-token (a word, a
 * run of punctuation), which the last few tokens cover in JSON.
 */
const WINDOW = 4;

/**
 * The seam between `previous` (tokens that may be taken back: never special tokens, and only those of
 * this generation) and the `forced` text.
 */
export function seamTokens(tokenizer: Tokenizer, previous: readonly number[], forced: string): Seam {
  let start = previous.length;
  while (start > 0 && previous.length - start < WINDOW && !tokenizer.specialTokenIds.has(previous[start - 1])) start--;
  let window = previous.slice(start);
  let text = tokenizer.decode(window);
  // The window must be whole characters (a token can end inside one).
  while (window.length > 0 && text.includes("\uFFFD")) {
    window = window.slice(1);
    text = tokenizer.decode(window);
  }
  const encoded = tokenizer.encode(text + forced, { allowSpecial: false });
  let keep = 0;
  while (keep < window.length && keep < encoded.length && encoded[keep] === window[keep]) keep++;
  // The new tokens must start on a whole character, since the stream repeats their text from there.
  if (tokenizer.decode(window.slice(keep)).includes("\uFFFD")) keep = 0;
  return { takeBack: window.length - keep, tokens: encoded.slice(keep), takenText: tokenizer.decode(window.slice(keep)) };
}
