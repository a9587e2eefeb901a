/**
 * What a model's sequences and their generations use of the model that made them. Model implements
 * it; Sequence and Generation name this interface instead of Model's class, which imports them to
 * create them, so the engine's files import one way (model -> context -> sequence -> generation).
 */
import type { Tokenizer } from "../tokenizer/index.js";
import type { ModelFolder } from "./genai-config.js";
import type { NativeSampling } from "./native-types.js";
import type { PrefixCache } from "./prefix-cache.js";
import type { SpeculativeOptions } from "./prompt-lookup.js";
import type { PrefixDiskCache } from "./prefix-disk.js";
import type { KvDonor } from "./prefix-reuse.js";
import type { KvLayout } from "./sequence-state.js";

/** How far a long prefill has got: `done` of the `total` prompt tokens it runs (after any reused prefix). */
export interface PrefillProgress {
  done: number;
  total: number;
}

/** Speculative decoding's counts: model steps that verified a draft, drafted and accepted tokens, and sampled tokens in all. */
export interface SpeculationStats {
  drafts: number;
  draftedTokens: number;
  acceptedTokens: number;
  sampled: number;
}

export interface ModelHost {
  readonly folder: ModelFolder;
  readonly tokenizer: Tokenizer;
  /** Shared by the model's sequences; null when the model was loaded with `prefixCache: false`. */
  readonly prefixCache: PrefixCache | null;
  /** The prefix cache's disk tier; null when off. */
  readonly prefixDisk: PrefixDiskCache | null;
  readonly kvLayout: KvLayout;
  /** Tokens per prefill run. */
  readonly prefillChunk: number;
  /** @internal Someone listens to onPrefillProgress. */
  readonly hasPrefillListeners: boolean;
  /** @internal Tells the listeners of onPrefillProgress. */
  reportPrefill(progress: PrefillProgress): void;
  /** Sampling defaults from genai_config.json's search block. */
  readonly defaultSampling: NativeSampling;
  /** Speculative decoding for generations that do not say (loadModel's `speculative`). */
  readonly defaultSpeculative: boolean | SpeculativeOptions;
  /** @internal A finished generation's speculative steps, counted for the model (Model.speculativeStats). */
  recordSpeculation(steps: SpeculationStats): void;
  /** @internal A sequence offers its KV to the model's other sequences (prefix reuse); returns the withdrawal. */
  offerKv(donor: KvDonor): () => void;
  /** @internal The KV other sequences of this model offer, except `except`'s. */
  kvDonors(except: KvDonor): Iterable<KvDonor>;
}
