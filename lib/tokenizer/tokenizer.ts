// A model folder's tokenizer: tokenizer.json run by @huggingface/tokenizers, plus what
// tokenizer_config.json says about special tokens and the chat template.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { Phi4Error } from "../engine/errors.js";
import { boundedPieces, textSegments } from "./bounded-split.js";
import { renderChat, renderChatPrompt, type ChatMessage, type RenderChatOptions } from "./chat-template.js";
import { EncodeWorker, type EncodeOptions, type TokenizerSource } from "./encode-worker-client.js";
import { PromptText } from "./prompt-text.js";

export type { EncodeOptions } from "./encode-worker-client.js";

/** Inputs shorter than this are encoded on the calling thread by encodeAsync (a few milliseconds of work at most). */
const WORKER_MIN_CHARS = 32_768;

const tooLong = (limit: number) => new Phi4Error("CAPACITY_EXCEEDED", `prompt is too long: more than ${limit} tokens`);
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
}

/** The parts of tokenizer_config.json this layer reads; token fields may be strings or AddedToken objects. */
export interface TokenizerConfig {
  chat_template?: string | Array<{ name: string; template: string }>;
  bos_token?: string | { content: string } | null;
  eos_token?: string | { content: string } | null;
  pad_token?: string | { content: string } | null;
  [key: string]: unknown;
}

async function readJson(dir: string, file: string): Promise<unknown> {
  const path = join(dir, file);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new Error(`cannot read ${file} in ${dir}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} in ${dir} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

const tokenText = (t: TokenizerConfig["bos_token"]) => (typeof t === "string" ? t : t?.content);

export class Tokenizer {
  /** Ids of tokens marked special (dropped by decode's skipSpecialTokens). */
  readonly specialTokenIds: ReadonlySet<number>;
  /** One past the highest token id the tokenizer knows. */
  readonly vocabSize: number;
  /** The eos_token of tokenizer_config.json as an id list; genai_config's list, when known, is better. */
  readonly eosTokenIds: readonly number[];
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  readonly chatTemplate: string | undefined;
  private readonly addedTokens: ReadonlyMap<string, AddedTokenJson>;
  /** Matches any added token's text, longest first. */
  private readonly addedPattern: RegExp | undefined;
  /** The most text units one token can stand for (the longest vocabulary entry). */
  private readonly maxTokenChars: number;
  private worker: EncodeWorker | undefined;

  private constructor(
    private readonly hf: HfTokenizer,
    readonly config: TokenizerConfig,
    addedTokens: AddedTokenJson[],
    /** Where a worker thread loads the same tokenizer from. */
    private readonly source: TokenizerSource | undefined,
  ) {
    this.specialTokenIds = new Set(addedTokens.filter((t) => t.special).map((t) => t.id));
    this.addedTokens = new Map(addedTokens.map((t) => [t.content, t]));
    const contents = addedTokens.map((t) => t.content).filter((c) => c.length > 0);
    this.addedPattern =
      contents.length === 0
        ? undefined
        : new RegExp(
            [...contents]
              .sort((a, b) => b.length - a.length)
              .map(escapeRegExp)
              .join("|"),
            "g",
          );
    let longest = 1;
    for (const token of hf.model!.vocab) if (token !== undefined && token.length > longest) longest = token.length;
    for (const content of contents) longest = Math.max(longest, content.length);
    this.maxTokenChars = longest;
    this.vocabSize = Math.max(hf.model!.vocab.length, ...addedTokens.map((t) => t.id + 1));
    this.bosToken = tokenText(config.bos_token);
    this.eosToken = tokenText(config.eos_token);
    const eosId = this.eosToken === undefined ? undefined : this.tokenToId(this.eosToken);
    this.eosTokenIds = eosId === undefined ? [] : [eosId];
    const template = config.chat_template;
    this.chatTemplate = Array.isArray(template) ? template.find((t) => t.name === "default")?.template : template;
  }

  /** Loads tokenizer.json and tokenizer_config.json from a model folder. */
  static async fromModelDir(dir: string): Promise<Tokenizer> {
    const [json, config] = await Promise.all([readJson(dir, "tokenizer.json"), readJson(dir, "tokenizer_config.json")]);
    try {
      return Tokenizer.build(json, config, { dir });
    } catch (e) {
      throw new Error(`tokenizer.json in ${dir} is not a usable tokenizer: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Builds a tokenizer from already-parsed tokenizer.json and tokenizer_config.json contents. */
  static fromObjects(tokenizerJson: unknown, tokenizerConfig: unknown): Tokenizer {
    return Tokenizer.build(tokenizerJson, tokenizerConfig, { tokenizerJson, tokenizerConfig });
  }

  private static build(tokenizerJson: unknown, tokenizerConfig: unknown, source: TokenizerSource): Tokenizer {
    const json = tokenizerJson as { added_tokens?: AddedTokenJson[] };
    if (!Array.isArray(json?.added_tokens)) throw new Error("missing added_tokens array");
    const config = (tokenizerConfig ?? {}) as TokenizerConfig;
    return new Tokenizer(new HfTokenizer(json, config), config, json.added_tokens, source);
  }

  /**
   * Token ids for `input`. No BOS/EOS is added. For a string, special-token text such as "<|end|>"
   * becomes its id unless allowSpecial is false, in which case it is tokenized as ordinary characters;
   * for a PromptText, only its markup yields special tokens (its content never does). Runs in time
   * linear in the input (see bounded-split.ts). With maxTokens, a longer result throws
   * CAPACITY_EXCEEDED, checked before the work where the length alone proves it and then as it goes.
   */
  encode(input: string | PromptText, opts: EncodeOptions = {}): number[] {
    const prompt = typeof input !== "string" ? input : (opts.allowSpecial ?? true) ? PromptText.markup(input) : PromptText.content(input);
    const limit = opts.maxTokens ?? Infinity;
    // Every token spans at most maxTokenChars units of text, so a longer text has too many tokens.
    if (Math.ceil(prompt.text.length / this.maxTokenChars) > limit) throw tooLong(limit);
    // Text and added tokens alternate: text, token, text, ..., text.
    const parts: Array<string | AddedTokenJson> = [];
    let from = 0;
    for (const match of this.specialMatches(prompt)) {
      parts.push(prompt.text.slice(from, match.start), this.addedTokens.get(match.text)!);
      from = match.end;
    }
    parts.push(prompt.text.slice(from));
    for (let i = 1; i < parts.length; i += 2) {
      const token = parts[i] as AddedTokenJson;
      if (token.lstrip) parts[i - 1] = (parts[i - 1] as string).trimEnd();
      if (token.rstrip) parts[i + 1] = (parts[i + 1] as string).trimStart();
    }
    const ids: number[] = [];
    parts.forEach((part, section) => {
      if (typeof part === "string") this.encodeSection(part, section, ids, limit);
      else ids.push(part.id);
    });
    if (ids.length > limit) throw tooLong(limit);
    return ids;
  }

  /**
   * encode, off the event loop for long inputs: they are tokenized on a worker thread, so a server
   * keeps answering while a large prompt is tokenized. Short inputs are encoded at once.
   */
  async encodeAsync(input: string | PromptText, opts: EncodeOptions = {}): Promise<number[]> {
    const length = typeof input === "string" ? input.length : input.text.length;
    if (length < WORKER_MIN_CHARS || this.source === undefined || !EncodeWorker.available) return this.encode(input, opts);
    // A worker that died (out of memory, killed) is replaced by the next call.
    if (this.worker?.broken) this.worker = undefined;
    this.worker ??= new EncodeWorker(this.source);
    try {
      return await this.worker.encode(input, opts);
    } catch (error) {
      // The encoding's own errors (CAPACITY_EXCEEDED, DISPOSED) are the answer; a thread that could
      // not start or died is no reason to fail: encode here instead.
      if (error instanceof Phi4Error) throw error;
      return this.encode(input, opts);
    }
  }

  /** Stops the tokenizer's worker thread, if one was started (a later encodeAsync starts a new one). */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.close();
  }

  /** Special and other added tokens in `prompt`'s markup, in order, without overlaps. */
  private *specialMatches(prompt: PromptText): Generator<{ text: string; start: number; end: number }> {
    const pattern = this.addedPattern;
    if (pattern === undefined) return;
    pattern.lastIndex = 0;
    for (let m = pattern.exec(prompt.text); m !== null; m = pattern.exec(prompt.text)) {
      const start = m.index;
      const end = start + m[0].length;
      if (prompt.isMarkup(start, end)) yield { text: m[0], start, end };
      // A match reaching into content is no token; a token may still start inside it.
      else pattern.lastIndex = start + 1;
    }
  }

  // The library has no "split_special_tokens" switch, so text between added tokens runs through its
  // pipeline stages (normalizer, pre-tokenizer, model) here, with the bounds of bounded-split.ts.
  private encodeSection(text: string, sectionIndex: number, ids: number[], limit: number): void {
    if (text.length === 0) return;
    const { normalizer, pre_tokenizer: preTokenizer } = this.hf;
    const model = this.hf.model!;
    const normalized = normalizer ? normalizer.normalize(text) : text;
    for (const segment of textSegments(normalized)) {
      const pieces = preTokenizer ? preTokenizer.pre_tokenize(segment, { section_index: sectionIndex }) : [segment];
      for (const token of model.encode(boundedPieces(pieces))) {
        const id = model.tokens_to_ids.get(token) ?? model.unk_token_id;
        if (id !== undefined) ids.push(id);
      }
      if (ids.length > limit) throw tooLong(limit);
    }
  }

  /** Text for `ids`. Ids the tokenizer does not know (unused embedding rows) decode to nothing. */
  decode(ids: ArrayLike<number>, opts: { skipSpecialTokens?: boolean } = {}): string {
    const known: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      if (this.hf.id_to_token(ids[i]) !== undefined) known.push(ids[i]);
    }
    if (known.length === 0) return ""; // the library throws on an empty list
    return this.hf.decode(known, {
      skip_special_tokens: opts.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: false, // would rewrite " ," and " 's" in real text
    });
  }

  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }

  /**
   * Renders `messages` with this folder's chat_template (see renderChat for tools), as plain text.
   * Encoding this string reads special-token text in messages as special tokens: prefer renderPrompt.
   */
  applyChatTemplate(messages: ChatMessage[], opts: Omit<RenderChatOptions, "bosToken" | "eosToken"> = {}): string {
    if (this.chatTemplate === undefined) throw new Error("tokenizer_config.json has no chat_template");
    return renderChat(this.chatTemplate, messages, { ...opts, bosToken: this.bosToken, eosToken: this.eosToken });
  }

  /** Renders `messages` as applyChatTemplate does, keeping which text is content: encode it to get
   * special tokens from the template's markup only. */
  renderPrompt(messages: ChatMessage[], opts: Omit<RenderChatOptions, "bosToken" | "eosToken"> = {}): PromptText {
    if (this.chatTemplate === undefined) throw new Error("tokenizer_config.json has no chat_template");
    return renderChatPrompt(this.chatTemplate, messages, { ...opts, bosToken: this.bosToken, eosToken: this.eosToken });
  }

  /** Token ids of a chat: renderPrompt then encode. */
  encodeChat(messages: ChatMessage[], opts: Omit<RenderChatOptions, "bosToken" | "eosToken"> = {}): number[] {
    return this.encode(this.renderPrompt(messages, opts));
  }
}
