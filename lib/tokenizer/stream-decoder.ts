// Incremental detokenization for streaming. Byte-level BPE tokens can end in the middle of a UTF-8
// character (an emoji is often 2-4 tokens), and decoding such a prefix yields U+FFFD. So text is only
// emitted once it decodes without a trailing U+FFFD, and each step decodes just the tokens since the
// last emitted boundary (the prefix/read-offset scheme of TGI and vLLM), not the whole sequence.

import type { Tokenizer } from "./tokenizer.js";

/** Pending tokens held for an incomplete character; UTF-8 needs at most 4 single-byte tokens, so more
 * means the bytes are really invalid and their U+FFFD is the true text. */
const MAX_PENDING = 8;

export class StreamDecoder {
  /** ids[0..read) were emitted last time and anchor the next decode; ids[read..] are not emitted yet. */
  private ids: number[] = [];
  private read = 0;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly opts: { skipSpecialTokens?: boolean } = {},
  ) {}

  /** True while tokens are held back for an incomplete character. */
  get holding(): boolean {
    return this.ids.length > this.read;
  }

  /** Adds one token; returns the newly completed text ("" while a character is still incomplete). */
  push(id: number): string {
    this.ids.push(id);
    const pending = this.ids.length - this.read;
    return this.emit(pending >= MAX_PENDING);
  }

  /** Returns whatever is still held (an incomplete character decodes to U+FFFD) and resets. */
  flush(): string {
    const rest = this.emit(true);
    this.ids = [];
    this.read = 0;
    return rest;
  }

  private emit(force: boolean): string {
    // Decoding the anchor along with the new tokens keeps context-dependent decoders (SentencePiece's
    // leading space) right; the delta is what the new tokens add to the anchor's text.
    const anchor = this.tokenizer.decode(this.ids.slice(0, this.read), this.opts);
    const text = this.tokenizer.decode(this.ids, this.opts);
    if (!force && text.endsWith("\uFFFD")) return "";
    // The tokens just emitted become the next anchor and older ones are dropped, so the window stays a
    // few tokens long (tokens that decode to nothing move it on too).
    this.ids = this.ids.slice(this.read);
    this.read = this.ids.length;
    return text.slice(anchor.length);
  }
}
