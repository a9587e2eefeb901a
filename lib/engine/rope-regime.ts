/**
 * The LongRoPE regime rule (Phi-3 / Phi-4), the TypeScript twin of native/rope_regime.h: a sequence
 * longer than the model's original context runs under the long cos/sin cache, and KV built under one
 * regime cannot be reused under the other.
 */

/** Whether a sequence of `length` tokens runs under the long cache (`ropeOriginalLength` 0: no switch). */
export function isLongRopeRegime(ropeOriginalLength: number, length: number): boolean {
  return ropeOriginalLength > 0 && length > ropeOriginalLength;
}
