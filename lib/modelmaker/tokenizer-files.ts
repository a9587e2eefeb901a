// Tokenizer files for generated model folders (tokenizer.json, tokenizer_config.json,
// special_tokens_map.json), either Phi-4-mini's real vocabulary or a tiny one for fast tests.

import { buildO200k, type BpeTables } from "./tokenizer/o200k.js";
import {
  addedTokens,
  buildSpecialTokensMap,
  buildTokenizerConfig,
  buildTokenizerJson,
  PHI4_NAMED_TOKENS,
  PHI4_VOCAB_SIZE,
  type AddedTokenSpec,
} from "./tokenizer/phi4-format.js";
import { TINY_CORPUS } from "./tokenizer/tiny-corpus.js";
import { trainByteLevelBpe } from "./tokenizer/train-bpe.js";

export type TokenizerPreset = "tiny" | "phi4";

export interface TokenizerFiles {
  tokenizerJson: object;
  /** The tables tokenizer.json is made from, for writers of other formats (gguf/tokenizer.ts). */
  bpe: BpeTables;
  /** Every id at or past bpe.size, sorted by id: named tokens and reserved placeholders. */
  added: AddedTokenSpec[];
  tokenizerConfig: object;
  specialTokensMap: object;
  /** Embedding rows the model must have (200064 for phi4). */
  vocabSize: number;
  bosTokenId: number;
  eosTokenIds: number[];
  padTokenId: number;
}

/** Cap on learned merges; the corpus runs out first (~320 pairs occur at least twice). */
const TINY_MERGES = 512;
/** Like Phi-4's 200064, the tiny vocabulary is padded to a multiple of 64 rows. */
const ROW_MULTIPLE = 64;

export function buildTokenizerFiles(preset: TokenizerPreset): TokenizerFiles {
  return preset === "phi4" ? phi4Files() : tinyFiles();
}

function phi4Files(): TokenizerFiles {
  return assemble(buildO200k(), PHI4_NAMED_TOKENS, PHI4_VOCAB_SIZE);
}

/** Tiny BPE, then Phi-4's named tokens in their Phi-4 order right after it. */
function tinyFiles(): TokenizerFiles {
  const bpe = trainByteLevelBpe(TINY_CORPUS, TINY_MERGES);
  const named = PHI4_NAMED_TOKENS.map((t, i) => ({ ...t, id: bpe.size + i }));
  const used = bpe.size + named.length;
  return assemble(bpe, named, Math.ceil(used / ROW_MULTIPLE) * ROW_MULTIPLE);
}

function assemble(bpe: BpeTables, named: ReadonlyArray<AddedTokenSpec>, vocabSize: number): TokenizerFiles {
  const added = addedTokens(named, bpe.size, vocabSize);
  const idOf = (content: string) => named.find((t) => t.content === content)!.id;
  const endOfText = idOf("<|endoftext|>");
  return {
    tokenizerJson: buildTokenizerJson(bpe.vocab, bpe.merges, added),
    bpe,
    added,
    tokenizerConfig: buildTokenizerConfig(added),
    specialTokensMap: buildSpecialTokensMap(),
    vocabSize,
    bosTokenId: endOfText,
    eosTokenIds: [idOf("<|end|>"), endOfText],
    padTokenId: endOfText,
  };
}
