/** Sampling options, and how they map onto the native sampler. */
import { Phi4Error } from "./errors.js";
import type { GenaiConfig } from "./genai-config.js";
import type { NativeSampling } from "./native-types.js";

export interface SamplingOptions {
  /** Always pick the most likely token. Default: genai_config's `search.do_sample === false`. */
  greedy?: boolean;
  temperature?: number;
  /** Keep only the k most likely tokens (0 = no limit). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1 = no limit). */
  topP?: number;
  /** HF-style penalty on tokens already in the sequence (1 = off). */
  repetitionPenalty?: number;
  /** Seeds the sequence's random generator at the start of the generation. */
  seed?: number;
}

/** genai_config's search block as sampling defaults. */
export function samplingDefaults(search: GenaiConfig["search"]): NativeSampling {
  return {
    greedy: !search.do_sample,
    temperature: search.temperature,
    topK: search.top_k,
    topP: search.top_p,
    repetitionPenalty: search.repetition_penalty,
  };
}

export function resolveSampling(defaults: NativeSampling, options: SamplingOptions = {}): NativeSampling {
  // Asking for any sampling knob implies sampling unless greedy is given explicitly.
  const asksToSample = options.temperature !== undefined || options.topK !== undefined || options.topP !== undefined;
  const resolved: NativeSampling = {
    greedy: options.greedy ?? (asksToSample ? false : defaults.greedy),
    temperature: options.temperature ?? defaults.temperature,
    topK: options.topK ?? (asksToSample && defaults.topK === 1 ? 0 : defaults.topK),
    topP: options.topP ?? defaults.topP,
    repetitionPenalty: options.repetitionPenalty ?? defaults.repetitionPenalty,
  };
  if (!(resolved.temperature >= 0) || !(resolved.topK >= 0) || !(resolved.topP > 0 && resolved.topP <= 1) || !(resolved.repetitionPenalty > 0)) {
    throw new Phi4Error("INVALID_ARGUMENT", "sampling needs temperature >= 0, topK >= 0, 0 < topP <= 1 and repetitionPenalty > 0");
  }
  return resolved;
}
