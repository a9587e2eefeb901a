// The tokenizer section of a GGUF file for the model maker's byte-level BPE vocabularies, in the form
// llama.cpp's vocabulary loader reads for GPT-2-style BPE (tokenizer.ggml.model "gpt2"):
//   tokens: one string per id 0..vocab-1, as the tokenizer.json vocabulary spells them (byte-level
//     characters, "Ġ" for a space), so the count equals the embedding rows;
//   token_type: llama_token_type per id (1 normal, 3 control, 4 user-defined);
//   merges: "left right" strings in rank order;
//   pre: the pre-tokenizer name; "gpt-4o" is llama.cpp's name for the o200k split that both the
//     Phi-4 and the tiny vocabulary are trained and run with.
// Special token ids are uint32. No BOS or EOS is added to prompts (Phi-4 chat prompts start with a tag).

import { PHI4_CHAT_TEMPLATE } from "../tokenizer/phi4-format.js";
import type { TokenizerFiles } from "../tokenizer-files.js";
import { gguf, type GgufValue } from "./format.js";

/** llama_token_type values (llama.cpp's llama-vocab.h). */
const TokenType = { NORMAL: 1, CONTROL: 3, USER_DEFINED: 4 } as const;

export function tokenizerMetadata(tok: TokenizerFiles): [string, GgufValue][] {
  const tokens = new Array<string>(tok.vocabSize);
  const types = new Int32Array(tok.vocabSize);
  for (const [text, id] of Object.entries(tok.bpe.vocab)) {
    tokens[id] = text;
    types[id] = TokenType.NORMAL;
  }
  for (const t of tok.added) {
    tokens[t.id] = t.content;
    // Non-special added tokens (Phi-4's tool tags) are text the model reads and writes, as in convert_hf_to_gguf.
    types[t.id] = t.special ? TokenType.CONTROL : TokenType.USER_DEFINED;
  }
  const missing = tokens.findIndex((t) => t === undefined);
  if (tokens.length !== tok.vocabSize || missing !== -1) throw new Error(`the vocabulary has no token for id ${missing}`);
  const idOf = (content: string) => {
    const found = tok.added.find((t) => t.content === content);
    if (!found) throw new Error(`the vocabulary has no ${content}`);
    return found.id;
  };
  return [
    ["tokenizer.ggml.model", gguf.string("gpt2")],
    ["tokenizer.ggml.pre", gguf.string("gpt-4o")],
    ["tokenizer.ggml.tokens", gguf.strings(tokens)],
    ["tokenizer.ggml.token_type", gguf.i32s(types)],
    ["tokenizer.ggml.merges", gguf.strings(tok.bpe.merges)],
    ["tokenizer.ggml.bos_token_id", gguf.u32(tok.bosTokenId)],
    // tokenizer_config.json's eos_token; <|end|> ends a chat turn (genai_config's first eos id).
    ["tokenizer.ggml.eos_token_id", gguf.u32(idOf("<|endoftext|>"))],
    ["tokenizer.ggml.eot_token_id", gguf.u32(idOf("<|end|>"))],
    ["tokenizer.ggml.padding_token_id", gguf.u32(tok.padTokenId)],
    ["tokenizer.ggml.add_bos_token", gguf.bool(false)],
    ["tokenizer.ggml.add_eos_token", gguf.bool(false)],
    ["tokenizer.chat_template", gguf.string(PHI4_CHAT_TEMPLATE)],
  ];
}
