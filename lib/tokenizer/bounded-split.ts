/**
 * Size bounds that keep tokenization linear in the length of its input. @huggingface/tokenizers runs
 * its BPE merge loop over each pre-tokenizer piece, and a run of letters without a space is one piece:
 * a megabyte of "X" took seconds per hundred kilobytes, and a few megabytes overflowed the stack.
 * Text is therefore handed to the pre-tokenizer in bounded segments, and pieces to the BPE model in
 * bounded chunks. Both cuts fall where ordinary text is not affected (see each function).
 */

/** Longest piece handed to the BPE model. o200k's longest token is 128 bytes; the library caches pieces under 256. */
export const MAX_PIECE = 255;
/** Longest text handed to the pre-tokenizer at once. */
export const MAX_SEGMENT = 16_384;

/**
 * Cuts `text` into segments of at most `max` UTF-16 units. A cut goes before a space (or SentencePiece's
 * "▁") that follows a non-space character: word-splitting pre-tokenizers (o200k, cl100k, Metaspace)
 * always start a piece there, so text with spaces tokenizes exactly as if it were not cut. Only a
 * run of `max / 2` units with no such place is cut at the limit.
 */
export function textSegments(text: string, max = MAX_SEGMENT): string[] {
  if (text.length <= max) return [text];
  const out: string[] = [];
  let start = 0;
  while (text.length - start > max) {
    const cut = segmentCut(text, start, max);
    out.push(text.slice(start, cut));
    start = cut;
  }
  out.push(text.slice(start));
  return out;
}

function segmentCut(text: string, start: number, max: number): number {
  const limit = start + max;
  for (let i = limit; i > start + (max >> 1); i--) {
    const c = text.charCodeAt(i);
    if ((c === 0x20 || c === 0x2581) && !isSpace(text.charCodeAt(i - 1))) return i;
  }
  return unitCut(text, limit);
}

/**
 * Pieces with the long ones cut into chunks of at most `max` units, so that BPE work is bounded per
 * chunk. No token is that long, and ordinary words are far shorter: only pathological runs are cut,
 * and their tokens then differ only at the cuts.
 */
export function boundedPieces(pieces: readonly string[], max = MAX_PIECE): string[] {
  if (pieces.every((p) => p.length <= max)) return pieces as string[];
  const out: string[] = [];
  for (const piece of pieces) {
    let start = 0;
    while (piece.length - start > max) {
      const cut = unitCut(piece, start + max);
      out.push(piece.slice(start, cut));
      start = cut;
    }
    out.push(piece.slice(start));
  }
  return out;
}

/** `at`, or one unit earlier when `at` would split a surrogate pair. */
function unitCut(text: string, at: number): number {
  const c = text.charCodeAt(at);
  return c >= 0xdc00 && c <= 0xdfff && at > 0 ? at - 1 : at;
}

const isSpace = (c: number) =>
  c === 0x20 || c === 0x2581 || (c >= 0x09 && c <= 0x0d) || c === 0xa0 || c === 0x3000 || (c >= 0x2000 && c <= 0x200a) || c === 0x85;
