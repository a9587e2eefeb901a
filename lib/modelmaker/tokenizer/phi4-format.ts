// The parts of Phi-4-mini-instruct's tokenizer files that do not depend on the BPE vocabulary:
// added tokens, pre-tokenizer, decoder, tokenizer_config.json and special_tokens_map.json.
//
// Sources for the added-token ids (Hugging Face microsoft/Phi-4-mini-instruct, added_tokens.json /
// tokenizer_config.json, as quoted in public code):
//   <|endoftext|> 199999 and <|endofprompt|> 200018: tiktoken o200k_base's own special tokens
//     (js-tiktoken ranks/o200k_base special_tokens) and genai_config bos/eos/pad (REFERENCE §1).
//   <|assistant|> 200019, <|end|> 200020, <|user|> 200021, <|system|> 200022, <|tool|> 200023:
//     REFERENCE §5, generation_config eos [200020, 199999], and independent Phi-4-mini code
//     (agentgymrl Phi4MiniInstructTokenHandler; a tokenizer test's PHI_ADDED table).
//   <|tool_call|> 200025, <|/tool_call|> 200026: onnxruntime-genai PR #2215 fallback map (phi3).
//   <|/tool|> 200024, <|tool_response|> 200027, <|tag|> 200028: REFERENCE §5 only (UNVERIFIED), but they
//     fill the only remaining slots between the verified ids.
// Flags: onnxruntime-genai's examples README says Phi-4-mini ships <|tool_call|>/<|/tool_call|> with
// "special": false. That the other tool tokens are also non-special, and that no token has lstrip/rstrip,
// is UNVERIFIED. Ids 199998, 200000..200017 and 200029..200063 have no published names: we fill them with
// "<|reserved_ID|>" placeholders so every embedding row decodes to something.

export const PHI4_VOCAB_SIZE = 200064;
const ENDOFTEXT = "<|endoftext|>";

export interface AddedTokenSpec {
  id: number;
  content: string;
  special: boolean;
}

/** Phi-4-mini's named added tokens at their real ids; `special: false` ones survive skipSpecialTokens. */
export const PHI4_NAMED_TOKENS: ReadonlyArray<AddedTokenSpec> = [
  { id: 199999, content: "<|endoftext|>", special: true },
  { id: 200018, content: "<|endofprompt|>", special: true },
  { id: 200019, content: "<|assistant|>", special: true },
  { id: 200020, content: "<|end|>", special: true },
  { id: 200021, content: "<|user|>", special: true },
  { id: 200022, content: "<|system|>", special: true },
  { id: 200023, content: "<|tool|>", special: false },
  { id: 200024, content: "<|/tool|>", special: false },
  { id: 200025, content: "<|tool_call|>", special: false },
  { id: 200026, content: "<|/tool_call|>", special: false },
  { id: 200027, content: "<|tool_response|>", special: false },
  { id: 200028, content: "<|tag|>", special: false },
];

/** Official chat_template of microsoft/Phi-4-mini-instruct tokenizer_config.json, verbatim (quoted
 * identically by onnxruntime-genai's tokenizer test, BFCL's phi handler and guidance's template cache). */
export const PHI4_CHAT_TEMPLATE =
  "{% for message in messages %}{% if message['role'] == 'system' and 'tools' in message and message['tools'] is not none %}" +
  "{{ '<|' + message['role'] + '|>' + message['content'] + '<|tool|>' + message['tools'] + '<|/tool|>' + '<|end|>' }}" +
  "{% else %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}";

/** tiktoken o200k_base split pattern in the Oniguruma syntax tokenizer.json files use. */
export const O200K_PATTERN = [
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
  "\\p{N}{1,3}",
  " ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*",
  "\\s*[\\r\\n]+",
  "\\s+(?!\\S)",
  "\\s+",
].join("|");

/** Added-token entry in tokenizer.json's shape. */
function addedTokenJson(t: AddedTokenSpec) {
  return {
    id: t.id,
    content: t.content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: t.special,
  };
}

/** Byte-level BPE tokenizer.json with the o200k split; `ignore_merges` reproduces tiktoken, which looks
 * a whole pre-token up in the vocabulary before merging. */
export function buildTokenizerJson(vocab: Record<string, number>, merges: string[], added: AddedTokenSpec[]): object {
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added.map(addedTokenJson),
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: O200K_PATTERN }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
      ],
    },
    // Adds nothing (no BOS): Phi-4 chat prompts start with a role tag.
    post_processor: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab,
      merges,
    },
  };
}

/** tokenizer_config.json as Phi-4-mini-instruct ships it. UNVERIFIED beyond bos_token and chat_template
 * (quoted by BFCL): eos/pad/unk = <|endoftext|>, model_max_length 131072, clean_up_tokenization_spaces false. */
export function buildTokenizerConfig(added: AddedTokenSpec[]): object {
  const decoder: Record<string, object> = {};
  for (const t of added) {
    const { id: _id, ...rest } = addedTokenJson(t);
    decoder[String(t.id)] = rest;
  }
  return {
    add_bos_token: false,
    add_eos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: decoder,
    bos_token: ENDOFTEXT,
    chat_template: PHI4_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: ENDOFTEXT,
    extra_special_tokens: {},
    model_max_length: 131072,
    pad_token: ENDOFTEXT,
    tokenizer_class: "GPT2Tokenizer",
    unk_token: ENDOFTEXT,
  };
}

export function buildSpecialTokensMap(): object {
  const entry = { content: ENDOFTEXT, lstrip: false, normalized: false, rstrip: false, single_word: false };
  return { bos_token: entry, eos_token: entry, pad_token: entry, unk_token: entry };
}

/** The named tokens, then "<|reserved_ID|>" placeholders for every other id below `vocabSize` that
 * neither the BPE vocabulary (ids < bpeSize) nor a named token uses. */
export function addedTokens(named: ReadonlyArray<AddedTokenSpec>, bpeSize: number, vocabSize: number): AddedTokenSpec[] {
  const byId = new Map<number, AddedTokenSpec>();
  for (const t of named) byId.set(t.id, t);
  for (let id = bpeSize; id < vocabSize; id++) {
    if (!byId.has(id)) byId.set(id, { id, content: `<|reserved_${id}|>`, special: true });
  }
  return [...byId.values()].sort((a, b) => a.id - b.id);
}
