// A model folder's tokenizer: tokenizer.json run by @huggingface/tokenizers, plus what
// tokenizer_config.json says about special tokens and the chat template.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { renderChat, type ChatMessage, type RenderChatOptions } from "./chat-template.js";

interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
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
    throw new Error(`cannot read ${file} in ${dir}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} in ${dir} is not valid JSON: ${(e as Error).message}`);
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

  private constructor(
    private readonly hf: HfTokenizer,
    readonly config: TokenizerConfig,
    addedTokens: AddedTokenJson[],
  ) {
    this.specialTokenIds = new Set(addedTokens.filter((t) => t.special).map((t) => t.id));
    this.vocabSize = Math.max(hf.model!.vocab.length, ...addedTokens.map((t) => t.id + 1));
    this.bosToken = tokenText(config.bos_token);
    this.eosToken = tokenText(config.eos_token);
    const eosId = this.eosToken === undefined ? undefined : this.tokenToId(this.eosToken);
    this.eosTokenIds = eosId === undefined ? [] : [eosId];
    const template = config.chat_template;
    this.chatTemplate = Array.isArray(template)
      ? template.find((t) => t.name === "default")?.template
      : template;
  }

  /** Loads tokenizer.json and tokenizer_config.json from a model folder. */
  static async fromModelDir(dir: string): Promise<Tokenizer> {
    const [json, config] = await Promise.all([
      readJson(dir, "tokenizer.json"),
      readJson(dir, "tokenizer_config.json"),
    ]);
    try {
      return Tokenizer.fromObjects(json, config);
    } catch (e) {
      throw new Error(`tokenizer.json in ${dir} is not a usable tokenizer: ${(e as Error).message}`);
    }
  }

  /** Builds a tokenizer from already-parsed tokenizer.json and tokenizer_config.json contents. */
  static fromObjects(tokenizerJson: unknown, tokenizerConfig: unknown): Tokenizer {
    const json = tokenizerJson as { added_tokens?: AddedTokenJson[] };
    if (!Array.isArray(json?.added_tokens)) throw new Error("missing added_tokens array");
    const config = (tokenizerConfig ?? {}) as TokenizerConfig;
    return new Tokenizer(new HfTokenizer(json, config), config, json.added_tokens);
  }

  /** Token ids for `text`. Special-token text such as "<|end|>" becomes its id unless allowSpecial is
   * false, in which case it is tokenized as ordinary characters. No BOS/EOS is added. */
  encode(text: string, opts: { allowSpecial?: boolean } = {}): number[] {
    if (opts.allowSpecial ?? true) return this.hf.encode(text, { add_special_tokens: false }).ids;
    return this.encodeOrdinary(text);
  }

  // The library has no "split_special_tokens" switch, so ordinary encoding runs its pipeline stages
  // (normalizer, pre-tokenizer, model) directly, skipping only the added-token splitter.
  private encodeOrdinary(text: string): number[] {
    const { normalizer, pre_tokenizer: preTokenizer } = this.hf;
    const model = this.hf.model!;
    const normalized = normalizer ? normalizer.normalize(text) : text;
    const pieces = preTokenizer ? preTokenizer.pre_tokenize(normalized, { section_index: 0 }) : [normalized];
    const ids: number[] = [];
    for (const token of model.encode(pieces)) {
      const id = model.tokens_to_ids.get(token) ?? model.unk_token_id;
      if (id !== undefined) ids.push(id);
    }
    return ids;
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

  /** Renders `messages` with this folder's chat_template (see renderChat for tools). */
  applyChatTemplate(messages: ChatMessage[], opts: Omit<RenderChatOptions, "bosToken" | "eosToken"> = {}): string {
    if (this.chatTemplate === undefined) throw new Error("tokenizer_config.json has no chat_template");
    return renderChat(this.chatTemplate, messages, { ...opts, bosToken: this.bosToken, eosToken: this.eosToken });
  }
}
