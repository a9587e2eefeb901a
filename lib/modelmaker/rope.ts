// LongRoPE cos/sin caches as the genai builder makes them (make_rotary_embedding_caches_from_scratch +
// make_rotary_embedding_multi_cache): inv_freq_j = 1 / (factor_j * theta^(2j/rotary_dim)), rows
// cos(t * inv_freq) * mscale for t = 0..rows-1, only the first rotary_dim/2 columns kept (GQA rotates
// the first rotary_dim channels of each head, non-interleaved). The short cache (factors 1.0) has
// original_max_position_embeddings rows, the long one max_position_embeddings rows; both use the "su"
// magnitude scale sqrt(1 + ln(max/original) / ln(original)).

import { rotaryDim, type ModelShape } from "./presets.js";
import { Rng } from "./random.js";

export interface RopeCache {
  rows: number;
  width: number;
  cos: Float32Array;
  sin: Float32Array;
}

export function ropeScale(shape: ModelShape): number {
  const ratio = shape.maxPositionEmbeddings / shape.originalMaxPositionEmbeddings;
  if (ratio <= 1) return 1;
  return Math.sqrt(1 + Math.log(ratio) / Math.log(shape.originalMaxPositionEmbeddings));
}

export function shortFactors(shape: ModelShape): number[] {
  return new Array<number>(rotaryDim(shape) / 2).fill(1);
}

/**
 * Long factors shaped like Phi-4-mini's: rising from about 1 for the fast frequencies towards the
 * context ratio for the slow ones, with a fixed jitter. They are configuration, not weights, so they do
 * not depend on the seed.
 */
export function longFactors(shape: ModelShape): number[] {
  const count = rotaryDim(shape) / 2;
  const ratio = shape.maxPositionEmbeddings / shape.originalMaxPositionEmbeddings;
  const jitter = new Float32Array(count);
  new Rng(0, "longrope.long_factor").fillUniform(jitter, 0.95, 1.05);
  return Array.from({ length: count }, (_, j) => {
    const t = count === 1 ? 1 : j / (count - 1);
    const value = (1 + (ratio - 1) * t ** 3) * jitter[j];
    return Math.max(1.0001, Math.round(value * 1e4) / 1e4);
  });
}

export function ropeCache(shape: ModelShape, factors: number[], rows: number): RopeCache {
  const dim = rotaryDim(shape);
  const width = dim / 2;
  const mscale = ropeScale(shape);
  const invFreq = factors.map((f, j) => 1 / (f * shape.ropeTheta ** ((2 * j) / dim)));
  const cos = new Float32Array(rows * width);
  const sin = new Float32Array(rows * width);
  for (let t = 0; t < rows; t++) {
    for (let j = 0; j < width; j++) {
      const angle = Math.fround(t * invFreq[j]);
      cos[t * width + j] = Math.cos(angle) * mscale;
      sin[t * width + j] = Math.sin(angle) * mscale;
    }
  }
  return { rows, width, cos, sin };
}
