/**
 * A model's tokens as bytes, for constrained decoding. Phi-4's tokenizer is byte-level BPE: each
 * vocabulary string spells bytes through GPT-2's byte-to-unicode table, so mapping it back gives the
 * exact bytes a token adds (decoding single ids would turn a token that ends inside a UTF-8 character
 * into U+FFFD). Added tokens (`<|tool_call|>`, `<|end|>`, ...) are not text: they are left out of the
 * tries and reached by id.
 *
 * Inside a JSON string almost every token is allowed, and the walk over 200k tokens that a mask there
 * would take costs milliseconds. So each token is classified once by running it through a string from
 * its text phase: "plain" (ends back in the text phase, so it only adds characters: masks by length),
 * "inner" (ends inside an escape or a character: a short list), "closing" (leaves the string: these
 * few need the grammar around the string, so they are walked as a trie), or invalid there.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";

import { Phi4Error } from "../../engine/errors.js";
import type { ModelHost } from "../../engine/model-host.js";
import type { Tokenizer } from "../../tokenizer/tokenizer.js";
import { DONE, StringFrame } from "./frames.js";
import { ByteTrie } from "./trie.js";

export class Vocabulary {
  /** Bytes of each ordinary token (undefined for added tokens and unused ids). */
  readonly tokenBytes: (Uint8Array | undefined)[];
  readonly trie: ByteTrie;
  /** The tokens that close a string entered in its text phase. */
  readonly closingTrie: ByteTrie;
  /** Characters (code points) of each plain token, or -1. Plain tokens only add characters to a string. */
  readonly plainChars: Int16Array;
  /** Non-plain tokens that stay inside a string: id, characters, and bytes they leave owing (an open escape or character). */
  readonly inner: { id: number; chars: number; owed: number }[] = [];
  /** The token of each single byte. */
  readonly byteTokens = new Int32Array(256).fill(-1);
  /** The longest token, in bytes: no token can cross more than this many string characters. */
  readonly maxTokenBytes: number;
  /** Bytes of a token mask: one bit per id of the model's vocabulary. */
  readonly maskBytes: number;
  private readonly plainMasks: Uint8Array[] = [];
  private readonly allButMasks = new Map<number, Uint8Array>();

  /**
   * @param size the model's vocabulary size (logits width)
   * @param added the added tokens (id -> text), from tokenizer_config.json or tokenizer.json
   */
  constructor(
    tokenizer: Tokenizer,
    readonly size: number,
    private readonly added: ReadonlyMap<number, string>,
  ) {
    const table = byteTable();
    this.maskBytes = Math.ceil(size / 8);
    this.tokenBytes = new Array<Uint8Array | undefined>(size).fill(undefined);
    this.plainChars = new Int16Array(size).fill(-1);
    let maxTokenBytes = 0;
    for (let id = 0; id < size; id++) {
      const text = added.has(id) ? undefined : tokenizer.idToToken(id);
      const bytes = text === undefined ? undefined : toBytes(text, table);
      if (!bytes) continue;
      this.tokenBytes[id] = bytes;
      maxTokenBytes = Math.max(maxTokenBytes, bytes.length);
      if (bytes.length === 1) this.byteTokens[bytes[0]] = id;
    }
    this.maxTokenBytes = maxTokenBytes;
    // Any completion can then be spelled one byte per token, which the token budget relies on; a
    // vocabulary that is not byte-level BPE fails here.
    if (this.byteTokens.includes(-1))
      throw new Phi4Error("INVALID_ARGUMENT", "constrained decoding needs a byte-level BPE vocabulary with a token for every byte");
    this.trie = ByteTrie.build(this.tokenBytes);
    const closing: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(size).fill(undefined);
    this.tokenBytes.forEach((bytes, id) => {
      const inString = bytes && throughString(bytes);
      if (inString === "closes") closing[id] = bytes;
      else if (inString?.phase === "text") this.plainChars[id] = inString.count;
      else if (inString) this.inner.push({ id, chars: inString.count, owed: inString.completion().length - 1 });
    });
    this.closingTrie = ByteTrie.build(closing);
  }

  /** The vocabulary of a loaded model, built once per model (under a second for Phi-4's 200k tokens). */
  static forModel(model: ModelHost): Promise<Vocabulary> {
    let vocabulary = byModel.get(model);
    if (!vocabulary) {
      vocabulary = addedTokens(model).then((added) => new Vocabulary(model.tokenizer, model.folder.vocabSize, added));
      byModel.set(model, vocabulary);
    }
    return vocabulary;
  }

  /** The id of an added token such as "<|tool_call|>". */
  addedTokenId(content: string): number | undefined {
    for (const [id, text] of this.added) if (text === content) return id;
    return undefined;
  }

  /** Plain tokens of 1..maxChars characters (shared: do not modify). */
  plainMask(maxChars: number): Uint8Array {
    const n = Math.max(0, Math.min(maxChars, this.maxTokenBytes));
    let mask = this.plainMasks[n];
    if (!mask) {
      mask = new Uint8Array(this.maskBytes);
      for (let id = 0; id < this.size; id++) {
        const chars = this.plainChars[id];
        if (chars > 0 && chars <= n) mask[id >> 3] |= 1 << (id & 7);
      }
      this.plainMasks[n] = mask;
    }
    return mask;
  }

  /** Every token but one (shared: do not modify). */
  allBut(id: number): Uint8Array {
    let mask = this.allButMasks.get(id);
    if (!mask) {
      mask = new Uint8Array(this.maskBytes).fill(0xff);
      mask[id >> 3] &= ~(1 << (id & 7));
      this.allButMasks.set(id, mask);
    }
    return mask;
  }
}

const byModel = new WeakMap<ModelHost, Promise<Vocabulary>>();

/** tokenizer_config.json's added_tokens_decoder (written by transformers), else tokenizer.json's added_tokens. */
async function addedTokens(model: ModelHost): Promise<Map<number, string>> {
  const decoder = model.tokenizer.config.added_tokens_decoder as Record<string, { content: string }> | undefined;
  if (decoder) return new Map(Object.entries(decoder).map(([id, t]) => [Number(id), t.content]));
  const json = JSON.parse(await readFile(path.join(model.folder.dir, "tokenizer.json"), "utf8")) as { added_tokens?: { id: number; content: string }[] };
  return new Map((json.added_tokens ?? []).map((t) => [t.id, t.content]));
}

/** GPT-2's bytes_to_unicode, inverted and indexed by char code: printable bytes stand for themselves, the rest for U+0100 onwards. */
function byteTable(): Int16Array {
  const table = new Int16Array(512).fill(-1);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    table[printable ? b : 256 + shifted++] = b;
  }
  return table;
}

function toBytes(text: string, table: Int16Array): Uint8Array | undefined {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const b = c < table.length ? table[c] : -1;
    if (b < 0) return undefined;
    bytes[i] = b;
  }
  return bytes.length > 0 ? bytes : undefined;
}

/** A token run through an unbounded string from its text phase: where it ends, "closes" if it leaves the string, null if invalid there. */
function throughString(bytes: Uint8Array): StringFrame | "closes" | null {
  let frame = new StringFrame({ id: -1, minLength: 0, maxLength: Number.POSITIVE_INFINITY, clamp: 0 }, 0, "text");
  for (const b of bytes) {
    const next = frame.step(b);
    if (next === DONE) return "closes";
    if (!(next instanceof StringFrame)) return null;
    frame = next;
  }
  return frame;
}
