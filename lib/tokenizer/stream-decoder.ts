// Incremental detokenization for streaming. Byte-level BPE tokens can end in the middle of a UTF-8
// character (an emoji is often 2-4 tokens), and decoding such a prefix yields U+FFFD. So text is only
// emitted once it decodes without a trailing U+FFFD, and each step decodes just the tokens since the
// last emitted boundary (the same prefix/read-offset scheme as TGI and vLLM), not the whole sequence.

import type { Tokenizer } from "./tokenizer.js";

/** Pending tokens held for an incomplete character; UTF-8 needs at most 4 single-byte tokens, so more
 * means the bytes are really invalid and their U+FFFD is the true text. */
const MAX_PENDING = 8;

export class StreamDecoder {
  private ids: number[] = [];
  /** ids[0..prefix) are done; ids[prefix..read) were emitted and anchor the next decode. */
  private prefix = 0;
  private read = 0;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly opts: { skipSpecialTokens?: boolean } = {},
  ) {}

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
    this.prefix = this.read = 0;
    return rest;
  }

  private emit(force: boolean): string {
    const anchor = this.decode(this.prefix, this.read);
    const text = this.decode(this.prefix, this.ids.length);
    if (!force && text.endsWith("\uFFFD")) return "";
    // The tokens just emitted become the next anchor; everything before them is dropped, so the
    // working window stays a few tokens long (tokens that decode to nothing advance it too).
    this.ids = this.ids.slice(this.read);
    this.prefix = 0;
    this.read = this.ids.length;
    return text.slice(anchor.length);
  }

  private decode(from: number, to: number): string {
    return from === to ? "" : this.tokenizer.decode(this.ids.slice(from, to), this.opts);
  }
}
